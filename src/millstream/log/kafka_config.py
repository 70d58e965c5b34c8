"""Client configuration for the ``kafka://`` log: bootstrap servers, property pass-through and defaults.

Every librdkafka property passes through unchanged (``properties={"security.protocol": "SASL_SSL", ...}``),
so SASL and TLS clusters work as with any librdkafka client. A property applies to every client the log
creates (admin, producers, consumers) unless it carries one of these scope prefixes, which are stripped:

- ``producer.<name>``  — only producers (the idempotent appender and transactional producers),
- ``consumer.<name>``  — only consumers (random-access readers and group consumers),
- ``admin.<name>``     — only the admin client.

millstream's defaults (each overridable): an idempotent producer, ``read_committed`` consumers, no topic
auto-creation, a short ``fetch.wait.max.ms`` (low read latency; a long-polling fetch is not woken by new
data on every broker), a short ``reconnect.backoff.ms`` (a new client's first request does not wait), and
librdkafka's log lines routed to the ``millstream.kafka`` Python logger instead of stderr (its lines about a
producer fenced by a newer one are debug output there: millstream raises that as an error of its own, naming
the transactional id, where it is one — and expects it where a newer leader of a reactive job takes over).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..core.errors import ConfigError

LOGGER = logging.getLogger("millstream.kafka")


class _FencingIsReported(logging.Filter):
    """librdkafka logs a transactional producer's fencing as an error (``FATAL``, ``TXNERR``); millstream reports
    it itself (:class:`~millstream.core.errors.TransactionError` naming the transactional id, or a deposed
    reactive leader standing by), so those lines go to the debug level."""

    MARKERS = ("fenced by a newer instance", "newer producer with the same transactionalId", "(_FENCED)")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG and any(m in record.getMessage() for m in self.MARKERS):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


LOGGER.addFilter(_FencingIsReported())

SCOPES = ("producer.", "consumer.", "admin.")

DEFAULT_TIMEOUT_MS = 30_000
"""How long an operation waits for the cluster before raising :class:`~millstream.core.errors.BrokerError`."""

COMMON_DEFAULTS: dict[str, Any] = {
    "client.id": "millstream",
    # librdkafka spaces its "any broker" connection attempts by half of this (at least 11 ms); its default,
    # 100 ms, made every new client's first request after the bootstrap connection wait about 50 ms (it
    # connects again to the broker by the id the metadata names). Kafka's Java clients use 50 ms; failing
    # brokers are still retried with exponential backoff up to ``reconnect.backoff.max.ms``.
    "reconnect.backoff.ms": 20,
}

PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "allow.auto.create.topics": False,
    "partitioner": "murmur2_random",
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
}

CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "isolation.level": "read_committed",
    "allow.auto.create.topics": False,
    "fetch.wait.max.ms": 20,
    "queued.min.messages": 1_000_000,
    "queued.max.messages.kbytes": 32_768,
}


def parse_bootstrap(bootstrap: str) -> str:
    """Check ``host:port[,host:port]`` and return it normalised (no spaces, no ``kafka://`` prefix)."""
    if not isinstance(bootstrap, str):
        raise ConfigError(f"Kafka bootstrap servers must be a string like 'host:9092', got {bootstrap!r}")
    text = bootstrap.strip()
    if text.startswith("kafka://"):
        text = text[len("kafka://") :]
    text = text.rstrip("/")
    servers = [s.strip() for s in text.split(",") if s.strip()]
    if not servers:
        raise ConfigError("kafka:// needs bootstrap servers, e.g. kafka://localhost:9092")
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"bootstrap server {server!r} is not host:port",
                hint="write kafka://host:port[,host:port], e.g. kafka://localhost:9092",
            )
    return ",".join(servers)


def refused_everywhere(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """Whether every bootstrap server refuses a TCP connection right now (nothing listens on its port) — the
    one way a cluster can be known absent at once, rather than after a client's whole timeout. A server that
    does not answer (filtered, far away) or whose name does not resolve yet counts as not refusing."""
    import socket

    for server in bootstrap.split(","):
        host, _sep, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return False
        except ConnectionRefusedError:
            continue
        except OSError:
            return False
    return True


def normalise_properties(properties: Mapping[str, Any] | None) -> dict[str, str]:
    """Turn a user's property map into librdkafka's string form (booleans become ``true``/``false``)."""
    out: dict[str, str] = {}
    for key, value in (properties or {}).items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"Kafka client property names must be non-empty strings, got {key!r}")
        if key == "bootstrap.servers":
            raise ConfigError(
                "bootstrap.servers is set by the log URL",
                hint="write the servers in the URL: kafka://host:port[,host:port]",
            )
        out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


class KafkaSettings:
    """The bootstrap servers plus scoped user properties; builds each client's librdkafka config."""

    def __init__(
        self,
        bootstrap: str,
        properties: Mapping[str, Any] | None = None,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
    ) -> None:
        self.bootstrap = parse_bootstrap(bootstrap)
        if not isinstance(timeout_ms, int) or timeout_ms <= 0:
            raise ConfigError(f"timeout_ms must be a positive number of milliseconds, got {timeout_ms!r}")
        self.timeout_ms = timeout_ms
        props = normalise_properties(properties)
        self.common = {k: v for k, v in props.items() if not k.startswith(SCOPES)}
        self.scoped: dict[str, dict[str, str]] = {scope: {} for scope in SCOPES}
        for key, value in props.items():
            for scope in SCOPES:
                if key.startswith(scope):
                    self.scoped[scope][key[len(scope) :]] = value

    @property
    def timeout_s(self) -> float:
        return self.timeout_ms / 1000.0

    def _build(self, defaults: Mapping[str, Any], scope: str, extra: Mapping[str, Any]) -> dict[str, Any]:
        conf: dict[str, Any] = {**COMMON_DEFAULTS, **defaults, **self.common, **self.scoped[scope], **extra}
        conf["bootstrap.servers"] = self.bootstrap
        conf.setdefault("logger", LOGGER)
        return conf

    def admin_config(self) -> dict[str, Any]:
        """Config for the AdminClient."""
        return self._build({}, "admin.", {})

    def producer_config(self, **extra: Any) -> dict[str, Any]:
        """Config for a producer; ``extra`` (what the caller must have, e.g. ``transactional.id``) wins."""
        defaults = {**PRODUCER_DEFAULTS, "message.timeout.ms": self.timeout_ms}
        return self._build(defaults, "producer.", extra)

    def consumer_config(self, **extra: Any) -> dict[str, Any]:
        """Config for a consumer; ``extra`` (what the caller must have, e.g. ``group.id``) wins."""
        return self._build(CONSUMER_DEFAULTS, "consumer.", extra)

    def describe(self) -> str:
        """The bootstrap servers, for error messages."""
        return self.bootstrap


__all__ = [
    "CONSUMER_DEFAULTS",
    "DEFAULT_TIMEOUT_MS",
    "PRODUCER_DEFAULTS",
    "KafkaSettings",
    "normalise_properties",
    "parse_bootstrap",
]
