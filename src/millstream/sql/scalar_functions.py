"""Flink's scalar function library for SQL expressions: each function's argument count and how it compiles
(a builder from the compiled arguments to Python source and the result type). Runtime helpers live in
:mod:`millstream.sql.functions`; the compiler is :mod:`millstream.sql.expressions`.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from .expressions import Code, ExpressionCompiler, _parse_ltz, fail
from .types import BIGINT, BOOLEAN, DOUBLE, INT, STRING, SqlType

Builder = Callable[[ExpressionCompiler, list[Code], list[exp.Expression], exp.Expression], Code]


def _simple(template: str, result: SqlType | None, kinds: str = "") -> Builder:
    """A function ``template.format(*args)`` with ``NULL`` in → ``NULL`` out; ``kinds`` checks arguments
    (``s`` string, ``n`` number, ``i`` integer, ``t`` timestamp, ``*`` anything); ``result`` ``None`` =
    the first argument's type."""

    def build(c: ExpressionCompiler, args: list[Code], nodes: list[exp.Expression], node: exp.Expression) -> Code:
        fname = node.sql_name() if isinstance(node, exp.Func) and not isinstance(node, exp.Anonymous) else node.name
        for i, a in enumerate(args):
            k = kinds[i] if i < len(kinds) else (kinds[-1] if kinds else "*")
            ok = (
                k == "*"
                or a.type.name == "NULL"
                or (k == "s" and a.type.name == "STRING")
                or (k == "n" and a.type.is_numeric)
                or (k == "i" and a.type.is_integer)
                or (k == "t" and a.type.is_time)
            )
            if not ok:
                want = {"s": "a STRING", "n": "a number", "i": "an integer", "t": "a timestamp"}[k]
                raise fail(
                    nodes[i],
                    f"argument {i + 1} of {fname} must be {want}, got {a.type}",
                )
        t = (result or args[0].type).with_nullable(any(a.type.nullable or a.type.name == "NULL" for a in args))
        return Code(c._nullsafe(args, lambda n: template.format(*n)), t)

    return build


def _concat(c: ExpressionCompiler, args: list[Code], nodes: list[exp.Expression], node: exp.Expression) -> Code:
    tz = c.const(c.tz)
    parts = []
    for a in args:
        if a.type.name == "STRING":
            parts.append(a)
        else:
            st = c.const(a.type)
            parts.append(Code(f"(None if ({a.src}) is None else _values.to_text({a.src}, {st}, {tz}))", a.type))
    return Code(c._nullsafe(parts, lambda n: " + ".join(n)), STRING.with_nullable(any(a.type.nullable for a in args)))


def _concat_ws(c: ExpressionCompiler, args: list[Code], nodes: list[exp.Expression], node: exp.Expression) -> Code:
    sep, rest = args[0], args[1:]
    items = "[" + ", ".join(r.src for r in rest) + "]"
    return Code(
        c._nullsafe([sep], lambda n: f"{n[0]}.join(x for x in {items} if x is not None)"),
        STRING.with_nullable(sep.type.nullable),
    )


def _to_timestamp_ltz(
    c: ExpressionCompiler, args: list[Code], nodes: list[exp.Expression], node: exp.Expression
) -> Code:
    precision = 3
    if len(nodes) > 1:
        p = nodes[1]
        if not (isinstance(p, exp.Literal) and not p.is_string and p.this in ("0", "3")):
            raise fail(p, "TO_TIMESTAMP_LTZ precision must be 0 (seconds) or 3 (milliseconds)")
        precision = int(p.this)
    a = args[0]
    if not a.type.is_numeric:
        raise fail(nodes[0], f"TO_TIMESTAMP_LTZ needs epoch seconds or milliseconds, got {a.type}")
    mult = 1000 if precision == 0 else 1
    t = SqlType("TIMESTAMP_LTZ", a.type.nullable, 3)
    if mult == 1 and a.type.is_integer:
        return Code(a.src, t)  # epoch milliseconds are the internal value already
    return Code(c._nullsafe([a], lambda n: f"int({n[0]} * {mult})"), t)


def _to_timestamp(c: ExpressionCompiler, args: list[Code], nodes: list[exp.Expression], node: exp.Expression) -> Code:
    if args[0].type.name != "STRING":
        raise fail(nodes[0], f"TO_TIMESTAMP needs a STRING, got {args[0].type}")
    if len(args) > 1:
        raise fail(
            nodes[1], "TO_TIMESTAMP with a format is not supported yet", hint="use the 'yyyy-MM-dd HH:mm:ss' form"
        )
    return Code(c._nullsafe(args, lambda n: f"_values.parse_timestamp({n[0]})[0]"), SqlType("TIMESTAMP", True, 3))


def _date_format(c: ExpressionCompiler, args: list[Code], nodes: list[exp.Expression], node: exp.Expression) -> Code:
    ts, pattern = args
    if pattern.type.name != "STRING":
        raise fail(nodes[1], "DATE_FORMAT needs a format string such as 'yyyy-MM-dd HH:mm:ss'")
    if ts.type.name == "TIMESTAMP_LTZ":
        tz = c.const(c.tz)
        ts = Code(
            f"(None if ({ts.src}) is None else _values.wallclock_to_ms(_values.ltz_to_wallclock({ts.src}, {tz})))",
            ts.type,
        )
    elif ts.type.name == "STRING":
        ts = Code(f"(None if ({ts.src}) is None else _values.parse_timestamp({ts.src})[0])", ts.type)
    elif not ts.type.is_time:
        raise fail(nodes[0], f"DATE_FORMAT needs a timestamp, got {ts.type}")
    return Code(c._nullsafe([ts, pattern], lambda n: f"_fn.date_format({n[0]}, {n[1]})"), STRING.with_nullable(True))


def _round(c: ExpressionCompiler, args: list[Code], nodes: list[exp.Expression], node: exp.Expression) -> Code:
    if not args[0].type.is_numeric:
        raise fail(nodes[0], f"ROUND needs a number, got {args[0].type}")
    t = args[0].type
    if t.name == "DECIMAL" and len(nodes) == 1:
        t = SqlType("DECIMAL", t.nullable, t.precision, 0)
    elif t.name == "DECIMAL" and isinstance(nodes[1], exp.Literal):
        t = SqlType("DECIMAL", t.nullable, t.precision, max(int(nodes[1].this), 0))
    if len(args) == 1:
        return Code(c._nullsafe(args, lambda n: f"_fn.round_half_up({n[0]}, 0)"), t)
    return Code(c._nullsafe(args, lambda n: f"_fn.round_half_up({n[0]}, {n[1]})"), t)


def _floor_ceil(name: str) -> Builder:
    def build(c: ExpressionCompiler, args: list[Code], nodes: list[exp.Expression], node: exp.Expression) -> Code:
        a = args[0]
        if not a.type.is_numeric:
            raise fail(nodes[0], f"{name} needs a number, got {a.type}", hint="FLOOR(ts TO unit) is not supported yet")
        if a.type.is_integer:
            return a
        f = "math.floor" if name == "FLOOR" else "math.ceil"
        c.ns["math"] = __import__("math")
        conv = "float" if a.type.name != "DECIMAL" else "Decimal"
        return Code(c._nullsafe(args, lambda n: f"{conv}({f}({n[0]}))"), a.type)

    return build


def _trim(c: ExpressionCompiler, args: list[Code], nodes: list[exp.Expression], node: exp.Expression) -> Code:
    where = (node.text("position") or "BOTH").upper() if isinstance(node, exp.Trim) else "BOTH"
    method = {"BOTH": "strip", "LEADING": "lstrip", "TRAILING": "rstrip"}[where]
    if args[0].type.name != "STRING":
        raise fail(nodes[0], f"TRIM needs a STRING, got {args[0].type}")
    if len(args) > 1:
        return Code(c._nullsafe(args, lambda n: f"{n[0]}.{method}({n[1]})"), STRING.with_nullable(True))
    return Code(c._nullsafe(args, lambda n: f"{n[0]}.{method}(' ')"), args[0].type)


def _from_unixtime(c: ExpressionCompiler, args: list[Code], nodes: list[exp.Expression], node: exp.Expression) -> Code:
    """``FROM_UNIXTIME(seconds[, format])``: the time in the session time zone as text."""
    if not args[0].type.is_numeric:
        raise fail(nodes[0], f"FROM_UNIXTIME needs epoch seconds, got {args[0].type}")
    tz = c.const(c.tz)
    fmt = args[1] if len(args) > 1 else Code(repr("yyyy-MM-dd HH:mm:ss"), STRING.with_nullable(False))
    wall = "_values.wallclock_to_ms(_values.ltz_to_wallclock(int({0}) * 1000, " + tz + "))"
    return Code(
        c._nullsafe([args[0], fmt], lambda n: f"_fn.date_format({wall.format(n[0])}, {n[1]})"),
        STRING.with_nullable(True),
    )


def _unix_timestamp(c: ExpressionCompiler, args: list[Code], nodes: list[exp.Expression], node: exp.Expression) -> Code:
    """``UNIX_TIMESTAMP(text)``: epoch seconds of ``yyyy-MM-dd HH:mm:ss`` read in the session time zone."""
    if args[0].type.name != "STRING":
        raise fail(nodes[0], f"UNIX_TIMESTAMP needs a STRING, got {args[0].type}")
    if len(args) > 1:
        raise fail(nodes[1], "UNIX_TIMESTAMP with a format is not supported yet", hint="use 'yyyy-MM-dd HH:mm:ss' text")
    conv = c.const(_parse_ltz)
    tz = c.const(c.tz)
    return Code(c._nullsafe(args, lambda n: f"_fn.idiv({conv}({n[0]}, {tz}), 1000)"), BIGINT.with_nullable(True))


SCALARS: dict[str, tuple[int, int, Builder]] = {
    "UPPER": (1, 1, _simple("{0}.upper()", STRING, "s")),
    "LOWER": (1, 1, _simple("{0}.lower()", STRING, "s")),
    "LENGTH": (1, 1, _simple("len({0})", INT, "s")),
    "CHAR_LENGTH": (1, 1, _simple("len({0})", INT, "s")),
    "CHARACTER_LENGTH": (1, 1, _simple("len({0})", INT, "s")),
    "CONCAT": (1, 99, _concat),
    "CONCAT_WS": (2, 99, _concat_ws),
    "SUBSTRING": (2, 3, _simple("_fn.substring({0}, {1}, {2})", STRING, "sii")),
    "SUBSTR": (2, 3, _simple("_fn.substring({0}, {1}, {2})", STRING, "sii")),
    "TRIM": (1, 2, _trim),
    "LTRIM": (1, 1, _simple("{0}.lstrip(' ')", STRING, "s")),
    "RTRIM": (1, 1, _simple("{0}.rstrip(' ')", STRING, "s")),
    "REPLACE": (3, 3, _simple("{0}.replace({1}, {2})", STRING, "sss")),
    "POSITION": (2, 2, _simple("({1}.find({0}) + 1)", INT, "ss")),
    "STRPOS": (2, 2, _simple("({0}.find({1}) + 1)", INT, "ss")),
    "LPAD": (3, 3, _simple("_fn.lpad({0}, {1}, {2})", STRING, "sis")),
    "RPAD": (3, 3, _simple("_fn.rpad({0}, {1}, {2})", STRING, "sis")),
    "INITCAP": (1, 1, _simple("{0}.title()", STRING, "s")),
    "REVERSE": (1, 1, _simple("{0}[::-1]", STRING, "s")),
    "ABS": (1, 1, _simple("abs({0})", None, "n")),
    "POWER": (2, 2, _simple("float({0}) ** float({1})", DOUBLE, "n")),
    "POW": (2, 2, _simple("float({0}) ** float({1})", DOUBLE, "n")),
    "SQRT": (1, 1, _simple("float({0}) ** 0.5", DOUBLE, "n")),
    "MOD": (2, 2, lambda c, a, n, node: c._arith(exp.Mod(this=n[0], expression=n[1]), "%")),
    "ROUND": (1, 2, _round),
    "FLOOR": (1, 1, _floor_ceil("FLOOR")),
    "CEIL": (1, 1, _floor_ceil("CEIL")),
    "CEILING": (1, 1, _floor_ceil("CEIL")),
    "TO_TIMESTAMP_LTZ": (1, 2, _to_timestamp_ltz),
    "TO_TIMESTAMP": (1, 2, _to_timestamp),
    "DATE_FORMAT": (2, 2, _date_format),
    "TIME_TO_STR": (2, 2, _date_format),
    "REGEXP_REPLACE": (3, 3, _simple("_fn.regexp_replace({0}, {1}, {2})", STRING, "sss")),
    "REGEXP_EXTRACT": (
        2,
        3,
        lambda c, a, n, node: _simple(
            "_fn.regexp_extract({0}, {1}, {2})" if len(a) == 3 else "_fn.regexp_extract({0}, {1})", STRING, "ssi"
        )(c, a, n, node),
    ),
    "REGEXP": (2, 2, _simple("_fn.regexp({0}, {1})", BOOLEAN, "ss")),
    "REGEXP_LIKE": (2, 2, _simple("_fn.regexp({0}, {1})", BOOLEAN, "ss")),
    "SPLIT_INDEX": (3, 3, _simple("_fn.split_index({0}, {1}, {2})", STRING, "ssi")),
    "FROM_UNIXTIME": (1, 2, lambda c, a, n, node: _from_unixtime(c, a, n, node)),
    "UNIX_TIMESTAMP": (1, 2, lambda c, a, n, node: _unix_timestamp(c, a, n, node)),
    "PROCTIME": (0, 0, lambda c, a, n, node: _proctime(c)),
}
# SUBSTRING with two arguments: template {2} must be omitted
SCALARS["SUBSTRING"] = (
    2,
    3,
    lambda c, a, n, node: _simple(
        "_fn.substring({0}, {1}, {2})" if len(a) == 3 else "_fn.substring({0}, {1})", STRING, "sii"
    )(c, a, n, node),
)
SCALARS["SUBSTR"] = SCALARS["SUBSTRING"]


def _proctime(c: ExpressionCompiler) -> Code:
    """``PROCTIME()``: the wall clock when the row is computed, a processing-time attribute
    (``TIMESTAMP_LTZ(3) NOT NULL *PROCTIME*``), as Flink's."""
    from .functions import now_ms

    return Code(f"{c.const(now_ms)}()", SqlType("TIMESTAMP_LTZ", False, 3, proctime=True))


SCALAR_FUNCTIONS = tuple(sorted(SCALARS))
"""Names of the scalar functions SQL queries can call."""


__all__ = ["SCALARS", "SCALAR_FUNCTIONS", "Builder"]
