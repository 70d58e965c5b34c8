"""Event-time ``OVER`` aggregations: ``agg(x) OVER (PARTITION BY k ORDER BY rowtime ROWS|RANGE BETWEEN ...
PRECEDING AND CURRENT ROW)``, as Flink SQL's row-time over-aggregate functions run them (append-only; rules
checked against Flink 2.3 runs).

The operator is keyed by the partition keys. Each row waits in keyed state (by time) until the watermark
reaches its time; then, at that time's timer, every row of that time gets its aggregates appended and is sent,
in arrival order:

- ``ROWS BETWEEN n PRECEDING``: over the row and the n rows before it (in time order, then arrival order);
- ``RANGE BETWEEN INTERVAL 'd' PRECEDING``: over the rows with a time in ``[t - d, t]`` (rows of the same time
  share one result);
- ``UNBOUNDED PRECEDING``: over all rows so far (``ROWS``: up to this row; ``RANGE``: up to the last row of
  this time).

Late rows are dropped, by Flink's per-frame rules: ``ROWS`` with n preceding drops a row at or before the time
its key last fired; ``RANGE`` with an interval a row at or before the last time this operator instance fired
(for any key); ``UNBOUNDED`` frames a row at or below the watermark.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..stream.functions import KeyedProcessFunction
from ..stream.state import MapStateDescriptor, ValueStateDescriptor

Row = tuple[Any, ...]


class RowTimeOverAggregate(KeyedProcessFunction):
    """``key_by(partition keys).process(RowTimeOverAggregate(...))``: ``time`` is the index of the time
    attribute, ``aggregate`` an ``AggregateFunction`` over rows (``create_accumulator``/``add``/``get_result``,
    the result a tuple of values), ``rows`` whether the frame counts rows (else a time range), ``preceding`` the
    frame's size (rows or ms) or ``None`` for ``UNBOUNDED PRECEDING``."""

    def __init__(self, time: int, aggregate: Any, rows: bool, preceding: int | None) -> None:
        self.time = time
        self.aggregate = aggregate
        self.rows = rows
        self.preceding = preceding
        self.last_fired_here = 0  # RANGE with an interval: kept per operator instance, as in Flink
        self.pending: Any = None
        self.frame: Any = None
        self.acc: Any = None
        self.last_fired: Any = None

    def open(self, runtime_context: Any) -> None:
        self.pending = runtime_context.get_map_state(MapStateDescriptor("sql-over-pending", None, None))
        self.frame = runtime_context.get_state(ValueStateDescriptor("sql-over-frame", None))
        self.acc = runtime_context.get_state(ValueStateDescriptor("sql-over-accumulator", None))
        self.last_fired = runtime_context.get_state(ValueStateDescriptor("sql-over-last-fired", None))

    def _late(self, ts: int, ctx: Any) -> bool:
        if self.preceding is None:
            return bool(ts <= ctx.timer_service().current_watermark())
        if self.rows:
            return ts <= (self.last_fired.value() or 0)
        return ts <= self.last_fired_here

    def process_element(self, value: Any, ctx: Any) -> None:
        ts = value[self.time]
        if self._late(ts, ctx):
            return
        rows = self.pending.get(ts)
        if rows is None:
            self.pending.put(ts, [value])
            ctx.timer_service().register_event_time_timer(ts)
        else:
            self.pending.put(ts, [*rows, value])

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Row]:
        rows = self.pending.get(timestamp)
        self.last_fired.update(timestamp)
        self.last_fired_here = max(self.last_fired_here, timestamp)
        if rows is None:
            return
        self.pending.remove(timestamp)
        if self.preceding is None:
            yield from self._unbounded(rows)
        elif self.rows:
            yield from self._rows(rows)
        else:
            yield from self._range(rows, timestamp)

    def _over(self, frame: list[Row]) -> tuple[Any, ...]:
        agg = self.aggregate
        acc = agg.create_accumulator()
        for row in frame:
            acc = agg.add(row, acc)
        return tuple(agg.get_result(acc))

    def _unbounded(self, rows: list[Row]) -> Iterator[Row]:
        agg = self.aggregate
        acc = self.acc.value()
        if acc is None:
            acc = agg.create_accumulator()
        results = []
        for row in rows:
            acc = agg.add(row, acc)
            results.append(tuple(agg.get_result(acc)))
        self.acc.update(acc)
        if not self.rows:  # RANGE: the rows of one time are peers
            results = [results[-1]] * len(rows)
        for row, result in zip(rows, results, strict=True):
            yield row + result

    def _rows(self, rows: list[Row]) -> Iterator[Row]:
        assert self.preceding is not None
        frame: list[Row] = self.frame.value() or []
        for row in rows:
            frame.append(row)
            del frame[: max(0, len(frame) - self.preceding - 1)]
            yield row + self._over(frame)
        self.frame.update(frame)

    def _range(self, rows: list[Row], timestamp: int) -> Iterator[Row]:
        assert self.preceding is not None
        start = timestamp - self.preceding
        frame = [r for r in (self.frame.value() or []) if r[self.time] >= start] + rows
        self.frame.update(frame)
        result = self._over(frame)
        for row in rows:
            yield row + result


__all__ = ["RowTimeOverAggregate"]
