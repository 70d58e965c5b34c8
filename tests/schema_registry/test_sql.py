"""SQL tables with schema-registry formats on the embedded log: ``avro-confluent`` (Flink's name),
``json-schema-confluent`` and ``protobuf-confluent`` write and read; the written records are Confluent wire
format (decoded by confluent_kafka's own deserializers); Flink's prefixed ``value.``/``key.`` options; a
window aggregation over an Avro topic written by another producer. The registry is the in-process one (see
``conftest.py``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment
from millstream.log import open_log
from millstream.schema_registry import registry_client
from millstream.sql import SqlValidationError, StreamTableEnvironment

from .conftest import AVRO_V1, confluent_decode

DATAGEN = (
    "CREATE TABLE gen (id BIGINT, item STRING, qty INT) WITH ('connector' = 'datagen', 'number-of-rows' = '5', "
    "'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '5', 'fields.item.length' = '4', "
    "'fields.qty.min' = '1', 'fields.qty.max' = '9')"
)


def tenv() -> StreamTableEnvironment:
    return StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())


def rows(t: StreamTableEnvironment, query: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in t.execute_sql(query).collect()]


def log_url(tmp_path: Path, *topics: str) -> str:
    url = f"file://{tmp_path / 'log'}"
    log = open_log(url)
    for t in topics:
        log.create_topic(t, 1)
    log.close()
    return url


FORMAT_OPTIONS = {
    "avro": "'format' = 'avro-confluent', 'avro-confluent.url' = '{url}'",
    "json": "'value.format' = 'json-schema-confluent', 'value.json-schema-confluent.url' = '{url}'",
    "protobuf": "'format' = 'protobuf-confluent', 'protobuf-confluent.url' = '{url}', "
    "'protobuf-confluent.message-class-name' = 'tests.schema_registry.proto_messages.OrderV1'",
}


@pytest.mark.parametrize("kind", ["avro", "json", "protobuf"])
def test_a_table_writes_and_reads_in_wire_format(tmp_path: Path, registry_url: str, kind: str) -> None:
    url = log_url(tmp_path, "orders")
    fmt = FORMAT_OPTIONS[kind].format(url=registry_url)
    t = tenv()
    t.execute_sql(DATAGEN)
    t.execute_sql(
        f"CREATE TABLE orders (id BIGINT, item STRING, qty INT) WITH ('connector' = 'millstream', 'log' = '{url}', "
        f"'topic' = 'orders', 'scan.bounded.mode' = 'latest-offset', {fmt})"
    )
    t.execute_sql("INSERT INTO orders SELECT id, item, qty FROM gen").wait()
    got = rows(t, "SELECT id, item, qty FROM orders WHERE qty > 0")
    assert [r[0] for r in got] == [1, 2, 3, 4, 5]
    assert all(isinstance(r[1], str) and len(r[1]) == 4 and 1 <= r[2] <= 9 for r in got)
    log = open_log(url)
    raw = [rec.value for rec in log.read("orders", 0, 0)]
    log.close()
    decoded = [confluent_decode(kind, registry_url, "orders", v) for v in raw]
    assert [(d["id"], d["item"], d["qty"]) for d in decoded] == got
    assert registry_client(registry_url).get_subjects() == ["orders-value"]


def test_avro_confluent_schema_is_derived_from_the_columns_as_flink_does(tmp_path: Path, registry_url: str) -> None:
    url = log_url(tmp_path, "payments")
    t = tenv()
    t.execute_sql(
        "CREATE TABLE payments (id BIGINT NOT NULL, amount DECIMAL(10, 2), at TIMESTAMP_LTZ(3), ok BOOLEAN) WITH "
        f"('connector' = 'millstream', 'log' = '{url}', 'topic' = 'payments', 'scan.bounded.mode' = 'latest-offset', "
        f"'value.format' = 'avro-confluent', 'value.avro-confluent.url' = '{registry_url}', "
        "'value.avro-confluent.subject' = 'payments-by-hand')"
    )
    t.execute_sql(
        "CREATE TABLE one (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1', "
        "'fields.id.kind' = 'sequence', 'fields.id.start' = '7', 'fields.id.end' = '7')"
    )
    t.execute_sql(
        "INSERT INTO payments SELECT id, CAST(12.50 AS DECIMAL(10, 2)), TO_TIMESTAMP_LTZ(1000, 3), TRUE FROM one"
    ).wait()
    client = registry_client(registry_url)
    schema = orjson.loads(client.get_latest_version("payments-by-hand").schema.schema_str)
    assert schema["name"] == "record" and schema["namespace"] == "org.apache.flink.avro.generated"
    assert [(f["name"], f["type"]) for f in schema["fields"]] == [
        ("id", "long"),
        ("amount", ["null", {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}]),
        ("at", ["null", {"type": "long", "logicalType": "timestamp-millis"}]),
        ("ok", ["null", "boolean"]),
    ]
    (row,) = rows(t, "SELECT id, amount, at, ok FROM payments")
    assert row[0] == 7 and row[1] == Decimal("12.50") and row[3] is True
    assert row[2] == dt.datetime(1970, 1, 1, 0, 0, 1)  # TIMESTAMP_LTZ shown in the session time zone (UTC)
    log = open_log(url)
    (rec,) = log.read("payments", 0, 0)
    log.close()
    assert confluent_decode("avro", registry_url, "payments", rec.value) == {
        "id": 7,
        "amount": Decimal("12.50"),
        "at": dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC),
        "ok": True,
    }


def test_a_window_aggregation_over_avro_written_by_another_producer(tmp_path: Path, registry_url: str) -> None:
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from millstream.core.record import ProducerRecord

    url = log_url(tmp_path, "orders", "counts")
    serializer = AvroSerializer(registry_client(registry_url), orjson.dumps(AVRO_V1).decode())
    ctx = SerializationContext("orders", MessageField.VALUE)
    log = open_log(url)
    log.append(
        "orders",
        0,
        [ProducerRecord(serializer({"id": n, "item": "ab"[n % 2], "qty": n}, ctx), None, n * 1000) for n in range(30)],
    )
    log.close()
    t = tenv()
    t.execute_sql(
        "CREATE TABLE orders (id BIGINT, item STRING, qty INT, ts AS TO_TIMESTAMP_LTZ(id * 1000, 3), "
        "WATERMARK FOR ts AS ts) WITH ('connector' = 'millstream', "
        f"'log' = '{url}', 'topic' = 'orders', 'scan.bounded.mode' = 'latest-offset', "
        f"'format' = 'avro-confluent', 'avro-confluent.url' = '{registry_url}')"
    )
    t.execute_sql(
        f"CREATE TABLE counts (item STRING NOT NULL, n BIGINT NOT NULL, total INT) WITH ('connector' = 'millstream', "
        f"'log' = '{url}', 'topic' = 'counts', 'scan.bounded.mode' = 'latest-offset', "
        f"'format' = 'avro-confluent', 'avro-confluent.url' = '{registry_url}', 'key.format' = 'avro-confluent', "
        f"'key.avro-confluent.url' = '{registry_url}', 'key.fields' = 'item')"
    )
    t.execute_sql(
        "INSERT INTO counts SELECT item, COUNT(*), SUM(qty) FROM "
        "TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end, item"
    ).wait()
    got = sorted(rows(t, "SELECT item, n, total FROM counts"))
    assert got == sorted(
        (item, 5, sum(n for n in range(start, start + 10) if "ab"[n % 2] == item))
        for start in (0, 10, 20)
        for item in "ab"
    )
    assert sorted(registry_client(registry_url).get_subjects()) == ["counts-key", "counts-value", "orders-value"]
    log = open_log(url)
    keys = {confluent_decode("avro", registry_url, "counts", r.key)["item"] for r in log.read("counts", 0, 0)}
    log.close()
    assert keys == {"a", "b"}


def test_options_are_checked(tmp_path: Path) -> None:
    url = log_url(tmp_path, "t")
    t = tenv()
    t.execute_sql(
        f"CREATE TABLE a (id BIGINT) WITH ('connector' = 'millstream', 'log' = '{url}', 'topic' = 't', "
        "'format' = 'avro-confluent')"
    )
    with pytest.raises(SqlValidationError, match=r"without a schema registry URL.*'avro-confluent.url'"):
        t.execute_sql("SELECT id FROM a")
    t.execute_sql(
        f"CREATE TABLE p (id BIGINT) WITH ('connector' = 'millstream', 'log' = '{url}', 'topic' = 't', "
        "'format' = 'protobuf-confluent', 'protobuf-confluent.url' = 'mock://x')"
    )
    with pytest.raises(SqlValidationError, match="message-class-name"):
        t.execute_sql("SELECT id FROM p")
