"""Schema-registry formats in the stream API on the embedded logs (``memory://`` and ``file://``): round trips
for Avro, JSON Schema and Protobuf, the bytes on the wire (decoded by confluent_kafka's own deserializers),
subject naming strategies and keys. The registry is the in-process one (see ``conftest.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from millstream import StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import KafkaRecordSerializationSchema, LogSink, LogSource, OffsetsInitializer
from millstream.log import open_log
from millstream.schema_registry import registry_client
from millstream.testing import CollectingSink

from .conftest import KINDS, confluent_decode, order, read_back, reader, writer

_n = iter(range(1_000_000))


@pytest.fixture(params=["memory", "file"])
def log_url(request: Any, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://registry-{next(_n)}"
    return f"file://{tmp_path}/log"


def make_topics(url: str, *topics: str, partitions: int = 1) -> None:
    log = open_log(url)
    for t in topics:
        if not log.has_topic(t):
            log.create_topic(t, partitions)
    log.close()


def write(log_url: str, topic: str, values: list[Any], fmt: Any, **sink: Any) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    b = LogSink.builder().set_log(log_url).set_topic(topic).set_value_format(fmt)
    for k, v in sink.items():
        getattr(b, k)(*v)
    env.from_collection(values).sink_to(b.build())
    env.execute()


def read(log_url: str, topic: str, fmt: Any) -> list[Any]:
    env = StreamExecutionEnvironment.get_execution_environment()
    src = (
        LogSource.builder()
        .set_log(log_url)
        .set_topics(topic)
        .set_bounded(OffsetsInitializer.latest())
        .set_value_only_deserializer(fmt)
        .build()
    )
    sink = CollectingSink()
    env.from_source(src, WatermarkStrategy.no_watermarks()).sink_to(sink)
    env.execute()
    return sink.values


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_through_an_embedded_topic(log_url: str, registry_url: str, kind: str) -> None:
    make_topics(log_url, "orders")
    orders = [order(n) for n in range(20)]
    write(log_url, "orders", orders, writer(kind, registry_url))
    assert read(log_url, "orders", reader(kind, registry_url)) == [read_back(kind, o) for o in orders]


@pytest.mark.parametrize("kind", KINDS)
def test_the_bytes_on_the_wire_are_confluent_wire_format(log_url: str, registry_url: str, kind: str) -> None:
    make_topics(log_url, "orders")
    write(log_url, "orders", [order(1), order(2)], writer(kind, registry_url))
    log = open_log(log_url)
    records = log.read("orders", 0, 0)
    log.close()
    client = registry_client(registry_url)
    (version,) = client.get_versions("orders-value")  # TopicNameStrategy: one subject, one version
    schema_id = client.get_version("orders-value", version).schema_id
    for rec, expected in zip(records, [order(1), order(2)], strict=True):
        assert rec.value[0] == 0  # magic byte
        assert int.from_bytes(rec.value[1:5], "big") == schema_id
        if kind == "protobuf":
            assert rec.value[5] == 0  # message indexes: [0], the file's first message, written as one 0 byte
        assert confluent_decode(kind, registry_url, "orders", rec.value) == expected


@pytest.mark.parametrize(
    ("strategy", "subject"),
    [
        ("TopicNameStrategy", "orders-value"),
        ("io.confluent.kafka.serializers.subject.RecordNameStrategy", "shop.v1.Order"),
        ("TopicRecordNameStrategy", "orders-shop.v1.Order"),
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_subject_naming_strategies(registry_url: str, kind: str, strategy: str, subject: str) -> None:
    url = "memory://strategies-" + str(next(_n))
    make_topics(url, "orders")
    fmt = writer(kind, registry_url, **{"value.subject.name.strategy": strategy})
    write(url, "orders", [order(1)], fmt)
    assert registry_client(registry_url).get_subjects() == [subject]
    assert read(url, "orders", reader(kind, registry_url)) == [read_back(kind, order(1))]


def test_an_explicit_subject_wins(registry_url: str) -> None:
    from millstream.connectors import ConfluentRegistryAvroSerializationSchema

    from .conftest import AVRO_V1

    url = "memory://explicit-" + str(next(_n))
    make_topics(url, "orders")
    fmt = ConfluentRegistryAvroSerializationSchema.for_generic("orders-by-hand", AVRO_V1, registry_url)
    write(url, "orders", [order(1)], fmt)
    assert registry_client(registry_url).get_subjects() == ["orders-by-hand"]


def test_keys_and_values_through_a_record_serializer_and_a_topic_selector(registry_url: str) -> None:
    """Keys get the ``-key`` subject; with a topic selector each topic gets its own subject."""
    from millstream.connectors import ConfluentRegistryAvroSerializationSchema

    from .conftest import AVRO_V1

    url = "memory://keys-" + str(next(_n))
    make_topics(url, "even", "odd", partitions=3)
    key_fmt = ConfluentRegistryAvroSerializationSchema.for_generic(None, AVRO_V1, registry_url)
    value_fmt = writer("json", registry_url)
    env = StreamExecutionEnvironment.get_execution_environment()
    serializer = (
        KafkaRecordSerializationSchema.builder()
        .set_topic_selector(lambda o: "even" if o["id"] % 2 == 0 else "odd")
        .set_value_serialization_schema(value_fmt)
        .set_key_serialization_schema(key_fmt)
        .build()
    )
    env.from_collection([order(n) for n in range(6)]).sink_to(
        LogSink.builder().set_log(url).set_record_serializer(serializer).build()
    )
    env.execute()
    client = registry_client(registry_url)
    assert sorted(client.get_subjects()) == ["even-key", "even-value", "odd-key", "odd-value"]
    log = open_log(url)
    got = []
    for topic in ("even", "odd"):
        for p in range(3):
            for rec in log.read(topic, p, 0):
                key = confluent_decode("avro", registry_url, topic, rec.key)
                value = confluent_decode("json", registry_url, topic, rec.value)
                assert key == value
                got.append((topic, value["id"]))
    log.close()
    assert sorted(got) == sorted(("even" if n % 2 == 0 else "odd", n) for n in range(6))


def test_protobuf_reads_messages_when_asked(registry_url: str) -> None:
    from millstream.connectors import ConfluentRegistryProtobufDeserializationSchema

    from .proto_messages import OrderV1

    url = "memory://messages-" + str(next(_n))
    make_topics(url, "orders")
    write(url, "orders", [OrderV1(id=5, item="x", qty=1, tags=["a", "b"])], writer("protobuf", registry_url))
    (msg,) = read(
        url,
        "orders",
        ConfluentRegistryProtobufDeserializationSchema.for_message(
            "tests.schema_registry.proto_messages.OrderV1", registry_url, as_message=True
        ),
    )
    assert isinstance(msg, OrderV1) and msg.id == 5 and list(msg.tags) == ["a", "b"]


def test_export_to_flink_refuses_registry_formats_clearly(registry_url: str) -> None:
    from millstream.connectors import KafkaSource
    from millstream.flink.check import FlinkTranslationError, check_job

    env = StreamExecutionEnvironment.get_execution_environment()
    src = KafkaSource.builder().set_bootstrap_servers("localhost:9092").set_topics("orders")
    env.from_source(src.set_value_only_deserializer(reader("avro", registry_url)).build(), None, "orders").print()
    with pytest.raises(FlinkTranslationError, match="schema-registry format avro-confluent is not translated"):
        check_job(env._take_sinks())


@pytest.mark.parametrize("value_kind", ["json", "plain-json"])
def test_a_source_reads_keys_in_a_registry_format_as_pairs(registry_url: str, value_kind: str) -> None:
    from millstream.connectors import (
        ConfluentRegistryAvroDeserializationSchema,
        ConfluentRegistryAvroSerializationSchema,
    )

    key_schema = {"type": "record", "name": "OrderKey", "fields": [{"name": "id", "type": "long"}]}
    url = "memory://keyed-" + str(next(_n))
    make_topics(url, "orders", partitions=2)
    env = StreamExecutionEnvironment.get_execution_environment()
    b = LogSink.builder().set_log(url).set_topic("orders")
    b.set_key_selector(
        lambda o: {"id": o["id"]}, ConfluentRegistryAvroSerializationSchema.for_generic(None, key_schema, registry_url)
    )
    b.set_value_format(writer("json", registry_url) if value_kind == "json" else "json")
    env.from_collection([order(n) for n in range(6)]).sink_to(b.build())
    env.execute()
    env = StreamExecutionEnvironment.get_execution_environment()
    src = LogSource.builder().set_log(url).set_topics("orders").set_bounded(OffsetsInitializer.latest())
    src.set_key_format(ConfluentRegistryAvroDeserializationSchema.for_generic(None, registry_url))
    if value_kind == "json":
        src.set_value_only_deserializer(reader("json", registry_url))
    sink = CollectingSink()
    env.from_source(src.build(), WatermarkStrategy.no_watermarks()).sink_to(sink)
    env.execute()
    assert sorted(sink.values, key=lambda kv: kv[0]["id"]) == [({"id": n}, order(n)) for n in range(6)]
    assert "orders-key" in registry_client(registry_url).get_subjects()
