"""Converters: Kafka's byte formats, round trips, and the errors users hit (the schemas.enable mismatch)."""

from __future__ import annotations

import datetime as dt
import struct

import orjson
import pytest

from millstream.connect.converters import (
    BooleanConverter,
    ByteArrayConverter,
    DoubleConverter,
    FloatConverter,
    IntegerConverter,
    JsonConverter,
    LongConverter,
    ShortConverter,
    SimpleHeaderConverter,
    StringConverter,
)
from millstream.connect.data import TIMESTAMP_SCHEMA, Schema, struct_schema
from millstream.connect.errors import ConnectorConfigError, DataError


def json_conv(schemas: bool, is_key: bool = False) -> JsonConverter:
    c = JsonConverter()
    c.configure({"schemas.enable": str(schemas).lower()}, is_key)
    return c


def test_json_with_schemas_writes_kafkas_envelope_and_reads_it_back():
    c = json_conv(True)
    schema = struct_schema(
        "user", [("id", Schema("int32")), ("name", Schema("string", True)), ("raw", Schema("bytes"))]
    )
    data = c.from_connect_data("t", schema, {"id": 7, "name": None, "raw": b"\x00\x01"})
    env = orjson.loads(data)
    assert env["schema"] == {
        "type": "struct",
        "fields": [
            {"type": "int32", "optional": False, "field": "id"},
            {"type": "string", "optional": True, "field": "name"},
            {"type": "bytes", "optional": False, "field": "raw"},
        ],
        "optional": False,
        "name": "user",
    }
    assert env["payload"] == {"id": 7, "name": None, "raw": "AAE="}
    got_schema, value = c.to_connect_data("t", data)
    assert got_schema == schema and value == {"id": 7, "name": None, "raw": b"\x00\x01"}


def test_json_infers_a_schema_for_schemaless_values_and_handles_timestamps():
    c = json_conv(True)
    env = orjson.loads(c.from_connect_data("t", None, {"a": 1, "b": [1.5], "c": True}))
    assert env["schema"]["type"] == "struct"
    assert [f["type"] for f in env["schema"]["fields"]] == ["int64", "array", "boolean"]
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC)
    data = c.from_connect_data("t", TIMESTAMP_SCHEMA, when)
    assert orjson.loads(data)["payload"] == 1704164645006
    assert c.to_connect_data("t", data)[1] == when


def test_json_without_schemas_is_plain_json_and_tombstones_stay_null():
    c = json_conv(False)
    assert c.from_connect_data("t", None, {"a": [1, 2]}) == b'{"a":[1,2]}'
    assert c.to_connect_data("t", b'{"a":[1,2]}') == (None, {"a": [1, 2]})
    assert c.from_connect_data("t", None, None) is None
    assert c.to_connect_data("t", None) == (None, None)


def test_schemas_enable_mismatch_says_exactly_which_setting_to_change():
    with pytest.raises(DataError) as e:
        json_conv(True).to_connect_data("orders", b'{"id": 1}')
    assert "set value.converter.schemas.enable=false" in str(e.value)
    assert "orders" in str(e.value)
    with pytest.raises(DataError) as e:
        json_conv(True, is_key=True).to_connect_data("orders", b"42")
    assert "key.converter.schemas.enable=false" in str(e.value)


def test_json_errors_for_malformed_data_and_schema_violations():
    with pytest.raises(DataError, match="serialization error of topic t"):
        json_conv(False).to_connect_data("t", b"{oops")
    bad = b'{"schema": {"type": "int32", "optional": false}, "payload": "x"}'
    with pytest.raises(DataError, match="expected an integer"):
        json_conv(True).to_connect_data("t", bad)
    with pytest.raises(DataError, match="out of range"):
        json_conv(True).to_connect_data("t", b'{"schema": {"type": "int8"}, "payload": 300}')
    with pytest.raises(ConnectorConfigError, match=r"schemas\.enable"):
        JsonConverter().configure({"schemas.enable": "maybe"}, False)


def test_string_and_bytearray_converters():
    s = StringConverter()
    s.configure({}, False)
    assert s.from_connect_data("t", None, "héllo") == "héllo".encode()
    assert s.to_connect_data("t", "héllo".encode())[1] == "héllo"
    assert s.from_connect_data("t", None, {"a": 1}) == b'{"a":1}'
    with pytest.raises(DataError, match="ByteArrayConverter"):
        s.to_connect_data("t", b"\xff\xfe")
    b = ByteArrayConverter()
    b.configure({}, False)
    assert b.from_connect_data("t", None, b"\x00") == b"\x00"
    assert b.to_connect_data("t", b"\x01") == (Schema("bytes", True), b"\x01")
    with pytest.raises(DataError):
        b.from_connect_data("t", None, {"no": "bytes"})


@pytest.mark.parametrize(
    ("cls", "value", "raw"),
    [
        (IntegerConverter, -2, struct.pack(">i", -2)),
        (LongConverter, 2**40, struct.pack(">q", 2**40)),
        (ShortConverter, 513, b"\x02\x01"),
        (FloatConverter, 1.5, struct.pack(">f", 1.5)),
        (DoubleConverter, -0.25, struct.pack(">d", -0.25)),
        (BooleanConverter, True, b"\x01"),
    ],
)
def test_primitive_converters_use_kafkas_big_endian_formats(cls, value, raw):
    c = cls()
    c.configure({}, True)
    assert c.from_connect_data("t", None, value) == raw
    assert c.to_connect_data("t", raw)[1] == value
    with pytest.raises(DataError, match="expected"):
        c.to_connect_data("t", raw + b"\x00")


def test_simple_header_converter_round_trips_types():
    h = SimpleHeaderConverter()
    h.configure({})
    for value in ("text", 42, True, {"a": 1}, [1, 2]):
        data = h.from_connect_header("t", "k", None, value)
        assert h.to_connect_header("t", "k", data)[1] == value
    assert h.to_connect_header("t", "k", b"\xff")[1] == b"\xff"


def test_avro_converter_uses_the_schema_registry_wire_format():
    from millstream.connect.avro import AvroConverter
    from millstream.schema_registry import registry_client

    c = AvroConverter()
    c.configure({"schema.registry.url": "mock://conv-test"}, False)
    schema = struct_schema(
        "ksql.orders",
        [
            ("id", Schema("int32")),
            ("item", Schema("string", True)),
            ("at", TIMESTAMP_SCHEMA),
            ("n", Schema("int8")),
        ],
    )
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    data = c.from_connect_data("orders", schema, {"id": 3, "item": None, "at": when, "n": 2})
    assert data[0] == 0
    schema_id = struct.unpack(">I", data[1:5])[0]
    registry = registry_client("mock://conv-test")  # the registry the stream engine's formats share
    assert registry.get_latest_version("orders-value").schema_id == schema_id
    got_schema, value = c.to_connect_data("orders", data)
    assert value == {"id": 3, "item": None, "at": when, "n": 2}
    assert [(f.name, f.schema.type, f.schema.optional) for f in got_schema.fields] == [
        ("id", "int32", False),
        ("item", "string", True),
        ("at", "int64", False),
        ("n", "int8", False),
    ]
    assert got_schema.name == "ksql.orders"
    # same schema → same id; a key converter registers under <topic>-key
    assert c.from_connect_data("orders", schema, {"id": 4, "item": "x", "at": when, "n": 1})[1:5] == data[1:5]
    k = AvroConverter()
    k.configure({"schema.registry.url": "mock://conv-test"}, True)
    k.from_connect_data("orders", Schema("string"), "key-1")
    assert "orders-key" in registry.get_subjects()
    with pytest.raises(DataError, match="Unknown magic byte"):
        c.to_connect_data("orders", b'{"id": 3}')
    with pytest.raises(ConnectorConfigError, match=r"schema\.registry\.url"):
        AvroConverter().configure({}, False)


def test_avro_through_a_running_pipeline(herder):
    from .helpers import wait_until

    herder.create_connector(
        "gen",
        {
            "connector.class": "Datagen",
            "kafka.topic": "users",
            "quickstart": "users",
            "iterations": "5",
            "max.interval": "0",
            "value.converter": "io.confluent.connect.avro.AvroConverter",
            "value.converter.schema.registry.url": "mock://pipeline",
            "key.converter": "StringConverter",
        },
    )
    wait_until(lambda: herder.log.has_topic("users") and herder.log.latest_offset("users", 0) == 5)
    raw = herder.log.read("users", 0, 0)[0].value
    assert raw[0] == 0
    from millstream.connect.avro import AvroConverter

    c = AvroConverter()
    c.configure({"schema.registry.url": "mock://pipeline"}, False)
    schema, value = c.to_connect_data("users", raw)
    assert schema.name == "ksql.users" and set(value) == {"registertime", "userid", "regionid", "gender"}


def test_avro_converter_refuses_an_incompatible_schema_naming_subject_and_level():
    from millstream.connect.avro import AvroConverter

    c = AvroConverter()
    c.configure({"schema.registry.url": "mock://conv-evolution"}, False)
    c.from_connect_data("orders", struct_schema("shop.Order", [("id", Schema("int32"))]), {"id": 1})
    # a new required field without a default: the new schema cannot read the old records (BACKWARD)
    bad = struct_schema("shop.Order", [("id", Schema("int32")), ("qty", Schema("int32"))])
    with pytest.raises(DataError, match=r"subject 'orders-value' is incompatible .* compatibility level BACKWARD"):
        c.from_connect_data("orders", bad, {"id": 2, "qty": 1})
    # an optional field (default null) is a compatible change
    ok = struct_schema("shop.Order", [("id", Schema("int32")), ("note", Schema("string", True))])
    data = c.from_connect_data("orders", ok, {"id": 3, "note": None})
    assert c.to_connect_data("orders", data)[1] == {"id": 3, "note": None}
