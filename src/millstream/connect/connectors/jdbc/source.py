"""``JdbcSourceConnector`` (aliases ``JdbcSource``, ``io.confluent.connect.jdbc.JdbcSourceConnector``).

The connector resolves which tables to copy (``table.whitelist``, or every table of the search path /
``schema.pattern`` minus ``table.blacklist``, or one ``query``) and deals them round-robin to at most
``tasks.max`` tasks. Each :class:`JdbcSourceTask`:

1. ``start``: connects (``connection.attempts`` tries, ``connection.backoff.ms`` apart — an unreachable
   database fails the task with a message naming the server), and for each table reads its stored offset
   (partition ``{"table": name}`` / ``{"query": sql}``) to resume *after* it;
2. ``poll``: for the next table whose ``poll.interval.ms`` has come, runs the mode's query (see
   :mod:`.source_query`) and returns up to ``batch.max.rows`` rows as records of topic
   ``topic.prefix + table``, each with the offset reached after it; a table's result is streamed over as many
   polls as it needs before the table is queried again;
3. a dropped connection (what the dialect's :meth:`~.dialects.Dialect.is_connection_lost` says) is re-opened
   on the next poll (the table resumes from the last row handed out); if it cannot be re-opened the task fails.
   Any other database error (a missing table, bad SQL in ``query``) fails the task with the database's message.

The dialect (PostgreSQL, SQLite, MySQL/MariaDB) follows ``connection.url``; see :mod:`.dialects`.

Record values are structs (schema name = table name) with one field per column; keys are null, as in
Confluent's connector.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from ....core.errors import ConnectError
from ...api import SourceConnector, SourceTask, Task
from ...config import ConfigDef, ConfigValue, Password
from ...data import Field, Schema, SourceRecord
from .config import SOURCE_CONFIG_DEF, merge_problems, raise_problems, source_problems
from .connection import JdbcConnectionError, connect, describe, parse_connection_url
from .dialect import TableId
from .dialects import POSTGRES, Dialect, dialect_of
from .source_query import Mode, QuerySpec, SourceOffset, split_columns
from .source_reader import ColumnInfo, TableReader

log = logging.getLogger(__name__)

SOURCE_CLASS = "io.confluent.connect.jdbc.JdbcSourceConnector"
_TASK_TABLES = "tables"  # task config key: JSON-free, newline-separated table names


def _parse(props: Mapping[str, Any]) -> dict[str, Any]:
    values = SOURCE_CONFIG_DEF.parse(props, connector_class=SOURCE_CLASS)
    raise_problems(source_problems(values), SOURCE_CLASS)
    return values


def _conn_params(values: Mapping[str, Any]) -> dict[str, Any]:
    password = values.get("connection.password")
    if isinstance(password, Password):
        password = password.value
    return parse_connection_url(values["connection.url"], values.get("connection.user") or None, password or None)


def connect_with_retries(
    params: dict[str, Any], attempts: int, backoff_ms: int, stopping: threading.Event | None = None
) -> Any:
    """Connect, trying ``attempts`` times ``backoff_ms`` apart; raise the last :class:`JdbcConnectionError`."""
    last: JdbcConnectionError | None = None
    for attempt in range(1, max(1, attempts) + 1):
        try:
            return connect(params)
        except JdbcConnectionError as exc:
            last = exc
            if attempt < attempts:
                log.warning("connecting to %s failed (attempt %d of %d): %s", describe(params), attempt, attempts, exc)
                if stopping is not None and stopping.wait(backoff_ms / 1000):
                    break
                if stopping is None:
                    time.sleep(backoff_ms / 1000)
    assert last is not None
    if attempts > 1:
        raise JdbcConnectionError(f"{last.message} (tried {attempts} times)", hint=last.hint) from last
    raise last


def list_tables(conn: Any, schema_pattern: str, blacklist: list[str], dialect: Dialect = POSTGRES) -> list[str]:
    """Ordinary tables visible to the connection: in schemas matching ``schema_pattern`` (LIKE), or else on the
    search path (PostgreSQL) / in the URL's database (MySQL) / in the file (SQLite), named without schema; minus
    ``blacklist`` (names or schema.names)."""
    names = dialect.list_tables(conn, schema_pattern)
    conn.commit()
    black = {b.strip() for b in blacklist}
    return [n for n in names if n not in black and n.rsplit(".", 1)[-1] not in black]


class JdbcSourceConnector(SourceConnector):
    """Copies PostgreSQL, SQLite or MySQL/MariaDB tables (or a query) to topics (the dialect follows
    ``connection.url``); see the module docstring. Config keys are Confluent's."""

    CONFIG_DEF = SOURCE_CONFIG_DEF

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)
        self.values = _parse(props)
        self.tables: list[str] = []
        if (self.values.get("query") or "").strip():
            return
        if self.values.get("table.whitelist"):
            self.tables = [t for t in self.values["table.whitelist"] if t]
            return
        self.tables = self._find_tables()
        if not self.tables:
            log.warning("JDBC source found no tables to copy in %s", describe(_conn_params(self.values)))
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._watch_tables, name="jdbc-table-monitor", daemon=True)
        self._monitor.start()

    def _find_tables(self) -> list[str]:
        params = _conn_params(self.values)
        conn = connect_with_retries(
            params, int(self.values["connection.attempts"]), int(self.values["connection.backoff.ms"])
        )
        try:
            return list_tables(
                conn, self.values["schema.pattern"], list(self.values["table.blacklist"]), dialect_of(params)
            )
        finally:
            conn.close()

    def _watch_tables(self) -> None:
        """Every ``table.poll.interval.ms``: when the set of tables changed, ask for new task configs."""
        interval = int(self.values["table.poll.interval.ms"]) / 1000
        while not self._stopping.wait(interval):
            try:
                found = self._find_tables()
            except Exception as exc:
                log.warning("JDBC source could not list tables: %s", exc)
                continue
            if found != self.tables:
                log.info("JDBC source tables changed from %s to %s; reconfiguring tasks", self.tables, found)
                self.tables = found
                self.context.request_task_reconfiguration()

    def task_class(self) -> type[Task]:
        return JdbcSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        if (self.values.get("query") or "").strip():
            return [dict(self.props)]
        tables = list(self.tables)
        n = min(max(1, max_tasks), len(tables))
        return [{**self.props, _TASK_TABLES: "\n".join(tables[i::n])} for i in range(n)]

    def stop(self) -> None:
        stopping = getattr(self, "_stopping", None)
        if stopping is not None:
            stopping.set()

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        values = SOURCE_CONFIG_DEF.validate(props)
        if any(cv.errors for cv in values):
            return values
        return merge_problems(values, source_problems({cv.name: cv.value for cv in values}))

    def config(self) -> ConfigDef:
        return SOURCE_CONFIG_DEF


def _schema_of(name: str, columns: list[ColumnInfo]) -> Schema:
    fields = []
    for i, c in enumerate(columns):
        params = dict(c.parameters) or None
        version = 1 if c.logical else None
        fields.append(Field(c.name, Schema(c.type, c.optional, c.logical, version, parameters=params), i))
    return Schema("struct", False, name, fields=tuple(fields))


class _Table:
    """One table/query a task reads: its reader, topic, schema cache and next due time."""

    def __init__(self, spec: QuerySpec, reader: TableReader, topic: str, schema_name: str) -> None:
        self.spec = spec
        self.reader = reader
        self.topic = topic
        self.schema_name = schema_name
        self.next_due = 0.0
        self._schema_cols: list[ColumnInfo] | None = None
        self._schema: Schema | None = None

    def schema(self) -> Schema:
        if self._schema is None or self._schema_cols != self.reader.columns:
            self._schema_cols = list(self.reader.columns)
            self._schema = _schema_of(self.schema_name, self._schema_cols)
        return self._schema


class JdbcSourceTask(SourceTask):
    """Reads its share of tables (or the query); see the module docstring."""

    def start(self, props: Mapping[str, str]) -> None:
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._polling = threading.Lock()  # held while start or a poll uses the connection (see _close_when_idle)
        with self._polling:
            self._open(props)
        if self._stopping.is_set():  # stopped while starting: stop() left the connection to this thread
            self._close_when_idle()

    def _open(self, props: Mapping[str, str]) -> None:
        self.values = values = _parse(props)
        self.params = _conn_params(values)
        self.dialect = dialect = dialect_of(self.params)
        self.conn: Any = connect_with_retries(
            self.params, int(values["connection.attempts"]), int(values["connection.backoff.ms"]), self._stopping
        )
        mode = Mode.parse(values["mode"])
        self.poll_interval = int(values["poll.interval.ms"]) / 1000
        prefix = values["topic.prefix"]
        ts_cols = split_columns(values["timestamp.column.name"])
        initial_ts = _dt.datetime(1970, 1, 1)
        if values.get("timestamp.initial") is not None:
            ms = int(values["timestamp.initial"])
            if ms == -1:
                initial_ts = dialect.now(self.conn)
                self.conn.commit()
            else:
                initial_ts = initial_ts + _dt.timedelta(milliseconds=ms)
        query = (values.get("query") or "").strip()
        self.tables: list[_Table] = []
        targets: list[tuple[TableId | None, str | None]] = (
            [(None, query)]
            if query
            else [(TableId.parse(t), None) for t in str(props.get(_TASK_TABLES) or "").split("\n") if t.strip()]
        )
        if not query and not targets:
            targets = [(TableId.parse(t), None) for t in values["table.whitelist"] if t]
        reader_offsets = self.context.offset_storage_reader() if hasattr(self, "context") else None
        for table, q in targets:
            inc_col = values["incrementing.column.name"] or None
            if mode.uses_incrementing and not inc_col and table is not None:
                inc_col = self._identity_column(table)
            spec = QuerySpec(
                mode,
                table=table,
                query=q,
                incrementing_column=inc_col,
                timestamp_columns=ts_cols,
                initial_timestamp=initial_ts,
                dialect=dialect,
            )
            stored = reader_offsets.offset(spec.partition) if reader_offsets is not None else None
            offset = SourceOffset.from_map(stored)
            reader = TableReader(
                spec,
                offset,
                delay_ms=int(values["timestamp.delay.interval.ms"]),
                batch_max_rows=int(values["batch.max.rows"]),
                numeric_mapping=values["numeric.mapping"],
            )
            topic = prefix if table is None else prefix + table.table
            self.tables.append(_Table(spec, reader, topic, table.table if table is not None else topic))
        self._next = 0

    def _identity_column(self, table: TableId) -> str:
        column = self.dialect.identity_column(self.conn, table)
        self.conn.commit()
        if column is None:
            raise ConnectError(
                f"table {table} has no identity, serial or auto-increment column to use as the incrementing column"
                " (or no such table)",
                hint="set incrementing.column.name to a strictly increasing NOT NULL column",
            )
        return column

    def _reconnect(self) -> None:
        with self._lock:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = connect_with_retries(
                self.params,
                int(self.values["connection.attempts"]),
                int(self.values["connection.backoff.ms"]),
                self._stopping,
            )

    def poll(self) -> list[SourceRecord] | None:
        with self._polling:
            records = self._poll()
        if self._stopping.is_set():  # stopped meanwhile: stop() left the connection to this thread
            self._close_when_idle()
        return records

    def _poll(self) -> list[SourceRecord] | None:
        if self._stopping.is_set() or not self.tables:
            self._stopping.wait(0.2)
            return None
        now = time.monotonic()
        # the table that is mid-result or due the longest
        ready = [t for t in self.tables if t.reader.in_query or t.next_due <= now]
        if not ready:
            wait = min(t.next_due for t in self.tables) - now
            self._stopping.wait(min(max(wait, 0.0), 0.5))
            return None
        table = min(ready, key=lambda t: (not t.reader.in_query, t.next_due))
        dialect = self.dialect
        try:
            if not table.reader.in_query:
                table.reader.start(self.conn)
            rows = table.reader.read()
        except dialect.database_errors() as exc:
            if dialect.is_connection_lost(exc):
                log.warning("JDBC source lost its connection to %s: %s; reconnecting", describe(self.params), exc)
                table.reader.close_quietly()
                if self._stopping.is_set():
                    return None
                self._reconnect()
                return None
            table.reader.close_quietly()
            try:
                self.conn.rollback()  # leave no failed transaction behind
            except Exception:
                pass
            where = f"table {table.spec.table}" if table.spec.table is not None else f"query {table.spec.query!r}"
            raise ConnectError(
                f"reading {where} failed: {dialect.error_text(exc)}",
                hint="check the table/query, the mode's columns and the user's privileges",
            ) from exc
        if not table.reader.in_query:
            table.next_due = time.monotonic() + self.poll_interval
        if not rows:
            return None
        schema = table.schema()
        partition = table.spec.partition
        bulk = table.spec.mode is Mode.BULK
        return [
            SourceRecord(
                topic=table.topic,
                kafka_partition=None,
                key_schema=None,
                key=None,
                value_schema=schema,
                value=row.values,
                source_partition=None if bulk else partition,
                source_offset=None if bulk else row.offset.to_map(),
            )
            for row in rows
        ]

    def stop(self) -> None:
        stopping = getattr(self, "_stopping", None)
        if stopping is not None:
            stopping.set()
        self._close_when_idle()

    def _close_when_idle(self) -> None:
        """Close the connection unless ``start`` or a poll is using it: ``stop`` comes from another thread than
        ``poll`` (as in Kafka Connect), and closing a connection under a running query crashed the database
        driver (a segmentation fault of the whole worker). The call using it closes it when it returns."""
        polling = getattr(self, "_polling", None)
        if polling is not None and not polling.acquire(blocking=False):
            return
        try:
            conn, self.conn = getattr(self, "conn", None), None
            if conn is not None:
                try:
                    conn.close()
                except Exception:
                    pass
        finally:
            if polling is not None:
                polling.release()


__all__ = ["JdbcSourceConnector", "JdbcSourceTask", "connect_with_retries", "list_tables"]
