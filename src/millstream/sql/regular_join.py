"""Regular (unbounded) equi-joins: INNER, LEFT, RIGHT and FULL OUTER, as Flink's ``StreamingJoinOperator``
runs them over append-only inputs.

The operator is keyed by the equi-join key (``left.connect(right).key_by(kl, kr)``). Per key, each side
keeps every row it has seen as ``row -> [count, associations]``: how often the row arrived, and (for an
outer side) with how many rows of the other side it currently joins. A pair joins when its key has no
``NULL`` (SQL's ``=``) and the remaining condition of ``ON`` holds.

For each input row (append-only inputs: every row is an insert), with ``matches`` = the rows of the other
side it joins, each counted as often as it arrived:

1. the input side is outer and nothing matches: send ``+I[row + NULLs]``, store the row with 0 associations;
2. otherwise, per match in turn: if the other side is outer and the match had 0 associations, send
   ``-D[NULLs + match]`` (its padded row is now wrong), and count one more association for it;
3. ... then send ``+I[row + match]``; finally store the row (with ``len(matches)`` associations).

So a LEFT join emits ``+I`` with NULLs for a left row without a partner, and ``-D`` of that row followed by
``+I`` of the joined row when the first partner arrives, exactly as Flink does (Flink sends ``-D``/``+I``,
not ``-U``/``+U``, for outer joins). An INNER join of append-only inputs only ever inserts: its rows carry no
kind (the result is append-only); outer joins append the kind as the last element (a changelog).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..stream.functions import KeyedCoProcessFunction
from ..stream.state import MapStateDescriptor

Row = tuple[Any, ...]


class RegularJoin(KeyedCoProcessFunction):
    """``left.connect(right).key_by(kl, kr).process(RegularJoin(...))``.

    ``left_width``/``right_width``: the number of columns of each side (for the NULL padding);
    ``condition(joined_row)``: the non-equi rest of ``ON`` over ``left + right`` (``None``: always true);
    ``left_outer``/``right_outer``: which sides keep their unmatched rows (LEFT: left, RIGHT: right, FULL:
    both); ``has_null_key(row, side)``: whether the row's join key has a ``NULL`` (it then joins nothing)."""

    def __init__(
        self,
        left_width: int,
        right_width: int,
        condition: Callable[[Row], bool] | None,
        left_outer: bool,
        right_outer: bool,
        null_keys: tuple[Callable[[Row], bool], Callable[[Row], bool]],
    ) -> None:
        self.widths = (left_width, right_width)
        self.condition = condition
        self.outer = (left_outer, right_outer)
        self.null_keys = null_keys
        self.changelog = left_outer or right_outer
        self.states: list[Any] = [None, None]

    def open(self, runtime_context: Any) -> None:
        self.states = [
            runtime_context.get_map_state(MapStateDescriptor("sql-join-left", None, None)),
            runtime_context.get_map_state(MapStateDescriptor("sql-join-right", None, None)),
        ]

    def process_element1(self, value: Any, ctx: Any) -> Iterator[Row]:
        return self._process(value, 0)

    def process_element2(self, value: Any, ctx: Any) -> Iterator[Row]:
        return self._process(value, 1)

    # -- the join --------------------------------------------------------------------------------------
    def _joined(self, row: Row, other: Row, side: int) -> Row:
        return row + other if side == 0 else other + row

    def _padded(self, row: Row, side: int) -> Row:
        nulls = (None,) * self.widths[1 - side]
        return row + nulls if side == 0 else nulls + row

    def _emit(self, row: Row, kind: str) -> Row:
        return (*row, kind) if self.changelog else row

    def _process(self, row: Row, side: int) -> Iterator[Row]:
        mine, other_state = self.states[side], self.states[1 - side]
        input_outer, other_outer = self.outer[side], self.outer[1 - side]
        # the rows of the other side this row joins, as (row, count, associations)
        matches: list[tuple[Row, int, int]] = []
        if not self.null_keys[side](row):
            cond = self.condition
            for other, (count, assoc) in other_state.items():
                if cond is None or cond(self._joined(row, other, side)):
                    matches.append((other, count, assoc))
        n_matches = sum(count for _, count, _ in matches)
        # Step 1: an outer row without partners is padded with NULLs
        if input_outer and not matches:
            yield self._emit(self._padded(row, side), "+I")
        else:
            for other, count, assoc in matches:
                # Step 2: a partner on an outer side loses its padded row on its first association
                retract = other_outer and assoc == 0
                padded = self._emit(self._padded(other, 1 - side), "-D") if retract else None
                joined = self._emit(self._joined(row, other, side), "+I")
                for _ in range(count):
                    if padded is not None:
                        yield padded
                    yield joined  # Step 3: the joined row
                if other_outer:
                    other_state.put(other, [count, assoc + 1])
        entry = mine.get(row)
        mine.put(row, [1 if entry is None else entry[0] + 1, n_matches])


__all__ = ["RegularJoin"]
