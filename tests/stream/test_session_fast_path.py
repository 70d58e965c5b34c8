"""The session-window fast path against the general operator: identical output (values, timestamps,
watermarks, batches), late side output and drop counts on randomized cases; checkpoint/restore."""

from __future__ import annotations

import pickle
import random
from typing import Any

import pytest

from millstream.functions import Aggregates, Count, Max, Mean, Min, Sum
from millstream.stream.operators.base import OperatorContext
from millstream.stream.operators.sessions import SessionWindowOperator, sessions_fast_path_applies
from millstream.stream.operators.window import WindowOperator
from millstream.windows import EventTimeSessionWindows

from .test_slicing import LATE, Capture, Collect, Describe, DescribeAll, Firings, gen_batches, run, spec


def make(cls: Any, gap: int, late: bool, fn: Any, keyed: bool) -> Any:
    key_fn = (lambda e: e[0]) if keyed else None
    tag = LATE if late else None
    assigner = EventTimeSessionWindows.with_gap(gap)
    if cls is WindowOperator:
        op = WindowOperator("w", "w", key_fn, assigner, None, None, 0, tag, fn)
    else:
        op = SessionWindowOperator("w", "w", key_fn, assigner, tag, fn)
    op.setup(OperatorContext(lambda: 0))
    main, side = Capture(), Capture()
    op.out.targets.append((main, 0))
    if late:
        op.out.side_targets[LATE] = [(side, 0)]
    op.open()
    return op, main, side


def random_case(seed: int) -> tuple[Any, ...]:
    rng = random.Random(seed)
    fns: list[Any] = [
        Aggregates(n=Count(), s=Sum(1), lo=Min(1), hi=Max(1), m=Mean(1)),
        Count(),
        Collect(),  # order-dependent: merges must happen in the general operator's order
        lambda a, b: (a[0], a[1] * 3 + b[1]),
    ]
    fn = rng.choice(fns)
    keyed = rng.random() < 0.8
    window_fn = (Describe() if keyed else DescribeAll()) if rng.random() < 0.4 else None
    gap = rng.choice([1, 2, 3, 5, 10, 30])
    late = rng.random() < 0.5
    batches = gen_batches(rng, rng.randint(20, 400), rng.randint(1, 6), rng.choice([0, 2, 10, 30]))
    return gap, spec(fn, window_fn, not keyed), keyed, late, batches


@pytest.mark.parametrize("seed", range(150))
def test_sessions_match_general_operator(seed: int) -> None:
    gap, s, keyed, late, batches = random_case(seed)
    assert sessions_fast_path_applies(EventTimeSessionWindows.with_gap(gap), None, None, 0, s)
    ref, ref_main, ref_side = make(WindowOperator, gap, late, s, keyed)
    new, new_main, new_side = make(SessionWindowOperator, gap, late, s, keyed)
    run(ref, batches)
    run(new, batches)
    assert new_main.batches == ref_main.batches
    assert new_side.batches == ref_side.batches
    assert new.num_late_records_dropped == ref.num_late_records_dropped
    assert not new.sessions


def test_window_state_and_clear() -> None:
    rng = random.Random(3)
    batches = gen_batches(rng, 2000, 5, 8)
    fn = Aggregates(n=Count(), s=Sum(1))
    ref_fn, new_fn = Firings(), Firings()
    ref, ref_main, _ = make(WindowOperator, 6, True, spec(fn, ref_fn, False), True)
    new, new_main, _ = make(SessionWindowOperator, 6, True, spec(fn, new_fn, False), True)
    run(ref, batches)
    run(new, batches)
    assert new_main.batches == ref_main.batches
    assert new_fn.cleared == ref_fn.cleared


@pytest.mark.parametrize("seed", range(20))
def test_checkpoint_restore_mid_stream(seed: int) -> None:
    gap, s, keyed, late, batches = random_case(2000 + seed)
    ref, ref_main, ref_side = make(SessionWindowOperator, gap, late, s, keyed)
    run(ref, batches)
    cut = random.Random(seed).randrange(len(batches))
    a, a_main, a_side = make(SessionWindowOperator, gap, late, s, keyed)
    run(a, batches[:cut])
    snap = pickle.loads(pickle.dumps(a.snapshot()))
    b, b_main, b_side = make(SessionWindowOperator, gap, late, s, keyed)
    b.restore(SessionWindowOperator.merge_snapshots([snap], lambda k: True) if seed % 2 else snap)
    b._last_tail = a._last_tail
    run(b, batches[cut:])
    assert a_main.batches + b_main.batches == ref_main.batches
    assert a_side.batches + b_side.batches == ref_side.batches
