"""Runtime helpers of Flink's scalar functions and operators, called by the code
:mod:`millstream.sql.expressions` generates. Each follows Flink's definition (Java integer semantics for
``/`` and ``%``, 1-based ``SUBSTRING``, ``CONCAT`` is ``NULL`` when any argument is, ...). Arguments are
never ``NULL`` here: the generated code returns ``NULL`` before calling them when an argument is.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .errors import SqlError

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF


def wrap(bits: int) -> Any:
    """Two's-complement wrap-around of an integer type with ``bits`` bits (Java overflow)."""
    half = 1 << (bits - 1)
    mask = (1 << bits) - 1

    def w(x: int) -> int:
        return ((x + half) & mask) - half

    return w


def now_ms() -> int:
    """The wall clock in epoch milliseconds (``PROCTIME()``)."""
    import time

    return time.time_ns() // 1_000_000


def idiv(a: int, b: int) -> int:
    """Integer division truncating toward zero (Java ``/``)."""
    if b == 0:
        raise SqlError("division by zero", hint="guard the divisor, e.g. CASE WHEN b = 0 THEN NULL ELSE a / b END")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def fdiv(a: Any, b: Any) -> Any:
    if b == 0:
        if isinstance(a, float) or isinstance(b, float):
            return math.nan if a == 0 else math.copysign(math.inf, a) * (1 if str(b)[0] != "-" else -1)
        raise SqlError("division by zero", hint="guard the divisor, e.g. CASE WHEN b = 0 THEN NULL ELSE a / b END")
    return a / b


def ddiv(a: Decimal, b: Decimal, scale: int) -> Decimal:
    if b == 0:
        raise SqlError("division by zero", hint="guard the divisor, e.g. CASE WHEN b = 0 THEN NULL ELSE a / b END")
    return (Decimal(a) / Decimal(b)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def imod(a: int, b: int) -> int:
    """Remainder with the sign of the dividend (Java ``%``, Flink ``MOD``)."""
    if b == 0:
        raise SqlError("division by zero in MOD", hint="guard the divisor")
    return a - b * idiv(a, b)


def fmod(a: Any, b: Any) -> Any:
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a % b  # Decimal's % already keeps the dividend's sign
    return math.fmod(a, b)


def like_regex(pattern: str, escape: str | None = None) -> re.Pattern[str]:
    """A compiled regex for a SQL ``LIKE`` pattern (``%`` any run, ``_`` one character)."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if escape and ch == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def like(value: str, regex: re.Pattern[str]) -> bool:
    return regex.fullmatch(value) is not None


def substring(s: str, start: int, length: int | None = None) -> str:
    """``SUBSTRING(s FROM start [FOR length])``: 1-based; ``start`` <= 0 counts from before the string."""
    begin = start - 1 if start > 0 else (max(len(s) + start, 0) if start < 0 else 0)
    if length is None:
        return s[begin:]
    if length < 0:
        raise SqlError(f"SUBSTRING length must not be negative, got {length}")
    return s[begin : begin + length]


def round_half_up(x: Any, digits: int = 0) -> Any:
    """``ROUND(x, d)``: half away from zero, as Flink (not Python's banker's rounding)."""
    if isinstance(x, int):
        if digits >= 0:
            return x
        q = Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
        return int(q)
    d = x if isinstance(x, Decimal) else Decimal(repr(x))
    q = d.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return q if isinstance(x, Decimal) else float(q)


def lpad(s: str, n: int, pad: str) -> str | None:
    if n < 0:
        return None
    if len(s) >= n:
        return s[:n]
    if not pad:
        return None
    fill = (pad * n)[: n - len(s)]
    return fill + s


def rpad(s: str, n: int, pad: str) -> str | None:
    if n < 0:
        return None
    if len(s) >= n:
        return s[:n]
    if not pad:
        return None
    return s + (pad * n)[: n - len(s)]


_JAVA_FORMAT = re.compile(r"'[^']*'|y+|M+|d+|H+|h+|m+|s+|S+|a|E+|[^'yMdHhmsSaE]+")


def date_format(wall_ms: int, pattern: str) -> str:
    """``DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm:ss')`` with Java ``SimpleDateFormat`` letters
    (y, M, d, H, h, m, s, S, a, E and quoted literals) over a wall-clock epoch-ms value."""
    import datetime as dt

    t = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=wall_ms)
    out = []
    for tok in _JAVA_FORMAT.findall(pattern):
        c = tok[0]
        n = len(tok)
        if c == "'":
            out.append(tok[1:-1] if n > 2 else "'")
        elif c == "y":
            out.append(f"{t.year % 100:02d}" if n == 2 else f"{t.year:0{n}d}")
        elif c == "M":
            out.append(t.strftime("%B") if n >= 4 else t.strftime("%b") if n == 3 else f"{t.month:0{n}d}")
        elif c == "d":
            out.append(f"{t.day:0{n}d}")
        elif c == "H":
            out.append(f"{t.hour:0{n}d}")
        elif c == "h":
            out.append(f"{(t.hour % 12) or 12:0{n}d}")
        elif c == "m":
            out.append(f"{t.minute:0{n}d}")
        elif c == "s":
            out.append(f"{t.second:0{n}d}")
        elif c == "S":
            out.append(f"{t.microsecond // 1000:03d}"[:n] if n <= 3 else f"{t.microsecond // 1000:03d}" + "0" * (n - 3))
        elif c == "a":
            out.append("AM" if t.hour < 12 else "PM")
        elif c == "E":
            out.append(t.strftime("%A") if n >= 4 else t.strftime("%a"))
        else:
            out.append(tok)
    return "".join(out)


def regexp_replace(s: str, pattern: str, replacement: str) -> str | None:
    """``REGEXP_REPLACE``: every match of ``pattern`` replaced by ``replacement`` taken literally (Flink
    quotes it: ``$1`` is not a group reference); an invalid pattern gives ``NULL``."""
    try:
        return re.sub(pattern, lambda m: replacement, s)
    except re.error:
        return None


def regexp_extract(s: str, pattern: str, index: int = 0) -> str | None:
    """``REGEXP_EXTRACT``: group ``index`` (0 = the whole match) of the first match, ``NULL`` without one."""
    try:
        m = re.search(pattern, s)
        return None if m is None else m.group(index)
    except (re.error, IndexError):
        return None


def regexp(s: str, pattern: str) -> bool | None:
    """``REGEXP(s, pattern)``: whether any part of ``s`` matches."""
    try:
        return re.search(pattern, s) is not None
    except re.error:
        return None


def split_index(s: str, delimiter: str, index: int) -> str | None:
    """``SPLIT_INDEX``: the ``index``-th (0-based) piece of ``s`` split at ``delimiter``, ``NULL`` if none."""
    parts = s.split(delimiter) if delimiter else list(s)
    return parts[index] if 0 <= index < len(parts) else None


_UNIT_MS = {
    "MILLISECOND": 1,
    "SECOND": 1000,
    "MINUTE": 60_000,
    "HOUR": 3_600_000,
    "DAY": 86_400_000,
    "WEEK": 7 * 86_400_000,
}


def unit_ms(unit: str) -> int | None:
    """Milliseconds of a day-time interval unit (``SECOND``, ``MINUTE``, ...); ``None`` for month units."""
    return _UNIT_MS.get(unit.upper().rstrip("S") if unit.upper() != "MILLISECONDS" else "MILLISECOND")


def timestampdiff(unit: str, a_ms: int, b_ms: int) -> int:
    """``TIMESTAMPDIFF(unit, a, b)``: whole ``unit`` s from ``a`` to ``b`` (truncated toward zero)."""
    u = unit.upper()
    if u in ("MONTH", "YEAR", "QUARTER"):
        import datetime as dt

        da = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=a_ms)
        db = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=b_ms)
        months = (db.year - da.year) * 12 + db.month - da.month
        rest_a = (da.day, da.hour, da.minute, da.second, da.microsecond)
        rest_b = (db.day, db.hour, db.minute, db.second, db.microsecond)
        if months > 0 and rest_b < rest_a:
            months -= 1
        elif months < 0 and rest_b > rest_a:
            months += 1
        return idiv(months, {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[u])
    return idiv(b_ms - a_ms, _UNIT_MS[u])


__all__ = [
    "date_format",
    "ddiv",
    "fdiv",
    "fmod",
    "idiv",
    "imod",
    "like",
    "like_regex",
    "lpad",
    "regexp",
    "regexp_extract",
    "regexp_replace",
    "round_half_up",
    "rpad",
    "split_index",
    "substring",
    "timestampdiff",
    "unit_ms",
    "wrap",
]
