"""Both HTTP servers under concurrent load, on loopback: the Kafka Connect REST worker
(``millstream connect worker``) and the monitoring server of a running job (``millstream run --metrics-port``),
each in a process of its own, driven by ``--clients`` concurrent keep-alive clients (threads of ``http.client``).

    PYTHONPATH=src python benchmarks/http_bench.py [--clients 50] [--seconds 30] [--max-requests 20000]
        [--only connect|metrics]

Connect clients loop create → get → status → delete of their own FileStreamSource connector; metrics clients
alternate ``/metrics``, ``/jobs`` and ``/jobs/overview`` while the job processes records. Each phase stops
after ``--seconds`` or ``--max-requests``, whichever comes first. Prints, per server: requests answered,
failed (no answer: connection error or timeout), 5xx answers, and latency p50/p99/max.
Bars (issue 13): 0 failed, 0 5xx, p99 <= 250 ms (Connect) and <= 100 ms (metrics).
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import orjson

BARS_MS = {"connect": 250.0, "metrics": 100.0}

JOB = """
from millstream import StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink, LogSource

env = StreamExecutionEnvironment.get_execution_environment()
(
    env.from_source(LogSource.builder().set_topics("in").set_group_id("g").build(),
                    WatermarkStrategy.for_monotonous_timestamps(), "events")
    .map(lambda e: {"k": e["k"], "n": e["n"] * 2}).name("double")
    .sink_to(LogSink.builder().set_topic("out").build())
)
env.execute("bench")
"""


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.by_kind: dict[str, list[float]] = {}
        self.failed = 0
        self.server_errors = 0
        self.lock = threading.Lock()

    def report(self, name: str, seconds: float) -> None:
        lat = sorted(self.latencies)
        n = len(lat)

        def q(p: float) -> float:
            return lat[min(n - 1, int(p * n))] * 1000 if n else float("nan")

        bar = BARS_MS[name]
        ok = self.failed == 0 and self.server_errors == 0 and n > 0 and q(0.99) <= bar
        print(
            f"{name:8} answered {n:7,}  failed {self.failed:4}  5xx {self.server_errors:4}  "
            f"p50 {q(0.5):7.1f} ms  p99 {q(0.99):7.1f} ms  max {q(1.0):7.1f} ms  "
            f"{n / seconds:7,.0f} req/s  bar p99<={bar:.0f}ms, 0 failed, 0 5xx: {'PASS' if ok else 'FAIL'}"
        )
        if len(self.by_kind) > 1:
            for kind, values in sorted(self.by_kind.items()):
                values.sort()
                k = len(values)
                print(
                    f"  {kind:30} {k:7,}  p50 {values[k // 2] * 1000:7.1f} ms  "
                    f"p99 {values[min(k - 1, int(0.99 * k))] * 1000:7.1f} ms"
                )


class Client:
    """One keep-alive connection (the standard library's client: light enough that 50 of them in one process
    measure the server, not the client); reconnects after a failure."""

    def __init__(self, base: str, stats: Stats) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.stats = stats
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: object = None, kind: str = "") -> int | None:
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        t0 = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            self.conn.request(method, path, data, headers)
            r = self.conn.getresponse()
            r.read()
        except (OSError, http.client.HTTPException):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            with self.stats.lock:
                self.stats.failed += 1
            return None
        took = time.perf_counter() - t0
        with self.stats.lock:
            self.stats.latencies.append(took)
            self.stats.by_kind.setdefault(kind or f"{method} {path}", []).append(took)
            if r.status >= 500:
                self.stats.server_errors += 1
        return r.status


def _drive(
    base: str, clients: int, seconds: float, max_requests: int, one: Callable[[Client, int, int], int]
) -> tuple[Stats, float]:
    """Run ``clients`` threads, each calling ``one(client, i, n)`` (returns requests made) until the time or
    the request budget is used up."""
    stats = Stats()
    deadline = time.monotonic() + seconds
    budget = [max_requests]

    def loop(i: int) -> None:
        client = Client(base, stats)
        n = 0
        while time.monotonic() < deadline and budget[0] > 0:
            n += 1
            done = one(client, i, n)
            with stats.lock:
                budget[0] -= done

    t0 = time.monotonic()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return stats, time.monotonic() - t0


def _start(cmd: list[str], cwd: str, marker: str, stream: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pipe = proc.stdout if stream == "stdout" else proc.stderr
    assert pipe is not None
    for _ in range(200):
        line = pipe.readline()
        if not line:
            break
        if marker in line:
            url = next(w for w in line.split() if w.startswith("http"))
            return proc, url.rstrip(";")
    proc.kill()
    raise SystemExit(f"{' '.join(cmd)} did not start: {proc.communicate()[1][-2000:]}")


def bench_connect(args: argparse.Namespace, tmp: str) -> None:
    src = Path(tmp) / "in.txt"
    src.write_text("a\nb\nc\n")
    proc, url = _start(
        [
            sys.executable,
            "-m",
            "millstream",
            "connect",
            "worker",
            "--rest-port",
            "0",
            "--log",
            "memory://bench",
            "--log-level",
            "WARNING",
        ],
        tmp,
        "REST API at",
        "stdout",
    )

    def one(client: Client, i: int, n: int) -> int:
        name = f"c{i}-{n}"
        cfg = {"connector.class": "FileStreamSource", "file": str(src), "topic": f"t{i}"}
        client.request("POST", "/connectors", {"name": name, "config": cfg}, "POST /connectors")
        client.request("GET", f"/connectors/{name}", kind="GET /connectors/{name}")
        client.request("GET", f"/connectors/{name}/status", kind="GET /connectors/{name}/status")
        client.request("DELETE", f"/connectors/{name}", kind="DELETE /connectors/{name}")
        return 4

    try:
        stats, seconds = _drive(url, args.clients, args.seconds, args.max_requests, one)
        stats.report("connect", seconds)
    finally:
        proc.terminate()
        proc.wait(10)


def bench_metrics(args: argparse.Namespace, tmp: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from millstream.core.record import ProducerRecord
    from millstream.log import open_log

    url = f"file://{tmp}/log"
    with open_log(url) as log:
        log.create_topic("in", 2)
        log.create_topic("out", 2)
        for b in range(50):
            batch = [ProducerRecord(orjson.dumps({"k": j % 7, "n": j})) for j in range(b * 2000, (b + 1) * 2000)]
            log.append("in", b % 2, batch)
    (Path(tmp) / "p.py").write_text(textwrap.dedent(JOB))
    proc, metrics = _start(
        [sys.executable, "-m", "millstream", "run", "p.py", "--log", url, "--metrics-port", "0", "--quiet"],
        tmp,
        "metrics:",
        "stderr",
    )
    base = metrics.removesuffix("/metrics")
    paths = ["/metrics", "/jobs", "/jobs/overview"]

    def one(client: Client, i: int, n: int) -> int:
        client.request("GET", paths[(i + n) % len(paths)])
        return 1

    try:
        stats, seconds = _drive(base, args.clients, args.seconds, args.max_requests, one)
        stats.report("metrics", seconds)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--max-requests", type=int, default=20_000)
    ap.add_argument("--only", choices=["connect", "metrics"])
    args = ap.parse_args()
    print(f"clients: {args.clients}  up to {args.seconds:g} s or {args.max_requests:,} requests per server (loopback)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "connect"):
            bench_connect(args, tmp)
        if args.only in (None, "metrics"):
            bench_metrics(args, tmp)


if __name__ == "__main__":
    main()
