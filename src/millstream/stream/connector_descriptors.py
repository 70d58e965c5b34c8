"""Kafka-Connect connectors as stream sources and sinks — as *descriptions* (no I/O, no ``connect`` import).

``env.add_source(connector)`` and ``stream.add_sink(connector)`` wrap a connector in :class:`ConnectorSource`
/ :class:`ConnectorSink`. The stream layer treats the connector as opaque; :mod:`millstream.runtime`
(``runtime.connector_bridge``) registers a binder with :func:`register_connector_binder` that turns these
descriptions into a reader / sink operator running the connector's task(s).

A connector's config is the ``config`` given here, else a mapping the connector instance stored as its
``config`` attribute (the seed article's ``MySource(config)``), else empty.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .binders import Binders
from .errors import JobConfigError

_binders = Binders("connector")


def register_connector_binder(kind: str, factory: Callable[..., Any]) -> None:
    """Install the runtime factory for ``kind`` ``"source"`` (``factory(descriptor, clock) -> reader``) or
    ``"sink"`` (``factory(descriptor, name, uid) -> sink operator``)."""
    _binders.register(kind, factory)


_bound = _binders.bound


def _connector_type(obj: Any) -> str | None:
    ctype = getattr(obj, "connector_type", None)
    if callable(ctype) and (isinstance(obj, type) or hasattr(type(obj), "connector_type")):
        try:
            value = ctype()
        except Exception:
            return None
        return value if value in ("source", "sink") else None
    return None


def is_source_connector(obj: Any) -> bool:
    """True for a source connector class or instance (duck-typed: ``connector_type() == "source"``)."""
    return _connector_type(obj) == "source"


def is_sink_connector(obj: Any) -> bool:
    """True for a sink connector class or instance (duck-typed: ``connector_type() == "sink"``)."""
    return _connector_type(obj) == "sink"


def _config_of(connector: Any, config: Mapping[str, Any] | None) -> dict[str, Any]:
    if config is not None:
        return dict(config)
    own = vars(connector).get("config") if not isinstance(connector, type) and hasattr(connector, "__dict__") else None
    if own is not None and hasattr(own, "items"):
        return dict(own.items())
    return {}


@dataclass(frozen=True, eq=False)
class ConnectorSource:
    """A source connector (class or instance) run as a stream source with ``config`` (string map).

    ``max_tasks`` caps ``task_configs``; every task's records become elements of this one source. Elements
    are the records' values after the connector's ``transforms`` (or, with ``value.converter`` set, the
    converter's bytes); their event time is the record timestamp.
    """

    connector: Any
    config: Mapping[str, Any] = field(default_factory=dict)
    max_tasks: int = 1
    name: str = "Connector Source"

    @staticmethod
    def of(connector: Any, config: Mapping[str, Any] | None = None, max_tasks: int | None = None) -> ConnectorSource:
        """Wrap ``connector``; ``config`` defaults as the module docstring says."""
        cfg = _config_of(connector, config)
        tasks = int(max_tasks if max_tasks is not None else cfg.get("tasks.max", 1))
        if tasks <= 0:
            raise JobConfigError(f"tasks.max must be positive, got {tasks}")
        cls = connector if isinstance(connector, type) else type(connector)
        return ConnectorSource(connector, cfg, tasks, str(cfg.get("name") or cls.__name__))

    def create_reader(self, clock: Any) -> Any:
        """The runtime's reader for this source (see :func:`register_connector_binder`)."""
        return _bound("source")(self, clock)


@dataclass(frozen=True, eq=False)
class ConnectorSink:
    """A sink connector (class or instance) run as a stream sink with ``config``: each batch of elements
    goes to its task's ``put`` as ``SinkRecord`` s, ``flush`` on close (and on checkpoints)."""

    connector: Any
    config: Mapping[str, Any] = field(default_factory=dict)
    name: str = "Connector Sink"

    @staticmethod
    def of(connector: Any, config: Mapping[str, Any] | None = None) -> ConnectorSink:
        """Wrap ``connector``; ``config`` defaults as the module docstring says."""
        cfg = _config_of(connector, config)
        cls = connector if isinstance(connector, type) else type(connector)
        return ConnectorSink(connector, cfg, str(cfg.get("name") or cls.__name__))

    def create_operator(self, name: str, uid: str | None) -> Any:
        """The runtime's sink operator for this sink."""
        return _bound("sink")(self, name, uid)


__all__ = [
    "ConnectorSink",
    "ConnectorSource",
    "is_sink_connector",
    "is_source_connector",
    "register_connector_binder",
]
