"""Event-time interval joins: ``l.ts BETWEEN r.ts - INTERVAL '4' HOUR AND r.ts``, as Flink SQL's
``RowTimeIntervalJoin`` runs them (INNER, LEFT, RIGHT and FULL OUTER joins of two append-only inputs).

A left row at ``tl`` joins the right rows at ``tr`` with ``tr + lower <= tl <= tr + upper`` (and the same key,
and the rest of the condition); Flink names ``left_size = -lower`` and ``right_size = upper`` the relative
sizes. Per key, each side caches its rows by time (``ts -> [[row, joined yet]]``). The *operator time* is the current
watermark (0 while it is negative), the *expiration time* of a side ``operator time - its size - 1``.

For a left row at ``tl`` (the right side is symmetric):

1. if cached right rows may still qualify (the right expiration time is below ``tl + left_size``): compute the
   right expiration time anew, join with every cached right row in ``[tl - right_size, tl + left_size]``, and
   drop the cached right rows at or before the expiration time;
2. cache the row if right rows arriving later can still join it (the operator time is below
   ``tl + left_size``), and then, if no cleanup timer is pending for the left cache, register one at
   ``tl + left_size + (left_size + right_size) // 2 + 1``;
3. a timer drops the cached rows that expired and registers the next one at the earliest remaining row.

An outer side's row that never joined is emitted padded with NULLs when it leaves the cache (step 1 of the other
side, or step 3), or right away when step 2 does not cache it. A row that is late still joins with the cached
rows of the other side, as in Flink; the last seen expiration times are kept per operator instance, not per
key, also as in Flink.
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
    row's key has a ``NULL`` (such rows join nothing); ``outer`` which sides keep rows without a partner, padded
    with NULLs for the other side's ``widths`` columns."""

    def __init__(
        self,
        lower: int,
        upper: int,
        times: tuple[int, int],
        condition: Callable[[Row], bool] | None,
        null_keys: tuple[Callable[[Row], bool], Callable[[Row], bool]],
        outer: tuple[bool, bool] = (False, False),
        widths: tuple[int, int] = (0, 0),
    ) -> None:
        self.outer = outer
        self.widths = widths
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

    def _padded(self, row: Row, side: int) -> Row:
        nulls = (None,) * self.widths[1 - side]
        return row + nulls if side == 0 else nulls + row

    def _process(self, row: Row, side: int, ctx: Any) -> Iterator[Row]:
        other = 1 - side
        t = row[self.times[side]]
        my_size, other_size = self.sizes[side], self.sizes[other]
        lower, upper = t - other_size, t + my_size  # where the other side's rows qualify
        op_time = self._operator_time(ctx)
        joinable = not self.null_keys[side](row)
        emitted = False
        # Step 1: join with the other side's cache and drop its expired rows
        if self.expiration[other] < upper:
            expiration = self.expiration[other] = op_time - other_size - 1
            cache = self.caches[other]
            cond = self.condition
            other_outer = self.outer[other]
            for ts, entries in cache.items():
                if joinable and lower <= ts <= upper:
                    updated = False
                    for entry in entries:  # [row, joined with anything yet]
                        o = entry[0]
                        joined = row + o if side == 0 else o + row
                        if cond is None or cond(joined):
                            emitted = True
                            if other_outer and not entry[1]:
                                entry[1] = updated = True
                            yield joined
                    if updated:
                        cache.put(ts, entries)
                if ts <= expiration:
                    if other_outer:
                        yield from (self._padded(e[0], other) for e in entries if not e[1])
                    cache.remove(ts)
        # Step 2: cache the row while rows of the other side may still join it (an outer row without a partner
        # is padded with NULLs when it leaves the cache, or now if it is not cached)
        if op_time < upper and (joinable or self.outer[side]):
            cache = self.caches[side]
            entries = cache.get(t)
            cache.put(t, [[row, emitted]] if entries is None else [*entries, [row, emitted]])
            if self.timers[side].value() is None:
                self._register(ctx, t, side)
        elif self.outer[side] and not emitted:
            yield self._padded(row, side)

    def _register(self, ctx: Any, t: int, side: int) -> None:
        when = t + self.sizes[side] + self.min_cleanup + 1
        ctx.timer_service().register_event_time_timer(when)
        self.timers[side].update(when)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Row]:
        # Step 3: drop expired rows (padding the outer ones that never joined); the next timer waits for the
        # earliest row left
        op_time = self._operator_time(ctx)
        for side in (0, 1):
            if self.timers[side].value() != timestamp:
                continue
            expiration = self.expiration[side] = op_time - self.sizes[side] - 1
            cache = self.caches[side]
            earliest: int | None = None
            for ts, entries in cache.items():
                if ts <= expiration:
                    if self.outer[side]:
                        yield from (self._padded(e[0], side) for e in entries if not e[1])
                    cache.remove(ts)
                elif earliest is None or ts < earliest:
                    earliest = ts
            if earliest is not None:
                self._register(ctx, earliest, side)
            else:
                self.timers[side].clear()
                cache.clear()


__all__ = ["IntervalJoin"]
