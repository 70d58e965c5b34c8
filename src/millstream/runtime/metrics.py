"""What a running job reports through :mod:`millstream.core.sensors`, named as Flink names its metrics.

:class:`JobMetrics` exists only while an observer is installed (``sensors.installed()``); without one the
runtime creates none and the job pays nothing. With one, the job thread calls :meth:`JobMetrics.report`
once per loop round and it does work at most once a second: it reads counters the engine keeps anyway (per
batch, never per record: ``Output.records_out``, ``Operator.seen``, sinks' ``written``) and turns their
increase into sensor ``inc`` calls, sets gauges, and samples consumer lag.

Scope: every sensor carries the tags ``job_id``, ``job_name``, ``vertex_id``, ``vertex_name`` and
``subtask_index`` (always 0: the local runtime runs one subtask per vertex); job-level metrics have no vertex.
A vertex is one node of the job graph (source, operator or sink) and its id a stable 32-hex digest of its
uid (or position and name), so it survives restarts.

Per vertex: ``numRecordsIn``, ``numRecordsOut`` (counters; their ``...PerSecond`` meters are computed by the
observer), ``currentInputWatermark`` (operators), ``currentOutputWatermark``, ``numLateRecordsDropped``
(window operators), ``busyTimeMsPerSecond``, ``backPressuredTimeMsPerSecond``, ``idleTimeMsPerSecond`` and
for log sources ``records-lag-max`` (the largest ``latest offset - position`` over its partitions, sampled
at most once a second and at most 5% of the time: asking Kafka for end offsets is a round trip).
Per job: ``lastCheckpointDuration`` (ms), ``lastCheckpointSize`` (bytes), ``numberOfCompletedCheckpoints``,
``numberOfFailedCheckpoints``, ``totalNumberOfCheckpoints``, ``numRestarts``, ``uptime`` (ms).

Time accounting: the whole job runs in one thread, like one Flink task in which every operator is chained,
so — as Flink does for a chain — every vertex reports the task's shares of each second: ``idle`` is time
spent waiting for input (the loop's idle poll), ``backPressured`` is time spent waiting on the log to take
output (sink appends and flushes: the downstream system is what holds the task back), ``busy`` is the rest.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from ..core import sensors
from ..stream.operators.base import Operator, Output

if TYPE_CHECKING:
    from .job import JobRunner

#: how often ``report`` does work (seconds)
REPORT_INTERVAL_S = 1.0
#: consumer lag is sampled again no sooner than this many times the last sampling took
LAG_COST_FACTOR = 20.0


def vertex_id(key: str) -> str:
    """The 32-hex id of a vertex whose uid (or position-and-name key) is ``key``."""
    return hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()


class _Timed:
    """Wraps a sink's log call and adds the seconds spent in it to ``acc[0]``."""

    __slots__ = ("acc", "fn")

    def __init__(self, fn: Any, acc: list[float]) -> None:
        self.fn = fn
        self.acc = acc

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.acc[0] += time.perf_counter() - t


class _Vertex:
    """One vertex's counters as last reported, and how to read the current ones."""

    def __init__(self, runner: JobRunner, key: str, name: str, thing: Any, kind: str, inputs: list[Output]) -> None:
        self.id = vertex_id(key)
        self.name = name
        self.kind = kind  # source, operator or sink
        self.thing = thing  # a SourceDriver or an Operator
        self.inputs = inputs  # upstream main outputs (records in of operators that do not count ``seen``)
        tags = {
            "job_id": runner.jid,
            "job_name": runner.job_name,
            "vertex_id": self.id,
            "vertex_name": name,
            "subtask_index": "0",
        }
        scope = f"{runner.job_name}.{name}"

        def s(metric: str) -> sensors.Sensor:
            return sensors.sensor(metric, scope, **tags)

        self.s_in, self.s_out = s("numRecordsIn"), s("numRecordsOut")
        self.s_out_wm = s("currentOutputWatermark")
        self.s_in_wm = s("currentInputWatermark") if kind != "source" else None
        self.s_late = s("numLateRecordsDropped") if hasattr(thing, "num_late_records_dropped") else None
        self.s_busy, self.s_bp, self.s_idle = (
            s("busyTimeMsPerSecond"),
            s("backPressuredTimeMsPerSecond"),
            s("idleTimeMsPerSecond"),
        )
        self.lag = LagSampler.of(thing)
        self.s_lag = s("records-lag-max") if self.lag is not None else None
        self.s_stalled = s("watermarkStalledPartitions") if kind == "source" else None
        self.base_in = self.base_out = 0
        self.last_in = self.last_out = 0

    def counts(self) -> tuple[int, int]:
        """(records in, records out) since the operator was built."""
        t = self.thing
        if self.kind == "source":
            n = t.out.records_out
            return n, n
        out = t.written if self.kind == "sink" else t.out.records_out
        seen = t.seen
        if not seen:  # an operator that does not count its input: what its main inputs sent it
            seen = sum(o.records_out for o in self.inputs) if self.inputs else t.out.records_out
        return seen, out

    def start(self) -> None:
        """Take the counts now as the baseline (restored counters, e.g. ``seen``, are not new records)."""
        self.base_in, self.base_out = self.counts()
        self.last_in, self.last_out = self.base_in, self.base_out

    def report(self, busy: float, bp: float, idle: float) -> None:
        n_in, n_out = self.counts()
        if n_in != self.last_in:
            self.s_in.inc(n_in - self.last_in)
            self.last_in = n_in
        if n_out != self.last_out:
            self.s_out.inc(n_out - self.last_out)
            self.last_out = n_out
        out_wm = self.thing.out.watermark
        self.s_out_wm.set(out_wm)
        if self.s_in_wm is not None:  # the minimum over the inputs, as Flink's; else what the operator saw
            ins = self.inputs
            self.s_in_wm.set(min(o.watermark for o in ins) if ins else max(self.thing.wm, out_wm))
        if self.s_late is not None:
            self.s_late.set(self.thing.num_late_records_dropped)
        self.s_busy.set(busy)
        self.s_bp.set(bp)
        self.s_idle.set(idle)
        if self.s_lag is not None and self.lag is not None:
            lag = self.lag.sample()
            if lag is not None:
                self.s_lag.set(lag)
        if self.s_stalled is not None:
            self.s_stalled.set(len(getattr(self.thing, "stalled_partitions", ())))


class LagSampler:
    """Samples a log source's consumer lag (``records-lag-max``: the largest ``latest offset - position``
    over its partitions) at most once a second and at most 5% of the caller's time (asking Kafka for end
    offsets is a round trip)."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.next = 0.0

    @classmethod
    def of(cls, driver: Any) -> LagSampler | None:
        """A sampler for a source driver whose reader tracks positions (log readers), else ``None``."""
        reader = getattr(driver, "reader", None)
        return cls(reader) if reader is not None and hasattr(reader, "positions") else None

    def sample(self) -> float | None:
        """The lag now, or ``None`` when the last sample is too recent."""
        now = time.monotonic()
        if now < self.next:
            return None
        lag = self.lag()
        self.next = now + max(REPORT_INTERVAL_S, LAG_COST_FACTOR * (time.monotonic() - now))
        return lag

    def lag(self) -> float:
        reader: Any = self.reader
        lag = 0
        try:
            log = reader.log
            for tp, pos in list(reader.positions.items()):
                lag = max(lag, log.latest_offset(tp.topic, tp.partition) - pos)
        except Exception:  # the log is closing or unreachable: report no lag rather than fail the job
            return 0.0
        return float(lag)


def time_log_writes(op: Any, acc: list[float]) -> None:
    """Make a sink operator add the seconds it spends in log appends and flushes to ``acc[0]`` (the time the
    downstream system holds the task back: back pressure)."""
    send = getattr(op, "_send", None)
    if send is not None and not isinstance(send, _Timed):
        op._send = _Timed(send, acc)
    flush = getattr(op, "flush_writes", None)
    if flush is not None and not isinstance(flush, _Timed):
        setattr(op, "flush_writes", _Timed(flush, acc))  # noqa: B010 - an instance attribute


def time_shares(span: float, waited: float, idle: float) -> tuple[float, float, float]:
    """``(busy, backPressured, idle)`` in ms per second of a task that, over ``span`` seconds, waited
    ``waited`` seconds on output and ``idle`` seconds for input."""
    if span <= 0:
        return 0.0, 0.0, 0.0
    bp = min(1000.0, waited / span * 1000)
    idl = min(1000.0 - bp, idle / span * 1000)
    return max(0.0, 1000.0 - bp - idl), bp, idl


def job_vertices(runner: JobRunner) -> list[tuple[str, str, Any, str, list[Output]]]:
    """The vertices of a built job in topological order: ``(key, name, driver or operator, kind, main
    upstream outputs)``; ``kind`` is ``source``, ``operator`` or ``sink``; :func:`vertex_id` of ``key`` is
    the vertex's id."""
    out: list[tuple[str, str, Any, str, list[Output]]] = []
    outputs: dict[int, Output] = {}
    drivers = iter(list(runner.drivers))  # copies: another thread may read while a restart rebuilds the job
    ops = dict(runner.ops)
    for t in list(runner.nodes):
        if t.kind == "source":
            d = next(drivers, None)
            if d is None:
                continue
            outputs[t.id] = d.out
            out.append((runner.uids.get(t.id, f"source-{t.name}"), d.name, d, "source", []))
            continue
        if t.kind == "partition":  # an edge's partitioning, no vertex: its consumers read the producer
            if t.inputs[0][0].id in outputs:
                outputs[t.id] = outputs[t.inputs[0][0].id]
            continue
        op = ops.get(t.id)
        if op is None:
            continue
        outputs[t.id] = op.out
        ins = [outputs[u.id] for u, tag in t.inputs if tag is None and u.id in outputs]
        key = runner.uids.get(t.id, f"{t.kind}-{t.name}")
        out.append((key, op.name, op, "sink" if t.kind == "sink" else "operator", ins))
    for k, op in ops.items():
        if k < 0:  # execute_and_collect's collecting sinks
            out.append((f"collect-{-k}-{op.name}", op.name, op, "sink", []))
    return out


class JobMetrics:
    """Reports a :class:`~millstream.runtime.job.JobRunner`'s metrics (see the module docstring) at most once a
    second. Built per run attempt; counters continue across restarts because sensors only get increments."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self.vertices = [_Vertex(runner, *v) for v in job_vertices(runner)]
        tags = {"job_id": runner.jid, "job_name": runner.job_name}

        def s(metric: str) -> sensors.Sensor:
            return sensors.sensor(metric, runner.job_name, **tags)

        self.s_cp_duration = s("lastCheckpointDuration")
        self.s_cp_size = s("lastCheckpointSize")
        self.s_cp_done = s("numberOfCompletedCheckpoints")
        self.s_cp_failed = s("numberOfFailedCheckpoints")
        self.s_cp_total = s("totalNumberOfCheckpoints")
        self.s_restarts = s("numRestarts")
        self.s_uptime = s("uptime")
        self.last = 0.0
        self.log_wait = [0.0]  # seconds the job thread spent in sink appends/flushes
        self.idle = 0.0  # seconds the job thread spent waiting for input (added by the loop)
        self._acct = (0.0, 0.0, 0.0)  # (time, log_wait, idle) at the last report

    def start(self) -> None:
        """Call when the loop starts (operators open, state restored): baselines, and timing of sink writes."""
        for v in self.vertices:
            v.start()
            op = v.thing
            if v.kind == "sink" and isinstance(op, Operator):
                time_log_writes(op, self.log_wait)
        self._acct = (time.perf_counter(), self.log_wait[0], self.idle)
        self.last = 0.0

    def report(self, force: bool = False) -> None:
        """Report everything, if a second has passed since the last report (or ``force``)."""
        now = time.monotonic()
        if not force and now - self.last < REPORT_INTERVAL_S:
            return
        self.last = now
        t, waited, idle = time.perf_counter(), self.log_wait[0], self.idle
        t0, waited0, idle0 = self._acct
        self._acct = (t, waited, idle)
        busy, bp, idl = time_shares(t - t0, waited - waited0, idle - idle0)
        for v in self.vertices:
            v.report(busy, bp, idl)
        stats = self.runner.summary.stats
        if stats:
            completed = [s for s in stats if s.status == "COMPLETED"]
            if completed:
                self.s_cp_duration.set(completed[-1].duration_ms)
                self.s_cp_size.set(completed[-1].size)
            n_done = len(completed)
            self.s_cp_done.set(n_done)
            self.s_cp_failed.set(len(stats) - n_done)
            self.s_cp_total.set(len(stats))
        self.s_restarts.set(self.runner.restarts)
        self.s_uptime.set(int(time.time() * 1000) - self.runner.start_time_ms)


__all__ = [
    "REPORT_INTERVAL_S",
    "JobMetrics",
    "LagSampler",
    "job_vertices",
    "time_log_writes",
    "time_shares",
    "vertex_id",
]
