"""Deduplication on event time: ``ROW_NUMBER() OVER (PARTITION BY k ORDER BY rowtime [ASC|DESC]) ... WHERE
rn = 1`` (the row number not selected), as Flink SQL's row-time ``Deduplicate`` runs it (rules checked against
Flink 2.3 runs).

**Keep first** (``ASC``, :class:`RowTimeKeepFirst`): append-only. Per key, keyed state holds the earliest row
seen so far and whether the key's row was sent.

1. a row at or below the current watermark is late and dropped; so is every row of a key whose row was sent;
2. otherwise the row is kept if it is strictly earlier than the kept one (or the first), and an event-time
   timer is registered at its time;
3. when the watermark reaches the kept row's time, it is sent (once per key, in time order across keys).

**Keep last** (``DESC``, :class:`RowTimeKeepLast`): a changelog, sent at once. Per key, keyed state holds the
latest row; a row at the same time or later replaces it and is sent as ``+I`` (the key's first row) or as
``-U`` (the replaced row) then ``+U`` (the new one); an earlier row is dropped. Late rows are not dropped by
watermark (they only lose against the kept row's time), as in Flink. Changelog rows carry their kind as an extra
last element.

On processing time (``ORDER BY pt`` of a ``PROCTIME()`` column), as Flink's processing-time ``Deduplicate``:
**keep first** (:class:`ProcTimeKeepFirst`) sends each key's first row at once and drops the key's later rows
(append-only); **keep last** (:class:`ProcTimeKeepLast`) sends every row at once, ``+I`` for a key's first and
``-U`` (the previous row) then ``+U`` after.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..stream.functions import KeyedProcessFunction
from ..stream.state import ValueStateDescriptor

Row = tuple[Any, ...]


class RowTimeKeepFirst(KeyedProcessFunction):
    """``key_by(partition keys).process(RowTimeKeepFirst(time))``: ``time`` is the index of the time attribute
    in the input rows; outputs the input rows (append-only)."""

    def __init__(self, time: int) -> None:
        self.time = time
        self.kept: Any = None
        self.sent: Any = None

    def open(self, runtime_context: Any) -> None:
        self.kept = runtime_context.get_state(ValueStateDescriptor("sql-deduplicate-first-row", None))
        self.sent = runtime_context.get_state(ValueStateDescriptor("sql-deduplicate-first-sent", None))

    def process_element(self, value: Any, ctx: Any) -> None:
        ts = value[self.time]
        # Step 1: late rows and rows of a key already sent are dropped
        if ts <= ctx.timer_service().current_watermark() or self.sent.value():
            return
        # Step 2: keep the earliest row, fire at its time
        prev = self.kept.value()
        if prev is None or ts < prev[self.time]:
            self.kept.update(value)
            ctx.timer_service().register_event_time_timer(ts)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Row]:
        # Step 3: send the kept row once (a timer of a replaced row finds it sent, or later than the timer)
        kept = self.kept.value()
        if kept is None or self.sent.value() or kept[self.time] > timestamp:
            return
        self.sent.update(True)
        self.kept.clear()
        yield kept


class RowTimeKeepLast(KeyedProcessFunction):
    """``key_by(partition keys).process(RowTimeKeepLast(time))``: a changelog of each key's latest row."""

    def __init__(self, time: int) -> None:
        self.time = time
        self.kept: Any = None

    def open(self, runtime_context: Any) -> None:
        self.kept = runtime_context.get_state(ValueStateDescriptor("sql-deduplicate-last-row", None))

    def process_element(self, value: Any, ctx: Any) -> Iterator[Row]:
        prev = self.kept.value()
        if prev is not None and value[self.time] < prev[self.time]:
            return
        self.kept.update(value)
        if prev is None:
            yield (*value, "+I")
        else:
            yield (*prev, "-U")
            yield (*value, "+U")


class ProcTimeKeepFirst(KeyedProcessFunction):
    """``key_by(partition keys).process(ProcTimeKeepFirst())``: each key's first row, at once."""

    def __init__(self) -> None:
        self.seen: Any = None

    def open(self, runtime_context: Any) -> None:
        self.seen = runtime_context.get_state(ValueStateDescriptor("sql-deduplicate-proctime-seen", None))

    def process_element(self, value: Any, ctx: Any) -> Iterator[Row]:
        if self.seen.value():
            return
        self.seen.update(True)
        yield value


class ProcTimeKeepLast(KeyedProcessFunction):
    """``key_by(partition keys).process(ProcTimeKeepLast())``: a changelog of each key's last row."""

    def __init__(self) -> None:
        self.kept: Any = None

    def open(self, runtime_context: Any) -> None:
        self.kept = runtime_context.get_state(ValueStateDescriptor("sql-deduplicate-proctime-last", None))

    def process_element(self, value: Any, ctx: Any) -> Iterator[Row]:
        prev = self.kept.value()
        self.kept.update(value)
        if prev is None:
            yield (*value, "+I")
        else:
            yield (*prev, "-U")
            yield (*value, "+U")


__all__ = ["ProcTimeKeepFirst", "ProcTimeKeepLast", "RowTimeKeepFirst", "RowTimeKeepLast"]
