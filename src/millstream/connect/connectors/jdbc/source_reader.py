"""Reading a table or query in batches for the JDBC source (the I/O half of :mod:`.source_query`).

A :class:`TableReader` runs one :class:`~.source_query.QuerySpec` against a connection the way Confluent's
table queriers do: it executes the mode's statement once (in a server-side cursor, so a big table is
streamed, not loaded), hands out at most ``batch_max_rows`` rows per :meth:`TableReader.read` call until the
result is exhausted, then reports that the next query is due after ``poll.interval.ms``. Each row comes with
the offset reached *after* it, so the task can store offsets per record.

Column types become Connect types (:class:`ColumnInfo`); values are normalised to what a Connect value of
that type is in millstream (``numeric`` per ``numeric.mapping``, ``uuid``/``json`` as strings, timestamps
as UTC ``datetime``). PostgreSQL columns are typed by the result's type OIDs; SQLite and MySQL/MariaDB columns by
the table's declared types (:func:`declared_type`), else by what the driver reports for the result (MySQL), else
— for a SQLite query — by the Python values of the first batch (int → int64, float → float64, bytes → bytes,
text → string).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import itertools
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .dialect import DATE, DECIMAL, TIME, TIMESTAMP, TableDefinition
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


_DECLARED_ARGS = re.compile(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")
_SIMPLE_DECLARED: dict[str, tuple[str, str | None]] = {
    "bool": ("boolean", None),
    "boolean": ("boolean", None),
    "tinyint": ("int8", None),
    "smallint": ("int16", None),
    "year": ("int16", None),
    "mediumint": ("int32", None),
    "int": ("int32", None),
    "bigint": ("int64", None),
    "float": ("float32", None),
    "real": ("float64", None),
    "double": ("float64", None),
    "double precision": ("float64", None),
    "date": ("int32", DATE),
    "time": ("int32", TIME),
    "datetime": ("int64", TIMESTAMP),
    "timestamp": ("int64", TIMESTAMP),
}


def declared_type(
    declared: str | None, numeric_mapping: str, *, sqlite: bool = False
) -> tuple[str, str | None, dict[str, str]] | None:
    """``(Connect type, logical name, parameters)`` of a SQLite/MySQL declared column type such as
    ``varchar(20)``, ``decimal(10,2)``, ``tinyint(1)`` (boolean), ``datetime(3)``; ``None`` when unknown.

    SQLite's ``INTEGER`` (any declared type containing ``INT``) is 64-bit, and its ``REAL`` a double.
    """
    if not declared:
        return None
    text = declared.strip().lower()
    m = _DECLARED_ARGS.search(text)
    p1, p2 = (m.group(1), m.group(2)) if m else (None, None)
    words = re.sub(r"\(.*?\)", " ", text).split()
    unsigned = "unsigned" in words
    base = " ".join(w for w in words if w not in ("unsigned", "signed", "zerofill"))
    if base == "tinyint" and p1 == "1":
        return "boolean", None, {}
    if base == "bit":
        return ("boolean", None, {}) if p1 in (None, "1") else ("int64", None, {})
    if base in ("decimal", "numeric", "dec", "fixed"):
        return _numeric_type(int(p1) if p1 else None, int(p2) if p2 else 0, numeric_mapping)
    if sqlite and "int" in base:
        return "int64", None, {}
    if base in _SIMPLE_DECLARED:
        kind, logical = _SIMPLE_DECLARED[base]
        if unsigned and kind in ("int8", "int16", "int32"):
            kind = {"int8": "int16", "int16": "int32", "int32": "int64"}[kind]
        return kind, logical, {}
    if base == "integer":
        return ("int64" if unsigned else "int32"), None, {}
    if any(w in base for w in ("char", "text", "clob", "enum", "set", "json", "uuid")):
        return "string", None, {}
    if any(w in base for w in ("blob", "binary")):
        return "bytes", None, {}
    return None


def _infer_from_value(value: Any) -> tuple[str, str | None, dict[str, str]]:
    if isinstance(value, bool):
        return "boolean", None, {}
    if isinstance(value, int):
        return "int64", None, {}
    if isinstance(value, float):
        return "float64", None, {}
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes", None, {}
    if isinstance(value, _dt.datetime):
        return "int64", TIMESTAMP, {}
    return "string", None, {}


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
        return lambda v: v if v is None else naive_utc(_as_datetime(v)).replace(tzinfo=_dt.UTC)
    if info.logical == DATE:
        return lambda v: _dt.date.fromisoformat(v[:10]) if isinstance(v, str) else v
    if info.logical == TIME:
        return _as_time
    if info.type == "boolean":
        return lambda v: v if v is None or isinstance(v, bool) else bool(_as_int(v))
    if info.type in ("int8", "int16", "int32", "int64") and info.logical is None:
        return lambda v: v if v is None else _as_int(v)
    if info.type in ("float32", "float64"):
        return lambda v: v if v is None else float(v)
    if info.type == "bytes":
        return lambda v: v if v is None else (v.encode() if isinstance(v, str) else bytes(v))
    if info.type == "string":

        def to_str(v: Any) -> Any:
            if v is None or isinstance(v, str):
                return v
            if isinstance(v, uuid.UUID):
                return str(v)
            return json.dumps(v, separators=(",", ":"), default=str)

        return to_str
    return None


def _as_int(v: Any) -> int:
    """An integer value; MySQL ``BIT(n)`` columns come as big-endian bytes."""
    if isinstance(v, bytes | bytearray):
        return int.from_bytes(v, "big")
    return int(v)


def _as_datetime(v: Any) -> _dt.datetime:
    """A timestamp value; SQLite gives ISO text (``YYYY-MM-DD HH:MM:SS[.fff]``, optionally with ``T``/zone)."""
    if isinstance(v, str):
        return _dt.datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
    if isinstance(v, _dt.date) and not isinstance(v, _dt.datetime):
        return _dt.datetime(v.year, v.month, v.day)
    return v


def _as_time(v: Any) -> Any:
    """A time value; MySQL gives ``timedelta`` (since midnight), SQLite ISO text."""
    if isinstance(v, _dt.timedelta):
        return (_dt.datetime(1970, 1, 1) + v).time()
    if isinstance(v, str):
        return _dt.time.fromisoformat(v.strip())
    return v


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
        """The dialect is the spec's (:attr:`.QuerySpec.dialect`)."""
        self.spec = spec
        self.dialect = spec.dialect
        self.offset = offset
        self.delay_ms = delay_ms
        self.batch_max_rows = batch_max_rows
        self.numeric_mapping = numeric_mapping
        self.columns: list[ColumnInfo] = []
        self._converters: list[Callable[[Any], Any] | None] = []
        self._cursor: Any = None
        self._conn: Any = None
        self._not_null: dict[str, bool] | None = None
        self._definition: TableDefinition | None = None
        self._pending: list[int] = []  # columns whose type is taken from the first batch's values

    @property
    def in_query(self) -> bool:
        """Whether a query's result is still being handed out."""
        return self._cursor is not None

    def _column_nullability(self, conn: Any) -> dict[str, bool]:
        if self._not_null is None:
            self._not_null = {}
            if self.spec.table is not None:
                definition = self.dialect.describe_table(conn, self.spec.table)
                if definition is not None:
                    self._definition = definition
                    self._not_null = {c: not n for c, n in definition.nullable.items()}
            conn.commit()
        return self._not_null

    def start(self, conn: Any) -> None:
        """Run the mode's statement from the current offset (closes any previous result)."""
        self.close()
        not_null = self._column_nullability(conn)
        end: _dt.datetime | None = None
        if self.spec.mode.uses_timestamp:
            end = self.dialect.now(conn) - _dt.timedelta(milliseconds=self.delay_ms)
        sql, params = self.spec.build(self.offset, end)
        if self.dialect.name == "postgresql":  # a named (server-side) cursor, types by OID
            cursor = conn.cursor(name=f"millstream_jdbc_{next(_cursor_ids)}")
            cursor.itersize = self.batch_max_rows
            cursor.execute(sql, params)
            self.columns = column_infos(cursor.description, not_null, self.numeric_mapping)
        else:
            cursor = self.dialect.open_cursor(conn, self.batch_max_rows)
            cursor.execute(sql, params)
            self.columns = self._declared_columns(cursor, not_null)
        self._conn = conn
        self._cursor = cursor
        self._converters = [_converter(c) for c in self.columns]

    def _declared_columns(self, cursor: Any, not_null: dict[str, bool]) -> list[ColumnInfo]:
        """Column types from the table's declared types, else the driver's result types (see the module)."""
        declared = self._definition.columns if self._definition is not None else {}
        reported = self.dialect.result_types(cursor)
        sqlite = self.dialect.name == "sqlite"
        out: list[ColumnInfo] = []
        self._pending = []
        for i, d in enumerate(cursor.description):
            name = str(d[0])
            found = declared_type(declared.get(name), self.numeric_mapping, sqlite=sqlite) or declared_type(
                reported[i], self.numeric_mapping, sqlite=sqlite
            )
            if found is None:
                self._pending.append(i)
                found = ("string", None, {})
            t, logical, params = found
            out.append(ColumnInfo(name, t, logical, not not_null.get(name, False), tuple(params.items())))
        return out

    def _infer_pending(self, raw: list[Any]) -> None:
        """Type the columns no declared type described by their first non-NULL value in ``raw``."""
        for i in self._pending:
            sample = next((tup[i] for tup in raw if tup[i] is not None), None)
            t, logical, params = _infer_from_value(sample)
            c = self.columns[i]
            self.columns[i] = ColumnInfo(c.name, t, logical, c.optional, tuple(params.items()))
            self._converters[i] = _converter(self.columns[i])
        self._pending = []

    def read(self) -> list[ReadRow]:
        """Up to ``batch_max_rows`` rows of the running query; ``[]`` (and the query closed) once exhausted."""
        if self._cursor is None:
            return []
        raw = self._cursor.fetchmany(self.batch_max_rows)
        if self._pending and raw:
            self._infer_pending(raw)
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
                if conn is not None and not self.dialect.is_closed(conn):
                    conn.commit()


__all__ = [
    "NUMERIC_MAPPINGS",
    "ColumnInfo",
    "ReadRow",
    "TableReader",
    "column_infos",
    "decimal_to_bytes",
    "declared_type",
]
