"""Window joins: two window TVF relations joined on ``window_start``, ``window_end`` and a key, as Flink's
``WindowJoinOperator`` runs them (INNER, LEFT, RIGHT and FULL OUTER).

The operator is keyed by the equi-join key. Per key it keeps each side's rows by window (the window's
firing time, ``window_end - 1`` in UTC milliseconds). A row whose window has already fired (the watermark
reached its firing time) is late and dropped. When the watermark reaches a window's firing time, its rows
are joined and forgotten:

- INNER: every left row with every right row that satisfies the rest of the condition;
- LEFT (RIGHT): as INNER, plus each left (right) row that joined nothing, padded with NULLs;
- FULL: as LEFT, plus each right row that joined nothing, padded with NULLs.

The output is append-only: only final results, once per window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..stream.functions import KeyedCoProcessFunction
from ..stream.state import MapStateDescriptor

Row = tuple[Any, ...]


class WindowJoin(KeyedCoProcessFunction):
    """``left.connect(right).key_by(kl, kr).process(WindowJoin(...))``: ``fire_times`` give a row's firing
    time per side; ``widths`` the column counts (for NULL padding); ``condition(left + right)`` the rest of
    ``ON`` (``None``: always true); ``null_keys`` whether a row's key has a ``NULL`` (it then joins nothing)."""

    def __init__(
        self,
        fire_times: tuple[Callable[[Row], int], Callable[[Row], int]],
        widths: tuple[int, int],
        condition: Callable[[Row], bool] | None,
        left_outer: bool,
        right_outer: bool,
        null_keys: tuple[Callable[[Row], bool], Callable[[Row], bool]],
    ) -> None:
        self.fire_times = fire_times
        self.widths = widths
        self.condition = condition
        self.outer = (left_outer, right_outer)
        self.null_keys = null_keys
        self.windows: Any = None

    def open(self, runtime_context: Any) -> None:
        # firing time -> ([left rows], [right rows])
        self.windows = runtime_context.get_map_state(MapStateDescriptor("sql-window-join", None, None))

    def process_element1(self, value: Any, ctx: Any) -> None:
        self._add(value, 0, ctx)

    def process_element2(self, value: Any, ctx: Any) -> None:
        self._add(value, 1, ctx)

    def _add(self, row: Row, side: int, ctx: Any) -> None:
        fire = self.fire_times[side](row)
        if ctx.timer_service().current_watermark() >= fire:
            return  # late: its window has fired
        entry = self.windows.get(fire)
        if entry is None:
            entry = ([], [])
            ctx.timer_service().register_event_time_timer(fire)
        entry[side].append(row)
        self.windows.put(fire, entry)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Row]:
        entry = self.windows.get(timestamp)
        if entry is None:
            return
        self.windows.remove(timestamp)
        if self.windows.is_empty():
            self.windows.clear()
        lefts, rights = entry
        cond = self.condition
        left_nulls, right_nulls = (None,) * self.widths[0], (None,) * self.widths[1]
        null_left, null_right = self.null_keys
        left_outer, right_outer = self.outer
        matched_right = [False] * len(rights)
        for left in lefts:
            matched = False
            if not null_left(left):
                for j, right in enumerate(rights):
                    if null_right(right):
                        continue
                    joined = left + right
                    if cond is None or cond(joined):
                        matched = matched_right[j] = True
                        yield joined
            if left_outer and not matched:
                yield left + right_nulls
        if right_outer:
            for right, matched in zip(rights, matched_right, strict=True):
                if not matched:
                    yield left_nulls + right


__all__ = ["WindowJoin"]
