"""The batched general window operator (issue 20) against :class:`WindowOperator`: identical output (values,
timestamps, watermarks, batches), late side output, drop counts and final state on randomized cases covering
tumbling, sliding and session windows, built-in and user triggers, evictors, every kind of window function,
allowed lateness and late side output; checkpoints of either restore into the other; the planner's choice."""

from __future__ import annotations

import pickle
import random
from typing import Any

import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.functions import Aggregates, Count, Max, Min, ProcessWindowFunction, Sum
from millstream.stream.operators.base import OperatorContext
from millstream.stream.operators.batched import BatchedWindowOperator, batched_applies
from millstream.stream.operators.window import WindowFunctionSpec, WindowOperator
from millstream.testing import CollectingSink
from millstream.windows import (
    ContinuousEventTimeTrigger,
    CountEvictor,
    CountTrigger,
    DeltaEvictor,
    EventTimeSessionWindows,
    EventTimeTrigger,
    GlobalWindows,
    PurgingTrigger,
    SlidingEventTimeWindows,
    TimeEvictor,
    Trigger,
    TriggerResult,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
)

from .test_slicing import LATE, Capture, Collect, Describe, DescribeAll, Firings, gen_batches, run


class UserEventTime(Trigger):
    """A user trigger with EventTimeTrigger's rules: called, not inlined, by the batched operator."""

    def on_element(self, element: Any, timestamp: Any, window: Any, ctx: Any) -> Any:
        if window.max_timestamp() <= ctx.get_current_watermark():
            return TriggerResult.FIRE
        ctx.register_event_time_timer(window.max_timestamp())
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Any) -> Any:
        return TriggerResult.FIRE if time == window.max_timestamp() else TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> Any:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Any) -> None:
        if window.max_timestamp() > ctx.get_current_watermark():
            ctx.register_event_time_timer(window.max_timestamp())

    def clear(self, window: Any, ctx: Any) -> None:
        ctx.delete_event_time_timer(window.max_timestamp())


class EveryThird(Trigger):
    """A user trigger with its own timers and state: fires every third element, and at an early timer."""

    def on_element(self, element: Any, timestamp: Any, window: Any, ctx: Any) -> Any:
        n = (ctx.trigger_state("n") or 0) + 1
        ctx.set_trigger_state("n", n)
        ctx.register_event_time_timer(window.max_timestamp() - 1)
        return TriggerResult.FIRE if n % 3 == 0 else TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Any) -> Any:
        return TriggerResult.FIRE_AND_PURGE if time == window.max_timestamp() - 1 else TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Any) -> Any:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Any) -> None:
        ctx.merge_trigger_state("n", lambda a, b: a + b)

    def clear(self, window: Any, ctx: Any) -> None:
        ctx.delete_event_time_timer(window.max_timestamp() - 1)
        ctx.set_trigger_state("n", None)


def triggers(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            None,
            EventTimeTrigger.create(),
            UserEventTime(),
            EveryThird(),
            CountTrigger.of(rng.choice([1, 2, 5])),
            PurgingTrigger.of(CountTrigger.of(3)),
            PurgingTrigger.of(EventTimeTrigger.create()),
            ContinuousEventTimeTrigger.of(rng.choice([2, 5])),
        ]
    )


def evictors(rng: random.Random) -> Any:
    after = rng.random() < 0.3
    return rng.choice(
        [
            None,
            None,
            CountEvictor.of(rng.choice([1, 2, 4]), after),
            TimeEvictor.of(rng.choice([1, 2, 5]), after),
            DeltaEvictor.of(3, lambda a, b: abs(a[1] - b[1]), after),
        ]
    )


def random_spec(rng: random.Random, keyed: bool, evictor: Any) -> WindowFunctionSpec:
    window_fn = Describe() if keyed else DescribeAll()
    choice = rng.randrange(4)
    if choice == 0 or (evictor is not None and choice == 3):  # process over the elements
        return WindowFunctionSpec("list", window_fn, None, non_keyed=not keyed)
    kind, user = (
        ("reduce", lambda a, b: (a[0], a[1] * 3 + b[1]))
        if choice == 1
        else ("aggregate", rng.choice([Collect(), Aggregates(n=Count(), s=Sum(1), lo=Min(1), hi=Max(1))]))
    )
    wf = window_fn if rng.random() < 0.5 else None
    if evictor is not None:  # as WindowedStream builds it
        return WindowFunctionSpec("list", user, wf, non_keyed=not keyed, list_then=kind)
    return WindowFunctionSpec(kind, user, wf, non_keyed=not keyed)


def random_assigner(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.3:
        size = rng.choice([3, 5, 10])
        return TumblingEventTimeWindows.of(size, rng.randint(-size + 1, size - 1))
    if r < 0.6:
        size = rng.choice([4, 6, 10, 12, 15])
        slide = rng.choice([1, 2, 3, 4, 5, 8, 20])
        return SlidingEventTimeWindows.of(size, slide, rng.randint(-slide + 1, slide - 1))
    if r < 0.9:
        return EventTimeSessionWindows.with_gap(rng.choice([1, 2, 3, 5, 10, 30]))
    return EventTimeSessionWindows.with_dynamic_gap(lambda e: 1 + e[1] % 7)


def random_case(seed: int) -> tuple[Any, ...]:
    rng = random.Random(seed)
    assigner = random_assigner(rng)
    trigger = triggers(rng)
    evictor = evictors(rng)
    keyed = rng.random() < 0.8
    fn = random_spec(rng, keyed, evictor)
    lateness = rng.choice([0, 0, 0, 1, 5, 20])
    late = rng.random() < 0.5
    batches = gen_batches(rng, rng.randint(20, 300), rng.randint(1, 6), rng.choice([0, 2, 10, 30]))
    return assigner, trigger, evictor, fn, keyed, lateness, late, batches


def make(cls: Any, case: tuple[Any, ...]) -> tuple[Any, Capture, Capture]:
    assigner, trigger, evictor, fn, keyed, lateness, late, _ = case
    key_fn = (lambda e: e[0]) if keyed else None
    op = cls("w", "w", key_fn, assigner, trigger, evictor, lateness, LATE if late else None, fn)
    op.setup(OperatorContext(lambda: 0))
    main, side = Capture(), Capture()
    op.out.targets.append((main, 0))
    if late:
        op.out.side_targets[LATE] = [(side, 0)]
    op.open()
    return op, main, side


def comparable(snapshot: Any) -> Any:
    return pickle.loads(pickle.dumps(snapshot))


@pytest.mark.parametrize("seed", range(500))
def test_batched_matches_general_operator(seed: int) -> None:
    case = random_case(seed)
    assigner, trigger, evictor, fn, _, lateness, _, batches = case
    assert batched_applies(assigner, lateness)
    ref, ref_main, ref_side = make(WindowOperator, case)
    new, new_main, new_side = make(BatchedWindowOperator, case)
    cut = random.Random(seed).randrange(len(batches))
    run(ref, batches[:cut])
    run(new, batches[:cut])
    assert comparable(new.snapshot()) == comparable(ref.snapshot())  # mid-stream state, timers included
    run(ref, batches[cut:])
    run(new, batches[cut:])
    ctx = (assigner, trigger, evictor, fn.kind, fn.list_then, lateness)
    assert new_main.batches == ref_main.batches, ctx
    assert new_side.batches == ref_side.batches, ctx
    assert new.num_late_records_dropped == ref.num_late_records_dropped
    assert comparable(new.snapshot()) == comparable(ref.snapshot())


@pytest.mark.parametrize("seed", range(40))
def test_checkpoints_restore_across_operators(seed: int) -> None:
    """The layout is the general operator's: a snapshot of one restores into the other mid-stream."""
    case = random_case(5000 + seed)
    batches = case[-1]
    ref, ref_main, ref_side = make(WindowOperator, case)
    run(ref, batches)
    cut = random.Random(seed).randrange(len(batches))
    first, second = (BatchedWindowOperator, WindowOperator) if seed % 2 else (WindowOperator, BatchedWindowOperator)
    a, a_main, a_side = make(first, case)
    run(a, batches[:cut])
    snap = comparable(a.snapshot())
    b, b_main, b_side = make(second, case)
    b.restore(second.merge_snapshots([snap], lambda k: True) if seed % 4 < 2 else snap)
    b.wm, b._last_tail = a.wm, a._last_tail  # as the runtime restores an operator
    run(b, batches[cut:])
    assert a_main.batches + b_main.batches == ref_main.batches
    assert a_side.batches + b_side.batches == ref_side.batches


def test_window_state_and_clear() -> None:
    rng = random.Random(11)
    batches = gen_batches(rng, 3000, 5, 8)
    for assigner in (TumblingEventTimeWindows.of(7), EventTimeSessionWindows.with_gap(4)):
        ref_fn, new_fn = Firings(), Firings()
        outs = []
        for cls, f in ((WindowOperator, ref_fn), (BatchedWindowOperator, new_fn)):
            case = (assigner, None, None, WindowFunctionSpec("list", f, None), True, 3, True, batches)
            op, main, _ = make(cls, case)
            run(op, batches)
            outs.append(main.batches)
        assert outs[0] == outs[1]
        assert new_fn.cleared == ref_fn.cleared


def test_an_error_names_the_element_as_the_general_operator_does() -> None:
    def red(a: Any, b: Any) -> Any:
        if b[1] == 3:
            raise ValueError("bad reduce")
        return b

    errors = []
    for cls in (WindowOperator, BatchedWindowOperator):
        case = (TumblingEventTimeWindows.of(5), None, None, WindowFunctionSpec("reduce", red), True, 0, False, [])
        op, _, _ = make(cls, case)
        op.process([("k", 1), ("k", 2)], [1, 2], [0, 0], 0)
        with pytest.raises(ValueError, match="bad reduce") as info:
            op.process([("k", 5), ("k", 3)], [5, 3], [0, 0], 0)
        errors.append((str(info.value), info.value._millstream_where))  # type: ignore[attr-defined]
        with pytest.raises(Exception, match="no timestamp") as no_ts:
            op.process([("k", 4)], [None], [0], 0)
        errors.append(str(no_ts.value))
    assert errors[:2] == errors[2:]
    assert errors[0] == ("bad reduce", ("w", "w", 3, ("k", 3)))


def test_the_planner_uses_it_for_the_general_cases() -> None:
    assert batched_applies(TumblingEventTimeWindows.of(5), 0)
    assert batched_applies(SlidingEventTimeWindows.of(10, 3), 7)
    assert batched_applies(EventTimeSessionWindows.with_gap(5), 0)
    assert not batched_applies(TumblingProcessingTimeWindows.of(5), 0)
    assert not batched_applies(GlobalWindows.create(), 0)
    assert not batched_applies(TumblingEventTimeWindows.of(5), 0, n_inputs=2)

    class Keep(ProcessWindowFunction):
        def process(self, key: Any, context: Any, elements: Any) -> Any:
            yield (key, context.window().start, [e["v"] for e in elements])

    env = StreamExecutionEnvironment.get_execution_environment()
    sink = CollectingSink()
    data = [{"k": k, "ts": t, "v": t} for t in range(0, 40, 3) for k in ("a", "b")]
    (
        env.from_collection(data)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(0)).with_timestamp_assigner(
                lambda e, ts: e["ts"]
            )
        )
        .key_by(lambda e: e["k"])
        .window(TumblingEventTimeWindows.of(10))
        .evictor(CountEvictor.of(2))
        .process(Keep())
        .sink_to(sink)
    )
    env.execute("batched window")
    assert sorted(sink.values) == sorted(
        (k, s, [v for v in range(0, 40, 3) if s <= v < s + 10][-2:]) for s in range(0, 40, 10) for k in ("a", "b")
    )
