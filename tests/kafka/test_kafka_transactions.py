"""Kafka transactions through the Log API: atomic appends + offset commits, read_committed isolation.

Tansu keeps aborted records visible to read_committed consumers, so abort isolation is proven only on a
real Kafka (``MILLSTREAM_TEST_KAFKA``); what Tansu does support (invisible until commit, offsets committed
with the records, aborting before delivery) runs everywhere.
"""

from __future__ import annotations

import pytest

from millstream.core.errors import TransactionError, UnknownTopicError
from millstream.core.record import ProducerRecord, TopicPartition
from millstream.log.kafka import KafkaLog
from tests.fixtures.kafka_broker import skip_on_tansu

pytestmark = pytest.mark.kafka


def test_commit_makes_records_and_offsets_visible_together(kafka_log, kafka_topic):
    src, out, group = kafka_topic("src"), kafka_topic("out"), kafka_topic("group")
    kafka_log.create_topic(src)
    kafka_log.create_topic(out, 2)
    kafka_log.append(src, 0, [ProducerRecord(b"in")])
    txn = kafka_log.transaction("tx-" + out)
    txn.append(out, 0, [ProducerRecord(b"a", b"k"), ProducerRecord(b"b", b"k")])
    txn.append(out, 1, [ProducerRecord(b"c", None, 1234, (("h", b"1"),))])
    txn.commit_offsets(group, {TopicPartition(src, 0): 1})
    txn.flush()  # the records are on the broker, inside the open Kafka transaction
    # nothing is visible to read_committed readers before the commit
    assert kafka_log.read(out, 0, 0, timeout_ms=200) == []
    assert kafka_log.committed_offsets(group) == {}
    assert txn.commit() == [0, 0]
    assert [r.value for r in kafka_log.read(out, 0, 0)] == [b"a", b"b"]
    (c,) = kafka_log.read(out, 1, 0)
    assert (c.value, c.timestamp, c.headers) == (b"c", 1234, (("h", b"1"),))
    assert kafka_log.committed_offsets(group) == {TopicPartition(src, 0): 1}


def test_context_manager_commits_and_the_id_is_reused(kafka_log, kafka_topic):
    out = kafka_log.create_topic(kafka_topic("out")).name
    for i in range(3):
        with kafka_log.transaction("tx-reuse-" + out) as txn:
            txn.append(out, 0, [ProducerRecord(b"%d" % i)])
    values = []
    offset = 0
    while batch := kafka_log.read(out, 0, offset):
        values.extend(r.value for r in batch)
        offset = batch[-1].offset + 1
    assert values == [b"0", b"1", b"2"]


def test_abort_before_sending_leaves_no_trace(kafka_log, kafka_topic):
    out = kafka_log.create_topic(kafka_topic("out")).name
    txn = kafka_log.transaction()
    txn.append(out, 0, [ProducerRecord(b"buffered")])
    txn.abort()
    assert kafka_log.latest_offset(out, 0) == 0
    with kafka_log.transaction() as txn:
        txn.append(out, 0, [ProducerRecord(b"first")])
    assert [(r.offset, r.value) for r in kafka_log.read(out, 0, 0)] == [(0, b"first")]


def test_deleted_target_fails_the_commit_and_sends_nothing(kafka_log, kafka_topic):
    keep, doomed = kafka_log.create_topic(kafka_topic("keep")).name, kafka_log.create_topic(kafka_topic("doomed")).name
    txn = kafka_log.transaction()
    txn.append(keep, 0, [ProducerRecord(b"a")])
    txn.append(doomed, 0, [ProducerRecord(b"b")])
    kafka_log.delete_topic(doomed)
    with pytest.raises(TransactionError, match=doomed):
        txn.commit()
    assert kafka_log.latest_offset(keep, 0) == 0


def test_exception_in_block_aborts_unsent_records(kafka_log, kafka_topic):
    out = kafka_log.create_topic(kafka_topic("out")).name
    with pytest.raises(RuntimeError), kafka_log.transaction() as txn:
        txn.append(out, 0, [ProducerRecord(b"never")])
        raise RuntimeError("boom")
    with kafka_log.transaction() as txn:
        txn.append(out, 0, [ProducerRecord(b"kept")])
    assert [r.value for r in kafka_log.read(out, 0, 0)] == [b"kept"]


def test_aborted_records_stay_invisible(kafka_log, kafka_topic, kafka_on_tansu):
    skip_on_tansu(kafka_on_tansu, "aborted")
    out = kafka_log.create_topic(kafka_topic("out")).name
    txn = kafka_log.transaction()
    txn.append(out, 0, [ProducerRecord(b"aborted")])
    txn.flush()  # delivered to the broker, then aborted
    txn.abort()
    with kafka_log.transaction() as txn:
        txn.append(out, 0, [ProducerRecord(b"committed")])
    assert [r.value for r in kafka_log.read(out, 0, 0)] == [b"committed"]


def test_transaction_errors_are_clear(kafka_log, kafka_topic):
    out = kafka_log.create_topic(kafka_topic("out")).name
    txn = kafka_log.transaction("tx-err-" + out)
    with pytest.raises(TransactionError, match="state key"):
        txn.put_state("", b"v")
    with pytest.raises(TransactionError, match="already open"):
        kafka_log.transaction("tx-err-" + out)
    with pytest.raises(UnknownTopicError):
        txn.append(kafka_topic("missing"), 0, [ProducerRecord(b"x")])
    txn.abort()
    with pytest.raises(TransactionError, match="already been committed or aborted"):
        txn.commit()
    with kafka_log.transaction("tx-err-" + out) as again:  # the id is free again
        again.append(out, 0, [ProducerRecord(b"ok")])
    assert [r.value for r in kafka_log.read(out, 0, 0)] == [b"ok"]


def test_consume_transform_produce_with_a_group_member(kafka_log, kafka_topic):
    """Offsets go into the transaction with the live member's group metadata (fencing zombies)."""
    src, out, group = kafka_topic("src"), kafka_topic("out"), kafka_topic("group")
    kafka_log.create_topic(src)
    kafka_log.create_topic(out)
    for i in range(3):
        kafka_log.append(src, 0, [ProducerRecord(b"%d" % i)])
    with kafka_log.consumer(group, commit_on_close=False) as consumer:
        consumer.assign([TopicPartition(src, 0)])
        got = []
        while len(got) < 3:
            got.extend(consumer.poll(timeout_ms=200))
        with kafka_log.transaction("tx-ctp-" + out) as txn:
            txn.append(out, 0, [ProducerRecord(r.value * 2) for r in got])
            txn.commit_offsets(group, {TopicPartition(src, 0): got[-1].offset + 1})
    assert [r.value for r in kafka_log.read(out, 0, 0)] == [b"00", b"11", b"22"]
    assert kafka_log.committed_offsets(group) == {TopicPartition(src, 0): 3}


def test_state_blobs_commit_with_the_transaction(kafka_log, kafka_topic):
    """``put_state`` writes to the compacted ``__millstream_state`` topic inside the transaction;
    ``get_state`` returns the last committed value (a tombstone deletes it)."""
    out = kafka_log.create_topic(kafka_topic("out")).name
    key = kafka_topic("state-key")
    assert kafka_log.get_state(key) is None
    with kafka_log.transaction() as txn:
        txn.append(out, 0, [ProducerRecord(b"r")])
        txn.put_state(key, b"one")
    assert kafka_log.get_state(key) == b"one"
    txn = kafka_log.transaction()
    txn.put_state(key, b"never")
    txn.abort()  # aborted before anything was sent
    assert kafka_log.get_state(key) == b"one"
    with kafka_log.transaction() as txn:
        txn.put_state(key, b"two")
        txn.put_state(key + "-other", b"x")
    assert kafka_log.get_state(key) == b"two"
    with kafka_log.transaction() as txn:
        txn.put_state(key, None)
    assert kafka_log.get_state(key) is None
    assert kafka_log.get_state(key + "-other") == b"x"
    assert "__millstream_state" not in kafka_log.list_topics()


def test_get_state_reads_on_from_where_it_stopped_and_sees_every_later_commit(kafka_bootstrap, kafka_topic):
    """``get_state`` keeps what it has read of ``__millstream_state`` and reads only the records after it: values
    committed later by another client are seen, a transaction still open is not (and its value is once it
    commits: the read does not move past it), and a key read before keeps its value."""
    key, other = kafka_topic("inc-key"), kafka_topic("inc-other")
    with KafkaLog(kafka_bootstrap) as reader, KafkaLog(kafka_bootstrap) as writer:
        with writer.transaction() as txn:
            txn.put_state(key, b"one")
        assert reader.get_state(key) == b"one"
        kept = reader._state_next
        with writer.transaction() as txn:
            txn.put_state(key, b"two")
        assert reader.get_state(key) == b"two"
        assert reader._state_next > kept  # read on, not from the start
        pending = writer.transaction()
        pending.put_state(other, b"open")
        pending.flush()  # on the broker, not committed
        assert reader.get_state(other) is None
        pending.commit()
        assert reader.get_state(other) == b"open"
        assert reader.get_state(key) == b"two"
