"""KafkaSink on a real broker: topic and topic selector, key selector → murmur2 partition, value formats,
delivery guarantees (exactly-once refused without checkpoints; with them: test_kafka_exactly_once), property
pass-through."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from millstream import StreamExecutionEnvironment
from millstream.connectors import DeliveryGuarantee, KafkaSink
from millstream.core.errors import ConfigError
from millstream.core.serde import get_serde
from millstream.log.partitioner import partition_for_key
from millstream.stream.errors import JobConfigError, JobFailedError
from millstream.testing import timestamped

from .conftest import BASE_TS, read_all

pytestmark = pytest.mark.kafka


def run(values: list[Any], sink: Any) -> Any:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_source(timestamped([(v, BASE_TS + i) for i, v in enumerate(values)]), None, "src").sink_to(sink)
    return env.execute("sink")


def builder(servers: str, props: dict[str, str]) -> Any:
    b = KafkaSink.builder().set_bootstrap_servers(servers)
    for k, v in props.items():
        b.set_property(k, v)
    return b


def test_key_selector_places_records_by_murmur2(kafka_log, kafka_topic, servers, client_props):
    topic = kafka_topic("keyed")
    kafka_log.create_topic(topic, 4)
    values = [{"user": f"u{i % 13}", "i": i} for i in range(200)]
    sink = builder(servers, client_props).set_topic(topic).set_key_selector(lambda v: v["user"]).build()
    assert sum(run(values, sink).records_written.values()) == 200
    seen = []
    for p in range(4):
        for r in read_all(kafka_log, topic, p):
            v = orjson.loads(r.value)
            assert r.key == v["user"].encode()
            assert p == partition_for_key(r.key, 4), f"key {r.key!r} in partition {p}"
            assert r.timestamp == BASE_TS + v["i"]  # the element's timestamp becomes the record's
            seen.append(v["i"])
    assert sorted(seen) == list(range(200))
    per_key: dict[bytes, list[int]] = {}
    for p in range(4):
        for r in read_all(kafka_log, topic, p):
            per_key.setdefault(r.key, []).append(orjson.loads(r.value)["i"])
    assert all(v == sorted(v) for v in per_key.values())  # order per key is kept


def test_topic_selector(kafka_log, kafka_topic, servers, client_props):
    even, odd = kafka_topic("even"), kafka_topic("odd")
    kafka_log.create_topic(even)
    kafka_log.create_topic(odd)
    sink = builder(servers, client_props).set_topic_selector(lambda v: even if v % 2 == 0 else odd).build()
    run(list(range(10)), sink)
    assert [orjson.loads(r.value) for r in read_all(kafka_log, even, 0)] == [0, 2, 4, 6, 8]
    assert [orjson.loads(r.value) for r in read_all(kafka_log, odd, 0)] == [1, 3, 5, 7, 9]


AVRO = {"type": "record", "name": "E", "fields": [{"name": "k", "type": "string"}, {"name": "n", "type": "long"}]}


@pytest.mark.parametrize(
    ("fmt", "values", "raw"),
    [
        ("json", [{"a": 1}, [1, 2]], [b'{"a":1}', b"[1,2]"]),
        ("string", ["héllo", "x"], ["héllo".encode(), b"x"]),
        ("bytes", [b"\x00\xff", b"z"], [b"\x00\xff", b"z"]),
        ("avro", [{"k": "a", "n": 1}, {"k": "b", "n": 2}], None),
    ],
)
def test_value_formats(kafka_log, kafka_topic, servers, client_props, fmt, values, raw):
    topic = kafka_topic("sink-" + fmt)
    kafka_log.create_topic(topic)
    schema = AVRO if fmt == "avro" else None
    run(values, builder(servers, client_props).set_topic(topic).set_value_format(fmt, schema).build())
    got = [r.value for r in read_all(kafka_log, topic, 0)]
    if raw is None:
        raw = [get_serde("avro", schema=AVRO).serialize(v) for v in values]
    assert got == raw


@pytest.mark.parametrize("guarantee", [DeliveryGuarantee.NONE, DeliveryGuarantee.AT_LEAST_ONCE, "AT_LEAST_ONCE"])
def test_delivery_guarantees_deliver_every_record(kafka_log, kafka_topic, servers, client_props, guarantee):
    topic = kafka_topic("dg")
    kafka_log.create_topic(topic, 2)
    sink = builder(servers, client_props).set_topic(topic).set_delivery_guarantee(guarantee).build()
    run(list(range(1000)), sink)
    got = [orjson.loads(r.value) for p in range(2) for r in read_all(kafka_log, topic, p)]
    assert sorted(got) == list(range(1000))


def test_exactly_once_is_refused_until_checkpoints_exist(kafka_log, kafka_topic, servers, client_props):
    topic = kafka_topic("eo")
    kafka_log.create_topic(topic)
    sink = (
        builder(servers, client_props)
        .set_topic(topic)
        .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .set_transactional_id_prefix("orders-job")
        .build()
    )
    assert sink.transactional_id_prefix == "orders-job"
    with pytest.raises((JobConfigError, JobFailedError)) as info:
        run([1, 2], sink)
    msg = str(info.value)
    assert "exactly-once, which needs checkpointing in EXACTLY_ONCE mode" in msg
    assert "at-least-once" in msg + str(getattr(info.value, "hint", ""))
    assert read_all(kafka_log, topic, 0) == []


def test_sink_properties_pass_through(kafka_log, kafka_topic, servers, client_props):
    topic = kafka_topic("sprops")
    kafka_log.create_topic(topic)
    sink = builder(servers, client_props).set_topic(topic).set_property("producer.linger.ms", 1).build()
    run([1, 2, 3], sink)
    assert [r.value for r in read_all(kafka_log, topic, 0)] == [b"1", b"2", b"3"]
    bad = builder(servers, client_props).set_topic(topic).set_property("producer.no.such.thing", 1).build()
    with pytest.raises((JobFailedError, ConfigError)) as info:
        run([4], bad)
    assert "no.such.thing" in str(info.value) + str(info.value.__cause__)


def test_missing_topic_is_named(kafka_topic, servers, client_props):
    missing = kafka_topic("missing")
    with pytest.raises(JobFailedError) as info:
        run([1], builder(servers, client_props).set_topic(missing).build())
    assert missing in str(info.value) + str(info.value.__cause__)


def test_a_refused_record_fails_the_job(kafka_log, kafka_topic, servers, client_props):
    topic = kafka_topic("toolarge")
    kafka_log.create_topic(topic)
    sink = builder(servers, client_props).set_topic(topic).set_property("producer.message.max.bytes", 2000).build()
    with pytest.raises(JobFailedError) as info:
        run(["small", "x" * 5000], sink)
    assert "too large" in str(info.value.__cause__).lower() or "size" in str(info.value.__cause__).lower()


def test_a_long_batch_follows_what_the_round_held_back(kafka_log, kafka_topic, servers, client_props):
    """At least once, a keyless batch of ``DIRECT_BATCH`` elements or more goes to the producer at once, each
    element serialized as it is produced; a shorter one waits for the end of the round. A long batch after a
    short one in the same round sends the short one first: the partition gets the elements in the order the
    sink got them, each with its element's timestamp."""
    from millstream.runtime.sinks import DIRECT_BATCH, LogSinkOperator

    topic = kafka_topic("direct")
    kafka_log.create_topic(topic)
    sink = LogSinkOperator("sink", None, builder(servers, client_props).set_topic(topic).build())
    sink.open()
    short = [{"i": i} for i in range(3)]
    long = [{"i": i} for i in range(3, 3 + DIRECT_BATCH)]
    try:
        sink.process(short, [BASE_TS + v["i"] for v in short], [0] * len(short), 0)
        sink.process(long, [BASE_TS + v["i"] for v in long], [0] * len(long), 0)
        sink.end_of_round()
    finally:
        sink.close()
    got = read_all(kafka_log, topic, 0)
    assert [orjson.loads(r.value)["i"] for r in got] == list(range(3 + DIRECT_BATCH))
    assert [r.timestamp for r in got] == [BASE_TS + i for i in range(3 + DIRECT_BATCH)]
    assert sink.written == 3 + DIRECT_BATCH


def test_a_value_that_cannot_be_serialized_in_a_long_batch_is_named(kafka_log, kafka_topic, servers, client_props):
    """A long batch serializes its elements as the producer takes them: one that JSON cannot encode fails the
    job naming its position and the element; nothing after it is written."""
    topic = kafka_topic("unserializable")
    kafka_log.create_topic(topic)
    values: list[Any] = [{"i": i} for i in range(40)]
    values[35] = {"i": 35, "tags": {1, 2}}  # a set: not JSON
    with pytest.raises(JobFailedError) as info:
        run(values, builder(servers, client_props).set_topic(topic).build())
    assert info.value.position == 35
    assert info.value.element == values[35]
    written = [orjson.loads(r.value)["i"] for r in read_all(kafka_log, topic, 0)]
    assert written == list(range(len(written))) and len(written) <= 35
