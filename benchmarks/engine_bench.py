"""Stream engine throughput, end to end, against the bare read+parse loop measured in the same run.

Writes N JSON events ``{"key", "ts", "value"}`` (100 keys, 1 ms apart, slightly out of order) to a
one-partition topic of the embedded log (``file://`` in a temp dir), then runs the job

    log source (JSON) → key_by(key) → 1-second tumbling windows → count + sum(value) → log sink

with a bounded-out-of-orderness watermark of 100 ms, and separately a bare loop that only reads the same
records from the log and parses each with ``orjson.loads`` (the ceiling for any job on this input). The
bare loop runs with the same garbage-collector thresholds as jobs (``runtime.job.batch_gc``).
Each side runs ``--repeat`` times (alternating) and the fastest run of each counts.
Prints both rates and their ratio. Rates are per CPU second of this process (``time.process_time``), so
other load on a shared machine does not distort them; everything runs in one thread, i.e. on one core.

    PYTHONPATH=src python benchmarks/engine_bench.py [--events 1000000] [--log file|memory] [--batch 4096]
        [--repeat 3]

Bars (from the project issue): >= 250,000 events/s end to end on one core, and >= 40% of the bare loop.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import orjson

import millstream  # noqa: F401 - registers the runtime
from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink, LogSource, OffsetsInitializer
from millstream.core.record import ProducerRecord
from millstream.functions import Aggregates, Count, ProcessWindowFunction, Sum
from millstream.log import Log, open_log
from millstream.runtime.job import batch_gc
from millstream.windows import TumblingEventTimeWindows

RATE_BAR = 250_000
RATIO_BAR = 0.40


def produce(log: Log, n: int) -> None:
    log.create_topic("events", 1, {"retention.ms": -1})
    log.create_topic("counts", 1, {"retention.ms": -1})
    base = 1_700_000_000_000
    batch: list[ProducerRecord] = []
    for i in range(n):
        ts = base + i - (i % 7) * 10  # up to 60 ms out of order
        value = orjson.dumps({"key": f"k{i % 100}", "ts": ts, "value": i % 1000})
        batch.append(ProducerRecord(value, None, ts))
        if len(batch) == 10_000:
            log.append("events", 0, batch)
            batch = []
    if batch:
        log.append("events", 0, batch)


class WithKey(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        for r in elements:
            yield {"key": key, "start": context.window().start, "count": r["count"], "sum": r["sum"]}


def run_job(url: str, batch: int) -> tuple[float, float, int]:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(batch)
    source = (
        LogSource.builder()
        .set_log(url)
        .set_topics("events")
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .set_value_format("json")
        .build()
    )
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(
        Duration.of_millis(100)
    ).with_timestamp_assigner(lambda e, ts: e["ts"])
    (
        env.from_source(source, strategy, "events")
        .key_by(lambda e: e["key"])
        .window(TumblingEventTimeWindows.of(Duration.of_seconds(1)))
        .aggregate(Aggregates(count=Count(), sum=Sum("value")), WithKey())
        .sink_to(LogSink.builder().set_log(url).set_topic("counts").build())
    )
    started, wall = time.process_time(), time.perf_counter()
    result = env.execute("engine bench")
    elapsed, wall = time.process_time() - started, time.perf_counter() - wall
    return elapsed, wall, sum(result.records_written.values())


def bare_loop(url: str, batch: int) -> tuple[float, float, int]:
    """Read and parse every event through a fresh log connection, as the job's source does."""
    loads = orjson.loads
    log = open_log(url)
    try:
        with batch_gc():  # the same garbage-collector settings as the job
            return _bare(log, batch, loads)
    finally:
        log.close()


def _bare(log: Log, batch: int, loads: Any) -> tuple[float, float, int]:
    started, wall = time.process_time(), time.perf_counter()
    offset, n, total = 0, 0, 0
    while True:
        recs = log.read("events", 0, offset, max_records=batch)
        if not recs:
            break
        vals = [loads(r.value) for r in recs]
        n += len(vals)
        total += len(vals)
        offset = recs[-1].offset + 1
    return time.process_time() - started, time.perf_counter() - wall, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--log", choices=["file", "memory"], default="file")
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating; the best counts")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"file://{tmp}/log" if args.log == "file" else "memory://engine-bench"
        log = open_log(url)
        produce(log, args.events)
        bares, jobs = [], []
        for _ in range(max(1, args.repeat)):
            bares.append(bare_loop(url, args.batch))
            before = log.latest_offset("counts", 0)
            jobs.append(run_job(url, args.batch))
            out_n = log.latest_offset("counts", 0) - before
        log.close()
    bare_s, bare_wall, bare_n = min(bares)
    job_s, job_wall, _written = min(jobs)
    bare_rate = bare_n / bare_s
    job_rate = args.events / job_s
    ratio = job_rate / bare_rate
    print(f"log: {args.log}://  events: {args.events:,}  batch: {args.batch}  best of {len(jobs)} runs each")
    print(f"bare read+parse loop: {bare_rate:12,.0f} events/s  ({bare_s:.2f} s CPU, {bare_wall:.2f} s wall)")
    print(
        f"engine end to end:    {job_rate:12,.0f} events/s  ({job_s:.2f} s CPU, {job_wall:.2f} s wall, "
        f"{out_n:,} window results written)"
    )
    print(f"wall-clock rates:     {bare_n / bare_wall:12,.0f} bare, {args.events / job_wall:,.0f} engine")
    print(f"ratio engine/bare:    {ratio:12.1%}")
    ok = job_rate >= RATE_BAR and ratio >= RATIO_BAR
    print(f"bars: >= {RATE_BAR:,} events/s and >= {RATIO_BAR:.0%} of bare: {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
