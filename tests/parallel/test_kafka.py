"""A parallel job on the Kafka-protocol test broker: Kafka partitions spread over source subtasks, a keyed
exchange, results identical to parallelism 1, and an exactly-once Kafka sink at parallelism 2 that commits every
result once across a cancel and a restart."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import DeliveryGuarantee, KafkaSink, KafkaSource, OffsetsInitializer
from millstream.core.record import ProducerRecord
from millstream.functions import Aggregates, Count
from millstream.testing import CollectingSink
from millstream.windows import TumblingEventTimeWindows

pytestmark = pytest.mark.kafka

BASE = 1_700_000_000_000


def test_parallel_job_reads_kafka_partitions_across_subtasks(
    kafka_log: Any, kafka_bootstrap: str, kafka_properties: dict[str, Any], kafka_topic: Any
) -> None:
    topic = kafka_topic("pv")
    kafka_log.create_topic(topic, 4)
    for p in range(4):
        recs = []
        for i in range(500):
            ts = BASE + i * 10 + p
            recs.append(ProducerRecord(orjson.dumps({"page": f"/p{(i + p) % 7}", "ts": ts}), None, ts))
        kafka_log.append(topic, p, recs)

    def run(parallelism: int) -> list[Any]:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(parallelism)
        builder = (
            KafkaSource.builder()
            .set_bootstrap_servers(kafka_bootstrap)
            .set_topics(topic)
            .set_value_format("json")
            .set_starting_offsets(OffsetsInitializer.earliest())
            .set_bounded(OffsetsInitializer.latest())
        )
        for k, v in kafka_properties.items():
            builder = builder.set_property(k, str(v))
        sink = CollectingSink()
        strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(20)).with_timestamp_assigner(
            lambda e, ts: e["ts"]
        )
        (
            env.from_source(builder.build(), strategy, "pageviews")
            .key_by(lambda e: e["page"])
            .window(TumblingEventTimeWindows.of(Duration.of_millis(1000)))
            .aggregate(Aggregates(n=Count()))
            .sink_to(sink)
        )
        env.execute(f"kafka p{parallelism}")
        return sorted(map(repr, sink.values))

    single = run(1)
    assert len(single) > 20
    assert run(2) == single


def _committed(log: Any, topic: str) -> list[Any]:
    """Every committed value of ``topic`` (the log reads ``read_committed``; commit markers take offsets)."""
    out: list[Any] = []
    for p in range(log.describe_topic(topic).partitions):
        end, off = log.latest_offset(topic, p), 0
        while off < end:
            recs = log.read(topic, p, off, max_records=50_000, timeout_ms=500)
            if not recs:
                break
            out.extend(tuple(orjson.loads(r.value)) for r in recs)
            off = recs[-1].offset + 1
    return out


def test_exactly_once_kafka_sink_at_parallelism_2_commits_each_result_once_across_a_restart(
    kafka_log: Any, kafka_bootstrap: str, kafka_properties: dict[str, Any], kafka_topic: Any, tmp_path: Path
) -> None:
    """A rolling count per key at parallelism 2 into an exactly-once KafkaSink: the first run is cancelled after
    some checkpoints, the second resumes from the last one. Every key's committed counts are exactly 1..n —
    a count lost would leave a gap, one produced twice a duplicate."""
    src_topic, out_topic = kafka_topic("eo-in"), kafka_topic("eo-out")
    kafka_log.create_topic(src_topic, 4)
    kafka_log.create_topic(out_topic, 2)
    n_per_partition, keys = 1500, 13
    for p in range(4):
        recs = [ProducerRecord(orjson.dumps({"k": (i * 4 + p) % keys}), None, BASE + i) for i in range(n_per_partition)]
        kafka_log.append(src_topic, p, recs)
    expected = Counter(i % keys for i in range(4 * n_per_partition))

    def start(slow_s: float) -> Any:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(2).enable_checkpointing(150)
        env.set_batch_size(32)  # (a barrier waits for the batch in flight: keep batches of the slow map short)
        env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "cp"))
        source = KafkaSource.builder().set_bootstrap_servers(kafka_bootstrap).set_topics(src_topic)
        source = source.set_group_id(kafka_topic("eo-group")).set_value_format("json")
        source = source.set_starting_offsets(OffsetsInitializer.earliest())
        sink = KafkaSink.builder().set_bootstrap_servers(kafka_bootstrap).set_topic(out_topic)
        sink = sink.set_value_format("json").set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
        for k, v in kafka_properties.items():
            source, sink = source.set_property(k, str(v)), sink.set_property(k, str(v))

        def slowly(e: dict[str, Any]) -> tuple[int, int]:
            time.sleep(slow_s)
            return (e["k"], 1)

        (
            env.from_source(source.build(), None, "in")
            .map(slowly)
            .key_by(lambda t: t[0])
            .reduce(lambda a, b: (a[0], a[1] + b[1]))
            .sink_to(sink.build())
        )
        return env.execute_async("eo kafka p2", job_id="eo-kafka-p2")

    first = start(0.002)
    try:
        deadline = time.monotonic() + 60
        while first.runner.summary.completed < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.runner.summary.completed >= 3
    finally:
        first.cancel()
    partial = _committed(kafka_log, out_topic)
    assert 0 < len(partial) < sum(expected.values()), "the first run should stop part way"
    second = start(0.0)
    try:
        deadline = time.monotonic() + 90
        got: list[Any] = []
        while time.monotonic() < deadline:
            got = _committed(kafka_log, out_topic)
            if len(got) >= sum(expected.values()):
                break
            time.sleep(0.3)
    finally:
        second.cancel()
    got = _committed(kafka_log, out_topic)
    counts = Counter(got)
    assert max(counts.values()) == 1, f"duplicates: {[r for r, c in counts.items() if c > 1][:5]}"
    by_key: dict[int, list[int]] = {}
    for k, n in got:
        by_key.setdefault(k, []).append(n)
    assert {k: sorted(v) for k, v in by_key.items()} == {k: list(range(1, n + 1)) for k, n in expected.items()}
