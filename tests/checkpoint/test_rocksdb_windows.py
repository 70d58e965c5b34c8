"""Window operators on both state backends: windowed jobs (tumbling, sliding, sessions that merge, process
window functions over list contents, evictors, allowed lateness with late side output, count triggers with
window and global state) fail once and restart from a checkpoint with windows open; their results equal an
uninterrupted in-memory run's. Under RocksDB the window contents are in the database, not on the heap."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from test_checkpoints import FailOnce

from millstream import Duration, OutputTag, StreamExecutionEnvironment, WatermarkStrategy
from millstream.functions import Aggregates, Count, ProcessWindowFunction, Sum
from millstream.state import EmbeddedRocksDBStateBackend, HashMapStateBackend, ValueStateDescriptor
from millstream.stream.operators.base import OperatorContext
from millstream.stream.operators.window import CONTENTS, WindowFunctionSpec, WindowOperator
from millstream.stream.restart import RestartStrategies
from millstream.stream.time import MIN_WATERMARK
from millstream.testing import CollectingSink
from millstream.windows import (
    CountEvictor,
    CountTrigger,
    EventTimeSessionWindows,
    SlidingEventTimeWindows,
    TumblingEventTimeWindows,
)

N = 6_000
FAIL_AT = 4_001
BACKENDS = {"hashmap": HashMapStateBackend, "rocksdb": EmbeddedRocksDBStateBackend}


def events(n: int = N) -> list[dict[str, Any]]:
    """Keyed events 2 ms apart, up to 15 ms out of order; every 250th is 400 ms late, and every 1,000 events
    time jumps by 300 ms (sessions close). Deterministic."""
    rng = random.Random(5)
    out = []
    t = 0
    for i in range(n):
        t += 2 + (300 if i % 1_000 == 999 else 0)
        ts = t - rng.randint(0, 15) - (400 if i % 250 == 249 else 0)
        out.append({"i": i, "k": f"k{rng.randint(0, 29)}", "v": i % 13, "n": 1, "ts": ts})
    return out


class Describe(ProcessWindowFunction):
    """(key, start, end, count, sum) of the window's elements: list contents."""

    def process(self, key: Any, context: Any, elements: Any) -> Any:
        w = context.window()
        es = list(elements)
        yield (key, w.start, w.end, len(es), sum(e["v"] for e in es))


class Kept(ProcessWindowFunction):
    """The elements an evictor kept, in order."""

    def process(self, key: Any, context: Any, elements: Any) -> Any:
        yield (key, context.window().start, [e["i"] for e in elements])


class WithWindow(ProcessWindowFunction):
    """(key, start, the pre-aggregated value)."""

    def process(self, key: Any, context: Any, elements: Any) -> Any:
        for e in elements:
            yield (key, context.window().start, e)


class Firings(ProcessWindowFunction):
    """Counts firings per window (window state, cleared with the window) and per key (global state)."""

    def process(self, key: Any, context: Any, elements: Any) -> Any:
        per_window = context.window_state().get_state(ValueStateDescriptor("n"))
        per_key = context.global_state().get_state(ValueStateDescriptor("total"))
        per_window.update((per_window.value() or 0) + 1)
        per_key.update((per_key.value() or 0) + 1)
        yield (key, context.window().start, len(list(elements)), per_window.value(), per_key.value())

    def clear(self, context: Any) -> None:
        context.window_state().get_state(ValueStateDescriptor("n")).clear()


class Paced(FailOnce):
    """``FailOnce`` that also sleeps 1.5 ms once per batch of 200, so that a 1 ms checkpoint interval takes
    checkpoints between batches with windows open."""

    def __call__(self, e: Any) -> Any:
        if e["i"] % 200 == 0:
            time.sleep(0.0015)
        return super().__call__(e)


def add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {"k": a["k"], "v": a["v"] + b["v"], "n": a["n"] + b["n"]}


LATE = OutputTag("late")


def windows(kind: str, keyed: Any) -> Any:
    """The windowed part of the job of ``kind``; returns the result stream."""
    if kind == "tumbling":  # the fast path on the heap backend, the general operator under RocksDB
        return keyed.window(TumblingEventTimeWindows.of(Duration.of_millis(100))).reduce(add)
    if kind == "sliding":
        return keyed.window(SlidingEventTimeWindows.of(Duration.of_millis(200), Duration.of_millis(50))).aggregate(
            Count(), WithWindow()
        )
    if kind == "session":  # merging windows, list contents
        return keyed.window(EventTimeSessionWindows.with_gap(Duration.of_millis(40))).process(Describe())
    if kind == "evictor":
        return (
            keyed.window(TumblingEventTimeWindows.of(Duration.of_millis(200)))
            .evictor(CountEvictor.of(3))
            .process(Kept())
        )
    if kind == "lateness":
        return (
            keyed.window(TumblingEventTimeWindows.of(Duration.of_millis(100)))
            .allowed_lateness(Duration.of_millis(250))
            .side_output_late_data(LATE)
            .process(Describe())
        )
    if kind == "agg-lateness":  # incremental: the write-behind slicing operator under RocksDB
        return (
            keyed.window(SlidingEventTimeWindows.of(Duration.of_millis(150), Duration.of_millis(50)))
            .allowed_lateness(Duration.of_millis(250))
            .side_output_late_data(LATE)
            .aggregate(Aggregates(n=Count(), v=Sum("v")), WithWindow())
        )
    if kind == "trigger":  # count trigger state, window state and global state
        return (
            keyed.window(TumblingEventTimeWindows.of(Duration.of_millis(500)))
            .trigger(CountTrigger.of(7))
            .process(Firings())
        )
    raise ValueError(kind)


KINDS = ["tumbling", "sliding", "session", "evictor", "lateness", "agg-lateness", "trigger"]


def run(
    tmp_path: Path, kind: str, backend: str, fail_at: int = -1, restarts: int = 1, savepoint: str | None = None
) -> tuple[Any, list[Any]]:
    """Run the job; returns the job result and the (value, timestamp) pairs of the main and late outputs
    (main and late sink values so far in ``run.partial`` if the job fails)."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(200)
    env.enable_checkpointing(1)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "chk"))
    env.set_state_backend(BACKENDS[backend]())
    if restarts:
        env.set_restart_strategy(RestartStrategies.fixed_delay_restart(restarts, 0))
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(20)).with_timestamp_assigner(
        lambda e, ts: e["ts"]
    )
    main, late = CollectingSink(), CollectingSink()
    keyed = (
        env.from_collection(events())
        .uid("events")
        .map(Paced(fail_at))
        .uid("fail")
        .assign_timestamps_and_watermarks(strategy)
        .uid("wm")
        .key_by(lambda e: e["k"])
    )
    out = windows(kind, keyed).uid("windows")
    out.sink_to(main).uid("main")
    if kind in ("lateness", "agg-lateness"):
        out.get_side_output(LATE).sink_to(late).uid("late")
    run.partial = main  # type: ignore[attr-defined]
    result = env.execute(f"windows-{kind}", from_savepoint=savepoint)
    pairs = [("main", repr(v), t) for v, t in zip(main.values, main.timestamps, strict=True)]
    pairs += [("late", repr(v), t) for v, t in zip(late.values, late.timestamps, strict=True)]
    return result, pairs


_reference: dict[str, list[Any]] = {}


def reference(tmp_path: Path, kind: str) -> list[Any]:
    """The uninterrupted in-memory run's results (computed once per kind)."""
    if kind not in _reference:
        _reference[kind] = run(tmp_path / "ref", kind, "hashmap")[1]
    return _reference[kind]


@pytest.mark.parametrize("backend", ["hashmap", "rocksdb"])
@pytest.mark.parametrize("kind", KINDS)
def test_windowed_job_restores_open_windows_with_the_results_of_an_uninterrupted_run(
    tmp_path: Path, kind: str, backend: str
) -> None:
    ref = reference(tmp_path, kind)
    assert len(ref) > 50
    if kind in ("lateness", "agg-lateness"):
        assert any(p[0] == "late" for p in ref) and len({p[1] for p in ref}) < len(ref) + 1
    if backend == "rocksdb":  # uninterrupted: exactly the same results (as a multiset: firing order may differ)
        _result, got = run(tmp_path / "plain", kind, backend)
        assert Counter(got) == Counter(ref)
    result, got = run(tmp_path, kind, backend, fail_at=FAIL_AT)
    assert result.restarts == 1 and isinstance(result.checkpoints.restored_from, int)
    # the collecting sink is at-least-once: results replayed after the restore may come twice, but every
    # result is one of the uninterrupted run's (lost window contents would give other counts) and none is missing
    assert set(got) == set(ref)


def test_rocksdb_window_checkpoints_carry_the_contents_as_rocksdb_files(tmp_path: Path) -> None:
    from millstream.runtime.checkpoint_storage import CheckpointStorage

    run(tmp_path, "session", "rocksdb")
    storage = CheckpointStorage(tmp_path / "chk", "windows-session")
    ids = storage.completed_ids()
    assert ids
    manifest = storage.latest_valid()
    assert manifest is not None
    for c in ids:
        assert list(storage.path_of(c).glob("att-*/*.sst")), "each checkpoint holds the window operator's RocksDB files"


def test_switching_backends_under_a_window_operator_is_a_clear_error(tmp_path: Path) -> None:
    from millstream.runtime.checkpointing import StateRestoreError

    run(tmp_path, "session", "hashmap")
    with pytest.raises(StateRestoreError, match="in-memory state backend, not by RocksDB"):
        run(tmp_path, "session", "rocksdb")


def harness(tmp_path: Path, kind: str, cache_entries: int) -> tuple[WindowOperator, list[Any]]:
    """A keyed tumbling-window operator on a RocksDB backend with a small cache, bound as the runtime
    binds it; returns it and the list its results go to."""
    from millstream.runtime.rocksdb_state import RocksDBKeyedStateBackend
    from millstream.testing import CollectingSink

    spec = WindowFunctionSpec(kind, user=(lambda a, b: (a[0], a[1] + b[1])) if kind == "reduce" else None)
    if kind == "list":
        spec = WindowFunctionSpec("list", user=lambda key, ctx, es: [(key, [e[1] for e in es])])
    op = WindowOperator("w", "w", lambda e: e[0], TumblingEventTimeWindows.of(1_000), None, None, 0, None, spec)
    op.setup(OperatorContext(lambda: 0))
    op.backend = RocksDBKeyedStateBackend(tmp_path / "work", op.backend.now, cache_entries=cache_entries)
    op.rebind_state()
    op.open()
    sink = CollectingSink()
    op.out.targets.append((sink.create_operator("sink", None), 0))
    return op, sink.values


def test_rocksdb_window_contents_live_in_the_database_not_in_memory(tmp_path: Path) -> None:
    from millstream.runtime.rocksdb_state import RocksDBKeyedStateBackend

    op, out = harness(tmp_path, "list", cache_entries=100)
    backend = op.backend
    assert isinstance(backend, RocksDBKeyedStateBackend)
    try:
        keys = 5_000
        for rnd in range(2):  # two elements per key, appended to the stored list in place
            vals = [(f"k{i}", rnd) for i in range(keys)]
            op.process(vals, [10 + rnd] * keys, [MIN_WATERMARK] * keys, MIN_WATERMARK)
            cached = sum(len(t.cache) + len(t.clean) for t in backend.tables.values())
            assert cached <= 100, f"{cached} entries on the heap"
        prefix = CONTENTS.encode() + b"\x00"
        on_disk = sum(1 for k in backend.db.keys(from_key=prefix) if k.startswith(prefix))
        assert on_disk >= keys - 100  # all but the cached ones are in RocksDB already
        assert len(op.contents) == keys
        op.process([], [], [], 5_000)  # the watermark passes the window end: every window fires
        assert sorted(out) == sorted((f"k{i}", [0, 1]) for i in range(keys))
        assert len(op.contents) == 0  # purged at cleanup time, from the database too
    finally:
        backend.close()


def test_rocksdb_window_reduce_contents_survive_a_snapshot_and_restore(tmp_path: Path) -> None:
    op, _ = harness(tmp_path / "a", "reduce", cache_entries=10)
    keys = 500
    op.process([(f"k{i}", i) for i in range(keys)], [5] * keys, [MIN_WATERMARK] * keys, MIN_WATERMARK)
    state = op.snapshot()
    snap = op.backend.attachment
    assert snap is not None and list(snap.glob("*.sst"))
    assert "contents" not in state and state["state"] == {"rocksdb": True}  # no pickled contents
    op2, out = harness(tmp_path / "b", "reduce", cache_entries=10)
    op2.backend.restore_from = snap  # type: ignore[attr-defined]
    op2.restore(state)
    op2.process([(f"k{i}", 1_000) for i in range(keys)], [6] * keys, [MIN_WATERMARK] * keys, 5_000)
    assert sorted(out) == sorted((f"k{i}", i + 1_000) for i in range(keys))
    op.backend.close()  # type: ignore[attr-defined]
    op2.backend.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", ["hashmap", "rocksdb"])
def test_checkpoints_of_the_earlier_window_layout_restore_on_both_backends(tmp_path: Path, backend: str) -> None:
    """A window operator's state as written before contents moved into the backend still restores."""
    from millstream.windows import TimeWindow

    spec = WindowFunctionSpec("reduce", user=lambda a, b: (a[0], a[1] + b[1]))

    old = {
        "contents": {("k", TimeWindow(0, 1_000)): ("k", 41)},
        "merging": {},
        "trigger_states": {},
        "event_timers": [(999, "k", TimeWindow(0, 1_000))],
        "proc_timers": [],
        "trigger_state": {},
        "window_state": {},
        "global_state": {},
        "wm": MIN_WATERMARK,
    }
    if backend == "rocksdb":
        op, out = harness(tmp_path, "reduce", cache_entries=10)
    else:
        op = WindowOperator("w", "w", lambda e: e[0], TumblingEventTimeWindows.of(1_000), None, None, 0, None, spec)
        sink = CollectingSink()
        op.out.targets.append((sink.create_operator("sink", None), 0))
        op.open()
        out = sink.values
    op.restore(old)
    op.process([("k", 1)], [5], [MIN_WATERMARK], 2_000)
    assert out == [("k", 42)]
    if backend == "rocksdb":
        op.backend.close()  # type: ignore[attr-defined]


def test_a_savepoint_of_a_rocksdb_window_job_carries_the_open_windows(tmp_path: Path) -> None:
    from millstream.runtime.savepoints import committed_checkpoint, copy_as_savepoint
    from millstream.stream.errors import JobFailedError

    ref = reference(tmp_path, "session")
    with pytest.raises(JobFailedError):
        run(tmp_path, "session", "rocksdb", fail_at=FAIL_AT, restarts=0)
    before = [(("main", repr(v), t)) for v, t in zip(run.partial.values, run.partial.timestamps, strict=True)]  # type: ignore[attr-defined]
    sp = copy_as_savepoint(committed_checkpoint(tmp_path / "chk", "windows-session"), tmp_path / "sp")
    assert list(sp.glob("att-*/*.sst"))
    result, after = run(tmp_path / "second", "session", "rocksdb", savepoint=str(sp))
    assert result.checkpoints.restored_from == str(sp)
    assert set(before) | set(after) == set(ref)
