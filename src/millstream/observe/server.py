"""One HTTP server for monitoring a process's jobs: Prometheus text on ``GET /metrics`` and the Flink-shaped
REST API (:mod:`millstream.observe.rest`) on ``/jobs...``, both on the same port (``--metrics-port``).

It is the standard library's threading HTTP server (starts in milliseconds, no event loop), bound to
127.0.0.1, serving from a daemon thread; :meth:`MonitoringServer.close` stops it. ``GET /`` lists the
endpoints. Errors are JSON ``{"errors": [message]}`` with 404 (unknown job, vertex or path) or 405.
"""

from __future__ import annotations

import errno
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from ..core.errors import ConfigError
from . import rest
from .prometheus import prometheus_text
from .registry import MetricRegistry

ENDPOINTS = [
    "/metrics",
    "/jobs",
    "/jobs/overview",
    "/jobs/{id}",
    "/jobs/{id}/metrics",
    "/jobs/{id}/vertices/{vid}/metrics",
    "/jobs/{id}/checkpoints",
]


class PortInUseError(ConfigError):
    """The port asked for is taken by another process."""


def route(registry: MetricRegistry, path: str, query: dict[str, list[str]]) -> Any:
    """The JSON answer for a REST path (raises :class:`~millstream.observe.rest.NotFound`)."""
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
            return rest.checkpoints(registry, parts[1])
        if len(parts) == 5 and parts[2] == "vertices" and parts[4] == "metrics":
            return rest.vertex_metrics(registry, parts[1], parts[3], get)
    raise rest.NotFound(f"Not found: {path}", hint="GET / lists the endpoints")


class _Handler(BaseHTTPRequestHandler):
    registry: MetricRegistry

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/metrics":
            self._send(200, prometheus_text(self.registry), "text/plain; version=0.0.4; charset=utf-8")
            return
        try:
            body = route(self.registry, url.path, parse_qs(url.query))
            code = 200
        except rest.NotFound as exc:
            body, code = {"errors": [exc.message]}, 404
        self._send(code, orjson.dumps(body), "application/json")

    def do_POST(self) -> None:
        self._send(405, orjson.dumps({"errors": ["only GET is supported"]}), "application/json")

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class MonitoringServer:
    """Serves ``registry`` on 127.0.0.1:``port`` (0 = a free port) until :meth:`close`. Raises
    :class:`PortInUseError` when the port is taken."""

    def __init__(self, registry: MetricRegistry, port: int = 0, host: str = "127.0.0.1") -> None:
        handler = type("Handler", (_Handler,), {"registry": registry})
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"--metrics-port {port}: the port is already in use", hint="pick another port, or 0 for a free one"
                ) from exc
            raise
        self.httpd.daemon_threads = True
        self.registry = registry
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="millstream-monitoring", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://host:port`` (REST root); Prometheus text is at ``url + "/metrics"``."""
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        """Stop serving and free the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    # the interface ``millstream run`` used for prometheus_client's server
    def shutdown(self) -> None:
        """Same as :meth:`close`."""
        self.close()


__all__ = ["ENDPOINTS", "MonitoringServer", "PortInUseError", "route"]
