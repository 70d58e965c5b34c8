"""Metrics of a parallel job: every subtask's counters, reported by its worker about once a second, published
by the coordinator through :mod:`millstream.core.sensors` with Flink's names and scope — the tags ``job_id``,
``job_name``, ``vertex_id``, ``vertex_name`` and ``subtask_index`` (the subtask's own index, unlike the
single-process runtime's constant 0). A vertex is an operator of the plan; its id is the digest of its uid, as
in :mod:`millstream.runtime.metrics`, so the REST API, Prometheus and the live progress table see the same
vertices at every parallelism (and sum or take the minimum over subtasks as Flink's UI does).

Per subtask: ``numRecordsIn``, ``numRecordsOut`` (counters), ``currentInputWatermark`` (operators and sinks),
``currentOutputWatermark``, ``busyTimeMsPerSecond``, ``backPressuredTimeMsPerSecond``, ``idleTimeMsPerSecond``
and, for log sources, ``records-lag-max``. Time is accounted per worker thread, which runs one subtask of
every vertex of its slot (as a Flink task runs a chain, every vertex of a worker reports the worker's shares):
*idle* is time waiting for input, *back-pressured* is time waiting because a downstream subtask's queue is
full (the worker then stops reading its sources) or the log is taking a sink's output, *busy* the rest.
Per job: ``numRestarts``, ``numberOfCompletedCheckpoints``,
``numberOfFailedCheckpoints``, ``lastCheckpointDuration``, ``lastCheckpointSize``.
"""

from __future__ import annotations

import time
from typing import Any

from ...core import sensors
from ...stream.plan import JobPlan
from ..checkpointing import CheckpointSummary
from ..metrics import time_shares, vertex_id

REPORT_EVERY_S = 1.0

SubtaskCounts = tuple[int, int, int, int]
"""``(records in, records out, input watermark, output watermark)`` of one subtask."""


def subtask_counts(drivers: list[tuple[str, Any]], ops: list[tuple[str, str, Any]]) -> dict[str, SubtaskCounts]:
    """A worker's counters: ``drivers`` as ``(uid, source driver)``, ``ops`` as ``(uid, kind, operator)``."""
    out: dict[str, SubtaskCounts] = {}
    for uid, d in drivers:
        n = d.out.records_out
        out[uid] = (n, n, d.out.watermark, d.out.watermark)
    for uid, kind, op in ops:
        n_out = op.written if kind == "sink" else op.out.records_out
        out[uid] = (op.seen or n_out, n_out, op.wm, op.out.watermark)
    return out


TimeShares = tuple[float, float, float]
"""``(busy, back-pressured, idle)`` milliseconds per second of one worker's thread."""


class SubtaskClock:
    """A worker's time accounting (see the module docstring): the loop adds its waits, :meth:`shares` turns
    them into milliseconds per second since the last call."""

    def __init__(self) -> None:
        self.waited = [0.0]  # seconds waiting on output (a list: sinks' timed log calls add to it)
        self.idle = 0.0  # seconds waiting for input
        self._last = (time.perf_counter(), 0.0, 0.0)

    def waited_on(self, seconds: float, output: bool) -> None:
        """The loop waited ``seconds``: on output (back pressure) or for input."""
        if output:
            self.waited[0] += seconds
        else:
            self.idle += seconds

    def shares(self) -> TimeShares:
        """``(busy, backPressured, idle)`` ms/s since the last call."""
        t0, w0, i0 = self._last
        now, w, i = time.perf_counter(), self.waited[0], self.idle
        self._last = (now, w, i)
        return time_shares(now - t0, w - w0, i - i0)


class ParallelJobMetrics:
    """The coordinator's side: turns the workers' reports into sensors (see the module docstring)."""

    def __init__(self, jid: str, job_name: str, plan: JobPlan) -> None:
        self.tags = {"job_id": jid, "job_name": job_name}
        self.job_name = job_name
        self.names = {n.uid: n.t.name for n in plan.nodes.values()}
        self.last: dict[tuple[str, int], SubtaskCounts] = {}
        self._sensors: dict[tuple[str, int, str], sensors.Sensor] = {}
        self.checkpoints_seen = 0

    def _sensor(self, uid: str, index: int, metric: str) -> sensors.Sensor:
        key = (uid, index, metric)
        s = self._sensors.get(key)
        if s is None:
            name = self.names.get(uid, uid)
            s = self._sensors[key] = sensors.sensor(
                metric,
                f"{self.job_name}.{name}",
                **self.tags,
                vertex_id=vertex_id(uid),
                vertex_name=name,
                subtask_index=str(index),
            )
        return s

    def new_attempt(self) -> None:
        """The workers start again (a restart): their counters start from 0."""
        self.last.clear()

    def report(
        self,
        index: int,
        counts: dict[str, SubtaskCounts],
        shares: TimeShares | None = None,
        lags: dict[str, float] | None = None,
    ) -> None:
        """One worker's report: its subtasks' counters, its thread's time shares, its sources' lag."""
        for uid, (n_in, n_out, in_wm, out_wm) in counts.items():
            if shares is not None:
                busy, bp, idle = shares
                self._sensor(uid, index, "busyTimeMsPerSecond").set(busy)
                self._sensor(uid, index, "backPressuredTimeMsPerSecond").set(bp)
                self._sensor(uid, index, "idleTimeMsPerSecond").set(idle)
            old_in, old_out, _w1, _w2 = self.last.get((uid, index), (0, 0, 0, 0))
            if n_in > old_in:
                self._sensor(uid, index, "numRecordsIn").inc(n_in - old_in)
            if n_out > old_out:
                self._sensor(uid, index, "numRecordsOut").inc(n_out - old_out)
            self._sensor(uid, index, "currentInputWatermark").set(in_wm)
            self._sensor(uid, index, "currentOutputWatermark").set(out_wm)
            self.last[(uid, index)] = (n_in, n_out, in_wm, out_wm)
        for uid, lag in (lags or {}).items():
            self._sensor(uid, index, "records-lag-max").set(lag)

    def report_job(self, restarts: int, summary: CheckpointSummary) -> None:
        def s(metric: str) -> sensors.Sensor:
            return sensors.sensor(metric, self.job_name, **self.tags)

        s("numRestarts").set(restarts)
        s("numberOfCompletedCheckpoints").set(summary.completed)
        s("numberOfFailedCheckpoints").set(summary.failed)
        s("totalNumberOfCheckpoints").set(len(summary.stats))
        if summary.stats:
            last = summary.stats[-1]
            s("lastCheckpointDuration").set(last.duration_ms)
            s("lastCheckpointSize").set(last.size)


__all__ = [
    "REPORT_EVERY_S",
    "ParallelJobMetrics",
    "SubtaskClock",
    "SubtaskCounts",
    "TimeShares",
    "subtask_counts",
]
