"""Parallel execution: workload W at parallelism 1 and 2 (and more), on the embedded log or the test broker.

Workload W (the parallel-execution issue's): N JSON page-view events ``{"page", "ts", "bytes"}`` (100 pages,
1 ms apart, slightly out of order) in 4 partitions of a topic →

    log source (JSON) → key_by(page) → 1 s tumbling windows → count + sum(bytes) → log topic

with a bounded-out-of-orderness watermark of 100 ms. Each parallelism runs ``--repeat`` times (interleaved)
and the fastest run counts. Printed per parallelism:

- ``wall``: from ``env.execute()`` to its return — including starting the worker interpreters (about 0.2-0.4 s
  on this machine), which a long-running job pays once;
- ``events/s``: events / wall;
- ``steady events/s``: events / (wall - startup), where startup is the same job's wall time on an *empty*
  topic at that parallelism (measured in the same run), i.e. the rate once the workers run;
- ``CPU``: CPU seconds of every process of the run (this one and the workers), and its ratio to parallelism 1's
  — what exchanging records between processes costs on top of the work itself;
- the ratio of each to parallelism 1, and whether the outputs are identical (as sorted rows).

Parallelism 1 runs the single-process engine (the job thread of ``env.execute()``), exactly as before parallel
execution existed, so it *is* today's engine: its loss against itself is 0 by construction.

    PYTHONPATH=src python benchmarks/parallel_bench.py [--events 1000000] [--log file|kafka]
        [--parallelism 1,2] [--repeat 3] [--without-exchange] [--one-phase]

At parallelism above 1 the windows are pre-aggregated before the key_by exchange (the default,
``table.optimizer.agg-phase-strategy`` ``AUTO``: one partial per page and second crosses it instead of every
event; docs/parallelism.md); ``--one-phase`` adds each parallelism with ``ONE_PHASE`` (every event crosses),
interleaved in the same rounds.

``--without-exchange`` also prints the ceiling of parallelism 2 here: the same work split over two processes
with nothing exchanged (two single-process jobs at once, each reading half the partitions), against one job
over all partitions — what two cores give this job before any record crosses a process.

Bars (from the issue): parallelism 2 >= 1.6x the events/s of parallelism 1 on file://, >= 1.3x on the test
broker (on this 2-core machine; the job is CPU-bound, so 2 cores bound it at 2x).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

import millstream  # noqa: F401 - registers the runtime
from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink, LogSource, OffsetsInitializer
from millstream.core.record import ProducerRecord
from millstream.functions import Aggregates, Count, ProcessWindowFunction, Sum
from millstream.log import Log, open_log
from millstream.runtime.parallel.launcher import forked_cpu_seconds
from millstream.windows import TumblingEventTimeWindows

PARTITIONS = 4
BARS = {"file": 1.6, "kafka": 1.3}


def produce(log: Log, topic: str, n: int) -> None:
    log.create_topic(topic, PARTITIONS, {"retention.ms": -1})
    base = 1_700_000_000_000
    batches: list[list[ProducerRecord]] = [[] for _ in range(PARTITIONS)]
    for i in range(n):
        ts = base + i - (i % 7) * 10
        p = i % PARTITIONS
        batches[p].append(ProducerRecord(orjson.dumps({"page": f"/p{i % 100}", "ts": ts, "bytes": i % 1000}), None, ts))
        if len(batches[p]) == 10_000:
            log.append(topic, p, batches[p])
            batches[p] = []
    for p, b in enumerate(batches):
        if b:
            log.append(topic, p, b)


class WithPage(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        for r in elements:
            yield {"page": key, "start": context.window().start, "count": r["count"], "bytes": r["bytes"]}


BROKER_PID: int | None = None  # the test broker's process, when the log is on it


def broker_cpu_seconds() -> float:
    """CPU time the test broker has used so far (0 without one): on ``kafka://`` it shares the 2 cores."""
    if BROKER_PID is None:
        return 0.0
    fields = Path(f"/proc/{BROKER_PID}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    """CPU time of this process and its ended workers (spawned ones are its children; forked ones are the fork
    server's, which reports theirs)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + forked_cpu_seconds()


def run_w(
    url: str,
    topic: str,
    out_topic: str,
    parallelism: int,
    partitions: list[int] | None = None,
    agg_phase: str = "AUTO",
) -> tuple[float, float, float]:
    env = StreamExecutionEnvironment.get_execution_environment({"table.optimizer.agg-phase-strategy": agg_phase})
    env.set_parallelism(parallelism)
    builder = LogSource.builder().set_log(url)
    builder = (
        builder.set_topics(topic) if partitions is None else builder.set_partitions([(topic, p) for p in partitions])
    )
    source = (
        builder.set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .set_value_format("json")
        .build()
    )
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(100)).with_timestamp_assigner(
        lambda e, ts: e["ts"]
    )
    (
        env.from_source(source, strategy, "pageviews")
        .key_by(lambda e: e["page"])
        .window(TumblingEventTimeWindows.of(Duration.of_seconds(1)))
        .aggregate(Aggregates(count=Count(), bytes=Sum("bytes")), WithPage())
        .sink_to(LogSink.builder().set_log(url).set_topic(out_topic).build())
    )
    started, cpu, broker = time.perf_counter(), cpu_seconds(), broker_cpu_seconds()
    env.execute(f"W p{parallelism}")
    return time.perf_counter() - started, cpu_seconds() - cpu, broker_cpu_seconds() - broker


def without_exchange(url: str, topic: str, log: Log, repeat: int) -> tuple[float, float]:
    """The ceiling of parallelism 2 on this machine: W's work split in two with nothing exchanged — two
    single-process jobs at once, each over half the partitions (each windows only the events it reads, so their
    output is not W's) — next to one job over all of them, in forked processes alike. Best of ``repeat``."""
    ctx = multiprocessing.get_context("fork")
    ones, twos = [], []
    for _ in range(max(1, repeat)):
        runs = []
        for halves in ([list(range(PARTITIONS))], [[0, 1], [2, 3]]):
            outs = []
            for _part in halves:
                out = f"bound-{uuid.uuid4().hex[:6]}"
                log.create_topic(out, PARTITIONS, {"retention.ms": -1})
                outs.append(out)
            procs = [
                ctx.Process(target=run_w, args=(url, topic, o, 1, part)) for o, part in zip(outs, halves, strict=True)
            ]
            started = time.perf_counter()
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join()
            runs.append(time.perf_counter() - started)
        ones.append(runs[0])
        twos.append(runs[1])
    return min(ones), min(twos)


def read_rows(log: Log, topic: str) -> list[bytes]:
    rows: list[bytes] = []
    for p in range(log.describe_topic(topic).partitions):
        off = log.earliest_offset(topic, p)
        while True:
            recs = log.read(topic, p, off, max_records=10_000)
            if not recs:
                break
            rows.extend(bytes(r.value) for r in recs)
            off = recs[-1].offset + 1
    return sorted(rows)


@contextlib.contextmanager
def a_log(kind: str) -> Iterator[str]:
    if kind == "file":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"file://{tmp}/log"
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.fixtures.kafka_broker import TansuBroker

    global BROKER_PID
    with tempfile.TemporaryDirectory() as tmp:
        broker = TansuBroker(Path(tmp))
        broker.start()
        BROKER_PID = broker.proc.pid
        try:
            yield f"kafka://{broker.bootstrap}"
        finally:
            broker.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--log", choices=["file", "kafka"], default="file")
    ap.add_argument("--parallelism", default="1,2", help="comma-separated parallelisms to run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--without-exchange",
        action="store_true",
        help="also the ceiling: W's work split over 2 processes with nothing exchanged (see without_exchange)",
    )
    ap.add_argument(
        "--one-phase",
        action="store_true",
        help="also every parallelism above 1 with table.optimizer.agg-phase-strategy=ONE_PHASE (every element "
        "crosses the exchange; the default pre-aggregates the windows before it)",
    )
    args = ap.parse_args()
    pars: list[Any] = [int(p) for p in args.parallelism.split(",")]
    if args.one_phase:
        pars += [f"{p} one-phase" for p in pars if p > 1]
    with a_log(args.log) as url:
        log = open_log(url)
        topic, empty = f"w-{uuid.uuid4().hex[:6]}", f"empty-{uuid.uuid4().hex[:6]}"
        produce(log, topic, args.events)
        produce(log, empty, 0)
        walls: dict[Any, list[float]] = {p: [] for p in pars}
        cpus: dict[Any, list[float]] = {p: [] for p in pars}
        brokers: dict[Any, list[float]] = {p: [] for p in pars}
        starts: dict[Any, list[float]] = {p: [] for p in pars}
        outputs: dict[Any, list[bytes]] = {}
        for r in range(max(1, args.repeat)):
            for p in pars:
                n, phase = (p, "AUTO") if isinstance(p, int) else (int(p.split()[0]), "ONE_PHASE")
                out = f"out-{n}-{r}-{uuid.uuid4().hex[:6]}"
                log.create_topic(out, PARTITIONS, {"retention.ms": -1})
                log.create_topic(out + "-e", PARTITIONS, {"retention.ms": -1})
                wall, cpu, broker = run_w(url, topic, out, n, agg_phase=phase)
                walls[p].append(wall)
                cpus[p].append(cpu)
                brokers[p].append(broker)
                starts[p].append(run_w(url, empty, out + "-e", n, agg_phase=phase)[0] if n > 1 else 0.0)
                if r == 0:
                    outputs[p] = read_rows(log, out)
        bound = without_exchange(url, topic, log, args.repeat) if args.without_exchange else None
        log.close()
    print(
        f"workload W: {args.events:,} events in {PARTITIONS} partitions on {args.log}://, "
        f"best of {args.repeat}, {os.cpu_count()} cores"
    )
    base = None
    for p in pars:
        wall, start, cpu = min(walls[p]), min(starts[p]), min(cpus[p])
        broker = f"  broker CPU {min(brokers[p]):5.2f} s" if BROKER_PID is not None else ""
        rate, steady = args.events / wall, args.events / max(wall - start, 1e-9)
        if base is None:
            base = (rate, steady, cpu)
        same = "identical" if outputs[p] == outputs[pars[0]] else "DIFFERENT"
        print(
            f"parallelism {p}: wall {wall:6.2f} s (startup {start:4.2f} s)  {rate:10,.0f} events/s "
            f"({rate / base[0]:4.2f}x)  steady {steady:10,.0f} events/s ({steady / base[1]:4.2f}x)  "
            f"CPU {cpu:5.2f} s ({cpu / base[2]:4.2f}x){broker}  output {len(outputs[p]):,} rows, {same}"
        )
    if 1 in pars and 2 in pars:
        ratio = (args.events / min(walls[2])) / (args.events / min(walls[1]))
        bar = BARS[args.log]
        verdict = "PASS" if ratio >= bar else "FAIL"
        print(f"bar: parallelism 2 >= {bar}x parallelism 1 (end to end): {ratio:.2f}x {verdict}")
    if bound is not None:
        one, two = bound
        print(
            f"without exchange (the ceiling): one job over {PARTITIONS} partitions {one:5.2f} s, two jobs over "
            f"{PARTITIONS // 2} each at once {two:5.2f} s: {one / two:4.2f}x"
        )


if __name__ == "__main__":
    main()
