"""Top-N over an append-only input: ``ROW_NUMBER() OVER (PARTITION BY k ORDER BY col [DESC]) AS rn ... WHERE
rn <= N``, as Flink SQL's ``AppendOnlyTopNFunction`` runs it (checked against Flink 2.3 runs).

Per partition key, keyed state holds a buffer of sort keys in order, each with its rows in arrival order (rows
that tie keep their arrival order). An input row is considered only if it can enter the top N: the buffer is
not full, or the row sorts strictly before the buffer's worst key. Then it is added to the buffer and:

- **row number selected** (the output has ``rn``): from the row's place on, each row of the top N moves one
  rank down: per rank ``r`` from the new row's, ``-U[old row, r]`` then ``+U[row now at r, r]``; if the top N
  was not full, the last moved row gets ``+I[row, r]`` at its new rank. Sort keys beyond the top N are then
  dropped from the buffer;
- **row number not selected**: if the buffer now holds more than N rows, its last row leaves with
  ``-D[row]`` (nothing is sent if that is the new row itself), then the new row is sent as ``+I[row]``.

The result is a changelog; rows carry their kind as an extra last element. Rows are never late: Top-N on a
non-time column has no watermark rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..stream.functions import KeyedProcessFunction
from ..stream.state import ValueStateDescriptor

Row = tuple[Any, ...]


class AppendOnlyTopN(KeyedProcessFunction):
    """``key_by(partition keys).process(AppendOnlyTopN(...))``: ``sort_key(row)`` the tuple of ``ORDER BY``
    values, ``compare`` their order (see :func:`.sort_keys.row_comparator`), ``n`` the top size;
    ``with_row_number(row, rn)`` makes an output row with its row number, or ``None`` when the row number is not
    selected."""

    def __init__(
        self,
        sort_key: Callable[[Row], Any],
        compare: Callable[[Any, Any], int],
        n: int,
        with_row_number: Callable[[Row, int], Row] | None,
    ) -> None:
        self.sort_key = sort_key
        self.compare = compare
        self.n = n
        self.with_row_number = with_row_number
        self.buffer: Any = None

    def open(self, runtime_context: Any) -> None:
        self.buffer = runtime_context.get_state(ValueStateDescriptor("sql-top-n-buffer", None))

    def process_element(self, value: Any, ctx: Any) -> Iterator[Row]:
        entries: list[list[Any]] = self.buffer.value() or []  # [[sort key, [rows]], ...] in order
        key = self.sort_key(value)
        size = sum(len(rows) for _, rows in entries)
        compare = self.compare
        if entries and compare(key, entries[-1][0]) >= 0 and size >= self.n:
            return  # cannot enter the top N
        pos = 0
        while pos < len(entries) and compare(entries[pos][0], key) < 0:
            pos += 1
        if pos < len(entries) and compare(entries[pos][0], key) == 0:
            entries[pos][1].append(value)
        else:
            entries.insert(pos, [key, [value]])
        if self.with_row_number is None:
            out = list(self._without_row_number(entries, value, size + 1))
        else:
            out = list(self._with_row_number(entries, key, value, self.with_row_number))
        self.buffer.update(entries)
        yield from out

    def _without_row_number(self, entries: list[list[Any]], value: Row, size: int) -> Iterator[Row]:
        if size > self.n:
            rows = entries[-1][1]
            last = rows.pop()
            if not rows:
                entries.pop()
            if last == value:
                return
            yield (*last, "-D")
        yield (*value, "+I")

    def _with_row_number(
        self, entries: list[list[Any]], key: Any, value: Row, numbered: Callable[[Row, int], Row]
    ) -> Iterator[Row]:
        n, compare = self.n, self.compare
        rank = 0
        found = False
        current = value
        visited = 0
        for entry_key, rows in entries:
            if rank > n:
                break
            visited += 1
            if not found and compare(entry_key, key) == 0:
                rank += len(rows)  # the new row is the last of its ties
                found = True
            elif found:
                for prev in rows:  # each row below the new one moves one rank down
                    if rank > n:
                        break
                    yield (*numbered(prev, rank), "-U")
                    yield (*numbered(current, rank), "+U")
                    current = prev
                    rank += 1
            else:
                rank += len(rows)
        if rank <= n:
            yield (*numbered(current, rank), "+I")
        del entries[visited:]  # sort keys beyond the top N


__all__ = ["AppendOnlyTopN"]
