"""The in-process registry's compatibility checks (``mock://``): levels, transitivity, and the rules per schema
type, through Confluent's client API (``register_schema``, ``set_compatibility``, ``test_compatibility``)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from millstream.schema_registry import registry_client
from millstream.schema_registry.json_compat import json_read_problems
from millstream.schema_registry.protobuf_compat import protobuf_read_problems

from .proto_messages import OrderBad, OrderV1, OrderV2


def avro(*fields: dict[str, Any]) -> Schema:
    return Schema(orjson.dumps({"type": "record", "name": "R", "fields": list(fields)}).decode(), "AVRO")


ID = {"name": "id", "type": "long"}


def test_backward_is_the_default_and_checks_only_the_latest_version(registry_url: str) -> None:
    client = registry_client(registry_url)
    assert client.get_compatibility() == "BACKWARD"
    client.register_schema("s", avro(ID, {"name": "n", "type": "string"}))
    client.register_schema("s", avro(ID))  # dropping a field: the new reader ignores it
    v3 = avro(ID, {"name": "n", "type": "int", "default": 0})  # reads v2 (default), not v1 (string -> int)
    assert client.test_compatibility("s", v3)
    client.set_compatibility("s", "BACKWARD_TRANSITIVE")
    assert client.test_compatibility("s", v3)  # against version "latest" only, as the registry's endpoint
    with pytest.raises(SchemaRegistryError) as info:
        client.register_schema("s", v3)
    assert info.value.http_status_code == 409 and "new schema cannot read old data" in info.value.error_message
    client.set_compatibility("s", "BACKWARD")
    assert client.register_schema("s", v3) > 0
    assert sorted(client.get_versions("s")) == [1, 2, 3]


def test_forward_and_full(registry_url: str) -> None:
    client = registry_client(registry_url)
    client.set_compatibility("f", "FORWARD")
    client.register_schema("f", avro(ID, {"name": "n", "type": "string"}))
    with pytest.raises(SchemaRegistryError, match="old schema cannot read new data"):
        client.register_schema("f", avro(ID))  # the old reader needs n, the new writer drops it
    client.register_schema("f", avro(ID, {"name": "n", "type": "string"}, {"name": "x", "type": "int"}))
    client.set_compatibility("full", "FULL")
    client.register_schema("full", avro(ID))
    with pytest.raises(SchemaRegistryError):
        client.register_schema("full", avro(ID, {"name": "x", "type": "int"}))  # no default: not backward
    client.register_schema("full", avro(ID, {"name": "x", "type": "int", "default": 1}))
    client.set_compatibility("none", "NONE")
    client.register_schema("none", avro(ID))
    client.register_schema("none", avro({"name": "id", "type": "string"}))


def test_levels_are_validated_and_per_subject(registry_url: str) -> None:
    client = registry_client(registry_url)
    with pytest.raises(SchemaRegistryError):
        client.set_compatibility("s", "SIDEWAYS")
    client.set_compatibility(None, "FULL")
    assert client.get_compatibility() == "FULL"
    with pytest.raises(SchemaRegistryError):
        client.get_compatibility("s")  # no subject-level setting, as a real registry answers
    client.set_compatibility("s", "NONE")
    assert client.get_compatibility("s") == "NONE"


def js(**schema: Any) -> str:
    return orjson.dumps(schema).decode()


def test_json_schema_rules() -> None:
    base = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}},
    }
    assert json_read_problems(js(**base), js(**base)) == []
    widened = {**base, "properties": {**base["properties"], "id": {"type": "number"}}}
    assert json_read_problems(js(**widened), js(**base)) == []  # number accepts integers
    assert json_read_problems(js(**base), js(**widened)) == ["TYPE_CHANGED at /id: ['number'] -> ['integer']"]
    items = {**base, "properties": {**base["properties"], "tags": {"type": "array", "items": {"type": "integer"}}}}
    assert json_read_problems(js(**items), js(**base)) == ["TYPE_CHANGED at /tags/items: ['string'] -> ['integer']"]
    required = {**base, "required": ["id"]}
    assert json_read_problems(js(**required), js(**base)) == ["REQUIRED_PROPERTY_ADDED at /id"]
    closed = {"type": "object", "properties": {"id": {"type": "integer"}}, "additionalProperties": False}
    assert json_read_problems(js(**closed), js(**base)) == ["PROPERTY_NOT_ALLOWED at /tags"]
    assert json_read_problems(js(**base), js(**closed)) == []


def _proto(cls: Any) -> str:
    from google.protobuf import descriptor_pb2

    fd = descriptor_pb2.FileDescriptorProto()
    cls.DESCRIPTOR.file.CopyToProto(fd)
    return base64.b64encode(fd.SerializeToString()).decode()


def test_protobuf_rules() -> None:
    assert protobuf_read_problems(_proto(OrderV2), _proto(OrderV1)) == []  # a new field
    assert protobuf_read_problems(_proto(OrderV1), _proto(OrderV2)) == []  # a removed field
    assert protobuf_read_problems(_proto(OrderBad), _proto(OrderV1)) == [
        "FIELD_KIND_CHANGED: shop.v1.Order field 3 (qty) was varint, is length-delimited"
    ]
    from google.protobuf import descriptor_pb2

    fd = descriptor_pb2.FileDescriptorProto()
    OrderV1.DESCRIPTOR.file.CopyToProto(fd)
    fd.message_type[0].field[1].label = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    fd.message_type[0].name = "Order"
    repeated = base64.b64encode(fd.SerializeToString()).decode()
    assert protobuf_read_problems(repeated, _proto(OrderV1)) == ["FIELD_LABEL_CHANGED: shop.v1.Order field 2 (item)"]
    fd.message_type[0].name = "Purchase"
    renamed = base64.b64encode(fd.SerializeToString()).decode()
    assert protobuf_read_problems(renamed, _proto(OrderV1)) == ["MESSAGE_REMOVED: shop.v1.Order"]
    assert protobuf_read_problems("syntax = 'proto3';", _proto(OrderV1)) == []  # text: left to a real registry
