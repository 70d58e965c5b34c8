"""SQL aggregate functions of a window aggregation, compiled into one DataStream ``AggregateFunction``.

``COUNT(*)``, ``COUNT(x)`` (non-``NULL`` values), ``COUNT(DISTINCT x)``, ``SUM``, ``AVG``, ``MIN``, ``MAX``
with Flink's result types: ``COUNT`` is ``BIGINT NOT NULL``; ``SUM`` of an integer type keeps that type
(``BIGINT`` for ``BIGINT``, ``INT`` for ``INT``...), ``AVG`` of an integer type is that type truncated
toward zero; ``SUM``/``AVG``/``MIN``/``MAX`` over no non-``NULL`` values are ``NULL``. The accumulator is
one list for all calls; the ``add`` step is generated Python, as projections are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlglot import exp

from ..stream.functions import AggregateFunction
from . import functions as fn
from .expressions import ExpressionCompiler, fail
from .types import BIGINT, DOUBLE, SqlType

AGGREGATES = ("COUNT", "SUM", "AVG", "MIN", "MAX")


@dataclass(frozen=True)
class AggCall:
    """One aggregate call: ``kind`` (COUNT, SUM, ...), ``distinct``, the argument's code (``None`` for
    ``COUNT(*)``), the result type, and whether the argument can be ``NULL``."""

    kind: str
    distinct: bool
    arg: str | None
    result: SqlType
    arg_nullable: bool = True


def agg_call(node: exp.AggFunc, compiler: ExpressionCompiler) -> AggCall:
    kind = node.sql_name().upper()
    if kind not in AGGREGATES:
        raise fail(node, f"aggregate {kind} is not supported", hint=f"use one of: {', '.join(AGGREGATES)}")
    arg = node.this
    distinct = False
    if isinstance(arg, exp.Distinct):
        distinct = True
        if len(arg.expressions) != 1:
            raise fail(node, f"{kind}(DISTINCT ...) takes one argument")
        arg = arg.expressions[0]
    if isinstance(arg, exp.Star) or arg is None:
        if kind != "COUNT":
            raise fail(node, f"{kind}(*) is not valid", hint=f"{kind} needs a column, e.g. {kind}(amount)")
        return AggCall("COUNT", False, None, BIGINT.with_nullable(False))
    code = compiler.compile(arg)
    t = code.type
    if kind == "COUNT":
        result = BIGINT.with_nullable(False)
    elif kind in ("SUM", "AVG"):
        if not t.is_numeric:
            raise fail(node, f"{kind} needs a number, got {t}", hint=f"CAST the argument, e.g. {kind}(CAST(x AS INT))")
        result = t.with_nullable(True)
        if kind == "SUM" and t.name == "DECIMAL":
            result = SqlType("DECIMAL", True, 38, t.scale)
        if kind == "AVG" and t.name == "DECIMAL":
            result = SqlType("DECIMAL", True, 38, max(t.scale or 0, 6))
        if t.name == "FLOAT":
            result = DOUBLE if kind == "AVG" else t.with_nullable(True)
    else:
        result = t.with_nullable(True)
    return AggCall(kind, distinct, code.src, result, t.nullable)


def builtin_aggregate(calls: Sequence[AggCall]) -> AggregateFunction | None:
    """The DataStream built-ins (``Aggregates(Count(), Sum(i), ...)``, which the window operators run
    inline) for calls where they give SQL's results: ``COUNT(*)``, and ``COUNT``/``SUM``/``MIN``/``MAX``
    of a ``NOT NULL`` integer or floating-point column (no ``NULL`` to skip). ``None`` when any call needs
    SQL's ``NULL`` handling, ``DISTINCT``, ``AVG`` or ``DECIMAL``."""
    import re

    from ..stream.aggregates import Aggregates, Count, Max, Min, Sum

    if not calls:
        return None  # SELECT DISTINCT: keys only
    members: dict[str, AggregateFunction] = {}
    for i, c in enumerate(calls):
        if c.distinct:
            return None
        if c.arg is None or (c.kind == "COUNT" and not c.arg_nullable):
            members[f"a{i}"] = Count()
            continue
        m = re.fullmatch(r"r\[(\d+)\]", c.arg)
        if m is None or c.arg_nullable or c.kind == "AVG":
            return None
        if not (c.result.is_integer or c.result.name in ("FLOAT", "DOUBLE")):
            return None
        cls = {"SUM": Sum, "MIN": Min, "MAX": Max}[c.kind]
        members[f"a{i}"] = cls(int(m.group(1)))
    return Aggregates(**members)


def builtin_result(calls: Sequence[AggCall]) -> Any:
    """Turns the built-ins' ``{"a0": .., ...}`` result into the tuple of SQL results (integer ``SUM``
    wrapped on overflow as Java's does)."""
    wraps = [
        fn.wrap({"TINYINT": 8, "SMALLINT": 16, "INT": 32, "BIGINT": 64}[c.result.name])
        if c.kind == "SUM" and c.result.is_integer
        else None
        for c in calls
    ]
    names = [f"a{i}" for i in range(len(calls))]

    def result(d: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(d[n] if w is None else w(d[n]) for n, w in zip(names, wraps, strict=True))

    return result


class SqlAggregateFunction(AggregateFunction):
    """All aggregate calls of one window aggregation (an ``AggregateFunction`` with a list accumulator)."""

    def __init__(self, calls: Sequence[AggCall], namespace: dict[str, Any]) -> None:
        self.calls = list(calls)
        self._initial: list[Any] = []
        lines = ["def add(r, a):"]
        slot = 0
        self._slots: list[int] = []
        for c in self.calls:
            self._slots.append(slot)
            value = "1" if c.arg is None else c.arg
            if c.distinct:
                self._initial.append(None)  # a set, created per accumulator
                lines.append(f"    v = {value}")
                lines.append(f"    if v is not None: a[{slot}].add(v)")
                slot += 1
                continue
            if c.kind == "COUNT":
                self._initial.append(0)
                lines.append(
                    f"    a[{slot}] += 1" if c.arg is None else f"    if ({value}) is not None: a[{slot}] += 1"
                )
                slot += 1
            elif c.kind == "SUM":
                self._initial.append(None)
                lines.append(f"    v = {value}")
                lines.append(f"    if v is not None: a[{slot}] = v if a[{slot}] is None else a[{slot}] + v")
                slot += 1
            elif c.kind == "AVG":
                self._initial.extend([0, 0])
                lines.append(f"    v = {value}")
                lines.append(f"    if v is not None:\n        a[{slot}] += v\n        a[{slot + 1}] += 1")
                slot += 2
            else:
                pick = "<" if c.kind == "MIN" else ">"
                self._initial.append(None)
                lines.append(f"    v = {value}")
                lines.append(f"    if v is not None and (a[{slot}] is None or v {pick} a[{slot}]): a[{slot}] = v")
                slot += 1
        lines.append("    return a")
        ns = dict(namespace)
        exec("\n".join(lines), ns)
        self.add = ns["add"]  # type: ignore[method-assign]
        self._distinct = [i for i, c in zip(self._slots, self.calls, strict=True) if c.distinct]

    def create_accumulator(self) -> list[Any]:
        acc = list(self._initial)
        for i in self._distinct:
            acc[i] = set()
        return acc

    def get_result(self, acc: list[Any]) -> tuple[Any, ...]:
        out = []
        for c, i in zip(self.calls, self._slots, strict=True):
            if c.distinct:
                values = acc[i]
                out.append(_distinct_result(c, values))
            elif c.kind == "AVG":
                out.append(_avg(acc[i], acc[i + 1], c.result))
            elif c.kind == "SUM" and c.result.is_integer and acc[i] is not None:
                out.append(fn.wrap({"TINYINT": 8, "SMALLINT": 16, "INT": 32, "BIGINT": 64}[c.result.name])(acc[i]))
            else:
                out.append(acc[i])
        return tuple(out)

    def merge(self, a: list[Any], b: list[Any]) -> list[Any]:
        out = list(a)
        for c, i in zip(self.calls, self._slots, strict=True):
            if c.distinct:
                out[i] = a[i] | b[i]
            elif c.kind == "COUNT":
                out[i] = a[i] + b[i]
            elif c.kind == "AVG":
                out[i], out[i + 1] = a[i] + b[i], a[i + 1] + b[i + 1]
            elif c.kind == "SUM":
                out[i] = b[i] if a[i] is None else a[i] if b[i] is None else a[i] + b[i]
            else:
                vals = [v for v in (a[i], b[i]) if v is not None]
                out[i] = (min if c.kind == "MIN" else max)(vals) if vals else None
        return out


class RetractingAggregate:
    """All aggregate calls of a ``GROUP BY`` over a changelog, as Flink's aggregates *with retraction*: ``add``
    takes an ``+I``/``+U`` row, ``retract`` a ``-U``/``-D`` row, and :meth:`record_count` says how many rows the
    group holds (Flink's hidden ``COUNT(*)``: at 0 the group is gone). ``COUNT`` counts down; ``SUM`` and
    ``AVG`` keep a sum and a count of non-``NULL`` values (``NULL`` once the count is 0); ``MIN``/``MAX`` keep the
    multiset of values (value -> count) and the current extreme, found again among the values left when it is
    retracted; ``DISTINCT`` calls keep the multiset and aggregate its values. The accumulator is one list."""

    def __init__(self, calls: Sequence[AggCall], namespace: dict[str, Any]) -> None:
        self.calls = list(calls)
        self._slots: list[int] = []
        self._multisets: list[int] = []
        adds, retracts = ["def add(r, a):", "    a[0] += 1"], ["def retract(r, a):", "    a[0] -= 1"]
        slot = 1
        for c in self.calls:
            self._slots.append(slot)
            value = "1" if c.arg is None else c.arg
            adds.append(f"    v = {value}")
            retracts.append(f"    v = {value}")
            if c.distinct or c.kind in ("MIN", "MAX"):
                self._multisets.append(slot)
                adds.append(f"    if v is not None:\n        d = a[{slot}]\n        d[v] = d.get(v, 0) + 1")
                retracts.append(
                    f"    if v is not None:\n        d = a[{slot}]\n        n = d.get(v, 0) - 1\n"
                    "        if n == 0:\n            del d[v]\n        else:\n            d[v] = n"
                )
                if not c.distinct:  # the current extreme, in the next slot
                    pick, best = ("<", "min") if c.kind == "MIN" else (">", "max")
                    adds.append(f"        if a[{slot + 1}] is None or v {pick} a[{slot + 1}]: a[{slot + 1}] = v")
                    retracts.append(
                        f"        if n == 0 and v == a[{slot + 1}]: a[{slot + 1}] = {best}(d) if d else None"
                    )
                    slot += 1
                slot += 1
            elif c.kind == "COUNT":
                adds.append(f"    if v is not None: a[{slot}] += 1")
                retracts.append(f"    if v is not None: a[{slot}] -= 1")
                slot += 1
            else:  # SUM, AVG: the sum and the count of values
                adds.append(f"    if v is not None:\n        a[{slot}] += v\n        a[{slot + 1}] += 1")
                retracts.append(f"    if v is not None:\n        a[{slot}] -= v\n        a[{slot + 1}] -= 1")
                slot += 2
        self._size = slot
        ns = dict(namespace)
        exec("\n".join([*adds, "    return a", *retracts, "    return a"]), ns)
        self.add = ns["add"]
        self.retract = ns["retract"]

    def create_accumulator(self) -> list[Any]:
        acc: list[Any] = [0] * self._size
        for c, i in zip(self.calls, self._slots, strict=True):
            if c.kind in ("MIN", "MAX") and not c.distinct:
                acc[i + 1] = None
        for i in self._multisets:
            acc[i] = {}
        return acc

    @staticmethod
    def record_count(acc: list[Any]) -> int:
        count: int = acc[0]
        return count

    def get_result(self, acc: list[Any]) -> tuple[Any, ...]:
        out = []
        for c, i in zip(self.calls, self._slots, strict=True):
            if c.distinct:
                out.append(_distinct_result(c, set(acc[i])))
            elif c.kind in ("MIN", "MAX"):
                out.append(acc[i + 1])
            elif c.kind == "COUNT":
                out.append(acc[i])
            elif c.kind == "AVG":
                out.append(_avg(acc[i], acc[i + 1], c.result))
            elif acc[i + 1] == 0:
                out.append(None)  # SUM of no values
            elif c.result.is_integer:
                out.append(fn.wrap({"TINYINT": 8, "SMALLINT": 16, "INT": 32, "BIGINT": 64}[c.result.name])(acc[i]))
            else:
                out.append(acc[i])
        return tuple(out)


def _distinct_result(c: AggCall, values: set[Any]) -> Any:
    if c.kind == "COUNT":
        return len(values)
    if not values:
        return None
    if c.kind == "SUM":
        return sum(values)
    if c.kind == "AVG":
        return _avg(sum(values), len(values), c.result)
    return (min if c.kind == "MIN" else max)(values)


def _avg(total: Any, count: int, t: SqlType) -> Any:
    if count == 0:
        return None
    if t.is_integer:
        return fn.idiv(total, count)
    if t.name == "DECIMAL":
        return (Decimal(total) / count).quantize(Decimal(1).scaleb(-(t.scale or 0)))
    return total / count


__all__ = [
    "AGGREGATES",
    "AggCall",
    "RetractingAggregate",
    "SqlAggregateFunction",
    "agg_call",
    "builtin_aggregate",
    "builtin_result",
]
