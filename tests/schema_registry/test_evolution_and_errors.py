"""Schema evolution and bad input with schema-registry formats on the embedded log.

Evolution: a compatible new schema registers and old records still read; an incompatible one fails the job
with an error naming the subject and the compatibility level, and writes nothing. Bad input (a record not in
wire format, an unknown schema id, an unreachable registry) fails the job naming topic, partition and offset
and the fix, and loses nothing: the group's committed offset stays before the bad record, and a dead-letter
topic receives it unchanged. The registry is the in-process one (see ``conftest.py``)."""

from __future__ import annotations

import dataclasses
import socket
from typing import Any

import orjson
import pytest

from millstream import StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import (
    ConfluentRegistryAvroDeserializationSchema,
    ConfluentRegistryAvroSerializationSchema,
    ConfluentRegistryJsonSchemaDeserializationSchema,
    ConfluentRegistryJsonSchemaSerializationSchema,
    ConfluentRegistryProtobufDeserializationSchema,
    ConfluentRegistryProtobufSerializationSchema,
    LogSink,
    LogSource,
    OffsetsInitializer,
)
from millstream.core.record import ProducerRecord, TopicPartition
from millstream.log import open_log
from millstream.schema_registry import registry_client
from millstream.stream.errors import JobFailedError
from millstream.testing import CollectingSink

from .conftest import AVRO_BAD, AVRO_V2, JSON_BAD, JSON_V2, KINDS, order, read_back, reader, writer
from .proto_messages import OrderBad, OrderV2

_n = iter(range(1_000_000))


def new_log(*topics: str) -> str:
    url = f"memory://evolution-{next(_n)}"
    log = open_log(url)
    for t in topics:
        log.create_topic(t, 1)
    log.close()
    return url


def write(url: str, topic: str, values: list[Any], fmt: Any) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection(values).sink_to(LogSink.builder().set_log(url).set_topic(topic).set_value_format(fmt).build())
    env.execute()


def read(url: str, topic: str, fmt: Any, group: str | None = None, dead_letters: str | None = None) -> list[Any]:
    env = StreamExecutionEnvironment.get_execution_environment()
    b = LogSource.builder().set_log(url).set_topics(topic).set_bounded(OffsetsInitializer.latest())
    if group:
        b.set_group_id(group).set_starting_offsets(OffsetsInitializer.committed_offsets("earliest"))
    if dead_letters:
        b.set_dead_letter_topic(dead_letters)
    sink = CollectingSink()
    env.from_source(b.set_value_only_deserializer(fmt).build(), WatermarkStrategy.no_watermarks()).sink_to(sink)
    env.execute()
    return sink.values


def v2(kind: str, url: str) -> tuple[Any, Any]:
    """A compatible next version (adds ``note``) as writer and reader."""
    if kind == "avro":
        return (
            ConfluentRegistryAvroSerializationSchema.for_generic(None, AVRO_V2, url),
            ConfluentRegistryAvroDeserializationSchema.for_generic(AVRO_V2, url),
        )
    if kind == "json":
        text = orjson.dumps(JSON_V2).decode()
        return (
            ConfluentRegistryJsonSchemaSerializationSchema.for_schema(text, url),
            ConfluentRegistryJsonSchemaDeserializationSchema.for_schema(None, url),
        )
    return (
        ConfluentRegistryProtobufSerializationSchema.for_message(OrderV2, url),
        ConfluentRegistryProtobufDeserializationSchema.for_message(OrderV2, url),
    )


def incompatible(kind: str, url: str) -> Any:
    if kind == "avro":  # a new field without a default: the new schema cannot read old records
        return ConfluentRegistryAvroSerializationSchema.for_generic(None, AVRO_BAD, url)
    if kind == "json":  # a new required property: old records lack it
        return ConfluentRegistryJsonSchemaSerializationSchema.for_schema(orjson.dumps(JSON_BAD).decode(), url)
    return ConfluentRegistryProtobufSerializationSchema.for_message(OrderBad, url)  # qty: int32 -> string


@pytest.mark.parametrize("kind", KINDS)
def test_a_compatible_change_registers_and_old_records_still_read(registry_url: str, kind: str) -> None:
    url = new_log("orders")
    write(url, "orders", [order(1), order(2)], writer(kind, registry_url))
    new_writer, new_reader = v2(kind, registry_url)
    write(url, "orders", [{**order(3), "note": "gift"}], new_writer)
    client = registry_client(registry_url)
    assert sorted(client.get_versions("orders-value")) == [1, 2]
    got = read(url, "orders", new_reader)
    if kind == "avro":  # old records are resolved to the reader schema: the new field gets its default
        assert got == [{**order(1), "note": ""}, {**order(2), "note": ""}, {**order(3), "note": "gift"}]
    elif kind == "json":  # each record is read (and validated) with its own writer schema
        assert got == [order(1), order(2), {**order(3), "note": "gift"}]
    else:  # Protobuf: a field the old writer did not know reads as its default
        assert got == [{**read_back(kind, order(n)), "note": ""} for n in (1, 2)] + [
            {**read_back(kind, order(3)), "note": "gift"}
        ]
    # the old reader still reads everything (the new field is ignored)
    assert [o["id"] for o in read(url, "orders", reader(kind, registry_url))] == [1, 2, 3]


@pytest.mark.parametrize("kind", KINDS)
def test_an_incompatible_change_fails_naming_subject_and_level(registry_url: str, kind: str) -> None:
    url = new_log("orders")
    write(url, "orders", [order(1)], writer(kind, registry_url))
    bad = {**order(2), "note": "x"} if kind != "protobuf" else {"id": 2, "item": "x", "qty": "2"}
    with pytest.raises(JobFailedError) as info:
        write(url, "orders", [bad], incompatible(kind, registry_url))
    text = str(info.value)
    assert "subject 'orders-value' is incompatible" in text
    assert "compatibility level BACKWARD" in text
    assert registry_client(registry_url).get_versions("orders-value") == [1]
    log = open_log(url)
    assert log.latest_offset("orders", 0) == 1  # nothing of the refused write reached the topic
    log.close()


def test_the_compatibility_level_decides(registry_url: str) -> None:
    url = new_log("orders")
    write(url, "orders", [order(1)], writer("avro", registry_url))
    client = registry_client(registry_url)
    # FORWARD: old readers must read new data; dropping a field without a default breaks them
    dropped = {**AVRO_V2, "fields": [f for f in AVRO_V2["fields"] if f["name"] != "qty"]}
    fmt = ConfluentRegistryAvroSerializationSchema.for_generic(None, dropped, registry_url)
    with pytest.raises(JobFailedError, match="compatibility level FORWARD"):
        write(url, "orders", [{"id": 2, "item": "x", "note": ""}], dataclasses.replace(fmt, compatibility="FORWARD"))
    client.set_compatibility("orders-value", "NONE")  # as an operator would on the registry
    write(url, "orders", [{"id": 2, "item": "x", "note": ""}], fmt)
    assert len(client.get_versions("orders-value")) == 2


def _wire_records(url: str, registry_url: str) -> None:
    write(url, "orders", [order(0), order(1)], writer("avro", registry_url))


def _bytes_at(url: str, topic: str, offset: int) -> bytes:
    log = open_log(url)
    (rec,) = log.read(topic, 0, offset, max_records=1)
    log.close()
    return bytes(rec.value)


def _committed(url: str, group: str) -> int | None:
    log = open_log(url)
    got = log.committed_offsets(group, [TopicPartition("orders", 0)])
    log.close()
    return got.get(TopicPartition("orders", 0))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            b'{"id": 2}',
            r"orders\[0\] offset 2: the value is not in Confluent's schema-registry wire format: its first "
            r"byte is 0x7b, not the magic byte 0x00 \(it looks like plain JSON\)",
        ),
        (b"\x01\x00\x00\x00\x01\x04", r"orders\[0\] offset 2: the value is not in Confluent's .* first byte is 0x01"),
        (
            b"\x00\x00\x00\x03\xe7\x04",
            r"orders\[0\] offset 2: cannot read the value as avro-confluent with schema id "
            r"999: schema registry mock://\S+ does not know the schema",
        ),
    ],
    ids=["plain-json", "wrong-magic-byte", "unknown-schema-id"],
)
def test_bad_records_fail_naming_where_and_lose_nothing(registry_url: str, bad: bytes, message: str) -> None:
    url = new_log("orders", "dlq")
    _wire_records(url, registry_url)
    log = open_log(url)
    log.append("orders", 0, [ProducerRecord(bad, b"k")])
    log.close()
    write(url, "orders", [order(3)], writer("avro", registry_url))
    with pytest.raises(JobFailedError, match=message):
        read(url, "orders", reader("avro", registry_url), group="g")
    committed = _committed(url, "g")
    assert committed is None or committed <= 2  # the bad record (offset 2) and what follows are not consumed
    # the fix the error names: set such records aside; the job then reads past them, losing none
    got = read(url, "orders", reader("avro", registry_url), group="g", dead_letters="dlq")
    assert [o["id"] for o in got] == [n for n in (0, 1, 3) if n >= (committed or 0)]
    assert _bytes_at(url, "dlq", 0) == bad  # unchanged, with the reason in its headers
    log = open_log(url)
    (routed,) = log.read("dlq", 0, 0)
    log.close()
    headers = dict(routed.headers)
    assert headers["__millstream.errors.offset"] == b"2"
    assert (
        b"wire format" in headers["__millstream.errors.exception.message"]
        or b"schema" in headers["__millstream.errors.exception.message"]
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_registry_fails_naming_the_record_and_consumes_nothing(registry_url: str) -> None:
    url = new_log("orders")
    _wire_records(url, registry_url)
    down = f"http://127.0.0.1:{_free_port()}"
    fmt = ConfluentRegistryAvroDeserializationSchema.for_generic(None, down, {"max.retries": 0, "timeout": 2})
    with pytest.raises(JobFailedError, match=r"orders\[0\] offset 0: .*cannot reach the schema registry at http"):
        read(url, "orders", fmt, group="g")
    assert _committed(url, "g") in (None, 0)
    assert [o["id"] for o in read(url, "orders", reader("avro", registry_url), group="g")] == [0, 1]


def test_writing_to_an_unreachable_registry_fails_clearly() -> None:
    url = new_log("orders")
    down = f"http://127.0.0.1:{_free_port()}"
    fmt = writer("avro", down, **{"max.retries": 0})
    with pytest.raises(JobFailedError, match="cannot reach the schema registry at http"):
        write(url, "orders", [order(1)], fmt)
    log = open_log(url)
    assert log.latest_offset("orders", 0) == 0
    log.close()


def test_a_value_that_does_not_match_the_schema_names_topic_and_subject(registry_url: str) -> None:
    url = new_log("orders")
    with pytest.raises(
        JobFailedError,
        match=r"cannot write a value of topic 'orders' as avro-confluent \(subject "
        r"'orders-value'\)",
    ):
        write(url, "orders", [{"id": "not a number"}], writer("avro", registry_url))


def test_without_auto_registration_the_schema_must_be_registered(registry_url: str) -> None:
    url = new_log("orders")
    fmt = writer("avro", registry_url, **{"auto.register.schemas": "false"})
    with pytest.raises(JobFailedError, match=r"the schema is not registered under subject 'orders-value'"):
        write(url, "orders", [order(1)], fmt)
    write(url, "orders", [order(1)], writer("avro", registry_url))  # registers version 1
    write(url, "orders", [order(2)], fmt)  # now found
    latest = ConfluentRegistryAvroSerializationSchema.for_generic(
        None, None, registry_url, {"use.latest.version": "true"}
    )
    write(url, "orders", [order(3)], latest)  # writes with the subject's latest schema
    assert [o["id"] for o in read(url, "orders", reader("avro", registry_url))] == [1, 2, 3]
