"""The PyFlink API surface added for issue 16: generic function classes, contexts, Row/Types, Configuration,
evictors, watermark generators, checkpoint settings, Kafka reset strategies and execute_and_collect."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from millstream import StreamExecutionEnvironment, WatermarkStrategy
from millstream.common import Configuration, Row, RowKind, Types, Watermark, WatermarkGenerator
from millstream.connectors import KafkaOffsetResetStrategy, OffsetsInitializer
from millstream.functions import (
    AggregateFunction,
    KeyedProcessFunction,
    ProcessWindowFunction,
    SourceFunction,
)
from millstream.stream.errors import JobConfigError
from millstream.stream.typeinfo import java_double
from millstream.windows import CountTrigger, DeltaEvictor, GlobalWindows, TimeWindow, Trigger


def env_() -> StreamExecutionEnvironment:
    return StreamExecutionEnvironment.get_execution_environment()


def test_function_classes_are_subscriptable_and_contexts_are_annotations() -> None:
    class Pwf(ProcessWindowFunction[tuple, tuple, str, TimeWindow]):
        def process(self, key: str, context: ProcessWindowFunction.Context, elements: Any) -> Any:
            yield (key, context.window().start, len(list(elements)))

    class Kpf(KeyedProcessFunction):
        def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Any:
            yield value

        def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Any:
            return None

    class Agg(AggregateFunction[int, int, int]):
        pass

    class Trig(Trigger[tuple, TimeWindow]):
        pass

    assert issubclass(Pwf, ProcessWindowFunction) and Agg and Trig and Kpf
    assert hasattr(KeyedProcessFunction.OnTimerContext, "time_domain")


def test_row_field_access_and_printing(capsys: pytest.CaptureFixture[str]) -> None:
    row = Row(name="a", count=2)
    assert (row.name, row["count"], row[0], len(row)) == ("a", 2, "a", 2)
    assert row.as_dict() == {"name": "a", "count": 2} and "name" in row
    assert repr(row) == "Row(name='a', count=2)" and repr(Row(1, 2)) == "<Row(1, 2)>"
    person = Row("name", "age")
    assert person("Alice", 11) == Row(name="Alice", age=11)
    with pytest.raises(AttributeError, match="no field"):
        _ = row.missing
    env = env_()
    ds = env.from_collection([("a", 1), ("b", 2)], type_info=Types.TUPLE([Types.STRING(), Types.INT()]))
    ds.map(
        lambda x: Row(word=x[0], n=x[1] * 1.5, big=x[1] > 1),
        output_type=Types.ROW_NAMED(["word", "n", "big"], [Types.STRING(), Types.DOUBLE(), Types.BOOLEAN()]),
    ).print()
    env.execute()
    assert capsys.readouterr().out.splitlines() == ["+I[a,1.5,False]", "+I[b,3.0,True]"]
    assert str(Row.of_kind(RowKind.DELETE, 1).get_row_kind()) == "-D"


def test_declared_tuple_type_prints_like_flink_and_undeclared_like_python(capsys: pytest.CaptureFixture[str]) -> None:
    env = env_()
    ds = env.from_collection([("a", 1), ("a", 2)], type_info=Types.TUPLE([Types.STRING(), Types.INT()]))
    ds.key_by(lambda x: x[0]).sum(1).print("t")
    env.execute()
    env = env_()
    env.from_collection([("a", 1)]).map(lambda x: x).print()
    env.execute()
    assert capsys.readouterr().out.splitlines() == ["t> (a,1)", "t> (a,3)", "('a', 1)"]


def test_java_double_formatting() -> None:
    assert [java_double(v) for v in (1.0, 0.1, 1e7, 1.5e-4, 123456.75, -2.5e10, 0.001)] == [
        "1.0",
        "0.1",
        "1.0E7",
        "1.5E-4",
        "123456.75",
        "-2.5E10",
        "0.001",
    ]


def test_configuration_applies_known_keys() -> None:
    conf = Configuration().set_integer("parallelism.default", 2).set_string("execution.runtime-mode", "batch")
    conf.set_string("execution.checkpointing.interval", "10 s").set_string("pipeline.jars", "file:///x.jar")
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    assert env.get_parallelism() == 2 and env.config.runtime_mode == "BATCH"
    assert env.config.checkpoint_interval == 10_000 and env.config.params["pipeline.jars"] == "file:///x.jar"
    assert Configuration.from_dict({"a": 1}).get_integer("a") == 1


def test_add_jars_and_python_files_are_accepted() -> None:
    env = env_()
    env.add_jars("file:///opt/flink-sql-connector-kafka.jar")
    env.add_classpaths("file:///opt/x.jar")
    env.add_python_file("/tmp/x.py")


def test_checkpoint_config_setters() -> None:
    env = env_()
    env.enable_checkpointing(1000)
    cc = env.get_checkpoint_config()
    cc.set_min_pause_between_checkpoints(500).set_checkpoint_timeout(60_000)
    cc.set_tolerable_checkpoint_failure_number(2).set_max_concurrent_checkpoints(1)
    cc.enable_unaligned_checkpoints()
    cc.set_externalized_checkpoint_retention("RETAIN_ON_CANCELLATION")
    assert cc.get_min_pause_between_checkpoints() == 500 and cc.get_checkpoint_timeout() == 60_000
    assert cc.get_tolerable_checkpoint_failure_number() == 2 and cc.is_unaligned_checkpoints_enabled()
    with pytest.raises(JobConfigError, match="tolerable"):
        cc.set_tolerable_checkpoint_failure_number(-1)
    with pytest.raises(JobConfigError, match="retention"):
        cc.set_externalized_checkpoint_retention("KEEP")


def test_min_pause_spaces_checkpoints(tmp_path: Any) -> None:
    class Slow(SourceFunction):
        def run(self, ctx: Any) -> None:
            for i in range(30):
                ctx.collect(i)
                time.sleep(0.02)

    def count(pause: int) -> int:
        env = env_()
        env.enable_checkpointing(10)
        env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / str(pause)))
        env.get_checkpoint_config().set_min_pause_between_checkpoints(pause)
        env.add_source(Slow()).add_sink(lambda v: None)
        return env.execute(job_id=f"pause-{pause}").checkpoints.completed

    assert count(10_000) <= 2 < count(0)


def test_committed_offsets_error_names_the_fix() -> None:
    assert OffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.LATEST).reset == "latest"
    with pytest.raises(JobConfigError, match="not an OffsetsInitializer") as err:
        OffsetsInitializer.committed_offsets(OffsetsInitializer.earliest())  # type: ignore[arg-type]
    assert "KafkaOffsetResetStrategy.EARLIEST" in (err.value.hint or "")


def test_delta_evictor_drops_elements_far_from_the_newest() -> None:
    env = env_()
    out = list(
        env.from_collection([("k", v) for v in (1, 2, 10, 11, 12, 3)])
        .key_by(lambda x: x[0])
        .window(GlobalWindows.create())
        .trigger(CountTrigger.of(3))
        .evictor(DeltaEvictor.of(5, lambda a, b: abs(a[1] - b[1])))
        .process(lambda key, ctx, els: [[v for _, v in els]])
        .execute_and_collect()
    )
    # first firing (1, 2, 10): 1 and 2 are >= 5 from 10; second (10, 11, 12, 3): only 3 is kept
    assert out == [[10], [3]]


def test_watermark_generator_drives_event_time() -> None:
    class EveryOther(WatermarkGenerator):
        def __init__(self) -> None:
            self.n = 0

        def on_event(self, event: Any, event_timestamp: int, output: Any) -> None:
            self.n += 1
            if self.n % 2 == 0:
                output.emit_watermark(Watermark(event_timestamp))

    env = env_()
    strategy = WatermarkStrategy.for_generator(lambda ctx: EveryOther()).with_timestamp_assigner(lambda e, ts: e)
    from millstream.functions import ProcessFunction

    class Wm(ProcessFunction):
        def process_element(self, value: Any, ctx: Any) -> Any:
            yield (value, ctx.timer_service().current_watermark())

    out = list(
        env.from_collection([1, 2, 3, 4]).assign_timestamps_and_watermarks(strategy).process(Wm()).execute_and_collect()
    )
    assert [w for _, w in out][1:] == [-(2**63), 2, 2]
    assert WatermarkStrategy.for_monotonous_timestamps().with_watermark_alignment("g", 1000).alignment == (
        "g",
        1000,
        1000,
    )


def test_execute_and_collect_streams_an_unbounded_job_and_close_cancels_it() -> None:
    stop = threading.Event()

    class Endless(SourceFunction):
        def run(self, ctx: Any) -> None:
            i = 0
            while not stop.is_set():
                ctx.collect(i)
                i += 1
                time.sleep(0.002)

        def cancel(self) -> None:
            stop.set()

    env = env_()
    t0 = time.monotonic()
    with env.add_source(Endless()).map(lambda x: x * 2).execute_and_collect() as it:
        first = [next(it) for _ in range(10)]
    assert first == [2 * i for i in range(10)]
    assert time.monotonic() - t0 < 10
    env = env_()
    stop.clear()
    assert env.add_source(Endless()).execute_and_collect(limit=3) == [0, 1, 2]
    env = env_()
    assert list(env.from_collection(range(4)).execute_and_collect()) == [0, 1, 2, 3]


@pytest.mark.parametrize("parallelism", [1, 2])
def test_keyed_broadcast_state(parallelism: int) -> None:
    from millstream.functions import KeyedBroadcastProcessFunction
    from millstream.state import ListStateDescriptor, MapStateDescriptor

    rules_desc = MapStateDescriptor("rules", Types.STRING(), Types.INT())

    class Apply(KeyedBroadcastProcessFunction):
        def open(self, rc: Any) -> None:
            self.buf = rc.get_list_state(ListStateDescriptor("buf", Types.INT()))

        def process_element(self, value: Any, ctx: Any) -> None:
            self.buf.add(value[1])
            ctx.timer_service().register_event_time_timer(10_000)
            with pytest.raises(JobConfigError, match="read-only"):
                ctx.get_broadcast_state(rules_desc).put("x", 1)

        def process_broadcast_element(self, value: Any, ctx: Any) -> None:
            ctx.get_broadcast_state(rules_desc).put(value[0], value[1])

        def on_timer(self, ts: int, ctx: Any) -> Any:
            limit = ctx.get_broadcast_state(rules_desc).get(ctx.get_current_key())
            yield ctx.get_current_key(), [v for v in self.buf.get() if limit is None or v <= limit]

    env = env_()
    env.set_parallelism(parallelism)
    wm = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda e, t: e[2])
    events = env.from_collection([("a", 5, 1), ("b", 7, 2), ("a", 50, 3), ("b", 1, 4)])
    rules = env.from_collection([("a", 10, 0)]).assign_timestamps_and_watermarks(wm).broadcast(rules_desc)
    out = list(
        events.assign_timestamps_and_watermarks(wm)
        .key_by(lambda e: e[0])
        .connect(rules)
        .process(Apply())
        .execute_and_collect()
    )
    assert sorted(out) == [("a", [5]), ("b", [7, 1])]


def test_broadcast_needs_the_matching_function() -> None:
    from millstream.functions import BroadcastProcessFunction
    from millstream.state import MapStateDescriptor

    env = env_()
    bs = env.from_collection([1]).broadcast(MapStateDescriptor("r", Types.INT(), Types.INT()))
    with pytest.raises(JobConfigError, match="KeyedBroadcastProcessFunction"):
        env.from_collection([1]).key_by(lambda x: x).connect(bs).process(BroadcastProcessFunction())
    with pytest.raises(JobConfigError, match="MapStateDescriptor"):
        env.from_collection([1]).broadcast("rules")
