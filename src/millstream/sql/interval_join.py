"""Event-time interval joins: ``l.ts BETWEEN r.ts - INTERVAL '4' HOUR AND r.ts``, as Flink SQL's
``RowTimeIntervalJoin`` runs them (inner join of two append-only inputs).

A left row at ``tl`` joins the right rows at ``tr`` with ``tr + lower <= tl <= tr + upper`` (and the same key,
and the rest of the condition); Flink names ``left_size = -lower`` and ``right_size = upper`` the relative
sizes. Per key, each side caches its rows by time (``ts -> [rows]``). The *operator time* is the current
watermark (0 while it is negative), the *expiration time* of a side ``operator time - its size - 1``.

For a left row at ``tl`` (the right side is symmetric):

1. if cached right rows may still qualify (the right expiration time is below ``tl + left_size``): compute the
   right expiration time anew, join with every cached right row in ``[tl - right_size, tl + left_size]``, and
   drop the cached right rows at or before the expiration time;
2. cache the row if right rows arriving later can still join it (the operator time is below
   ``tl + left_size``), and then, if no cleanup timer is pending for the left cache, register one at
   ``tl + left_size + (left_size + right_size) // 2 + 1``;
3. a timer drops the cached rows that expired and registers the next one at the earliest remaining row.

So a row that is late still joins with the cached rows of the other side, as in Flink; the last seen
expiration times are kept per operator instance, not per key, also as in Flink.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..stream.functions import KeyedCoProcessFunction
from ..stream.state import MapStateDescriptor, ValueStateDescriptor

Row = tuple[Any, ...]


class IntervalJoin(KeyedCoProcessFunction):
    """``left.connect(right).key_by(kl, kr).process(IntervalJoin(...))``: ``lower``/``upper`` bound the left
    time relative to the right (inclusive, in ms); ``times`` are the rowtime column of each side;
    ``condition(left + right)`` the rest of the condition (``None``: always true); ``null_keys`` say whether a
    row's key has a ``NULL`` (such rows join nothing)."""

    def __init__(
        self,
        lower: int,
        upper: int,
        times: tuple[int, int],
        condition: Callable[[Row], bool] | None,
        null_keys: tuple[Callable[[Row], bool], Callable[[Row], bool]],
    ) -> None:
        self.sizes = (-lower, upper)  # (left relative size, right relative size)
        self.times = times
        self.condition = condition
        self.null_keys = null_keys
        self.min_cleanup = (upper - lower) // 2
        self.expiration = [0, 0]  # per side, as Flink's leftExpirationTime / rightExpirationTime
        self.caches: list[Any] = [None, None]
        self.timers: list[Any] = [None, None]  # the pending cleanup timer of each side's cache

    def open(self, runtime_context: Any) -> None:
        self.caches = [
            runtime_context.get_map_state(MapStateDescriptor("sql-interval-join-left", None, None)),
            runtime_context.get_map_state(MapStateDescriptor("sql-interval-join-right", None, None)),
        ]
        self.timers = [
            runtime_context.get_state(ValueStateDescriptor("sql-interval-join-left-timer", None)),
            runtime_context.get_state(ValueStateDescriptor("sql-interval-join-right-timer", None)),
        ]

    def process_element1(self, value: Any, ctx: Any) -> Iterator[Row]:
        return self._process(value, 0, ctx)

    def process_element2(self, value: Any, ctx: Any) -> Iterator[Row]:
        return self._process(value, 1, ctx)

    @staticmethod
    def _operator_time(ctx: Any) -> int:
        wm: int = ctx.timer_service().current_watermark()
        return wm if wm > 0 else 0

    def _process(self, row: Row, side: int, ctx: Any) -> Iterator[Row]:
        other = 1 - side
        t = row[self.times[side]]
        my_size, other_size = self.sizes[side], self.sizes[other]
        lower, upper = t - other_size, t + my_size  # where the other side's rows qualify
        op_time = self._operator_time(ctx)
        joinable = not self.null_keys[side](row)
        # Step 1: join with the other side's cache and drop its expired rows
        if self.expiration[other] < upper:
            expiration = self.expiration[other] = op_time - other_size - 1
            cache = self.caches[other]
            cond = self.condition
            for ts, rows in cache.items():
                if joinable and lower <= ts <= upper:
                    for o in rows:
                        joined = row + o if side == 0 else o + row
                        if cond is None or cond(joined):
                            yield joined
                if ts <= expiration:
                    cache.remove(ts)
        # Step 2: cache the row while rows of the other side may still join it
        if joinable and op_time < upper:
            cache = self.caches[side]
            rows = cache.get(t)
            cache.put(t, [row] if rows is None else [*rows, row])
            if self.timers[side].value() is None:
                self._register(ctx, t, side)

    def _register(self, ctx: Any, t: int, side: int) -> None:
        when = t + self.sizes[side] + self.min_cleanup + 1
        ctx.timer_service().register_event_time_timer(when)
        self.timers[side].update(when)

    def on_timer(self, timestamp: int, ctx: Any) -> None:
        # Step 3: drop expired rows; the next timer waits for the earliest row left
        op_time = self._operator_time(ctx)
        for side in (0, 1):
            if self.timers[side].value() != timestamp:
                continue
            expiration = self.expiration[side] = op_time - self.sizes[side] - 1
            cache = self.caches[side]
            earliest: int | None = None
            for ts in cache:
                if ts <= expiration:
                    cache.remove(ts)
                elif earliest is None or ts < earliest:
                    earliest = ts
            if earliest is not None:
                self._register(ctx, earliest, side)
            else:
                self.timers[side].clear()
                cache.clear()


__all__ = ["IntervalJoin"]
