"""The same windowed pipeline over the same generated input gives identical output on ``file://`` and
``kafka://`` (the source reads it from, and the sinks write it to, each log).

The input topic has one partition: with several, how far each partition has been read when an element
arrives (and so which elements are late) depends on how reads interleave, on any backend."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from millstream import Duration, OutputTag, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import KafkaSink, KafkaSource, LogSink, LogSource, OffsetsInitializer
from millstream.functions import Aggregates, Count, ProcessWindowFunction, Sum
from millstream.log import Log, open_log
from millstream.windows import EventTimeSessionWindows, SlidingEventTimeWindows, TumblingEventTimeWindows

from .conftest import BASE_TS, append_json, read_all

pytestmark = pytest.mark.kafka

OUTPUTS = ("tumbling", "sliding", "session", "late")


def generate(n: int = 3000, seed: int = 7) -> list[dict[str, Any]]:
    """Events of 5 keys, mostly in order with jitter, some far behind (late), gaps that close sessions."""
    rnd = random.Random(seed)
    out, t = [], 0
    for i in range(n):
        t += rnd.choice([1, 5, 10, 40]) if i % 500 else 3000  # a gap every 500 events
        ts = t - rnd.randint(0, 200)
        if rnd.random() < 0.03:
            ts -= rnd.randint(1000, 4000)  # late, some within the allowed lateness
        out.append({"k": f"k{rnd.randint(0, 4)}", "ts": BASE_TS + max(0, ts), "v": rnd.randint(0, 100)})
    return out


class Described(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        w = context.window()
        for r in elements:
            yield {"key": key, "start": w.start, "end": w.end, **r}


def pipeline(url: str, props: dict[str, str], topics: dict[str, str], batch: int) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(batch)
    kafka = url.startswith("kafka://")
    sb = KafkaSource.builder() if kafka else LogSource.builder()
    sb.set_log(url).set_topics(topics["input"]).set_starting_offsets(OffsetsInitializer.earliest())
    sb.set_bounded(OffsetsInitializer.latest()).set_value_format("json").set_properties(props)

    def sink(name: str) -> Any:
        b = (KafkaSink.builder() if kafka else LogSink.builder()).set_log(url).set_topic(topics[name])
        for k, v in props.items():
            b.set_property(k, v)
        return b.set_key_selector(lambda e: e["key"] if "key" in e else e["k"]).build()

    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(300)).with_timestamp_assigner(
        lambda e, ts: e["ts"]
    )
    late = OutputTag("late")
    keyed = env.from_source(sb.build(), strategy, "events").key_by(lambda e: e["k"])
    tumbling = (
        keyed.window(TumblingEventTimeWindows.of(Duration.of_seconds(1)))
        .allowed_lateness(Duration.of_seconds(2))
        .side_output_late_data(late)
        .aggregate(Aggregates(count=Count(), sum=Sum("v")), Described())
    )
    tumbling.sink_to(sink("tumbling"))
    tumbling.get_side_output(late).sink_to(sink("late"))
    (
        keyed.window(SlidingEventTimeWindows.of(Duration.of_seconds(2), Duration.of_millis(500)))
        .allowed_lateness(Duration.of_seconds(1))
        .aggregate(Aggregates(count=Count(), max_v=Sum("v")), Described())
        .sink_to(sink("sliding"))
    )
    (
        keyed.window(EventTimeSessionWindows.with_gap(Duration.of_millis(800)))
        .allowed_lateness(Duration.of_millis(1500))
        .reduce(lambda a, b: {"k": a["k"], "ts": max(a["ts"], b["ts"]), "v": a["v"] + b["v"]}, Described())
        .sink_to(sink("session"))
    )
    env.execute("identical results")


def run_on(log: Log, url: str, props: dict[str, str], prefix: str, events: list[Any], batch: int) -> dict[str, Any]:
    topics = {"input": prefix + "-in", **{name: f"{prefix}-{name}" for name in OUTPUTS}}
    log.create_topic(topics["input"], 1)
    for name in OUTPUTS:
        log.create_topic(topics[name], 3)
    for i in range(0, len(events), 700):  # multi-record batches
        chunk = events[i : i + 700]
        append_json(log, topics["input"], 0, chunk, [e["ts"] for e in chunk])
    pipeline(url, props, topics, batch)
    out: dict[str, Any] = {}
    for name in OUTPUTS:
        out[name] = [
            (p, r.key, r.timestamp, orjson.loads(r.value)) for p in range(3) for r in read_all(log, topics[name], p)
        ]
    return out


def test_same_windowed_pipeline_same_output_on_file_and_kafka(
    tmp_path, kafka_log, kafka_bootstrap, kafka_topic, client_props
):
    events = generate()
    file_url = f"file://{tmp_path}/log"
    file_log = open_log(file_url)
    try:
        on_file = run_on(file_log, file_url, {}, "w", events, 4096)
    finally:
        file_log.close()
    on_kafka = run_on(kafka_log, f"kafka://{kafka_bootstrap}", client_props, kafka_topic("w"), events, 4096)
    sizes = {n: len(v) for n, v in on_file.items()}
    assert all(sizes.values()), sizes  # every window kind fired, and some elements were too late
    for name in OUTPUTS:
        assert on_kafka[name] == on_file[name], name
    # and a small batch size on Kafka gives the same again
    on_kafka_small = run_on(kafka_log, f"kafka://{kafka_bootstrap}", client_props, kafka_topic("w"), events, 7)
    assert on_kafka_small == on_file
