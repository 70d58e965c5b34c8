"""A parallel job on the Kafka-protocol test broker: Kafka partitions spread over source subtasks, a keyed
exchange, results identical to parallelism 1, and exactly-once Kafka sinks refused at parallelism > 1."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import DeliveryGuarantee, KafkaSink, KafkaSource, OffsetsInitializer
from millstream.core.record import ProducerRecord
from millstream.functions import Aggregates, Count
from millstream.runtime.job import make_runner
from millstream.stream.errors import JobConfigError
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


def test_exactly_once_kafka_sink_is_refused_at_parallelism_2(kafka_bootstrap: str) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2).enable_checkpointing(1000)
    sink = (
        KafkaSink.builder()
        .set_bootstrap_servers(kafka_bootstrap)
        .set_topic("out")
        .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .build()
    )
    src = KafkaSource.builder().set_bootstrap_servers(kafka_bootstrap).set_topics("in").build()
    env.from_source(src, None, "in").sink_to(sink)
    with pytest.raises(JobConfigError, match="writes exactly-once to Kafka, which is not supported at parallelism 2"):
        make_runner(env, env._take_sinks(), "eo", None)
