"""JDBC-style connectors for PostgreSQL, SQLite and MySQL/MariaDB: a source (bulk, incrementing, timestamp,
timestamp+incrementing) and a sink (insert, upsert, update; pk modes; auto.create/auto.evolve; delete on
tombstone), configured with Confluent's JDBC connector keys; ``connection.url`` picks the dialect.

Modules: :mod:`.connection` (``connection.url`` forms, connecting), :mod:`.dialect` (PostgreSQL SQL, table
names), :mod:`.dialects` (the :class:`~.dialects.Dialect` per database),
:mod:`.source_query` (mode queries and offsets), :mod:`.source_reader` (batched reads),
:mod:`.sink_writer` (records → rows → transactions), :mod:`.config` (options), :mod:`.source` and
:mod:`.sink` (the connectors and tasks).
"""

from __future__ import annotations

from .sink import JdbcSinkConnector, JdbcSinkTask
from .source import JdbcSourceConnector, JdbcSourceTask

PLUGINS = [
    (
        "millstream.connect.connectors.jdbc:JdbcSourceConnector",
        "source",
        ("io.confluent.connect.jdbc.JdbcSourceConnector", "JdbcSource"),
    ),
    (
        "millstream.connect.connectors.jdbc:JdbcSinkConnector",
        "sink",
        ("io.confluent.connect.jdbc.JdbcSinkConnector", "JdbcSink"),
    ),
]
"""Entries for ``millstream.connect.plugins._BUILTINS``: (target, type, extra names)."""

__all__ = ["PLUGINS", "JdbcSinkConnector", "JdbcSinkTask", "JdbcSourceConnector", "JdbcSourceTask"]
