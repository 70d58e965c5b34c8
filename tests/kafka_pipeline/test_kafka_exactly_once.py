"""Exactly-once Kafka sinks with checkpoints on a real broker: one Kafka transaction per checkpoint holding
the sink output, the source group's offsets (``send_offsets_to_transaction``) and the checkpoint marker;
fencing of an older producer with the same transactional id; the transaction-timeout check; recovery from the
checkpoint whose marker committed.

Tansu keeps aborted records visible to ``read_committed`` consumers, so the isolation of *aborted* output
is asserted only on a real Kafka (``MILLSTREAM_TEST_KAFKA``); the rest runs on Tansu too.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from millstream import CheckpointingMode, StreamExecutionEnvironment
from millstream.connectors import DeliveryGuarantee, KafkaSink, KafkaSource, LogSink, OffsetsInitializer
from millstream.core.errors import CheckpointError, FencedError, TransactionError
from millstream.core.record import ProducerRecord, TopicPartition
from millstream.log.kafka import KafkaLog
from millstream.runtime.checkpoint_storage import CheckpointStorage
from millstream.runtime.kafka_exactly_once import transactional_id

from .conftest import BASE_TS, append_json, read_all

pytestmark = pytest.mark.kafka


def source(servers: str, props: dict[str, str], topic: str, group: str) -> Any:
    return (
        KafkaSource.builder()
        .set_bootstrap_servers(servers)
        .set_properties(props)
        .set_topics(topic)
        .set_group_id(group)
        .set_starting_offsets(OffsetsInitializer.committed_offsets())
        .set_bounded(OffsetsInitializer.latest())
        .build()
    )


def sink(servers: str, props: dict[str, str], topic: str, cls: Any = KafkaSink, **prop: str) -> Any:
    b = cls.builder().set_bootstrap_servers(servers).set_topic(topic).set_key_selector(lambda v: str(v["i"] % 7))
    for k, v in {**props, **prop}.items():
        b.set_property(k, v)
    return b.set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE).build()


def run_job(
    src: Any, snk: Any, chk: Path, job_id: str, interval_ms: int = 50, batch: int = 50, pause_ms: int = 0
) -> Any:
    """The job; with ``pause_ms``, its map pauses that long at the start of every batch, so that checkpoints
    fall between batches however fast the job runs."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(batch)
    env.enable_checkpointing(interval_ms, CheckpointingMode.EXACTLY_ONCE)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(chk))

    def double(v: Any) -> Any:
        if pause_ms and v["i"] % batch == 0:
            time.sleep(pause_ms / 1000)
        return {"i": v["i"], "x": v["i"] * 2}

    env.from_source(src, None, "src").uid("src").map(double).uid("m").sink_to(snk).uid("out")
    return env.execute("eo", job_id=job_id)


def values(log: KafkaLog, topic: str, partitions: int) -> list[int]:
    return sorted(orjson.loads(r.value)["i"] for p in range(partitions) for r in read_all(log, topic, p))


def fill(log: KafkaLog, topic: str, start: int, n: int, batch: int = 100) -> None:
    for b in range(start, start + n, batch):
        idx = list(range(b, min(b + batch, start + n)))
        append_json(log, topic, 0, [{"i": i} for i in idx], [BASE_TS + i for i in idx])


def marker(log: KafkaLog, job_id: str) -> int | None:
    raw = log.get_state("millstream.checkpoint/" + job_id)
    return None if raw is None else int(json.loads(raw)["checkpoint_id"])


@pytest.mark.parametrize("cls", [KafkaSink, LogSink])
def test_exactly_once_job_commits_output_offsets_and_marker_per_checkpoint(
    kafka_log, kafka_topic, servers, client_props, tmp_path, cls
):
    src_t, out_t, group = kafka_topic("eo-in"), kafka_topic("eo-out"), kafka_topic("eo-group")
    job = kafka_topic("eo-job")
    kafka_log.create_topic(src_t)
    kafka_log.create_topic(out_t, 3)
    fill(kafka_log, src_t, 0, 600)
    src, snk = source(servers, client_props, src_t, group), sink(servers, client_props, out_t, cls)
    result = run_job(src, snk, tmp_path, job, pause_ms=60)  # (a checkpoint interval between batches)
    stats = result.checkpoints.stats
    assert all(s.status == "COMPLETED" for s in stats)
    assert len(stats) >= 2, "more than one checkpoint transaction"
    assert sum(s.committed_records for s in stats) == 600
    assert values(kafka_log, out_t, 3) == list(range(600))  # every record once
    # the source group's offsets were committed by the transactions (the reader commits none itself)
    assert kafka_log.committed_offsets(group) == {TopicPartition(src_t, 0): kafka_log.latest_offset(src_t, 0)}
    # the marker names the last checkpoint, and it is the newest one kept
    assert marker(kafka_log, job) == stats[-1].checkpoint_id
    assert CheckpointStorage(tmp_path, job).completed_ids()[-1] == stats[-1].checkpoint_id
    assert "__millstream_state" not in kafka_log.list_topics()  # internal, like Kafka's __ topics


def test_restart_resumes_from_the_committed_checkpoint_and_drops_uncommitted_ones(
    kafka_log, kafka_topic, servers, client_props, tmp_path
):
    """A checkpoint written to storage whose transaction never committed (a crash between writing and
    committing) is discarded on restart: the job resumes from the checkpoint the marker names."""
    src_t, out_t, group, job = kafka_topic("rs-in"), kafka_topic("rs-out"), kafka_topic("rs-g"), kafka_topic("rs-j")
    kafka_log.create_topic(src_t)
    kafka_log.create_topic(out_t, 2)
    fill(kafka_log, src_t, 0, 300)
    first = run_job(source(servers, client_props, src_t, group), sink(servers, client_props, out_t), tmp_path, job)
    last = first.checkpoints.stats[-1].checkpoint_id
    storage = CheckpointStorage(tmp_path, job)
    # an uncommitted newer checkpoint: the state of an earlier one under a higher id, never marked
    earlier = storage.completed_ids()[0]
    fake = storage.path_of(last + 3)
    shutil.copytree(storage.path_of(earlier), fake)
    manifest = json.loads((fake / "_metadata").read_text())
    manifest["checkpoint_id"] = last + 3
    (fake / "_metadata").write_text(json.dumps(manifest))
    fill(kafka_log, src_t, 300, 200)
    second = run_job(source(servers, client_props, src_t, group), sink(servers, client_props, out_t), tmp_path, job)
    assert second.checkpoints.restored_from == last
    assert not fake.exists()
    assert values(kafka_log, out_t, 2) == list(range(500))  # no loss, no duplicate
    assert marker(kafka_log, job) == second.checkpoints.stats[-1].checkpoint_id > last + 3


def test_transactional_id_prefix_is_used(kafka_log, kafka_topic, servers, client_props, tmp_path):
    src_t, out_t, group = kafka_topic("px-in"), kafka_topic("px-out"), kafka_topic("px-g")
    kafka_log.create_topic(src_t)
    kafka_log.create_topic(out_t)
    fill(kafka_log, src_t, 0, 50)
    prefix = kafka_topic("orders")
    snk = sink(servers, client_props, out_t)
    snk = type(snk)(**{**snk.__dict__, "transactional_id_prefix": prefix})
    run_job(source(servers, client_props, src_t, group), snk, tmp_path, "px-job")
    assert values(kafka_log, out_t, 1) == list(range(50))
    # the job's producer holds "<prefix>-0": opening it again fences nobody alive and commits fine
    assert transactional_id("px-job", prefix) == f"{prefix}-0"
    assert transactional_id("px-job", None) == "millstream-px-job-0"
    with kafka_log.transaction(f"{prefix}-0") as txn:
        txn.append(out_t, 0, [ProducerRecord(b'{"i": 50}')])
    assert values(kafka_log, out_t, 1) == list(range(51))


def test_a_newer_producer_fences_the_older_one(kafka_bootstrap, kafka_properties, kafka_topic, kafka_on_tansu):
    """Two producers with one transactional id (a zombie and its replacement): ``init_transactions`` of the
    newer one fences the older, whose commit then fails with a clear error; nothing it sent after the
    fence is visible (and on a real Kafka nothing of its open transaction at all)."""
    older = KafkaLog(kafka_bootstrap, properties=kafka_properties, timeout_ms=15_000)
    newer = KafkaLog(kafka_bootstrap, properties=kafka_properties, timeout_ms=15_000)
    try:
        out, group, src = kafka_topic("fence-out"), kafka_topic("fence-g"), kafka_topic("fence-src")
        older.create_topic(out)
        older.create_topic(src)
        tid = kafka_topic("fence-id")
        zombie = older.transaction(tid)
        zombie.append(out, 0, [ProducerRecord(b"zombie-1")])
        zombie.flush()  # on the broker, inside the zombie's open transaction
        replacement = newer.transaction(tid)
        replacement.flush()  # init_transactions: fences the zombie and aborts its transaction
        zombie.append(out, 0, [ProducerRecord(b"zombie-2")])
        zombie.commit_offsets(group, {TopicPartition(src, 0): 9})
        with pytest.raises(TransactionError) as info:
            zombie.commit()
        assert "was fenced" in str(info.value) and tid in str(info.value)
        assert "one instance per job id" in info.value.hint
        replacement.append(out, 0, [ProducerRecord(b"new")])
        replacement.commit()
        got = [r.value for r in read_all(newer, out, 0)]
        assert b"zombie-2" not in got and b"new" in got
        assert newer.committed_offsets(group) == {}  # the zombie's offsets never committed
        if not kafka_on_tansu:
            assert got == [b"new"]  # its aborted transaction is invisible too
    finally:
        older.close()
        newer.close()


def test_a_fenced_producer_adding_a_partition_fails_with_the_fencing_error(
    kafka_bootstrap, kafka_properties, kafka_topic, caplog
):
    """A zombie that writes to a partition its transaction did not have yet after a newer producer fenced it:
    ``flush`` raises the fencing error naming the transactional id (confluent-kafka raised a bare SystemError
    there), and librdkafka's own FATAL lines about it go to the debug level (the error says it)."""
    caplog.set_level(logging.DEBUG, logger="millstream.kafka")
    older = KafkaLog(kafka_bootstrap, properties=kafka_properties, timeout_ms=15_000)
    newer = KafkaLog(kafka_bootstrap, properties=kafka_properties, timeout_ms=15_000)
    try:
        out, tid = kafka_topic("fence-add"), kafka_topic("fence-add-id")
        older.create_topic(out, 2)
        zombie = older.transaction(tid)
        zombie.append(out, 0, [ProducerRecord(b"zombie-1")])
        zombie.flush()
        newer.transaction(tid).flush()  # init_transactions: fences the zombie
        zombie.append(out, 1, [ProducerRecord(b"zombie-2")])  # a partition new to the zombie's transaction
        with pytest.raises(FencedError) as info:
            zombie.flush()
        assert tid in str(info.value) and "one instance per job id" in info.value.hint
    finally:
        older.close()
        newer.close()
    fencing = [r for r in caplog.records if r.name == "millstream.kafka" and "fenced" in r.getMessage()]
    assert all(r.levelno == logging.DEBUG for r in fencing), [(r.levelname, r.getMessage()) for r in fencing]


def test_a_second_instance_of_a_job_fences_the_first(kafka_log, kafka_topic, servers, client_props, tmp_path):
    """Starting the same job id again (a zombie still running) makes the older instance's next checkpoint
    fail with the fencing error; the newer one's output commits."""
    from millstream.stream.errors import JobFailedError

    src_t, out_t, group, job = kafka_topic("z-in"), kafka_topic("z-out"), kafka_topic("z-g"), kafka_topic("z-j")
    kafka_log.create_topic(src_t)
    kafka_log.create_topic(out_t)
    fill(kafka_log, src_t, 0, 100)

    def env_for(chk: Path) -> Any:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.enable_checkpointing(100, CheckpointingMode.EXACTLY_ONCE)
        env.get_checkpoint_config().set_checkpoint_storage_dir(str(chk))
        src = (
            KafkaSource.builder()
            .set_bootstrap_servers(servers)
            .set_properties(client_props)
            .set_topics(src_t)
            .set_group_id(group)
            .set_starting_offsets(OffsetsInitializer.earliest())
            .build()  # unbounded: runs until cancelled or failed
        )
        env.from_source(src, None, "src").uid("src").sink_to(sink(servers, client_props, out_t)).uid("out")
        return env

    first = env_for(tmp_path / "a").execute_async("zombie", job_id=job)
    try:
        deadline = time.monotonic() + 30
        while not read_all(kafka_log, out_t, 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert read_all(kafka_log, out_t, 0), "the first instance committed nothing"
        second = env_for(tmp_path / "b").execute_async("replacement", job_id=job)
        try:
            with pytest.raises(JobFailedError) as info:
                first.get_job_execution_result(timeout=30)
            assert "was fenced" in str(info.value.__cause__ or info.value)
        finally:
            second.cancel()
    finally:
        first.cancel()


def test_transaction_timeout_shorter_than_the_interval_is_refused(
    kafka_log, kafka_topic, servers, client_props, tmp_path
):
    src_t, out_t, group = kafka_topic("to-in"), kafka_topic("to-out"), kafka_topic("to-g")
    kafka_log.create_topic(src_t)
    kafka_log.create_topic(out_t)
    fill(kafka_log, src_t, 0, 20)
    src = source(servers, client_props, src_t, group)
    with pytest.raises(CheckpointError) as info:
        run_job(src, sink(servers, client_props, out_t), tmp_path, "to-job", interval_ms=60_000)
    msg = str(info.value)
    assert "transaction.timeout.ms (60000 ms)" in msg and "checkpoint interval (60000 ms)" in msg
    assert "transaction.timeout.ms', '70000'" in info.value.hint
    assert read_all(kafka_log, out_t, 0) == []
    # raised as told, the same job runs (its final checkpoint commits everything)
    snk = sink(servers, client_props, out_t, **{"producer.transaction.timeout.ms": "70000"})
    run_job(src, snk, tmp_path, "to-job", interval_ms=60_000)
    assert values(kafka_log, out_t, 1) == list(range(20))


def test_different_transactional_id_prefixes_are_refused(kafka_log, kafka_topic, servers, client_props, tmp_path):
    src_t, out_t = kafka_topic("dp-in"), kafka_topic("dp-out")
    kafka_log.create_topic(src_t)
    kafka_log.create_topic(out_t)
    fill(kafka_log, src_t, 0, 10)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.enable_checkpointing(100, CheckpointingMode.EXACTLY_ONCE)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path))
    events = env.from_source(source(servers, client_props, src_t, kafka_topic("dp-g")), None, "src")
    for prefix in ("a", "b"):
        snk = sink(servers, client_props, out_t)
        events.sink_to(type(snk)(**{**snk.__dict__, "transactional_id_prefix": prefix}))
    with pytest.raises(CheckpointError, match="different transactional id prefixes"):
        env.execute("dp")
    assert read_all(kafka_log, out_t, 0) == []


def test_a_large_transaction_streams_its_records(kafka_log, kafka_topic, servers, client_props, tmp_path):
    """25,000 records in one checkpoint interval: past 10,000 the open transaction streams them to the
    brokers (bounded memory), and the final checkpoint's commit makes all of them visible once."""
    src_t, out_t, group = kafka_topic("big-in"), kafka_topic("big-out"), kafka_topic("big-g")
    kafka_log.create_topic(src_t)
    kafka_log.create_topic(out_t, 2)
    fill(kafka_log, src_t, 0, 25_000, batch=5000)
    snk = sink(servers, client_props, out_t, **{"transaction.timeout.ms": "80000"})
    result = run_job(source(servers, client_props, src_t, group), snk, tmp_path, "big", 60_000, batch=2000)
    assert [s.committed_records for s in result.checkpoints.stats] == [25_000]  # the final checkpoint only
    assert values(kafka_log, out_t, 2) == list(range(25_000))
