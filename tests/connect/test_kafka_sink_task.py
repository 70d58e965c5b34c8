"""A Connect sink task on ``kafka://`` joins its connector's consumer group as Kafka Connect's does: a join that
takes long is waited for (the task stays RUNNING and its polls go on joining), and stopping the task ends the
wait at once (the consumer's ``wakeup()``), so a worker's shutdown is not held by a join in progress."""

from __future__ import annotations

import time

import pytest

from millstream.connect.herder import Herder
from millstream.core.record import ProducerRecord
from millstream.log.kafka import KafkaLog

from .helpers import wait_until

pytestmark = pytest.mark.kafka

WORKER = {
    "offset.flush.interval.ms": "200",
    "task.shutdown.graceful.timeout.ms": "8000",  # (closing a member mid-join waits up to 5 s in librdkafka)
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    "consumer.heartbeat.interval.ms": "500",
}


def _sink_task(h: Herder, name: str) -> object:
    with h._lock:
        return h._connectors[name].tasks.get(0)


def test_a_sink_task_whose_group_join_outlasts_the_log_timeout_keeps_joining(kafka_bootstrap, kafka_topic, tmp_path):
    """The group's first assignment comes after the log's timeout (a 1 s join on Tansu, 3 s on Kafka, against
    300 ms): the task does not fail; once the group assigns the partition its records reach the file."""
    topic = kafka_topic("slow-join-sink")
    with KafkaLog(kafka_bootstrap) as setup:
        setup.create_topic(topic, 1)
        setup.append(topic, 0, [ProducerRecord(f"line-{i}".encode()) for i in range(50)])
    out = tmp_path / "out.txt"
    worker = {**WORKER, "consumer.session.timeout.ms": "2000", "consumer.auto.offset.reset": "earliest"}
    h = Herder(worker, KafkaLog(kafka_bootstrap, timeout_ms=300), worker_id="slow:0")
    h.start()
    try:
        name = kafka_topic("sink")
        h.create_connector(name, {"connector.class": "FileStreamSink", "file": str(out), "topics": topic})
        wait_until(lambda: out.exists() and len(out.read_text().split()) == 50, 60, "every line in the file")
        assert h.connector_status(name)["tasks"][0]["state"] == "RUNNING"
    finally:
        h.stop()


def test_stopping_a_sink_task_ends_its_group_join_at_once(kafka_bootstrap, kafka_topic, tmp_path):
    """A worker stopped while a sink task waits for its group's first assignment (10 s on Tansu, 3 s on Kafka):
    the task's thread has ended when the worker's stop returns, before its log closes (closing the consumer under
    the waiting thread hung a worker's SIGTERM)."""
    topic = kafka_topic("stop-joining-sink")
    with KafkaLog(kafka_bootstrap) as setup:
        setup.create_topic(topic, 1)
    worker = {**WORKER, "consumer.session.timeout.ms": "20000"}
    h = Herder(worker, KafkaLog(kafka_bootstrap), worker_id="stopping:0")
    h.start()
    name = kafka_topic("sink")
    try:
        h.create_connector(name, {"connector.class": "FileStreamSink", "file": str(tmp_path / "o"), "topics": topic})
        task = wait_until(lambda: _sink_task(h, name), 30, "the sink task")
        wait_until(lambda: getattr(task, "consumer", None) is not None, 30, "the task's consumer")
        time.sleep(0.3)  # (subscribed: waiting for the first assignment)
        assert task.is_alive()
    finally:
        h.stop()
    task.join(0)
    assert not task.is_alive()
