"""``millstream demo`` — clickstream analytics on the embedded log, with nothing but ``pip install``.

The datagen connector writes page views into the ``pageviews`` topic; one job counts views and errors per
page in 10-second tumbling windows (``page-counts``), summarises per-user sessions with a 30 s gap
(``user-sessions``) and raises an alert when a page window's error rate crosses ``--threshold``
(``error-alerts``). See :mod:`millstream.cli.demo_pipeline` for the pipeline and why event time runs 10x
faster than the clock (windows close about every second).

The log is ``--log`` or a fresh embedded log in a new temporary directory (printed at start). Results
show as live tables in the terminal (rich), with the job's per-operator progress below them, until Ctrl-C
or ``--duration``; ``--quiet`` prints only where the data and metrics are and a summary. Prometheus metrics
(``/metrics``) and the Flink-shaped REST API (``/jobs``) are served on 127.0.0.1 (``--metrics-port``, default
a free port).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import deque
from typing import Any

import click

from ..log import open_log
from .common import command_name, handle_errors
from .demo_pipeline import TOPICS, WINDOW_MS, build_clickstream
from .run import serve_metrics


class LiveResults:
    """What the terminal table shows: the latest window per page, recent sessions and alerts (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pages: dict[str, dict[str, Any]] = {}
        self.sessions: deque[dict[str, Any]] = deque(maxlen=5)
        self.alerts: deque[dict[str, Any]] = deque(maxlen=5)
        self.counts = {"page-counts": 0, "user-sessions": 0, "error-alerts": 0}

    def __call__(self, topic: str, value: dict[str, Any]) -> None:
        with self.lock:
            self.counts[topic] += 1
            if topic == "page-counts":
                self.pages[value["page"]] = value
            elif topic == "user-sessions":
                self.sessions.append(value)
            else:
                self.alerts.append(value)

    def render(self, log_url: str, elapsed: float, registry: Any = None) -> Any:
        """The live view: results tables, then (with a metrics ``registry``) the per-operator table."""
        from rich.console import Group
        from rich.table import Table

        def clock(ms: int) -> str:
            return time.strftime("%H:%M:%S", time.gmtime(ms / 1000))

        with self.lock:
            pages = Table(title=f"page views per {WINDOW_MS // 1000} s window (latest closed)", expand=False)
            for col in ("page", "window (event time)", "views", "errors", "error rate"):
                pages.add_column(col, justify="left" if col in ("page", "window (event time)") else "right")
            for page, v in sorted(self.pages.items()):
                rate = f"{v['error_rate']:.0%}"
                pages.add_row(
                    page,
                    f"{clock(v['window_start'])}-{clock(v['window_end'])}",
                    str(v["views"]),
                    str(v["errors"]),
                    rate,
                )
            sessions = Table(title="latest closed sessions (30 s gap)")
            for col in ("user", "start", "end", "views", "pages"):
                sessions.add_column(col)
            for s in self.sessions:
                sessions.add_row(
                    s["user"], clock(s["session_start"]), clock(s["session_end"]), str(s["views"]), str(len(s["pages"]))
                )
            alerts = Table(title="error-rate alerts")
            for col in ("page", "window", "error rate", "views"):
                alerts.add_column(col)
            for a in self.alerts:
                alerts.add_row(a["page"], clock(a["window_start"]), f"{a['error_rate']:.0%}", str(a["views"]))
            summary = (
                f"{elapsed:5.1f} s  windows {self.counts['page-counts']}  sessions {self.counts['user-sessions']}"
                f"  alerts {self.counts['error-alerts']}  — Ctrl-C to stop — log {log_url}"
            )
        parts: list[Any] = [pages, sessions, alerts]
        if registry is not None:
            from ..observe.progress import render_progress

            parts.append(render_progress(registry, only=_demo_rows))
        return Group(*parts, summary)


def _demo_rows(vertex: dict[str, Any]) -> bool:
    """The progress rows the demo shows: the job's log source (with its consumer lag) and the three analyses."""
    return "records-lag-max" in vertex or vertex["name"] in ("page counts", "user sessions", "error alerts")


def _topic_sizes(log_url: str) -> dict[str, int]:
    with open_log(log_url) as log:
        return {t: sum(log.latest_offset(t, p) for p in range(log.describe_topic(t).partitions)) for t in TOPICS}


@click.command()
@click.option("--log", "log_url", metavar="URL", help="Log to use (default: a fresh embedded log in a new temp dir).")
@click.option("--duration", type=click.FloatRange(min=0.5), help="Stop after this many seconds (default: Ctrl-C).")
@click.option("--quiet", "-q", is_flag=True, help="No live table: print where the data is and a summary.")
@click.option("--rate", type=click.FloatRange(min=1), default=200.0, show_default=True, help="Page views per second.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.75, show_default=True, help="Alert error rate.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed of the generated data.")
@click.option("--metrics-port", type=int, default=0, show_default=True, help="Prometheus + REST API port (0: free).")
@handle_errors
def demo(
    log_url: str | None,
    duration: float | None,
    quiet: bool,
    rate: float,
    threshold: float,
    seed: int,
    metrics_port: int,
) -> None:
    """Clickstream analytics: windows, sessions and alerts over generated page views, live in the terminal."""
    from .. import StreamExecutionEnvironment

    if log_url is None:
        log_url = "file://" + os.path.join(tempfile.mkdtemp(prefix="millstream-demo-"), "log")
    with open_log(log_url) as log:
        for topic in TOPICS:
            log.create_topic(topic, 1, exist_ok=True)
    monitoring = serve_metrics(metrics_port)
    click.echo(f"data:    {log_url}  (topics: {', '.join(TOPICS)})")
    click.echo(f"metrics: {monitoring.url}/metrics")
    click.echo(f"rest:    {monitoring.url}/jobs")
    live = None if quiet else LiveResults()
    env = StreamExecutionEnvironment.get_execution_environment()
    t0 = int(time.time() * 1000) // WINDOW_MS * WINDOW_MS
    build_clickstream(env, log_url, t0=t0, rate=rate, seed=seed, threshold=threshold, on_result=live)
    started = time.monotonic()
    client = env.execute_async("clickstream demo")
    interrupted = False
    try:
        if live is None:
            while not _done(client, started, duration):
                pass
        else:
            from rich.live import Live

            reg = monitoring.registry
            with Live(live.render(log_url, 0, reg), refresh_per_second=4, transient=False) as screen:
                while not _done(client, started, duration):
                    screen.update(live.render(log_url, time.monotonic() - started, reg))
                screen.update(live.render(log_url, time.monotonic() - started, reg))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        client.cancel()
        monitoring.close()
    client.get_job_execution_result()  # raises the job's error, if it failed
    sizes = _topic_sizes(log_url)
    if live is not None:
        click.echo()  # the live view's last line has no line end of its own
    click.echo(
        ("interrupted; " if interrupted else "")
        + f"stopped after {time.monotonic() - started:.1f} s: "
        + ", ".join(f"{t} {n}" for t, n in sizes.items())
    )
    click.echo(f"look at the results: {command_name()} consume page-counts --log {log_url} --from-beginning")
    if interrupted:
        click.get_current_context().exit(130)  # Ctrl-C: 128 + SIGINT, as every command exits


def _done(client: Any, started: float, duration: float | None, step: float = 0.25) -> bool:
    """Wait one ``step`` for the job; True when it has ended or ``duration`` has passed."""
    if client.wait(step):
        return True
    return duration is not None and time.monotonic() - started >= duration
