"""HTTP sink connector: sends batches of record values to an HTTP endpoint with retries and backoff.

Modules: :mod:`.client` (one request with retries/backoff), :mod:`.body` (batch bodies), :mod:`.sink` (the
connector and task).
"""

from __future__ import annotations

from .sink import HttpSinkConnector, HttpSinkTask

PLUGINS = [("millstream.connect.connectors.http:HttpSinkConnector", "sink", ("HttpSink",))]
"""Entries for ``millstream.connect.plugins._BUILTINS``: (target, type, extra names)."""

__all__ = ["PLUGINS", "HttpSinkConnector", "HttpSinkTask"]
