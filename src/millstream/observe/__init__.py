"""millstream.observe: metrics of running jobs, named as Flink's, served as Prometheus text and as a REST API
shaped like Flink's, and shown live in the terminal.

- :mod:`~millstream.observe.registry` — :class:`MetricRegistry`, the sensor factory that keeps what
  :mod:`millstream.core.sensors` reports (per job, vertex and subtask) and computes ``...PerSecond`` meters;
- :mod:`~millstream.observe.prometheus` — Prometheus exposition with Flink's reporter names;
- :mod:`~millstream.observe.rest` — ``/jobs``, ``/jobs/overview``, ``/jobs/{id}``, vertex metrics, checkpoints;
- :mod:`~millstream.observe.control` — Flink's job control endpoints (cancel, stop with a savepoint, savepoints);
- :mod:`~millstream.observe.server` — one HTTP server for all of them (``--metrics-port``);
- :mod:`~millstream.observe.rest_client` — a client of that API (``millstream jobs``);
- :mod:`~millstream.observe.progress` — the per-operator table in the terminal.

:class:`Monitoring` ties them together for a command: it installs a registry as the sensor factory (jobs
created afterwards report into it) and optionally serves it; ``close()`` stops serving and uninstalls it.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from ..core import sensors
from .registry import MetricRegistry
from .server import MonitoringServer, PortInUseError

if TYPE_CHECKING:
    from ..http import BasicAuth, ServerLimits, TlsConfig


class Monitoring:
    """Install a :class:`MetricRegistry` as the process's sensor factory and, with ``port`` given (0: a free
    one), serve it with a :class:`MonitoringServer` on ``host`` (127.0.0.1 by default), with optional
    ``tls``, basic ``auth`` and ``limits`` (see :mod:`millstream.http`). Raises :class:`PortInUseError`
    (nothing installed) when the port is taken. Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        port: int | None = None,
        meter_span_s: float = 5.0,
        *,
        host: str = "127.0.0.1",
        tls: TlsConfig | None = None,
        auth: BasicAuth | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        self.registry = MetricRegistry(meter_span_s)
        self.server = (
            MonitoringServer(self.registry, port, host, tls=tls, auth=auth, limits=limits) if port is not None else None
        )
        sensors.install(self.registry)

    @property
    def url(self) -> str | None:
        """The REST root (``http(s)://HOST:PORT``), or ``None`` when not serving."""
        return self.server.url if self.server is not None else None

    def close(self) -> None:
        """Stop serving and uninstall the registry (jobs created afterwards report nothing)."""
        if self.server is not None:
            self.server.close()
            self.server = None
        sensors.install(None)

    def __enter__(self) -> Monitoring:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["MetricRegistry", "Monitoring", "MonitoringServer", "PortInUseError"]
