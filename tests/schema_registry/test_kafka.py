"""Schema-registry formats through the Kafka-protocol test broker (``kafka://``): for Avro, JSON Schema and
Protobuf, millstream's KafkaSink writes and its KafkaSource reads; a plain librdkafka consumer with
confluent_kafka's own deserializers reads what millstream wrote, and millstream reads what confluent_kafka's
own serializing producer wrote. The registry is the in-process one (see ``conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from millstream import StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import KafkaSink, KafkaSource, OffsetsInitializer
from millstream.testing import CollectingSink

from .conftest import KINDS, confluent_decode, order, read_back, reader, writer

pytestmark = pytest.mark.kafka


def _props(kafka_properties: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in kafka_properties.items()}


def _read(servers: str, props: dict[str, str], topic: str, fmt: Any) -> list[Any]:
    env = StreamExecutionEnvironment.get_execution_environment()
    src = (
        KafkaSource.builder()
        .set_bootstrap_servers(servers)
        .set_topics(topic)
        .set_properties(props)
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .set_value_only_deserializer(fmt)
        .build()
    )
    sink = CollectingSink()
    env.from_source(src, WatermarkStrategy.no_watermarks()).sink_to(sink)
    env.execute()
    return sink.values


def _raw_values(servers: str, topic: str, count: int) -> list[bytes]:
    """The values of ``topic`` as a plain librdkafka consumer gets them."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": servers, "group.id": f"raw-{topic}", "fetch.wait.max.ms": 10})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])  # no group join: read the partition directly
    out: list[bytes] = []
    try:
        for _ in range(200):
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                out.append(msg.value())
            if len(out) >= count:
                break
    finally:
        consumer.close()
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_through_kafka_in_wire_format(
    kafka_bootstrap: str,
    kafka_log: Any,
    kafka_topic: Callable[[str], str],
    kafka_properties: dict[str, Any],
    registry_url: str,
    kind: str,
) -> None:
    topic = kafka_topic(f"orders-{kind}")
    kafka_log.create_topic(topic, 1)
    props = _props(kafka_properties)
    orders = [order(n) for n in range(10)]
    env = StreamExecutionEnvironment.get_execution_environment()
    sink = (
        KafkaSink.builder()
        .set_bootstrap_servers(kafka_bootstrap)
        .set_topic(topic)
        .set_value_format(writer(kind, registry_url))
    )
    for k, v in props.items():
        sink.set_property(k, v)
    env.from_collection(orders).sink_to(sink.build())
    env.execute()
    assert _read(kafka_bootstrap, props, topic, reader(kind, registry_url)) == [read_back(kind, o) for o in orders]
    raw = _raw_values(kafka_bootstrap, topic, len(orders))
    assert all(v[0] == 0 for v in raw)
    assert [confluent_decode(kind, registry_url, topic, v) for v in raw] == orders


@pytest.mark.parametrize("kind", KINDS)
def test_millstream_reads_what_confluent_kafkas_serializing_producer_wrote(
    kafka_bootstrap: str,
    kafka_log: Any,
    kafka_topic: Callable[[str], str],
    kafka_properties: dict[str, Any],
    registry_url: str,
    kind: str,
) -> None:
    import orjson
    from confluent_kafka import SerializingProducer
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.schema_registry.json_schema import JSONSerializer
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer

    from millstream.schema_registry import registry_client

    from .conftest import AVRO_V1, JSON_V1
    from .proto_messages import OrderV1

    topic = kafka_topic(f"from-confluent-{kind}")
    kafka_log.create_topic(topic, 1)
    client = registry_client(registry_url)
    if kind == "avro":
        serializer: Any = AvroSerializer(client, orjson.dumps(AVRO_V1).decode())
        values: list[Any] = [order(n) for n in range(5)]
    elif kind == "json":
        serializer = JSONSerializer(orjson.dumps(JSON_V1).decode(), client)
        values = [order(n) for n in range(5)]
    else:
        serializer = ProtobufSerializer(OrderV1, client, {"use.deprecated.format": False})
        values = [OrderV1(**order(n)) for n in range(5)]
    producer = SerializingProducer({"bootstrap.servers": kafka_bootstrap, "value.serializer": serializer})
    for v in values:
        producer.produce(topic, value=v)
    assert producer.flush(15) == 0
    got = _read(kafka_bootstrap, _props(kafka_properties), topic, reader(kind, registry_url))
    assert got == [read_back(kind, order(n)) for n in range(5)]


def test_an_avro_confluent_sql_table_on_kafka(
    kafka_bootstrap: str,
    kafka_log: Any,
    kafka_topic: Callable[[str], str],
    kafka_properties: dict[str, Any],
    registry_url: str,
) -> None:
    import millstream  # noqa: F401 - registers the executor
    from millstream.sql import StreamTableEnvironment

    topic = kafka_topic("sql-orders")
    kafka_log.create_topic(topic, 1)
    props = "".join(f", 'properties.{k}' = '{v}'" for k, v in kafka_properties.items())
    t = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
    t.execute_sql(
        "CREATE TABLE gen (id BIGINT, qty INT) WITH ('connector' = 'datagen', 'number-of-rows' = '4', "
        "'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '4', "
        "'fields.qty.min' = '1', 'fields.qty.max' = '3')"
    )
    t.execute_sql(
        f"CREATE TABLE orders (id BIGINT, qty INT) WITH ('connector' = 'kafka', 'topic' = '{topic}', "
        f"'properties.bootstrap.servers' = '{kafka_bootstrap}', 'scan.startup.mode' = 'earliest-offset', "
        f"'scan.bounded.mode' = 'latest-offset', 'value.format' = 'avro-confluent', "
        f"'value.avro-confluent.url' = '{registry_url}'{props})"
    )
    t.execute_sql("INSERT INTO orders SELECT id, qty FROM gen").wait()
    got = [tuple(r) for r in t.execute_sql("SELECT id, qty FROM orders").collect()]
    assert [r[0] for r in got] == [1, 2, 3, 4] and all(1 <= r[1] <= 3 for r in got)
    raw = _raw_values(kafka_bootstrap, topic, 4)
    assert [confluent_decode("avro", registry_url, topic, v) for v in raw] == [{"id": i, "qty": q} for i, q in got]
