"""``JdbcSinkConnector`` (aliases ``JdbcSink``, ``io.confluent.connect.jdbc.JdbcSinkConnector``).

Each :class:`JdbcSinkTask`:

1. ``start``: validates the options (e.g. ``insert.mode=upsert`` needs a ``pk.mode``; ``delete.enabled`` needs
   ``pk.mode=record_key``) and connects (``connection.attempts`` tries) — an unreachable database fails the
   task with a message naming the server;
2. ``put(records)``: maps the records to rows (:class:`~.sink_writer.RowMapper`) and writes the whole batch in
   **one transaction**, in record order (:class:`~.sink_writer.TableWriter`), creating/evolving tables when
   asked. When ``put`` returns, the rows are committed, so the offsets the framework commits afterwards never
   run ahead of the database. A crash between the two replays records; with ``insert.mode=upsert`` a replay
   rewrites the same rows and changes nothing;
3. a lost connection makes ``put`` raise :class:`RetriableError` (the framework redelivers the batch after
   ``retry.backoff.ms``) up to ``max.retries`` times in a row, reconnecting first; then the task fails.
   Records the database rejects (constraint, type) fail the batch with the database's message, naming the
   table; with ``errors.tolerance=all`` the framework retries them one by one and dead-letters the bad ones.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ....core.errors import ConnectError
from ...api import SinkConnector, SinkTask, Task
from ...config import ConfigDef, ConfigValue
from ...data import SinkRecord
from ...errors import RetriableError
from .config import SINK_CONFIG_DEF, merge_problems, raise_problems, sink_problems
from .connection import describe
from .dialects import dialect_of
from .sink_writer import InsertMode, PkMode, RowMapper, TableWriter
from .source import _conn_params, connect_with_retries

log = logging.getLogger(__name__)

SINK_CLASS = "io.confluent.connect.jdbc.JdbcSinkConnector"


def _parse(props: Mapping[str, Any]) -> dict[str, Any]:
    values = SINK_CONFIG_DEF.parse(props, connector_class=SINK_CLASS)
    raise_problems(sink_problems(values), SINK_CLASS)
    return values


class JdbcSinkConnector(SinkConnector):
    """Writes records to PostgreSQL, SQLite or MySQL/MariaDB tables (the dialect follows ``connection.url``); see
    the module docstring. Config keys are Confluent's."""

    CONFIG_DEF = SINK_CONFIG_DEF

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)
        _parse(props)

    def task_class(self) -> type[Task]:
        return JdbcSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max(1, max_tasks))]

    def stop(self) -> None:
        pass

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        values = SINK_CONFIG_DEF.validate(props)
        if any(cv.errors for cv in values):
            return values
        return merge_problems(values, sink_problems({cv.name: cv.value for cv in values}))

    def config(self) -> ConfigDef:
        return SINK_CONFIG_DEF


class JdbcSinkTask(SinkTask):
    """Writes each ``put`` batch in one transaction; see the module docstring."""

    conn: Any = None

    def start(self, props: Mapping[str, str]) -> None:
        self.values = values = _parse(props)
        self.params = _conn_params(values)
        self.dialect = dialect_of(self.params)
        self.mapper = RowMapper(
            insert_mode=InsertMode(values["insert.mode"]),
            pk_mode=PkMode(values["pk.mode"]),
            pk_fields=[f for f in values["pk.fields"] if f],
            fields_whitelist=[f for f in values["fields.whitelist"] if f],
            table_name_format=values["table.name.format"],
            delete_enabled=bool(values["delete.enabled"]),
            dialect=self.dialect,
        )
        self.writer = TableWriter(
            auto_create=bool(values["auto.create"]),
            auto_evolve=bool(values["auto.evolve"]),
            batch_size=int(values["batch.size"]),
            dialect=self.dialect,
        )
        self.max_retries = int(values["max.retries"])
        self.retry_backoff_ms = int(values["retry.backoff.ms"])
        self.remaining_retries = self.max_retries
        self.conn = self._connect()

    def _connect(self) -> Any:
        return connect_with_retries(
            self.params, int(self.values["connection.attempts"]), int(self.values["connection.backoff.ms"])
        )

    def put(self, records: list[SinkRecord]) -> None:
        if not records:
            return
        rows = [r for r in (self.mapper.map(rec) for rec in records) if r is not None]
        if not rows:
            return
        dialect = self.dialect
        caught: tuple[type[BaseException], ...] = (*dialect.database_errors(), ConnectError)
        try:
            if self.conn is None or dialect.is_closed(self.conn):
                self.conn = self._connect()
            self.writer.write(self.conn, rows)
        except caught as exc:
            if isinstance(exc, ConnectError):
                if not _is_connection_problem(exc):
                    raise
            elif not dialect.is_connection_lost(exc):
                tables = sorted({str(r.table) for r in rows})
                first = records[0]
                raise ConnectError(
                    f"{dialect.product} rejected a batch of {len(rows)} rows for table(s) {', '.join(tables)} (records "
                    f"from {first.topic}[{first.kafka_partition}] offset {first.kafka_offset} on): "
                    f"{dialect.error_text(exc)}",
                    hint="fix the data or the table; with errors.tolerance=all bad records go to the dead letter "
                    "queue and the rest are written",
                ) from exc
            self._drop_connection()
            if self.remaining_retries <= 0:
                raise ConnectError(
                    f"writing {len(rows)} rows to {dialect.product} at {describe(self.params)} failed "
                    f"{self.max_retries + 1} times in a row: {dialect.error_text(exc)}",
                    hint="check that the database is up and reachable; raise max.retries/retry.backoff.ms to wait "
                    "longer",
                ) from exc
            self.remaining_retries -= 1
            log.warning(
                "JDBC sink write failed (%s); retrying in %d ms, %d retries left",
                exc,
                self.retry_backoff_ms,
                self.remaining_retries,
            )
            self.context.timeout(self.retry_backoff_ms)
            raise RetriableError(f"connection to {describe(self.params)} lost: {exc}") from exc
        self.remaining_retries = self.max_retries

    def flush(self, current_offsets: Mapping[Any, int]) -> None:
        """Nothing to do: every ``put`` commits its transaction before returning."""

    def _drop_connection(self) -> None:
        conn, self.conn = self.conn, None
        self.writer.forget_tables()
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def stop(self) -> None:
        self._drop_connection()


def _is_connection_problem(exc: ConnectError) -> bool:
    from .connection import JdbcConnectionError

    return isinstance(exc, JdbcConnectionError)


__all__ = ["JdbcSinkConnector", "JdbcSinkTask"]
