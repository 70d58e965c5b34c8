"""JSON answers of the REST API, shaped as Flink's REST API answers (same paths, field names and nesting),
built from the :mod:`~millstream.runtime.job_directory` and a :class:`~millstream.observe.registry.MetricRegistry`.

Endpoints (see docs/monitoring.md for examples):

- ``GET /jobs`` → ``{"jobs": [{"id", "status"}]}``
- ``GET /jobs/overview`` → ``{"jobs": [{"jid", "name", "state", "start-time", "end-time", "duration",
  "last-modification", "tasks": {...}}]}``
- ``GET /jobs/{id}`` → ``{"jid", "name", "isStoppable", "state", "job-type", "start-time", "end-time",
  "duration", "now", "timestamps", "vertices": [{"id", "name", "parallelism", "maxParallelism", "status",
  "start-time", "end-time", "duration", "tasks", "metrics": {"read-records", "write-records", ...}}, and for
  a parallel job "subtasks": [{"subtask", "status", "metrics"}]],
  "status-counts", "plan": {"jid", "name", "type", "nodes": [...]}}``
- ``GET /jobs/{id}/metrics`` and ``GET /jobs/{id}/vertices/{vid}/metrics`` → ``[{"id"}]`` (vertex metric ids
  carry the subtask index, ``0.numRecordsIn``, ``1.numRecordsIn``..., as Flink's do); with ``?get=a,b`` →
  ``[{"id", "value"}]`` (values are strings; unknown ids are left out, as Flink does)
- ``GET /jobs/{id}/vertices/{vid}/backpressure`` → ``{"status": "ok", "backpressureLevel", "end-timestamp",
  "subtasks": [{"subtask", "attempt-number", "backpressureLevel", "ratio", "idleRatio", "busyRatio"}]}``,
  from each subtask's ``backPressuredTimeMsPerSecond`` / ``idleTimeMsPerSecond`` / ``busyTimeMsPerSecond``
  as Flink computes them (level ``ok`` up to a ratio of 0.10, ``low`` up to 0.5, ``high`` above)
- ``GET /jobs/{id}/checkpoints`` → ``{"counts": {"restored", "total", "in_progress", "completed", "failed"},
  "summary": {...}, "latest": {"completed", "savepoint", "failed", "restored"}, "history": [...]}``

Unknown jobs, vertices and paths raise :class:`NotFound`, answered as 404 ``{"errors": [message]}``.
Times are epoch milliseconds; ``end-time`` is -1 while a job runs, as in Flink.
"""

from __future__ import annotations

import time
from typing import Any

from ..core.errors import MillstreamError
from ..runtime import job_directory
from ..runtime.metrics import job_vertices, vertex_id
from ..runtime.parallel import ParallelJobRunner
from .registry import MetricRegistry

#: how many checkpoints ``/checkpoints`` lists in ``history`` (Flink's ``web.checkpoints.history`` default)
CHECKPOINT_HISTORY = 10

_TASK_STATES = (
    "CREATED",
    "SCHEDULED",
    "DEPLOYING",
    "RUNNING",
    "FINISHED",
    "CANCELING",
    "CANCELED",
    "FAILED",
    "RECONCILING",
    "INITIALIZING",
)
#: a vertex's execution state for each job state (one subtask per vertex)
_VERTEX_STATE = {
    "CREATED": "CREATED",
    "RUNNING": "RUNNING",
    "RESTARTING": "SCHEDULED",
    "FINISHED": "FINISHED",
    "FAILED": "FAILED",
    "CANCELED": "CANCELED",
}


class NotFound(MillstreamError):
    """The REST resource asked for does not exist (unknown job, vertex or path): HTTP 404."""


def _job(jid: str) -> Any:
    runner = job_directory.get(jid)
    if runner is None:
        raise NotFound(f"Job {jid} not found", hint="GET /jobs lists the jobs of this process")
    return runner


def _times(runner: Any) -> tuple[int, int, int]:
    start, end = runner.start_time_ms, runner.end_time_ms
    now = int(time.time() * 1000)
    duration = -1 if start < 0 else (end if end >= 0 else now) - start
    return start, end, duration


def _tasks(vertex_state: str, n: int = 1) -> dict[str, int]:
    out = {s.lower(): 0 for s in _TASK_STATES}
    out[vertex_state.lower()] = n
    return out


def jobs(registry: MetricRegistry | None = None) -> dict[str, Any]:
    """``GET /jobs``."""
    return {"jobs": [{"id": r.jid, "status": r.status} for r in job_directory.jobs()]}


def jobs_overview(registry: MetricRegistry | None = None) -> dict[str, Any]:
    """``GET /jobs/overview``."""
    out = []
    r: Any
    for r in job_directory.jobs():
        start, end, duration = _times(r)
        n = (  # Flink counts tasks: every subtask of every vertex
            sum(v.parallelism for v in r.plan.nodes.values())
            if isinstance(r, ParallelJobRunner)
            else len(job_vertices(r))
        )
        vstate = _VERTEX_STATE.get(r.status, "CREATED")
        out.append(
            {
                "jid": r.jid,
                "name": r.job_name,
                "state": r.status,
                "start-time": start,
                "end-time": end,
                "duration": duration,
                "last-modification": end if end >= 0 else start,
                "tasks": {"total": n, **_tasks(vstate, n)},
            }
        )
    return {"jobs": out}


def _parallel_vertices(
    r: ParallelJobRunner, registry: MetricRegistry | None, vstate: str, times: tuple[int, int, int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The vertices and plan nodes of a parallel job: one per operator, with its parallelism, max parallelism,
    its inputs' ship strategies, metrics summed over subtasks and each subtask's own (``subtasks``)."""
    start, end, duration = times
    vertices, nodes = [], []
    for n in r.plan.nodes.values():
        vid = vertex_id(n.uid)

        def records(m: dict[str, float]) -> dict[str, Any]:
            return {
                "read-records": int(m.get("numRecordsIn", 0)),
                "read-records-complete": True,
                "write-records": int(m.get("numRecordsOut", 0)),
                "write-records-complete": True,
            }

        m = registry.values(r.jid, vid) if registry is not None else {}
        subtasks = [
            {
                "subtask": i,
                "status": vstate,
                "metrics": records(registry.values(r.jid, vid, i) if registry is not None else {}),
            }
            for i in range(n.parallelism)
        ]
        vertices.append(
            {
                "id": vid,
                "name": n.t.name,
                "maxParallelism": n.max_parallelism,
                "parallelism": n.parallelism,
                "status": vstate,
                "start-time": start,
                "end-time": end,
                "duration": duration,
                "tasks": _tasks(vstate, n.parallelism),
                "metrics": {
                    "read-bytes": 0,
                    "read-bytes-complete": True,
                    "write-bytes": 0,
                    "write-bytes-complete": True,
                }
                | records(m),
                "subtasks": subtasks,
            }
        )
        nodes.append(
            {
                "id": vid,
                "parallelism": n.parallelism,
                "operator": n.t.kind,
                "operator_strategy": "",
                "description": n.t.name,
                "inputs": [
                    {
                        "num": e.input_index,
                        "id": vertex_id(r.plan.nodes[e.source].uid),
                        "ship_strategy": e.partitioning.strategy,
                        "exchange": "pipelined_bounded",
                    }
                    for e in n.inputs
                ],
                "optimizer_properties": {},
            }
        )
    return vertices, nodes


def job_detail(registry: MetricRegistry | None, jid: str) -> dict[str, Any]:
    """``GET /jobs/{id}``."""
    r = _job(jid)
    start, end, duration = _times(r)
    vstate = _VERTEX_STATE.get(r.status, "CREATED")
    vertices: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    ids: dict[int, str] = {}
    if isinstance(r, ParallelJobRunner):
        vertices, nodes = _parallel_vertices(r, registry, vstate, (start, end, duration))
    for key, name, thing, kind, _ins in [] if isinstance(r, ParallelJobRunner) else job_vertices(r):
        vid = vertex_id(key)
        ids[id(getattr(thing, "out", thing))] = vid
        m = registry.values(jid, vid) if registry is not None else {}
        vertices.append(
            {
                "id": vid,
                "name": name,
                "maxParallelism": 1,
                "parallelism": 1,
                "status": vstate,
                "start-time": start,
                "end-time": end,
                "duration": duration,
                "tasks": _tasks(vstate),
                "metrics": {
                    "read-bytes": 0,
                    "read-bytes-complete": True,
                    "write-bytes": 0,
                    "write-bytes-complete": True,
                    "read-records": int(m.get("numRecordsIn", 0)),
                    "read-records-complete": True,
                    "write-records": int(m.get("numRecordsOut", 0)),
                    "write-records-complete": True,
                },
            }
        )
        nodes.append(
            {
                "id": vid,
                "parallelism": 1,
                "operator": kind,
                "operator_strategy": "",
                "description": name,
                "inputs": [
                    {"num": i, "id": ids.get(id(o), ""), "ship_strategy": "FORWARD", "exchange": "pipelined_bounded"}
                    for i, o in enumerate(_ins)
                ],
                "optimizer_properties": {},
            }
        )
    counts = {s: 0 for s in _TASK_STATES}
    counts[vstate] = len(vertices)
    timestamps = {s: 0 for s in ("CREATED", "RUNNING", "FINISHED", "FAILED", "CANCELED", "RESTARTING")}
    if start >= 0:
        timestamps["CREATED"] = timestamps["RUNNING"] = start
    if end >= 0 and r.status in timestamps:
        timestamps[r.status] = end
    return {
        "jid": r.jid,
        "name": r.job_name,
        "isStoppable": False,
        "state": r.status,
        "job-type": "STREAMING",
        "start-time": start,
        "end-time": end,
        "duration": duration,
        "maxParallelism": -1,
        "now": int(time.time() * 1000),
        "timestamps": timestamps,
        "vertices": vertices,
        "status-counts": counts,
        "plan": {"jid": r.jid, "name": r.job_name, "type": "STREAMING", "nodes": nodes},
    }


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _metric_list(values: dict[str, float], prefix: str, get: list[str] | None) -> list[dict[str, str]]:
    ids = {prefix + name: v for name, v in values.items()}
    if get is None:
        return [{"id": i} for i in sorted(ids)]
    return [{"id": i, "value": _fmt(ids[i])} for i in get if i in ids]


def job_metrics(registry: MetricRegistry | None, jid: str, get: list[str] | None = None) -> list[dict[str, str]]:
    """``GET /jobs/{id}/metrics[?get=a,b]``: job-level metrics (checkpoints, restarts, uptime)."""
    _job(jid)
    return _metric_list(registry.values(jid) if registry is not None else {}, "", get)


def _subtasks(r: Any, jid: str, vid: str) -> int:
    """How many subtasks vertex ``vid`` of job ``r`` has (:class:`NotFound` for an unknown vertex)."""
    if isinstance(r, ParallelJobRunner):
        subtasks = {vertex_id(n.uid): n.parallelism for n in r.plan.nodes.values()}
    else:
        subtasks = {vertex_id(v[0]): 1 for v in job_vertices(r)}
    if vid not in subtasks:
        raise NotFound(f"Vertex {vid} of job {jid} not found", hint=f"GET /jobs/{jid} lists the job's vertices")
    return subtasks[vid]


def vertex_metrics(
    registry: MetricRegistry | None, jid: str, vid: str, get: list[str] | None = None
) -> list[dict[str, str]]:
    """``GET /jobs/{id}/vertices/{vid}/metrics[?get=a,b]``: the vertex's metrics, ids ``<subtask>.<name>``."""
    r = _job(jid)
    n_subtasks = _subtasks(r, jid, vid)
    return [
        m
        for i in range(n_subtasks)
        for m in _metric_list(registry.values(jid, vid, i) if registry is not None else {}, f"{i}.", get)
    ]


def _level(ratio: float) -> str:
    return "ok" if ratio <= 0.10 else "low" if ratio <= 0.5 else "high"


def backpressure(registry: MetricRegistry | None, jid: str, vid: str) -> dict[str, Any]:
    """``GET /jobs/{id}/vertices/{vid}/backpressure``: each subtask's back-pressure, idle and busy ratios
    (the share of the last second it spent in each) and Flink's level; the vertex's level is its worst
    subtask's."""
    r = _job(jid)
    n_subtasks = _subtasks(r, jid, vid)
    out = []
    for i in range(n_subtasks):
        m = registry.values(jid, vid, i) if registry is not None else {}
        ratio = round(m.get("backPressuredTimeMsPerSecond", 0.0) / 1000, 3)
        out.append(
            {
                "subtask": i,
                "attempt-number": r.restarts,
                "backpressureLevel": _level(ratio),
                "ratio": ratio,
                "idleRatio": round(m.get("idleTimeMsPerSecond", 0.0) / 1000, 3),
                "busyRatio": round(m.get("busyTimeMsPerSecond", 0.0) / 1000, 3),
            }
        )
    worst = max((s["ratio"] for s in out), default=0.0)
    return {
        "status": "ok",
        "backpressureLevel": _level(worst),
        "end-timestamp": int(time.time() * 1000),
        "subtasks": out,
    }


def _checkpoint(st: Any) -> dict[str, Any]:
    done = st.status == "COMPLETED"
    out: dict[str, Any] = {
        "@class": "completed" if done else "failed",
        "id": st.checkpoint_id,
        "status": st.status,
        "is_savepoint": False,
        "savepointFormat": None,
        "checkpoint_type": "CHECKPOINT",
        "trigger_timestamp": int(st.end_time_ms - st.duration_ms),
        "latest_ack_timestamp": st.end_time_ms,
        "state_size": st.state_size,
        "checkpointed_size": st.size,
        "end_to_end_duration": round(st.duration_ms),
        "alignment_buffered": 0,
        "processed_data": 0,
        "persisted_data": 0,
        "num_subtasks": 1,
        "num_acknowledged_subtasks": 1 if done else 0,
        "tasks": {},
    }
    if done:
        out["external_path"] = None
        out["discarded"] = False
    else:
        out["failure_timestamp"] = st.end_time_ms
        out["failure_message"] = st.error
    return out


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"min": 0, "max": 0, "avg": 0}
    return {"min": min(values), "max": max(values), "avg": sum(values) / len(values)}


def checkpoints(registry: MetricRegistry | None, jid: str) -> dict[str, Any]:
    """``GET /jobs/{id}/checkpoints``: counts, a summary of completed ones, the latest of each kind and the
    newest :data:`CHECKPOINT_HISTORY` checkpoints, newest first."""
    r = _job(jid)
    summary = r.summary
    stats = list(summary.stats)
    completed = [s for s in stats if s.status == "COMPLETED"]
    failed = [s for s in stats if s.status != "COMPLETED"]
    restored = None
    if summary.restored_from is not None:
        src = summary.restored_from
        restored = {
            "id": src if isinstance(src, int) else -1,
            "restore_timestamp": r.start_time_ms,
            "is_savepoint": not isinstance(src, int),
            "external_path": None if isinstance(src, int) else str(src),
        }
    return {
        "counts": {
            "restored": 1 if restored else 0,
            "total": len(stats),
            "in_progress": 0,
            "completed": len(completed),
            "failed": len(failed),
        },
        "summary": {
            "checkpointed_size": _stats([s.size for s in completed]),
            "state_size": _stats([s.state_size for s in completed]),
            "end_to_end_duration": _stats([s.duration_ms for s in completed]),
            "alignment_buffered": _stats([]),
            "processed_data": _stats([]),
            "persisted_data": _stats([]),
        },
        "latest": {
            "completed": _checkpoint(completed[-1]) if completed else None,
            "savepoint": None,
            "failed": _checkpoint(failed[-1]) if failed else None,
            "restored": restored,
        },
        "history": [_checkpoint(s) for s in reversed(stats[-CHECKPOINT_HISTORY:])],
    }


def exceptions(registry: MetricRegistry | None, jid: str) -> dict[str, Any]:
    """``GET /jobs/{id}/exceptions``: the job's failures — each one it restarted from and the one that failed it —
    in Flink's shape (:mod:`millstream.runtime.exception_history`)."""
    history = getattr(_job(jid), "exceptions", None)
    if history is None:  # a job runner without a history (none of millstream's): no failures to tell
        return {"root-exception": None, "timestamp": None, "all-exceptions": [], "truncated": False,
                "exceptionHistory": {"entries": [], "truncated": False}}  # fmt: skip
    doc: dict[str, Any] = history.to_flink()
    return doc


__all__ = [
    "CHECKPOINT_HISTORY",
    "NotFound",
    "backpressure",
    "checkpoints",
    "exceptions",
    "job_detail",
    "job_metrics",
    "jobs",
    "jobs_overview",
    "vertex_metrics",
]
