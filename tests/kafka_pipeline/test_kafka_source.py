"""KafkaSource on a real broker: starting offsets, bounded mode, topic patterns and partition discovery,
value formats, per-partition watermarks and idleness, and property pass-through."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import KafkaSource, OffsetsInitializer
from millstream.core.errors import ConfigError
from millstream.core.record import ProducerRecord
from millstream.runtime.sources import LogReader
from millstream.stream.errors import JobFailedError
from millstream.testing import CollectingSink
from millstream.windows import TumblingEventTimeWindows

from .conftest import BASE_TS, append_json, wait_until

pytestmark = pytest.mark.kafka


def source(servers: str, props: dict[str, str], *topics: str, **kw: Any) -> Any:
    b = KafkaSource.builder().set_bootstrap_servers(servers).set_properties(props)
    if topics:
        b.set_topics(*topics)
    if "pattern" in kw:
        b.set_topic_pattern(kw["pattern"])
    if "group" in kw:
        b.set_group_id(kw["group"])
    b.set_starting_offsets(kw.get("start", OffsetsInitializer.earliest()))
    if kw.get("bounded", True) is not None:
        b.set_bounded(kw.get("bounded") or OffsetsInitializer.latest())
    b.set_value_format(kw.get("fmt", "json"), kw.get("schema"))
    return b.build()


def collect(src: Any, strategy: Any = None) -> list[Any]:
    env = StreamExecutionEnvironment.get_execution_environment()
    sink = CollectingSink()
    env.from_source(src, strategy or WatermarkStrategy.no_watermarks(), "src").sink_to(sink)
    env.execute("collect")
    return sink.values


def fill(log: Any, topic: str, partitions: int = 1, per_partition: int = 15) -> None:
    """Three multi-record batches per partition (Tansu's ListOffsets under-reports after such batches)."""
    log.create_topic(topic, partitions)
    for p in range(partitions):
        for b in range(3):
            n = per_partition // 3
            idx = list(range(b * n, (b + 1) * n))
            append_json(log, topic, p, [{"p": p, "i": i} for i in idx], [BASE_TS + i for i in idx])


def test_bounded_earliest_reads_every_record_of_multi_record_batches(kafka_log, kafka_topic, servers, client_props):
    topic = kafka_topic("bounded")
    fill(kafka_log, topic, partitions=2)
    got = collect(source(servers, client_props, topic))
    assert sorted((v["p"], v["i"]) for v in got) == [(p, i) for p in range(2) for i in range(15)]


def test_bounded_at_explicit_stopping_offsets(kafka_log, kafka_topic, servers, client_props):
    topic = kafka_topic("stop")
    fill(kafka_log, topic, partitions=2)
    stop = OffsetsInitializer.offsets({(topic, 0): 4, (topic, 1): 11})
    got = collect(source(servers, client_props, topic, bounded=stop))
    assert sorted((v["p"], v["i"]) for v in got) == [(0, i) for i in range(4)] + [(1, i) for i in range(11)]


def test_explicit_starting_offsets(kafka_log, kafka_topic, servers, client_props):
    topic = kafka_topic("explicit")
    fill(kafka_log, topic, partitions=2)
    start = OffsetsInitializer.offsets({(topic, 0): 12, (topic, 1): 3})
    got = collect(source(servers, client_props, topic, start=start))
    assert sorted((v["p"], v["i"]) for v in got) == [(0, i) for i in range(12, 15)] + [(1, i) for i in range(3, 15)]


def test_timestamp_starting_offsets(kafka_log, kafka_topic, servers, client_props):
    topic = kafka_topic("ts")
    fill(kafka_log, topic)
    got = collect(source(servers, client_props, topic, start=OffsetsInitializer.timestamp(BASE_TS + 7)))
    assert [v["i"] for v in got] == list(range(7, 15))


def test_latest_starting_offsets_read_only_new_records(kafka_log, kafka_topic, servers, client_props):
    topic = kafka_topic("latest")
    fill(kafka_log, topic)
    env = StreamExecutionEnvironment.get_execution_environment()
    sink = CollectingSink()
    src = source(servers, client_props, topic, start=OffsetsInitializer.latest(), bounded=None)
    env.from_source(src, WatermarkStrategy.no_watermarks(), "src").sink_to(sink)
    job = env.execute_async("latest")
    try:
        reader = job.runner.drivers[0].reader
        wait_until(lambda: bool(reader.positions), what="the source to take its starting offsets")
        assert reader.positions[next(iter(reader.positions))] == 15
        append_json(kafka_log, topic, 0, [{"p": 0, "i": 100}, {"p": 0, "i": 101}], [BASE_TS + 100, BASE_TS + 101])
        wait_until(lambda: len(sink.values) >= 2, what="the new records")
    finally:
        job.cancel()
    job.get_job_execution_result(10)
    assert [v["i"] for v in sink.values] == [100, 101]


def test_committed_offsets_continue_where_the_group_stopped(kafka_log, kafka_topic, servers, client_props):
    topic, group = kafka_topic("committed"), kafka_topic("group")
    fill(kafka_log, topic)
    first = collect(source(servers, client_props, topic, group=group, start=OffsetsInitializer.committed_offsets()))
    assert len(first) == 15  # no commit yet: reset to earliest; the job commits its end position at close
    append_json(kafka_log, topic, 0, [{"p": 0, "i": 15}, {"p": 0, "i": 16}], [BASE_TS + 15, BASE_TS + 16])
    second = collect(source(servers, client_props, topic, group=group, start=OffsetsInitializer.committed_offsets()))
    assert [v["i"] for v in second] == [15, 16]


def test_committed_offsets_reset_latest_and_none(kafka_log, kafka_topic, servers, client_props):
    topic = kafka_topic("reset")
    fill(kafka_log, topic)
    latest = OffsetsInitializer.committed_offsets("latest")
    assert collect(source(servers, client_props, topic, group=kafka_topic("g"), start=latest)) == []
    none = OffsetsInitializer.committed_offsets("none")
    group = kafka_topic("g")
    with pytest.raises(JobFailedError) as info:
        collect(source(servers, client_props, topic, group=group, start=none))
    assert f"no committed offset for {topic}[0] in group {group!r}" in str(info.value.__cause__)


def test_topic_pattern_discovers_a_topic_created_while_running(kafka_log, kafka_topic, servers, client_props):
    prefix = kafka_topic("pat")
    fill(kafka_log, prefix + "-a", per_partition=3)
    kafka_log.create_topic("other-" + prefix)
    env = StreamExecutionEnvironment.get_execution_environment()
    sink = CollectingSink()
    props = {**client_props, "partition.discovery.interval.ms": "200"}
    src = source(servers, props, pattern=prefix.replace("-", r"\-") + r"\-.*", bounded=None)
    env.from_source(src, WatermarkStrategy.no_watermarks(), "src").sink_to(sink)
    job = env.execute_async("pattern")
    try:
        wait_until(lambda: len(sink.values) >= 3, what="the records of the existing topic")
        fill(kafka_log, prefix + "-b", per_partition=3)
        kafka_log.append("other-" + prefix, 0, [ProducerRecord(b'{"p": 9, "i": 9}')])
        wait_until(lambda: len(sink.values) >= 6, what="the records of the topic created while the job runs")
    finally:
        job.cancel()
    job.get_job_execution_result(10)
    assert sorted((v["p"], v["i"]) for v in sink.values) == [(0, 0), (0, 0), (0, 1), (0, 1), (0, 2), (0, 2)]


AVRO = {"type": "record", "name": "E", "fields": [{"name": "k", "type": "string"}, {"name": "n", "type": "long"}]}


@pytest.mark.parametrize(
    ("fmt", "raw", "expected"),
    [
        ("json", [b'{"a": 1}', b"[1, 2]"], [{"a": 1}, [1, 2]]),
        ("string", ["héllo".encode(), b"x"], ["héllo", "x"]),
        ("bytes", [b"\x00\xff", b"z"], [b"\x00\xff", b"z"]),
        ("avro", None, [{"k": "a", "n": 1}, {"k": "b", "n": 2}]),
    ],
)
def test_value_formats(kafka_log, kafka_topic, servers, client_props, fmt, raw, expected):
    from millstream.core.serde import get_serde

    topic = kafka_topic(fmt)
    kafka_log.create_topic(topic)
    if raw is None:
        raw = [get_serde("avro", schema=AVRO).serialize(v) for v in expected]
    kafka_log.append(topic, 0, [ProducerRecord(r, None, BASE_TS) for r in raw])
    got = collect(source(servers, client_props, topic, fmt=fmt, schema=AVRO if fmt == "avro" else None))
    assert got == expected


def test_invalid_json_names_the_record_and_the_fix(kafka_log, kafka_topic, servers, client_props):
    topic = kafka_topic("badjson")
    kafka_log.create_topic(topic)
    kafka_log.append(topic, 0, [ProducerRecord(b'{"ok": 1}'), ProducerRecord(b"not json")])
    with pytest.raises(JobFailedError) as info:
        collect(source(servers, client_props, topic))
    msg = str(info.value.__cause__)
    assert f"{topic}[0] offset 1 is not valid JSON" in msg
    assert "set_value_format" in getattr(info.value.__cause__, "hint", "") + msg


def test_dead_letter_topic_on_kafka_keeps_the_job_going(kafka_log, kafka_topic, servers, client_props):
    topic, dlq = kafka_topic("dlq-in"), kafka_topic("dlq")
    kafka_log.create_topic(topic)
    kafka_log.create_topic(dlq)
    kafka_log.append(
        topic,
        0,
        [
            ProducerRecord(b'{"ok": 1}'),
            ProducerRecord(b"not json", b"key", BASE_TS, (("h", b"v"),)),
            ProducerRecord(b"2"),
        ],
    )
    src = (
        KafkaSource.builder()
        .set_bootstrap_servers(servers)
        .set_properties(client_props)
        .set_topics(topic)
        .set_bounded(OffsetsInitializer.latest())
        .set_dead_letter_topic(dlq)
        .build()
    )
    assert collect(src) == [{"ok": 1}, 2]
    (routed,) = kafka_log.read(dlq, 0, 0, timeout_ms=5000)
    assert (routed.key, routed.value, routed.timestamp) == (b"key", b"not json", BASE_TS)
    headers = dict(routed.headers)
    assert headers["h"] == b"v"
    assert (headers["__millstream.errors.topic"], headers["__millstream.errors.offset"]) == (topic.encode(), b"1")
    assert b"not valid JSON" in headers["__millstream.errors.exception.message"]


def _windows_job(servers: str, props: dict[str, str], topic: str, idleness_ms: int | None) -> tuple[Any, Any]:
    strategy = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda e, ts: e["ts"])
    if idleness_ms is not None:
        strategy = strategy.with_idleness(Duration.of_millis(idleness_ms))
    env = StreamExecutionEnvironment.get_execution_environment()
    sink = CollectingSink()
    (
        env.from_source(source(servers, props, topic, bounded=None), strategy, "src")
        .key_by(lambda e: "all")
        .window(TumblingEventTimeWindows.of(Duration.of_seconds(1)))
        .reduce(lambda a, b: {"ts": min(a["ts"], b["ts"]), "n": a["n"] + b["n"]})
        .sink_to(sink)
    )
    return env.execute_async("windows"), sink


def _events(ts_list: list[int]) -> list[dict[str, int]]:
    return [{"ts": BASE_TS + t, "n": 1} for t in ts_list]


def test_partition_watermarks_merge_by_minimum(kafka_log, kafka_topic, servers, client_props):
    topic = kafka_topic("wm")
    kafka_log.create_topic(topic, 2)
    fast = _events(list(range(0, 10_000, 500)))
    append_json(kafka_log, topic, 0, fast, [e["ts"] for e in fast])
    slow = _events([100])
    append_json(kafka_log, topic, 1, slow, [e["ts"] for e in slow])
    job, sink = _windows_job(servers, client_props, topic, None)
    try:
        wait_until(lambda: all(tp in job.runner.drivers[0].reader.positions for tp in [(topic, 0), (topic, 1)]))
        wait_until(lambda: job.runner.drivers[0].seen == len(fast) + 1, what="every record read")
        assert sink.values == []  # partition 1 holds the watermark at BASE_TS + 99
        later = _events([3_600])
        append_json(kafka_log, topic, 1, later, [e["ts"] for e in later])
        wait_until(lambda: len(sink.values) >= 3, what="windows up to the slow partition's watermark")
        import time

        time.sleep(0.3)
        # watermark = min(9_499, 3_599): windows [0, 1000), [1000, 2000), [2000, 3000) and no more
        assert [(v["ts"] - BASE_TS, v["n"]) for v in sink.values] == [(0, 3), (1000, 2), (2000, 2)]
    finally:
        job.cancel()
    job.get_job_execution_result(10)


def test_idle_partition_leaves_the_minimum(kafka_log, kafka_topic, servers, client_props):
    import time

    topic = kafka_topic("idle")
    kafka_log.create_topic(topic, 2)
    fast = _events(list(range(0, 10_000, 500)))
    append_json(kafka_log, topic, 0, fast, [e["ts"] for e in fast])
    job, sink = _windows_job(servers, client_props, topic, 300)  # partition 1 never gets a record
    try:
        deadline = time.monotonic() + 20
        t = 10_000
        while len(sink.values) < 9 and time.monotonic() < deadline:
            # partition 0 stays active (when every partition is idle the watermark stays, as in Flink)
            append_json(kafka_log, topic, 0, _events([t]), [BASE_TS + t])
            t += 10
            time.sleep(0.1)
    finally:
        job.cancel()
    job.get_job_execution_result(10)
    assert [(v["ts"] - BASE_TS, v["n"]) for v in sink.values[:9]] == [(w * 1000, 2) for w in range(9)]


def test_properties_pass_through_to_the_clients(kafka_topic, kafka_log, servers, client_props):
    topic = kafka_topic("props")
    kafka_log.create_topic(topic)
    props = {
        **client_props,
        "consumer.fetch.wait.max.ms": "15",
        "client.id": "pipeline-test",
        "partition.discovery.interval.ms": "500",  # Flink's source options are the connector's, not librdkafka's
        "client.id.prefix": "x",
        "commit.offsets.on.checkpoint": "true",
    }
    reader = LogReader(source(servers, props, topic))
    reader.open()
    try:
        cfg = reader.log.settings.consumer_config()  # type: ignore[attr-defined]
        assert cfg["fetch.wait.max.ms"] == "15"
        assert cfg["client.id"] == "pipeline-test"
        assert "partition.discovery.interval.ms" not in cfg
    finally:
        reader.close()
    bad = source(servers, {**client_props, "no.such.property": "1"}, topic)
    with pytest.raises((JobFailedError, ConfigError)) as info:
        collect(bad)
    assert "no.such.property" in str(info.value) + str(info.value.__cause__)


def test_bytes_round_trip_is_exact(kafka_log, kafka_topic, servers, client_props):
    topic = kafka_topic("raw")
    kafka_log.create_topic(topic)
    payload = [orjson.dumps({"i": i}) for i in range(5)]
    kafka_log.append(topic, 0, [ProducerRecord(p) for p in payload])
    assert collect(source(servers, client_props, topic, fmt="bytes")) == payload


def test_latest_offset_is_exact_after_multi_record_batches(kafka_log, kafka_topic, kafka_bootstrap, kafka_properties):
    """Bounded sources stop at ``latest_offset``: it must count every record, also on Tansu (whose
    ListOffsets lags behind multi-record batches; the fetch response's high watermark does not)."""
    from millstream.log.kafka import KafkaLog

    topic = kafka_topic("hw")
    fill(kafka_log, topic)
    other = KafkaLog(kafka_bootstrap, properties=kafka_properties, timeout_ms=15_000)  # knows nothing it wrote
    try:
        assert other.latest_offset(topic, 0) == 15
        assert [r.offset for r in other.read(topic, 0, 0, max_records=100)] == list(range(15))
        assert other.latest_offset(topic, 0) == 15
    finally:
        other.close()


def test_buffer_timeout_sets_the_idle_poll_wait():
    env = StreamExecutionEnvironment.get_execution_environment()
    assert env.config.idle_poll_ms == 50
    assert env.set_buffer_timeout(5) is env and env.config.idle_poll_ms == 5
    env.set_buffer_timeout(0)
    assert env.config.idle_poll_ms == 1
    env.set_buffer_timeout(-1)
    assert env.config.idle_poll_ms == 1
    with pytest.raises(Exception, match="buffer timeout"):
        env.set_buffer_timeout(-5)
