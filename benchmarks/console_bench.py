"""The web console's cost and speed, measured with real headless Chromium (Debian's ``/usr/bin/chromium``
driven by Playwright) against ``millstream demo``:

1. **first-page render time** — the overview (lineage graph, jobs, connectors, topics) opened on the demo's
   own metrics port, from navigation start to the lineage graph drawn, on the browser's clock
   (``performance.now()``); the first load of a fresh tab and the best of ``--loads`` loads;
2. **job CPU overhead** — the demo (a rate-limited job: 200 page views per second) runs ``--seconds`` seconds
   without a browser and again with the console's overview open in Chromium on the job's own metrics port
   (the page polls ``/console/api/overview`` every 3 s, so the console's work runs inside the job's
   process), alternating ``--repeat`` times; the demo process's CPU seconds (utime + stime from
   ``/proc/<pid>/stat``) are compared. The bar: the console adds ≤ 3%. Separate processes differ by ±20% in
   CPU on this machine, far more than the effect, so the same figure is also measured **within one demo
   process**: ``--seconds`` phases with the console closed and open in turn (``--repeat`` open ones, each
   between two closed ones); the overhead is the median extra CPU of an open phase over the mean of its two
   closed neighbours (which cancels a drift of the job's own CPU over time), relative to a closed phase. And
   most precisely, by the console's own work: 200 overview requests back to back, their CPU in the job's
   process (less the job's own rate), per request, times the page's refresh rate, relative to the job's CPU.

    PYTHONPATH=src python benchmarks/console_bench.py [--seconds 20] [--repeat 2] [--loads 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
RENDERED = "() => document.querySelector('svg[data-testid=lineage] [data-testid=lineage-node]') !== null"
OVERHEAD_BAR = 0.03
POLL_S = 3.0  # the console's pages refresh every 3 s (app.js), as Flink's web UI does
RENDER_BAR_S = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _poll_cost(pid: int, url: str, seconds: float, polls: int = 200) -> None:
    """The console's cost measured by its work itself: ``polls`` overview requests back to back (what an open
    overview page asks every :data:`POLL_S`), the job process's CPU for them less its CPU rate without them
    (measured over ``seconds`` just before) — far above the noise of a phase comparison."""
    before, t0 = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    rate = (_cpu_seconds(pid) - before) / (time.monotonic() - t0)
    before, t0 = _cpu_seconds(pid), time.monotonic()
    for _ in range(polls):
        with urllib.request.urlopen(url + "/console/api/overview", timeout=10) as r:
            r.read()
    spent = _cpu_seconds(pid) - before - rate * (time.monotonic() - t0)
    per_poll = spent / polls
    print(f"one overview poll costs the job's process {per_poll * 1000:.2f} ms of CPU ({polls} polls); the job "
          f"alone uses {rate * 1000:.0f} ms/s; a page polling every {POLL_S:g} s adds "
          f"{per_poll / POLL_S / rate:.1%} (bar {OVERHEAD_BAR:.0%})")  # fmt: skip


def _one_process(context: Any, tmp: str, seconds: float, repeat: int) -> None:
    """The console's cost within one demo process: closed and open phases in turn (see the module docstring)."""
    proc, url = _start_demo(tmp, (2 * max(1, repeat) + 1) * seconds + 20)
    closed: list[float] = []
    opened: list[float] = []
    try:
        time.sleep(3)  # past start-up
        _poll_cost(proc.pid, url, seconds)
        for i in range(max(1, repeat) * 2 + 1):  # closed, open, closed, ..., closed
            page = None
            if i % 2:
                page = context.new_page()
                page.goto(url + "/console/")
                page.wait_for_function(RENDERED)
            before = _cpu_seconds(proc.pid)
            time.sleep(seconds)
            (opened if page is not None else closed).append(_cpu_seconds(proc.pid) - before)
            if page is not None:
                page.close()
    finally:
        proc.terminate()
        proc.wait(30)
    base = statistics.median(closed)
    # each open phase against the mean of the closed phases around it (cancels a drift of the job's own CPU)
    extra = statistics.median(o - (closed[i] + closed[i + 1]) / 2 for i, o in enumerate(opened))
    print(f"one demo process, {seconds:g} s phases, closed and open in turn: CPU closed "
          f"{', '.join(f'{x:.2f}' for x in closed)} s, open {', '.join(f'{x:.2f}' for x in opened)} s")  # fmt: skip
    print(f"  console overhead (open vs its closed neighbours, median): {extra / base:+.1%} of the job's CPU "
          f"(bar {OVERHEAD_BAR:.0%})")  # fmt: skip


def _start_demo(tmp: str, seconds: float) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    log = f"file://{tempfile.mkdtemp(dir=tmp)}/log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "millstream", "demo", "--quiet", "--duration", str(seconds + 30),
         "--metrics-port", str(port), "--log", log],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/jobs", timeout=2) as r:
                if b"RUNNING" in r.read():
                    return proc, url
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the demo did not start")


def _measure(context: Any | None, tmp: str, seconds: float) -> float:
    """CPU seconds the demo process spends in ``seconds`` of wall time once running (browser open or not)."""
    proc, url = _start_demo(tmp, seconds)
    page = None
    try:
        time.sleep(2)  # past start-up
        if context is not None:
            page = context.new_page()
            page.goto(url + "/console/")
            page.wait_for_function(RENDERED)
        before = _cpu_seconds(proc.pid)
        time.sleep(seconds)
        return _cpu_seconds(proc.pid) - before
    finally:
        if page is not None:
            page.close()
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--loads", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            tempfile.mkdtemp(dir=tmp), executable_path=CHROMIUM, headless=True, args=ARGS
        )
        # 1. render time
        proc, url = _start_demo(tmp, 60)
        try:
            time.sleep(2)
            loads = []
            for _ in range(max(1, args.loads)):
                page = context.new_page()
                page.goto(url + "/console/")
                page.wait_for_function(RENDERED, polling=10)
                loads.append(float(page.evaluate("performance.now()")) / 1000)
                page.close()
        finally:
            proc.terminate()
            proc.wait(30)
        print(f"first page render: first load {loads[0]:.3f} s, best of {len(loads)} {min(loads):.3f} s, "
              f"median {statistics.median(loads):.3f} s (bar {RENDER_BAR_S:.1f} s)")  # fmt: skip
        # 2. CPU overhead within one process, then alternating processes
        _one_process(context, tmp, args.seconds, args.repeat)
        bare, watched = [], []
        for _ in range(max(1, args.repeat)):
            bare.append(_measure(None, tmp, args.seconds))
            watched.append(_measure(context, tmp, args.seconds))
        context.close()
    b, w = statistics.median(bare), statistics.median(watched)
    overhead = (w - b) / b
    print(f"demo CPU over {args.seconds:g} s: without browser {', '.join(f'{x:.2f}' for x in bare)} s, "
          f"with the console open {', '.join(f'{x:.2f}' for x in watched)} s")  # fmt: skip
    print(f"console overhead: {overhead:+.1%} of the job's CPU time (bar {OVERHEAD_BAR:.0%})")


if __name__ == "__main__":
    main()
