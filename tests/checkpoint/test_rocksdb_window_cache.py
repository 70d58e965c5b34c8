"""The write-behind window operator (tumbling and sliding windows with incremental aggregates under RocksDB)
against the general window operator: identical output (values, timestamps, watermarks, batches), late side
output and drop counts on randomized cases, with caches far smaller than the state; the cache bound; snapshots
as RocksDB checkpoints and in the canonical format, restored mid-stream and split by key (rescaling)."""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.functions import Aggregates, Count, Sum
from millstream.runtime.parallel.rocksdb_canonical import CanonicalRocksDBBackend
from millstream.runtime.rocksdb_state import RocksDBKeyedStateBackend
from millstream.state import EmbeddedRocksDBStateBackend, HashMapStateBackend
from millstream.stream.graph import Transformation, build_operator
from millstream.stream.operators.base import OperatorContext
from millstream.stream.operators.slicing import SlicingWindowOperator
from millstream.stream.operators.window import WindowOperator
from millstream.stream.operators.writebehind import CACHE_ENTRIES_PARAM, SLICES, WriteBehindSlicingOperator
from millstream.stream.time import MAX_WATERMARK, MIN_WATERMARK
from millstream.testing import CollectingSink
from millstream.windows import SlidingEventTimeWindows, TumblingEventTimeWindows

from ..stream.test_slicing import LATE, Capture, Plain, gen_batches, make, random_case, run, spec


def make_wb(
    tmp: Path,
    assigner: Any,
    lateness: int,
    late: bool,
    fn: Any,
    keyed: bool,
    cache: int,
    backend: type[RocksDBKeyedStateBackend] = RocksDBKeyedStateBackend,
) -> tuple[WriteBehindSlicingOperator, Capture, Capture]:
    """The write-behind operator on a RocksDB backend in ``tmp``, bound as the runtime binds it."""
    key_fn = (lambda e: e[0]) if keyed else None
    op = WriteBehindSlicingOperator("w", "w", key_fn, assigner, lateness, LATE if late else None, fn, cache)
    op.setup(OperatorContext(lambda: 0))
    op.backend = backend(tmp, op.backend.now)
    op.rebind_state()
    main, side = Capture(), Capture()
    op.out.targets.append((main, 0))
    if late:
        op.out.side_targets[LATE] = [(side, 0)]
    op.open()
    return op, main, side


def on_disk(op: WriteBehindSlicingOperator) -> int:
    backend = op.backend
    assert isinstance(backend, RocksDBKeyedStateBackend)
    prefix = SLICES.encode() + b"\x00"
    return sum(1 for k in backend.db.keys(from_key=prefix) if k.startswith(prefix))


def run_bounded(op: WriteBehindSlicingOperator, batches: list[Any]) -> int:
    """Run the batches, checking the bound after each; the most accumulators written out at once."""
    most = 0
    for vals, tss, wmb, tail in batches:
        op.process(vals, tss, wmb, tail)
        assert op.cached_entries() <= op.cache_entries
        most = max(most, op.spilled)
    return most


@pytest.mark.parametrize("cache", [1, 4, 10_000])
@pytest.mark.parametrize("seed", range(0, 400, 4))
def test_write_behind_matches_the_general_operator(tmp_path: Path, seed: int, cache: int) -> None:
    assigner, name, fn, keyed, window_fn, lateness, late, batches = random_case(seed)
    s = spec(fn, window_fn, not keyed)
    ref, ref_main, ref_side = make(WindowOperator, assigner, lateness, late, s, keyed)
    new, new_main, new_side = make_wb(tmp_path, assigner, lateness, late, s, keyed, cache)
    try:
        run(ref, batches)
        run_bounded(new, batches)
        assert new_main.batches == ref_main.batches, (assigner, name, lateness)
        assert new_side.batches == ref_side.batches
        assert new.num_late_records_dropped == ref.num_late_records_dropped
        assert not new.slices and new.spilled == 0
        assert on_disk(new) == 0  # freed slices leave nothing in RocksDB
    finally:
        new.backend.close()  # type: ignore[attr-defined]


def test_state_far_larger_than_the_cache_stays_within_the_bound(tmp_path: Path) -> None:
    """5,000 keys in 1 s tumbling windows and 10 s / 1 s sliding windows with a cache of 100: at most 100
    accumulators in memory after every batch, the rest in RocksDB, and the results of the in-memory operator."""
    for assigner in (TumblingEventTimeWindows.of(1_000), SlidingEventTimeWindows.of(10_000, 1_000)):
        s = spec(Aggregates(n=Count(), s=Sum(1)), None, False)
        keys = 5_000
        rng = random.Random(7)
        batches = []
        for b in range(30):
            vals = [(f"k{rng.randrange(keys)}", rng.randrange(100)) for _ in range(1_000)]
            tss = [b * 200 + rng.randrange(200) for _ in vals]
            wm = b * 200 - 300
            batches.append((vals, tss, [wm] * len(vals), wm))
        batches.append(([], [], [], MAX_WATERMARK))
        ref, ref_main, _ = make(SlicingWindowOperator, assigner, 0, False, s, True)
        new, new_main, _ = make_wb(tmp_path / type(assigner).__name__, assigner, 0, False, s, True, 100)
        try:
            run(ref, batches)
            most = 0
            for vals, tss, wmb, tail in batches:
                new.process(vals, tss, wmb, tail)
                assert new.cached_entries() <= 100
                if new.slices:
                    most = max(most, on_disk(new))
            assert most > 4_000  # (most of) the state was in RocksDB, not in memory
            assert new_main.batches == ref_main.batches
            assert on_disk(new) == 0
        finally:
            new.backend.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("cache", [2, 10_000])
@pytest.mark.parametrize("seed", range(24))
def test_rocksdb_checkpoint_restore_mid_stream(tmp_path: Path, seed: int, cache: int) -> None:
    """Snapshot (a RocksDB checkpoint plus the pickled key order) after a random batch, restore into a fresh
    operator on a fresh database, go on: the uninterrupted general operator's output."""
    assigner, _name, fn, keyed, window_fn, lateness, late, batches = random_case(1000 + seed)
    s = spec(fn, window_fn, not keyed)
    ref, ref_main, ref_side = make(WindowOperator, assigner, lateness, late, s, keyed)
    run(ref, batches)
    cut = random.Random(seed).randrange(len(batches))
    a, a_main, a_side = make_wb(tmp_path / "a", assigner, lateness, late, s, keyed, cache)
    b, b_main, b_side = make_wb(tmp_path / "b", assigner, lateness, late, s, keyed, cache)
    try:
        run_bounded(a, batches[:cut])
        snap = pickle.loads(pickle.dumps(a.snapshot()))
        assert snap["state"] == {"rocksdb": True}  # the accumulators are in the RocksDB checkpoint only
        b.backend.restore_from = a.backend.attachment  # type: ignore[attr-defined]
        b.restore(snap)
        b._last_tail = a._last_tail
        run_bounded(b, batches[cut:])
        assert a_main.batches + b_main.batches == ref_main.batches
        assert a_side.batches + b_side.batches == ref_side.batches
        assert a.num_late_records_dropped + b.num_late_records_dropped == ref.num_late_records_dropped
    finally:
        a.backend.close()  # type: ignore[attr-defined]
        b.backend.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", range(12))
def test_canonical_snapshots_split_by_key_and_merge_back(tmp_path: Path, seed: int) -> None:
    """A parallel job's RocksDB snapshots (canonical format) split into two subtasks by key, each run on its
    keys, then merged back into one: per window the results of the uninterrupted operator."""
    rng = random.Random(seed)
    assigner = rng.choice([SlidingEventTimeWindows.of(12, 4), TumblingEventTimeWindows.of(5)])
    s = spec(Aggregates(n=Count(), s=Sum(1)), Plain(), False)
    batches = gen_batches(rng, 200, 6, 5)
    ref, ref_main, _ = make(WindowOperator, assigner, 5, False, s, True)
    run(ref, batches)
    cut = rng.randrange(1, len(batches) - 1)
    ops = []

    def wb(name: str) -> tuple[WriteBehindSlicingOperator, Capture, Capture]:
        made = make_wb(tmp_path / name, assigner, 5, False, s, True, rng.choice([1, 3, 100]), CanonicalRocksDBBackend)
        ops.append(made[0])
        return made

    try:
        a, a_main, _ = wb("a")
        run_bounded(a, batches[:cut])
        snap = pickle.loads(pickle.dumps(a.snapshot()))
        even = {f"k{i}" for i in range(0, 6, 2)}
        parts = []
        for i, owns in enumerate((lambda k: k in even, lambda k: k not in even)):
            op, main, _ = wb(f"part{i}")
            op.restore(WriteBehindSlicingOperator.merge_snapshots([snap], owns))
            for vals, tss, wmb, tail in batches[cut:]:
                keep = [j for j, v in enumerate(vals) if owns(v[0])]
                op.process([vals[j] for j in keep], [tss[j] for j in keep], [wmb[j] for j in keep], tail)
            parts.append(main)
        got = sorted((v for m in (a_main, *parts) for b in m.batches for v in b[0]), key=repr)
        assert got == sorted((v for b in ref_main.batches for v in b[0]), key=repr)
        # mid-stream, split in two and merged back into one subtask: the same results again
        c, c_main, _ = wb("c")
        c.restore(WriteBehindSlicingOperator.merge_snapshots([snap], lambda k: True))
        run(c, batches[cut:])
        got = sorted((v for m in (a_main, c_main) for b in m.batches for v in b[0]), key=repr)
        assert got == sorted((v for b in ref_main.batches for v in b[0]), key=repr)
    finally:
        for op in ops:
            op.backend.close()  # type: ignore[attr-defined]


def test_the_planner_picks_the_write_behind_operator_under_rocksdb_only() -> None:
    def window(assigner: Any, fn: Any, lateness: int = 0) -> Transformation:
        params = {"key_fn": lambda e: e, "assigner": assigner, "trigger": None, "evictor": None}
        params.update(lateness=lateness, late_tag=None, fn=spec(fn, None, False))
        return Transformation("window", "w", params=params)

    tumbling = window(TumblingEventTimeWindows.of(1_000), Count())
    sliding = window(SlidingEventTimeWindows.of(10_000, 1_000), Aggregates(n=Count()), lateness=500)
    assert type(build_operator(tumbling, "rocksdb")) is WriteBehindSlicingOperator
    assert type(build_operator(sliding, "rocksdb")) is WriteBehindSlicingOperator
    assert type(build_operator(sliding, "hashmap")) is SlicingWindowOperator
    # an order-dependent reduce over windows of several slices: the general operator, as on the heap
    reduce_sliding = window(SlidingEventTimeWindows.of(10_000, 1_000), lambda a, b: a)
    assert type(build_operator(reduce_sliding, "rocksdb")) is WindowOperator


def test_the_cache_bound_is_a_job_parameter(tmp_path: Path) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_state_backend(EmbeddedRocksDBStateBackend(window_cache_entries=3))
    assert env.config.params[CACHE_ENTRIES_PARAM] == "3"
    op = WriteBehindSlicingOperator("w", "w", None, TumblingEventTimeWindows.of(5), 0, None, spec(Count(), None, True))
    op.setup(OperatorContext(lambda: 0, params=dict(env.config.params)))
    assert op.cache_entries == 3
    with pytest.raises(Exception, match="window_cache_entries"):
        EmbeddedRocksDBStateBackend(window_cache_entries=0)


def job(tmp: Path, backend: Any, kind: str) -> list[Any]:
    """W-like events through a keyed tumbling or sliding aggregate with allowed lateness and late side output
    (a 4-entry window cache under RocksDB); the (output, value, timestamp) triples in order."""
    rng = random.Random(11)
    events = []
    for i in range(3_000):
        late = 400 if i % 97 == 0 else 0
        events.append({"k": f"p{rng.randrange(40)}", "ts": i * 3 - rng.randrange(30) - late, "v": i % 17})
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(64)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp / "chk"))
    env.set_state_backend(backend)
    assigner = (
        TumblingEventTimeWindows.of(Duration.of_millis(100))
        if kind == "tumbling"
        else SlidingEventTimeWindows.of(Duration.of_millis(300), Duration.of_millis(100))
    )
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(40)).with_timestamp_assigner(
        lambda e, ts: e["ts"]
    )
    main, late_sink = CollectingSink(), CollectingSink()
    out = (
        env.from_collection(events)
        .assign_timestamps_and_watermarks(strategy)
        .key_by(lambda e: e["k"])
        .window(assigner)
        .allowed_lateness(Duration.of_millis(150))
        .side_output_late_data(LATE)
        .aggregate(Aggregates(n=Count(), s=Sum("v")))
    )
    out.sink_to(main)
    out.get_side_output(LATE).sink_to(late_sink)
    env.execute(f"wb-{kind}")
    return [("main", repr(v), t) for v, t in zip(main.values, main.timestamps, strict=True)] + [
        ("late", repr(v), t) for v, t in zip(late_sink.values, late_sink.timestamps, strict=True)
    ]


@pytest.mark.parametrize("kind", ["tumbling", "sliding"])
def test_jobs_give_identical_results_on_both_backends(tmp_path: Path, kind: str) -> None:
    heap = job(tmp_path / "heap", HashMapStateBackend(), kind)
    rocks = job(tmp_path / "rocks", EmbeddedRocksDBStateBackend(window_cache_entries=4), kind)
    assert any(p[0] == "late" for p in heap) and len(heap) > 200
    assert rocks == heap


def test_the_operator_runs_on_the_in_memory_backend_too(tmp_path: Path) -> None:
    """The write-behind cache goes through the backend abstraction only: on the in-memory backend (its tables
    as the store) the results are the same."""
    assigner, _name, fn, keyed, window_fn, lateness, late, batches = random_case(3)
    s = spec(fn, window_fn, not keyed)
    ref, ref_main, _ = make(WindowOperator, assigner, lateness, late, s, keyed)
    tag = LATE if late else None
    op = WriteBehindSlicingOperator("w", "w", (lambda e: e[0]) if keyed else None, assigner, lateness, tag, s, 1)
    op.setup(OperatorContext(lambda: 0))
    main = Capture()
    op.out.targets.append((main, 0))
    op.open()
    run(ref, batches)
    run(op, batches)
    assert main.batches == ref_main.batches
    assert op.num_late_records_dropped == ref.num_late_records_dropped


def _parity_window_cases() -> list[Any]:
    from ..parity.cases import all_cases
    from ..parity.hand_cases import HAND

    return [c for c in [*all_cases(), *(case for case, _ in HAND)] if c.kind == "window"]


PARITY_WINDOWS = _parity_window_cases()


@pytest.mark.parametrize("variant", ["aggregate", "reduce", "builtin"])
@pytest.mark.parametrize("case", PARITY_WINDOWS, ids=[c.id for c in PARITY_WINDOWS])
def test_flink_parity_cases_give_the_same_results_under_rocksdb(case: Any, variant: str) -> None:
    """Every time-window case of the Flink parity suite with incremental window functions: rows and record
    timestamps under RocksDB (write-behind cache of 2 accumulators, batches of 3) are the in-memory backend's,
    in the same order (that run is what the parity suite compares with Flink)."""
    from ..parity.millstream_side import run_millstream

    heap = run_millstream(case, variant, batch_size=3)
    rocks = run_millstream(
        case, variant, batch_size=3, state_backend=EmbeddedRocksDBStateBackend(window_cache_entries=2)
    )
    assert rocks == heap


def general_on_rocksdb(tmp: Path, assigner: Any, lateness: int, late: bool, fn: Any, keyed: bool) -> Any:
    """The general window operator on a RocksDB backend (how earlier versions ran every window under RocksDB)."""
    op, main, side = make(WindowOperator, assigner, lateness, late, fn, keyed)
    op.backend = RocksDBKeyedStateBackend(tmp, op.backend.now, cache_entries=3)
    op.rebind_state()
    return op, main, side


@pytest.mark.parametrize("seed", range(40))
def test_state_of_the_general_operator_under_rocksdb_is_taken_over(tmp_path: Path, seed: int) -> None:
    """A checkpoint of the general operator under RocksDB (earlier versions) restores into the write-behind
    operator when windows are single slices: the uninterrupted general operator's output."""
    rng = random.Random(seed)
    case = random_case(2000 + seed)
    while not isinstance(case[0], TumblingEventTimeWindows):
        case = random_case(rng.randrange(10_000, 20_000))
    assigner, _name, fn, keyed, window_fn, lateness, late, batches = case
    s = spec(fn, window_fn, not keyed)
    ref, ref_main, ref_side = make(WindowOperator, assigner, lateness, late, s, keyed)
    run(ref, batches)
    cut = rng.randrange(len(batches))
    a, a_main, a_side = general_on_rocksdb(tmp_path / "a", assigner, lateness, late, s, keyed)
    b, b_main, b_side = make_wb(tmp_path / "b", assigner, lateness, late, s, keyed, rng.choice([1, 5, 1000]))
    try:
        run(a, batches[:cut])
        snap = pickle.loads(pickle.dumps(a.snapshot()))
        b.backend.restore_from = a.backend.attachment  # type: ignore[attr-defined]
        b.restore(WriteBehindSlicingOperator.merge_snapshots([snap], lambda k: True) if seed % 2 else snap)
        b._last_tail = a._last_tail
        run_bounded(b, batches[cut:])
        assert a_main.batches + b_main.batches == ref_main.batches
        assert a_side.batches + b_side.batches == ref_side.batches
        assert a.num_late_records_dropped + b.num_late_records_dropped == ref.num_late_records_dropped
        assert on_disk(b) == 0 and len(b.contents) == 0
    finally:
        a.backend.close()
        b.backend.close()  # type: ignore[attr-defined]


def test_general_state_of_sliding_windows_of_several_slices_is_refused(tmp_path: Path) -> None:
    assigner = SlidingEventTimeWindows.of(10, 5)
    s = spec(Count(), None, False)
    a, _, _ = general_on_rocksdb(tmp_path / "a", assigner, 0, False, s, True)
    b, _, _ = make_wb(tmp_path / "b", assigner, 0, False, s, True, 10)
    try:
        a.process([("k", 1)], [3], [MIN_WATERMARK], MIN_WATERMARK)
        snap = a.snapshot()
        b.backend.restore_from = a.backend.attachment  # type: ignore[attr-defined]
        with pytest.raises(Exception, match="cannot be split into slices"):
            b.restore(snap)
    finally:
        a.backend.close()
        b.backend.close()  # type: ignore[attr-defined]
