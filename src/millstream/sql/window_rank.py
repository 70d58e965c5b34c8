"""Window Top-N and window deduplication: ``ROW_NUMBER() OVER (PARTITION BY window_start, window_end, ... ORDER
BY ...)`` over a window TVF or a window aggregation, filtered by ``rn <= N``, as Flink SQL's ``WindowRank`` and
``WindowDeduplicate`` run them (append-only, checked against Flink 2.3 runs).

The operator is keyed by the partition keys, which include the window. Per key, keyed state buffers the
window's rows:

1. a row whose window has fired (``window_end - 1 <= watermark``) is late and dropped;
2. otherwise it is buffered, and an event-time timer is registered at ``window_end - 1``;
3. when the watermark reaches it, the rows are sorted (ties in arrival order; for a keep-last deduplication,
   ties prefer the latest arrival, as Flink's ``WindowDeduplicate`` does) and the first N are sent, each with
   its row number, then the buffer is cleared.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from ..stream.functions import KeyedProcessFunction
from ..stream.state import ValueStateDescriptor

Row = tuple[Any, ...]


class WindowRank(KeyedProcessFunction):
    """``key_by(partition keys).process(WindowRank(...))``: ``window_end`` is the index of the ``window_end``
    column (epoch ms), ``compare`` orders rows, ``n`` is the top size, ``numbered(row, rn)`` makes an output row,
    ``latest_ties_first`` makes the latest of tying rows win (keep-last deduplication)."""

    def __init__(
        self,
        window_end: int,
        compare: Callable[[Row, Row], int],
        n: int,
        numbered: Callable[[Row, int], Row],
        latest_ties_first: bool = False,
    ) -> None:
        self.window_end = window_end
        self.compare = compare
        self.n = n
        self.numbered = numbered
        self.latest_ties_first = latest_ties_first
        self.rows: Any = None

    def open(self, runtime_context: Any) -> None:
        self.rows = runtime_context.get_state(ValueStateDescriptor("sql-window-rank-rows", None))

    def process_element(self, value: Any, ctx: Any) -> None:
        fire = value[self.window_end] - 1
        timers = ctx.timer_service()
        # Step 1: late rows are dropped
        if fire <= timers.current_watermark():
            return
        # Step 2: buffer until the window's end
        rows = self.rows.value()
        self.rows.update([value] if rows is None else [*rows, value])
        timers.register_event_time_timer(fire)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Row]:
        # Step 3: the window's top N, in rank order
        rows = self.rows.value()
        if not rows:
            return
        self.rows.clear()
        if self.latest_ties_first:
            rows = rows[::-1]
        for rn, row in enumerate(sorted(rows, key=functools.cmp_to_key(self.compare))[: self.n], start=1):
            yield self.numbered(row, rn)


__all__ = ["WindowRank"]
