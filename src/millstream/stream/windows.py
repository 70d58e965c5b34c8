"""Windows: window types, assigners, triggers and evictors (PyFlink names; formulas from SEMANTICS.md).

Assigners are frozen descriptions built with PyFlink's factories (``TumblingEventTimeWindows.of(size[,
offset])``, ``SlidingEventTimeWindows.of(size, slide[, offset])``, ``EventTimeSessionWindows.with_gap(gap)``
...). Sizes, slides, gaps and offsets accept ``Duration``, ``Time``, ``timedelta`` or int milliseconds and
are validated when built. Triggers decide when a window fires; their logic follows Flink's built-in
triggers exactly (``EventTimeTrigger`` fires again at once for an element added to an already-fired window).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from .errors import JobConfigError
from .time import MAX_WATERMARK, to_millis

T = TypeVar("T")
W = TypeVar("W")


class TimeWindow(NamedTuple):
    """A half-open window ``[start, end)``; ``max_timestamp() == end - 1``."""

    start: int
    end: int

    def max_timestamp(self) -> int:
        return self.end - 1

    def intersects(self, other: TimeWindow) -> bool:
        return self.start <= other.end and self.end >= other.start

    def cover(self, other: TimeWindow) -> TimeWindow:
        return TimeWindow(min(self.start, other.start), max(self.end, other.end))

    def __repr__(self) -> str:
        return f"TimeWindow(start={self.start}, end={self.end})"


class GlobalWindow:
    """The single window of :class:`GlobalWindows`; it never ends."""

    _instance: GlobalWindow | None = None

    def __new__(cls) -> GlobalWindow:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    @staticmethod
    def get() -> GlobalWindow:
        return GlobalWindow()

    def max_timestamp(self) -> int:
        return MAX_WATERMARK

    def __reduce__(self) -> Any:
        return (GlobalWindow, ())

    def __repr__(self) -> str:
        return "GlobalWindow"


class CountWindow(NamedTuple):
    """A count window's id (PyFlink exposes one; millstream's count windows use :class:`GlobalWindow`)."""

    id: int

    def max_timestamp(self) -> int:
        return MAX_WATERMARK


def window_start(ts: int, offset: int, size: int) -> int:
    """Start of the tumbling/sliding window (step ``size``) containing ``ts``; correct for negative ts."""
    return ts - (ts - offset) % size


# -- triggers -----------------------------------------------------------------------------------------


class TriggerResult:
    """What a trigger decides: continue, fire, purge, or both."""

    CONTINUE = (False, False)
    FIRE = (True, False)
    PURGE = (False, True)
    FIRE_AND_PURGE = (True, True)


class _TriggerContext:
    """What a trigger's methods get (``Trigger.TriggerContext``, for annotations)."""

    def get_current_processing_time(self) -> int:
        raise NotImplementedError

    def get_current_watermark(self) -> int:
        raise NotImplementedError

    def register_processing_time_timer(self, time: int) -> None:
        raise NotImplementedError

    def register_event_time_timer(self, time: int) -> None:
        raise NotImplementedError

    def delete_processing_time_timer(self, time: int) -> None:
        raise NotImplementedError

    def delete_event_time_timer(self, time: int) -> None:
        raise NotImplementedError

    def get_partitioned_state(self, state_descriptor: Any) -> Any:
        raise NotImplementedError


class _OnMergeContext(_TriggerContext):
    """What ``on_merge`` gets (``Trigger.OnMergeContext``): also ``merge_partitioned_state``."""

    def merge_partitioned_state(self, state_descriptor: Any) -> None:
        raise NotImplementedError


class Trigger(Generic[T, W]):
    """Decides when a window fires. ``ctx`` offers ``register_event_time_timer``,
    ``register_processing_time_timer``, ``delete_*``, ``get_current_watermark``,
    ``get_current_processing_time`` and ``get_partitioned_state(descriptor)`` (state per key and window).
    Subscriptable as in PyFlink (``class MyTrigger(Trigger[tuple, TimeWindow])``)."""

    TriggerContext = _TriggerContext
    OnMergeContext = _OnMergeContext

    def on_element(self, element: Any, timestamp: int | None, window: Any, ctx: Any) -> tuple[bool, bool]:
        raise NotImplementedError

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        raise NotImplementedError

    def on_event_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        raise NotImplementedError

    def can_merge(self) -> bool:
        return False

    def on_merge(self, window: Any, ctx: Any) -> None:
        raise JobConfigError(f"{type(self).__name__} does not support merging windows")

    def clear(self, window: Any, ctx: Any) -> None:
        pass


class EventTimeTrigger(Trigger):
    """Fires when the watermark passes ``window.max_timestamp()``; fires at once for late additions."""

    @staticmethod
    def create() -> EventTimeTrigger:
        return EventTimeTrigger()

    def on_element(self, element: Any, timestamp: int | None, window: Any, ctx: Any) -> tuple[bool, bool]:
        mt = window.max_timestamp()
        if mt <= ctx.get_current_watermark():
            return TriggerResult.FIRE
        ctx.register_event_time_timer(mt)
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.FIRE if time == window.max_timestamp() else TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Any) -> None:
        mt = window.max_timestamp()
        if mt > ctx.get_current_watermark():
            ctx.register_event_time_timer(mt)

    def clear(self, window: Any, ctx: Any) -> None:
        ctx.delete_event_time_timer(window.max_timestamp())

    def __eq__(self, other: object) -> bool:
        return type(other) is EventTimeTrigger

    def __hash__(self) -> int:
        return hash("EventTimeTrigger")


class ProcessingTimeTrigger(Trigger):
    """Fires when processing time reaches ``window.max_timestamp()``."""

    @staticmethod
    def create() -> ProcessingTimeTrigger:
        return ProcessingTimeTrigger()

    def on_element(self, element: Any, timestamp: int | None, window: Any, ctx: Any) -> tuple[bool, bool]:
        ctx.register_processing_time_timer(window.max_timestamp())
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.FIRE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Any) -> None:
        mt = window.max_timestamp()
        if mt > ctx.get_current_processing_time():
            ctx.register_processing_time_timer(mt)

    def clear(self, window: Any, ctx: Any) -> None:
        ctx.delete_processing_time_timer(window.max_timestamp())


def _java_rem(a: int, b: int) -> int:
    """Java's ``a % b`` (the sign of ``a``), which Flink's continuous triggers use."""
    r = abs(a) % b
    return -r if a < 0 else r


class ContinuousEventTimeTrigger(Trigger):
    """Fires every ``interval`` of event time within a window, and at its end (Flink's
    ``ContinuousEventTimeTrigger.of(interval)``); the first firing is aligned to ``ts - ts % interval``."""

    def __init__(self, interval: int) -> None:
        self.interval = interval

    @staticmethod
    def of(interval: Any) -> ContinuousEventTimeTrigger:
        return ContinuousEventTimeTrigger(_positive(interval, "trigger interval"))

    def _next(self, time: int, window: Any, ctx: Any) -> None:
        nxt = min(time + self.interval, window.max_timestamp())
        cur = ctx.trigger_state("fire")
        ctx.set_trigger_state("fire", nxt if cur is None else min(cur, nxt))
        ctx.register_event_time_timer(nxt)

    def on_element(self, element: Any, timestamp: int | None, window: Any, ctx: Any) -> tuple[bool, bool]:
        if window.max_timestamp() <= ctx.get_current_watermark():
            return TriggerResult.FIRE
        ctx.register_event_time_timer(window.max_timestamp())
        if ctx.trigger_state("fire") is None:
            ts = int(timestamp or 0)
            self._next(ts - _java_rem(ts, self.interval), window, ctx)
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        if time == window.max_timestamp():
            return TriggerResult.FIRE
        if ctx.trigger_state("fire") == time:
            ctx.set_trigger_state("fire", None)
            self._next(time, window, ctx)
            return TriggerResult.FIRE
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Any) -> None:
        ctx.merge_trigger_state("fire", min)
        nxt = ctx.trigger_state("fire")
        if nxt is not None:
            ctx.register_event_time_timer(nxt)

    def clear(self, window: Any, ctx: Any) -> None:
        t = ctx.trigger_state("fire")
        if t is not None:
            ctx.delete_event_time_timer(t)
            ctx.set_trigger_state("fire", None)


class ContinuousProcessingTimeTrigger(Trigger):
    """Fires every ``interval`` of processing time within a window (Flink's
    ``ContinuousProcessingTimeTrigger.of(interval)``)."""

    def __init__(self, interval: int) -> None:
        self.interval = interval

    @staticmethod
    def of(interval: Any) -> ContinuousProcessingTimeTrigger:
        return ContinuousProcessingTimeTrigger(_positive(interval, "trigger interval"))

    def _next(self, time: int, window: Any, ctx: Any) -> None:
        nxt = min(time + self.interval, window.max_timestamp())
        ctx.set_trigger_state("fire", nxt)
        ctx.register_processing_time_timer(nxt)

    def on_element(self, element: Any, timestamp: int | None, window: Any, ctx: Any) -> tuple[bool, bool]:
        if ctx.trigger_state("fire") is None:
            now = ctx.get_current_processing_time()
            self._next(now - _java_rem(now, self.interval), window, ctx)
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        if ctx.trigger_state("fire") == time:
            ctx.set_trigger_state("fire", None)
            self._next(time, window, ctx)
            return TriggerResult.FIRE
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Any) -> None:
        ctx.merge_trigger_state("fire", min)
        nxt = ctx.trigger_state("fire")
        if nxt is not None:
            ctx.register_processing_time_timer(nxt)

    def clear(self, window: Any, ctx: Any) -> None:
        t = ctx.trigger_state("fire")
        if t is not None:
            ctx.delete_processing_time_timer(t)
            ctx.set_trigger_state("fire", None)


class CountTrigger(Trigger):
    """Fires every ``count`` elements added to a window (``CountTrigger.of(n)``)."""

    def __init__(self, count: int) -> None:
        if not isinstance(count, int) or count <= 0:
            raise JobConfigError(f"CountTrigger needs a positive count, got {count!r}")
        self.count = count

    @staticmethod
    def of(count: int) -> CountTrigger:
        return CountTrigger(count)

    def on_element(self, element: Any, timestamp: int | None, window: Any, ctx: Any) -> tuple[bool, bool]:
        n = ctx.trigger_state("count", 0) + 1
        if n >= self.count:
            ctx.set_trigger_state("count", 0)
            return TriggerResult.FIRE
        ctx.set_trigger_state("count", n)
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Any) -> None:
        ctx.merge_trigger_state("count", lambda a, b: a + b)

    def clear(self, window: Any, ctx: Any) -> None:
        ctx.set_trigger_state("count", None)


class PurgingTrigger(Trigger):
    """Wraps a trigger and turns every FIRE into FIRE_AND_PURGE (``PurgingTrigger.of(trigger)``)."""

    def __init__(self, nested: Trigger) -> None:
        self.nested = nested

    @staticmethod
    def of(nested: Trigger) -> PurgingTrigger:
        return PurgingTrigger(nested)

    @staticmethod
    def _purge(r: tuple[bool, bool]) -> tuple[bool, bool]:
        return TriggerResult.FIRE_AND_PURGE if r[0] else r

    def on_element(self, element: Any, timestamp: int | None, window: Any, ctx: Any) -> tuple[bool, bool]:
        return self._purge(self.nested.on_element(element, timestamp, window, ctx))

    def on_event_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return self._purge(self.nested.on_event_time(time, window, ctx))

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return self._purge(self.nested.on_processing_time(time, window, ctx))

    def can_merge(self) -> bool:
        return self.nested.can_merge()

    def on_merge(self, window: Any, ctx: Any) -> None:
        self.nested.on_merge(window, ctx)

    def clear(self, window: Any, ctx: Any) -> None:
        self.nested.clear(window, ctx)


class NeverTrigger(Trigger):
    """The default trigger of :class:`GlobalWindows`: never fires."""

    def on_element(self, element: Any, timestamp: int | None, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Any) -> None:
        pass


# -- evictors -----------------------------------------------------------------------------------------


class TimestampedValue(NamedTuple):
    """A window element with its timestamp (``None``: it has none), as Flink's evictors see elements: what
    an evictor with ``timestamped = True`` gets and returns."""

    value: Any
    timestamp: int | None

    def get_value(self) -> Any:
        return self.value

    def get_timestamp(self) -> int | None:
        return self.timestamp

    def has_timestamp(self) -> bool:
        return self.timestamp is not None


class Evictor(Generic[T, W]):
    """Removes elements from a window's contents before (or after) the window function runs. What it keeps
    stays in the window's contents (when the trigger does not purge it). ``elements`` are the values, or
    :class:`TimestampedValue` s when the class sets ``timestamped = True``; either way in arrival order."""

    timestamped = False

    def evict_before(self, elements: list[Any], size: int, window: Any, ctx: Any) -> list[Any]:
        return elements

    def evict_after(self, elements: list[Any], size: int, window: Any, ctx: Any) -> list[Any]:
        return elements


class CountEvictor(Evictor):
    """Keeps the last ``max_count`` elements (``CountEvictor.of(n[, do_evict_after])``)."""

    def __init__(self, max_count: int, do_evict_after: bool = False) -> None:
        if not isinstance(max_count, int) or max_count <= 0:
            raise JobConfigError(f"CountEvictor needs a positive count, got {max_count!r}")
        self.max_count = max_count
        self.do_evict_after = do_evict_after

    @staticmethod
    def of(max_count: int, do_evict_after: bool = False) -> CountEvictor:
        return CountEvictor(max_count, do_evict_after)

    def evict_before(self, elements: list[Any], size: int, window: Any, ctx: Any) -> list[Any]:
        return elements if self.do_evict_after else elements[-self.max_count :]

    def evict_after(self, elements: list[Any], size: int, window: Any, ctx: Any) -> list[Any]:
        return elements[-self.max_count :] if self.do_evict_after else elements


class DeltaEvictor(Evictor[Any, Any]):
    """Flink's ``DeltaEvictor.of(threshold, delta_function[, do_evict_after])``: evicts every element whose
    ``delta_function(element, last_element)`` (a callable or an object with ``get_delta``) is at least
    ``threshold``, ``last_element`` being the window's newest element; before the window function, or after
    it with ``do_evict_after``."""

    def __init__(self, threshold: float, delta_function: Any, do_evict_after: bool = False) -> None:
        fn = getattr(delta_function, "get_delta", delta_function)
        if not callable(fn):
            raise JobConfigError("DeltaEvictor needs a delta function: a callable (a, b) -> float or get_delta(a, b)")
        self.threshold = threshold
        self.delta = fn
        self.do_evict_after = do_evict_after

    @staticmethod
    def of(threshold: float, delta_function: Any, do_evict_after: bool = False) -> DeltaEvictor:
        return DeltaEvictor(threshold, delta_function, do_evict_after)

    def _evict(self, elements: list[Any]) -> list[Any]:
        if not elements:
            return elements
        last = elements[-1]
        return [e for e in elements if self.delta(e, last) < self.threshold]

    def evict_before(self, elements: list[Any], size: int, window: Any, ctx: Any) -> list[Any]:
        return elements if self.do_evict_after else self._evict(elements)

    def evict_after(self, elements: list[Any], size: int, window: Any, ctx: Any) -> list[Any]:
        return self._evict(elements) if self.do_evict_after else elements


class TimeEvictor(Evictor[Any, Any]):
    """Flink's ``TimeEvictor.of(window_size[, do_evict_after])``: with ``max_ts`` the largest timestamp among
    the window's elements, evicts every element whose timestamp is ``<= max_ts - window_size`` (keeps the
    last ``window_size`` of event time), before the window function, or after it with ``do_evict_after``.
    Elements without timestamps (processing-time windows over unstamped elements) are never evicted, as in
    Flink (which looks at the first element's timestamp)."""

    timestamped = True

    def __init__(self, window_size: Any, do_evict_after: bool = False) -> None:
        size = to_millis(window_size)
        if size < 0:
            raise JobConfigError(f"TimeEvictor needs a window size >= 0, got {window_size!r}")
        self.window_size = size
        self.do_evict_after = do_evict_after

    @staticmethod
    def of(window_size: Any, do_evict_after: bool = False) -> TimeEvictor:
        return TimeEvictor(window_size, do_evict_after)

    def _evict(self, elements: list[TimestampedValue]) -> list[TimestampedValue]:
        if not elements or elements[0].timestamp is None:
            return elements
        cutoff = max(e.timestamp for e in elements if e.timestamp is not None) - self.window_size
        return [e for e in elements if e.timestamp is None or e.timestamp > cutoff]

    def evict_before(self, elements: list[Any], size: int, window: Any, ctx: Any) -> list[Any]:
        return elements if self.do_evict_after else self._evict(elements)

    def evict_after(self, elements: list[Any], size: int, window: Any, ctx: Any) -> list[Any]:
        return self._evict(elements) if self.do_evict_after else elements


# -- assigners ----------------------------------------------------------------------------------------


def _positive(value: Any, what: str) -> int:
    ms = to_millis(value, what)
    if ms <= 0:
        raise JobConfigError(f"window {what} must be positive, got {ms} ms", hint="use a size/gap of at least 1 ms")
    return ms


def _offset(offset: Any, bound: int, what: str) -> int:
    ms = to_millis(offset, "window offset")
    if abs(ms) >= bound:
        raise JobConfigError(
            f"window offset {ms} ms must be smaller in absolute value than the window {what} ({bound} ms)",
            hint=f"use an offset between -{bound - 1} and {bound - 1}",
        )
    return ms


class WindowAssigner(Generic[T, W]):
    """Assigns an element to windows. ``assign_windows(element, timestamp, now) -> list of windows``."""

    is_event_time = True
    is_merging = False

    def assign_windows(self, element: Any, timestamp: Any, now: int) -> list[Any]:
        raise NotImplementedError

    def get_default_trigger(self) -> Trigger:
        raise NotImplementedError


@dataclass(frozen=True)
class TumblingEventTimeWindows(WindowAssigner):
    """Fixed-size, non-overlapping event-time windows: ``start = ts - (ts - offset) % size``."""

    size: int
    offset: int = 0

    @staticmethod
    def of(size: Any, offset: Any = 0) -> TumblingEventTimeWindows:
        s = _positive(size, "size")
        return TumblingEventTimeWindows(s, _offset(offset, s, "size"))

    def assign_windows(self, element: Any, timestamp: Any, now: int) -> list[Any]:
        start = timestamp - (timestamp - self.offset) % self.size
        return [TimeWindow(start, start + self.size)]

    def get_default_trigger(self) -> Trigger:
        return EventTimeTrigger()


@dataclass(frozen=True)
class SlidingEventTimeWindows(WindowAssigner):
    """Windows of ``size`` starting every ``slide``; an element is in ⌈size/slide⌉ of them (none in a gap)."""

    size: int
    slide: int
    offset: int = 0

    @staticmethod
    def of(size: Any, slide: Any, offset: Any = 0) -> SlidingEventTimeWindows:
        s = _positive(size, "size")
        sl = _positive(slide, "slide")
        return SlidingEventTimeWindows(s, sl, _offset(offset, sl, "slide"))

    def assign_windows(self, element: Any, timestamp: Any, now: int) -> list[Any]:
        size, slide = self.size, self.slide
        last = timestamp - (timestamp - self.offset) % slide
        out = []
        s = last
        while s > timestamp - size:
            out.append(TimeWindow(s, s + size))
            s -= slide
        return out

    def get_default_trigger(self) -> Trigger:
        return EventTimeTrigger()


@dataclass(frozen=True)
class EventTimeSessionWindows(WindowAssigner):
    """Session windows: ``[ts, ts + gap)`` merged per key while they overlap or touch."""

    gap: int = 0
    gap_extractor: Callable[[Any], Any] | None = None

    is_merging = True

    @staticmethod
    def with_gap(gap: Any) -> EventTimeSessionWindows:
        return EventTimeSessionWindows(_positive(gap, "gap"))

    @staticmethod
    def with_dynamic_gap(extractor: Any) -> EventTimeSessionWindows:
        fn = getattr(extractor, "extract", extractor)
        if not callable(fn):
            raise JobConfigError("a session gap extractor must be callable or have an extract(element) method")
        return EventTimeSessionWindows(0, fn)

    def gap_for(self, element: Any) -> int:
        if self.gap_extractor is None:
            return self.gap
        gap = to_millis(self.gap_extractor(element), "session gap")
        if gap <= 0:
            raise JobConfigError(f"the dynamic session gap must be positive, got {gap} ms for {element!r}")
        return gap

    def assign_windows(self, element: Any, timestamp: Any, now: int) -> list[Any]:
        return [TimeWindow(timestamp, timestamp + self.gap_for(element))]

    def get_default_trigger(self) -> Trigger:
        return EventTimeTrigger()


@dataclass(frozen=True)
class TumblingProcessingTimeWindows(WindowAssigner):
    """Tumbling windows over processing time (the clock when the element arrives)."""

    size: int
    offset: int = 0
    is_event_time = False

    @staticmethod
    def of(size: Any, offset: Any = 0) -> TumblingProcessingTimeWindows:
        s = _positive(size, "size")
        return TumblingProcessingTimeWindows(s, _offset(offset, s, "size"))

    def assign_windows(self, element: Any, timestamp: Any, now: int) -> list[Any]:
        start = now - (now - self.offset) % self.size
        return [TimeWindow(start, start + self.size)]

    def get_default_trigger(self) -> Trigger:
        return ProcessingTimeTrigger()


@dataclass(frozen=True)
class SlidingProcessingTimeWindows(WindowAssigner):
    """Sliding windows over processing time."""

    size: int
    slide: int
    offset: int = 0
    is_event_time = False

    @staticmethod
    def of(size: Any, slide: Any, offset: Any = 0) -> SlidingProcessingTimeWindows:
        s = _positive(size, "size")
        sl = _positive(slide, "slide")
        return SlidingProcessingTimeWindows(s, sl, _offset(offset, sl, "slide"))

    def assign_windows(self, element: Any, timestamp: Any, now: int) -> list[Any]:
        return SlidingEventTimeWindows(self.size, self.slide, self.offset).assign_windows(element, now, now)

    def get_default_trigger(self) -> Trigger:
        return ProcessingTimeTrigger()


@dataclass(frozen=True)
class ProcessingTimeSessionWindows(WindowAssigner):
    """Session windows over processing time."""

    gap: int = 0
    gap_extractor: Callable[[Any], Any] | None = None
    is_event_time = False
    is_merging = True

    @staticmethod
    def with_gap(gap: Any) -> ProcessingTimeSessionWindows:
        return ProcessingTimeSessionWindows(_positive(gap, "gap"))

    @staticmethod
    def with_dynamic_gap(extractor: Any) -> ProcessingTimeSessionWindows:
        return ProcessingTimeSessionWindows(0, getattr(extractor, "extract", extractor))

    def assign_windows(self, element: Any, timestamp: Any, now: int) -> list[Any]:
        gap = self.gap if self.gap_extractor is None else to_millis(self.gap_extractor(element), "session gap")
        if gap <= 0:
            raise JobConfigError(f"the dynamic session gap must be positive, got {gap} ms for {element!r}")
        return [TimeWindow(now, now + gap)]

    def get_default_trigger(self) -> Trigger:
        return ProcessingTimeTrigger()


@dataclass(frozen=True)
class GlobalWindows(WindowAssigner):
    """One window per key that never ends; pair with a trigger (default: never fires)."""

    is_event_time = False

    @staticmethod
    def create() -> GlobalWindows:
        return GlobalWindows()

    def assign_windows(self, element: Any, timestamp: Any, now: int) -> list[Any]:
        return [GlobalWindow()]

    def get_default_trigger(self) -> Trigger:
        return NeverTrigger()


def merge_windows(windows: list[TimeWindow]) -> list[tuple[TimeWindow, list[TimeWindow]]]:
    """Group overlapping/touching windows: returns ``(cover, members)`` for every group (Flink's
    ``TimeWindow.mergeWindows``: sorted by start, merged while ``a.start <= b.end and a.end >= b.start``)."""
    out: list[tuple[TimeWindow, list[TimeWindow]]] = []
    cur: TimeWindow | None = None
    members: list[TimeWindow] = []
    for w in sorted(windows):
        if cur is None:
            cur, members = w, [w]
        elif cur.intersects(w):
            cur = cur.cover(w)
            members.append(w)
        else:
            out.append((cur, members))
            cur, members = w, [w]
    if cur is not None:
        out.append((cur, members))
    return out


class MergeResult(NamedTuple):
    """What :func:`add_to_merging_set` did: the window the new one is part of now, the windows merged into it
    (empty when none were), the state window whose state the merged ones' state goes to, those state windows,
    and whether the mapping changed (to store again, where it is kept in state)."""

    window: Any
    merged: list[Any]
    state_window: Any
    merged_states: list[Any]
    changed: bool


def add_to_merging_set(mapping: dict[Any, Any], new: Any, is_late: Callable[[Any], bool]) -> MergeResult | None:
    """Add window ``new`` to one key's merging window set ``mapping`` (window -> the window its state is kept
    under, changed in place) as Flink's ``MergingWindowSet.addWindow`` does: it merges with every window it
    overlaps or touches into their cover, whose state stays where the first of them kept it. ``None`` when the
    window it would be part of is late (``is_late``): nothing changes then. The caller merges the triggers'
    and the contents' state of ``merged`` (when there are any)."""
    overlapping = [w for w in mapping if w.start <= new.end and w.end >= new.start]
    if not overlapping:
        if is_late(new):
            return None
        mapping[new] = new
        return MergeResult(new, [], new, [], True)
    cover = new
    for w in overlapping:
        cover = cover.cover(w)
    if is_late(cover):
        return None
    if len(overlapping) == 1 and overlapping[0] == cover:
        return MergeResult(cover, [], mapping[cover], [], False)
    state_window = mapping[overlapping[0]]
    merged_states = [mapping.pop(w) for w in overlapping]
    mapping[cover] = state_window
    merged_states.remove(state_window)
    return MergeResult(cover, overlapping, state_window, merged_states, True)


__all__ = [
    "ContinuousEventTimeTrigger",
    "ContinuousProcessingTimeTrigger",
    "CountEvictor",
    "CountTrigger",
    "CountWindow",
    "DeltaEvictor",
    "EventTimeSessionWindows",
    "EventTimeTrigger",
    "Evictor",
    "GlobalWindow",
    "GlobalWindows",
    "MergeResult",
    "NeverTrigger",
    "ProcessingTimeSessionWindows",
    "ProcessingTimeTrigger",
    "PurgingTrigger",
    "SlidingEventTimeWindows",
    "SlidingProcessingTimeWindows",
    "TimeEvictor",
    "TimeWindow",
    "TimestampedValue",
    "Trigger",
    "TriggerResult",
    "TumblingEventTimeWindows",
    "TumblingProcessingTimeWindows",
    "WindowAssigner",
    "add_to_merging_set",
    "merge_windows",
    "window_start",
]
