"""Non-windowed ``GROUP BY``: a continuously updated aggregate that produces a changelog, as Flink's
``GroupAggFunction`` does.

Per key, keyed state holds the accumulator and the last result sent. For each input row (append-only
input): the accumulator takes the row, and the new result row is sent as ``+I`` when the key is new, as
``-U`` (the previous result) followed by ``+U`` (the new one) when it changed, and not at all when it did
not change. A changelog row is the tuple of its values with its kind (``"+I"``, ``"-U"``, ``"+U"``,
``"-D"``) appended as the last element.

Over a changelog input (``retracting``: another ``GROUP BY``, a regular outer join, an upsert table), the
aggregate is a :class:`~millstream.sql.aggregates.RetractingAggregate`: ``+I``/``+U`` rows are added and
``-U``/``-D`` rows retracted, as Flink's ``GroupAggFunction`` with retraction does. A retraction for a key with
no state is dropped; a key whose last row is retracted sends ``-D`` of its previous result and forgets its state
(a later row for it starts again with ``+I``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..stream.functions import KeyedProcessFunction
from ..stream.state import ValueStateDescriptor


class GroupAggregate(KeyedProcessFunction):
    """``key_by(keys).process(GroupAggregate(...))``: ``aggregate`` is an ``AggregateFunction`` whose
    result ``to_tuple`` turns into the aggregate values; ``single`` says the key is one value, not a tuple."""

    def __init__(
        self,
        aggregate: Any,
        to_tuple: Callable[[Any], tuple[Any, ...]] | None,
        single: bool,
        retracting: bool = False,
    ) -> None:
        self.aggregate = aggregate
        self.to_tuple = to_tuple
        self.single = single
        self.retracting = retracting
        self.acc: Any = None
        self.prev: Any = None

    def open(self, runtime_context: Any) -> None:
        self.acc = runtime_context.get_state(ValueStateDescriptor("sql-group-accumulator", None))
        self.prev = runtime_context.get_state(ValueStateDescriptor("sql-group-result", None))

    def process_element(self, value: Any, ctx: Any) -> Iterator[tuple[Any, ...]]:
        if self.retracting:
            yield from self._change(value, ctx)
            return
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

    def _change(self, value: Any, ctx: Any) -> Iterator[tuple[Any, ...]]:
        """One row of a changelog input (its kind last)."""
        agg = self.aggregate
        retract = value[-1] in ("-U", "-D")
        acc = self.acc.value()
        first = acc is None
        if first:
            if retract:
                return  # nothing to retract from
            acc = agg.create_accumulator()
        acc = agg.retract(value, acc) if retract else agg.add(value, acc)
        prev = self.prev.value()
        if agg.record_count(acc) <= 0:  # the group's last row was retracted
            self.acc.clear()
            self.prev.clear()
            if not first and prev is not None:
                yield (*prev, "-D")
            return
        self.acc.update(acc)
        key = ctx.get_current_key()
        new = ((key,) if self.single else tuple(key)) + agg.get_result(acc)
        if not first and prev == new:
            return
        self.prev.update(new)
        if first:
            yield (*new, "+I")
        else:
            yield (*prev, "-U")
            yield (*new, "+U")


__all__ = ["GroupAggregate"]
