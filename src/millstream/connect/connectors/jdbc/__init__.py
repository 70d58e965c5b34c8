"""JDBC-style PostgreSQL connectors: a source (bulk, incrementing, timestamp, timestamp+incrementing) and a sink
(insert, upsert, update; pk modes; auto.create/auto.evolve; delete on tombstone), configured with Confluent's
JDBC connector keys.

Modules: :mod:`.connection` (``connection.url`` forms, connecting), :mod:`.dialect` (PostgreSQL SQL),
:mod:`.source_query` (mode queries and offsets), :mod:`.source_reader` (batched reads),
:mod:`.sink_writer` (records → rows → transactions).
"""
