"""Cost of exactly-once checkpoints: the engine benchmark's job with checkpoints every second vs without.

The job is ``engine_bench``'s (embedded log source → key_by → 1 s tumbling windows → count + sum → log
sink) on the same input, run alternately

  * without checkpointing (at-least-once log sink: every batch appended at once), and
  * with exactly-once checkpoints every ``--interval-ms`` (default 1000): the sink's records, the source
    offsets and the checkpoint marker go out in one log transaction per checkpoint, state to a checkpoint
    directory (fsynced);

``--repeat`` times each; the fastest run of each counts. Prints both rates (per CPU second and per wall
second), the overhead in %, and checkpoint durations (split into snapshot, write + fsync, log commit) and
sizes. The bar is judged on CPU time (as ``engine_bench``) and, separately, on wall time.

    PYTHONPATH=src python benchmarks/checkpoint_bench.py [--events 3000000] [--interval-ms 1000] [--repeat 3]

Bar (from the project issue): exactly-once overhead <= 10% at a 1 s interval on the embedded log.
Then a large in-memory keyed state (``--memory-keys``, default 1,000,000): one full checkpoint's snapshot,
write and restore times (the in-memory backend snapshots in full every time). Then (``--rocksdb-gb``,
default 1; 0 skips) the RocksDB state backend: fill that much keyed state
(4 KiB incompressible values) through the state tables, take a snapshot (a RocksDB checkpoint, as a job
checkpoint does), and restore it into a fresh backend: prints fill, snapshot and restore times, and the time
to read 1,000 random keys after the restore. Last (``--window-events``, default 300,000; 0 skips;
``--only-windows`` runs just this) windowed jobs with their contents on the heap vs in RocksDB: events/s,
checkpoint durations and sizes, and how much of a RocksDB checkpoint the previous one shares (incremental).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import millstream  # noqa: F401 - registers the runtime
from millstream import CheckpointingMode, Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import DeliveryGuarantee, LogSink, LogSource, OffsetsInitializer
from millstream.functions import Aggregates, Count, Sum
from millstream.log import open_log
from millstream.windows import TumblingEventTimeWindows

_spec = importlib.util.spec_from_file_location("engine_bench", Path(__file__).parent / "engine_bench.py")
assert _spec is not None and _spec.loader is not None
engine_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(engine_bench)

OVERHEAD_BAR = 0.10


def run_job(url: str, batch: int, interval_ms: int | None, chk_dir: str) -> tuple[float, float, Any]:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(batch)
    guarantee = DeliveryGuarantee.AT_LEAST_ONCE
    if interval_ms is not None:
        env.enable_checkpointing(interval_ms, CheckpointingMode.EXACTLY_ONCE)
        env.get_checkpoint_config().set_checkpoint_storage_dir(chk_dir)
        guarantee = DeliveryGuarantee.EXACTLY_ONCE
    source = (
        LogSource.builder()
        .set_log(url)
        .set_topics("events")
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .build()
    )
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(100)).with_timestamp_assigner(
        lambda e, ts: e["ts"]
    )
    (
        env.from_source(source, strategy, "events")
        .uid("events")
        .key_by(lambda e: e["key"])
        .window(TumblingEventTimeWindows.of(Duration.of_seconds(1)))
        .aggregate(Aggregates(count=Count(), sum=Sum("value")), engine_bench.WithKey())
        .uid("windows")
        .sink_to(LogSink.builder().set_log(url).set_topic("counts").set_delivery_guarantee(guarantee).build())
    )
    cpu, wall = time.process_time(), time.perf_counter()
    result = env.execute("checkpoint bench", job_id=f"bench-{time.monotonic_ns()}")
    return time.process_time() - cpu, time.perf_counter() - wall, result


def memory_state_checkpoint(keys: int) -> None:
    """Checkpoint and restore cost of a large in-memory keyed state (full snapshot: pickle + write + fsync)."""
    import pickle

    from millstream.runtime.checkpoint_storage import CheckpointStorage, load_checkpoint
    from millstream.stream.state import KeyedStateBackend, ValueStateDescriptor, serializing_snapshots

    b = KeyedStateBackend()
    st = b.get_state(ValueStateDescriptor("v"))
    for i in range(keys):
        b.current_key = i
        st.update((i, "abc", i * 2.0))
    with tempfile.TemporaryDirectory() as tmp:
        storage = CheckpointStorage(tmp, "mem")
        storage.open()
        t0 = time.perf_counter()
        with serializing_snapshots():
            blob = pickle.dumps(b.snapshot(), pickle.HIGHEST_PROTOCOL)
        t1 = time.perf_counter()
        path, size = storage.write(1, {"op": blob}, {})
        t2 = time.perf_counter()
        chk = load_checkpoint(path)
        b2 = KeyedStateBackend()
        with serializing_snapshots():
            b2.restore(pickle.loads(chk.blobs["op"]))
        t3 = time.perf_counter()
    print(
        f"in-memory keyed state: {keys:,} keys, {size / 1e6:.1f} MB per checkpoint; snapshot+pickle "
        f"{(t1 - t0) * 1000:.0f} ms, write+fsync {(t2 - t1) * 1000:.0f} ms, restore {(t3 - t2) * 1000:.0f} ms"
    )


def rocksdb_restore(gb: float) -> None:
    import os
    import random
    import shutil

    from millstream.runtime.rocksdb_state import RocksDBKeyedStateBackend
    from millstream.stream.state import ValueStateDescriptor

    value_size = 4096
    n = int(gb * (1 << 30) / value_size)
    with tempfile.TemporaryDirectory() as tmp:
        src = RocksDBKeyedStateBackend(f"{tmp}/a", cache_entries=20_000)
        src.get_state(ValueStateDescriptor("v"))
        table = src.table("v")
        t0 = time.perf_counter()
        for i in range(n):
            table[i] = os.urandom(value_size)
        src.flush()
        fill = time.perf_counter() - t0
        t0 = time.perf_counter()
        src.snapshot()
        snap_s = time.perf_counter() - t0
        assert src.attachment is not None
        chk = Path(tmp) / "checkpoint"
        os.rename(src.attachment, chk)
        size = sum(p.stat().st_size for p in chk.iterdir())
        src.close()
        dst = RocksDBKeyedStateBackend(f"{tmp}/b")
        dst.get_state(ValueStateDescriptor("v"))
        dst.restore_from = chk
        t0 = time.perf_counter()
        dst.restore({"rocksdb": True})
        restore_s = time.perf_counter() - t0
        t2 = dst.table("v")
        keys = random.Random(1).sample(range(n), 1000)
        t0 = time.perf_counter()
        ok = sum(1 for k in keys if t2.get(k) is not None)
        read_s = time.perf_counter() - t0
        dst.close()
        shutil.rmtree(chk, ignore_errors=True)
    print(
        f"RocksDB state: {n:,} keys x {value_size} B = {size / (1 << 30):.2f} GiB on disk; fill {fill:.1f} s, "
        f"snapshot {snap_s * 1000:.0f} ms, restore {restore_s * 1000:.0f} ms, then 1,000 random reads "
        f"{read_s * 1000:.0f} ms ({ok} found)"
    )


def window_job(events: list[dict[str, Any]], kind: str, backend: str, interval_ms: int, chk_dir: str) -> Any:
    """One windowed job on a collection: ``tumbling`` (count + sum; ``tumbling-general`` forces the general
    operator on the heap with 1 ms allowed lateness) or ``sliding`` (10 s every 2 s, a process window function
    over list contents). Returns (wall s, CPU s, result)."""
    from millstream.functions import ProcessWindowFunction
    from millstream.state import EmbeddedRocksDBStateBackend, HashMapStateBackend
    from millstream.testing import CollectingSink
    from millstream.windows import SlidingEventTimeWindows

    class Sizes(ProcessWindowFunction):
        def process(self, key: Any, context: Any, elements: Any) -> Any:
            yield (key, context.window().start, len(elements))

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(4096)
    env.enable_checkpointing(interval_ms)
    env.get_checkpoint_config().set_checkpoint_storage_dir(chk_dir)
    env.set_state_backend(EmbeddedRocksDBStateBackend() if backend == "rocksdb" else HashMapStateBackend())
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(100)).with_timestamp_assigner(
        lambda e, ts: e["ts"]
    )
    keyed = (
        env.from_collection(events).uid("events").assign_timestamps_and_watermarks(strategy).key_by(lambda e: e["key"])
    )
    if kind.startswith("tumbling"):
        w = keyed.window(TumblingEventTimeWindows.of(Duration.of_seconds(10)))
        if kind == "tumbling-general":  # any allowed lateness takes the general operator
            w = w.allowed_lateness(Duration.of_millis(1))
        out = w.aggregate(Aggregates(count=Count(), sum=Sum("value")), engine_bench.WithKey())
    else:
        w = keyed.window(SlidingEventTimeWindows.of(Duration.of_seconds(10), Duration.of_seconds(2)))
        out = w.process(Sizes())
    sink = CollectingSink()
    out.uid("windows").sink_to(sink)
    cpu, wall = time.process_time(), time.perf_counter()
    job_id = f"wbench-{time.monotonic_ns()}"
    result = env.execute(f"windows-{kind}-{backend}", job_id=job_id)
    return time.perf_counter() - wall, time.process_time() - cpu, result, len(sink.values), job_id


def windows_on_backends(n: int, keys: int, interval_ms: int) -> None:
    """Windowed jobs with the window contents on the heap vs in RocksDB: rates, checkpoint durations and sizes
    (pickled state blobs + RocksDB files of the newest checkpoint, and how much of them the checkpoint before
    shared by hard links: the incremental part)."""
    from millstream.runtime.checkpoint_storage import CheckpointStorage

    # 5 events per ms of event time, keys round robin: n/5 ms of event time
    events = [{"key": f"k{i % keys}", "value": i % 100, "ts": 1_700_000_000_000 + i // 5} for i in range(n)]
    print(
        f"windowed jobs, {n:,} events over {n // 5_000} s of event time, {keys:,} keys, checkpoints every "
        f"{interval_ms} ms (contents: tumbling 10 s = one accumulator per key and window; sliding 10 s / 2 s = "
        "five lists per key holding every element; the RocksDB cache holds 50,000 entries)"
    )
    base_rate: dict[str, float] = {}
    for kind, backend in (
        ("tumbling", "hashmap"),
        ("tumbling-general", "hashmap"),
        ("tumbling", "rocksdb"),
        ("sliding", "hashmap"),
        ("sliding", "rocksdb"),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu, result, outputs, job_id = window_job(events, kind, backend, interval_ms, f"{tmp}/chk")
            done = [s for s in result.checkpoints.stats if s.status == "COMPLETED"]
            storage = CheckpointStorage(f"{tmp}/chk", job_id)
            ids = storage.completed_ids()
            att_bytes = shared = 0
            if ids:
                newest = storage.path_of(ids[-1])
                prev_inodes = (
                    {p.stat().st_ino for p in storage.path_of(ids[-2]).glob("att-*/*")} if len(ids) > 1 else set()
                )
                for p in newest.glob("att-*/*"):
                    st = p.stat()
                    att_bytes += st.st_size
                    shared += st.st_size if st.st_ino in prev_inodes else 0
        rate = n / wall
        base = base_rate.setdefault(kind.split("-")[0], rate)
        durs = [s.duration_ms for s in done] or [0.0]
        blob = statistics.median(s.state_size for s in done) if done else 0
        print(
            f"  {kind:17s} {backend:8s} {rate:10,.0f} events/s wall ({n / cpu:10,.0f} CPU, {rate / base:5.2f}x the "
            f"heap run), {outputs:,} results; {len(done)} checkpoints, ms median {statistics.median(durs):.1f} / max "
            f"{max(durs):.1f}; pickled state median {blob / 1e6:.2f} MB; RocksDB files of the newest checkpoint "
            f"{att_bytes / 1e6:.2f} MB ({shared / 1e6:.2f} MB shared with the one before)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=3_000_000)
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rocksdb-gb", type=float, default=1.0, help="keyed state for the restore figure; 0 skips")
    ap.add_argument("--memory-keys", type=int, default=1_000_000, help="large in-memory state figure; 0 skips")
    ap.add_argument("--window-events", type=int, default=300_000, help="windows on both backends; 0 skips")
    ap.add_argument("--window-keys", type=int, default=5_000)
    ap.add_argument("--window-interval-ms", type=int, default=500)
    ap.add_argument("--only-windows", action="store_true", help="run only the windows-on-both-backends section")
    args = ap.parse_args()
    if args.only_windows:
        windows_on_backends(args.window_events, args.window_keys, args.window_interval_ms)
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"file://{tmp}/log"
        log = open_log(url)
        engine_bench.produce(log, args.events)
        plain, chk = [], []
        for _ in range(max(1, args.repeat)):
            plain.append(run_job(url, args.batch, None, f"{tmp}/chk"))
            chk.append(run_job(url, args.batch, args.interval_ms, f"{tmp}/chk"))
        log.close()
    p_cpu = min(r[0] for r in plain)
    p_wall = min(r[1] for r in plain)
    c_cpu = min(r[0] for r in chk)
    c_wall = min(r[1] for r in chk)
    stats = [s for r in chk for s in r[2].checkpoints.stats]
    n = args.events
    print(f"embedded log, {n:,} events, batch {args.batch}, best of {len(plain)} alternating runs each")
    print(f"no checkpoints:              {n / p_cpu:11,.0f} events/s CPU  {n / p_wall:11,.0f} events/s wall")
    print(
        f"exactly-once, every {args.interval_ms} ms: {n / c_cpu:11,.0f} events/s CPU  {n / c_wall:11,.0f} events/s wall"
    )
    over_cpu = c_cpu / p_cpu - 1
    over_wall = c_wall / p_wall - 1
    print(f"overhead:                    {over_cpu:11.1%} CPU         {over_wall:11.1%} wall")
    done = [s for s in stats if s.status == "COMPLETED"]
    durs = [s.duration_ms for s in done]
    print(
        f"checkpoints: {len(done)} completed, {len(stats) - len(done)} failed over {len(chk)} runs; duration ms "
        f"min {min(durs):.1f} / median {statistics.median(durs):.1f} / max {max(durs):.1f}; state blob bytes median "
        f"{statistics.median(s.state_size for s in done):,.0f}, bytes written median "
        f"{statistics.median(s.size for s in done):,.0f}; records committed per checkpoint median "
        f"{statistics.median(s.committed_records for s in done):,.0f}"
    )
    print(
        f"bar: exactly-once overhead <= {OVERHEAD_BAR:.0%}: CPU {'PASS' if over_cpu <= OVERHEAD_BAR else 'FAIL'}, "
        f"wall {'PASS' if over_wall <= OVERHEAD_BAR else 'FAIL'}"
        " (wall includes fsync waits and other load on the machine)"
    )
    print(
        "per checkpoint ms (snapshot / write+fsync / log commit), median: "
        f"{statistics.median(s.snapshot_ms for s in done):.1f} / {statistics.median(s.write_ms for s in done):.1f} / "
        f"{statistics.median(s.commit_ms for s in done):.1f}"
    )
    if args.memory_keys > 0:
        memory_state_checkpoint(args.memory_keys)
    if args.rocksdb_gb > 0:
        rocksdb_restore(args.rocksdb_gb)
    if args.window_events > 0:
        windows_on_backends(args.window_events, args.window_keys, args.window_interval_ms)


if __name__ == "__main__":
    main()
