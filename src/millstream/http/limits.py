"""Limits of an HTTP server: how big a request body may be, how long a client may take to send a request,
how long an idle keep-alive connection stays open, and the listen backlog.

Defaults suit a control API on one machine: 1 MiB bodies (a connector config is a few KiB), 30 s to send a
request (head and body), 30 s idle keep-alive, a backlog of 1024 pending connections.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ServerLimits:
    """``max_body_bytes``: larger bodies get 413 (checked on ``Content-Length`` before reading, and while
    reading chunked bodies). ``read_timeout_s``: a request whose head or body is not complete within it gets
    408 (body) or is closed (head). ``idle_timeout_s``: an idle keep-alive connection is closed after it.
    ``backlog``: connections the kernel queues before ``accept``. ``max_connections``: concurrent
    connections beyond it are answered 503 (``None``: no limit)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    read_timeout_s: float = 30.0
    idle_timeout_s: float = 30.0
    backlog: int = 1024
    max_connections: int | None = 1000
    #: the option a user sets to raise ``max_body_bytes`` (named in the 413 message)
    max_body_option: str = "rest.request.max.bytes"

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "read_timeout_s", "idle_timeout_s", "backlog"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"HTTP server limit {name} must be positive, got {getattr(self, name)}")

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> ServerLimits:
        """From worker properties ``rest.request.max.bytes``, ``rest.request.timeout.ms``,
        ``rest.idle.timeout.ms`` and ``rest.backlog`` (defaults where absent)."""

        def num(key: str, default: float) -> float:
            value = props.get(key)
            if value in (None, ""):
                return default
            try:
                return float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{key}={value!r} is not a number", hint=f"set {key} to a positive number") from None

        d = cls()
        return cls(
            max_body_bytes=int(num("rest.request.max.bytes", d.max_body_bytes)),
            read_timeout_s=num("rest.request.timeout.ms", d.read_timeout_s * 1000) / 1000,
            idle_timeout_s=num("rest.idle.timeout.ms", d.idle_timeout_s * 1000) / 1000,
            backlog=int(num("rest.backlog", d.backlog)),
        )


__all__ = ["DEFAULT_MAX_BODY_BYTES", "ServerLimits"]
