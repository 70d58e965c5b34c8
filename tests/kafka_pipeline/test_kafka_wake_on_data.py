"""An idle Kafka → map → Kafka job waits in its source consumer's ``poll`` (``KafkaLog.wait_for_records``)
instead of sleeping ``set_buffer_timeout``: a record produced to its input reaches its output long before the
buffer timeout (5 s here), and a cancel is not held up by the blocked poll.

Bounds are generous (the test broker holds an empty fetch ``fetch.wait.max.ms`` and is not woken by new
records; the machine may be busy): they only tell a job that wakes on data from one that sleeps 5 s.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from millstream import StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import KafkaSink, KafkaSource, OffsetsInitializer
from millstream.core.record import ProducerRecord
from millstream.log.kafka import KafkaLog

pytestmark = pytest.mark.kafka

BUFFER_TIMEOUT_MS = 5000


def start_map_job(servers: str, props: dict[str, str], src: str, dst: str) -> Any:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_buffer_timeout(BUFFER_TIMEOUT_MS)
    source = (
        KafkaSource.builder()
        .set_bootstrap_servers(servers)
        .set_properties(props)
        .set_topics(src)
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_value_format("json")
        .build()
    )
    sink_builder = KafkaSink.builder().set_bootstrap_servers(servers).set_topic(dst)
    for k, v in props.items():
        sink_builder.set_property(k, v)
    sink = sink_builder.build()
    env.from_source(source, WatermarkStrategy.no_watermarks(), "in").map(lambda e: {**e, "hop": 1}).sink_to(sink)
    return env.execute_async("wake on data")


def read_next(log: KafkaLog, topic: str, offset: int, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = log.read(topic, 0, offset, max_records=1, timeout_ms=100)
        if got:
            return orjson.loads(got[0].value)
    raise AssertionError(f"no record at {topic}[0] offset {offset} within {timeout_s} s")


def test_a_record_produced_to_an_idle_job_arrives_before_the_buffer_timeout(
    kafka_log: KafkaLog, kafka_topic: Any, servers: str, client_props: dict[str, str]
) -> None:
    src, dst = kafka_topic("wake-in"), kafka_topic("wake-out")
    kafka_log.create_topic(src)
    kafka_log.create_topic(dst)
    kafka_log.append(src, 0, [ProducerRecord(orjson.dumps({"i": 0}))])
    client = start_map_job(servers, client_props, src, dst)
    try:
        assert read_next(kafka_log, dst, 0) == {"i": 0, "hop": 1}  # clients connected, job running
        reader = client.runner.drivers[0].reader
        assert reader.wakes_on_data  # the job waits in the source's consumer, not in a sleep
        took = []
        for i in range(1, 4):
            time.sleep(0.3)  # the job is idle again, inside a 5 s wait
            sent = time.monotonic()
            kafka_log.append(src, 0, [ProducerRecord(orjson.dumps({"i": i}))])
            assert read_next(kafka_log, dst, i) == {"i": i, "hop": 1}
            took.append(time.monotonic() - sent)
        assert max(took) < 2.0, took  # a job sleeping its buffer timeout would take up to 5 s each
    finally:
        client.cancel()


def test_cancel_is_not_held_up_by_the_blocked_poll(
    kafka_log: KafkaLog, kafka_topic: Any, servers: str, client_props: dict[str, str]
) -> None:
    src, dst = kafka_topic("wake-cancel-in"), kafka_topic("wake-cancel-out")
    kafka_log.create_topic(src)
    kafka_log.create_topic(dst)
    kafka_log.append(src, 0, [ProducerRecord(orjson.dumps({"i": 0}))])
    client = start_map_job(servers, client_props, src, dst)
    read_next(kafka_log, dst, 0)
    time.sleep(0.3)  # waiting on the source (5 s buffer timeout)
    started = time.monotonic()
    client.cancel()
    assert client.get_job_status() == "CANCELED"
    assert time.monotonic() - started < 2.0  # the wait is sliced (0.1 s), closing the clients takes the rest
