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
The RocksDB restore figure (1 GB of keyed state) is printed by ``--rocksdb-restore-gb`` when the RocksDB
state backend is available.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=3_000_000)
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
