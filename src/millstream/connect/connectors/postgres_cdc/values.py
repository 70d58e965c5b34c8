"""PostgreSQL column types → Connect schemas and values, following Debezium's PostgreSQL connector mapping.

Values arrive as text in both phases — pgoutput sends each value through its type's output function, and the
snapshot selects each column through ``concat()``, the same output function — so one converter serves
snapshot and stream and the two agree exactly.

Mapping (Debezium's defaults, ``time.precision.mode=adaptive``): ``boolean`` → boolean; ``smallint`` →
int16; ``integer`` → int32; ``bigint``/``oid`` → int64; ``real`` → float32; ``double precision`` → float64;
``numeric`` per ``decimal.handling.mode`` (``precise``: Connect ``Decimal`` values, or Debezium's
``VariableScaleDecimal`` struct ``{scale, value}`` for a ``numeric`` without scale; ``double``: float64;
``string``); ``date`` → int32 days (``io.debezium.time.Date``); ``timestamp`` → int64 µs
(``io.debezium.time.MicroTimestamp``); ``timestamptz`` → ISO-8601 string in UTC
(``io.debezium.time.ZonedTimestamp``); ``time`` → int64 µs (``io.debezium.time.MicroTime``); ``bytea`` →
bytes; ``json``/``jsonb`` → string (``io.debezium.data.Json``); ``uuid`` → string
(``io.debezium.data.Uuid``); every other type (text, varchar, arrays, intervals, enums, ...) → its text form.
"""

from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ....core.errors import ConnectError
from ...data import DECIMAL, Field, Schema

_EPOCH = _dt.datetime(1970, 1, 1)
_EPOCH_DATE = _dt.date(1970, 1, 1)

DECIMAL_MODES = ("precise", "double", "string")


def _bool(text: str) -> bool:
    return text == "t"


def _date(text: str) -> int:
    return (_dt.date.fromisoformat(text) - _EPOCH_DATE).days


def _timestamp(text: str) -> int:
    delta = _dt.datetime.fromisoformat(text) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _timestamptz(text: str) -> str:
    ts = _dt.datetime.fromisoformat(text).astimezone(_dt.UTC)
    return ts.isoformat().replace("+00:00", "Z")


def _time(text: str) -> int:
    t = _dt.time.fromisoformat(text)
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _bytea(text: str) -> bytes:
    if text.startswith("\\x"):
        return bytes.fromhex(text[2:])
    raise ValueError("bytea value is not in hex format (set bytea_output = 'hex' on the server)")


VARIABLE_SCALE_DECIMAL = Schema(
    "struct",
    True,
    "io.debezium.data.VariableScaleDecimal",
    1,
    doc="Variable scaled decimal",
    fields=(Field("scale", Schema("int32"), 0), Field("value", Schema("bytes"), 1)),
)


def _finite_decimal(text: str) -> decimal.Decimal:
    d = decimal.Decimal(text)
    if not d.is_finite():
        raise ValueError(f"{text} has no decimal form (use decimal.handling.mode=double or string)")
    return d


def _variable_scale(text: str) -> dict[str, Any]:
    """Debezium's ``VariableScaleDecimal``: ``{"scale": s, "value": unscaled two's-complement big-endian}``."""
    sign, digits, exponent = _finite_decimal(text).as_tuple()
    assert isinstance(exponent, int)
    unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    scale = -exponent
    if scale < 0:
        unscaled, scale = unscaled * 10**-scale, 0
    length = max(1, (unscaled.bit_length() + 8) // 8)
    return {"scale": scale, "value": unscaled.to_bytes(length, "big", signed=True)}


@dataclass(frozen=True)
class ColumnType:
    """How one PostgreSQL type becomes Connect data: the (optional) schema and a text → value parser."""

    schema: Schema
    parse: Callable[[str], Any]


def column_type(type_oid: int, type_modifier: int, decimal_mode: str) -> ColumnType:
    """The Connect form of a column of type ``type_oid`` (all value schemas are optional, as a column may be
    null; key columns are made required by the envelope)."""
    if type_oid == 1700:  # numeric
        if decimal_mode == "double":
            return ColumnType(Schema("float64", True), float)
        if decimal_mode == "string":
            return ColumnType(Schema("string", True), str)
        if type_modifier < 4:  # numeric without scale: each value says its own, as Debezium does
            return ColumnType(VARIABLE_SCALE_DECIMAL, _variable_scale)
        scale = (type_modifier - 4) & 0xFFFF
        params = {"scale": str(scale), "connect.decimal.precision": str(((type_modifier - 4) >> 16) & 0xFFFF)}
        return ColumnType(Schema("bytes", True, DECIMAL, 1, parameters=params), _finite_decimal)
    found = _SIMPLE.get(type_oid)
    if found is not None:
        return found
    return ColumnType(Schema("string", True), str)


_SIMPLE: dict[int, ColumnType] = {
    16: ColumnType(Schema("boolean", True), _bool),
    17: ColumnType(Schema("bytes", True), _bytea),
    20: ColumnType(Schema("int64", True), int),
    21: ColumnType(Schema("int16", True), int),
    23: ColumnType(Schema("int32", True), int),
    26: ColumnType(Schema("int64", True), int),
    114: ColumnType(Schema("string", True, "io.debezium.data.Json", 1), str),
    3802: ColumnType(Schema("string", True, "io.debezium.data.Json", 1), str),
    700: ColumnType(Schema("float32", True), float),
    701: ColumnType(Schema("float64", True), float),
    1082: ColumnType(Schema("int32", True, "io.debezium.time.Date", 1), _date),
    1083: ColumnType(Schema("int64", True, "io.debezium.time.MicroTime", 1), _time),
    1114: ColumnType(Schema("int64", True, "io.debezium.time.MicroTimestamp", 1), _timestamp),
    1184: ColumnType(Schema("string", True, "io.debezium.time.ZonedTimestamp", 1), _timestamptz),
    2950: ColumnType(Schema("string", True, "io.debezium.data.Uuid", 1), str),
}


def convert(ctype: ColumnType, text: str | None, where: str) -> Any:
    """Parse one text value; a value the type's parser rejects (``infinity`` dates, ...) is a
    :class:`ConnectError` naming the column."""
    if text is None:
        return None
    try:
        return ctype.parse(text)
    except (ValueError, ArithmeticError) as exc:
        raise ConnectError(
            f"cannot convert value {text[:60]!r} of column {where}: {exc}",
            hint="such values (e.g. 'infinity' timestamps) have no Connect form; change the column's value or type",
        ) from exc


__all__ = ["DECIMAL_MODES", "ColumnType", "column_type", "convert"]
