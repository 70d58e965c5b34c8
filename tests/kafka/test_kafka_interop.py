"""Interop with a Kafka client millstream does not use itself: kafka-python (pure Python, its own protocol code).

kafka-python writes keyed records with headers that KafkaLog reads intact, and reads what KafkaLog wrote,
keys, headers and timestamps intact; keys land on the partition Kafka's murmur2 partitioner gives, whichever
client produced them.
"""

from __future__ import annotations

import time

import pytest

from millstream.core.record import ProducerRecord
from millstream.log.partitioner import partition_for_key

kafka = pytest.importorskip("kafka")

pytestmark = pytest.mark.kafka

PARTITIONS = 4


def _kp_producer(bootstrap):
    return kafka.KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)


def test_kafka_python_writes_millstream_reads(kafka_log, kafka_bootstrap, kafka_topic):
    name = kafka_topic("kp-in")
    kafka_log.create_topic(name, PARTITIONS)
    producer = _kp_producer(kafka_bootstrap)
    sent = []
    try:
        for i in range(40):
            key = b"customer-%d" % (i % 10)
            headers = [("source", b"kafka-python"), ("seq", str(i).encode())]
            meta = producer.send(
                name, value=b"order-%d" % i, key=key, headers=headers, timestamp_ms=1_600_000_000_000 + i
            )
            sent.append((key, b"order-%d" % i, headers, 1_600_000_000_000 + i, meta))
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)

    by_partition: dict[int, list] = {}
    for key, value, headers, ts, future in sent:
        meta = future.get(timeout=30)
        # kafka-python's default partitioner is Kafka's murmur2: the same partition millstream computes
        assert meta.partition == partition_for_key(key, PARTITIONS)
        by_partition.setdefault(meta.partition, []).append((meta.offset, key, value, tuple(headers), ts))

    for p, expected in by_partition.items():
        got = []
        offset = 0
        while len(got) < len(expected):
            batch = kafka_log.read(name, p, offset, timeout_ms=5_000)
            assert batch, f"no records from {name}[{p}] at offset {offset}"
            got.extend(batch)
            offset = batch[-1].offset + 1
        assert [(r.offset, r.key, r.value, r.headers, r.timestamp) for r in got] == expected


def test_millstream_writes_kafka_python_reads(kafka_log, kafka_bootstrap, kafka_topic):
    name = kafka_topic("kp-out")
    kafka_log.create_topic(name, PARTITIONS)
    records = [
        ProducerRecord(
            b"event-%d" % i,
            b"device-%d" % (i % 7),
            1_650_000_000_000 + i,
            (("origin", b"millstream"), ("n", str(i).encode()), ("nothing", None)),
        )
        for i in range(35)
    ]
    placed = kafka_log.produce(name, records)
    assert [p for p, _ in placed] == [partition_for_key(r.key, PARTITIONS) for r in records]

    consumer = kafka.KafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=2_000,
        fetch_max_wait_ms=50,
    )
    try:
        consumer.assign([kafka.TopicPartition(name, p) for p in range(PARTITIONS)])
        for p in range(PARTITIONS):
            consumer.seek(kafka.TopicPartition(name, p), 0)
        got = []
        deadline = time.monotonic() + 30
        while len(got) < len(records) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                got.extend(batch)
    finally:
        consumer.close()

    seen = {(m.partition, m.offset): m for m in got}
    assert len(seen) == len(records)
    for rec, (p, off) in zip(records, placed, strict=True):
        m = seen[(p, off)]
        assert (m.key, m.value, m.timestamp) == (rec.key, rec.value, rec.timestamp)
        assert [(k, v) for k, v in m.headers] == list(rec.headers)
