"""KafkaLog against a real Kafka-protocol broker: topics, appends, reads, offsets, partitioning, errors."""

from __future__ import annotations

import threading
import time

import orjson
import pytest

from millstream.core.clock import ManualClock
from millstream.core.errors import (
    ConfigError,
    InvalidOffsetError,
    OffsetOutOfRangeError,
    TopicExistsError,
    UnknownPartitionError,
    UnknownTopicError,
)
from millstream.core.record import ProducerRecord, Record, TopicPartition
from millstream.log import open_log
from millstream.log.kafka import KafkaLog
from millstream.log.partitioner import partition_for_key
from tests.fixtures.kafka_broker import skip_on_tansu

pytestmark = pytest.mark.kafka


def test_topics_create_describe_list_delete(kafka_log, kafka_topic):
    name = kafka_topic("orders")
    desc = kafka_log.create_topic(name, 3, {"retention.ms": 60_000})
    assert (desc.name, desc.partitions, desc.config["retention.ms"]) == (name, 3, "60000")
    assert name in kafka_log.list_topics()
    assert kafka_log.list_topics() == sorted(kafka_log.list_topics())
    described = kafka_log.describe_topic(name)
    assert described.partitions == 3
    assert described.config["retention.ms"] == "60000"
    assert described.config["cleanup.policy"] == "delete"
    assert described.replication_factor == 1
    assert kafka_log.has_topic(name)

    with pytest.raises(TopicExistsError, match=name):
        kafka_log.create_topic(name, 3)
    assert kafka_log.create_topic(name, 1, exist_ok=True).partitions == 3

    kafka_log.delete_topic(name)
    assert name not in kafka_log.list_topics()
    assert not kafka_log.has_topic(name)
    with pytest.raises(UnknownTopicError, match=name):
        kafka_log.describe_topic(name)
    with pytest.raises(UnknownTopicError):
        kafka_log.delete_topic(name)


def test_bad_topic_arguments_are_rejected_before_the_cluster(kafka_log):
    with pytest.raises(ConfigError):
        kafka_log.create_topic("bad name!", 1)
    with pytest.raises(ConfigError):
        kafka_log.create_topic("ok-name", 0)
    with pytest.raises(ConfigError):
        kafka_log.create_topic("ok-name", 1, {"retention.ms": "soon"})
    assert "ok-name" not in kafka_log.list_topics()


def test_unknown_topics_are_not_auto_created(kafka_log, kafka_topic):
    name = kafka_topic("ghost")
    with pytest.raises(UnknownTopicError):
        kafka_log.append(name, 0, [ProducerRecord(b"x")])
    with pytest.raises(UnknownTopicError):
        kafka_log.read(name, 0, 0)
    with pytest.raises(UnknownTopicError):
        kafka_log.latest_offset(name, 0)
    with pytest.raises(UnknownTopicError):
        kafka_log.produce(name, [ProducerRecord(b"x", b"k")])
    assert name not in kafka_log.list_topics()


def test_append_and_read_keep_keys_values_headers_timestamps(kafka_log, kafka_topic):
    name = kafka_topic("rec")
    kafka_log.create_topic(name, 2)
    batch = [
        ProducerRecord(b"v0", b"k0", 1_000, (("trace", b"abc"), ("trace", b"def"))),
        ProducerRecord(None, b"k1", 2_000),  # tombstone
        ProducerRecord(b"v2", None, 3_000, (("empty", None),)),
    ]
    assert kafka_log.append(name, 1, batch) == 0
    assert kafka_log.append(name, 1, [ProducerRecord(b"v3", b"k3", 4_000)]) == 3
    records = kafka_log.read(name, 1, 0)
    assert records == [
        Record(name, 1, 0, 1_000, b"k0", b"v0", (("trace", b"abc"), ("trace", b"def"))),
        Record(name, 1, 1, 2_000, b"k1", None, ()),
        Record(name, 1, 2, 3_000, None, b"v2", (("empty", None),)),
        Record(name, 1, 3, 4_000, b"k3", b"v3", ()),
    ]
    assert kafka_log.read(name, 0, 0) == []
    assert kafka_log.read(name, 1, 4) == []


def test_records_without_timestamp_get_the_log_clock(kafka_bootstrap, kafka_properties, kafka_topic):
    clock = ManualClock(1_700_000_000_000)
    with KafkaLog(kafka_bootstrap, properties=kafka_properties, clock=clock) as log:
        name = kafka_topic("clock")
        log.create_topic(name)
        log.append(name, 0, [ProducerRecord(b"a")])
        assert log.read(name, 0, 0)[0].timestamp == 1_700_000_000_000
    with KafkaLog(kafka_bootstrap, properties=kafka_properties) as log:
        before = int(time.time() * 1000)
        log.append(name, 0, [ProducerRecord(b"b")])
        ts = log.read(name, 0, 1)[0].timestamp
        assert before - 5_000 <= ts <= int(time.time() * 1000) + 5_000


def test_random_access_reads_honour_offset_max_records_and_max_bytes(kafka_log, kafka_topic):
    name = kafka_topic("ra")
    kafka_log.create_topic(name)
    kafka_log.append(name, 0, [ProducerRecord(b"%03d" % i) for i in range(100)])
    assert [r.offset for r in kafka_log.read(name, 0, 0, max_records=10)] == list(range(10))
    assert [r.offset for r in kafka_log.read(name, 0, 10, max_records=5)] == list(range(10, 15))
    assert [r.offset for r in kafka_log.read(name, 0, 50, max_records=3)] == [50, 51, 52]
    assert [r.offset for r in kafka_log.read(name, 0, 7, max_records=2)] == [7, 8]
    # max_bytes: past the first record, at most about max_bytes of keys + values (3 bytes each here)
    got = kafka_log.read(name, 0, 20, max_bytes=9)
    assert [r.offset for r in got] == [20, 21, 22]
    assert [r.offset for r in kafka_log.read(name, 0, 23, max_records=2)] == [23, 24]
    assert [r.offset for r in kafka_log.read(name, 0, 99)] == [99]
    everything = []
    offset = 0
    while True:
        batch = kafka_log.read(name, 0, offset, max_records=17)
        if not batch:
            break
        everything.extend(batch)
        offset = batch[-1].offset + 1
    assert [r.value for r in everything] == [b"%03d" % i for i in range(100)]


def test_read_waits_up_to_timeout_for_new_records(kafka_log, kafka_topic):
    name = kafka_topic("wait")
    kafka_log.create_topic(name)
    start = time.monotonic()
    assert kafka_log.read(name, 0, 0, timeout_ms=300) == []
    assert time.monotonic() - start >= 0.29

    def later() -> None:
        time.sleep(0.3)
        kafka_log.append(name, 0, [ProducerRecord(b"late")])

    t = threading.Thread(target=later)
    t.start()
    got = kafka_log.read(name, 0, 0, timeout_ms=10_000)
    t.join()
    assert [r.value for r in got] == [b"late"]


def test_read_argument_errors(kafka_log, kafka_topic):
    name = kafka_topic("args")
    kafka_log.create_topic(name, 2)
    with pytest.raises(InvalidOffsetError):
        kafka_log.read(name, 0, -1)
    with pytest.raises(UnknownPartitionError, match="partition 2"):
        kafka_log.read(name, 2, 0)
    with pytest.raises(UnknownPartitionError):
        kafka_log.append(name, 5, [ProducerRecord(b"x")])


def test_read_past_the_log_end_raises(kafka_log, kafka_topic, kafka_on_tansu):
    skip_on_tansu(kafka_on_tansu, "out_of_range")
    name = kafka_topic("oor")
    kafka_log.create_topic(name)
    kafka_log.append(name, 0, [ProducerRecord(b"a")])
    with pytest.raises(OffsetOutOfRangeError):
        kafka_log.read(name, 0, 5)


def test_earliest_and_latest_offsets(kafka_log, kafka_topic):
    name = kafka_topic("wm")
    kafka_log.create_topic(name)
    assert (kafka_log.earliest_offset(name, 0), kafka_log.latest_offset(name, 0)) == (0, 0)
    for i in range(3):  # single-record appends: exact on every broker (Tansu lags after multi-record batches)
        kafka_log.append(name, 0, [ProducerRecord(b"%d" % i)])
    assert (kafka_log.earliest_offset(name, 0), kafka_log.latest_offset(name, 0)) == (0, 3)


def test_latest_offset_after_a_multi_record_batch(kafka_log, kafka_topic, kafka_on_tansu):
    skip_on_tansu(kafka_on_tansu, "high_watermark")
    name = kafka_topic("wm2")
    kafka_log.create_topic(name)
    kafka_log.append(name, 0, [ProducerRecord(b"%d" % i) for i in range(5)])
    assert kafka_log.latest_offset(name, 0) == 5


def test_offset_for_timestamp_is_exact(kafka_log, kafka_topic):
    name = kafka_topic("ts")
    kafka_log.create_topic(name)
    kafka_log.append(name, 0, [ProducerRecord(b"a", None, 100), ProducerRecord(b"b", None, 200)])
    kafka_log.append(name, 0, [ProducerRecord(b"c", None, 300), ProducerRecord(b"d", None, 400)])
    assert kafka_log.offset_for_timestamp(name, 0, 0) == 0
    assert kafka_log.offset_for_timestamp(name, 0, 100) == 0
    assert kafka_log.offset_for_timestamp(name, 0, 150) == 1
    assert kafka_log.offset_for_timestamp(name, 0, 300) == 2
    assert kafka_log.offset_for_timestamp(name, 0, 301) == 3
    assert kafka_log.offset_for_timestamp(name, 0, 401) is None


def test_produce_places_keys_with_kafkas_murmur2_partitioner(kafka_log, kafka_topic):
    name = kafka_topic("keys")
    kafka_log.create_topic(name, 6)
    keys = [b"user-%d" % i for i in range(60)]
    placed = kafka_log.produce(name, [ProducerRecord(b"v", k) for k in keys])
    assert [p for p, _ in placed] == [partition_for_key(k, 6) for k in keys]
    for (p, off), k in zip(placed, keys, strict=True):
        (rec,) = kafka_log.read(name, p, off, max_records=1)
        assert rec.key == k
    # keyless records go round-robin; an explicit partition wins
    spread = kafka_log.produce(name, [ProducerRecord(b"x") for _ in range(12)])
    assert sorted(p for p, _ in spread) == sorted(list(range(6)) * 2)
    assert kafka_log.produce(name, [ProducerRecord(b"y", b"user-1", partition=5)])[0][0] == 5
    with pytest.raises(UnknownPartitionError):
        kafka_log.produce(name, [ProducerRecord(b"z", partition=9)])


def test_open_log_with_a_kafka_url(kafka_bootstrap, kafka_properties, kafka_topic):
    with open_log(f"kafka://{kafka_bootstrap}", properties=kafka_properties) as log:
        assert isinstance(log, KafkaLog)
        assert log.url == f"kafka://{kafka_bootstrap}"
        name = kafka_topic("url")
        log.create_topic(name)
        log.append(name, 0, [ProducerRecord(b"hello")])
        assert [r.value for r in log.read(name, 0, 0)] == [b"hello"]


def test_large_batches_round_trip(kafka_log, kafka_topic):
    name = kafka_topic("big")
    kafka_log.create_topic(name, 2)
    n = 20_000
    kafka_log.produce(name, [ProducerRecord(b"%d" % i, b"k%d" % (i % 50)) for i in range(n)])
    total = 0
    for p in range(2):
        offset = 0
        while True:
            batch = kafka_log.read(name, p, offset)
            if not batch:
                break
            total += len(batch)
            offset = batch[-1].offset + 1
    assert total == n


def test_append_nowait_goes_on_when_the_local_queue_is_full(kafka_bootstrap, kafka_properties, kafka_topic):
    """Headerless records go to librdkafka in one ``map``; a full local queue (10 messages here) makes the
    rest go one by one, serving delivery reports: every record arrives once, in order, with its timestamp
    and key, and headers still go through the per-record path."""
    topic = kafka_topic("full-queue")
    props = {**kafka_properties, "producer.queue.buffering.max.messages": 10}
    with KafkaLog(kafka_bootstrap, properties=props, timeout_ms=15_000) as log:
        log.create_topic(topic)
        plain = [ProducerRecord(b"v%d" % i, b"k%d" % i if i % 2 else None, 1_600_000_000_000 + i) for i in range(300)]
        log.append_nowait(topic, 0, plain)
        log.append_nowait(topic, 0, [ProducerRecord(b"h", None, 1_600_000_000_999, (("a", b"1"),))])
        log.flush_writes()
        got = []
        while len(got) < 301:
            recs = log.read(topic, 0, len(got), timeout_ms=5000)
            assert recs, f"only {len(got)} of 301 records arrived"
            got.extend(recs)
    assert [(r.value, r.key, r.timestamp) for r in got[:300]] == [(r.value, r.key, r.timestamp) for r in plain]
    assert (got[300].value, got[300].headers) == (b"h", (("a", b"1"),))


def test_append_values_nowait_writes_columns(kafka_bootstrap, kafka_properties, kafka_topic):
    """The sinks' column hook: keyless records from values and timestamps (``None``: the append time), in
    order, also past a full local queue (10 messages here); a timestamp librdkafka would misread is refused
    before anything is queued."""
    topic = kafka_topic("columns")
    props = {**kafka_properties, "producer.queue.buffering.max.messages": 10}
    with KafkaLog(kafka_bootstrap, properties=props, timeout_ms=15_000) as log:
        log.create_topic(topic)
        values = [b"v%d" % i for i in range(200)]
        tss: list[int | None] = [1_600_000_000_000 + i for i in range(200)]
        log.append_values_nowait(topic, 0, values[:100], tss[:100])
        tss[150] = None
        before = int(time.time() * 1000)
        log.append_values_nowait(topic, 0, values[100:], tss[100:])
        with pytest.raises(ConfigError, match="record timestamp 0"):
            log.append_values_nowait(topic, 0, [b"bad", b"bad"], [5, 0])
        log.flush_writes()
        got = []
        while len(got) < 200:
            recs = log.read(topic, 0, len(got), timeout_ms=5000)
            assert recs, f"only {len(got)} of 200 records arrived"
            got.extend(recs)
        assert log.latest_offset(topic, 0) == 200
    assert [r.value for r in got] == values
    assert [r.key for r in got] == [None] * 200
    assert [r.timestamp for i, r in enumerate(got) if i != 150] == [t for i, t in enumerate(tss) if i != 150]
    assert got[150].timestamp >= before


def test_append_values_nowait_serializes_elements_as_it_produces(kafka_bootstrap, kafka_properties, kafka_topic):
    """With ``serialize`` the column hook takes elements and serializes each as the producer takes it, in order,
    also past a full local queue (10 messages here); a serializer's exception is raised as it is, the elements
    before the failing one queued."""
    topic = kafka_topic("columns-serialize")
    props = {**kafka_properties, "producer.queue.buffering.max.messages": 10}
    elements = [{"i": i} for i in range(100)]
    with KafkaLog(kafka_bootstrap, properties=props, timeout_ms=15_000) as log:
        log.create_topic(topic)
        log.append_values_nowait(topic, 0, elements, [1_600_000_000_000 + i for i in range(100)], orjson.dumps)
        with pytest.raises(TypeError):
            log.append_values_nowait(topic, 0, [{"i": 100}, {"i": {1}}], [5, 6], orjson.dumps)
        log.flush_writes()
        got = []
        while len(got) < 101:
            recs = log.read(topic, 0, len(got), timeout_ms=5000)
            assert recs, f"only {len(got)} of 101 records arrived"
            got.extend(recs)
    assert [orjson.loads(r.value) for r in got] == [*elements, {"i": 100}]
    assert [r.timestamp for r in got] == [1_600_000_000_000 + i for i in range(100)] + [5]


def test_wait_for_records_on_more_partitions_than_cached_readers(kafka_bootstrap, kafka_properties, kafka_topic):
    """Waiting on more partitions than the log keeps readers for would close one reader to open the next:
    the wait sleeps the timeout instead and says there may be records, and reads go on as usual."""
    topic = kafka_topic("wait-many")
    with KafkaLog(kafka_bootstrap, properties=kafka_properties, readers=2) as log:
        log.create_topic(topic, 3)
        for p in range(3):
            log.append(topic, p, [ProducerRecord(b"v%d" % p)])
        positions = {TopicPartition(topic, p): 1 for p in range(3)}
        started = time.monotonic()
        assert log.wait_for_records(positions, 200) is True
        assert 0.15 <= time.monotonic() - started < 5
        assert [r.value for p in range(3) for r in log.read(topic, p, 0, timeout_ms=5000)] == [b"v0", b"v1", b"v2"]
        two = {TopicPartition(topic, p): 1 for p in range(2)}  # as many as cached: a real wait, nothing new
        assert log.wait_for_records(two, 200) is False


def test_a_partition_handle_reads_and_waits_as_the_log_does_and_outlives_eviction(
    kafka_bootstrap, kafka_properties, kafka_topic
):
    """``partition_columns`` (what a job's one-partition source reads through) gives the columns of
    ``read_values`` and wakes as ``wait_for_records`` does; when the log's reader pool evicts its reader (more
    partitions read than it keeps), the handle goes on with a new one. An unknown partition is refused at once."""
    from millstream.log.columns import ColumnReads

    topic = kafka_topic("handle")
    with KafkaLog(kafka_bootstrap, properties=kafka_properties, readers=1) as log:
        assert isinstance(log, ColumnReads)
        log.create_topic(topic, 2)
        log.append(topic, 0, [ProducerRecord(b"a", None, 1000), ProducerRecord(b"b", None, 2000)])
        log.append(topic, 1, [ProducerRecord(b"x", None, 3000)])
        with pytest.raises(UnknownPartitionError):
            log.partition_columns(topic, 5)
        handle = log.partition_columns(topic, 0)
        assert handle.wait(0, 10.0) is True
        assert handle.read_values(0, 10, None) == (2, [b"a", b"b"], [1000, 2000])
        assert handle.wait(2, 0.2) is False  # nothing new
        assert [r.value for r in log.read(topic, 1, 0, timeout_ms=5000)] == [b"x"]  # evicts partition 0's reader
        log.append(topic, 0, [ProducerRecord(b"c", None, 4000)])
        assert handle.wait(2, 10.0) is True
        assert handle.read_values(2, 10, None) == (3, [b"c"], [4000])
        assert handle.read_values(0, 1, None) == (1, [b"a"], [1000])  # any offset, as read_values


def test_a_partition_handle_polls_as_a_wait_then_a_read(kafka_bootstrap, kafka_properties, kafka_topic):
    """``poll_values`` (a job's tailing source: one call a round) returns what ``wait`` and then ``read_values``
    return: the records there, nothing at the tail once the wait has timed out, records appended during the wait;
    from any other offset, and before a stop, as ``read_values`` reads."""
    topic = kafka_topic("poll")
    with KafkaLog(kafka_bootstrap, properties=kafka_properties) as log:
        log.create_topic(topic, 1)
        log.append(topic, 0, [ProducerRecord(b"a", None, 1000), ProducerRecord(b"b", None, 2000)])
        handle = log.partition_columns(topic, 0)
        assert handle.poll_values(0, 10, None, 10.0) == (2, [b"a", b"b"], [1000, 2000])
        started = time.monotonic()
        assert handle.poll_values(2, 10, None, 0.3) == (2, [], [])  # the tail
        assert time.monotonic() - started >= 0.25  # (an end-of-partition event on the way ends no wait)
        threading.Timer(0.3, lambda: log.append(topic, 0, [ProducerRecord(b"c", None, 3000)])).start()
        assert handle.poll_values(2, 10, None, 10.0) == (3, [b"c"], [3000])
        assert handle.poll_values(0, 1, None, 10.0) == (1, [b"a"], [1000])  # another offset: positioned there
        assert handle.poll_values(1, 10, 2, 10.0) == (2, [b"b"], [2000])  # a stop: nothing from it on
