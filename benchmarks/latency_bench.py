"""End-to-end latency of Kafka → map → Kafka at a steady rate: millstream next to a bare confluent-kafka
consume→produce hop, in the same run, with the CPU each spends per event.

Each variant is a *hop* process between two fresh one-partition topics ``A`` → ``B``:

    bare:       a confluent-kafka consumer (assigned to A) and producer: ``poll`` → parse (orjson) → add a field
                → serialize → ``produce`` to B (what a hand-written Python service does);
    bare-kept:  the bare hop that also does what the job's sink must: each output record keeps its input
                record's timestamp, and failed deliveries are reported (a delivery callback, with
                ``delivery.report.only.error``); not in the default set, for a comparison of like with like;
    default:    a millstream job ``KafkaSource(A) → map → KafkaSink(B)`` with default settings;
    timeout1:   the same job with ``env.set_buffer_timeout(1)`` (the wait before polling idle sources: 1 ms).

Every client uses millstream's Kafka client defaults (``millstream.log.kafka_config``: ``read_committed``,
``fetch.wait.max.ms`` 20, an idempotent producer with ``linger.ms`` 5), the bare hop included, so only the
loop between consume and produce differs; ``--fetch-wait`` overrides ``fetch.wait.max.ms`` of every hop.

This process paces ``--rate`` events/s (default 10,000) for ``--seconds`` into A, each event carrying its send
time, and a consumer on B computes ``receive time - send time`` per event (the first 0.5 s are warm-up and
not counted). The hop's CPU (``time.process_time`` of its process, librdkafka's threads included) is read
when pacing starts and when the last event has arrived: CPU µs per event = the difference / events; it is
also printed from a reading 1 s after pacing starts (the steady state, as the latency's warm-up is left out).
The part of it spent by the hop's loop thread (the bare loop, or the job's thread) is printed as ``loop
thread``: it leaves out librdkafka's threads, whose share is noisy on a loaded machine. The ratio moves from
round to round (1.1-1.3x on this machine): use ``--repeat 7`` or more for a median that holds.

The variants run one after another, ``--repeat`` rounds (default 3), each round in the same order
(bare, default, timeout1); each run's p50/p99/CPU is printed, then the median over the runs of each variant.
``--before-src DIR`` adds ``default-before`` and ``timeout1-before``: the same jobs importing millstream from
``DIR`` (another checkout's ``src``), interleaved in the same rounds, for a before/after comparison.
Bar (issue 20, item 4): default p50 within 5 ms of the bare hop's, at no more than 1.2x its CPU per event.
With ``bare-kept`` among the variants, the job's CPU is also printed as a ratio to it: the cost of the job's
machinery apart from what any hop that keeps timestamps and reports failed deliveries pays (with ``--log file``
``bare-kept`` is the bare hop).

    PYTHONPATH=src python benchmarks/latency_bench.py [--bootstrap HOST:PORT] [--rate 10000] [--seconds 5]
        [--repeat 3] [--variants bare,default,timeout1,bare-kept] [--fetch-wait MS] [--before-src DIR]
        [--log kafka|file] [--profile-job FILE]   # cProfile the job's thread into FILE (python -m pstats FILE)
        [--round-costs]

``--round-costs`` (Kafka) splits the loop thread's CPU into a cost per round and a cost per event: each hop
notes, for every round of its loop that read something (the bare loop's ``poll`` → ``produce``, the job's
prepared round), the events and the thread's CPU time (the two clock reads add about 0.5 µs a round); a
least-squares line through the rounds after the first second's events gives ``per round`` (its intercept) and
``per event`` (its slope), with the mean events a round.
With thousands of rounds a run, the split is steadier than the CPU totals, and it shows where a difference
lies: in the work per event, or in what each wake-up of the loop costs (at 10,000 events/s a round carries
only some 70-90 events, so a microsecond a round is about 0.013 µs an event).

``--log file`` runs the same on the embedded log (``file://`` in a temp dir, shared by the processes): the bare
hop is a blocking ``EmbeddedLog.read(timeout_ms=100)`` → parse → ``append`` loop, the jobs read and write with
``LogSource``/``LogSink``, this process appends the paced events in small batches and reads the output with
blocking reads. Another process's commits are seen within the log's ``poll_interval_ms`` (5 ms) by every
side alike.

Without ``--bootstrap`` it starts the test suite's Tansu broker. Tansu does not wake a waiting fetch when
records arrive: an empty fetch is held ``fetch.wait.max.ms``, which every hop (and the measuring consumer)
pays alike; on Apache Kafka the figures are lower for every variant.
"""

from __future__ import annotations

import argparse
import atexit
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as KTP

from millstream.log.kafka_config import KafkaSettings

P50_BAR_MS = 5.0
CPU_BAR = 1.2
VARIANTS = ("bare", "default", "timeout1", "bare-kept")


def hop_settings(bootstrap: str, fetch_wait: int | None) -> KafkaSettings:
    """millstream's client defaults (plus ``--fetch-wait``), for the bare hop's clients."""
    props = {} if fetch_wait is None else {"consumer.fetch.wait.max.ms": fetch_wait}
    return KafkaSettings(bootstrap, props)


# -- the hop processes ---------------------------------------------------------------------------------


def serve_commands(stop: threading.Event, loop_thread: int) -> None:
    """Answer ``cpu`` lines on stdin with this process's CPU seconds and those of the thread ``loop_thread`` (the
    hop's loop: the bare loop, or the job's thread); set ``stop`` when stdin closes."""
    clock = time.pthread_getcpuclockid(loop_thread)
    for line in sys.stdin:
        if line.strip() == "cpu":
            print(f"{time.process_time():.6f} {time.clock_gettime(clock):.6f}", flush=True)
    stop.set()


def serve_bare_log(url: str, src: str, dst: str) -> None:
    """The bare hop on the embedded log: blocking reads (woken by commits), parse, append."""
    from millstream.core.record import ProducerRecord
    from millstream.log import open_log

    log = open_log(url)
    stop = threading.Event()
    print("ready", flush=True)
    threading.Thread(target=serve_commands, args=(stop, threading.get_ident()), daemon=True).start()
    loads, dumps = orjson.loads, orjson.dumps
    offset = 0
    try:
        while not stop.is_set():
            recs = log.read(src, 0, offset, max_records=4096, timeout_ms=100)
            if recs:
                offset = recs[-1].offset + 1
                log.append(dst, 0, [ProducerRecord(dumps({**loads(r.value), "hop": 1})) for r in recs])
    finally:
        log.close()


def note_rounds(path: str | None) -> list[tuple[int, int]] | None:
    """With ``--round-costs``: the list a hop appends ``(events, loop-thread CPU ns)`` to per round that read
    something, written to ``path`` (one ``events ns`` line each) when the process exits."""
    if not path:
        return None
    rounds: list[tuple[int, int]] = []

    def write() -> None:
        with open(path, "w") as f:
            f.writelines(f"{n} {ns}\n" for n, ns in rounds)

    atexit.register(write)
    return rounds


def serve_bare(
    bootstrap: str, src: str, dst: str, fetch_wait: int | None, kept: bool = False, rounds_path: str | None = None
) -> None:
    """The bare hop; ``kept`` (``bare-kept``): each output record also keeps its input record's timestamp, and
    delivery errors are reported through a callback (the producer with ``delivery.report.only.error``), as
    millstream's at-least-once Kafka sink does."""
    if bootstrap.startswith("file://"):
        serve_bare_log(bootstrap, src, dst)
        return
    rounds = note_rounds(rounds_path)
    thread_ns = time.thread_time_ns
    settings = hop_settings(bootstrap, fetch_wait)
    conf = settings.consumer_config(**{"group.id": f"bare-{uuid.uuid4().hex[:8]}"})
    conf.pop("logger", None)
    pconf = settings.producer_config(**({"delivery.report.only.error": True} if kept else {}))
    pconf.pop("logger", None)
    c, p = Consumer(conf), Producer(pconf)
    c.assign([KTP(src, 0, 0)])
    p.list_topics(dst, timeout=10)  # connected (and the idempotent producer id fetched) before "ready"
    c.consume(1, 0.2)
    stop = threading.Event()
    print("ready", flush=True)
    threading.Thread(target=serve_commands, args=(stop, threading.get_ident()), daemon=True).start()
    loads, dumps, produce = orjson.loads, orjson.dumps, p.produce
    failed: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:  # (called for failed deliveries only)
        failed.append(err)

    try:
        while not stop.is_set():
            t0 = 0 if rounds is None else thread_ns()  # (the clock read only with --round-costs)
            first = c.poll(0.1)  # returns as soon as a record is there
            if first is None:
                continue
            batch = [first, *c.consume(4095, 0)]
            for m in batch:
                if m.error() is not None:
                    continue
                if kept:
                    ts = m.timestamp()[1]
                    produce(
                        dst, dumps({**loads(m.value()), "hop": 1}), partition=0, timestamp=ts, on_delivery=on_delivery
                    )
                else:
                    produce(dst, dumps({**loads(m.value()), "hop": 1}), partition=0)
            p.poll(0)
            if rounds is not None:
                rounds.append((len(batch), thread_ns() - t0))
            if failed:
                raise RuntimeError(f"delivery failed: {failed[0]}")
    finally:
        p.flush(10)
        c.close()


def profile_jobs(path: str) -> None:
    """cProfile every job run of this process (its thread's CPU time), the stats written to ``path`` when it
    ends."""
    import cProfile

    from millstream.runtime.job import JobRunner

    run = JobRunner.run

    def profiled(self: JobRunner) -> Any:
        prof = cProfile.Profile(time.thread_time)  # CPU time of the job's thread, not wall time
        prof.enable()
        try:
            return run(self)
        finally:
            prof.disable()
            prof.dump_stats(path)

    JobRunner.run = profiled  # type: ignore[method-assign]


def time_rounds(rounds: list[tuple[int, int]]) -> None:
    """Note each prepared round of the lean loop (``millstream.runtime.lean_loop``) in ``rounds``: the events it
    read and its thread's CPU ns (``--round-costs``; a job whose code has no prepared round notes none)."""
    from millstream.runtime import lean_loop

    prepared = getattr(lean_loop, "_prepared_round", None)
    if prepared is None:
        return
    thread_ns = time.thread_time_ns

    def timed(*args: Any) -> Any:
        fn = prepared(*args)
        if fn is None:
            return None

        def round_(batch: int, wait_s: float) -> int:
            t0 = thread_ns()
            n = fn(batch, wait_s)
            if n:
                rounds.append((n, thread_ns() - t0))
            return n

        return round_

    lean_loop._prepared_round = timed


def serve_job(
    bootstrap: str,
    src: str,
    dst: str,
    fetch_wait: int | None,
    buffer_timeout: int | None,
    profile: str | None = None,
    rounds_path: str | None = None,
) -> None:
    import millstream  # noqa: F401 - registers the runtime
    from millstream import StreamExecutionEnvironment, WatermarkStrategy
    from millstream.connectors import KafkaSink, KafkaSource, LogSink, LogSource, OffsetsInitializer

    if profile:
        profile_jobs(profile)
    rounds = note_rounds(rounds_path)
    if rounds is not None:
        time_rounds(rounds)
    env = StreamExecutionEnvironment.get_execution_environment()
    if buffer_timeout is not None:
        env.set_buffer_timeout(buffer_timeout)
    embedded = bootstrap.startswith("file://")
    builder = LogSource.builder().set_log(bootstrap) if embedded else KafkaSource.builder()
    if not embedded:
        builder.set_bootstrap_servers(bootstrap)
    builder.set_topics(src).set_starting_offsets(OffsetsInitializer.earliest()).set_value_format("json")
    if fetch_wait is not None and not embedded:
        builder = builder.set_property("consumer.fetch.wait.max.ms", fetch_wait)
    if embedded:
        sink = LogSink.builder().set_log(bootstrap).set_topic(dst).build()
    else:
        sink = KafkaSink.builder().set_bootstrap_servers(bootstrap).set_topic(dst).build()
    env.from_source(builder.build(), WatermarkStrategy.no_watermarks(), "A").map(lambda e: {**e, "hop": 1}).sink_to(
        sink
    )
    job = env.execute_async("latency map job")
    deadline = time.monotonic() + 30
    reader = job.runner.drivers[0].reader
    while not reader.positions and time.monotonic() < deadline:
        time.sleep(0.01)
    stop = threading.Event()
    print("ready", flush=True)
    serve_commands(stop, job._thread.ident or 0)
    job.cancel()
    job.get_job_execution_result(30)


class Hop:
    """A hop process (``--serve VARIANT SRC DST``) with a ``cpu()`` query."""

    def __init__(
        self,
        variant: str,
        bootstrap: str,
        src: str,
        dst: str,
        fetch_wait: int | None,
        before_src: str | None = None,
        profile: str | None = None,
        rounds_path: str | None = None,
    ) -> None:
        env = None
        if variant.endswith("-before"):
            variant = variant.removesuffix("-before")
            env = {**os.environ, "PYTHONPATH": str(before_src)}
        cmd = [sys.executable, __file__, "--serve", variant, src, dst, "--bootstrap", bootstrap]
        if fetch_wait is not None:
            cmd += ["--fetch-wait", str(fetch_wait)]
        if profile and not variant.startswith("bare"):
            cmd += ["--profile-job", profile]
        if rounds_path:
            cmd += ["--rounds-file", rounds_path]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.close()
            raise RuntimeError(f"the {variant} hop did not start")

    def cpu(self) -> tuple[float, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("cpu\n")
        self.proc.stdin.flush()
        process, thread = self.proc.stdout.readline().split()
        return float(process), float(thread)

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


# -- pacing and measuring ------------------------------------------------------------------------------


def pace(bootstrap: str, topic: str, rate: int, seconds: float) -> int:
    """Produce ``rate`` events/s for ``seconds``, each ``{"sent": epoch ns, "i": n}``; return how many."""
    if bootstrap.startswith("file://"):
        return pace_log(bootstrap, topic, rate, seconds)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all", "enable.idempotence": True})
    p.list_topics(topic, timeout=10)
    start = time.perf_counter()
    sent = 0
    total = int(rate * seconds)
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            p.produce(topic, orjson.dumps({"sent": time.time_ns(), "i": sent}), partition=0)
            sent += 1
        p.poll(0)
        time.sleep(0.0005)
    p.flush(30)
    return sent


def pace_log(url: str, topic: str, rate: int, seconds: float) -> int:
    """:func:`pace` on the embedded log: what is due every 0.5 ms, appended as one batch."""
    from millstream.core.record import ProducerRecord
    from millstream.log import open_log

    log = open_log(url)
    start = time.perf_counter()
    sent = 0
    total = int(rate * seconds)
    try:
        while sent < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            if due > sent:
                log.append(
                    topic, 0, [ProducerRecord(orjson.dumps({"sent": time.time_ns(), "i": i})) for i in range(sent, due)]
                )
                sent = due
            time.sleep(0.0005)
    finally:
        log.close()
    return sent


def measure_log(url: str, topic: str, expected: int, ready: threading.Event, out: list[float]) -> None:
    """:func:`measure` on the embedded log, with blocking reads."""
    from millstream.log import open_log

    log = open_log(url)
    ready.set()
    lat: dict[int, float] = {}
    offset = 0
    deadline = time.monotonic() + 60
    try:
        while len(lat) < expected and time.monotonic() < deadline:
            recs = log.read(topic, 0, offset, max_records=1000, timeout_ms=50)
            now = time.time_ns()
            for r in recs:
                v = orjson.loads(r.value)
                lat[v["i"]] = (now - v["sent"]) / 1e6
            if recs:
                offset = recs[-1].offset + 1
    finally:
        log.close()
    out.extend(lat[i] for i in sorted(lat))


def measure(bootstrap: str, topic: str, expected: int, ready: threading.Event, out: list[float]) -> None:
    """Latencies (ms) of ``expected`` events on ``topic``, in the order they were sent."""
    if bootstrap.startswith("file://"):
        measure_log(bootstrap, topic, expected, ready, out)
        return
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"measure-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 5,
            "queued.min.messages": 1_000_000,
        }
    )
    c.assign([KTP(topic, 0, 0)])
    c.consume(1, 0.2)
    ready.set()
    lat: dict[int, float] = {}
    deadline = time.monotonic() + 60
    try:
        while len(lat) < expected and time.monotonic() < deadline:
            first = c.poll(0.05)
            if first is None:
                continue
            for m in [first, *c.consume(1000, 0)]:
                now = time.time_ns()
                if m.error() is None:
                    v = orjson.loads(m.value())
                    lat[v["i"]] = (now - v["sent"]) / 1e6
    finally:
        c.close()
    out.extend(lat[i] for i in sorted(lat))


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


WARM_UP_S = 1.0
STEADY: dict[str, list[tuple[float, float]]] = {}  # variant -> CPU µs/event (process, loop thread) after warm-up
ROUND_COSTS: dict[str, list[tuple[float, float, float]]] = {}  # variant -> (µs a round, µs an event, events a round)


def round_costs(path: str, skip_events: int) -> tuple[float, float, float] | None:
    """:func:`fit_rounds` of the rounds a hop noted in ``path`` (``--round-costs``; the file is removed), those
    of its first ``skip_events`` events left out (the warm-up)."""
    try:
        with open(path) as f:
            rows = [(int(n), int(ns)) for n, ns in (line.split() for line in f if line.strip())]
    except FileNotFoundError:
        return None
    os.unlink(path)
    seen, kept = 0, []
    for n, ns in rows:
        seen += n
        if seen > skip_events:
            kept.append((n, ns))
    return fit_rounds(kept)


def fit_rounds(rows: list[tuple[int, int]]) -> tuple[float, float, float] | None:
    """The least-squares line of CPU ns against events over ``rows`` (``(events, ns)`` per round): ``(µs per
    round, µs per event, mean events per round)``; ``None`` with fewer than 10 rounds or one batch size."""
    if len(rows) < 10 or len({n for n, _ in rows}) < 2:
        return None
    slope, intercept = statistics.linear_regression([float(n) for n, _ in rows], [ns / 1000 for _, ns in rows])
    return intercept, slope, statistics.fmean(n for n, _ in rows)


def one_run(variant: str, bootstrap: str, args: argparse.Namespace) -> tuple[float, float, float, float]:
    """(p50 ms, p99 ms, CPU µs per event, of which the loop's thread) of one run of ``variant``."""
    from millstream.log import open_log
    from millstream.log.kafka import KafkaLog

    tag = uuid.uuid4().hex[:6]
    a, b = f"lat-a-{tag}", f"lat-b-{tag}"
    log = open_log(bootstrap) if bootstrap.startswith("file://") else KafkaLog(bootstrap)
    for t in (a, b):
        log.create_topic(t, 1)
    log.close()
    rounds_path = None
    if args.round_costs:
        rounds_path = os.path.join(__import__("tempfile").gettempdir(), f"millstream-lat-rounds-{tag}.txt")
    hop = Hop(variant, bootstrap, a, b, args.fetch_wait, args.before_src, args.profile_job, rounds_path)
    try:
        expected = int(args.rate * args.seconds)
        lat: list[float] = []
        ready = threading.Event()
        t = threading.Thread(target=measure, args=(bootstrap, b, expected, ready, lat), daemon=True)
        t.start()
        ready.wait(30)
        time.sleep(0.2)
        cpu0 = hop.cpu()
        warm: list[tuple[float, float]] = []
        timer = threading.Timer(WARM_UP_S, lambda: warm.append(hop.cpu()))
        timer.start()
        sent = pace(bootstrap, a, args.rate, args.seconds)
        t.join(60)
        timer.join()
        cpu1 = hop.cpu()
    finally:
        hop.close()
    if len(lat) < expected:
        print(f"    ({variant}: received {len(lat):,} of {expected:,} events)")
    if rounds_path:
        costs = round_costs(rounds_path, int(args.rate * WARM_UP_S))
        if costs is not None:
            ROUND_COSTS.setdefault(variant, []).append(costs)
    lat = lat[int(args.rate * 0.5) :]
    per_event = 1e6 / max(1, sent)
    after = 1e6 / max(1.0, sent - args.rate * WARM_UP_S)
    STEADY.setdefault(variant, []).append(
        ((cpu1[0] - warm[0][0]) * after, (cpu1[1] - warm[0][1]) * after) if warm else (float("nan"), float("nan"))
    )
    return pct(lat, 0.5), pct(lat, 0.99), (cpu1[0] - cpu0[0]) * per_event, (cpu1[1] - cpu0[1]) * per_event


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", help="an existing cluster (default: start Tansu for the run)")
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--variants", default="bare,default,timeout1", help="comma-separated subset of " + ",".join(VARIANTS)
    )
    ap.add_argument("--fetch-wait", type=int, help="fetch.wait.max.ms of every hop (default: millstream's, 20)")
    ap.add_argument("--before-src", help="also run the jobs with millstream imported from this directory")
    ap.add_argument("--log", choices=["kafka", "file"], default="kafka", help="file: the embedded log instead")
    ap.add_argument(
        "--profile-job", metavar="FILE", help="cProfile the jobs' thread (CPU figures then include the profiler)"
    )
    ap.add_argument(
        "--round-costs", action="store_true", help="split the loop thread's CPU into a cost per round and per event"
    )
    ap.add_argument("--serve", nargs=3, metavar=("VARIANT", "SRC", "DST"), help=argparse.SUPPRESS)
    ap.add_argument("--rounds-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        variant, src, dst = args.serve
        if variant in ("bare", "bare-kept"):
            serve_bare(args.bootstrap, src, dst, args.fetch_wait, variant == "bare-kept", args.rounds_file)
        else:
            timeout = 1 if variant == "timeout1" else None
            serve_job(args.bootstrap, src, dst, args.fetch_wait, timeout, args.profile_job, args.rounds_file)
        return
    if args.round_costs and args.log == "file":
        ap.error("--round-costs is for the Kafka hops (--log kafka)")
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants: {', '.join(sorted(unknown))}")
    if args.before_src:
        variants += [f"{v}-before" for v in variants if not v.startswith("bare")]
    broker = None
    bootstrap = args.bootstrap
    if args.log == "file":
        bootstrap = f"file://{__import__('tempfile').mkdtemp(prefix='millstream-lat-')}/log"
    elif not bootstrap:
        sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tests" / "fixtures"))
        from kafka_broker import TansuBroker  # type: ignore[import-not-found]

        broker = TansuBroker(__import__("pathlib").Path(__import__("tempfile").mkdtemp(prefix="millstream-lat-")))
        broker.start()
        bootstrap = broker.bootstrap
        print(f"started Tansu at {bootstrap}")
    results: dict[str, list[tuple[float, float, float, float]]] = {v: [] for v in variants}
    try:
        where = "embedded log (file://)" if args.log == "file" else "Kafka"
        print(f"== {where}: → map → at {args.rate:,} events/s for {args.seconds:g} s, {args.repeat} rounds")
        for i in range(max(1, args.repeat)):
            for v in variants:
                r = one_run(v, bootstrap, args)
                results[v].append(r)
                print(
                    f"  round {i + 1} {v:15s} p50 {r[0]:7.2f} ms  p99 {r[1]:7.2f} ms  CPU {r[2]:6.1f} µs/event  "
                    f"(loop thread {r[3]:5.2f})"
                )
    finally:
        if broker is not None:
            broker.stop()
    print("median over the rounds:")
    med: dict[str, tuple[float, float, float, float]] = {}
    for v, rs in results.items():
        med[v] = tuple(statistics.median(r[k] for r in rs) for k in range(4))  # type: ignore[assignment]
        print(
            f"  {v:15s} p50 {med[v][0]:7.2f} ms  p99 {med[v][1]:7.2f} ms  CPU {med[v][2]:6.1f} µs/event  "
            f"(loop thread {med[v][3]:5.2f})"
        )
    steady = {v: tuple(statistics.median(r[k] for r in rs) for k in range(2)) for v, rs in STEADY.items()}
    print(f"CPU after the first {WARM_UP_S:g} s of pacing (steady state; median over the rounds):")
    for v, (proc, loop) in steady.items():
        print(f"  {v:15s} CPU {proc:6.1f} µs/event  (loop thread {loop:5.2f})")
    if ROUND_COSTS:
        print("loop thread CPU split by a line through its rounds (median over the runs):")
        for v, costs in ROUND_COSTS.items():
            per_round, per_event, size = (statistics.median(c[k] for c in costs) for k in range(3))
            print(f"  {v:15s} {per_round:6.1f} µs a round + {per_event:5.3f} µs an event  ({size:.0f} events a round)")
    if "bare" in med and "default" in med:
        dp50 = med["default"][0] - med["bare"][0]
        cpu = med["default"][2] / med["bare"][2]
        cpu_steady = steady["default"][0] / steady["bare"][0]
        ok = dp50 <= P50_BAR_MS and cpu <= CPU_BAR
        print(
            f"default vs bare: p50 {dp50:+.2f} ms (bar <= {P50_BAR_MS:g}), CPU {cpu:.2f}x (bar <= {CPU_BAR:g}x; "
            f"{cpu_steady:.2f}x after the first {WARM_UP_S:g} s): {'PASS' if ok else 'FAIL'}"
        )
    if "bare-kept" in med and "default" in med:
        print(
            f"default vs bare-kept (a hop that also keeps timestamps and reports delivery errors): CPU "
            f"{med['default'][2] / med['bare-kept'][2]:.2f}x, "
            f"loop thread {med['default'][3] / med['bare-kept'][3]:.2f}x"
        )


if __name__ == "__main__":
    main()
