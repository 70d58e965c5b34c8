"""Sources and sinks on real parts: the memory and embedded (file://) logs, files, stdout."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import (
    FileSink,
    FileSource,
    KafkaSink,
    KafkaSource,
    LogSink,
    LogSource,
    OffsetsInitializer,
)
from millstream.core.record import ProducerRecord
from millstream.log import open_log
from millstream.stream.errors import JobConfigError
from millstream.testing import CollectingSink
from millstream.windows import TumblingEventTimeWindows

_n = iter(range(1_000_000))


@pytest.fixture(params=["memory", "file"])
def log_url(request: Any, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://connectors-{next(_n)}"
    return f"file://{tmp_path}/log"


def env_() -> StreamExecutionEnvironment:
    return StreamExecutionEnvironment.get_execution_environment()


def put(url: str, topic: str, partition: int, rows: list[tuple[Any, int]]) -> None:
    log = open_log(url)
    if not log.has_topic(topic):
        log.create_topic(topic, 2)
    log.append(topic, partition, [ProducerRecord(orjson.dumps(v), None, ts) for v, ts in rows])
    log.close()


def bounded(url: str, topic: str = "in", **kw: Any) -> Any:
    b = LogSource.builder().set_log(url).set_topics(topic).set_bounded(OffsetsInitializer.latest())
    for k, v in kw.items():
        getattr(b, k)(v)
    return b.build()


def test_record_timestamps_and_per_partition_watermarks_merged_by_minimum(log_url: str) -> None:
    # partition 0 runs far ahead; partition 1 holds the watermark back, so its old elements are not late
    put(log_url, "in", 0, [({"k": "a", "v": 1}, 1_000), ({"k": "a", "v": 2}, 9_000)])
    put(log_url, "in", 1, [({"k": "a", "v": 3}, 1_500), ({"k": "a", "v": 4}, 2_500)])
    for batch in (1, 10_000):
        env = env_().set_batch_size(batch)
        sink = CollectingSink()
        (
            env.from_source(bounded(log_url), WatermarkStrategy.for_monotonous_timestamps(), "in")
            .key_by(lambda e: e["k"])
            .window(TumblingEventTimeWindows.of(Duration.of_seconds(1)))
            .apply(lambda k, w, es: [(w.start, sorted(e["v"] for e in es))])
            .sink_to(sink)
        )
        env.execute()
        assert sorted(sink.values) == [(1000, [1, 3]), (2000, [4]), (9000, [2])]


def test_sink_writes_json_with_timestamps_and_keys(log_url: str) -> None:
    put(log_url, "in", 0, [({"k": "a", "v": i}, 1000 + i) for i in range(10)])
    log = open_log(log_url)
    log.create_topic("out", 3)
    env = env_()
    sink = LogSink.builder().set_log(log_url).set_topic("out").set_key_selector(lambda e: e["k"]).build()
    env.from_source(bounded(log_url), WatermarkStrategy.no_watermarks()).map(lambda e: {**e, "v2": e["v"] * 2}).sink_to(
        sink
    )
    result = env.execute("copy")
    assert result.records_written == {"LogSink": 10}
    parts = [log.read("out", p, 0) for p in range(3)]
    recs = [r for p in parts for r in p]
    assert len(recs) == 10
    assert len([p for p in parts if p]) == 1  # one key → one partition (murmur2)
    assert sorted((orjson.loads(r.value)["v2"], r.timestamp, r.key) for r in recs) == [
        (2 * i, 1000 + i, b"a") for i in range(10)
    ]
    log.close()


def test_starting_offsets_committed_group_and_bounded_modes(log_url: str) -> None:
    put(log_url, "in", 0, [({"n": i}, 100 * i) for i in range(10)])

    def run(src: Any) -> list[int]:
        env = env_()
        sink = CollectingSink()
        env.from_source(src, WatermarkStrategy.no_watermarks()).map(lambda e: e["n"]).sink_to(sink)
        env.execute()
        return sink.values

    assert run(bounded(log_url, set_starting_offsets=OffsetsInitializer.timestamp(550))) == [6, 7, 8, 9]
    assert run(bounded(log_url, set_starting_offsets=OffsetsInitializer.latest())) == []
    assert run(bounded(log_url, set_starting_offsets=OffsetsInitializer.offsets({("in", 0): 8}))) == [8, 9]
    b = LogSource.builder().set_log(log_url).set_topics("in").set_bounded(OffsetsInitializer.offsets({("in", 0): 3}))
    assert run(b.build()) == [0, 1, 2]
    # committed offsets: the first run commits its end position for the group, the second resumes there
    grp = (
        LogSource.builder()
        .set_log(log_url)
        .set_topics("in")
        .set_group_id("g1")
        .set_starting_offsets(OffsetsInitializer.committed_offsets("earliest"))
        .set_bounded(OffsetsInitializer.latest())
    )
    assert run(grp.build()) == list(range(10))
    put(log_url, "in", 0, [({"n": 10}, 1000)])
    assert run(grp.build()) == [10]
    with pytest.raises(JobConfigError, match="needs a group id"):
        LogSource.builder().set_topics("in").set_starting_offsets(OffsetsInitializer.committed_offsets()).build()


def test_topic_pattern_and_kafka_names(log_url: str) -> None:
    put(log_url, "orders-eu", 0, [({"n": 1}, 1)])
    put(log_url, "orders-us", 1, [({"n": 2}, 2)])
    put(log_url, "other", 0, [({"n": 3}, 3)])
    env = env_()
    sink = CollectingSink()
    src = (
        LogSource.builder()
        .set_log(log_url)
        .set_topic_pattern("orders-.*")
        .set_bounded(OffsetsInitializer.latest())
        .build()
    )
    env.from_source(src, WatermarkStrategy.no_watermarks()).map(lambda e: e["n"]).sink_to(sink)
    env.execute()
    assert sorted(sink.values) == [1, 2]
    k = (
        KafkaSource.builder()
        .set_bootstrap_servers("localhost:9092")
        .set_topics("t")
        .set_property("security.protocol", "SASL_SSL")
        .build()
    )
    assert k.log_url == "kafka://localhost:9092"
    assert k.properties == {"security.protocol": "SASL_SSL"}


def test_string_format_and_custom_deserializer(log_url: str) -> None:
    log = open_log(log_url)
    log.create_topic("txt", 1)
    log.append("txt", 0, [ProducerRecord(b"hello", b"k1", 5), ProducerRecord(b"world", b"k2", 6)])
    log.close()
    env = env_()
    s1, s2 = CollectingSink(), CollectingSink()
    env.from_source(bounded(log_url, "txt", set_value_format="string"), WatermarkStrategy.no_watermarks()).sink_to(s1)
    b = LogSource.builder().set_log(log_url).set_topics("txt").set_bounded(OffsetsInitializer.latest())
    b.set_deserializer(lambda r: (r.key, r.value, r.offset))
    env.from_source(b.build(), WatermarkStrategy.no_watermarks()).sink_to(s2)
    env.execute()
    assert s1.values == ["hello", "world"] and s1.timestamps == [5, 6]
    assert s2.values == [(b"k1", b"hello", 0), (b"k2", b"world", 1)]


def test_malformed_json_names_topic_and_offset(log_url: str) -> None:
    from millstream.stream.errors import JobFailedError

    log = open_log(log_url)
    log.create_topic("in", 1)
    log.append("in", 0, [ProducerRecord(b'{"a": 1}'), ProducerRecord(b"{nope")])
    log.close()
    env = env_()
    env.from_source(bounded(log_url), WatermarkStrategy.no_watermarks()).add_sink(lambda v: None)
    with pytest.raises(JobFailedError, match=r"in\[0\] offset 1 is not valid JSON"):
        env.execute()


@pytest.mark.parametrize("fmt", ["json", "avro", "custom"])
def test_dead_letter_topic_takes_records_that_fail_to_decode(log_url: str, fmt: str) -> None:
    from millstream.core.serde import get_serde

    schema = {"type": "record", "name": "E", "fields": [{"name": "n", "type": "long"}]}
    good = {
        "json": lambda n: orjson.dumps({"n": n}),
        "avro": lambda n: get_serde("avro", schema=schema).serialize({"n": n}),
        "custom": lambda n: f"n={n}".encode(),
    }[fmt]
    log = open_log(log_url)
    log.create_topic("in", 1)
    log.create_topic("dlq", 1)
    bad = ProducerRecord(b"", b"k7", 7_000, (("trace", b"t-7"),))
    log.append("in", 0, [ProducerRecord(good(n), None, n * 1000) for n in range(5)] + [bad])
    log.append("in", 0, [ProducerRecord(good(n), None, n * 1000) for n in range(5, 8)])
    b = LogSource.builder().set_log(log_url).set_topics("in").set_bounded(OffsetsInitializer.latest())
    if fmt == "custom":
        b.set_deserializer(lambda r: {"n": int(r.value.decode().removeprefix("n="))})
    elif fmt == "avro":
        b.set_value_format("avro", schema)
    env = env_()
    sink = CollectingSink()
    env.from_source(b.set_dead_letter_topic("dlq").build(), WatermarkStrategy.no_watermarks()).sink_to(sink)
    env.execute()
    assert [v["n"] for v in sink.values] == list(range(8))  # the job went on past the bad record
    assert sink.timestamps == [n * 1000 for n in range(8)]
    (routed,) = log.read("dlq", 0, 0)
    assert (routed.key, routed.value, routed.timestamp) == (b"k7", b"", 7_000)
    headers = dict(routed.headers)
    assert headers["trace"] == b"t-7"
    assert headers["__millstream.errors.topic"] == b"in"
    assert headers["__millstream.errors.partition"] == b"0"
    assert headers["__millstream.errors.offset"] == b"5"
    assert headers["__millstream.errors.exception.message"]
    assert headers["__millstream.errors.exception.class.name"]
    log.close()


def test_dead_letter_topic_must_exist(log_url: str) -> None:
    from millstream.stream.errors import JobFailedError

    put(log_url, "in", 0, [({"n": 1}, 1)])
    src = LogSource.builder().set_log(log_url).set_topics("in").set_bounded(OffsetsInitializer.latest())
    env = env_()
    env.from_source(src.set_dead_letter_topic("no-such-dlq").build(), WatermarkStrategy.no_watermarks()).add_sink(
        lambda v: None
    )
    with pytest.raises(JobFailedError, match="no-such-dlq"):
        env.execute()


def test_unbounded_source_runs_until_cancelled(log_url: str) -> None:
    put(log_url, "in", 0, [({"n": i}, i) for i in range(5)])
    env = env_()
    seen: list[int] = []
    src = LogSource.builder().set_log(log_url).set_topics("in").set_group_id("live").build()
    env.from_source(src, WatermarkStrategy.no_watermarks()).map(lambda e: e["n"]).add_sink(seen.append)
    client = env.execute_async("live")
    deadline = time.monotonic() + 10
    while len(seen) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    put(log_url, "in", 1, [({"n": 99}, 99)])
    while len(seen) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.get_job_status() == "RUNNING"
    client.cancel()
    assert client.wait(5)
    assert client.get_job_status() == "CANCELED"
    assert sorted(seen) == [0, 1, 2, 3, 4, 99]
    log = open_log(log_url)
    committed = log.committed_offsets("live")
    assert sum(committed.values()) == 6  # positions committed on stop
    log.close()


def test_idle_partition_is_left_out_of_the_watermark(log_url: str) -> None:
    from millstream.core.clock import ManualClock

    put(log_url, "in", 0, [({"v": 1}, 1_000), ({"v": 2}, 5_000)])  # partition 1 stays empty
    clock = ManualClock(0)
    env = env_().set_clock(clock)
    fired: list[Any] = []
    read: list[Any] = []
    src = LogSource.builder().set_log(log_url).set_topics("in").build()
    strategy = WatermarkStrategy.for_monotonous_timestamps().with_idleness(Duration.of_seconds(1))
    (
        env.from_source(src, strategy)
        .map(lambda e: (read.append(e), e)[1])
        .key_by(lambda e: 0)
        .window(TumblingEventTimeWindows.of(1000))
        .apply(lambda k, w, es: [(w.start, [e["v"] for e in es])])
        .add_sink(fired.append)
    )
    client = env.execute_async()
    deadline = time.monotonic() + 10
    while len(read) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert fired == []  # partition 1 has no watermark yet: nothing fires
    clock.advance(1_500)  # partition 1 has seen nothing for 1.5 s of processing time: idle
    put(log_url, "in", 0, [({"v": 3}, 5_500)])  # partition 0 stays active; the minimum is its watermark
    while not fired and time.monotonic() < deadline:
        time.sleep(0.01)
    client.cancel()
    assert fired == [(1000, [1])]
    # (when every partition is idle the watermark does not move, as in Flink)


def test_file_source_and_sink(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"w": "x y"}\n{"w": "y"}\n')
    (tmp_path / "b.txt").write_text("p\nq\n")
    env = env_()
    (
        env.from_source(FileSource.for_paths(str(tmp_path / "a.jsonl"), format="json"))
        .flat_map(lambda e: e["w"].split())
        .sink_to(FileSink.for_path(str(tmp_path / "out.txt")))
    )
    env.read_text_file(str(tmp_path / "b.txt")).map(lambda s: {"line": s}).sink_to(
        FileSink.for_path(str(tmp_path / "out.jsonl"), format="json")
    )
    env.execute()
    assert (tmp_path / "out.txt").read_text() == "x\ny\ny\n"
    assert (tmp_path / "out.jsonl").read_text() == '{"line":"p"}\n{"line":"q"}\n'


def test_print_and_execute_and_collect(capsys: Any) -> None:
    env = env_()
    env.from_collection([1, 2]).map(str).print("out")
    env.execute()
    assert capsys.readouterr().out == "out> 1\nout> 2\n"
    env = env_()
    env.from_collection([3, 1, 2]).key_by(lambda x: x % 2).sum()
    assert list(env.execute_and_collect()) == [3, 4, 2]
    assert env_().from_collection(range(5)).execute_and_collect(limit=2) == [0, 1]


def test_add_source_with_generator_and_custom_reader() -> None:
    from millstream.runtime.sources import SourceReader

    class TwoPartitions(SourceReader):
        """A connector-style reader: partitions 'a' and 'b', bounded."""

        def __init__(self) -> None:
            self.data = {"a": [(1, 10), (2, 20)], "b": [(3, 15)]}

        def partitions(self) -> list[Any]:
            return ["a", "b"]

        def read(self, pid: Any, max_records: int) -> tuple[list[Any], list[Any]]:
            rows, self.data[pid] = self.data[pid][:max_records], self.data[pid][max_records:]
            return [v for v, _ in rows], [t for _, t in rows]

        def done(self, pid: Any) -> bool:
            return not self.data[pid]

    class Connector:
        def create_reader(self, clock: Any) -> SourceReader:
            return TwoPartitions()

    env = env_()
    env.get_config().set_auto_watermark_interval(0)
    gen = CollectingSink()
    custom = CollectingSink()

    def numbers() -> Any:
        yield from range(3)

    env.add_source(numbers).sink_to(gen)
    env.add_source(Connector()).rebalance().sink_to(custom)
    env.execute()
    assert gen.values == [0, 1, 2]
    assert sorted(zip(custom.values, custom.timestamps, strict=True)) == [(1, 10), (2, 20), (3, 15)]


def test_avro_values_round_trip(log_url: str) -> None:
    schema = {
        "type": "record",
        "name": "E",
        "fields": [{"name": "k", "type": "string"}, {"name": "n", "type": "int"}],
    }
    log = open_log(log_url)
    log.create_topic("avro-in", 1)
    log.create_topic("avro-out", 1)
    log.close()
    env = env_()
    env.from_collection([{"k": "a", "n": 1}, {"k": "b", "n": 2}]).sink_to(
        LogSink.builder().set_log(log_url).set_topic("avro-in").set_value_format("avro", schema).build()
    )
    env.execute()
    env = env_()
    sink = CollectingSink()
    src = (
        LogSource.builder()
        .set_log(log_url)
        .set_topics("avro-in")
        .set_bounded(OffsetsInitializer.latest())
        .set_value_format("avro", schema)
        .build()
    )
    env.from_source(src, WatermarkStrategy.no_watermarks()).map(lambda e: e["n"] * 10).sink_to(sink)
    env.execute()
    assert sink.values == [10, 20]
    with pytest.raises(JobConfigError, match="needs a schema"):
        LogSource.builder().set_topics("t").set_value_format("avro")


def test_flink_style_serialization_schemas(log_url: str) -> None:
    from millstream.connectors import KafkaRecordSerializationSchema, SimpleStringSchema

    log = open_log(log_url)
    log.create_topic("words", 2)
    log.close()
    env = env_()
    serializer = (
        KafkaRecordSerializationSchema.builder()
        .set_topic("words")
        .set_value_serialization_schema(SimpleStringSchema())
        .set_key_serialization_schema(SimpleStringSchema())
        .build()
    )
    env.from_collection(["x", "y", "x"]).sink_to(
        LogSink.builder().set_log(log_url).set_record_serializer(serializer).build()
    )
    env.execute()
    env = env_()
    sink = CollectingSink()
    src = (
        LogSource.builder()
        .set_log(log_url)
        .set_topics("words")
        .set_bounded(OffsetsInitializer.latest())
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    env.from_source(src, WatermarkStrategy.no_watermarks()).sink_to(sink)
    env.execute()
    assert sorted(sink.values) == ["x", "x", "y"]


def test_missing_sink_topic_fails_naming_the_sink(log_url: str) -> None:
    from millstream.stream.errors import JobFailedError

    env = env_()
    env.from_collection([1]).sink_to(LogSink.builder().set_log(log_url).set_topic("nope").build()).name("out")
    with pytest.raises(JobFailedError, match="unknown topic 'nope'") as info:
        env.execute()
    assert info.value.operator == "out"


def test_design_example_runs_on_the_default_log(tmp_path: Path, monkeypatch: Any) -> None:
    """DESIGN.md's example: Kafka-named connectors without servers use $MILLSTREAM_LOG (here file://)."""
    from millstream.functions import AggregateFunction

    monkeypatch.setenv("MILLSTREAM_LOG", f"file://{tmp_path}/default")
    log = open_log()
    log.create_topic("clicks", 1)
    log.create_topic("page-views", 1)
    log.append(
        "clicks",
        0,
        [
            ProducerRecord(orjson.dumps({"page": p, "ts": ts}), None, ts)
            for p, ts in [("a", 1), ("b", 2), ("a", 70_000)]
        ],
    )

    class CountPerWindow(AggregateFunction):
        def create_accumulator(self) -> int:
            return 0

        def add(self, value: Any, accumulator: int) -> int:
            return accumulator + 1

        def get_result(self, accumulator: int) -> int:
            return accumulator

        def merge(self, a: int, b: int) -> int:
            return a + b

    env = env_()
    clicks = env.from_source(
        KafkaSource.builder()
        .set_topics("clicks")
        .set_value_format("json")
        .set_bounded(OffsetsInitializer.latest())
        .build(),
        WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(5)).with_timestamp_assigner(
            lambda e, ts: e["ts"]
        ),
        "clicks",
    )
    (
        clicks.key_by(lambda e: e["page"])
        .window(TumblingEventTimeWindows.of(Duration.of_minutes(1)))
        .aggregate(CountPerWindow())
        .sink_to(KafkaSink.builder().set_topic("page-views").build())
    )
    env.execute("page views")
    out = [(orjson.loads(r.value), r.timestamp) for r in log.read("page-views", 0, 0)]
    log.close()
    assert out == [(1, 59_999), (1, 59_999), (1, 119_999)]  # a and b in the first minute, a again
