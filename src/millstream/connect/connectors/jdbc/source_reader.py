"""Reading a table or query in batches for the JDBC source (the I/O half of :mod:`.source_query`).

A :class:`TableReader` runs one :class:`~.source_query.QuerySpec` against a connection the way Confluent's
table queriers do: it executes the mode's statement once (in a server-side cursor, so a big table is
streamed, not loaded), hands out at most ``batch_max_rows`` rows per :meth:`TableReader.read` call until the
result is exhausted, then reports that the next query is due after ``poll.interval.ms``. Each row comes with
the offset reached *after* it, so the task can store offsets per record.

Column types become Connect types (:class:`ColumnInfo`); values are normalised to what a Connect value of
that type is in millstream (``numeric`` per ``numeric.mapping``, ``uuid``/``json`` as strings, timestamps
as UTC ``datetime``).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .dialect import DATE, DECIMAL, TIME, TIMESTAMP, describe_table
from .source_query import QuerySpec, SourceOffset, naive_utc

_cursor_ids = itertools.count()

# PostgreSQL type OID -> (Connect type, logical name)
_OID_TYPES: dict[int, tuple[str, str | None]] = {
    16: ("boolean", None),
    17: ("bytes", None),
    18: ("string", None),
    19: ("string", None),
    20: ("int64", None),
    21: ("int16", None),
    23: ("int32", None),
    25: ("string", None),
    26: ("int64", None),
    114: ("string", None),
    700: ("float32", None),
    701: ("float64", None),
    1042: ("string", None),
    1043: ("string", None),
    1082: ("int32", DATE),
    1083: ("int32", TIME),
    1114: ("int64", TIMESTAMP),
    1184: ("int64", TIMESTAMP),
    1700: ("bytes", DECIMAL),
    2950: ("string", None),
    3802: ("string", None),
}

NUMERIC_MAPPINGS = ("none", "precision_only", "best_fit", "best_fit_eager_double")


@dataclass(frozen=True)
class ColumnInfo:
    """A result column as a Connect field: name, type, logical name, optionality, parameters."""

    name: str
    type: str
    logical: str | None = None
    optional: bool = True
    parameters: tuple[tuple[str, str], ...] = ()


def _numeric_type(precision: int | None, scale: int | None, mapping: str) -> tuple[str, str | None, dict[str, str]]:
    """Connect type of a ``numeric(p, s)`` column under ``numeric.mapping`` (Confluent's rules)."""
    if mapping != "none" and precision is not None and precision > 0:
        s = scale or 0
        if s == 0 and precision <= 18:
            for bits, limit in (("int8", 2), ("int16", 4), ("int32", 9), ("int64", 18)):
                if precision <= limit:
                    return bits, None, {}
        if mapping in ("best_fit", "best_fit_eager_double") and s > 0 and precision <= 15:
            return "float64", None, {}
    if not precision:  # unconstrained numeric: no fixed scale for a Decimal schema
        return ("string", None, {}) if mapping in ("none", "precision_only") else ("float64", None, {})
    if mapping == "best_fit_eager_double" and (scale or 0) > 0:
        return "float64", None, {}
    return "bytes", DECIMAL, {"scale": str(scale or 0)}


def column_infos(description: Any, not_null: dict[str, bool], numeric_mapping: str) -> list[ColumnInfo]:
    """Connect field descriptions for a psycopg cursor ``description``."""
    out = []
    for col in description:
        t, logical = _OID_TYPES.get(col.type_code, ("string", None))
        params: dict[str, str] = {}
        if logical == DECIMAL:
            t, logical, params = _numeric_type(col.precision, col.scale, numeric_mapping)
        out.append(ColumnInfo(col.name, t, logical, not not_null.get(col.name, False), tuple(params.items())))
    return out


def decimal_to_bytes(value: decimal.Decimal, scale: int) -> bytes:
    """Kafka's Decimal encoding: the unscaled value as big-endian two's complement bytes."""
    unscaled = int(value.scaleb(scale).to_integral_value(rounding=decimal.ROUND_HALF_EVEN))
    length = max(1, (unscaled.bit_length() + 8) // 8)
    return unscaled.to_bytes(length, "big", signed=True)


def _converter(info: ColumnInfo) -> Callable[[Any], Any] | None:
    if info.logical == DECIMAL:
        scale = int(dict(info.parameters).get("scale", "0"))
        return lambda v: v if v is None else decimal_to_bytes(decimal.Decimal(v), scale)
    if info.logical == TIMESTAMP:
        return lambda v: v if v is None else naive_utc(v).replace(tzinfo=_dt.UTC)
    if info.type in ("int8", "int16", "int32", "int64") and info.logical is None:
        return lambda v: v if v is None else int(v)
    if info.type in ("float32", "float64"):
        return lambda v: v if v is None else float(v)
    if info.type == "bytes":
        return lambda v: v if v is None else bytes(v)
    if info.type == "string":

        def to_str(v: Any) -> Any:
            if v is None or isinstance(v, str):
                return v
            if isinstance(v, uuid.UUID):
                return str(v)
            return json.dumps(v, separators=(",", ":"), default=str)

        return to_str
    return None


@dataclass
class ReadRow:
    """One row read: its values by column name and the offset reached after it."""

    values: dict[str, Any]
    offset: SourceOffset


class TableReader:
    """Reads one table/query in batches (see the module docstring). Not thread-safe; one per task table."""

    def __init__(
        self,
        spec: QuerySpec,
        offset: SourceOffset,
        *,
        delay_ms: int = 0,
        batch_max_rows: int = 100,
        numeric_mapping: str = "none",
    ) -> None:
        self.spec = spec
        self.offset = offset
        self.delay_ms = delay_ms
        self.batch_max_rows = batch_max_rows
        self.numeric_mapping = numeric_mapping
        self.columns: list[ColumnInfo] = []
        self._converters: list[Callable[[Any], Any] | None] = []
        self._cursor: Any = None
        self._conn: Any = None
        self._not_null: dict[str, bool] | None = None

    @property
    def in_query(self) -> bool:
        """Whether a query's result is still being handed out."""
        return self._cursor is not None

    def _column_nullability(self, conn: Any) -> dict[str, bool]:
        if self._not_null is None:
            self._not_null = {}
            if self.spec.table is not None:
                definition = describe_table(conn, self.spec.table)
                if definition is not None:
                    self._not_null = {c: not n for c, n in definition.nullable.items()}
            conn.commit()
        return self._not_null

    def start(self, conn: Any) -> None:
        """Run the mode's statement from the current offset (closes any previous result)."""
        self.close()
        not_null = self._column_nullability(conn)
        end: _dt.datetime | None = None
        if self.spec.mode.uses_timestamp:
            row = conn.execute("SELECT LOCALTIMESTAMP").fetchone()
            end = row[0] - _dt.timedelta(milliseconds=self.delay_ms)
        sql, params = self.spec.build(self.offset, end)
        cursor = conn.cursor(name=f"millstream_jdbc_{next(_cursor_ids)}")
        cursor.itersize = self.batch_max_rows
        cursor.execute(sql, params)
        self._conn = conn
        self._cursor = cursor
        self.columns = column_infos(cursor.description, not_null, self.numeric_mapping)
        self._converters = [_converter(c) for c in self.columns]

    def read(self) -> list[ReadRow]:
        """Up to ``batch_max_rows`` rows of the running query; ``[]`` (and the query closed) once exhausted."""
        if self._cursor is None:
            return []
        raw = self._cursor.fetchmany(self.batch_max_rows)
        names = [c.name for c in self.columns]
        out = []
        offset = self.offset
        for tup in raw:
            values = {
                name: (conv(v) if conv is not None else v)
                for name, conv, v in zip(names, self._converters, tup, strict=True)
            }
            offset = self.spec.offset_of(values, offset)
            out.append(ReadRow(values, offset))
        self.offset = offset
        if len(raw) < self.batch_max_rows:
            self.close()
        return out

    def close_quietly(self) -> None:
        """Forget the running query after a failure (the connection may be gone)."""
        self._cursor = self._conn = None

    def close(self) -> None:
        """End the running query (and its read transaction), if any."""
        cursor, conn = self._cursor, self._conn
        self._cursor = self._conn = None
        if cursor is not None:
            try:
                cursor.close()
            finally:
                if conn is not None and not conn.closed:
                    conn.commit()


__all__ = ["NUMERIC_MAPPINGS", "ColumnInfo", "ReadRow", "TableReader", "column_infos", "decimal_to_bytes"]
