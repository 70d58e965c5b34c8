"""Processing-time windows, global windows with triggers, and batch-size independence of a larger job."""

from __future__ import annotations

import random
from typing import Any

import pytest

from millstream import Duration, OutputTag, WatermarkStrategy
from millstream.core.clock import ManualClock
from millstream.functions import Count, Sum
from millstream.state import ListStateDescriptor, ReducingStateDescriptor, ValueStateDescriptor
from millstream.testing import CollectionSource, Pause, timestamped
from millstream.windows import (
    CountTrigger,
    EventTimeSessionWindows,
    GlobalWindows,
    ProcessingTimeSessionWindows,
    PurgingTrigger,
    SlidingEventTimeWindows,
    Trigger,
    TriggerResult,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
)

from .conftest import run_collect, values


def test_processing_time_tumbling_and_session_windows_with_manual_clock() -> None:
    items = ["a", "b", Pause(150), "c", Pause(100), "d", "d", Pause(30), "d", Pause(500)]

    def build(env: Any) -> Any:
        s = env.from_source(CollectionSource(items))
        tumbling = (
            s.key_by(lambda e: 0)
            .window(TumblingProcessingTimeWindows.of(100))
            .apply(lambda k, w, es: [(w.start, w.end, list(es))])
        )
        sessions = (
            s.key_by(lambda e: e)
            .window(ProcessingTimeSessionWindows.with_gap(50))
            .apply(lambda k, w, es: [(k, w.start, w.end, len(es))])
        )
        return {"tumbling": tumbling, "sessions": sessions}

    for b in (1, 7, 10_000):
        out = run_collect(build, b, ManualClock(0))
        # the clock is 0 for a, b; 150 for c; 250 for d, d; 280 for the last d; windows fire when the
        # clock passes their max timestamp (at the next pause), results carry timestamp end - 1
        assert out["tumbling"] == [
            ((0, 100, ["a", "b"]), 99),
            ((100, 200, ["c"]), 199),
            ((200, 300, ["d", "d", "d"]), 299),
        ]
        assert values(out["sessions"]) == [
            ("a", 0, 50, 1),
            ("b", 0, 50, 1),
            ("c", 150, 200, 1),
            ("d", 250, 330, 3),
        ]


def test_global_windows_with_count_and_custom_triggers(collect: Any) -> None:
    class FlushTrigger(Trigger):
        def on_element(self, element: Any, timestamp: Any, window: Any, ctx: Any) -> Any:
            return TriggerResult.FIRE_AND_PURGE if element[1] == "flush" else TriggerResult.CONTINUE

        def on_event_time(self, time: int, window: Any, ctx: Any) -> Any:
            return TriggerResult.CONTINUE

        def on_processing_time(self, time: int, window: Any, ctx: Any) -> Any:
            return TriggerResult.CONTINUE

    data = [("a", 1), ("a", 2), ("b", 9), ("a", 3), ("a", "flush"), ("a", 4)]

    def build(env: Any) -> Any:
        s = env.from_collection(data)
        acc = (
            s.key_by(lambda e: e[0])
            .window(GlobalWindows.create())
            .trigger(CountTrigger.of(2))
            .apply(lambda k, w, es: [(k, [e[1] for e in es])])
        )
        purging = (
            s.key_by(lambda e: e[0])
            .window(GlobalWindows.create())
            .trigger(PurgingTrigger.of(CountTrigger.of(2)))
            .aggregate(Count())
        )
        custom = (
            s.key_by(lambda e: e[0])
            .window(GlobalWindows.create())
            .trigger(FlushTrigger())
            .apply(lambda k, w, es: [[e[1] for e in es]])
        )
        return {"acc": acc, "purging": purging, "custom": custom}

    out = collect(build)
    assert values(out["acc"]) == [("a", [1, 2]), ("a", [1, 2, 3, "flush"])]
    assert values(out["purging"]) == [2, 2]
    assert values(out["custom"]) == [[1, 2, 3, "flush"]]


def test_random_job_is_independent_of_batch_size(collect: Any) -> None:
    rnd = random.Random(42)
    pairs = []
    t = 0
    for _ in range(1500):
        t += rnd.randrange(0, 20)
        pairs.append(((f"k{rnd.randrange(4)}", rnd.randrange(100)), t - rnd.randrange(0, 120)))
    late = OutputTag("late")

    def build(env: Any) -> Any:
        s = env.from_source(
            timestamped(pairs), WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(50))
        ).filter(lambda e: e[1] % 7 != 0)
        k = s.key_by(lambda e: e[0])
        tumbling = k.window(TumblingEventTimeWindows.of(100)).side_output_late_data(late).aggregate(Sum(1))
        sliding = k.window(SlidingEventTimeWindows.of(300, 100)).allowed_lateness(40).aggregate(Count())
        sessions = k.window(EventTimeSessionWindows.with_gap(30)).allowed_lateness(60).aggregate(Count())
        chained = tumbling.key_by(lambda v: v % 3).window(TumblingEventTimeWindows.of(1000)).aggregate(Count())
        return {
            "tumbling": tumbling,
            "late": tumbling.get_side_output(late),
            "sliding": sliding,
            "sessions": sessions,
            "chained": chained,
        }

    # not at parallelism 2: the filter after the one source runs in 2 subtasks fed round-robin, so lateness
    # depends on how their channels interleave at the windows (as in Flink); tests/parallel covers keyed jobs
    out = collect(build, parallel=False)
    assert all(out[k] for k in out), {k: len(v) for k, v in out.items()}


def test_count_windows_with_reduce_and_aggregate_and_all_windows(collect: Any) -> None:
    from millstream.functions import CoFlatMapFunction, CoProcessFunction, ProcessAllWindowFunction

    data = [("a", i) for i in range(1, 8)]

    class Both(CoFlatMapFunction):
        def flat_map1(self, value: Any) -> Any:
            yield from (value, value)

        def flat_map2(self, value: Any) -> Any:
            return [value.upper()]

    class Tagger(CoProcessFunction):
        def process_element1(self, value: Any, ctx: Any) -> Any:
            yield ("one", value, ctx.timestamp())

        def process_element2(self, value: Any, ctx: Any) -> Any:
            yield ("two", value, ctx.timestamp())

    class Total(ProcessAllWindowFunction):
        def process(self, context: Any, elements: Any) -> Any:
            yield (context.window().max_timestamp() == 2**63 - 1, sum(e[1] for e in elements))

    def build(env: Any) -> Any:
        s = env.from_collection(data)
        k = s.key_by(lambda e: e[0])
        return {
            "reduce": k.count_window(3, 2).reduce(lambda a, b: (a[0], a[1] + b[1])),
            "count": k.count_window(3).aggregate(Count()),
            "all": s.count_window_all(4).process(Total()),
            "coflat": env.from_collection([1]).connect(env.from_collection(["x"])).flat_map(Both()),
            "coproc": env.from_collection([1]).connect(env.from_collection(["x"])).process(Tagger()),
        }

    out = collect(build)
    assert values(out["reduce"]) == [("a", 3), ("a", 9), ("a", 15)]  # last 3 of [1,2], [1..4], [1..6]
    assert values(out["count"]) == [3, 3]
    assert values(out["all"]) == [(True, 10)]
    assert sorted(values(out["coflat"]), key=str) == [1, 1, "X"]
    assert sorted(values(out["coproc"]), key=str) == [("one", 1, None), ("two", "x", None)]
    assert {ts for _, ts in out["reduce"]} == {2**63 - 1}  # count windows stamp GlobalWindow.max_timestamp()


def test_continuous_event_time_trigger_fires_early_and_at_the_end(collect: Any) -> None:
    from millstream.windows import ContinuousEventTimeTrigger

    pairs = [(v, v) for v in (5, 20, 40, 70, 150)]

    def build(env: Any) -> Any:
        s = env.from_source(timestamped(pairs), WatermarkStrategy.for_monotonous_timestamps())
        return (
            s.key_by(lambda e: 0)
            .window(TumblingEventTimeWindows.of(100))
            .trigger(ContinuousEventTimeTrigger.of(30))
            .apply(lambda k, w, es: [(w.start, list(es))])
        )

    assert values(collect(build)["out"]) == [
        (0, [5, 20, 40]),  # timer 30: the watermark (39) passes it before the element at 70
        (0, [5, 20, 40, 70]),  # timer 60
        (0, [5, 20, 40, 70]),  # timer 90 (end of input)
        (0, [5, 20, 40, 70]),  # the window's end
        (100, [150]),  # timer 180
        (100, [150]),  # the window's end
    ]


class _SessionCount(Trigger):
    """Flink's ``CountTrigger`` written by hand: a count in per-window state, merged when sessions merge."""

    def __init__(self, descriptor: Any) -> None:
        self.descriptor = descriptor

    def on_element(self, element: Any, timestamp: Any, window: Any, ctx: Any) -> Any:
        count = ctx.get_partitioned_state(self.descriptor)
        count.add(1)
        if count.get() >= 3:
            count.clear()
            return TriggerResult.FIRE
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Any) -> Any:
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> Any:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Any) -> None:
        ctx.merge_partitioned_state(self.descriptor)

    def clear(self, window: Any, ctx: Any) -> None:
        ctx.get_partitioned_state(self.descriptor).clear()


def _sessions_with(trigger: Trigger) -> Any:
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(100)).with_timestamp_assigner(
        lambda e, ts: e[1]
    )

    def build(env: Any) -> Any:
        s = env.from_collection([("a", 1), ("b", 1), ("a", 8), ("b", 20), ("a", 5)])
        return (
            s.assign_timestamps_and_watermarks(strategy)
            .key_by(lambda e: e[0])
            .window(EventTimeSessionWindows.with_gap(Duration.of_millis(4)))
            .trigger(trigger)
            .process(lambda k, ctx, es: [(k, ctx.window().start, ctx.window().end, sorted(e[1] for e in es))])
        )

    return build


def test_user_trigger_merges_its_partitioned_state_when_sessions_merge(collect: Any) -> None:
    """``merge_partitioned_state`` in ``on_merge``: a's sessions [1,5) and [8,12) (one element each) merge
    with 5's [5,9) into [1,12), whose count is 1 + 1 + 1 = 3, so it fires; b's two sessions never merge."""
    count = ReducingStateDescriptor("count", lambda a, b: a + b)
    out = collect(_sessions_with(_SessionCount(count)))
    assert values(out["out"]) == [("a", 1, 12, [1, 5, 8])]
    listed = ListStateDescriptor("seen")

    class _ListCount(_SessionCount):
        def on_element(self, element: Any, timestamp: Any, window: Any, ctx: Any) -> Any:
            seen = ctx.get_partitioned_state(self.descriptor)
            seen.add(element[1])
            return TriggerResult.FIRE if len(seen.get()) == 3 else TriggerResult.CONTINUE

    assert values(collect(_sessions_with(_ListCount(listed)))["out"]) == [("a", 1, 12, [1, 5, 8])]


def test_merge_partitioned_state_refuses_value_state(collect: Any) -> None:
    class _ValueCount(_SessionCount):
        def on_element(self, element: Any, timestamp: Any, window: Any, ctx: Any) -> Any:
            count = ctx.get_partitioned_state(self.descriptor)
            count.update((count.value() or 0) + 1)
            return TriggerResult.CONTINUE

    with pytest.raises(Exception, match="'count' is value state, which cannot be merged"):
        collect(_sessions_with(_ValueCount(ValueStateDescriptor("count"))))
