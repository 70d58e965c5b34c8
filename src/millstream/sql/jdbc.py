"""Flink's ``jdbc`` SQL connector on millstream: a table of a PostgreSQL, SQLite or MySQL/MariaDB database (the
dialects of millstream's JDBC connectors write the SQL). Pure: this builds DataStream nodes with the descriptors of
:mod:`millstream.stream.jdbc_descriptors`; the runtime does the I/O.

Options (Flink's names): ``url`` (``jdbc:postgresql://host:port/db``, ``jdbc:sqlite:/path/file.db``,
``jdbc:mysql://...``; required), ``table-name`` (required), ``username``, ``password``,
``sink.buffer-flush.max-rows`` (default 100; ``0`` no limit), ``sink.buffer-flush.interval`` (default ``1s``;
``0`` no timer), ``sink.parallelism``.

**Sink**: with a ``PRIMARY KEY (...) NOT ENFORCED`` the table is written in upsert mode, as Flink's JDBC sink does:
``+I``/``+U`` insert or update the row by its key, ``-D`` deletes the key's row, ``-U`` is dropped; without a key
rows are appended with ``INSERT`` and changelogs are refused. Rows are buffered and written in one transaction per
flush (every ``max-rows`` rows, every ``interval``, at each checkpoint and at the end), in order. The table must
exist. **Source**: a bounded scan of the table's columns (the job's source ends after the last row).

Values: integers, floats, ``DECIMAL`` (``Decimal``), strings and booleans as the driver takes them;
``TIMESTAMP``/``TIMESTAMP_LTZ`` as naive UTC ``datetime`` (the wall-clock time for ``TIMESTAMP``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..stream.datastream import DataStream
from ..stream.environment import StreamExecutionEnvironment
from ..stream.jdbc_descriptors import JdbcTableSink, JdbcTableSource
from .catalog import CatalogTable
from .errors import SqlValidationError
from .types import SqlType
from .values import from_python, parse_timestamp, to_decimal

OPTIONS = (
    "connector",
    "url",
    "table-name",
    "username",
    "password",
    "sink.buffer-flush.max-rows",
    "sink.buffer-flush.interval",
    "sink.parallelism",
)
_EPOCH = dt.datetime(1970, 1, 1)
_UNITS = {"ms": 1, "milli": 1, "millis": 1, "s": 1000, "sec": 1000, "second": 1000, "seconds": 1000,
          "min": 60_000, "minute": 60_000, "minutes": 60_000, "h": 3_600_000, "hour": 3_600_000}  # fmt: skip


class JdbcTable:
    """A checked ``jdbc`` table (see the module docstring)."""

    def __init__(self, table: CatalogTable) -> None:
        self.table = table
        opts = table.options
        for key in opts:
            if key not in OPTIONS:
                raise SqlValidationError(
                    f"unknown option '{key}' for connector 'jdbc' (table '{table.name}')",
                    hint=f"remove it; 'jdbc' takes: {', '.join(OPTIONS)}",
                )
        for key, example in (("url", "jdbc:postgresql://localhost:5432/db"), ("table-name", "orders")):
            if not opts.get(key):
                raise SqlValidationError(
                    f"table '{table.name}' needs the option '{key}'", hint=f"add '{key}' = '{example}' to its WITH"
                )
        if not re.match(r"^jdbc:(postgresql|sqlite|mysql|mariadb):", opts["url"]):
            raise SqlValidationError(
                f"'url' = '{opts['url']}' of table '{table.name}' is not a supported JDBC URL",
                hint="use jdbc:postgresql://host:port/db, jdbc:sqlite:/path/file.db or jdbc:mysql://host:port/db",
            )
        if table.watermark is not None or table.metadata or any(c.computed is not None for c in table.columns):
            raise SqlValidationError(
                f"'jdbc' table '{table.name}' has a watermark, computed or metadata columns: not supported yet",
                hint="declare only physical columns (and a primary key)",
            )
        self.fields = table.physical
        self.columns = tuple(f.name for f in self.fields)
        self.key = tuple(table.primary_key)
        self.max_rows = _int_option(table, "sink.buffer-flush.max-rows", 100, minimum=0)
        self.interval_ms = _duration(table, "sink.buffer-flush.interval", 1000)
        self.parallelism = _int_option(table, "sink.parallelism", None, minimum=1)

    def sink(self, stream: DataStream, changelog: bool) -> None:
        """Write ``stream`` (tuples of the physical columns, plus the row kind with ``changelog``)."""
        if changelog and not self.key:
            raise SqlValidationError(
                f"'jdbc' table '{self.table.name}' has no primary key, so it takes only inserts, but the query "
                "produces updates",
                hint="declare PRIMARY KEY (...) NOT ENFORCED on the table (it is then written in upsert mode)",
            )
        to_db = [_to_db(f.type) for f in self.fields]
        width = len(self.fields)
        op_of = {"+I": "upsert", "+U": "upsert", "-D": "delete"} if self.key else {"+I": "insert"}

        def element(row: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
            kind = row[width] if changelog else "+I"
            return op_of[kind], tuple(v if c is None or v is None else c(v) for v, c in zip(row, to_db, strict=False))

        if changelog:
            stream = stream.filter(lambda row: row[width] != "-U").name(f"UpsertFilter({self.table.name})")
        rows = stream.map(element).name(f"Encode({self.table.name})")
        if self.parallelism is not None:
            key_index = [self.columns.index(k) for k in self.key]
            if key_index:
                rows = rows.key_by(lambda e: tuple(e[1][i] for i in key_index))  # one key's changes in order
        opts = self.table.options
        descriptor = JdbcTableSink(
            opts["url"], opts["table-name"], self.columns, self.key, opts.get("username"), opts.get("password"),
            self.max_rows or 0, self.interval_ms, f"Sink({self.table.name})",
        )  # fmt: skip
        sink = rows.sink_to(descriptor).name(f"Sink({self.table.name})")
        if self.parallelism is not None:
            sink.set_parallelism(self.parallelism)

    def source(self, env: StreamExecutionEnvironment) -> DataStream:
        """The table's rows (tuples of the physical columns, internal values); bounded."""
        opts = self.table.options
        descriptor = JdbcTableSource(
            opts["url"], opts["table-name"], self.columns, opts.get("username"), opts.get("password"),
            f"TableSourceScan({self.table.name})",
        )  # fmt: skip
        convs = [_from_db(f.type) for f in self.fields]
        rows = env.from_source(descriptor, None, f"TableSourceScan({self.table.name})")
        return rows.map(
            lambda r: tuple(v if c is None or v is None else c(v) for v, c in zip(r, convs, strict=True))
        ).name(f"Decode({self.table.name})")


def _to_db(t: SqlType) -> Callable[[Any], Any] | None:
    if t.is_time:
        return lambda ms: _EPOCH + dt.timedelta(milliseconds=ms)
    if t.name == "DATE":
        return lambda days: _EPOCH.date() + dt.timedelta(days=days)
    return None


def _from_db(t: SqlType) -> Callable[[Any], Any] | None:
    if t.name == "DATE":
        return lambda v: from_python(v, t)
    if t.is_time:

        def to_ms(v: Any) -> int:
            if isinstance(v, str):
                return int(parse_timestamp(v)[0])
            if isinstance(v, dt.datetime):
                if v.tzinfo is not None:
                    v = v.astimezone(dt.UTC).replace(tzinfo=None)
                return (v - _EPOCH) // dt.timedelta(milliseconds=1)
            return int(v)

        return to_ms
    if t.name == "DECIMAL":
        return lambda v: to_decimal(v if isinstance(v, Decimal) else str(v), t.scale)
    if t.is_integer:
        return int
    if t.name in ("FLOAT", "DOUBLE"):
        return float
    if t.name == "BOOLEAN":
        return bool
    return None


def _int_option(table: CatalogTable, key: str, default: int | None, minimum: int) -> int | None:
    text = table.options.get(key)
    if text is None:
        return default
    try:
        n = int(text)
    except ValueError:
        n = minimum - 1
    if n < minimum:
        raise SqlValidationError(
            f"option '{key}' of table '{table.name}' must be an integer >= {minimum}, got '{text}'",
            hint=f"'{key}' = '{max(minimum, 1) * 100 if minimum == 0 else 2}'",
        )
    return n


def _duration(table: CatalogTable, key: str, default: int) -> int:
    text = table.options.get(key)
    if text is None:
        return default
    m = re.fullmatch(r"\s*(\d+)\s*([a-z]*)\s*", text.lower())
    if m is None or (m.group(2) and m.group(2) not in _UNITS):
        raise SqlValidationError(
            f"option '{key}' of table '{table.name}' must be a duration, got '{text}'",
            hint=f"'{key}' = '1s' (units: ms, s, min, h; a plain number is milliseconds; '0' disables it)",
        )
    return int(m.group(1)) * _UNITS.get(m.group(2) or "ms", 1)


__all__ = ["OPTIONS", "JdbcTable"]
