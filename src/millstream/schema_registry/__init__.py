"""Schema-registry formats: Confluent's wire format for Avro, JSON Schema and Protobuf over a schema registry.

This package does the I/O that :class:`~millstream.core.registry_format.RegistryFormat` descriptions leave to
the runtime: the shared registry client (:mod:`.client`, Confluent's ``confluent_kafka.schema_registry``), the
serializers and deserializers bound to it (:mod:`.serdes`), the in-process registry behind ``mock://`` URLs
with compatibility checks (:mod:`.in_process`) and the wire-format header (:mod:`.wire`). The stream engine's
log sources and sinks, SQL tables and Connect's ``AvroConverter`` all go through it.

Layer: beside :mod:`millstream.log` — it imports only :mod:`millstream.core` (and Confluent's client), and
:mod:`millstream.connect` and :mod:`millstream.runtime` import it; ``stream`` and ``sql`` never do (they hold
the descriptions).

It needs ``confluent-kafka`` with its schema-registry dependencies and, for Protobuf, ``protobuf``:
``pip install 'millstream[schema-registry]'``.
"""

from __future__ import annotations

from .client import RegistryUnavailableError, SchemaEvolutionError, explain, registry_client
from .serdes import RegistryDeserializer, RegistrySerializer

__all__ = [
    "RegistryDeserializer",
    "RegistrySerializer",
    "RegistryUnavailableError",
    "SchemaEvolutionError",
    "explain",
    "registry_client",
]
