"""The metrics registry: what :mod:`millstream.core.sensors` reports, kept per scope, read by the Prometheus
exposition, the REST API and the terminal progress.

A :class:`MetricRegistry` is a sensor factory (``sensors.install(registry)``). Every sensor it hands out is a
:class:`Metric` — a number that ``inc`` adds to (a counter) or ``set`` replaces (a gauge) — kept under its
scope: the tags ``job_id``, ``job_name``, ``vertex_id``, ``vertex_name`` and ``subtask_index`` the runtime
passes (job-level metrics such as checkpoints have no vertex). Sensors without a ``job_id`` tag (Connect
workers, ...) are kept under their dotted ``scope`` string (:attr:`Scope.other`) and belong to no job.

Meters, as Flink computes them: every counter whose name starts with ``numRecords`` or ``numBytes`` also has
``<name>PerSecond``, the increase of the counter over the last ``meter_span_s`` seconds divided by that span
(Flink's ``MeterView``; its default span is 60 s, millstream's is 5 s so the terminal view follows the job).
While a counter is younger than the span, the rate is over its age. Rates are computed when read, from
samples the counter keeps on ``inc`` — no timer thread, nothing per record.

Thread safety: sensors are written by the job thread and read by HTTP and progress threads; a value read is
the latest one written (single float attribute assignments are atomic in CPython); ``snapshot`` copies under
a lock so a reader never sees a half-registered metric.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

#: counters that get a ``...PerSecond`` meter
METERED_PREFIXES = ("numRecords", "numBytes")


@dataclass(frozen=True)
class Scope:
    """Where a metric belongs: a job, and within it optionally one vertex (operator) and subtask."""

    job_id: str
    job_name: str
    vertex_id: str = ""
    vertex_name: str = ""
    subtask_index: int = 0
    other: str = ""  # the dotted scope of a sensor that belongs to no job (job_id is "")

    @property
    def is_job(self) -> bool:
        """True for job-level metrics (checkpoints, uptime): a job, no vertex."""
        return bool(self.job_id) and not self.vertex_id

    @property
    def is_other(self) -> bool:
        """True for a sensor that belongs to no job (its scope is :attr:`other`)."""
        return not self.job_id


class Metric:
    """One sensor: ``inc`` adds (counter), ``set`` replaces (gauge), ``observe`` keeps the latest value.
    A metered counter also keeps ``(monotonic time, value)`` samples for its per-second rate."""

    __slots__ = ("kind", "name", "samples", "scope", "span", "value")

    def __init__(self, name: str, scope: Scope, span: float) -> None:
        self.name = name
        self.scope = scope
        self.value: float = 0.0
        self.kind = "gauge"
        self.span = span
        self.samples: deque[tuple[float, float]] | None = None
        if name.startswith(METERED_PREFIXES):
            self.samples = deque([(time.monotonic(), 0.0)])

    def inc(self, n: float = 1) -> None:
        """Add ``n`` (the metric is a counter from then on)."""
        self.kind = "counter"
        self.value += n
        s = self.samples
        if s is not None:
            now = time.monotonic()
            s.append((now, self.value))
            while len(s) > 2 and s[1][0] <= now - self.span:  # keep one sample at or before the span's start
                s.popleft()

    def set(self, value: float) -> None:
        """Replace the value (a gauge)."""
        self.value = float(value)

    def observe(self, value: float) -> None:
        """Record one observation; the metric shows the latest one."""
        self.value = float(value)

    def rate(self, now: float | None = None) -> float | None:
        """Per-second increase over the last ``span`` seconds (Flink's ``MeterView``); ``None`` if not metered."""
        s = self.samples
        if s is None:
            return None
        now = time.monotonic() if now is None else now
        start = now - self.span
        base_t, base_v = s[0]
        for t, v in s:  # the value at the span's start: the latest sample at or before it
            if t > start:
                break
            base_t, base_v = t, v
        elapsed = self.span if base_t <= start else now - base_t  # younger than the span: over its age
        return max(0.0, (self.value - base_v) / max(elapsed, 1.0))


class MetricRegistry:
    """A :data:`~millstream.core.sensors.SensorFactory` that keeps every metric reported, by scope and name.
    Asking twice for the same name and scope returns the same :class:`Metric`."""

    def __init__(self, meter_span_s: float = 5.0) -> None:
        self.meter_span_s = meter_span_s
        self._lock = threading.Lock()
        self._metrics: dict[tuple[Scope, str], Metric] = {}

    def __call__(self, name: str, scope: str, tags: dict[str, str]) -> Metric:
        sc = _scope(scope, tags)
        key = (sc, name)
        m = self._metrics.get(key)
        if m is None:
            with self._lock:
                m = self._metrics.get(key)
                if m is None:
                    m = self._metrics[key] = Metric(name, sc, self.meter_span_s)
        return m

    def snapshot(self) -> list[tuple[Scope, str, float]]:
        """Every metric as ``(scope, name, value)``, meters included as ``<name>PerSecond``."""
        with self._lock:
            metrics = list(self._metrics.values())
        now = time.monotonic()
        out: list[tuple[Scope, str, float]] = []
        for m in metrics:
            out.append((m.scope, m.name, m.value))
            r = m.rate(now)
            if r is not None:
                out.append((m.scope, m.name + "PerSecond", r))
        return out

    def jobs(self) -> dict[str, str]:
        """``{job_id: job_name}`` of every job that reported a metric."""
        return {sc.job_id: sc.job_name for sc, _n, _v in self.snapshot() if sc.job_id}

    def other(self, scope: str) -> dict[str, float]:
        """``{name: value}`` of the sensors that belong to no job, reported under ``scope``."""
        return {name: v for sc, name, v in self.snapshot() if sc.is_other and sc.other == scope}

    def values(self, job_id: str, vertex_id: str = "", subtask_index: int | None = None) -> dict[str, float]:
        """``{name: value}`` of one job's metrics (``vertex_id=""``) or one vertex's (summed over subtasks
        unless ``subtask_index`` is given; watermarks and lag take the minimum/maximum as Flink's UI does)."""
        out: dict[str, float] = {}
        for sc, name, value in self.snapshot():
            if sc.job_id != job_id or sc.vertex_id != vertex_id:
                continue
            if subtask_index is not None and sc.subtask_index != subtask_index:
                continue
            if name in out:
                out[name] = _combine(name, out[name], value)
            else:
                out[name] = value
        return out


def _combine(name: str, a: float, b: float) -> float:
    if "Watermark" in name:
        return min(a, b)
    if name.endswith("-max") or name.startswith("last"):
        return max(a, b)
    return a + b


def _scope(scope: str, tags: dict[str, str]) -> Scope:
    job_id = tags.get("job_id")
    if job_id is None:  # a sensor from elsewhere (Connect, ...): kept under its dotted scope
        return Scope("", "", other=scope)
    return Scope(
        job_id,
        tags.get("job_name", job_id),
        tags.get("vertex_id", ""),
        tags.get("vertex_name", ""),
        int(tags.get("subtask_index", 0)),
    )


def summary(registry: MetricRegistry) -> dict[str, Any]:
    """A compact nested view ``{job_id: {"name", "job": {...}, "vertices": {vertex_id: {...}}}}`` (for tests
    and the terminal view)."""
    out: dict[str, Any] = {}
    for sc, name, value in registry.snapshot():
        if sc.is_other:
            continue
        job = out.setdefault(sc.job_id, {"name": sc.job_name, "job": {}, "vertices": {}})
        if sc.is_job:
            job["job"][name] = value
        else:
            v = job["vertices"].setdefault(sc.vertex_id, {"name": sc.vertex_name})
            v[name] = _combine(name, v[name], value) if name in v else value
    return out


__all__ = ["METERED_PREFIXES", "Metric", "MetricRegistry", "Scope", "summary"]
