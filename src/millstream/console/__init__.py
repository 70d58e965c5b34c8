"""millstream.console: one web console for connectors, the log and jobs (issue 14).

The page (plain HTML, vanilla JS and CSS with inline SVG, shipped as package data in ``static/``: no build
step, no CDN) and its JSON API are an :class:`~millstream.http.api.HttpApi` served by the shared HTTP stack
(:mod:`millstream.http`), so they get the same limits, HTTPS and basic authentication as the REST APIs:

- ``millstream console --log URL [--port 8081] [--jobs URL ...] [--connect URL ...]`` serves it alone
  (:class:`ConsoleServer`);
- every monitoring server (a job's ``--metrics-port``) mounts it at ``/console/`` (:func:`monitoring_console`);
- every Connect worker's REST port mounts it at ``/console/`` (:func:`connect_console`).

Modules: :mod:`~millstream.console.api` (routes, :class:`Console`), :mod:`~millstream.console.topics` (topics,
browse, produce, groups), :mod:`~millstream.console.jobs` (jobs with their topics and metrics),
:mod:`~millstream.console.connectors` (Connect workers through their REST API),
:mod:`~millstream.console.lineage` (the pipeline graph and rates), :mod:`~millstream.console.advice` (tuning).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .advice import advise, format_advice
from .api import Console, ConsoleApi, ConsoleMount
from .connectors import ConnectWorkers
from .http_client import HttpClient, LocalClient
from .jobs import LocalJobs, RegisteredJobs, RemoteJobs, log_urls

if TYPE_CHECKING:
    from ..http import BasicAuth, ServerLimits, TlsConfig
    from ..observe.registry import MetricRegistry


def monitoring_console(inner: Any, registry: MetricRegistry | None) -> ConsoleMount:
    """``inner`` (the monitoring surface) with the console mounted at ``/console``: the jobs of this process,
    and the log they read and write."""

    def find_log() -> str | None:
        urls = log_urls()
        return urls[0] if urls else None

    console = Console(find_log, jobs=[LocalJobs(registry, LocalClient(inner, "this process"))])
    return ConsoleMount(inner, ConsoleApi(console))


def connect_console(inner: Any, herder: Any) -> ConsoleMount:
    """``inner`` (a Connect worker's REST surface) with the console mounted at ``/console``: the worker's
    connectors (through ``inner`` itself), its log, and the jobs of this process if any."""
    from ..core import sensors
    from ..observe.registry import MetricRegistry

    factory = getattr(sensors, "_factory", None)
    registry = factory if isinstance(factory, MetricRegistry) else None
    console = Console(
        herder.log, jobs=[LocalJobs(registry)], connect=ConnectWorkers([LocalClient(inner, "this worker")])
    )
    return ConsoleMount(inner, ConsoleApi(console))


class ConsoleServer:
    """``millstream console``: the console alone on ``host:port`` (0: a free port) over ``log_url``, showing
    the running jobs registered in that log, the jobs served at ``jobs_urls`` (their ``--metrics-port``) and the
    connectors of the Connect workers at ``connect_urls``; ``client_auth`` (``user:password``) is sent to those.
    Binds in the constructor (:class:`OSError` when it cannot), serves from a background thread; :meth:`close`
    stops it."""

    def __init__(
        self,
        log_url: str,
        port: int = 8081,
        host: str = "127.0.0.1",
        *,
        jobs_urls: tuple[str, ...] = (),
        connect_urls: tuple[str, ...] = (),
        client_auth: str | None = None,
        auth: BasicAuth | None = None,
        tls: TlsConfig | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        from ..http.app import ApiApp
        from ..http.limits import ServerLimits
        from ..http.server import HttpServer

        self.console = Console(
            log_url,
            jobs=[LocalJobs(None), *(RemoteJobs(HttpClient(u, client_auth)) for u in jobs_urls)],
            connect=ConnectWorkers([HttpClient(u, client_auth) for u in connect_urls]),
        )
        self.console.log()  # a bad URL fails now, not on the first page
        self.console.jobs_sources.append(RegisteredJobs(self.console.log, client_auth, skip=jobs_urls))
        limits = limits or ServerLimits(max_body_option="the console's limits")
        self.http = HttpServer(
            ApiApp(ConsoleApi(self.console), limits, auth).app, host, port, limits, tls, name="console"
        )
        self.http.start()

    @property
    def url(self) -> str:
        """The console page's URL."""
        return self.http.url + "/console/"

    def close(self) -> None:
        """Stop serving and close the log."""
        self.http.stop()
        self.console.close()


__all__ = [
    "ConnectWorkers",
    "Console",
    "ConsoleApi",
    "ConsoleMount",
    "ConsoleServer",
    "HttpClient",
    "LocalClient",
    "LocalJobs",
    "RegisteredJobs",
    "RemoteJobs",
    "advise",
    "connect_console",
    "format_advice",
    "monitoring_console",
]
