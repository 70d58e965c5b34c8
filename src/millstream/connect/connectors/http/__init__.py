"""HTTP connectors: a sink that sends batches of record values to an endpoint, and a source that polls a REST
endpoint into a topic with offsets. Both send over a keep-alive connection pool with retries and backoff.

Modules: :mod:`.client` (the pool and one request with retries/backoff), :mod:`.options` (the options both
share), :mod:`.body` (batch bodies), :mod:`.sink` (the sink connector and task), :mod:`.pointer` (JSON pointers
and ``${offset.name}`` templates), :mod:`.source` (the source connector and task).
"""

from __future__ import annotations

from .sink import HttpSinkConnector, HttpSinkTask
from .source import HttpSourceConnector, HttpSourceTask

PLUGINS = [
    ("millstream.connect.connectors.http:HttpSinkConnector", "sink", ("HttpSink",)),
    ("millstream.connect.connectors.http:HttpSourceConnector", "source", ("HttpSource",)),
]
"""Entries for ``millstream.connect.plugins._BUILTINS``: (target, type, extra names)."""

__all__ = ["PLUGINS", "HttpSinkConnector", "HttpSinkTask", "HttpSourceConnector", "HttpSourceTask"]
