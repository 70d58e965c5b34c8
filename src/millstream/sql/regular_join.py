"""Regular (unbounded) equi-joins: INNER, LEFT, RIGHT and FULL OUTER, as Flink's ``StreamingJoinOperator``
runs them, over append-only inputs and over changelogs (``+I``/``-U``/``+U``/``-D``).

The operator is keyed by the equi-join key (``left.connect(right).key_by(kl, kr)``). Per key, each side
keeps every row it holds as ``row -> [count, associations]``: how often the row is there, and (for an
outer side) with how many rows of the other side it currently joins. A pair joins when its key has no
``NULL`` (SQL's ``=``) and the remaining condition of ``ON`` holds. ``matches`` are the rows of the other side
an input row joins, each counted as often as it is there.

An input row that adds (``+I``, ``+U``):

1. the input side is outer and nothing matches: send ``+I[row + NULLs]``, store the row with 0 associations;
2. otherwise, per match in turn: if the other side is outer and the match had 0 associations, send
   ``-D[NULLs + match]`` (its padded row is now wrong), and count one more association for it;
3. ... then send ``+I[row + match]`` (the input's kind in an INNER join); store the row (with ``len(matches)``
   associations).

An input row that retracts (``-U``, ``-D``) removes one copy of the row, then:

4. nothing matches and the input side is outer: send ``-D[row + NULLs]``;
5. otherwise, per match in turn: send ``-D[row + match]`` (the input's kind if the input side is not outer); if
   the other side is outer, count one association less for the match, and if that was its last, send
   ``+I[NULLs + match]``.

So a LEFT join emits ``+I`` with NULLs for a left row without a partner, and ``-D`` of that row followed by
``+I`` of the joined row when the first partner arrives, exactly as Flink does (Flink sends ``-D``/``+I``,
not ``-U``/``+U``, for outer joins). An INNER join of append-only inputs only ever inserts: its rows carry no
kind (the result is append-only); otherwise the kind is appended as the last element (a changelog).
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
    both); ``null_keys``: per side, whether a row's join key has a ``NULL`` (it then joins nothing);
    ``changelogs``: per side, whether its rows carry their kind as an extra last element."""

    def __init__(
        self,
        left_width: int,
        right_width: int,
        condition: Callable[[Row], bool] | None,
        left_outer: bool,
        right_outer: bool,
        null_keys: tuple[Callable[[Row], bool], Callable[[Row], bool]],
        changelogs: tuple[bool, bool] = (False, False),
    ) -> None:
        self.widths = (left_width, right_width)
        self.condition = condition
        self.outer = (left_outer, right_outer)
        self.null_keys = null_keys
        self.changelogs = changelogs
        self.changelog = left_outer or right_outer or changelogs[0] or changelogs[1]
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

    def _process(self, value: Row, side: int) -> Iterator[Row]:
        if self.changelogs[side]:
            row, kind = value[:-1], value[-1]
        else:
            row, kind = value, "+I"
        # the rows of the other side this row joins, as (row, count, associations)
        matches: list[tuple[Row, int, int]] = []
        if not self.null_keys[side](row):
            cond = self.condition
            for other, (count, assoc) in self.states[1 - side].items():
                if cond is None or cond(self._joined(row, other, side)):
                    matches.append((other, count, assoc))
        if kind in ("+I", "+U"):
            return self._accumulate(row, kind, side, matches)
        return self._retract(row, kind, side, matches)

    def _accumulate(self, row: Row, kind: str, side: int, matches: list[tuple[Row, int, int]]) -> Iterator[Row]:
        mine, other_state = self.states[side], self.states[1 - side]
        input_outer, other_outer = self.outer[side], self.outer[1 - side]
        # Step 1: an outer row without partners is padded with NULLs
        if input_outer and not matches:
            yield self._emit(self._padded(row, side), "+I")
        else:
            out_kind = "+I" if input_outer or other_outer else kind
            for other, count, assoc in matches:
                # Step 2: a partner on an outer side loses its padded row on its first association
                retract = other_outer and assoc == 0
                padded = self._emit(self._padded(other, 1 - side), "-D") if retract else None
                joined = self._emit(self._joined(row, other, side), out_kind)
                for _ in range(count):
                    if padded is not None:
                        yield padded
                    yield joined  # Step 3: the joined row
                if other_outer:
                    other_state.put(other, [count, assoc + 1])
        entry = mine.get(row)
        mine.put(row, [1 if entry is None else entry[0] + 1, sum(count for _, count, _ in matches)])

    def _retract(self, row: Row, kind: str, side: int, matches: list[tuple[Row, int, int]]) -> Iterator[Row]:
        mine, other_state = self.states[side], self.states[1 - side]
        input_outer, other_outer = self.outer[side], self.outer[1 - side]
        entry = mine.get(row)
        if entry is not None:  # a row that is not there: nothing to remove (the outputs follow, as in Flink)
            if entry[0] > 1:
                mine.put(row, [entry[0] - 1, entry[1]])
            else:
                mine.remove(row)
        # Step 4: an outer row without partners retracts its padded row
        if not matches:
            if input_outer:
                yield self._emit(self._padded(row, side), "-D")
            return
        # Step 5: per match, retract the joined row; a partner on an outer side left without associations is
        # padded again
        out_kind = "-D" if input_outer else kind
        for other, count, assoc in matches:
            joined = self._emit(self._joined(row, other, side), out_kind)
            padded = self._emit(self._padded(other, 1 - side), "+I") if other_outer and assoc == 1 else None
            for _ in range(count):
                yield joined
                if padded is not None:
                    yield padded
            if other_outer:
                other_state.put(other, [count, assoc - 1])


__all__ = ["RegularJoin"]
