"""Reactive scale-out: workload W on 8 partitions with 1, then 2 instances of ``millstream run --reactive``
(each with one slot), on the embedded log; then the time from a kill -9 of an instance to output committed by
the others.

Workload W (the scale-out issue's): N JSON page-view events (100 pages) in 8 partitions of a ``file://`` topic
→ key_by page → 1 s tumbling count + sum(bytes) → an exactly-once log topic, checkpointed every second. Each
instance is a ``millstream run`` process; all instances start together, and the wall time runs from the start
of the first to the exit of the last — it includes starting the processes and, with 2 instances, the rescale
when the second joins (about what a real start of 2 instances costs). Outputs are compared. Printed next to
it, as ``benchmarks/parallel_bench.py`` does: the **steady** rate, events / (wall - startup), where startup is
the same number of instances' wall time on an *empty* topic in the same run (starting the interpreters, the
resource stabilization timeout, forking the workers, the final checkpoint) — the rate once the job runs. And
the **running** rate, measured rather than derived: events / the span in which the instances' workers used CPU
(their CPU time sampled from ``/proc`` every 50 ms; :class:`WorkerActivity`), best of the runs.

Failover: 2 instances run W over an input that a producer keeps appending to (event time = wall time); after
a warm-up one instance is killed with SIGKILL — first a follower (noticed at once), then the leader (noticed
when its session times out, ``--session-timeout``) — and the time until the next checkpoint commits (the
exactly-once output becomes visible) is printed, next to the session timeout.

Planned rescales: 2 instances run W over that growing input; a third joins, then a follower gets Ctrl-C. Printed:
the time until output is committed at the new parallelism, and the longest time without a committed checkpoint
meanwhile (the job checkpoints every second; a planned rescale commits at a checkpoint taken for it), and when the
follower exited.

    PYTHONPATH=src python benchmarks/scaleout_bench.py [--events 1000000] [--repeat 2] [--log file|kafka]
        [--session-timeout 2000] [--stabilization-ms 1000] [--skip-throughput] [--skip-planned] [--skip-failover]

Bars (from the issue): 2 instances >= 1.5x the events/s of 1 on file:// (this 2-core machine); kill -9 to
output on another instance <= session timeout + 2 s.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import signal
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

from millstream.core.record import ProducerRecord
from millstream.log import Log, open_log
from millstream.runtime.checkpoint_storage import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 8

PIPELINE = """
from typing import Any
from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import DeliveryGuarantee, LogSink, LogSource, OffsetsInitializer
from millstream.functions import Aggregates, Count, ProcessWindowFunction, Sum
from millstream.windows import TumblingEventTimeWindows
import os


class WithPage(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        for r in elements:
            yield {"page": key, "start": context.window().start, "count": r["count"], "bytes": r["bytes"]}


def build(env: StreamExecutionEnvironment) -> None:
    env.enable_checkpointing(1000)
    b = (LogSource.builder().set_topics(os.environ["W_IN"]).set_group_id("w").set_value_format("json")
         .set_starting_offsets(OffsetsInitializer.earliest()))
    if os.environ.get("W_BOUNDED") == "1":
        b = b.set_bounded(OffsetsInitializer.latest())
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(100)).with_timestamp_assigner(
        lambda e, ts: e["ts"])
    (env.from_source(b.build(), strategy, "events").uid("events")
        .key_by(lambda e: e["page"])
        .window(TumblingEventTimeWindows.of(Duration.of_seconds(1)))
        .aggregate(Aggregates(count=Count(), bytes=Sum("bytes")), WithPage()).uid("windows")
        .sink_to(LogSink.builder().set_topic(os.environ["W_OUT"])
                 .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE).build())
        .uid("sink"))
"""


def produce(log: Log, topic: str, n: int, base: int, start: int = 0) -> None:
    batches: list[list[ProducerRecord]] = [[] for _ in range(PARTITIONS)]
    for i in range(start, start + n):
        ts = base + i - (i % 7) * 10
        p = i % PARTITIONS
        batches[p].append(ProducerRecord(orjson.dumps({"page": f"/p{i % 100}", "ts": ts, "bytes": i % 1000}), None, ts))
        if len(batches[p]) == 10_000:
            log.append(topic, p, batches[p])
            batches[p] = []
    for p, b in enumerate(batches):
        if b:
            log.append(topic, p, b)


class Run:
    """One measured run: its topics (fresh names, so runs can share a broker), job id and directory."""

    stabilization_ms = 1000  #: every instance's --stabilization-ms (the bench's option sets it)

    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.tmp = url, tmp
        tag = uuid.uuid4().hex[:8]
        self.src, self.out, self.job_id = f"events-{tag}", f"out-{tag}", f"w-{tag}"
        with open_log(url) as log:
            log.create_topic(self.src, PARTITIONS)
            log.create_topic(self.out, 2)
        (tmp / "w.py").write_text(PIPELINE)

    def start(self, session_ms: int, bounded: bool, name: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "MILLSTREAM_CHECKPOINT_DIR": str(self.tmp / "ckpt"),
            "W_BOUNDED": "1" if bounded else "0",
            "W_IN": self.src,
            "W_OUT": self.out,
        }
        cmd = [sys.executable, "-m", "millstream", "run", str(self.tmp / "w.py"), "--reactive", "--job-id", self.job_id]
        cmd += ["--log", self.url, "-q", "--session-timeout-ms", str(session_ms)]
        cmd += ["--stabilization-ms", str(self.stabilization_ms)]
        with open(self.tmp / f"{name}.log", "wb") as out:
            return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)

    def out_rows(self) -> list[bytes]:
        rows: list[bytes] = []
        with open_log(self.url) as log:
            for p in range(2):
                off = 0
                while recs := log.read(self.out, p, off, max_records=10_000, timeout_ms=500):
                    rows.extend(bytes(r.value) for r in recs)
                    off = recs[-1].offset + 1
        return sorted(rows)


@contextlib.contextmanager
def a_log(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "file":
        yield f"file://{tmp}/log"
        return
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.kafka_broker import TansuBroker

    (tmp / "broker").mkdir()
    broker = TansuBroker(tmp / "broker")
    broker.start()
    try:
        yield f"kafka://{broker.bootstrap}"
    finally:
        broker.stop()


_HZ = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(name))
    return kids


class WorkerActivity:
    """Samples the CPU time of the instances' workers (the children of their fork servers, which are the
    instances' children) every 50 ms: the **running phase** is from the first sample in which a worker had used
    CPU to the last in which one used more — the time the job's workers ran, without the instances' start
    (interpreter, group, resource stabilization) and exit."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.cpu: dict[int, float] = {}
        self.first: float | None = None
        self.last: float | None = None

    def sample(self, now: float) -> None:
        kids = _children()
        for root in self.roots:
            for server in kids.get(root, []):
                for worker in kids.get(server, []):
                    try:
                        with open(f"/proc/{worker}/stat") as f:
                            fields = f.read().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    used = (int(fields[11]) + int(fields[12])) / _HZ
                    if used > self.cpu.get(worker, 0.0):
                        self.cpu[worker] = used
                        self.first = now if self.first is None else self.first
                        self.last = now

    @property
    def running_s(self) -> float:
        return 0.0 if self.first is None or self.last is None else self.last - self.first


def throughput(url: str, events: int, instances: int, session_ms: int) -> tuple[float, list[bytes], float]:
    """Wall time of ``instances`` instances running W over ``events`` events, their output, and the running
    phase (:class:`WorkerActivity`)."""
    with tempfile.TemporaryDirectory() as d:
        run = Run(url, Path(d))
        with open_log(url) as log:
            produce(log, run.src, events, 1_700_000_000_000)
        started = time.perf_counter()
        procs = [run.start(session_ms, True, f"i{k}") for k in range(instances)]
        activity = WorkerActivity([p.pid for p in procs])
        while any(p.poll() is None for p in procs):
            activity.sample(time.perf_counter())
            time.sleep(0.05)
        wall = time.perf_counter() - started
        for p in procs:
            if p.wait(900) != 0:
                raise SystemExit(f"an instance failed:\n{(Path(d) / 'i0.log').read_text()}")
        return wall, run.out_rows(), activity.running_s


def leader_instance(url: str, job_id: str) -> str:
    """The leading instance's id (``host-pid-suffix``), from the heartbeats (Kafka) or the group's state (file)."""
    with open_log(url) as log:
        raw = log.get_state(f"job-group/{job_id}/leader")
        if raw:
            return str(json.loads(raw)["instance"])
        topic = f"__millstream_job.{job_id}"
        end = log.latest_offset(topic, 0)
        for r in reversed(log.read(topic, 0, max(0, end - 200), max_records=200, timeout_ms=500)):
            body = json.loads(r.value or b"{}")
            if body.get("kind") == "heartbeat" and body.get("leader"):
                return str(body["instance"])
    return ""


def checkpoints(tmp: Path) -> set[str]:
    return {p.name for p in (tmp / "ckpt").glob("*/chk-*")}


@contextlib.contextmanager
def fed_run(url: str) -> Iterator[Run]:
    """A run whose input a producer keeps appending to (event time = wall time) until the block ends."""
    with tempfile.TemporaryDirectory() as d:
        run = Run(url, Path(d))
        stop = threading.Event()

        def feed() -> None:
            with open_log(url) as log:
                i = 0
                while not stop.is_set():
                    produce(log, run.src, 2000, int(time.time() * 1000) - i, i)
                    i += 2000
                    time.sleep(0.05)

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        try:
            yield run
        finally:
            stop.set()
            feeder.join(5)


def checkpoint_parallelism(tmp: Path, name: str) -> int:
    """The parallelism of the job when it took checkpoint ``name`` (0: unreadable, e.g. pruned meanwhile)."""
    for path in (tmp / "ckpt").glob(f"*/{name}"):
        try:
            return int(load_checkpoint(path).manifest.get("parallelism") or 0)
        except Exception:
            return 0
    return 0


class CommitWatch:
    """Samples the checkpoint directory every 20 ms: when each new checkpoint appeared, and at what parallelism."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.seen = checkpoints(tmp)
        self.times: list[tuple[float, int]] = []
        self.since = time.perf_counter()

    def sample(self) -> None:
        now = time.perf_counter()
        for name in sorted(checkpoints(self.tmp) - self.seen):
            self.seen.add(name)
            self.times.append((now, checkpoint_parallelism(self.tmp, name)))

    def first(self, parallelism: int) -> float | None:
        """Seconds from the start until the first checkpoint at ``parallelism`` appeared (``None``: none yet)."""
        return next((t - self.since for t, p in self.times if p == parallelism), None)

    def until(self, done: Any, timeout: float = 60.0) -> None:
        """Sample until ``done()`` or ``timeout``."""
        while not done() and time.perf_counter() - self.since < timeout:
            self.sample()
            time.sleep(0.02)

    def longest_gap(self) -> float:
        """The longest time without a new checkpoint from the start to the last one seen."""
        marks = [self.since] + [t for t, _p in self.times]
        return max((b - a for a, b in itertools.pairwise(marks)), default=0.0)


def planned(url: str, session_ms: int) -> None:
    """A join and a Ctrl-C on a running job: the time until output is committed at the new parallelism, and the
    longest time without a committed checkpoint meanwhile (checkpoints every second)."""
    with fed_run(url) as run:
        procs = [run.start(session_ms, False, f"p{k}") for k in range(2)]
        try:
            time.sleep(8)
            watch = CommitWatch(run.tmp)
            procs.append(run.start(session_ms, False, "p-join"))
            watch.until(lambda: watch.first(3) is not None)
            print(
                f"  a third instance joins: committing at parallelism 3 after {_secs(watch.first(3))}"
                f" (longest time without a commit {watch.longest_gap():5.2f} s)"
            )
            time.sleep(4)
            lead = leader_instance(url, run.job_id)
            lead_pid = int(lead.split("-")[-2]) if lead else -1
            leaver = next((p for p in procs if p.poll() is None and p.pid != lead_pid), None)
            if leaver is None:
                print("  no follower to stop, skipped")
                return
            watch = CommitWatch(run.tmp)
            exited: list[float] = []

            def done() -> bool:
                if not exited and leaver.poll() is not None:
                    exited.append(time.perf_counter() - watch.since)
                return bool(exited) and watch.first(2) is not None

            leaver.send_signal(signal.SIGINT)
            watch.until(done)
            print(
                f"  Ctrl-C on a follower:   committing at parallelism 2 after {_secs(watch.first(2))}"
                f" (longest time without a commit {watch.longest_gap():5.2f} s); it exited after"
                f" {_secs(exited[0] if exited else None)}"
            )
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(10)


def _secs(took: float | None) -> str:
    return "(none within 60 s)" if took is None else f"{took:5.2f} s"


def failover(url: str, session_ms: int) -> None:
    with fed_run(url) as run:
        tmp = run.tmp
        procs = [run.start(session_ms, False, f"f{k}") for k in range(2)]
        try:
            time.sleep(8)
            for who in ("follower", "leader"):
                lead = leader_instance(url, run.job_id)
                pids = {p.pid: p for p in procs if p.poll() is None}
                lead_pid = int(lead.split("-")[-2]) if lead else -1
                victim = (
                    pids.get(lead_pid)
                    if who == "leader"
                    else next((p for pid, p in pids.items() if pid != lead_pid), None)
                )
                if victim is None:
                    print(f"  {who}: not found, skipped")
                    continue
                before = checkpoints(tmp)
                t0 = time.perf_counter()
                victim.kill()
                victim.wait(10)
                procs.append(run.start(session_ms, False, f"r-{who}"))  # a replacement, as an operator would
                # (a checkpoint in flight cannot complete without the killed instance's acknowledgements: any new
                # one is the restarted job's)
                while not checkpoints(tmp) - before:
                    if time.perf_counter() - t0 > 60:
                        print(f"  {who}: no checkpoint within 60 s")
                        break
                    time.sleep(0.02)
                took = time.perf_counter() - t0
                bar = (session_ms / 1000 + 2) if who == "leader" else 2.0
                print(f"  kill -9 of the {who:8s}: output committed again after {took:5.2f} s (bar {bar:.1f} s)")
                time.sleep(4)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(10)


def throughputs(url: str, args: argparse.Namespace) -> None:
    """W with 1, then 2 instances, side by side (see the module docstring)."""
    print(f"== W: {args.events:,} events in {PARTITIONS} partitions on {args.log}://, best of {args.repeat}")
    best: dict[int, float] = {}
    startup: dict[int, float] = {}
    running: dict[int, float] = {}
    outputs: dict[int, list[bytes]] = {}
    for _ in range(args.repeat):
        for n in (1, 2):
            wall, rows, ran = throughput(url, args.events, n, args.session_timeout)
            best[n] = min(best.get(n, wall), wall)
            running[n] = min(running.get(n, ran), ran) if ran > 0 else running.get(n, 0.0)
            outputs[n] = rows
            empty, _rows, _ran = throughput(url, 0, n, args.session_timeout)
            startup[n] = min(startup.get(n, empty), empty)
    steady = {n: args.events / max(1e-3, best[n] - startup[n]) for n in (1, 2)}
    # (a run shorter than two samples has no measured running phase: nan)
    ran_rate = {n: args.events / running[n] if running[n] > 0 else float("nan") for n in (1, 2)}
    for n in (1, 2):
        rate = args.events / best[n]
        print(
            f"  {n} instance(s): {best[n]:6.2f} s  {rate:>10,.0f} events/s  {best[1] / best[n]:.2f}x"
            f"   startup {startup[n]:5.2f} s  steady {steady[n]:>10,.0f} events/s  {steady[n] / steady[1]:.2f}x"
            f"   running {running[n]:5.2f} s  {ran_rate[n]:>10,.0f} events/s  {ran_rate[n] / ran_rate[1]:.2f}x"
        )
    bar = 1.5 if args.log == "file" else 1.3
    print(f"  outputs identical: {outputs[1] == outputs[2]} ({len(outputs[1]):,} rows); bar 2 instances >= {bar}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--log", choices=["file", "kafka"], default="file")
    ap.add_argument("--session-timeout", type=int, default=2000, help="ms")
    ap.add_argument("--skip-failover", action="store_true")
    ap.add_argument("--skip-planned", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--stabilization-ms", type=int, default=1000, help="the instances' (0: Flink's reactive default)")
    args = ap.parse_args()
    Run.stabilization_ms = args.stabilization_ms
    with tempfile.TemporaryDirectory() as d, a_log(args.log, Path(d)) as url:
        if not args.skip_throughput:
            throughputs(url, args)
        if not args.skip_planned:
            print("== planned rescales (the job checkpoints every second)")
            planned(url, args.session_timeout)
        if not args.skip_failover:
            print(f"== failover, session timeout {args.session_timeout} ms")
            failover(url, args.session_timeout)


if __name__ == "__main__":
    main()
