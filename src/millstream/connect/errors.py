"""Errors of the connect framework, all below :class:`millstream.core.errors.ConnectError`.

::

    ConnectError
     ├── ConnectorConfigError     a connector/worker config is invalid (names every bad key with its reason)
     ├── PluginNotFoundError      no connector/transform/converter class matches a name (lists known ones)
     ├── NotFoundError            no connector or task of that name/id (REST 404)
     ├── AlreadyExistsError       a connector of that name exists (REST 409)
     ├── BadRequestError          a request is malformed or not allowed in the current state (REST 400)
     ├── RebalanceNeededError     distributed mode: a write reached a worker that is not the leader (REST 409)
     ├── RetriableError           a transient failure: the framework retries (``errors.retry.timeout``)
     ├── DataError                a record could not be converted or transformed
     └── ToleranceExceededError   a record failed and ``errors.tolerance=none`` (or retries ran out)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core.errors import ConnectError


class ConnectorConfigError(ConnectError):
    """A config is invalid. ``errors`` maps each bad key to its reasons."""

    def __init__(self, errors: Mapping[str, Sequence[str]], *, connector_class: str | None = None) -> None:
        self.errors = {k: list(v) for k, v in errors.items() if v}
        count = sum(len(v) for v in self.errors.values())
        lines = [msg for msgs in self.errors.values() for msg in msgs]
        where = (
            f" You can also find the above list of errors at the endpoint "
            f"`/connector-plugins/{connector_class}/config/validate`"
            if connector_class
            else ""
        )
        super().__init__(
            f"Connector configuration is invalid and contains the following {count} error(s):\n"
            + "\n".join(lines)
            + ("\n" + where.strip() if where else "")
        )


class PluginNotFoundError(ConnectError):
    """No plugin of the wanted kind matches the name; the message lists the known ones."""

    def __init__(self, name: str, kind: str, known: Sequence[str]) -> None:
        super().__init__(
            f"Failed to find any class that implements {kind} and which name matches {name!r}, "
            f"available {kind.lower()}s are: {', '.join(known)}",
            hint="use one of the names above, a dotted Python path (package.module.Class), or install a "
            "package "
            "that registers the plugin under the 'millstream.connectors' entry point group",
        )
        self.name = name
        self.kind = kind
        self.known = list(known)


class NotFoundError(ConnectError):
    """A connector or task does not exist."""


class AlreadyExistsError(ConnectError):
    """A connector with that name already exists."""


class BadRequestError(ConnectError):
    """A request is malformed, or the operation is not allowed in the connector's current state."""


class RebalanceNeededError(ConnectError):
    """Distributed mode: a write reached a worker that does not lead the group (the leader changed while the
    request was forwarded); the client retries (Kafka answers 409 the same way)."""


class RetriableError(ConnectError):
    """A transient failure (a connection dropped, a resource was busy); the operation may succeed if
    retried."""


class DataError(ConnectError):
    """A record's key, value or headers could not be converted or transformed."""


class ToleranceExceededError(ConnectError):
    """A record failed and the error tolerance does not allow skipping it; the task fails."""


__all__ = [
    "AlreadyExistsError",
    "BadRequestError",
    "ConnectError",
    "ConnectorConfigError",
    "DataError",
    "NotFoundError",
    "PluginNotFoundError",
    "RebalanceNeededError",
    "RetriableError",
    "ToleranceExceededError",
]
