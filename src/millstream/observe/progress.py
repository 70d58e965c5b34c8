"""Live progress in the terminal: one table per job, one row per vertex (source, operator, sink), read from a
:class:`~millstream.observe.registry.MetricRegistry` and redrawn about once a second with rich.

Columns (:data:`COLUMNS`): records in/out per second (the registry's meters), records in/out so far,
watermark lag (processing time minus the vertex's watermark — input watermark for operators and sinks, output
watermark for sources; ``-`` before the first watermark, ``end`` after the final one), consumer lag
(``records-lag-max`` of log sources, in records) and the busy and back-pressured shares of each second.
The title shows the job's name and state, the caption its checkpoints (completed, failed, last duration
and size).

:func:`render_progress` builds the renderable (tests print it to a recording console); :class:`LiveProgress`
draws it on stderr while a block runs. Whether to show it at all is the command's choice (``millstream run``:
on when stderr is a terminal, ``--quiet`` off, ``--progress`` on).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ..runtime import job_directory
from ..stream.time import MAX_WATERMARK, MIN_WATERMARK
from .registry import MetricRegistry, summary

#: the table's columns: in/out are record counts, ``lag`` is the consumer lag of log sources (records)
COLUMNS = ("operator", "in/s", "out/s", "in", "out", "wm lag", "lag", "busy", "bp")


def _rate(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 10 else f"{v:,.1f}"


def _count(v: float | None) -> str:
    return "-" if v is None else f"{int(v):,}"


def duration(seconds: float) -> str:
    """A short human duration: ``850 ms``, ``12.3 s``, ``4.1 min``, ``2.5 h``, ``3.2 d`` (``-`` prefix if negative)."""
    sign, s = ("-", -seconds) if seconds < 0 else ("", seconds)
    if s < 1:
        text = f"{s * 1000:.0f} ms"
    elif s < 60:
        text = f"{s:.1f} s"
    elif s < 3600:
        text = f"{s / 60:.1f} min"
    elif s < 86400:
        text = f"{s / 3600:.1f} h"
    else:
        text = f"{s / 86400:,.1f} d"
    return sign + text


def _wm_lag(wm: float | None, now_ms: int) -> str:
    if wm is None or wm <= MIN_WATERMARK:
        return "-"
    if wm >= MAX_WATERMARK:
        return "end"
    return duration((now_ms - wm) / 1000)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f}"  # pragma: no cover - the loop always returns


def checkpoint_status(job: dict[str, float]) -> str:
    """One line about a job's checkpoints from its job-level metrics (``"checkpoints: none"`` without any)."""
    total = job.get("totalNumberOfCheckpoints")
    if not total:
        return "checkpoints: none"
    done = int(job.get("numberOfCompletedCheckpoints", 0))
    failed = int(job.get("numberOfFailedCheckpoints", 0))
    text = f"checkpoints: {done} completed, {failed} failed"
    if done:
        text += f", last {job.get('lastCheckpointDuration', 0):,.0f} ms, {_size(job.get('lastCheckpointSize', 0))}"
    return text


def stall_notes(job: dict[str, Any]) -> list[str]:
    """One line per source with partitions that have no data and hold its watermark back
    (``watermarkStalledPartitions``, :mod:`millstream.runtime.stalls`)."""
    notes = []
    for v in job["vertices"].values():
        n = int(v.get("watermarkStalledPartitions") or 0)
        if n:
            which = "a partition" if n == 1 else f"{n} partitions"
            notes.append(
                f"! {v['name']}: {which} without data hold(s) the watermark back (see the log); "
                "mark idle partitions with WatermarkStrategy.with_idleness(...)"
            )
    return notes


def render_progress(
    registry: MetricRegistry, now_ms: int | None = None, only: Callable[[dict[str, Any]], bool] | None = None
) -> Any:
    """A rich renderable: one table per job in the registry. ``only`` picks the rows to show: it gets each
    vertex's metrics as a dict (with ``name``) and returns whether to show it (default: every vertex)."""
    from rich import box
    from rich.console import Group
    from rich.table import Table

    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    data = summary(registry)
    states = {r.jid: r.status for r in job_directory.jobs()}
    tables: list[Any] = []
    for jid, job in data.items():
        if not job["vertices"]:
            continue
        state = states.get(jid, "")
        table = Table(
            box=box.SIMPLE_HEAD,
            title=f"{job['name']}  {state}".rstrip(),
            caption="\n".join(filter(None, [checkpoint_status(job["job"]), *stall_notes(job)])),
            title_justify="left",
            caption_justify="left",
        )
        for col in COLUMNS:
            if col == "operator":
                table.add_column(col, no_wrap=True, overflow="ellipsis", max_width=28)
            else:
                table.add_column(col, justify="right", no_wrap=True)
        for v in job["vertices"].values():
            if only is not None and not only(v):
                continue
            wm = v.get("currentInputWatermark", v.get("currentOutputWatermark"))
            lag = v.get("records-lag-max")
            table.add_row(
                v["name"],
                _rate(v.get("numRecordsInPerSecond")),
                _rate(v.get("numRecordsOutPerSecond")),
                _count(v.get("numRecordsIn")),
                _count(v.get("numRecordsOut")),
                _wm_lag(wm, now_ms),
                "-" if lag is None else f"{int(lag):,}",
                f"{v.get('busyTimeMsPerSecond', 0) / 10:.0f}%",
                f"{v.get('backPressuredTimeMsPerSecond', 0) / 10:.0f}%",
            )
        tables.append(table)
    if not tables:
        return Group("waiting for the job's first metrics ...")
    return Group(*tables)


class LiveProgress:
    """Draws :func:`render_progress` on ``console`` (default: stderr) about once a second while the ``with``
    block runs; the last frame stays on screen."""

    def __init__(self, registry: MetricRegistry, console: Any = None, refresh_per_second: float = 1.0) -> None:
        import sys

        from rich.console import Console
        from rich.live import Live

        self.registry = registry
        self.console = console or Console(stderr=True)
        self.live = Live(
            get_renderable=lambda: render_progress(registry),
            console=self.console,
            refresh_per_second=refresh_per_second,
            transient=False,
            redirect_stdout=sys.stdout.isatty(),  # a terminal's prints go above the table; a pipe stays a pipe
            redirect_stderr=False,
        )

    def __enter__(self) -> LiveProgress:
        self.live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.live.refresh()
        self.live.stop()
        self.console.line()  # the last frame's caption has no line end of its own


__all__ = ["COLUMNS", "LiveProgress", "checkpoint_status", "duration", "render_progress"]
