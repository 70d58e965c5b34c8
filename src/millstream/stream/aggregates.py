"""Ready-made AggregateFunctions for windows: ``Count()``, ``Sum(field)``, ``Min(field)``, ``Max(field)``,
``Mean(field)`` and ``Aggregates(name=agg, ...)`` combining several into one dict result.

``field`` picks the aggregated number out of each element: ``None`` (the element itself), a dict key or
sequence index, or a callable. Accumulators are plain lists/numbers, so windows stay picklable.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from .functions import AggregateFunction


def _getter(field: Any) -> Callable[[Any], Any] | None:
    if field is None:
        return None
    if callable(field):
        return field
    return operator.itemgetter(field)


class Count(AggregateFunction):
    """Number of elements."""

    def create_accumulator(self) -> int:
        return 0

    def add(self, value: Any, accumulator: int) -> int:
        return accumulator + 1

    def get_result(self, accumulator: int) -> int:
        return accumulator

    def merge(self, acc_a: int, acc_b: int) -> int:
        return acc_a + acc_b


class Sum(AggregateFunction):
    """Sum of ``field`` (0 for no elements)."""

    def __init__(self, field: Any = None) -> None:
        self.field = field
        g = _getter(field)
        self.add = (lambda v, a: a + v) if g is None else (lambda v, a: a + g(v))  # type: ignore[method-assign,assignment]

    def create_accumulator(self) -> Any:
        return 0

    def get_result(self, accumulator: Any) -> Any:
        return accumulator

    def merge(self, acc_a: Any, acc_b: Any) -> Any:
        return acc_a + acc_b


class _Extreme(AggregateFunction):
    _pick: Any = min

    def __init__(self, field: Any = None) -> None:
        self.field = field
        g = _getter(field) or (lambda v: v)
        pick = type(self)._pick

        def add(v: Any, a: Any) -> Any:
            x = g(v)
            return x if a is None else pick(a, x)

        self.add = add  # type: ignore[method-assign,assignment]

    def create_accumulator(self) -> Any:
        return None

    def get_result(self, accumulator: Any) -> Any:
        return accumulator

    def merge(self, acc_a: Any, acc_b: Any) -> Any:
        if acc_a is None:
            return acc_b
        if acc_b is None:
            return acc_a
        return type(self)._pick(acc_a, acc_b)


class Min(_Extreme):
    """Smallest ``field`` value (``None`` for no elements)."""

    _pick = min


class Max(_Extreme):
    """Largest ``field`` value (``None`` for no elements)."""

    _pick = max


class Mean(AggregateFunction):
    """Arithmetic mean of ``field`` (``None`` for no elements)."""

    def __init__(self, field: Any = None) -> None:
        self.field = field
        g = _getter(field) or (lambda v: v)

        def add(v: Any, a: list[Any]) -> list[Any]:
            a[0] += 1
            a[1] += g(v)
            return a

        self.add = add  # type: ignore[method-assign,assignment]

    def create_accumulator(self) -> list[Any]:
        return [0, 0]

    def get_result(self, accumulator: list[Any]) -> Any:
        return accumulator[1] / accumulator[0] if accumulator[0] else None

    def merge(self, acc_a: list[Any], acc_b: list[Any]) -> list[Any]:
        return [acc_a[0] + acc_b[0], acc_a[1] + acc_b[1]]


class Aggregates(AggregateFunction):
    """Several aggregates at once: ``Aggregates(n=Count(), total=Sum("v"))`` → ``{"n": .., "total": ..}``."""

    def __init__(self, **aggregates: AggregateFunction) -> None:
        if not aggregates:
            from .errors import JobConfigError

            raise JobConfigError("Aggregates(...) needs at least one named aggregate, e.g. count=Count()")
        self.names = list(aggregates)
        self.aggs = list(aggregates.values())
        if all(type(a) in (Count, Sum, Min, Max) for a in self.aggs):
            names = tuple(self.names)
            self.get_result = lambda acc: dict(zip(names, acc))  # type: ignore[method-assign,assignment]  # noqa: B905
        if all(type(a) in (Count, Sum) for a in self.aggs):  # merging is adding, member by member (in C)
            self.merge = lambda acc_a, acc_b: list(map(operator.add, acc_a, acc_b))  # type: ignore[method-assign]
        fused = _fused_add(self.aggs)
        if fused is not None:
            self.add = fused  # type: ignore[method-assign,assignment]
            return
        adds = [a.add for a in self.aggs]
        n = len(adds)
        if n == 2:
            a0, a1 = adds

            def add(v: Any, acc: list[Any]) -> list[Any]:
                acc[0] = a0(v, acc[0])
                acc[1] = a1(v, acc[1])
                return acc
        else:

            def add(v: Any, acc: list[Any]) -> list[Any]:
                for j in range(n):
                    acc[j] = adds[j](v, acc[j])
                return acc

        self.add = add  # type: ignore[method-assign,assignment]

    def create_accumulator(self) -> list[Any]:
        return [a.create_accumulator() for a in self.aggs]

    def get_result(self, accumulator: list[Any]) -> dict[str, Any]:
        return {n: a.get_result(x) for n, a, x in zip(self.names, self.aggs, accumulator, strict=True)}

    def merge(self, acc_a: list[Any], acc_b: list[Any]) -> list[Any]:
        return [a.merge(x, y) for a, x, y in zip(self.aggs, acc_a, acc_b, strict=True)]


def _fused_add(aggs: list[AggregateFunction]) -> Callable[[Any, list[Any]], list[Any]] | None:
    """One generated ``add`` for a combination of built-in aggregates over constant fields (one Python
    call per element instead of one per aggregate)."""
    lines = ["def add(v, acc):"]
    env: dict[str, Any] = {}
    for j, a in enumerate(aggs):
        field = getattr(a, "field", None)
        if type(a) is not Count and (callable(field) or type(a) not in (Sum, Min, Max, Mean)):
            return None
        env[f"F{j}"] = field
        x = "v" if field is None else f"v[F{j}]"
        if type(a) is Count:
            lines.append(f"    acc[{j}] += 1")
        elif type(a) is Sum:
            lines.append(f"    acc[{j}] += {x}")
        elif type(a) is Mean:
            lines.append(f"    m = acc[{j}]; m[0] += 1; m[1] += {x}")
        else:
            op = "<" if type(a) is Min else ">"
            lines.append(f"    x = {x}; a = acc[{j}]")
            lines.append(f"    if a is None or x {op} a: acc[{j}] = x")
    lines.append("    return acc")
    exec("\n".join(lines), env)  # code built only from the fixed templates above
    return env["add"]


__all__ = ["Aggregates", "Count", "Max", "Mean", "Min", "Sum"]
