"""Non-windowed ``GROUP BY``: a continuously updated aggregate that produces a changelog, as Flink's
``GroupAggFunction`` does.

Per key, keyed state holds the accumulator and the last result sent. For each input row (append-only
input): the accumulator takes the row, and the new result row is sent as ``+I`` when the key is new, as
``-U`` (the previous result) followed by ``+U`` (the new one) when it changed, and not at all when it did
not change. A changelog row is the tuple of its values with its kind (``"+I"``, ``"-U"``, ``"+U"``,
``"-D"``) appended as the last element.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..stream.functions import KeyedProcessFunction
from ..stream.state import ValueStateDescriptor


class GroupAggregate(KeyedProcessFunction):
    """``key_by(keys).process(GroupAggregate(...))``: ``aggregate`` is an ``AggregateFunction`` whose
    result ``to_tuple`` turns into the aggregate values; ``single`` says the key is one value, not a tuple."""

    def __init__(self, aggregate: Any, to_tuple: Callable[[Any], tuple[Any, ...]] | None, single: bool) -> None:
        self.aggregate = aggregate
        self.to_tuple = to_tuple
        self.single = single
        self.acc: Any = None
        self.prev: Any = None

    def open(self, runtime_context: Any) -> None:
        self.acc = runtime_context.get_state(ValueStateDescriptor("sql-group-accumulator", None))
        self.prev = runtime_context.get_state(ValueStateDescriptor("sql-group-result", None))

    def process_element(self, value: Any, ctx: Any) -> Iterator[tuple[Any, ...]]:
        agg = self.aggregate
        acc = self.acc.value()
        acc = agg.add(value, agg.create_accumulator() if acc is None else acc)
        self.acc.update(acc)
        result = agg.get_result(acc)
        key = ctx.get_current_key()
        new = ((key,) if self.single else tuple(key)) + (result if self.to_tuple is None else self.to_tuple(result))
        prev = self.prev.value()
        if prev == new:
            return
        self.prev.update(new)
        if prev is None:
            yield (*new, "+I")
        else:
            yield (*prev, "-U")
            yield (*new, "+U")


__all__ = ["GroupAggregate"]
