"""The console's HTTP surface: the page and its assets under ``/console/`` and a JSON API under
``/console/api/``, as an :class:`~millstream.http.api.HttpApi` served by the shared stack
(:mod:`millstream.http`: limits, timeouts, HTTPS, basic authentication).

JSON API (all answers JSON; errors in the hosting surface's error shape with a message naming the fix):

==========  ====================================================  ===========================================
method      path (under ``/console/api``)                         answer
==========  ====================================================  ===========================================
GET         ``/overview``                                         jobs, connectors, topics, lineage graph
GET / POST  ``/topics``                                           topic rows / create ``{"name","partitions","config"}``
GET/DELETE  ``/topics/{t}``                                       topic, partition offsets, groups / delete
GET         ``/topics/{t}/messages?mode=&at=&partition=&limit=``  a page of messages (+ ``cursor``, ``filter``,
                                                                  ``key_format``, ``value_format``, ``avro_schema``)
POST        ``/topics/{t}/messages``                              produce ``{"key","value","headers","partition"}``
GET         ``/groups``, ``/groups/{g}``                          groups with lag / offsets and lag per partition
GET         ``/jobs``, ``/jobs/{id}``                             jobs / one job with vertices, checkpoints, advice
PATCH       ``/jobs/{id}?mode=cancel``                            cancel the job (Flink's endpoint, forwarded)
POST        ``/jobs/{id}/savepoints``, ``/jobs/{id}/stop``        savepoint / stop with savepoint → ``request-id``
GET         ``/jobs/{id}/savepoints/{request-id}``                the savepoint's status (Flink's answer)
GET         ``/advice``                                           advice for every running job
GET / POST  ``/connectors``                                       connectors with rates / create
GET/DELETE  ``/connectors/{n}``                                   info, status, task traces / delete
PUT/POST    ``/connectors/{n}/{pause|resume|stop|restart}``       the action, then the new status
GET         ``/plugins``, ``/plugins/{p}/config``                 connector plugins / a plugin's ConfigDef
PUT         ``/plugins/{p}/validate``                             Kafka Connect's validation of a config
==========  ====================================================  ===========================================

A :class:`Console` is built with a log (or a function finding one: a job's metrics server uses the log its
jobs read and write), sources of jobs and Connect workers.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlencode

import orjson

from ..core.errors import MillstreamError
from ..http.api import ApiRequest, ApiResponse, HttpApi, HttpError
from ..log import Log, open_log
from . import topics as T
from .advice import advise
from .connectors import ConnectWorkers
from .jobs import JobsSource
from .lineage import RateTracker, build_lineage
from .topics import ConsoleError

PREFIX = "/console"
_STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: (method, pattern of the path under /console/api, handler name)
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), h)
    for m, p, h in [
        ("GET", r"/overview", "overview"),
        ("GET", r"/topics", "topics"),
        ("POST", r"/topics", "create_topic"),
        ("GET", r"/topics/(?P<topic>[^/]+)", "topic"),
        ("DELETE", r"/topics/(?P<topic>[^/]+)", "delete_topic"),
        ("GET", r"/topics/(?P<topic>[^/]+)/messages", "messages"),
        ("POST", r"/topics/(?P<topic>[^/]+)/messages", "produce"),
        ("GET", r"/groups", "groups"),
        ("GET", r"/groups/(?P<group>[^/]+)", "group"),
        ("GET", r"/jobs", "jobs"),
        ("GET", r"/jobs/(?P<jid>[^/]+)", "job"),
        ("PATCH", r"/jobs/(?P<jid>[^/]+)", "job_control"),
        ("POST", r"/jobs/(?P<jid>[^/]+)/(?:stop|savepoints)", "job_control"),
        ("GET", r"/jobs/(?P<jid>[^/]+)/savepoints/[^/]+", "job_control"),
        ("GET", r"/advice", "advice"),
        ("GET", r"/connectors", "connectors"),
        ("POST", r"/connectors", "create_connector"),
        ("GET", r"/connectors/(?P<name>[^/]+)", "connector"),
        ("DELETE", r"/connectors/(?P<name>[^/]+)", "delete_connector"),
        ("PUT", r"/connectors/(?P<name>[^/]+)/(?P<action>pause|resume|stop)", "connector_action"),
        ("POST", r"/connectors/(?P<name>[^/]+)/(?P<action>restart)", "connector_action"),
        ("GET", r"/plugins", "plugins"),
        ("GET", r"/plugins/(?P<plugin>[^/]+)/config", "plugin_config"),
        ("PUT", r"/plugins/(?P<plugin>[^/]+)/validate", "validate"),
    ]
]


def asset(name: str) -> bytes:
    """A file of the page (``index.html``, ``app.js``, ``app.css``) from the package data."""
    return resources.files("millstream.console").joinpath("static", name).read_bytes()


class Console:
    """The console's data: ``log`` (a URL, a :class:`Log`, or a function returning one or ``None``), ``jobs``
    (sources of jobs) and ``connect`` (Connect workers). Thread-safe; the log is opened once."""

    def __init__(
        self,
        log: str | Log | Callable[[], str | Log | None] | None,
        jobs: list[JobsSource] | None = None,
        connect: ConnectWorkers | None = None,
        title: str = "millstream",
    ) -> None:
        self._log_spec = log
        self._log: Log | None = None
        self._log_lock = threading.Lock()
        self.jobs_sources = list(jobs or [])
        self.connect = connect or ConnectWorkers()
        self.tracker = RateTracker()
        self.title = title

    # -- the log ------------------------------------------------------------------------------------------
    def log(self) -> Log:
        """The log this console shows (opened on first use); 400 naming the fix when there is none."""
        with self._log_lock:
            if self._log is not None and not callable(self._log_spec):
                return self._log
            spec = self._log_spec() if callable(self._log_spec) else self._log_spec
            if self._log is not None:  # found by a function: follow it when it names another log
                url = spec.url if isinstance(spec, Log) else spec
                if url == self._log.url or spec is None:
                    return self._log
                self._log.close()
                self._log = None
            if spec is None:
                raise ConsoleError(
                    400,
                    "this console has no log to show: the jobs of this process read and write no topics",
                    hint="run millstream console --log URL to browse a log",
                )
            self._log = open_log(spec)
            return self._log

    def log_url(self) -> str | None:
        """The log's URL, or ``None`` when there is none (yet)."""
        try:
            return self.log().url
        except ConsoleError:
            return None

    def close(self) -> None:
        """Close the log if this console opened it."""
        with self._log_lock:
            if self._log is not None and not isinstance(self._log_spec, Log):
                self._log.close()
            self._log = None

    # -- jobs -----------------------------------------------------------------------------------------------
    def all_jobs(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Every job of every source, and the errors of sources that could not answer."""
        out: list[dict[str, Any]] = []
        errors: list[str] = []
        for s in self.jobs_sources:
            try:
                out.extend(s.list())
            except ConsoleError as exc:
                errors.append(str(exc))
        return out, errors

    def job(self, jid: str) -> dict[str, Any]:
        """One job with its advice; 404 naming the job when no source knows it."""
        for s in self.jobs_sources:
            try:
                j = s.get(jid)
            except ConsoleError:
                continue
            if j is not None:
                j["advice"] = advise(j, self._partition_ends(j), self.tracker)
                if j.get("state") in ("FINISHED", "FAILED", "CANCELED"):
                    j["ended"] = f"job {j['name']!r} has ended ({j['state']}); the figures below are its last ones"
                return j
        raise ConsoleError(404, f"job {jid} not found", hint="it may have ended long ago; the Jobs page lists the jobs")

    def job_control(self, jid: str, method: str, path: str, body: Any = None) -> Any:
        """Forward a Flink control request for job ``jid`` to the source that knows it; its answer, or
        :class:`ConsoleError` with the job's own message (404 when no source knows the job)."""
        for s in self.jobs_sources:
            try:
                answer = s.control(jid, method, path, body)
            except ConsoleError:
                continue
            if answer is None:
                continue
            status, doc = answer
            if status >= 400:
                errors = doc.get("errors") if isinstance(doc, dict) else None
                message = "; ".join(map(str, errors)) if errors else str((doc or {}).get("error", f"HTTP {status}"))
                raise ConsoleError(status, message)
            return doc if doc is not None else {}
        raise ConsoleError(404, f"job {jid} not found", hint="it may have ended long ago; the Jobs page lists the jobs")

    def _partition_ends(self, job: dict[str, Any]) -> dict[str, list[int]]:
        ends: dict[str, list[int]] = {}
        try:
            log = self.log()
        except ConsoleError:
            return ends
        for v in job.get("vertices", []):
            for t in v.get("topics_in", []):
                if t in ends:
                    continue
                try:
                    n = log.describe_topic(t).partitions
                    ends[t] = [log.latest_offset(t, p) for p in range(n)]
                except MillstreamError:
                    continue
        return ends

    # -- connectors with rates ------------------------------------------------------------------------------
    def connectors_with_rates(self, topics: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """The connectors of every worker, each with ``rate``: records/s into its topics (source) or committed
        by its group (sink), 0 unless RUNNING."""
        conns = self.connect.list()
        if not conns:
            return conns
        if topics is None:
            try:
                topics = T.list_topics(self.log())
            except ConsoleError:
                topics = []
        groups = self._group_totals()
        lineage = build_lineage([], conns, topics, groups, self.tracker)
        rates = {n["id"]: n.get("rate") for n in lineage["nodes"]}
        for c in conns:
            if "name" in c:
                c["rate"] = rates.get(f"connector:{c['worker']}:{c['name']}")
        return conns

    def _group_totals(self) -> dict[str, dict[str, Any]]:
        try:
            log = self.log()
        except ConsoleError:
            return {}
        out = {}
        for g in log.list_groups():
            if not g.startswith("connect-"):
                continue
            try:
                committed = log.committed_offsets(g)
            except MillstreamError:
                continue
            out[g] = {"group": g, "committed_total": sum(committed.values())}
        return out

    def overview(self) -> dict[str, Any]:
        """Jobs, connectors, topics and the lineage graph (see :mod:`millstream.console.lineage`)."""
        jobs, errors = self.all_jobs()
        try:
            topics = T.list_topics(self.log())
        except ConsoleError as exc:
            topics = []
            errors.append(str(exc))
        conns = self.connect.list()
        errors.extend(f"Connect worker {c['worker']}: {c['error']}" for c in conns if "error" in c)
        conns = [c for c in conns if "name" in c]
        lineage = build_lineage(jobs, conns, topics, self._group_totals(), self.tracker)
        rates = {n["id"]: n.get("rate") for n in lineage["nodes"]}
        for c in conns:
            c["rate"] = rates.get(f"connector:{c['worker']}:{c['name']}")
        for t in topics:
            t["rate"] = rates.get("topic:" + t["name"])
        return {
            "title": self.title,
            "log": self.log_url(),
            "jobs": [{k: j[k] for k in ("jid", "name", "state", "start-time", "duration")} for j in jobs],
            "connectors": conns,
            "topics": topics,
            "lineage": lineage,
            "errors": errors,
        }


class ConsoleApi:
    """The console surface (an :class:`~millstream.http.api.HttpApi` on its own, or mounted beside another
    surface with :class:`ConsoleMount`)."""

    blocking = True

    def __init__(self, console: Console) -> None:
        self.console = console

    @staticmethod
    def _split(raw_path: str) -> str | None:
        path = raw_path.split("?", 1)[0]
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return None
        return path[len(PREFIX) :]

    def allowed_methods(self, raw_path: str) -> list[str]:
        """The methods a console path takes; empty outside ``/console``."""
        if raw_path.split("?", 1)[0] == "/":
            return ["GET"]  # served alone: the root sends browsers to the page
        rest = self._split(raw_path)
        if rest is None:
            return []
        if rest in ("", "/") or rest.startswith("/static/"):
            return ["GET"] if rest in ("", "/") or self._static_name(rest) else []
        if rest.startswith("/api"):
            sub = rest[4:].rstrip("/")
            return sorted({m for m, p, _h in _ROUTES if p.fullmatch(sub)})
        return []

    @staticmethod
    def _static_name(rest: str) -> str | None:
        name = rest[len("/static/") :]
        if not re.fullmatch(r"[a-z]+\.(js|css|svg|html)", name):
            return None
        try:
            resources.files("millstream.console").joinpath("static", name).read_bytes()
        except (FileNotFoundError, OSError):
            return None
        return name

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """``{"error": message}`` (when served alone)."""
        return {"error": message}

    def openapi(self) -> dict[str, Any]:
        """A minimal OpenAPI document (the console's API is described in docs/console.md)."""
        from .. import __version__

        return {"openapi": "3.1.0", "info": {"title": "millstream console", "version": __version__}, "paths": {}}

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Serve the page, an asset or an API call."""
        if request.raw_path.split("?", 1)[0] == "/":
            return ApiResponse(302, None, {"Location": "/console/"})
        rest = self._split(request.raw_path) or ""
        if rest in ("", "/"):
            return ApiResponse(
                200, raw=asset("index.html"), content_type=_STATIC_TYPES[".html"], headers={"Cache-Control": "no-cache"}
            )
        if rest.startswith("/static/"):
            name = self._static_name(rest)
            if name is None:
                raise HttpError(404, f"no console asset at {request.raw_path}")
            ext = name[name.rfind(".") :]
            return ApiResponse(
                200, raw=asset(name), content_type=_STATIC_TYPES[ext], headers={"Cache-Control": "no-cache"}
            )
        sub = rest[4:].rstrip("/")
        for method, pattern, handler in _ROUTES:
            m = pattern.fullmatch(sub)
            if m and method == request.method:
                params = {k: unquote(v) for k, v in m.groupdict().items()}
                try:
                    result = getattr(self, "_" + handler)(request, **params)
                except ConsoleError as exc:
                    raise HttpError(exc.status, str(exc)) from None
                except MillstreamError as exc:
                    raise HttpError(400, str(exc)) from None
                if isinstance(result, ApiResponse):
                    return result
                return ApiResponse(200, result)
        raise HttpError(404, f"no console endpoint {request.method} {request.raw_path}")

    # -- helpers ------------------------------------------------------------------------------------------
    @staticmethod
    def _body(request: ApiRequest) -> Any:
        if not request.body:
            raise ConsoleError(400, "this request needs a JSON body")
        try:
            return orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            raise ConsoleError(400, f"the body is not valid JSON: {exc}") from None

    @staticmethod
    def _q(request: ApiRequest, name: str, default: str | None = None) -> str | None:
        values = request.query.get(name)
        return values[-1] if values else default

    # -- handlers -----------------------------------------------------------------------------------------
    def _overview(self, request: ApiRequest) -> Any:
        return self.console.overview()

    def _topics(self, request: ApiRequest) -> Any:
        return {"log": self.console.log_url(), "topics": T.list_topics(self.console.log())}

    def _create_topic(self, request: ApiRequest) -> Any:
        return ApiResponse(201, T.create_topic(self.console.log(), self._body(request)))

    def _topic(self, request: ApiRequest, topic: str) -> Any:
        return T.topic_detail(self.console.log(), topic)

    def _delete_topic(self, request: ApiRequest, topic: str) -> Any:
        T.delete_topic(self.console.log(), topic)
        return {"deleted": topic}

    def _messages(self, request: ApiRequest, topic: str) -> Any:
        q = lambda n, d=None: self._q(request, n, d)  # noqa: E731
        partition = q("partition")
        return T.browse(
            self.console.log(),
            topic,
            mode=q("mode", "beginning") or "beginning",
            at=q("at"),
            partition=None if partition in (None, "", "all") else T._int(partition, "partition"),
            limit=T._int(q("limit", "50"), "limit"),
            cursor=q("cursor") or None,
            filter_text=q("filter"),
            key_format=q("key_format", "auto") or "auto",
            value_format=q("value_format", "auto") or "auto",
            avro_schema=q("avro_schema"),
        )

    def _produce(self, request: ApiRequest, topic: str) -> Any:
        return ApiResponse(201, T.produce(self.console.log(), topic, self._body(request)))

    def _groups(self, request: ApiRequest) -> Any:
        return {"groups": T.list_groups(self.console.log())}

    def _group(self, request: ApiRequest, group: str) -> Any:
        return T.group_detail(self.console.log(), group)

    def _job_control(self, request: ApiRequest, jid: str) -> Any:
        path = (self._split(request.raw_path) or "")[len("/api") :]  # Flink's path under the job's REST root
        if request.query:
            path += "?" + urlencode(request.query, doseq=True)
        body = None if not request.body else self._body(request)
        return self.console.job_control(jid, request.method, path, body)

    def _jobs(self, request: ApiRequest) -> Any:
        jobs, errors = self.console.all_jobs()
        return {"jobs": jobs, "errors": errors}

    def _job(self, request: ApiRequest, jid: str) -> Any:
        return self.console.job(jid)

    def _advice(self, request: ApiRequest) -> Any:
        jobs, errors = self.console.all_jobs()
        out = []
        for j in jobs:
            try:
                full = self.console.job(j["jid"])
            except ConsoleError:
                continue
            out.append({"jid": j["jid"], "name": j["name"], "state": j["state"], "advice": full["advice"]})
        return {"jobs": out, "errors": errors}

    def _connectors(self, request: ApiRequest) -> Any:
        conns = self.console.connectors_with_rates()
        return {
            "connectors": [c for c in conns if "name" in c],
            "errors": [f"Connect worker {c['worker']}: {c['error']}" for c in conns if "error" in c],
            "workers": [c.base_url for c in self.console.connect.clients],
        }

    def _create_connector(self, request: ApiRequest) -> Any:
        return ApiResponse(201, self.console.connect.create(self._body(request)))

    def _connector(self, request: ApiRequest, name: str) -> Any:
        return self.console.connect.detail(name)

    def _delete_connector(self, request: ApiRequest, name: str) -> Any:
        return self.console.connect.action(name, "delete")

    def _connector_action(self, request: ApiRequest, name: str, action: str) -> Any:
        return self.console.connect.action(name, action)

    def _plugins(self, request: ApiRequest) -> Any:
        return {"plugins": self.console.connect.plugins()}

    def _plugin_config(self, request: ApiRequest, plugin: str) -> Any:
        return {"plugin": plugin, "configs": self.console.connect.plugin_config(plugin)}

    def _validate(self, request: ApiRequest, plugin: str) -> Any:
        return self.console.connect.validate(plugin, self._body(request))


class ConsoleMount:
    """Serves ``console`` under ``/console`` beside ``inner`` (the monitoring or Connect REST surface) on one
    port, with the inner surface's error shape, OpenAPI document and every other path unchanged."""

    def __init__(self, inner: HttpApi, console: ConsoleApi) -> None:
        self.inner = inner
        self.console = console
        self.blocking = True

    def allowed_methods(self, raw_path: str) -> list[str]:
        """The console's methods under ``/console``, the inner surface's elsewhere."""
        if ConsoleApi._split(raw_path) is not None:
            return self.console.allowed_methods(raw_path)
        return self.inner.allowed_methods(raw_path)

    def error_body(self, status: int, message: str) -> Any:
        """The inner surface's error shape."""
        return self.inner.error_body(status, message)

    def openapi(self) -> dict[str, Any]:
        """The inner surface's document (the console's API is described in docs/console.md)."""
        return self.inner.openapi()

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Route by path prefix."""
        if ConsoleApi._split(request.raw_path) is not None:
            return self.console.handle(request)
        return self.inner.handle(request)


__all__ = ["PREFIX", "Console", "ConsoleApi", "ConsoleMount", "asset"]
