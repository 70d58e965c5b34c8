"""Runs the JDBC table descriptions of :mod:`millstream.stream.jdbc_descriptors` (the SQL ``jdbc`` connector) with
the dialects of :mod:`millstream.connect.connectors.jdbc`: the SQL text (upsert, insert, delete, select) is the
dialect's, so PostgreSQL, SQLite and MySQL/MariaDB work alike.

Sink protocol: elements are buffered in order; a flush (when ``flush_max_rows`` are buffered, when
``flush_interval_ms`` has passed since the first buffered element, at every checkpoint ``snapshot`` and at
``close``) runs them in one transaction, in order: consecutive elements of one kind go to one ``executemany``-style
loop of the dialect's statement. A checkpoint therefore completes only after its rows are committed (at-least-once;
with a primary key a replay rewrites the same rows).
"""

from __future__ import annotations

from typing import Any

from ..stream.connectors import FunctionSource
from ..stream.jdbc_descriptors import JdbcTableSink, JdbcTableSource
from .sinks import SinkOperator
from .sources import FunctionReader


def _open(url: str, username: str | None, password: str | None) -> tuple[Any, Any]:
    from ..connect.connectors.jdbc.connection import connect, parse_connection_url
    from ..connect.connectors.jdbc.dialects import dialect_of

    params = parse_connection_url(url, username, password)
    return dialect_of(params), connect(params)


class JdbcTableSinkOperator(SinkOperator):
    """The sink of a :class:`JdbcTableSink` (see the module docstring)."""

    def __init__(self, name: str, uid: str | None, sink: JdbcTableSink) -> None:
        super().__init__(name, uid)
        self.sink = sink
        self.buffer: list[tuple[str, tuple[Any, ...]]] = []
        self.first_at: int | None = None
        self.dialect: Any = None
        self.conn: Any = None
        self.sql: dict[str, str] = {}

    def open(self) -> None:
        from ..connect.connectors.jdbc.dialect import TableId

        s = self.sink
        self.dialect, self.conn = _open(s.url, s.username, s.password)
        table = TableId.parse(s.table)
        values = [c for c in s.columns if c not in s.key_columns]
        self.sql["insert"] = self.dialect.insert_sql(table, list(s.columns))
        if s.key_columns:
            self.sql["upsert"] = self.dialect.upsert_sql(table, list(s.key_columns), values)
            self.sql["delete"] = self.dialect.delete_sql(table, list(s.key_columns))
        self.key_index = [s.columns.index(k) for k in s.key_columns]
        self.value_index = [s.columns.index(c) for c in values]

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        if not vals:
            return
        if self.first_at is None:
            self.first_at = self.ctx.now()
        self.buffer.extend(vals)
        self.seen += len(vals)
        if self.sink.flush_max_rows and len(self.buffer) >= self.sink.flush_max_rows:
            self._flush()

    def next_processing_time(self) -> int | None:
        if self.first_at is None or not self.sink.flush_interval_ms:
            return None
        return self.first_at + self.sink.flush_interval_ms

    def on_processing_time(self, now: int) -> None:
        due = self.next_processing_time()
        if due is not None and now >= due:
            self._flush()

    def snapshot(self) -> Any:
        self._flush()  # a checkpoint covers only committed rows
        return None

    def close(self) -> None:
        try:
            if self.conn is not None:
                self._flush()
        finally:
            if self.conn is not None:
                self.conn.close()
                self.conn = None

    def _flush(self) -> None:
        if not self.buffer:
            self.first_at = None
            return
        d, conn = self.dialect, self.conn
        rows, self.buffer, self.first_at = self.buffer, [], None
        bind = d.bind_value
        with d.transaction(conn):
            for op, raw in rows:
                values = [bind(v, None) for v in raw]
                if op == "upsert":
                    params = [values[i] for i in self.key_index] + [values[i] for i in self.value_index]
                elif op == "delete":
                    params = [values[i] for i in self.key_index]
                else:
                    params = list(values)
                d.execute(conn, self.sql[op], params)
        self.written += len(rows)


def _scan(source: JdbcTableSource) -> Any:
    def rows() -> Any:
        from ..connect.connectors.jdbc.dialect import TableId

        dialect, conn = _open(source.url, source.username, source.password)
        try:
            cols = ", ".join(dialect.quote(c) for c in source.columns)
            cur = dialect.open_cursor(conn, 1000)
            cur.execute(f"SELECT {cols} FROM {dialect.table_sql(TableId.parse(source.table))}")
            while batch := cur.fetchmany(1000):
                yield from (tuple(r) for r in batch)
            conn.rollback()
        finally:
            conn.close()

    return rows


def jdbc_sink(descriptor: JdbcTableSink, name: str, uid: str | None) -> JdbcTableSinkOperator:
    return JdbcTableSinkOperator(name, uid, descriptor)


def jdbc_reader(descriptor: JdbcTableSource, clock: Any) -> FunctionReader:
    return FunctionReader(FunctionSource(_scan(descriptor), descriptor.name))


__all__ = ["JdbcTableSinkOperator", "jdbc_reader", "jdbc_sink"]
