"""One HTTP server for monitoring a process's jobs: Prometheus text on ``GET /metrics`` and the Flink-shaped
REST API (:mod:`millstream.observe.rest`) on ``/jobs...``, both on the same port (``--metrics-port``).

It runs on the shared HTTP stack (:mod:`millstream.http`: Starlette on uvicorn, serving from a background
thread) with its limits and timeouts, bound to 127.0.0.1 unless told otherwise, optionally over HTTPS and with
basic authentication; :meth:`MonitoringServer.close` stops it. ``GET /`` lists the endpoints and
``GET /openapi.json`` describes them. Errors are Flink's JSON ``{"errors": [message]}`` for every status
(404 unknown job, vertex or path; 405 a method the path does not take; 413, 415, 501, ...).

Besides reading, it serves Flink's job control endpoints (:mod:`millstream.observe.control`):
``PATCH /jobs/{id}?mode=cancel`` (202), ``POST /jobs/{id}/stop`` (stop with a savepoint) and
``POST /jobs/{id}/savepoints`` (202 ``{"request-id"}``), ``GET /jobs/{id}/savepoints/{triggerid}``; refusals are
400 (bad body, no checkpointing, no target directory), 404 (unknown job or trigger) and 409 (the job ended).
"""

from __future__ import annotations

import errno
import re
from typing import Any

import orjson

from ..core.errors import ConfigError
from ..http.api import ApiRequest, ApiResponse, HttpError
from ..http.auth import BasicAuth
from ..http.limits import ServerLimits
from ..http.tls import TlsConfig
from . import rest
from .control import BadControlRequest, JobControl, JobNotRunning
from .openapi import flink_openapi
from .prometheus import prometheus_text
from .registry import MetricRegistry

ENDPOINTS = [
    "/metrics",
    "/jobs",
    "/jobs/overview",
    "/jobs/{id}",
    "/jobs/{id}/metrics",
    "/jobs/{id}/vertices/{vid}/metrics",
    "/jobs/{id}/vertices/{vid}/backpressure",
    "/jobs/{id}/checkpoints",
    "/jobs/{id}/exceptions",
    "/jobs/{id}/stop",
    "/jobs/{id}/savepoints",
    "/jobs/{id}/savepoints/{triggerid}",
    "/openapi.json",
]


class PortInUseError(ConfigError):
    """The port asked for is taken by another process."""


def route(registry: MetricRegistry, path: str, query: dict[str, list[str]], control: JobControl | None = None) -> Any:
    """The JSON answer for a GET of a REST path (raises :class:`~millstream.observe.rest.NotFound`); savepoint
    trigger status needs ``control``."""
    parts = [p for p in path.split("/") if p]
    get = None
    if "get" in query:
        get = [g for v in query["get"] for g in v.split(",") if g]
    if not parts:
        return {"endpoints": ENDPOINTS}
    if parts[0] == "jobs":
        if len(parts) == 1:
            return rest.jobs(registry)
        if len(parts) == 2:
            if parts[1] == "overview":
                return rest.jobs_overview(registry)
            return rest.job_detail(registry, parts[1])
        if len(parts) == 3 and parts[2] == "metrics":
            return rest.job_metrics(registry, parts[1], get)
        if len(parts) == 3 and parts[2] == "checkpoints":
            doc = rest.checkpoints(registry, parts[1])
            savepoint = control.latest_savepoint(parts[1]) if control is not None else None
            if savepoint is not None:
                doc["latest"]["savepoint"] = savepoint
            return doc
        if len(parts) == 3 and parts[2] == "exceptions":
            return rest.exceptions(registry, parts[1])
        if len(parts) == 4 and parts[2] == "savepoints" and control is not None:
            return control.status(parts[1], parts[3])
        if len(parts) == 5 and parts[2] == "vertices" and parts[4] == "metrics":
            return rest.vertex_metrics(registry, parts[1], parts[3], get)
        if len(parts) == 5 and parts[2] == "vertices" and parts[4] == "backpressure":
            return rest.backpressure(registry, parts[1], parts[3])
    raise rest.NotFound(f"Not found: {path}", hint="GET / lists the endpoints")


_GET = ["GET"]
_ROUTES: list[tuple[re.Pattern[str], list[str]]] = [
    (re.compile(r""), _GET),
    (re.compile(r"/metrics"), _GET),
    (re.compile(r"/jobs"), _GET),
    (re.compile(r"/jobs/overview"), _GET),
    (re.compile(r"/jobs/[^/]+"), ["GET", "PATCH"]),
    (re.compile(r"/jobs/[^/]+/(metrics|checkpoints|exceptions)"), _GET),
    (re.compile(r"/jobs/[^/]+/vertices/[^/]+/(metrics|backpressure)"), _GET),
    (re.compile(r"/jobs/[^/]+/stop"), ["POST"]),
    (re.compile(r"/jobs/[^/]+/savepoints"), ["POST"]),
    (re.compile(r"/jobs/[^/]+/savepoints/[^/]+"), _GET),
]


def _body(request: ApiRequest) -> dict[str, Any]:
    """The request's JSON object (``{}`` without a body); 400 for anything else."""
    if not request.body or not request.body.strip():
        return {}
    try:
        doc = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise HttpError(400, f"Request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise HttpError(400, "Request body must be a JSON object")
    return doc


def _field(doc: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = doc.get(name, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise HttpError(400, f"Field {name!r} must be a {kind.__name__}, got {type(value).__name__}")
    return value


class MonitoringRestApi:
    """The monitoring surface (an :class:`~millstream.http.api.HttpApi`), answered on the event loop (reading
    the registry never blocks; control requests only hand the job a request and return)."""

    blocking = False

    def __init__(self, registry: MetricRegistry) -> None:
        self.registry = registry
        self.control = JobControl()

    def allowed_methods(self, raw_path: str) -> list[str]:
        """The methods of the endpoints above (``GET``; ``PATCH /jobs/{id}``; ``POST`` stop and savepoints)."""
        path = raw_path.split("?", 1)[0].rstrip("/")
        if path == "/jobs/overview":
            return _GET
        for pattern, methods in _ROUTES:
            if pattern.fullmatch(path):
                return methods
        return []

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """Flink's error shape."""
        return {"errors": [message]}

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3 document of this API."""
        from .. import __version__

        return flink_openapi(__version__)

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Prometheus text for ``/metrics``, else the JSON of :func:`route`."""
        if request.raw_path.rstrip("/") == "/metrics":
            return ApiResponse(
                200,
                raw=prometheus_text(self.registry),
                content_type="text/plain; version=0.0.4; charset=utf-8",
            )
        try:
            if request.method == "GET":
                return ApiResponse(200, route(self.registry, request.raw_path, request.query, self.control))
            return self._control(request)
        except rest.NotFound as exc:
            raise HttpError(404, _with_hint(exc)) from None
        except JobNotRunning as exc:
            raise HttpError(409, _with_hint(exc)) from None
        except BadControlRequest as exc:
            raise HttpError(400, _with_hint(exc)) from None

    def _control(self, request: ApiRequest) -> ApiResponse:
        """``PATCH /jobs/{id}``, ``POST /jobs/{id}/stop`` and ``POST /jobs/{id}/savepoints``."""
        parts = [p for p in request.raw_path.split("?", 1)[0].split("/") if p]
        jid = parts[1]
        if request.method == "PATCH":
            mode = (request.query.get("mode") or ["cancel"])[-1]
            if mode != "cancel":
                raise HttpError(400, f"Unsupported mode {mode!r}: only mode=cancel is supported (stop: POST /stop)")
            self.control.cancel(jid)
            return ApiResponse(202, {})
        doc = _body(request)
        if parts[2] == "stop":
            target = _field(doc, "targetDirectory", str, None)
            trigger = self.control.stop_with_savepoint(jid, target, _field(doc, "drain", bool, False))
        else:
            target = _field(doc, "target-directory", str, None)
            trigger = self.control.trigger_savepoint(jid, target, _field(doc, "cancel-job", bool, False))
        return ApiResponse(202, {"request-id": trigger})


def _with_hint(exc: Any) -> str:
    return f"{exc.message} ({exc.hint})" if exc.hint else str(exc.message)


class MonitoringServer:
    """Serves ``registry`` on ``host`` (127.0.0.1 by default):``port`` (0 = a free port) until :meth:`close`,
    within ``limits`` (request bodies are refused beyond 64 KiB by default: the API takes none), over HTTPS
    with ``tls``, asking for basic credentials with ``auth``. With ``console`` (the default) the web console
    (:mod:`millstream.console`) is served at ``/console/`` on the same port. Raises :class:`PortInUseError`
    when the port is taken and :class:`ConfigError` when the address cannot be bound."""

    def __init__(
        self,
        registry: MetricRegistry,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        limits: ServerLimits | None = None,
        tls: TlsConfig | None = None,
        auth: BasicAuth | None = None,
        console: bool = True,
    ) -> None:
        from ..http.app import ApiApp
        from ..http.server import HttpServer

        limits = limits or ServerLimits(max_body_bytes=64 * 1024, max_body_option="the monitoring server's limits")
        rest_api = MonitoringRestApi(registry)
        self.control = rest_api.control
        api: Any = rest_api
        if console:
            from ..console import monitoring_console

            api = monitoring_console(api, registry)
        app = ApiApp(api, limits, auth)
        try:
            self.http = HttpServer(app.app, host, port, limits, tls, name="monitoring")
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"--metrics-port {port}: the port is already in use", hint="pick another port, or 0 for a free one"
                ) from exc
            raise ConfigError(
                f"cannot listen on {host}:{port} for metrics: {exc.strerror}",
                hint="pick another address or port",
            ) from None
        self.registry = registry
        self.host = host
        self.port = self.http.port
        self.http.start()

    @property
    def url(self) -> str:
        """``http(s)://host:port`` (REST root); Prometheus text is at ``url + "/metrics"``."""
        return self.http.url

    def close(self) -> None:
        """Stop serving and free the port."""
        self.http.stop()

    # the interface ``millstream run`` used for prometheus_client's server
    def shutdown(self) -> None:
        """Same as :meth:`close`."""
        self.close()


__all__ = ["ENDPOINTS", "MonitoringRestApi", "MonitoringServer", "PortInUseError", "route"]
