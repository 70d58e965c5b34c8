"""Conversions between internal SQL values (see :mod:`millstream.sql.types`) and the outside world:
text as Flink prints it (tableau, ``print`` connector, ``CAST(x AS STRING)``), JSON/CSV fields as Flink's
formats read and write them, and Python objects for ``collect()``/``to_data_stream``.

Timestamps are epoch milliseconds inside; ``TIMESTAMP_LTZ`` values are shown in the session time zone
(``table.local-time-zone``, default ``UTC``).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from .types import SqlType

_EPOCH = dt.datetime(1970, 1, 1)
_TS_RE = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)?\s*(Z)?\s*$"
)


def zone(name: str) -> dt.tzinfo:
    """The tzinfo of a session time zone name (``UTC``, ``Europe/Berlin``, ``+02:00``)."""
    if name.upper() in ("UTC", "Z", "GMT"):
        return dt.UTC
    m = re.fullmatch(r"(?:GMT|UTC)?([+-])(\d{1,2}):?(\d{2})?", name)
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
        return dt.timezone(dt.timedelta(minutes=minutes if m.group(1) == "+" else -minutes))
    return ZoneInfo(name)


def ms_to_wallclock(ms: int) -> dt.datetime:
    """The naive datetime of a ``TIMESTAMP`` value."""
    return _EPOCH + dt.timedelta(milliseconds=ms)


def ltz_to_wallclock(ms: int, tz: dt.tzinfo) -> dt.datetime:
    """The naive wall-clock datetime of a ``TIMESTAMP_LTZ`` value in zone ``tz``."""
    return dt.datetime.fromtimestamp(ms / 1000, tz).replace(tzinfo=None)


def wallclock_to_ms(value: dt.datetime) -> int:
    delta = value.replace(tzinfo=None) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_timestamp(ms: int, precision: int = 3, trim: bool = False) -> str:
    """``yyyy-MM-dd HH:mm:ss.SSS`` (``precision`` fraction digits, at most 3 here); ``trim`` drops trailing
    zeros of the fraction (and the dot) the way Flink's JSON/CSV formats write timestamps."""
    wall = ms_to_wallclock(ms)
    text = wall.strftime("%Y-%m-%d %H:%M:%S")
    frac = f"{wall.microsecond // 1000:03d}"
    digits = min(precision, 3)
    frac = (frac + "000000")[: max(digits, 0)] if precision <= 3 else frac + "0" * (precision - 3)
    if trim:
        frac = frac.rstrip("0")
    return f"{text}.{frac}" if frac else text


_DATE_RE = re.compile(r"^\s*(-?\d{1,4})-(\d{1,2})-(\d{1,2})\s*$")
_EPOCH_DATE = dt.date(1970, 1, 1)


def format_date(days: int) -> str:
    """``yyyy-MM-dd`` of a ``DATE`` value (days since 1970-01-01)."""
    d = _EPOCH_DATE + dt.timedelta(days=days)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def parse_date(text: str) -> int:
    """The ``DATE`` value of ``yyyy-MM-dd`` (``yyyy-M-d`` too, as Flink)."""
    m = _DATE_RE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a date (expected 'yyyy-MM-dd')")
    return (dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))) - _EPOCH_DATE).days


def parse_timestamp(text: str) -> tuple[int, bool]:
    """``(epoch ms of the wall clock read as UTC, had a trailing Z)`` of ``yyyy-MM-dd[ HH:mm[:ss[.fff]]]``."""
    m = _TS_RE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a timestamp (expected 'yyyy-MM-dd HH:mm:ss[.SSS]')")
    y, mo, d, h, mi, s, frac, z = m.groups()
    wall = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    ms = wallclock_to_ms(wall) + (int((frac + "00")[:3]) if frac else 0)
    return ms, z is not None


def format_decimal(value: Decimal, scale: int | None) -> str:
    if scale is not None:
        value = value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    return format(value, "f")


def to_decimal(value: Any, scale: int | None) -> Decimal | None:
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if scale is not None:
        d = d.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    return d


def format_double(value: float) -> str:
    """Java's ``Double.toString`` shape for the common range: ``1.0``, ``0.5``, ``1.0E10``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e7:
        return f"{int(value)}.0"
    if 1e-3 <= abs(value) < 1e7:
        return repr(value)
    mantissa, _, exponent = f"{value:.17g}".partition("e")
    if not exponent:
        return repr(value)
    m = repr(float(mantissa)) if "." in mantissa else f"{mantissa}.0"
    return f"{m}E{int(exponent)}"


def to_text(value: Any, t: SqlType, tz: dt.tzinfo = dt.UTC) -> str:
    """``CAST(value AS STRING)`` as Flink does it (``NULL`` stays ``None`` — callers handle it)."""
    name = t.name
    if name == "BOOLEAN":
        return "TRUE" if value else "FALSE"
    if name == "TIMESTAMP":
        return format_timestamp(value, t.precision if t.precision is not None else 3)
    if name == "TIMESTAMP_LTZ":
        wall = wallclock_to_ms(ltz_to_wallclock(value, tz))
        return format_timestamp(wall, t.precision if t.precision is not None else 3)
    if name in ("FLOAT", "DOUBLE"):
        return format_double(value)
    if name == "DECIMAL":
        return format_decimal(value, t.scale)
    if name == "DATE":
        return format_date(value)
    return str(value)


def to_display(value: Any, t: SqlType, tz: dt.tzinfo = dt.UTC) -> str:
    """A value as the SQL client's tableau and the ``print`` connector show it (``<NULL>`` for null)."""
    if value is None:
        return "<NULL>"
    if t.name == "BOOLEAN":
        return "TRUE" if value else "FALSE"
    return to_text(value, t, tz)


def to_python(value: Any, t: SqlType, tz: dt.tzinfo = dt.UTC) -> Any:
    """The Python object ``collect()`` returns: ``datetime`` for timestamps (naive; ``TIMESTAMP_LTZ`` in the
    session zone), ``Decimal`` for ``DECIMAL``, numbers, ``str`` and ``bool`` as they are."""
    if value is None:
        return None
    if t.name == "TIMESTAMP":
        return ms_to_wallclock(value)
    if t.name == "TIMESTAMP_LTZ":
        return ltz_to_wallclock(value, tz)
    if t.name == "DATE":
        return _EPOCH_DATE + dt.timedelta(days=value)
    return value


def from_python(value: Any, t: SqlType) -> Any:
    """The internal value of a Python object (``from_data_stream``): datetimes become epoch ms."""
    if value is None:
        return None
    if t.name == "DATE":
        if isinstance(value, dt.datetime):
            value = value.date()
        return (value - _EPOCH_DATE).days if isinstance(value, dt.date) else parse_date(str(value))
    if t.is_time:
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                return int(value.timestamp() * 1000)
            return wallclock_to_ms(value)
        return int(value)
    return value


__all__ = [
    "format_date",
    "format_double",
    "format_timestamp",
    "from_python",
    "parse_date",
    "parse_timestamp",
    "to_decimal",
    "to_display",
    "to_python",
    "to_text",
    "zone",
]
