"""Windows with evictors beyond the parity suite's five evictor cases, built with millstream's API: sliding and
session windows, allowed lateness with late firings and a late side output, built-in triggers other than the
default (count, purging, continuous), reduce and aggregate over the evicted contents, ``window_all``, non-keyed
count windows (``count_window_all``), a window join and a user-written evictor; and user-written triggers (with
per-window ``get_partitioned_state``, timers registered and deleted, merging sessions, purging), with an evictor
or none.
``tests/flink/test_evicting_on_flink.py`` runs each on millstream's engine and through ``--engine flink``'s
translation (``flink_side.py``, item ``{"pipeline": name}``) at parallelism 1 and 2, and compares rows and
record timestamps.

Inputs are :func:`tests.parity.cases.gen_stream`'s (``(key, ts, value)``, ``value`` unique), with late bursts
where the pipeline has allowed lateness or a late side output; per key, elements reach the window in source
order at any parallelism (one collection source, hash partitioning), so the rows are deterministic, and so
are the element orders that ``CountEvictor`` and ``DeltaEvictor`` look at. A window join's inputs are never
late and its evictor looks at timestamps only (the interleaving of two inputs is not deterministic).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from millstream import Duration, OutputTag, StreamExecutionEnvironment
from millstream.common import Types
from millstream.state import ReducingStateDescriptor, ValueStateDescriptor
from millstream.windows import (
    ContinuousEventTimeTrigger,
    CountEvictor,
    CountTrigger,
    DeltaEvictor,
    EventTimeSessionWindows,
    Evictor,
    GlobalWindows,
    PurgingTrigger,
    SlidingEventTimeWindows,
    TimeEvictor,
    Trigger,
    TriggerResult,
    TumblingEventTimeWindows,
)
from tests.parity.cases import gen_stream
from tests.parity.millstream_side import (
    CountFormat,
    ValuesAggregate,
    ValuesWindowFormat,
    WindowFormat,
    WindowJoinFormat,
    _key,
    _source,
)

DELAY = 5


def _rows(seed: int, *, late: bool = True, n: int = 50, first_value: int = 0) -> list[tuple[str, int, int]]:
    rng = random.Random(seed)
    if late:
        return gen_stream(
            rng,
            n,
            keys=2,
            origin=-25,
            max_step=3,
            delay=DELAY,
            late_p=0.15,
            late_span=25,
            burst=3,
            first_value=first_value,
        )
    return gen_stream(rng, n, keys=2, origin=-25, max_step=3, delay=DELAY, first_value=first_value)


def _ms(n: int) -> Duration:
    return Duration.of_millis(n)


def _ts_delta(a: Any, b: Any) -> float:
    return abs(a[1] - b[1])


class _AllWindowFormat:
    """``["a", start, end, sorted values]`` for each firing of a ``window_all``."""

    def process(self, context: Any, elements: Iterable[Any]) -> Iterable[Any]:
        window = context.window()
        yield ["a", window.start, window.end, sorted(e[2] for e in elements)]


class EvenValuesEvictor(Evictor):
    """A user-written evictor: before the window function, keeps the elements with an even value; after
    it, the last three."""

    def evict_before(self, elements: list[Any], size: int, window: Any, ctx: Any) -> list[Any]:
        return [e for e in elements if e[2] % 2 == 0]

    def evict_after(self, elements: list[Any], size: int, window: Any, ctx: Any) -> list[Any]:
        return elements[-3:]


def _with_late(env: StreamExecutionEnvironment, seed: int, make: Callable[[Any], Any], lateness: int) -> list[Any]:
    """The keyed stream of ``seed``'s rows windowed by ``make``, with ``lateness`` and a late side output."""
    tag = OutputTag("late")
    windowed = make(_source(env, _rows(seed), DELAY).key_by(_key)).allowed_lateness(lateness)
    result = windowed.side_output_late_data(tag).process(WindowFormat())
    return [result, result.get_side_output(tag).map(lambda e: ["late", e[0], e[1], e[2]])]


def sliding_time_after_late(env: StreamExecutionEnvironment) -> list[Any]:
    """Sliding windows, ``TimeEvictor`` after the function, late firings see what it kept."""
    return _with_late(
        env,
        101,
        lambda k: k.window(SlidingEventTimeWindows.of(_ms(10), _ms(4))).evictor(TimeEvictor.of(_ms(3), True)),
        8,
    )


def session_delta_late(env: StreamExecutionEnvironment) -> list[Any]:
    """Session windows (merging element lists, late elements bridging sessions), ``DeltaEvictor`` before."""
    return _with_late(
        env,
        102,
        lambda k: k.window(EventTimeSessionWindows.with_gap(_ms(4))).evictor(DeltaEvictor.of(6, _ts_delta)),
        10,
    )


def session_count_after_late(env: StreamExecutionEnvironment) -> list[Any]:
    """Session windows with ``CountEvictor(2)`` after the function (late firings see the last two)."""
    return _with_late(
        env,
        103,
        lambda k: k.window(EventTimeSessionWindows.with_gap(_ms(3))).evictor(CountEvictor.of(2, True)),
        6,
    )


def tumbling_count_trigger_late(env: StreamExecutionEnvironment) -> list[Any]:
    """Tumbling windows fired by ``CountTrigger(3)``, ``TimeEvictor`` before, cleaned up after the lateness."""
    return _with_late(
        env,
        104,
        lambda k: (
            k.window(TumblingEventTimeWindows.of(_ms(15))).trigger(CountTrigger.of(3)).evictor(TimeEvictor.of(_ms(4)))
        ),
        5,
    )


def tumbling_continuous_purging(env: StreamExecutionEnvironment) -> list[Any]:
    """A purging continuous event-time trigger (a firing every 5 ms of event time empties the window)."""
    keyed = _source(env, _rows(105, late=False), DELAY).key_by(_key)
    windowed = (
        keyed.window(TumblingEventTimeWindows.of(_ms(20)))
        .trigger(PurgingTrigger.of(ContinuousEventTimeTrigger.of(_ms(5))))
        .evictor(CountEvictor.of(3))
    )
    return [windowed.process(WindowFormat())]


def sliding_reduce(env: StreamExecutionEnvironment) -> list[Any]:
    """``reduce`` (with a window function) over what ``CountEvictor(2)`` left of sliding windows."""
    # elements carry the tuple of values they stand for from the source on: a map before key_by would run with
    # the job's parallelism and interleave a key's elements, and CountEvictor looks at their order
    rows = [(k, ts, v, (v,)) for k, ts, v in _rows(106, late=False)]
    keyed = _source(env, rows, DELAY).key_by(_key)  # type: ignore[arg-type]
    windowed = keyed.window(SlidingEventTimeWindows.of(_ms(12), _ms(4))).evictor(CountEvictor.of(2))
    return [windowed.reduce(lambda a, b: (a[0], max(a[1], b[1]), a[2], a[3] + b[3]), _ReducedFormat())]


class _ReducedFormat:
    def process(self, key: Any, context: Any, elements: Iterable[Any]) -> Iterable[Any]:
        window = context.window()
        yield ["r", key, window.start, window.end, sorted(v for reduced in elements for v in reduced[3])]


def tumbling_aggregate(env: StreamExecutionEnvironment) -> list[Any]:
    """``aggregate`` (with a window function) over what ``TimeEvictor`` left, late firings included."""
    keyed = _source(env, _rows(107), DELAY).key_by(_key)
    windowed = keyed.window(TumblingEventTimeWindows.of(_ms(10))).evictor(TimeEvictor.of(_ms(5))).allowed_lateness(6)
    return [windowed.aggregate(ValuesAggregate(), window_function=ValuesWindowFormat())]


def global_purging_delta_after(env: StreamExecutionEnvironment) -> list[Any]:
    """``GlobalWindows`` with ``PurgingTrigger(CountTrigger(3))`` and ``DeltaEvictor`` after the function."""
    keyed = _source(env, _rows(108), DELAY).key_by(_key)
    windowed = (
        keyed.window(GlobalWindows.create())
        .trigger(PurgingTrigger.of(CountTrigger.of(3)))
        .evictor(DeltaEvictor.of(5, _ts_delta, True))
    )
    return [windowed.process(CountFormat())]


def window_all_delta(env: StreamExecutionEnvironment) -> list[Any]:
    """A non-keyed ``window_all`` (tumbling) with ``DeltaEvictor``."""
    stream = _source(env, _rows(109, late=False), DELAY)
    windowed = stream.window_all(TumblingEventTimeWindows.of(_ms(8))).evictor(DeltaEvictor.of(4, _ts_delta))
    return [windowed.process(_AllWindowFormat())]


class _AllCountFormat:
    """``["ca", values in window order]`` for each firing of a ``count_window_all``."""

    def process(self, context: Any, elements: Iterable[Any]) -> Iterable[Any]:
        yield ["ca", [e[2] for e in elements]]


def count_window_all(env: StreamExecutionEnvironment) -> list[Any]:
    """Non-keyed count windows: sliding (``CountEvictor(4)`` fired every 2) and tumbling (purging every 3)."""
    stream = _source(env, _rows(113), DELAY)
    return [
        stream.count_window_all(4, 2).process(_AllCountFormat()),
        stream.count_window_all(3).process(_AllCountFormat()),
    ]


def window_join_time(env: StreamExecutionEnvironment) -> list[Any]:
    """A tumbling window join whose evictor (``TimeEvictor``) drops the pairs' older elements."""
    left = _source(env, _rows(110, late=False, n=30), DELAY)
    right = _source(env, _rows(111, late=False, n=30, first_value=1000), DELAY)
    joined = left.join(right).where(_key).equal_to(_key).window(TumblingEventTimeWindows.of(_ms(10)))
    return [joined.evictor(TimeEvictor.of(_ms(4))).apply(WindowJoinFormat())]


def custom_evictor_late(env: StreamExecutionEnvironment) -> list[Any]:
    """A user-written evictor (before and after) on tumbling windows with late firings."""
    return _with_late(
        env, 112, lambda k: k.window(TumblingEventTimeWindows.of(_ms(12))).evictor(EvenValuesEvictor()), 9
    )


# -- user-written triggers (run in EvictingWindow on Flink, with or without an evictor) ---------------------------


class EveryNAndEnd(Trigger):
    """Fires every ``n`` elements of a window (a count in per-window ``ValueState``) and when the watermark
    passes the window's end (late elements then fire at once, as ``EventTimeTrigger``)."""

    COUNT = ValueStateDescriptor("every-n-count", Types.INT())

    def __init__(self, n: int) -> None:
        self.n = n

    def on_element(self, element: Any, timestamp: int | None, window: Any, ctx: Any) -> tuple[bool, bool]:
        if window.max_timestamp() <= ctx.get_current_watermark():
            return TriggerResult.FIRE
        ctx.register_event_time_timer(window.max_timestamp())
        count = ctx.get_partitioned_state(self.COUNT)
        n = (count.value() or 0) + 1
        count.update(n)
        return TriggerResult.FIRE if n % self.n == 0 else TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.FIRE if time == window.max_timestamp() else TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.CONTINUE

    def clear(self, window: Any, ctx: Any) -> None:
        ctx.get_partitioned_state(self.COUNT).clear()
        ctx.delete_event_time_timer(window.max_timestamp())


class QuietTrigger(Trigger):
    """Fires and purges a window when ``gap`` ms of event time pass without an element (one timer, deleted and
    registered again on each element, its time in per-window ``ValueState``), and fires at the window's end."""

    NEXT = ValueStateDescriptor("quiet-next", Types.LONG())

    def __init__(self, gap: int) -> None:
        self.gap = gap

    def on_element(self, element: Any, timestamp: int | None, window: Any, ctx: Any) -> tuple[bool, bool]:
        state = ctx.get_partitioned_state(self.NEXT)
        previous = state.value()
        if previous is not None:
            ctx.delete_event_time_timer(previous)
        t = min(int(timestamp or 0) + self.gap, window.max_timestamp() - 1)
        state.update(t)
        ctx.register_event_time_timer(t)
        ctx.register_event_time_timer(window.max_timestamp())
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        state = ctx.get_partitioned_state(self.NEXT)
        if state.value() == time:
            state.clear()
            return TriggerResult.FIRE_AND_PURGE
        return TriggerResult.FIRE if time == window.max_timestamp() else TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.CONTINUE

    def clear(self, window: Any, ctx: Any) -> None:
        state = ctx.get_partitioned_state(self.NEXT)
        if state.value() is not None:
            ctx.delete_event_time_timer(state.value())
            state.clear()
        ctx.delete_event_time_timer(window.max_timestamp())


class SessionEvenTrigger(Trigger):
    """A merging trigger for sessions: fires at every second element of a session (a sum of ones in
    per-window ``ReducingState``, merged with ``merge_partitioned_state`` when sessions merge) and at the
    session's end; purges when an element's value is a multiple of 7."""

    SEEN = ReducingStateDescriptor("session-seen", lambda a, b: a + b, Types.INT())

    def on_element(self, element: Any, timestamp: int | None, window: Any, ctx: Any) -> tuple[bool, bool]:
        if window.max_timestamp() <= ctx.get_current_watermark():
            return TriggerResult.FIRE
        ctx.register_event_time_timer(window.max_timestamp())
        seen = ctx.get_partitioned_state(self.SEEN)
        seen.add(1)
        fire = seen.get() % 2 == 0
        return (fire, element[2] % 7 == 0)

    def on_event_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.FIRE if time == window.max_timestamp() else TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> tuple[bool, bool]:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Any) -> None:
        ctx.merge_partitioned_state(self.SEEN)
        if window.max_timestamp() > ctx.get_current_watermark():
            ctx.register_event_time_timer(window.max_timestamp())

    def clear(self, window: Any, ctx: Any) -> None:
        ctx.get_partitioned_state(self.SEEN).clear()
        ctx.delete_event_time_timer(window.max_timestamp())


def user_trigger_every_n_late(env: StreamExecutionEnvironment) -> list[Any]:
    """A user trigger with per-window state (every 3 elements and at the end), no evictor, late firings."""
    return _with_late(env, 114, lambda k: k.window(TumblingEventTimeWindows.of(_ms(12))).trigger(EveryNAndEnd(3)), 7)


def user_trigger_timers(env: StreamExecutionEnvironment) -> list[Any]:
    """A user trigger that deletes and registers timers (fire-and-purge after 3 ms without an element) on
    sliding windows, no evictor."""
    keyed = _source(env, _rows(115, late=False), DELAY).key_by(_key)
    windowed = keyed.window(SlidingEventTimeWindows.of(_ms(16), _ms(8))).trigger(QuietTrigger(3))
    return [windowed.process(WindowFormat())]


def user_trigger_session_late(env: StreamExecutionEnvironment) -> list[Any]:
    """A merging user trigger on session windows (late elements bridging sessions), no evictor."""
    return _with_late(
        env, 116, lambda k: k.window(EventTimeSessionWindows.with_gap(_ms(4))).trigger(SessionEvenTrigger()), 8
    )


def user_trigger_evictor(env: StreamExecutionEnvironment) -> list[Any]:
    """A purging user trigger (``PurgingTrigger.of(EveryNAndEnd(4))``) with ``TimeEvictor`` on tumbling windows,
    and the timer trigger with ``CountEvictor(2)`` after the function on sliding ones."""
    keyed = _source(env, _rows(117), DELAY).key_by(_key)
    purging = (
        keyed.window(TumblingEventTimeWindows.of(_ms(15)))
        .trigger(PurgingTrigger.of(EveryNAndEnd(4)))
        .evictor(TimeEvictor.of(_ms(6)))
        .allowed_lateness(5)
    )
    quiet = (
        keyed.window(SlidingEventTimeWindows.of(_ms(12), _ms(6)))
        .trigger(QuietTrigger(4))
        .evictor(CountEvictor.of(2, True))
    )
    return [purging.process(WindowFormat()), quiet.process(WindowFormat())]


PIPELINES: dict[str, Callable[[StreamExecutionEnvironment], list[Any]]] = {
    "sliding-time-after-late": sliding_time_after_late,
    "session-delta-late": session_delta_late,
    "session-count-after-late": session_count_after_late,
    "tumbling-count-trigger-late": tumbling_count_trigger_late,
    "tumbling-continuous-purging": tumbling_continuous_purging,
    "sliding-reduce": sliding_reduce,
    "tumbling-aggregate": tumbling_aggregate,
    "global-purging-delta-after": global_purging_delta_after,
    "window-all-delta": window_all_delta,
    "count-window-all": count_window_all,
    "window-join-time": window_join_time,
    "custom-evictor-late": custom_evictor_late,
    "user-trigger-every-n-late": user_trigger_every_n_late,
    "user-trigger-timers": user_trigger_timers,
    "user-trigger-session-late": user_trigger_session_late,
    "user-trigger-evictor": user_trigger_evictor,
}

#: The pipelines above that use only Java Flink's assigners, triggers, evictors and the parity suite's
#: formatting, described for ``evicting_java.py`` (which builds them on Java Flink): name -> (seed, late inputs,
#: window, trigger, evictor (kind, size, do_evict_after), lateness, late side output). The others use
#: Python-only parts (a reduce, an aggregate, ``window_all``'s formatting, a join, a user-written evictor).
JAVA_TWINS: dict[str, tuple[int, bool, tuple[Any, ...], str | None, tuple[str, int, bool], int, bool]] = {
    "sliding-time-after-late": (101, True, ("sliding", 10, 4), None, ("time", 3, True), 8, True),
    "session-delta-late": (102, True, ("session", 4), None, ("delta", 6, False), 10, True),
    "session-count-after-late": (103, True, ("session", 3), None, ("count", 2, True), 6, True),
    "tumbling-count-trigger-late": (104, True, ("tumbling", 15), "count-3", ("time", 4, False), 5, True),
    "tumbling-continuous-purging": (
        105,
        False,
        ("tumbling", 20),
        "purging-continuous-5",
        ("count", 3, False),
        0,
        False,
    ),
    "global-purging-delta-after": (108, True, ("global",), "purging-count-3", ("delta", 5, True), 0, False),
}
