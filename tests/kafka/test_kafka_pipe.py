"""``KafkaLog.values_pipe`` on the test broker: a partition piped into a topic writes each record's converted value
with its timestamp in one call a round; a batch it cannot write is handed back as values; a failing conversion is
handed to ``failed``, which raises or gives the value to write instead; a producer's error is raised as a write's."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import kafka
from millstream.core.errors import MillstreamError, UnknownTopicError
from millstream.core.record import ProducerRecord, Record
from millstream.log.columns import ValuesPipes
from millstream.log.kafka import KafkaLog

pytestmark = pytest.mark.kafka


def _append(log: KafkaLog, topic: str, values: list[bytes | None], first_ts: int = 1000) -> None:
    log.append(topic, 0, [ProducerRecord(v, None, first_ts + 1000 * i) for i, v in enumerate(values)])


def _written(log: KafkaLog, topic: str, partition: int = 0) -> list[tuple[Any, int]]:
    log.flush_writes()
    return [(r.value, r.timestamp) for r in log.read(topic, partition, 0)]


_upper = (bytes.upper,)  # (the functions each value goes through)


def _no_failure(exc: Exception, i: int, record: Record) -> Any:
    raise AssertionError(f"no failure expected, got {exc!r} at {i}")


@pytest.fixture
def topics(kafka_log: KafkaLog, kafka_topic: Any) -> tuple[str, str]:
    src, dst = kafka_topic("pipe-in"), kafka_topic("pipe-out")
    kafka_log.create_topic(src, 1)
    kafka_log.create_topic(dst, 2)
    return src, dst


def test_a_pipe_writes_each_records_converted_value_with_its_timestamp(kafka_log, topics):
    src, dst = topics
    assert isinstance(kafka_log, ValuesPipes)
    _append(kafka_log, src, [b"a", b"b", b"c"])
    pipe = kafka_log.values_pipe(kafka_log.partition_columns(src, 0), dst, _upper, _no_failure)
    assert pipe is not None
    assert pipe(0, 10, 10.0, 1) == (3, 3, None, None)
    assert _written(kafka_log, dst, 1) == [(b"A", 1000), (b"B", 2000), (b"C", 3000)]
    assert pipe(3, 10, 0.2, 1) == (3, 0, [], [])  # the tail: nothing, after the wait
    threading.Timer(0.3, lambda: _append(kafka_log, src, [b"d"], 9000)).start()
    assert pipe(3, 10, 10.0, 0) == (4, 1, None, None)  # records that arrive during the wait
    assert _written(kafka_log, dst, 0) == [(b"D", 9000)]
    assert pipe(1, 1, 10.0, 0) == (2, 1, None, None)  # another offset, at most max_records
    assert _written(kafka_log, dst, 0) == [(b"D", 9000), (b"B", 2000)]


def test_a_pipe_hands_back_what_a_write_would_refuse_or_the_queue_might_not_take(
    kafka_log, kafka_bootstrap, kafka_properties, topics
):
    """Nothing is written, and the records come back as ``poll_values`` returns them: a timestamp a write does not
    take (librdkafka reads 0 as "now"), or a producer without room for the whole batch."""
    src, dst = topics
    producer = kafka.KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=0)  # (it writes 0)
    try:
        for value, ts in ((b"a", 0), (b"b", 1000)):
            producer.send(src, value=value, partition=0, timestamp_ms=ts).get(timeout=30)
    finally:
        producer.close()
    pipe = kafka_log.values_pipe(kafka_log.partition_columns(src, 0), dst, _upper, _no_failure)
    assert pipe is not None
    assert pipe(0, 10, 10.0, 0) == (2, 2, [b"a", b"b"], [0, 1000])
    assert _written(kafka_log, dst, 0) == []
    _append(kafka_log, src, [b"c", b"d", b"e"], 5000)
    small = {**kafka_properties, "producer.queue.buffering.max.messages": "2"}  # room for 2 records
    with KafkaLog(kafka_bootstrap, properties=small) as log:
        pipe = log.values_pipe(log.partition_columns(src, 0), dst, _upper, _no_failure)
        assert pipe is not None
        assert pipe(2, 10, 10.0, 0) == (5, 3, [b"c", b"d", b"e"], [5000, 6000, 7000])
        assert pipe(2, 2, 10.0, 0) == (4, 2, None, None)  # two it has room for
        assert _written(log, dst, 0) == [(b"C", 5000), (b"D", 6000)]


def test_a_failed_conversion_is_handed_to_failed_which_raises_or_gives_the_value_to_write(kafka_log, topics):
    src, dst = topics
    _append(kafka_log, src, [b"a", None, b"c", b"d"])
    calls: list[tuple[str, int, Record]] = []

    def failed(exc: Exception, i: int, record: Record) -> Any:
        calls.append((type(exc).__name__, i, record))
        if record.value is None:
            return b"tombstone"  # written for that record, and the pipe goes on
        raise ValueError(f"record {i} failed")

    convert = (lambda v: v.upper() if v != b"d" else 1 / 0,)  # a tombstone has no upper()

    pipe = kafka_log.values_pipe(kafka_log.partition_columns(src, 0), dst, convert, failed)
    assert pipe is not None
    with pytest.raises(ValueError, match="record 3 failed"):
        pipe(0, 10, 10.0, 0)
    assert [(name, i, r.offset, r.value, r.timestamp) for name, i, r in calls] == [
        ("AttributeError", 1, 1, None, 2000),
        ("ZeroDivisionError", 3, 3, b"d", 4000),
    ]
    assert calls[0][2].topic == src and calls[0][2].partition == 0
    assert _written(kafka_log, dst, 0) == [(b"A", 1000), (b"tombstone", 2000), (b"C", 3000)]  # those before it


def test_a_producers_error_is_raised_as_a_writes(kafka_bootstrap, kafka_properties, kafka_topic):
    """A value the producer refuses (larger than ``message.max.bytes``) fails the round as a write fails, naming
    the partition; the conversion is not blamed (``failed`` is not called)."""
    src, dst = kafka_topic("pipe-big-in"), kafka_topic("pipe-big-out")
    props = {**kafka_properties, "producer.message.max.bytes": "2000"}
    with KafkaLog(kafka_bootstrap, properties=props) as log:
        log.create_topic(src, 1)
        log.create_topic(dst, 1)
        _append(log, src, [b"a", b"b"])
        pipe = log.values_pipe(log.partition_columns(src, 0), dst, (lambda v: v * 5000,), _no_failure)
        assert pipe is not None
        with pytest.raises(MillstreamError, match=rf"appending to {dst}\[0\]: a record is too large"):
            pipe(0, 10, 10.0, 0)


def test_a_pipe_is_only_of_a_kafka_partition_handle_into_a_topic_that_exists(kafka_log, topics):
    src, _ = topics

    class NotAHandle:
        pass

    assert kafka_log.values_pipe(NotAHandle(), src, _upper, _no_failure) is None  # type: ignore[arg-type]
    with pytest.raises(UnknownTopicError):
        kafka_log.values_pipe(kafka_log.partition_columns(src, 0), "no-such-topic-x", _upper, _no_failure)
