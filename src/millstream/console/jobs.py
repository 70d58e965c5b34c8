"""The console's view of jobs: the jobs of this process (from the job directory and the metrics registry) as
JSON for the Jobs page and the lineage graph, and the jobs of other processes through their consoles.

A job's JSON is Flink's ``/jobs/{id}`` answer (:mod:`millstream.observe.rest`) enriched per vertex with what
the Flink REST API does not carry but the console needs: the vertex's ``kind`` (source, operator, sink),
the topics it reads and writes, the connector it runs (class and masked config), its metrics as numbers
(records in/out and their per-second meters, watermarks and watermark lag, busy / back-pressured / idle
time, consumer lag), the same per subtask, and the job's ``component`` of each vertex (a job whose graph has
two unconnected parts — the demo's ingest and analytics — shows as two nodes in the lineage graph).

:class:`LocalJobs` reads this process; :class:`RemoteJobs` asks another process's console
(``GET {url}/console/api/jobs[/{id}]`` on its ``--metrics-port``), so ``millstream console`` shows jobs that
run elsewhere; :class:`RegisteredJobs` finds those processes in the log's job registry. Each source also
forwards Flink's control requests (cancel, savepoints, stop) to the process running the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, is_dataclass
from typing import Any, Protocol

from ..connect.config import mask_secrets
from ..log import Log, default_log_url
from ..observe import rest
from ..observe.registry import MetricRegistry, _combine
from ..runtime import job_directory
from ..runtime.metrics import vertex_id
from ..runtime.parallel import ParallelJobRunner
from .http_client import HttpClient, LocalClient
from .topics import ConsoleError

#: metric names copied into a vertex's ``metrics`` (missing ones are left out)
VERTEX_METRICS = (
    "numRecordsIn",
    "numRecordsOut",
    "numRecordsInPerSecond",
    "numRecordsOutPerSecond",
    "currentInputWatermark",
    "currentOutputWatermark",
    "busyTimeMsPerSecond",
    "backPressuredTimeMsPerSecond",
    "idleTimeMsPerSecond",
    "records-lag-max",
    "numLateRecordsDropped",
)
_NO_WATERMARK = -(2**63) + 1


class JobsSource(Protocol):
    """Where the console finds jobs."""

    def list(self) -> list[dict[str, Any]]:
        """Every job with its vertices (as :func:`job_json`)."""
        ...

    def get(self, jid: str) -> dict[str, Any] | None:
        """One job (as :func:`job_json`) or ``None`` when this source does not know it."""
        ...

    def control(self, jid: str, method: str, path: str, body: Any = None) -> tuple[int, Any] | None:
        """Send a Flink control request (``path`` under the job's REST root, e.g. ``/jobs/{id}/stop``) to the job;
        ``(status, answer)``, or ``None`` when this source does not know the job."""
        ...


def _descriptor_topics(t: Any) -> tuple[list[str], list[str], dict[str, Any] | None, str | None]:
    """(topics read, topics written, connector, log URL) of a transformation's source/sink descriptor."""
    src = t.params.get("source") if t.kind == "source" else None
    sink = t.params.get("sink") if t.kind == "sink" else None
    ins: list[str] = []
    outs: list[str] = []
    connector = None
    log_url = None
    for desc, into in ((src, ins), (sink, outs)):
        if desc is None:
            continue
        topics = getattr(desc, "topics", None)
        if topics:
            into.extend(topics)
        elif isinstance(getattr(desc, "topic", None), str):
            into.append(desc.topic)
        if hasattr(desc, "topics") or hasattr(desc, "topic"):
            log_url = getattr(desc, "log_url", None) or default_log_url()
        conn = getattr(desc, "connector", None)
        if conn is not None and hasattr(desc, "config"):
            cls = conn if isinstance(conn, type) else type(conn)
            cfg = {str(k): str(v) for k, v in dict(desc.config).items()}
            connector = {"class": cls.__name__, "name": cfg.get("name") or t.name, "config": mask_secrets(cfg)}
    return ins, outs, connector, log_url


def _nodes(runner: Any) -> list[tuple[str, Any]]:
    """``(vertex id, transformation)`` of every vertex of a job."""
    if isinstance(runner, ParallelJobRunner):
        return [(vertex_id(n.uid), n.t) for n in runner.plan.nodes.values()]
    out = []
    uids = getattr(runner, "uids", {})
    for t in list(getattr(runner, "nodes", [])):
        if t.kind == "partition":
            continue
        default = f"source-{t.name}" if t.kind == "source" else f"{t.kind}-{t.name}"
        out.append((vertex_id(uids.get(t.id, default)), t))
    return out


def log_urls() -> list[str]:
    """The log URLs the jobs of this process read and write (the default log when they name none), those of
    running jobs first, newest first."""
    urls: list[str] = []
    runners = job_directory.jobs()  # running jobs first, newest first: the log a new job uses wins
    runners = [r for r in reversed(runners) if r.status not in job_directory.TERMINAL] + [
        r for r in reversed(runners) if r.status in job_directory.TERMINAL
    ]
    for r in runners:
        for _vid, t in _nodes(r):
            url = _descriptor_topics(t)[3]
            if url and url not in urls:
                urls.append(url)
    return urls


def _metrics(values: dict[str, float], now_ms: int) -> dict[str, Any]:
    out: dict[str, Any] = {k: values[k] for k in VERTEX_METRICS if k in values}
    wm = values.get("currentInputWatermark", values.get("currentOutputWatermark"))
    if wm is not None and wm > _NO_WATERMARK and wm < 2**62:
        out["watermark"] = int(wm)
        out["watermarkLagMs"] = max(0, now_ms - int(wm))
    return out


def _components(vertices: list[dict[str, Any]]) -> None:
    """Number the connected parts of the job graph (``component``: 0, 1, ...), in vertex order."""
    parent = {v["id"]: v["id"] for v in vertices}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for v in vertices:
        for i in v["inputs"]:
            if i in parent:
                parent[find(v["id"])] = find(i)
    numbers: dict[str, int] = {}
    for v in vertices:
        v["component"] = numbers.setdefault(find(v["id"]), len(numbers))


def _config(runner: Any) -> dict[str, Any]:
    cfg = getattr(runner, "config", None)
    if cfg is None or not is_dataclass(cfg) or isinstance(cfg, type):
        return {}
    out: dict[str, Any] = {}
    for k, v in asdict(cfg).items():
        out[k] = v if isinstance(v, str | int | float | bool) or v is None else str(v)
    return out


class _Snapshot(MetricRegistry):
    """A registry frozen at one :meth:`~MetricRegistry.snapshot` of another, so that reading every vertex of a
    job copies the metrics once instead of once per vertex and subtask."""

    def __init__(self, registry: MetricRegistry) -> None:
        super().__init__(registry.meter_span_s)
        self._frozen = registry.snapshot()

    def snapshot(self) -> list[Any]:
        """The frozen metrics."""
        return self._frozen

    def values(self, job_id: str, vertex_id: str = "", subtask_index: int | None = None) -> dict[str, float]:
        """As :meth:`MetricRegistry.values`, from an index built on first use."""
        index = self.__dict__.get("_index")
        if index is None:
            index = self.__dict__["_index"] = {}
            for sc, name, value in self._frozen:
                for key in ((sc.job_id, sc.vertex_id, None), (sc.job_id, sc.vertex_id, sc.subtask_index)):
                    row = index.setdefault(key, {})
                    row[name] = _combine(name, row[name], value) if name in row else value
        return dict(index.get((job_id, vertex_id, subtask_index), {}))


def job_json(registry: MetricRegistry | None, runner: Any, *, detail: bool = True) -> dict[str, Any]:
    """The console's JSON of one job of this process (see the module docstring)."""
    jid = runner.jid
    if registry is not None and not isinstance(registry, _Snapshot):
        registry = _Snapshot(registry)
    flink = rest.job_detail(registry, jid)
    now = int(time.time() * 1000)
    inputs = {n["id"]: [i["id"] for i in n["inputs"] if i["id"]] for n in flink["plan"]["nodes"]}
    by_id = dict(_nodes(runner))
    vertices = []
    for v in flink["vertices"]:
        t = by_id.get(v["id"])
        ins, outs, connector, _url = _descriptor_topics(t) if t is not None else ([], [], None, None)
        vals = registry.values(jid, v["id"]) if registry is not None else {}
        vertex = {
            "id": v["id"],
            "name": v["name"],
            "kind": ("sink" if t.kind == "sink" else "source" if t.kind == "source" else "operator")
            if t is not None
            else "operator",
            "operator": t.kind if t is not None else "",
            "parallelism": v["parallelism"],
            "status": v["status"],
            "inputs": inputs.get(v["id"], []),
            "topics_in": ins,
            "topics_out": outs,
            "connector": connector,
            "idleness_ms": getattr(t.params.get("strategy"), "idleness", None) if t is not None else None,
            "metrics": _metrics(vals, now),
        }
        if detail:
            vertex["subtasks"] = [
                {
                    "subtask": i,
                    "metrics": _metrics(registry.values(jid, v["id"], i) if registry is not None else {}, now),
                }
                for i in range(v["parallelism"])
            ]
        vertices.append(vertex)
    _components(vertices)
    job: dict[str, Any] = {
        "jid": jid,
        "name": flink["name"],
        "state": flink["state"],
        "start-time": flink["start-time"],
        "end-time": flink["end-time"],
        "duration": flink["duration"],
        "now": now,
        "vertices": vertices,
        "metrics": registry.values(jid) if registry is not None else {},
        "checkpoint_interval_ms": getattr(getattr(runner, "config", None), "checkpoint_interval", None),
    }
    if detail:
        job["checkpoints"] = rest.checkpoints(registry, jid)
        job["config"] = _config(runner)
        job["exceptions"] = _exceptions(runner)
        job["restarts"] = getattr(runner, "restarts", 0)
    return job


def _exceptions(runner: Any) -> list[dict[str, Any]]:
    """The job's failures, newest first, ``[{"timestamp", "exception", "task", "stacktrace"}]``: those it
    restarted from or failed with (its exception history, Flink's ``/jobs/{id}/exceptions``) and its failed
    checkpoints."""
    out = []
    history = getattr(runner, "exceptions", None)
    for e in history.entries() if history is not None else []:
        out.append(
            {
                "timestamp": e["timestamp"],
                "exception": f"{e['taskName']}: {e['exceptionName']}" if e["taskName"] else e["exceptionName"],
                "task": e["taskName"],
                "stacktrace": e["stacktrace"],
            }
        )
    for st in list(getattr(getattr(runner, "summary", None), "stats", [])):
        if st.status != "COMPLETED" and st.error:
            out.append(
                {
                    "timestamp": int(st.end_time_ms),
                    "exception": f"checkpoint {st.checkpoint_id} failed",
                    "task": None,
                    "stacktrace": str(st.error),
                }
            )
    out.sort(key=lambda e: -e["timestamp"])
    return out[:20]


class LocalJobs:
    """The jobs of this process, with metrics from ``registry`` (``None``: structure only), controlled through
    ``rest`` (a client of this process's monitoring REST surface; ``None``: a private one made when needed)."""

    def __init__(self, registry: MetricRegistry | None, rest: Any = None) -> None:
        self.registry = registry
        self.rest = rest

    def list(self) -> list[dict[str, Any]]:
        """Every job of the directory (running and recently ended)."""
        runners = job_directory.jobs()
        registry = _Snapshot(self.registry) if self.registry is not None and runners else self.registry
        return [job_json(registry, r, detail=False) for r in runners]

    def get(self, jid: str) -> dict[str, Any] | None:
        """One job, or ``None``."""
        r = job_directory.get(jid)
        return None if r is None else job_json(self.registry, r)

    def control(self, jid: str, method: str, path: str, body: Any = None) -> tuple[int, Any] | None:
        """The request answered by this process's REST surface (a private one where it serves none, e.g. on a
        Connect worker's port)."""
        if job_directory.get(jid) is None:
            return None
        if self.rest is None:
            from ..observe.server import MonitoringRestApi

            self.rest = LocalClient(MonitoringRestApi(self.registry or MetricRegistry()), "this process")
        answer: tuple[int, Any] = self.rest.request(method, path, body)
        return answer


class RemoteJobs:
    """The jobs another process serves on its metrics port (its console's ``/console/api/jobs``)."""

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def list(self) -> list[dict[str, Any]]:
        """Its jobs; an unreachable process shows as a console error in the page."""
        status, body = self.client.request("GET", "/console/api/jobs")
        if status != 200:
            raise ConsoleError(502, f"the jobs at {self.client.base_url} answered {status}: {_message(body)}")
        return list(body.get("jobs", []))

    def get(self, jid: str) -> dict[str, Any] | None:
        """One of its jobs, or ``None``."""
        status, body = self.client.request("GET", f"/console/api/jobs/{jid}")
        if status == 404:
            return None
        if status != 200:
            raise ConsoleError(502, f"the jobs at {self.client.base_url} answered {status}: {_message(body)}")
        return dict(body)

    def control(self, jid: str, method: str, path: str, body: Any = None) -> tuple[int, Any] | None:
        """The request sent to the other process's REST API (the same port as its console)."""
        if self.get(jid) is None:
            return None
        answer: tuple[int, Any] = self.client.request(method, path, body)
        return answer


class RegisteredJobs:
    """The running jobs registered in the console's log (:mod:`millstream.runtime.job_registry`: every
    ``millstream run`` registers there), each read and controlled through the REST endpoint it registered —
    so ``millstream console --log URL`` shows the log's jobs without ``--jobs URL``. ``log`` returns the open
    log; ``skip`` are REST roots other sources already show; jobs of this process are left to
    :class:`LocalJobs`. A job that died since its last heartbeat is left out until its entry expires."""

    def __init__(self, log: Callable[[], Log], client_auth: str | None = None, skip: Iterable[str] = ()) -> None:
        self.log = log
        self.client_auth = client_auth
        self.skip = {u.rstrip("/") for u in skip}

    def _remotes(self) -> list[RemoteJobs]:
        from ..runtime.job_registry import JobRegistry

        roots: dict[str, RemoteJobs] = {}
        for e in JobRegistry(self.log()).running():
            if e.rest and e.rest.rstrip("/") not in self.skip and job_directory.get(e.jid) is None:
                roots.setdefault(e.rest, RemoteJobs(HttpClient(e.rest, self.client_auth)))
        return list(roots.values())

    def list(self) -> list[dict[str, Any]]:
        """The jobs of every registered process that answers."""
        out: list[dict[str, Any]] = []
        for remote in self._remotes():
            try:
                out.extend(remote.list())
            except ConsoleError:
                continue
        return out

    def get(self, jid: str) -> dict[str, Any] | None:
        """One job of a registered process, or ``None``."""
        for remote in self._remotes():
            try:
                found = remote.get(jid)
            except ConsoleError:
                continue
            if found is not None:
                return found
        return None

    def control(self, jid: str, method: str, path: str, body: Any = None) -> tuple[int, Any] | None:
        """The request sent to the registered process running the job."""
        for remote in self._remotes():
            try:
                answer = remote.control(jid, method, path, body)
            except ConsoleError:
                continue
            if answer is not None:
                return answer
        return None


def _message(body: Any) -> str:
    if isinstance(body, dict):
        for k in ("error", "message"):
            if body.get(k):
                return str(body[k])
        if body.get("errors"):
            return "; ".join(map(str, body["errors"]))
    return str(body)[:200]


__all__ = ["VERTEX_METRICS", "JobsSource", "LocalJobs", "RegisteredJobs", "RemoteJobs", "job_json", "log_urls"]
