"""Shared pieces of the schema-registry tests.

**Registry**: these tests run against ``mock://<scope>`` — confluent_kafka's own in-memory
``MockSchemaRegistryClient``, extended with compatibility checks by
:class:`millstream.schema_registry.in_process.InProcessRegistry` — not against a registry server. Karapace
(the open-source Confluent-compatible registry) is not published on the package index this project installs
from, and Confluent's registry needs a JVM, so no real registry process can run here. Everything else is
real: Confluent's serializers and deserializers, the embedded log, and the Kafka-protocol test broker.

Each test gets its own scope (``registry_url``), so subjects and ids never leak between tests.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from millstream.connectors import (
    ConfluentRegistryAvroDeserializationSchema,
    ConfluentRegistryAvroSerializationSchema,
    ConfluentRegistryJsonSchemaDeserializationSchema,
    ConfluentRegistryJsonSchemaSerializationSchema,
    ConfluentRegistryProtobufDeserializationSchema,
    ConfluentRegistryProtobufSerializationSchema,
)

from .proto_messages import OrderV1

KINDS = ("avro", "json", "protobuf")
_scopes = itertools.count()

AVRO_V1 = {
    "type": "record",
    "name": "Order",
    "namespace": "shop.v1",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "item", "type": "string"},
        {"name": "qty", "type": "int"},
    ],
}
AVRO_V2 = {**AVRO_V1, "fields": [*AVRO_V1["fields"], {"name": "note", "type": "string", "default": ""}]}
AVRO_BAD = {**AVRO_V1, "fields": [*AVRO_V1["fields"], {"name": "note", "type": "string"}]}  # no default

JSON_V1 = {
    "title": "shop.v1.Order",
    "type": "object",
    "properties": {"id": {"type": "integer"}, "item": {"type": "string"}, "qty": {"type": "integer"}},
    "required": ["id", "item", "qty"],
}
JSON_V2 = {**JSON_V1, "properties": {**JSON_V1["properties"], "note": {"type": "string"}}}
JSON_BAD = {**JSON_V2, "required": [*JSON_V1["required"], "note"]}  # old orders have no note


@pytest.fixture
def registry_url() -> str:
    return f"mock://test-{next(_scopes)}"


def order(n: int) -> dict[str, Any]:
    return {"id": n, "item": f"item-{n}", "qty": n % 7 + 1}


def writer(kind: str, url: str, **config: Any) -> Any:
    """The value serialization schema of version 1 of the order schema."""
    if kind == "avro":
        return ConfluentRegistryAvroSerializationSchema.for_generic(None, AVRO_V1, url, config)
    if kind == "json":
        return ConfluentRegistryJsonSchemaSerializationSchema.for_schema(
            orjson.dumps(JSON_V1).decode(), url, None, config
        )
    return ConfluentRegistryProtobufSerializationSchema.for_message(OrderV1, url, None, config)


def reader(kind: str, url: str, **config: Any) -> Any:
    if kind == "avro":
        return ConfluentRegistryAvroDeserializationSchema.for_generic(None, url, config)
    if kind == "json":
        return ConfluentRegistryJsonSchemaDeserializationSchema.for_schema(None, url, config)
    return ConfluentRegistryProtobufDeserializationSchema.for_message(OrderV1, url, config)


def read_back(kind: str, value: dict[str, Any]) -> dict[str, Any]:
    """An order as the reader gives it back (Protobuf adds its empty repeated field and default enum)."""
    return {**value, "status": "NEW", "tags": []} if kind == "protobuf" else value


def confluent_decode(kind: str, url: str, topic: str, data: bytes) -> Any:
    """Decode wire-format ``data`` with confluent_kafka's own deserializers (not millstream's code)."""
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from millstream.schema_registry import registry_client

    client = registry_client(url)
    ctx = SerializationContext(topic, MessageField.VALUE)
    if kind == "avro":
        return AvroDeserializer(client)(data, ctx)
    if kind == "json":
        return JSONDeserializer(None, schema_registry_client=client)(data, ctx)
    msg = ProtobufDeserializer(OrderV1, {}, schema_registry_client=client)(data, ctx)
    return {"id": msg.id, "item": msg.item, "qty": msg.qty}
