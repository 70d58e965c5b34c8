"""Window table-valued functions (``TUMBLE``, ``HOP``, ``CUMULATE``, ``SESSION``) as DataStream window
assigners, and the per-row window columns of a TVF used without aggregation.

Flink's argument order: ``TUMBLE(TABLE t, DESCRIPTOR(ts), size[, offset])``, ``HOP(TABLE t,
DESCRIPTOR(ts), slide, size[, offset])``, ``CUMULATE(TABLE t, DESCRIPTOR(ts), step, size[, offset])``,
``SESSION(TABLE t [PARTITION BY k], DESCRIPTOR(ts), gap)``. Windows add ``window_start``, ``window_end``
and ``window_time`` (= ``window_end - 1 ms``, the new time attribute).

Over a processing-time attribute (``pt AS PROCTIME()``), ``TUMBLE``, ``HOP`` and ``SESSION`` windows are those of
the wall clock when a row reaches the window aggregation (Flink's processing-time windows): each row counts in
the windows of that instant, and a window fires when the clock passes its end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..stream.windows import (
    EventTimeSessionWindows,
    EventTimeTrigger,
    ProcessingTimeSessionWindows,
    SlidingEventTimeWindows,
    SlidingProcessingTimeWindows,
    TimeWindow,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
    WindowAssigner,
)
from .dialect import WindowTVF
from .expressions import fail, interval_ms


@dataclass(frozen=True)
class CumulativeEventTimeWindows(WindowAssigner):
    """Flink's cumulating windows: for each ``size``-aligned period, windows ``[start, start + step * k)``
    for ``k = 1 .. size / step``; a row is in every one of them that ends after it."""

    step: int
    size: int
    offset: int = 0

    def assign_windows(self, element: Any, timestamp: Any, now: int) -> list[Any]:
        start = timestamp - (timestamp - self.offset) % self.size
        first = timestamp - (timestamp - self.offset) % self.step + self.step
        return [TimeWindow(start, end) for end in range(first, start + self.size + 1, self.step)]

    def get_default_trigger(self) -> EventTimeTrigger:
        return EventTimeTrigger()


class LocalTimeWindows(WindowAssigner):
    """Windows of a ``TIMESTAMP_LTZ`` time attribute, aligned in the session time zone as Flink aligns them
    (a 1-day ``TUMBLE`` starts at local midnight): ``inner`` assigns on the local wall-clock time, and the
    windows it returns are moved back to instants, so they fire when the watermark passes their real end.
    Uses the zone's offset at each row's time (a window spanning a DST change is shifted by the row's offset).
    """

    def __init__(self, inner: WindowAssigner, tz: dt.tzinfo) -> None:
        self.inner = inner
        self.offset_of = utc_offset_ms(tz)
        self.is_merging = inner.is_merging

    def assign_windows(self, element: Any, timestamp: Any, now: int) -> list[Any]:
        off = self.offset_of(timestamp)
        return [
            TimeWindow(w.start - off, w.end - off) for w in self.inner.assign_windows(element, timestamp + off, now)
        ]

    def get_default_trigger(self) -> Any:
        return self.inner.get_default_trigger()


def utc_offset_ms(tz: dt.tzinfo) -> Callable[[int], int]:
    """``ms -> the zone's UTC offset in ms at that instant``."""

    def offset(ms: int) -> int:
        delta = dt.datetime.fromtimestamp(ms / 1000, tz).utcoffset()
        return 0 if delta is None else int(delta.total_seconds() * 1000)

    return offset


@dataclass(frozen=True)
class WindowSpec:
    """A parsed window TVF: ``kind`` and its assigner; ``partition_by`` for ``SESSION``."""

    kind: str
    assigner: WindowAssigner
    time_column: str
    partition_by: tuple[str, ...] = ()
    proctime: bool = False
    """Over a processing-time attribute: windows by the wall clock when rows reach the window operator."""

    def processing_time_assigner(self) -> WindowAssigner:
        """The processing-time assigner of the same windows (``TUMBLE``, ``HOP``, ``SESSION``)."""
        a = self.assigner
        if isinstance(a, TumblingEventTimeWindows):
            return TumblingProcessingTimeWindows(a.size, a.offset)
        if isinstance(a, SlidingEventTimeWindows):
            return SlidingProcessingTimeWindows(a.size, a.slide, a.offset)
        if isinstance(a, EventTimeSessionWindows):
            return ProcessingTimeSessionWindows(a.gap)
        raise ValueError(f"{self.kind} has no processing-time windows")

    def windows_of(self, ts: int) -> list[TimeWindow]:
        """The windows of a row at ``ts`` (for the TVF without aggregation)."""
        return list(self.assigner.assign_windows(None, ts, 0))


def window_spec(node: WindowTVF) -> WindowSpec:
    kind = node.name.upper() if node.this is None else node.this.name.upper()
    args = [interval_ms(a) for a in node.expressions]
    want = {"TUMBLE": (1, 2), "HOP": (2, 3), "CUMULATE": (2, 3), "SESSION": (1, 1)}[kind]
    if not want[0] <= len(args) <= want[1]:
        usage = {
            "TUMBLE": "TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)",
            "HOP": "HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '5' MINUTE) (slide, then size)",
            "CUMULATE": "CUMULATE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '1' HOUR) (step, then size)",
            "SESSION": "SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), INTERVAL '5' MINUTE)",
        }[kind]
        raise fail(node, f"{kind} takes {want[0]} to {want[1]} interval arguments, got {len(args)}", hint=usage)
    for a, v in zip(node.expressions, args, strict=True):
        if v <= 0:
            raise fail(a, f"window intervals must be positive, got {a.sql()}")
    column = node.args["descriptor"].name
    partition = tuple(c.name for c in node.args.get("partition_by") or [])
    if kind == "TUMBLE":
        return WindowSpec(kind, TumblingEventTimeWindows.of(args[0], args[1] if len(args) > 1 else 0), column)
    if kind == "HOP":
        slide, size = args[0], args[1]
        if size % slide:
            raise fail(node, f"HOP size ({size} ms) must be a multiple of its slide ({slide} ms)")
        return WindowSpec(kind, SlidingEventTimeWindows.of(size, slide, args[2] if len(args) > 2 else 0), column)
    if kind == "CUMULATE":
        step, size = args[0], args[1]
        if size % step:
            raise fail(node, f"CUMULATE size ({size} ms) must be a multiple of its step ({step} ms)")
        return WindowSpec(kind, CumulativeEventTimeWindows(step, size, args[2] if len(args) > 2 else 0), column)
    return WindowSpec(kind, EventTimeSessionWindows.with_gap(args[0]), column, partition)


__all__ = ["CumulativeEventTimeWindows", "LocalTimeWindows", "WindowSpec", "utc_offset_ms", "window_spec"]
