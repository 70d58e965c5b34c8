"""Compiles SQL expressions (sqlglot trees) into Python functions over rows.

A row is a tuple of internal values (see :mod:`millstream.sql.types`). :class:`ExpressionCompiler` turns
each expression into Python source plus its :class:`SqlType`, checking names and types as it goes (unknown
columns and functions, type mismatches are :class:`SqlValidationError` with the line and column), and
:meth:`ExpressionCompiler.function` builds one ``lambda r: ...`` for a list of them, the way Flink
generates Java code for a projection. ``NULL`` follows SQL: any ``NULL`` operand gives ``NULL``,
``AND``/``OR`` use three-valued logic, and a ``WHERE`` keeps a row only when its condition is ``TRUE``.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlglot import exp

from . import functions as fn
from . import values
from .errors import SqlValidationError
from .types import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INT,
    INTERVAL,
    NULL,
    STRING,
    SqlType,
    common_numeric,
    comparable,
    from_sqlglot,
    position,
)


@dataclass(frozen=True)
class Field:
    """A column of a relation: its name and type; ``table`` is the name or alias of the input it came from
    inside a join (``o.id`` resolves against it), ``None`` elsewhere."""

    name: str
    type: SqlType
    table: str | None = None


@dataclass(frozen=True)
class Code:
    src: str
    type: SqlType


_COLUMN_REF = re.compile(r"r\[(\d+)\]")


def row_function(parts: Sequence[str], ns: dict[str, Any]) -> Callable[[Any], tuple[Any, ...]]:
    """``lambda r: (p1, p2, ...)``; an ``operator.itemgetter`` (no Python frame per row) when every part
    only picks a column (``r[i]``) and there are at least two."""
    picks = [m.group(1) for p in parts if (m := _COLUMN_REF.fullmatch(p))]
    if len(parts) >= 2 and len(picks) == len(parts):
        return operator.itemgetter(*map(int, picks))
    return eval("lambda r: (" + "".join(p + ", " for p in parts) + ")", ns)


def value_function(src: str, ns: dict[str, Any]) -> Callable[[Any], Any]:
    """``lambda r: src``; an ``operator.itemgetter`` when it only picks a column."""
    m = _COLUMN_REF.fullmatch(src)
    if m:
        return operator.itemgetter(int(m.group(1)))
    return eval("lambda r: " + src, ns)


@dataclass(frozen=True)
class Projection:
    """Generated code of a row-to-row step: ``parts`` are Python expressions over the input row ``r``,
    ``ns`` the names they use. :meth:`function` compiles it; :meth:`after` fuses it behind another
    step's expression (one Python call per row for both)."""

    parts: tuple[str, ...]
    ns: dict[str, Any]

    def function(self) -> Callable[[Any], tuple[Any, ...]]:
        return row_function(self.parts, self.ns)

    def after(self, row_code: str, ns: dict[str, Any], arg: str = "o") -> Callable[[Any], tuple[Any, ...]]:
        """``lambda arg: project(<row_code>)`` as one function (``row_code`` builds the input row from
        ``arg``; its names ``ns`` must not clash with this projection's)."""
        src = f"def _f({arg}):\n    r = {row_code}\n    return (" + "".join(p + ", " for p in self.parts) + ")"
        scope = {**self.ns, **ns}
        exec(src, scope)
        return scope["_f"]


def fail(node: exp.Expr, message: str, hint: str | None = None) -> SqlValidationError:
    line, col = position(node)
    return SqlValidationError(message, hint=hint, line=line, column=col)


def interval_ms(node: exp.Expression) -> int:
    """Milliseconds of ``INTERVAL '5' SECOND`` (day-time units only; ``INTERVAL '1:30' MINUTE TO SECOND`` is not
    supported)."""
    if not isinstance(node, exp.Interval):
        raise fail(node, f"expected an interval such as INTERVAL '5' SECOND, got {node.sql()}")
    unit = node.text("unit") or "SECOND"
    per = fn.unit_ms(unit)
    if per is None:
        raise fail(node, f"interval unit {unit} is not supported here", hint="use SECOND, MINUTE, HOUR or DAY")
    raw = node.this.name if isinstance(node.this, exp.Literal) else node.this.sql()
    try:
        amount = Decimal(str(raw).strip())
    except Exception as exc:
        raise fail(node, f"interval value {raw!r} is not a number", hint="e.g. INTERVAL '5' SECOND") from exc
    return int(amount * per)


_COMPARE = {exp.EQ: "==", exp.NEQ: "!=", exp.LT: "<", exp.LTE: "<=", exp.GT: ">", exp.GTE: ">="}
_ARITH = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*"}


class ExpressionCompiler:
    """Compiles expressions over ``fields``. ``substitutions`` maps an expression's SQL text (e.g. an
    aggregate call or a grouping key) to a column index, used when compiling over an aggregate's output."""

    def __init__(
        self,
        fields: Sequence[Field],
        tz: dt.tzinfo = dt.UTC,
        substitutions: dict[str, int] | None = None,
        grouped: bool = False,
        functions: Mapping[str, tuple[Any, bool]] | None = None,
    ) -> None:
        self.fields = list(fields)
        self.tz = tz
        self.substitutions = substitutions or {}
        self.grouped = grouped
        self.functions = functions or {}  # user functions (sql.udf) by upper-case name: (function, system?)
        self.ns: dict[str, Any] = {"_fn": fn, "_values": values, "_tz": tz, "Decimal": Decimal}
        self._n = 0

    # -- plumbing ---------------------------------------------------------------------------------------
    def _tmp(self) -> str:
        self._n += 1
        return f"_t{self._n}"

    def const(self, value: Any) -> str:
        self._n += 1
        name = f"_k{self._n}"
        self.ns[name] = value
        return name

    def function(
        self, nodes: Sequence[exp.Expression], as_tuple: bool = True
    ) -> tuple[Callable[[Any], Any], list[SqlType]]:
        """``lambda r: (e1, e2, ...)`` (or ``lambda r: e1`` with ``as_tuple=False``) and the types."""
        codes = [self.compile(n) for n in nodes]
        if as_tuple:
            body = "(" + "".join(c.src + ", " for c in codes) + ")"
        else:
            body = codes[0].src
        return eval("lambda r: " + body, self.ns), [c.type for c in codes]

    def predicate(self, node: exp.Expression) -> Callable[[Any], bool]:
        """A row filter: true only when the condition is ``TRUE`` (not ``FALSE``, not ``NULL``)."""
        code = self.compile(node)
        if code.type.name not in ("BOOLEAN", "NULL"):
            raise fail(node, f"a condition must be BOOLEAN, got {code.type}", hint="compare the value, e.g. x > 0")
        body = f"({code.src}) is True" if code.type.nullable else code.src
        return eval("lambda r: " + body, self.ns)

    def _nullsafe(self, args: Sequence[Code], build: Callable[[list[str]], str]) -> str:
        """``build(names)`` guarded so that any ``NULL`` argument gives ``NULL``."""
        names: list[str] = []
        checks: list[str] = []
        for a in args:
            if a.type.nullable or a.type.name == "NULL":
                t = self._tmp()
                checks.append(f"({t} := {a.src}) is None")
                names.append(t)
            else:
                names.append(f"({a.src})")
        if not checks:
            return f"({build(names)})"
        return f"(None if {' or '.join(checks)} else {build(names)})"

    # -- the compiler -----------------------------------------------------------------------------------
    def compile(self, node: exp.Expression) -> Code:
        if self.substitutions:
            key = node.sql()
            if key in self.substitutions:
                i = self.substitutions[key]
                return Code(f"r[{i}]", self.fields[i].type.plain())
        method = getattr(self, "_c_" + type(node).__name__.lower(), None)
        if method is None:
            if isinstance(node, exp.AggFunc):
                if self.grouped:
                    raise fail(node, f"aggregate {node.sql()} is not allowed here")
                raise fail(
                    node,
                    f"aggregate {node.sql()} needs a GROUP BY over a window TVF",
                    hint="aggregate per window: FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) "
                    "GROUP BY window_start, window_end, ... (non-windowed GROUP BY is not supported yet)",
                )
            if isinstance(node, exp.Func):
                return self._call(node.sql_name().upper(), _func_args(node), node)
            raise fail(node, f"{node.sql()} is not supported in an expression")
        return method(node)

    def _c_paren(self, node: exp.Paren) -> Code:
        return self.compile(node.this)

    def _c_alias(self, node: exp.Alias) -> Code:
        return self.compile(node.this)

    def _c_column(self, node: exp.Column) -> Code:
        name = node.name
        fields = list(enumerate(self.fields))
        qualifier = node.table
        if qualifier and any(f.table is not None for f in self.fields):
            fields = [(i, f) for i, f in fields if f.table is not None and f.table.lower() == qualifier.lower()]
            if not fields:
                tables = sorted({f.table for f in self.fields if f.table is not None})
                raise fail(
                    node, f"unknown table '{qualifier}' in {node.sql()}", hint=f"tables are: {', '.join(tables)}"
                )
        matches = [i for i, f in fields if f.name == name]
        if not matches:
            matches = [i for i, f in fields if f.name.lower() == name.lower()]
        if not matches:
            known = ", ".join(f.name for _, f in fields) or "none"
            if self.grouped:
                raise fail(
                    node,
                    f"column '{name}' is neither grouped nor inside an aggregate function",
                    hint=f"add it to GROUP BY or aggregate it (grouped columns: {known})",
                )
            raise fail(node, f"unknown column '{name}'", hint=f"columns are: {known}")
        if len(matches) > 1:
            raise fail(
                node, f"column '{name}' is ambiguous", hint="qualify it with its table (t.col) or rename one with AS"
            )
        i = matches[0]
        return Code(f"r[{i}]", self.fields[i].type.plain())

    def _c_literal(self, node: exp.Literal) -> Code:
        if node.is_string:
            return Code(repr(node.this), STRING.with_nullable(False))
        text = node.this
        if any(c in text for c in ".eE"):
            if "e" in text.lower():
                return Code(repr(float(text)), DOUBLE.with_nullable(False))
            d = Decimal(text)
            scale = max(-d.as_tuple().exponent, 0)  # type: ignore[operator]
            return Code(self.const(d), SqlType("DECIMAL", False, max(len(d.as_tuple().digits), scale), scale))
        v = int(text)
        return Code(repr(v), (INT if -(2**31) <= v < 2**31 else BIGINT).with_nullable(False))

    def _c_boolean(self, node: exp.Boolean) -> Code:
        return Code("True" if node.this else "False", BOOLEAN.with_nullable(False))

    def _c_null(self, node: exp.Null) -> Code:
        return Code("None", NULL)

    def _c_interval(self, node: exp.Interval) -> Code:
        return Code(repr(interval_ms(node)), INTERVAL.with_nullable(False))

    def _c_neg(self, node: exp.Neg) -> Code:
        a = self.compile(node.this)
        if not a.type.is_numeric:
            raise fail(node, f"cannot negate {a.type}")
        w = self._wrapper(a.type)
        return Code(self._nullsafe([a], lambda n: f"{w}(-{n[0]})" if w else f"-{n[0]}"), a.type)

    def _wrapper(self, t: SqlType) -> str | None:
        from .types import INTEGER_BITS

        bits = INTEGER_BITS.get(t.name)
        return self.const(fn.wrap(bits)) if bits else None

    def _arith(self, node: exp.Binary, op: str) -> Code:
        a, b = self.compile(node.this), self.compile(node.expression)
        if op in "+-" and a.type.is_time and b.type.name == "INTERVAL":
            return Code(self._nullsafe([a, b], lambda n: f"{n[0]} {op} {n[1]}"), a.type.plain())
        if op == "-" and a.type.is_time and b.type.is_time:
            raise fail(node, "subtracting timestamps is not supported", hint="use TIMESTAMPDIFF(SECOND, a, b)")
        for side in (a, b):
            if not (side.type.is_numeric or side.type.name == "NULL"):
                raise fail(node, f"operator {op} needs numbers, got {a.type} {op} {b.type}", hint="CAST the operand")
        t = common_numeric(a.type, b.type) if a.type.name != "NULL" and b.type.name != "NULL" else NULL
        conv = _converter(t, [a.type, b.type])
        w = self._wrapper(t)
        if op == "/":
            if t.is_integer:
                return Code(self._nullsafe([a, b], lambda n: f"_fn.idiv({n[0]}, {n[1]})"), t)
            if t.name == "DECIMAL":
                t = SqlType("DECIMAL", t.nullable, 38, 6)
                return Code(self._nullsafe([a, b], lambda n: f"_fn.ddiv({n[0]}, {n[1]}, 6)"), t)
            return Code(self._nullsafe([a, b], lambda n: f"_fn.fdiv({conv(n[0])}, {conv(n[1])})"), t)
        if op == "%":
            if t.is_integer:
                return Code(self._nullsafe([a, b], lambda n: f"_fn.imod({n[0]}, {n[1]})"), t)
            return Code(self._nullsafe([a, b], lambda n: f"_fn.fmod({conv(n[0])}, {conv(n[1])})"), t)

        def build(n: list[str]) -> str:
            core = f"{conv(n[0])} {op} {conv(n[1])}"
            return f"{w}({core})" if w else core

        return Code(self._nullsafe([a, b], build), t)

    def _c_add(self, node: exp.Add) -> Code:
        return self._arith(node, "+")

    def _c_sub(self, node: exp.Sub) -> Code:
        return self._arith(node, "-")

    def _c_mul(self, node: exp.Mul) -> Code:
        return self._arith(node, "*")

    def _c_div(self, node: exp.Div) -> Code:
        return self._arith(node, "/")

    def _c_mod(self, node: exp.Mod) -> Code:
        return self._arith(node, "%")

    def _compare(self, node: exp.Binary) -> Code:
        a, b = self.compile(node.this), self.compile(node.expression)
        if not comparable(a.type, b.type):
            raise fail(
                node,
                f"cannot compare {a.type} with {b.type} in {node.sql()}",
                hint=f"CAST one side, e.g. CAST({node.this.sql()} AS {b.type.name})",
            )
        op = _COMPARE[type(node)]
        nullable = a.type.nullable or b.type.nullable
        return Code(self._nullsafe([a, b], lambda n: f"{n[0]} {op} {n[1]}"), BOOLEAN.with_nullable(nullable))

    _c_eq = _c_neq = _c_lt = _c_lte = _c_gt = _c_gte = _compare

    def _bool(self, node: exp.Expression) -> Code:
        c = self.compile(node)
        if c.type.name not in ("BOOLEAN", "NULL"):
            raise fail(node, f"expected a BOOLEAN condition, got {c.type}")
        return c

    def _c_and(self, node: exp.And) -> Code:
        a, b = self._bool(node.this), self._bool(node.expression)
        if not a.type.nullable and not b.type.nullable:
            return Code(f"({a.src} and {b.src})", BOOLEAN.with_nullable(False))
        x, y = self._tmp(), self._tmp()
        src = (
            f"(False if ({x} := {a.src}) is False or ({y} := {b.src}) is False "
            f"else (None if {x} is None or {y} is None else True))"
        )
        return Code(src, BOOLEAN)

    def _c_or(self, node: exp.Or) -> Code:
        a, b = self._bool(node.this), self._bool(node.expression)
        if not a.type.nullable and not b.type.nullable:
            return Code(f"({a.src} or {b.src})", BOOLEAN.with_nullable(False))
        x, y = self._tmp(), self._tmp()
        src = (
            f"(True if ({x} := {a.src}) is True or ({y} := {b.src}) is True "
            f"else (None if {x} is None or {y} is None else False))"
        )
        return Code(src, BOOLEAN)

    def _c_not(self, node: exp.Not) -> Code:
        a = self._bool(node.this)
        return Code(self._nullsafe([a], lambda n: f"not {n[0]}"), BOOLEAN.with_nullable(a.type.nullable))

    def _c_is(self, node: exp.Is) -> Code:
        a = self.compile(node.this)
        target = node.expression
        if isinstance(target, exp.Null):
            return Code(f"(({a.src}) is None)", BOOLEAN.with_nullable(False))
        if isinstance(target, exp.Boolean):
            return Code(f"(({a.src}) is {bool(target.this)})", BOOLEAN.with_nullable(False))
        raise fail(node, f"IS {target.sql()} is not supported", hint="use IS NULL, IS TRUE or IS FALSE")

    def _c_between(self, node: exp.Between) -> Code:
        x, lo, hi = self.compile(node.this), self.compile(node.args["low"]), self.compile(node.args["high"])
        for other in (lo, hi):
            if not comparable(x.type, other.type):
                raise fail(node, f"cannot compare {x.type} with {other.type} in BETWEEN")
        nullable = x.type.nullable or lo.type.nullable or hi.type.nullable
        return Code(
            self._nullsafe([x, lo, hi], lambda n: f"{n[1]} <= {n[0]} <= {n[2]}"), BOOLEAN.with_nullable(nullable)
        )

    def _c_in(self, node: exp.In) -> Code:
        if node.args.get("query"):
            raise fail(node, "IN (subquery) is not supported yet", hint="list the values: x IN (1, 2, 3)")
        x = self.compile(node.this)
        items = [self.compile(e) for e in node.expressions]
        for it in items:
            if not comparable(x.type, it.type):
                raise fail(node, f"cannot compare {x.type} with {it.type} in IN")
        listed = "(" + "".join(i.src + ", " for i in items) + ")"
        return Code(self._nullsafe([x], lambda n: f"{n[0]} in {listed}"), BOOLEAN.with_nullable(x.type.nullable))

    def _c_like(self, node: exp.Like) -> Code:
        x = self.compile(node.this)
        pattern = node.expression
        escape = None
        if isinstance(pattern, exp.Escape):
            escape = pattern.expression.name
            pattern = pattern.this
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise fail(node, "LIKE needs a string literal pattern", hint="e.g. name LIKE 'a%'")
        rx = self.const(fn.like_regex(pattern.this, escape))
        return Code(self._nullsafe([x], lambda n: f"_fn.like({n[0]}, {rx})"), BOOLEAN.with_nullable(x.type.nullable))

    def _c_escape(self, node: exp.Escape) -> Code:
        raise fail(node, "ESCAPE is only allowed in LIKE")

    def _c_case(self, node: exp.Case) -> Code:
        subject = self.compile(node.this) if node.this else None
        branches: list[tuple[str, Code]] = []
        for if_ in node.args.get("ifs") or []:
            cond_node, value_node = if_.this, if_.args["true"]
            if subject is not None:
                c = self.compile(cond_node)
                cond = f"({subject.src}) == ({c.src})"
            else:
                cond = f"({self._bool(cond_node).src}) is True"
            branches.append((cond, self.compile(value_node)))
        default = self.compile(node.args["default"]) if node.args.get("default") else Code("None", NULL)
        t = _common(node, [b[1].type for b in branches] + [default.type])
        src = default.src
        for cond, value in reversed(branches):
            src = f"({_coerce(value, t)} if {cond} else {src})"
        return Code(src, t)

    def _c_if(self, node: exp.If) -> Code:
        cond = self._bool(node.this)
        a = self.compile(node.args["true"])
        b = self.compile(node.args["false"]) if node.args.get("false") else Code("None", NULL)
        t = _common(node, [a.type, b.type])
        return Code(f"({_coerce(a, t)} if ({cond.src}) is True else {_coerce(b, t)})", t)

    def _c_coalesce(self, node: exp.Coalesce) -> Code:
        args = [self.compile(e) for e in [node.this, *node.expressions]]
        t = _common(node, [a.type for a in args])
        t = t.with_nullable(all(a.type.nullable for a in args))
        src = _coerce(args[-1], t)
        for a in reversed(args[:-1]):
            v = self._tmp()
            src = f"({v} if ({v} := {_coerce(a, t)}) is not None else {src})"
        return Code(src, t)

    def _c_nullif(self, node: exp.Nullif) -> Code:
        a, b = self.compile(node.this), self.compile(node.expression)
        v = self._tmp()
        return Code(f"(None if ({v} := {a.src}) == ({b.src}) else {v})", a.type.with_nullable(True))

    def _c_dpipe(self, node: exp.DPipe) -> Code:
        return self._call("CONCAT", [node.this, node.expression], node)

    def _c_cast(self, node: exp.Cast) -> Code:
        a = self.compile(node.this)
        target = from_sqlglot(node.to, nullable=True)
        return Code(self._cast(a, target, node), target.with_nullable(a.type.nullable or a.type.name == "STRING"))

    _c_trycast = _c_cast

    def _cast(self, a: Code, t: SqlType, node: exp.Expression) -> str:
        s = a.type
        if s.name == t.name and t.name != "DECIMAL":
            return a.src
        tz = self.const(self.tz)
        if t.name == "STRING":
            st = self.const(s)
            return self._nullsafe([a], lambda n: f"_values.to_text({n[0]}, {st}, {tz})")
        if t.is_integer:
            w = self._wrapper(t)
            if s.name == "STRING":
                return self._nullsafe([a], lambda n: f"{w}(int({n[0]}.strip()))")
            if s.is_numeric:
                return self._nullsafe([a], lambda n: f"{w}(int({n[0]}))")
            if s.name == "BOOLEAN":
                return self._nullsafe([a], lambda n: f"int({n[0]})")
        if t.name in ("DOUBLE", "FLOAT") and (s.is_numeric or s.name == "STRING"):
            return self._nullsafe([a], lambda n: f"float({n[0]})")
        if t.name == "DECIMAL" and (s.is_numeric or s.name == "STRING"):
            return self._nullsafe([a], lambda n: f"_values.to_decimal({n[0]}, {t.scale})")
        if t.name == "BOOLEAN":
            if s.name == "STRING":
                m = self.const({"true": True, "false": False, "t": True, "f": False, "1": True, "0": False})
                return self._nullsafe([a], lambda n: f"{m}.get({n[0]}.strip().lower())")
            if s.is_numeric:
                return self._nullsafe([a], lambda n: f"({n[0]} != 0)")
        if t.name == "DATE":
            if s.name == "STRING":
                return self._nullsafe([a], lambda n: f"_values.parse_date({n[0]})")
            if s.is_time:  # the date of the wall-clock time (TIMESTAMP_LTZ: in the session time zone)
                conv = self.const(_ltz_to_ts if s.name == "TIMESTAMP_LTZ" else _ts_to_ts)
                return self._nullsafe([a], lambda n: f"({conv}({n[0]}, {tz}) // 86400000)")
        if t.is_time and s.name == "DATE":  # midnight of the date
            conv = self.const(_ts_to_ltz if t.name == "TIMESTAMP_LTZ" else _ts_to_ts)
            return self._nullsafe([a], lambda n: f"{conv}({n[0]} * 86400000, {tz})")
        if t.is_time:
            if s.is_time:
                if s.name == t.name:
                    return a.src
                # TIMESTAMP <-> TIMESTAMP_LTZ through the session time zone
                conv = self.const(_ltz_to_ts if t.name == "TIMESTAMP" else _ts_to_ltz)
                return self._nullsafe([a], lambda n: f"{conv}({n[0]}, {tz})")
            if s.name == "STRING":
                conv = self.const(_parse_ts if t.name == "TIMESTAMP" else _parse_ltz)
                return self._nullsafe([a], lambda n: f"{conv}({n[0]}, {tz})")
        raise fail(node, f"cannot CAST {s} to {t}")

    # -- functions --------------------------------------------------------------------------------------
    def _c_anonymous(self, node: exp.Anonymous) -> Code:
        return self._call(node.name.upper(), list(node.expressions), node)

    def _c_timestampdiff(self, node: exp.TimestampDiff) -> Code:
        unit = node.text("unit").upper() or "SECOND"
        a, b = self.compile(node.this), self.compile(node.expression)
        # sqlglot reads TIMESTAMPDIFF(unit, a, b) with this=b, expression=a
        for side in (a, b):
            if not side.type.is_time:
                raise fail(node, f"TIMESTAMPDIFF needs timestamps, got {side.type}")
        u = self.const(unit)
        return Code(
            self._nullsafe([b, a], lambda n: f"_fn.timestampdiff({u}, {n[0]}, {n[1]})"),
            INT.with_nullable(a.type.nullable or b.type.nullable),
        )

    def _c_pad(self, node: exp.Pad) -> Code:
        name = "LPAD" if node.args.get("is_left") else "RPAD"
        return self._call(name, [node.this, node.expression, node.args["fill_pattern"]], node)

    def _c_initcap(self, node: exp.Initcap) -> Code:
        return self._call("INITCAP", [node.this], node)

    def _c_strposition(self, node: exp.StrPosition) -> Code:
        return self._call("POSITION", [node.args["substr"], node.this], node)

    def _c_currentdate(self, node: exp.CurrentDate) -> Code:
        """``CURRENT_DATE``: today in the session time zone (evaluated per row, as Flink does on streams)."""
        today = self.const(_current_date)
        return Code(f"{today}({self.const(self.tz)})", SqlType("DATE", False))

    def _c_extract(self, node: exp.Extract) -> Code:
        """``EXTRACT(unit FROM date or timestamp)``: a ``BIGINT``; ``TIMESTAMP_LTZ`` in the session time zone."""
        unit = node.this.name.upper()
        a = self.compile(node.expression)
        units = _EXTRACT_DATE if a.type.name == "DATE" else _EXTRACT_TIME
        if a.type.name != "DATE" and not a.type.is_time:
            raise fail(node, f"EXTRACT needs a DATE or a timestamp, got {a.type}")
        if unit not in units:
            raise fail(node, f"EXTRACT({unit} FROM {a.type.plain()}) is not supported", hint=", ".join(units))
        ex = self.const(_extract)
        args = f"{self.const(unit)}, {self.const(a.type.name)}, {self.const(self.tz)}"
        return Code(self._nullsafe([a], lambda n: f"{ex}({n[0]}, {args})"), SqlType("BIGINT", a.type.nullable))

    def _c_timestampadd(self, node: exp.Expression) -> Code:
        raise fail(node, "TIMESTAMPADD is not supported yet", hint="add an interval: ts + INTERVAL '1' HOUR")

    def _call(self, name: str, arg_nodes: list[exp.Expression], node: exp.Expression) -> Code:
        from .scalar_functions import SCALARS

        user = self.functions.get(name)
        if user is not None and (user[1] or name not in SCALARS):  # a system function shadows a built-in
            if not hasattr(user[0], "result_type"):  # a table function (sql.udtf)
                raise fail(
                    node,
                    f"{name} is a table function: it cannot be called as a scalar function",
                    hint=f"call it in FROM: FROM t, LATERAL TABLE({name}(...)) AS T(a, b)",
                )
            return self._user_call(name, user[0], arg_nodes, node)
        spec = SCALARS.get(name)
        if spec is None:
            users = ", ".join(sorted(self.functions))
            raise fail(
                node,
                f"unknown function {name}",
                hint="supported: "
                + ", ".join(sorted(SCALARS))
                + "; aggregates COUNT, SUM, AVG, MIN, MAX"
                + (f"; your functions: {users}" if users else "; register Python ones with create_temporary_function"),
            )
        lo, hi, build = spec
        if not lo <= len(arg_nodes) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise fail(node, f"{name} takes {want} arguments, got {len(arg_nodes)}")
        args = [self.compile(a) for a in arg_nodes]
        return build(self, args, arg_nodes, node)

    def _user_call(self, name: str, fn: Any, arg_nodes: list[exp.Expression], node: exp.Expression) -> Code:
        """A Python scalar function (:mod:`millstream.sql.udf`): called with the arguments' values (``None`` for
        ``NULL``), its result checked against its declared type."""
        from .udf import Invoker

        args = [self.compile(a) for a in arg_nodes]
        for a, n in zip(args, arg_nodes, strict=True):
            if a.type.is_time:
                raise fail(
                    n,
                    f"{name}: a timestamp argument to a Python function is not supported yet",
                    hint="pass epoch milliseconds (UNIX_TIMESTAMP(CAST(ts AS STRING)) * 1000) or a formatted string",
                )
        inv = self.const(Invoker(fn, name))
        return Code(f"{inv}({', '.join(a.src for a in args)})", fn.result_type.with_nullable(True))


def _func_args(node: exp.Expression) -> list[exp.Expression]:
    out: list[exp.Expression] = []
    for key in node.arg_types:
        v = node.args.get(key)
        if isinstance(v, list):
            out.extend(x for x in v if isinstance(x, exp.Expression))
        elif isinstance(v, exp.Expression):
            out.append(v)
    return out


def _common(node: exp.Expression, types: list[SqlType]) -> SqlType:
    known = [t for t in types if t.name != "NULL"]
    if not known:
        return NULL
    t = known[0].plain()
    for other in known[1:]:
        if not comparable(t, other):
            raise fail(node, f"branches have incompatible types {t} and {other}", hint="CAST them to one type")
        if t.is_numeric and other.is_numeric:
            t = common_numeric(t, other)
    return t.with_nullable(any(x.nullable for x in types))


def _coerce(c: Code, t: SqlType) -> str:
    if (t.name == "DOUBLE" and c.type.name in ("DECIMAL",)) or (t.name == "DOUBLE" and c.type.is_integer):
        return f"(None if ({c.src}) is None else float({c.src}))"
    if t.name == "DECIMAL" and c.type.is_integer:
        return f"(None if ({c.src}) is None else Decimal({c.src}))"
    return c.src


def _converter(t: SqlType, sources: list[SqlType]) -> Callable[[str], str]:
    if t.name == "DOUBLE" and any(s.name == "DECIMAL" for s in sources):
        return lambda s: f"float({s})"
    return lambda s: s


def _ltz_to_ts(ms: int, tz: dt.tzinfo) -> int:
    return values.wallclock_to_ms(values.ltz_to_wallclock(ms, tz))


def _ts_to_ts(ms: int, tz: dt.tzinfo) -> int:
    return ms


def _ts_to_ltz(ms: int, tz: dt.tzinfo) -> int:
    return int(values.ms_to_wallclock(ms).replace(tzinfo=tz).timestamp() * 1000)


_EXTRACT_DATE = ("YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "DOY", "DOW")
_EXTRACT_TIME = (*_EXTRACT_DATE, "HOUR", "MINUTE", "SECOND")


def _current_date(tz: dt.tzinfo) -> int:
    import time

    return _ltz_to_ts(time.time_ns() // 1_000_000, tz) // 86_400_000


def _extract(value: int, unit: str, kind: str, tz: dt.tzinfo) -> int:
    """A field of a ``DATE`` (days) or timestamp (ms) value, as Flink's ``EXTRACT``: ``DOW`` 1 = Sunday,
    ``WEEK`` the ISO week."""
    if kind == "DATE":
        wall = dt.datetime(1970, 1, 1) + dt.timedelta(days=value)
    elif kind == "TIMESTAMP_LTZ":
        wall = values.ltz_to_wallclock(value, tz)
    else:
        wall = values.ms_to_wallclock(value)
    fields = {
        "YEAR": wall.year,
        "QUARTER": (wall.month - 1) // 3 + 1,
        "MONTH": wall.month,
        "WEEK": wall.isocalendar()[1],
        "DAY": wall.day,
        "DOY": wall.timetuple().tm_yday,
        "DOW": wall.isoweekday() % 7 + 1,
        "HOUR": wall.hour,
        "MINUTE": wall.minute,
        "SECOND": wall.second,
    }
    return fields[unit]


def _parse_ts(text: str, tz: dt.tzinfo) -> int:
    return values.parse_timestamp(text)[0]


def _parse_ltz(text: str, tz: dt.tzinfo) -> int:
    ms, utc = values.parse_timestamp(text)
    return ms if utc else _ts_to_ltz(ms, tz)


__all__ = [
    "Code",
    "ExpressionCompiler",
    "Field",
    "Projection",
    "fail",
    "interval_ms",
    "row_function",
    "value_function",
]
