"""The slicing window operator against the general one: identical output (values, timestamps, watermarks,
batches), late side output and drop counts on many randomized cases; checkpoint/restore and rescaling."""

from __future__ import annotations

import pickle
import random
from typing import Any

import pytest

from millstream import OutputTag, Types
from millstream.functions import (
    AggregateFunction,
    Aggregates,
    Count,
    Max,
    Mean,
    Min,
    ProcessAllWindowFunction,
    ProcessWindowFunction,
    Sum,
)
from millstream.state import ValueStateDescriptor
from millstream.stream.operators.base import OperatorContext
from millstream.stream.operators.slicing import SlicingWindowOperator, slicing_applies
from millstream.stream.operators.window import WindowFunctionSpec, WindowOperator
from millstream.stream.time import MAX_WATERMARK, MIN_WATERMARK
from millstream.windows import SlidingEventTimeWindows, TumblingEventTimeWindows

LATE = OutputTag("late")


class Capture:
    """A downstream operator recording every batch it gets."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[Any], list[Any], list[int], int]] = []

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        self.batches.append((list(vals), list(tss), list(wmb), tail))


class Describe(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        w = context.window()
        for e in elements:
            yield (key, w.start, w.end, e, context.current_watermark())


class Plain(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        w = context.window()
        for e in elements:
            yield (key, w.start, w.end, e)


class DescribeAll(ProcessAllWindowFunction):
    def process(self, context: Any, elements: Any) -> Any:
        w = context.window()
        for e in elements:
            yield (w.start, w.end, e, context.current_watermark())


class Collect(AggregateFunction):
    """Order-dependent: the values in arrival order."""

    def create_accumulator(self) -> list[Any]:
        return []

    def add(self, value: Any, accumulator: list[Any]) -> list[Any]:
        return [*accumulator, value[1]]

    def get_result(self, accumulator: list[Any]) -> Any:
        return tuple(accumulator)

    def merge(self, a: list[Any], b: list[Any]) -> list[Any]:
        return a + b


def functions(single: bool) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [
        ("aggs", Aggregates(n=Count(), s=Sum(1), lo=Min(1), hi=Max(1))),
        ("aggs-mean", Aggregates(n=Count(), m=Mean(1))),
        ("count", Count()),
        ("sum", Sum(1)),
        ("min", Min(1)),
        ("mean", Mean(1)),
    ]
    if single:  # order-dependent functions: only windows of one slice are sliced
        out += [("reduce", lambda a, b: (a[0], a[1] * 3 + b[1])), ("collect", Collect())]
    return out


def spec(fn: Any, window_fn: Any, non_keyed: bool) -> WindowFunctionSpec:
    kind = "aggregate" if hasattr(fn, "create_accumulator") else "reduce"
    return WindowFunctionSpec(kind, fn, window_fn, non_keyed=non_keyed)


def make(cls: Any, assigner: Any, lateness: int, late: bool, fn: WindowFunctionSpec, keyed: bool) -> Any:
    key_fn = (lambda e: e[0]) if keyed else None
    tag = LATE if late else None
    if cls is WindowOperator:
        op = WindowOperator("w", "w", key_fn, assigner, None, None, lateness, tag, fn)
    else:
        op = SlicingWindowOperator("w", "w", key_fn, assigner, lateness, tag, fn)
    op.setup(OperatorContext(lambda: 0))
    main, side = Capture(), Capture()
    op.out.targets.append((main, 0))
    if late:
        op.out.side_targets[LATE] = [(side, 0)]
    op.open()
    return op, main, side


def gen_batches(rng: random.Random, n: int, keys: int, delay: int) -> list[tuple[list[Any], list[int], list[int], int]]:
    """Elements with per-element bounded-out-of-orderness watermarks (some far behind: late), in random
    batches; some batches end with a watermark jump, the last with +inf."""
    t, max_ts = rng.randint(-60, 20), None
    rows = []
    for i in range(n):
        t += rng.choice([0, 0, 1, 1, 2, 3, 7])
        r = rng.random()
        ts = t - rng.randint(0, delay) if r < 0.85 else t - rng.randint(delay, 4 * delay + 40)
        wm = MIN_WATERMARK if max_ts is None else max_ts - delay - 1
        rows.append(((f"k{rng.randrange(keys)}", i), ts, wm))
        max_ts = ts if max_ts is None else max(max_ts, ts)
    batches = []
    i = 0
    while i < len(rows):
        size = rng.choice([1, 1, 2, 3, 5, 8, 50])
        chunk = rows[i : i + size]
        i += size
        tail = max_ts - delay - 1 if i >= len(rows) else (rows[i][2] if i < len(rows) else chunk[-1][2])
        tail = max(tail, chunk[-1][2])
        if rng.random() < 0.05:
            tail += rng.randint(1, 30)
        batches.append(([v for v, _, _ in chunk], [ts for _, ts, _ in chunk], [w for _, _, w in chunk], tail))
    # watermarks never go backwards
    cur = MIN_WATERMARK
    fixed = []
    for vals, tss, wmb, tail in batches:
        wmb = [cur := max(cur, w) for w in wmb]
        cur = max(cur, tail)
        fixed.append((vals, tss, wmb, cur))
    fixed.append(([], [], [], MAX_WATERMARK))
    return fixed


def run(op: Any, batches: list[Any]) -> None:
    for vals, tss, wmb, tail in batches:
        op.process(vals, tss, wmb, tail)


def random_case(seed: int) -> tuple[Any, ...]:
    rng = random.Random(seed)
    if rng.random() < 0.25:
        size = rng.choice([3, 5, 10])
        assigner: Any = TumblingEventTimeWindows.of(size, rng.randint(-size + 1, size - 1))
        single = True
    else:
        size = rng.choice([4, 6, 10, 12, 15, 30])
        slide = rng.choice([1, 2, 3, 4, 5, 8, 10, 20, 25])
        assigner = SlidingEventTimeWindows.of(size, slide, rng.randint(-slide + 1, slide - 1))
        single = slide % size == 0
    name, fn = rng.choice(functions(single))
    keyed = rng.random() < 0.8
    window_fn = (Describe() if keyed else DescribeAll()) if rng.random() < 0.4 else None
    lateness = rng.choice([0, 0, 1, 5, 20])
    late = rng.random() < 0.5
    batches = gen_batches(rng, rng.randint(20, 250), rng.randint(1, 6), rng.choice([0, 2, 10]))
    return assigner, name, fn, keyed, window_fn, lateness, late, batches


@pytest.mark.parametrize("seed", range(400))
def test_slicing_matches_general_operator(seed: int) -> None:
    assigner, name, fn, keyed, window_fn, lateness, late, batches = random_case(seed)
    s = spec(fn, window_fn, not keyed)
    assert slicing_applies(assigner, None, None, lateness, s), (assigner, name)
    ref, ref_main, ref_side = make(WindowOperator, assigner, lateness, late, s, keyed)
    new, new_main, new_side = make(SlicingWindowOperator, assigner, lateness, late, s, keyed)
    run(ref, batches)
    run(new, batches)
    assert new_main.batches == ref_main.batches, (assigner, name, lateness)
    assert new_side.batches == ref_side.batches
    assert new.num_late_records_dropped == ref.num_late_records_dropped
    assert not new.slices  # everything freed after the final watermark (windows cleaned up)


def test_order_dependent_functions_need_single_slice_windows() -> None:
    red = spec(lambda a, b: a, None, False)
    assert slicing_applies(TumblingEventTimeWindows.of(10), None, None, 5, red)
    assert slicing_applies(SlidingEventTimeWindows.of(5, 10), None, None, 0, red)
    assert not slicing_applies(SlidingEventTimeWindows.of(10, 5), None, None, 0, red)
    assert not slicing_applies(SlidingEventTimeWindows.of(10, 5), None, None, 0, spec(Collect(), None, False))
    assert slicing_applies(SlidingEventTimeWindows.of(10, 5), None, None, 0, spec(Count(), None, False))
    assert not slicing_applies(SlidingEventTimeWindows.of(10, 5), None, None, 0, spec(Sum(lambda e: e[1]), None, False))


@pytest.mark.parametrize("seed", range(60))
def test_checkpoint_restore_mid_stream(seed: int) -> None:
    """Snapshot (pickled) after a random batch, restore into a fresh operator, go on: the same output."""
    assigner, _name, fn, keyed, window_fn, lateness, late, batches = random_case(1000 + seed)
    s = spec(fn, window_fn, not keyed)
    ref, ref_main, ref_side = make(SlicingWindowOperator, assigner, lateness, late, s, keyed)
    run(ref, batches)
    cut = random.Random(seed).randrange(len(batches))
    a, a_main, a_side = make(SlicingWindowOperator, assigner, lateness, late, s, keyed)
    run(a, batches[:cut])
    snap = pickle.loads(pickle.dumps(a.snapshot()))
    b, b_main, b_side = make(SlicingWindowOperator, assigner, lateness, late, s, keyed)
    b.restore(SlicingWindowOperator.merge_snapshots([snap], lambda k: True) if seed % 2 else snap)
    b._last_tail = a._last_tail
    run(b, batches[cut:])
    assert a_main.batches + b_main.batches == ref_main.batches
    assert a_side.batches + b_side.batches == ref_side.batches
    assert a.num_late_records_dropped + b.num_late_records_dropped == ref.num_late_records_dropped


@pytest.mark.parametrize("seed", range(30))
def test_rescale_split_and_merge(seed: int) -> None:
    """Split one subtask's state by key into two, run each on its keys, and merge them back: per window the
    same results as without rescaling (the order of keys across subtasks aside)."""
    rng = random.Random(seed)
    assigner = SlidingEventTimeWindows.of(12, 4)
    # (a subtask sees only its keys' elements, so the watermark at a firing may differ: not in the output)
    s = spec(Aggregates(n=Count(), s=Sum(1)), Plain(), False)
    batches = gen_batches(rng, 200, 6, 5)
    ref, ref_main, _ = make(SlicingWindowOperator, assigner, 5, False, s, True)
    run(ref, batches)
    cut = rng.randrange(1, len(batches) - 1)
    a, a_main, _ = make(SlicingWindowOperator, assigner, 5, False, s, True)
    run(a, batches[:cut])
    snap = a.snapshot()
    even = {f"k{i}" for i in range(0, 6, 2)}
    parts = []
    for owns in (lambda k: k in even, lambda k: k not in even):
        op, main, _ = make(SlicingWindowOperator, assigner, 5, False, s, True)
        op.restore(SlicingWindowOperator.merge_snapshots([snap], owns))
        for vals, tss, wmb, tail in batches[cut:]:
            keep = [i for i, v in enumerate(vals) if owns(v[0])]
            op.process([vals[i] for i in keep], [tss[i] for i in keep], [wmb[i] for i in keep], tail)
        parts.append((op, main))
    # and merged back into one subtask: state of both halves
    merged = SlicingWindowOperator.merge_snapshots([p[0].snapshot() for p in parts], lambda k: True)
    assert sorted(merged["slices"]) == sorted(ref.snapshot()["slices"]) == []

    def results(batches_: list[Any]) -> list[Any]:
        return sorted((v for b in batches_ for v in b[0]), key=repr)

    got = results(a_main.batches) + results(parts[0][1].batches) + results(parts[1][1].batches)
    assert sorted(got, key=repr) == results(ref_main.batches)


class Firings(ProcessWindowFunction):
    """Numbers the firings of each window in per-window state and counts ``clear`` calls per window."""

    def __init__(self) -> None:
        self.cleared: list[Any] = []

    def process(self, key: Any, context: Any, elements: Any) -> Any:
        st = context.window_state().get_state(ValueStateDescriptor("n", Types.INT()))
        n = (st.value() or 0) + 1
        st.update(n)
        w = context.window()
        for e in elements:
            yield (key, w.start, n, e)

    def clear(self, context: Any) -> None:
        self.cleared.append((context.window(), context._key))


@pytest.mark.parametrize("seed", range(12))
def test_long_streams_window_state_and_clear(seed: int) -> None:
    """Long streams (the cache of merged slices is reused over many windows), per-window state across late
    firings, and ``clear`` called once per key and window at its cleanup."""
    rng = random.Random(500 + seed)
    size, slide = rng.choice([(30, 3), (60, 5), (20, 4), (40, 8), (9, 3)])
    assigner = SlidingEventTimeWindows.of(size, slide, rng.randint(0, slide - 1))
    lateness = rng.choice([0, 3, 25])
    batches = gen_batches(rng, 1500, rng.randint(1, 8), rng.choice([0, 4, 12]))
    fn = Aggregates(n=Count(), s=Sum(1), lo=Min(1), hi=Max(1), m=Mean(1))
    ref_fn, new_fn = Firings(), Firings()
    ref, ref_main, ref_side = make(WindowOperator, assigner, lateness, True, spec(fn, ref_fn, False), True)
    new, new_main, new_side = make(SlicingWindowOperator, assigner, lateness, True, spec(fn, new_fn, False), True)
    run(ref, batches)
    run(new, batches)
    assert new_main.batches == ref_main.batches
    assert new_side.batches == ref_side.batches
    assert sorted(new_fn.cleared, key=repr) == sorted(ref_fn.cleared, key=repr)


def test_the_fast_window_operators_name_a_failing_element_as_the_general_operator_does() -> None:
    """A reduce that raises, and an element without a timestamp, fail the slicing and tumbling fast paths with
    the general operator's errors: the operator, the element's position over the batches and the element."""
    from millstream.stream.operators.tumbling import TumblingWindowOperator

    def red(a: Any, b: Any) -> Any:
        if b[1] == 3:
            raise ValueError("bad reduce")
        return b

    assigner = TumblingEventTimeWindows.of(5)
    makers = [
        lambda fn: WindowOperator("w", "w", lambda e: e[0], assigner, None, None, 0, None, fn),
        lambda fn: SlicingWindowOperator("w", "w", lambda e: e[0], assigner, 0, None, fn),
        lambda fn: TumblingWindowOperator("w", "w", lambda e: e[0], assigner, None, fn),
    ]
    errors = []
    for make_op in makers:
        op = make_op(WindowFunctionSpec("reduce", red))
        op.setup(OperatorContext(lambda: 0))
        op.out.targets.append((Capture(), 0))
        op.open()
        op.process([("k", 1), ("k", 2)], [1, 2], [0, 0], 0)
        with pytest.raises(ValueError, match="bad reduce") as info:
            op.process([("k", 5), ("k", 3)], [5, 3], [0, 0], 0)
        with pytest.raises(Exception, match="has no timestamp") as no_ts:
            op.process([("k", 4)], [None], [0], 0)
        errors.append((str(info.value), info.value._millstream_where, str(no_ts.value)))  # type: ignore[attr-defined]
    assert errors[0][:2] == ("bad reduce", ("w", "w", 3, ("k", 3)))
    assert errors[1] == errors[0] and errors[2] == errors[0]
