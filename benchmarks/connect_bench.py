"""Connect throughput: FileStreamSource → topic → FileStreamSink, against a bare read-file + append-to-log
loop.

Both run in this process on the same kind of log (``--log``, default the embedded ``file://`` log in a temp
dir). The baseline reads the input file line by line and appends batches of lines to a topic (with the
garbage-collector thresholds connect tasks run with, ``connect.worker.task_gc``); the connect
run starts a FileStreamSource and a FileStreamSink on a worker and is timed until the sink file holds every
line (checked byte for byte afterwards). Both sides get the same input file, the same kind of log with the
same settings and the same batch size; the connect time runs from creating the connectors (task start,
topic creation, process spawn in process mode) until the sink file is complete, so it is end to end. Each
round runs the baseline and then each connect mode, and the best of the rounds is reported for each.
Figures: records/s of each and the ratio (the bar is >= 50%), by wall clock and by CPU time (CPU of the
connect run includes worker start/stop and the task processes, but not the byte-for-byte check of the sink
file afterwards, just as the baseline's CPU does not include reading its topic back).

    PYTHONPATH=src python benchmarks/connect_bench.py [--records 200000] [--log memory://] [--converter json]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import shutil
import tempfile
import time

from millstream.connect.herder import Herder
from millstream.connect.worker import task_gc
from millstream.core.record import ProducerRecord
from millstream.log import Log, open_log

CONVERTERS = {
    "string": "org.apache.kafka.connect.storage.StringConverter",
    "json": "org.apache.kafka.connect.json.JsonConverter",
    "bytes": "org.apache.kafka.connect.converters.ByteArrayConverter",
}


def make_input(path: str, n: int) -> int:
    with open(path, "w") as f:
        for i in range(n):
            f.write(f"{i:09d} 2024-01-01T00:00:00Z GET /index.html 200 user-{i % 997} {'x' * 20}\n")
    return os.path.getsize(path)


def log_url(kind: str, workdir: str, name: str) -> str:
    if kind.startswith("memory"):
        return f"memory://{name}-{time.monotonic_ns()}"
    if kind.startswith("file"):
        return f"file://{os.path.join(workdir, name)}"
    return kind


def baseline(url: str, path: str, batch: int) -> tuple[int, float]:
    """Read the file and append its lines to a topic in batches: what a hand-written loop would do."""
    log = open_log(url)
    log.create_topic("baseline", 1)
    with task_gc():  # the garbage-collector thresholds connect tasks run with
        return _baseline(log, path, batch)


def _baseline(log: Log, path: str, batch: int) -> tuple[int, float]:
    n = 0
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        buf: list[ProducerRecord] = []
        for line in f:
            buf.append(ProducerRecord(line[:-1]))
            if len(buf) >= batch:
                log.append("baseline", 0, buf)
                n += len(buf)
                buf = []
        if buf:
            log.append("baseline", 0, buf)
            n += len(buf)
    elapsed = time.perf_counter() - t0
    log.close()
    return n, elapsed


def connect_run(
    url: str, path: str, out: str, size: int, n: int, converter: str, batch: int, mode: str = "thread"
) -> tuple[float, float]:
    """Source → topic → sink on a worker: seconds until the sink file holds every line, and the CPU seconds
    from starting the worker to its stop (the check of the sink file afterwards is not counted)."""
    conv = CONVERTERS[converter]
    c0 = cpu_seconds()
    herder = Herder(
        {
            "key.converter": conv,
            "value.converter": conv,
            "value.converter.schemas.enable": "false",
            "task.execution.mode": mode,
        },
        url,
        worker_id="bench:0",
    )
    herder.start()
    try:
        t0 = time.perf_counter()
        herder.create_connector(
            "bench-source",
            {"connector.class": "FileStreamSource", "file": path, "topic": "lines", "batch.size": str(batch)},
        )
        herder.create_connector(
            "bench-sink",
            {
                "connector.class": "FileStreamSink",
                "file": out,
                "topics": "lines",
                "consumer.override.max.poll.records": str(batch),
            },
        )
        deadline = time.perf_counter() + 600
        while True:
            if os.path.exists(out) and os.path.getsize(out) >= size:
                break
            if time.perf_counter() > deadline:
                raise SystemExit(f"timed out: sink has {os.path.getsize(out) if os.path.exists(out) else 0} bytes")
            time.sleep(0.005)
        elapsed = time.perf_counter() - t0
    finally:
        herder.stop()
    cpu = cpu_seconds() - c0
    with open(out, "rb") as f:
        got = sum(1 for _ in f)
    if got != n:
        raise SystemExit(f"sink wrote {got} lines, expected {n}")
    if not filecmp.cmp(path, out, shallow=False):  # same lines, same order: nothing lost, repeated or altered
        raise SystemExit(f"sink file {out} differs from the source file {path}")
    return elapsed, cpu


def cpu_seconds() -> float:
    """CPU time of this process (all threads) plus its finished children (task processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--log", default="file", help="memory, file (embedded, temp dir) or a log URL")
    ap.add_argument("--converter", choices=sorted(CONVERTERS), default="string")
    ap.add_argument("--batch", type=int, default=2000, help="batch.size of the source / lines per baseline append")
    ap.add_argument("--rounds", type=int, default=2, help="best of N for each side")
    ap.add_argument(
        "--mode",
        choices=("thread", "process", "both"),
        default="both",
        help="task.execution.mode of the worker: tasks as threads, as processes, or report both",
    )
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="connect-bench-")
    try:
        src = os.path.join(workdir, "in.txt")
        size = make_input(src, args.records)
        modes = ("thread", "process") if args.mode == "both" else (args.mode,)
        base_best = float("inf")
        conn_best = dict.fromkeys(modes, float("inf"))
        base_cpu = float("inf")
        conn_cpu = dict.fromkeys(modes, float("inf"))
        for r in range(args.rounds):
            c0 = cpu_seconds()
            _n, t = baseline(log_url(args.log, workdir, f"base{r}"), src, args.batch)
            base_cpu = min(base_cpu, cpu_seconds() - c0)
            base_best = min(base_best, t)
            for mode in modes:
                if mode == "process" and args.log.startswith("memory"):
                    continue
                out = os.path.join(workdir, f"out-{mode}-{r}.txt")
                url = log_url(args.log, workdir, f"conn-{mode}-{r}")
                elapsed, cpu = connect_run(url, src, out, size, args.records, args.converter, args.batch, mode)
                conn_cpu[mode] = min(conn_cpu[mode], cpu)  # includes worker start/stop, not the file check
                conn_best[mode] = min(conn_best[mode], elapsed)
        base_rps = args.records / base_best
        print(f"records: {args.records:,}  log: {args.log}  converter: {args.converter}  batch: {args.batch}")
        print(
            f"baseline read-file + append-to-log    : {base_rps:12,.0f} records/s  ({base_best:.3f}s, "
            f"{base_cpu:.2f} CPU-s)"
        )
        for mode, best in conn_best.items():
            if best == float("inf"):
                continue
            rps = args.records / best
            print(
                f"connect source -> sink, {mode:7s} tasks : {rps:12,.0f} records/s  ({best:.3f}s, "
                f"{conn_cpu[mode]:.2f} CPU-s)  ratio {rps / base_rps:6.1%} by wall clock (bar: >= 50%), "
                f"{base_cpu / conn_cpu[mode]:6.1%} by CPU time"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
