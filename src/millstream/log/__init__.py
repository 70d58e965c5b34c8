"""millstream.log: the partitioned log, one contract (:class:`Log`) with backends picked by URL.

- ``memory://[name]`` — in-process, for tests (:mod:`millstream.log.memory`).
- ``file://PATH`` — the embedded default, SQLite in WAL mode (:mod:`millstream.log.embedded`).
- ``kafka://host:port[,host:port]`` — any Kafka-compatible cluster (:mod:`millstream.log.kafka`).

:func:`open_log` turns a URL into a log; with no URL it uses ``$MILLSTREAM_LOG`` or ``file://./.millstream``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..core.errors import ConfigError
from .base import (
    TOPIC_CONFIG_DEFAULTS,
    GroupDescription,
    Log,
    PartitionOffsets,
    TopicDescription,
    Transaction,
)
from .consumer import Consumer, LogConsumer, NoOffsetError
from .partitioner import murmur2, partition_for_key

DEFAULT_LOG_URL = "file://./.millstream"
ENV_VAR = "MILLSTREAM_LOG"


def _no_client_properties(scheme: str, options: dict[str, Any]) -> None:
    props = options.pop("properties", None)
    if props:
        raise ConfigError(
            f"client properties ({', '.join(sorted(map(str, props)))}) apply to kafka:// logs, not to {scheme}://",
            hint="drop them for this log (set_property / -X); the embedded log's own options go in its URL, "
            "e.g. file://PATH?synchronous=full",
        )


def _open_memory(rest: str, options: dict[str, Any]) -> Log:
    from .memory import MemoryLog

    _no_client_properties("memory", options)

    return MemoryLog(rest, **options)


def _open_file(rest: str, options: dict[str, Any]) -> Log:
    from .embedded import EmbeddedLog

    if not rest:
        raise ConfigError("file:// needs a path, e.g. file://./.millstream or file:///var/lib/millstream")
    _no_client_properties("file", options)
    return EmbeddedLog(rest, **options)


def _open_kafka(rest: str, options: dict[str, Any]) -> Log:
    try:
        from .kafka import KafkaLog
    except ImportError as exc:  # confluent-kafka missing
        raise ConfigError(
            f"kafka:// needs the Kafka client library ({exc})", hint="pip install 'millstream[kafka]'"
        ) from exc
    if not rest:
        raise ConfigError("kafka:// needs bootstrap servers, e.g. kafka://localhost:9092")
    return KafkaLog(rest, **options)


BACKENDS: dict[str, Callable[[str, dict[str, Any]], Log]] = {
    "memory": _open_memory,
    "file": _open_file,
    "kafka": _open_kafka,
}


def default_log_url() -> str:
    """``$MILLSTREAM_LOG`` if set, else the embedded default ``file://./.millstream``."""
    return os.environ.get(ENV_VAR) or DEFAULT_LOG_URL


def open_log(url: str | Log | None = None, **options: Any) -> Log:
    """Open the log at ``url`` (a ``Log`` is passed through). Options go to the backend's constructor."""
    if isinstance(url, Log):
        return url
    url = url or default_log_url()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(
            f"log URL {url!r} has no scheme",
            hint="use memory://, file://PATH or kafka://HOST:PORT, e.g. file://./.millstream",
        )
    opener = BACKENDS.get(scheme.lower())
    if opener is None:
        raise ConfigError(
            f"unknown log URL scheme {scheme!r} in {url!r}",
            hint=f"use one of: {', '.join(s + '://' for s in BACKENDS)}",
        )
    return opener(rest, options)


__all__ = [
    "DEFAULT_LOG_URL",
    "ENV_VAR",
    "TOPIC_CONFIG_DEFAULTS",
    "Consumer",
    "GroupDescription",
    "Log",
    "LogConsumer",
    "NoOffsetError",
    "PartitionOffsets",
    "TopicDescription",
    "Transaction",
    "default_log_url",
    "murmur2",
    "open_log",
    "partition_for_key",
]
