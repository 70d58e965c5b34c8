"""The lean loop (``runtime.lean_loop``): chosen for one source → map/filter/flat_map chain → one sink, and only
then; its output, timestamps and watermarks equal the general loop's; failures name the operator and element;
stop and cancel end it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink, LogSource, OffsetsInitializer
from millstream.core.record import ProducerRecord
from millstream.functions import SinkFunction
from millstream.log import open_log
from millstream.runtime import job as job_module
from millstream.stream.errors import JobFailedError
from millstream.windows import TumblingEventTimeWindows
from tests.fixtures.job_control import end_and_check

BASE_TS = 1_700_000_000_000


def fill(url: str, topic: str, n: int, partitions: int = 2) -> None:
    log = open_log(url)
    log.create_topic(topic, partitions)
    for p in range(partitions):
        recs = [ProducerRecord(orjson.dumps({"i": i, "p": p}), None, BASE_TS + i * 10) for i in range(p, n, partitions)]
        log.append(topic, p, recs)
    log.close()


def bounded(url: str, topic: str) -> LogSource:
    return (
        LogSource.builder()
        .set_log(url)
        .set_topics(topic)
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .build()
    )


class Seen(SinkFunction):
    """Every element with the timestamp and watermark the sink saw it with."""

    def __init__(self) -> None:
        self.got: list[tuple[Any, Any, int]] = []

    def invoke(self, value: Any, context: Any) -> None:
        self.got.append((value, context.timestamp(), context.current_watermark()))


def explode(e: dict[str, Any]) -> Any:
    return [{**e, "copy": c} for c in range(e["i"] % 3)]


CHAINS = {
    "map": lambda s: s.map(lambda e: {**e, "hop": 1}),
    "filter": lambda s: s.filter(lambda e: e["i"] % 3 != 0),
    "flat_map": lambda s: s.flat_map(explode),
    "map-filter-flat_map": lambda s: (
        s.map(lambda e: {**e, "x": e["i"] * 2}).filter(lambda e: e["x"] % 4).flat_map(explode)
    ),
}

STRATEGIES = {
    "none": WatermarkStrategy.no_watermarks,
    "bounded": lambda: WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(15)),
}


def run_chain(url: str, chain: str, strategy: str, sink: Any, *, general: bool, monkeypatch: Any) -> Any:
    """Run the chain on the topic ``in`` into ``sink``; ``general`` forces the general loop."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(7)  # several batches per partition
    s = env.from_source(bounded(url, "in"), STRATEGIES[strategy](), "in")
    out = CHAINS[chain](s)
    if isinstance(sink, LogSink):
        out.sink_to(sink)
    else:
        out.add_sink(sink)
    with monkeypatch.context() as m:
        if general:
            m.setattr(job_module, "lean_chain", lambda runner, checkpointing: None)
        client = env.execute_async(f"{chain}-{general}")
        result = client.get_job_execution_result(30)
    assert client.runner.lean is not general
    return result


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_sink_sees_what_the_general_loop_gives_it(tmp_path: Path, chain: str, strategy: str, monkeypatch: Any) -> None:
    url = f"file://{tmp_path}/log"
    fill(url, "in", 60)
    seen = {}
    for general in (False, True):
        sink = Seen()
        run_chain(url, chain, strategy, sink, general=general, monkeypatch=monkeypatch)
        seen[general] = sink.got
    assert seen[False] == seen[True]
    assert seen[False]  # every chain keeps some elements


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_log_sink_output_equals_the_general_loop(tmp_path: Path, chain: str, monkeypatch: Any) -> None:
    url = f"file://{tmp_path}/log"
    fill(url, "in", 60)
    log = open_log(url)
    out = {}
    for general in (False, True):
        topic = f"out-{general}"
        log.create_topic(topic, 2)
        sink = LogSink.builder().set_log(url).set_topic(topic).build()
        res = run_chain(url, chain, "bounded", sink, general=general, monkeypatch=monkeypatch)
        recs = [(p, r.value, r.timestamp) for p in range(2) for r in log.read(topic, p, 0, max_records=10_000)]
        out[general] = (recs, res.records_written)
    log.close()
    assert out[False] == out[True]
    assert out[False][0]


def lean_of(env: StreamExecutionEnvironment) -> bool:
    client = env.execute_async("which loop")
    client.get_job_execution_result(30)
    return client.runner.lean


def test_chosen_only_for_one_source_a_stateless_chain_and_one_sink(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/log"
    fill(url, "in", 20)
    fill(url, "in2", 20)

    def env_and_source(name: str = "in") -> tuple[StreamExecutionEnvironment, Any]:
        env = StreamExecutionEnvironment.get_execution_environment()
        strategy = WatermarkStrategy.for_monotonous_timestamps()
        return env, env.from_source(bounded(url, name), strategy, name)

    env, s = env_and_source()
    s.map(lambda e: e).filter(lambda e: True).flat_map(lambda e: [e]).add_sink(lambda v: None)
    assert lean_of(env)

    env, s = env_and_source()  # keyed state
    s.key_by(lambda e: e["p"]).reduce(lambda a, b: a).add_sink(lambda v: None)
    assert not lean_of(env)

    env, s = env_and_source()  # a window
    s.key_by(lambda e: e["p"]).window(TumblingEventTimeWindows.of(Duration.of_millis(50))).reduce(
        lambda a, b: a
    ).add_sink(lambda v: None)
    assert not lean_of(env)

    env, s = env_and_source()  # two sources
    _, s2 = None, env.from_source(bounded(url, "in2"), WatermarkStrategy.no_watermarks(), "in2")
    s.union(s2).map(lambda e: e).add_sink(lambda v: None)
    assert not lean_of(env)

    env, s = env_and_source()  # two sinks
    m = s.map(lambda e: e)
    m.add_sink(lambda v: None)
    m.add_sink(lambda v: None)
    assert not lean_of(env)

    env, s = env_and_source()  # checkpointing on: the general loop takes the checkpoints
    env.enable_checkpointing(60_000)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "cp"))
    s.map(lambda e: e).add_sink(lambda v: None)
    assert not lean_of(env)


def test_a_failing_function_names_its_operator_and_element(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/log"
    fill(url, "in", 40, partitions=1)

    def boom(e: dict[str, Any]) -> Any:
        if e["i"] == 23:
            raise ValueError("bad element")
        return e

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(5)
    s = env.from_source(bounded(url, "in"), WatermarkStrategy.no_watermarks(), "in")
    s.filter(lambda e: e["i"] % 2 == 1).map(boom).name("boom-map").uid("m1").add_sink(lambda v: None)
    client = env.execute_async("boom")
    with pytest.raises(JobFailedError) as info:
        client.get_job_execution_result(30)
    assert client.runner.lean
    err = info.value
    assert isinstance(err.__cause__, ValueError)
    assert err.operator == "boom-map" and err.uid == "m1" and err.position == 11  # the 12th odd element
    assert "element #11" in str(err)


def fails_on_4(e: dict[str, Any]) -> int:
    return 1 // (e["i"] - 4)


def test_a_failing_filter_and_flat_map_name_themselves(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/log"
    fill(url, "in", 10, partitions=1)
    for op in ("filter", "flat_map"):
        env = StreamExecutionEnvironment.get_execution_environment()
        s = env.from_source(bounded(url, "in"), WatermarkStrategy.no_watermarks(), "in")
        (s.filter(fails_on_4) if op == "filter" else s.flat_map(lambda e: [fails_on_4(e)])).name(f"bad-{op}").add_sink(
            lambda v: None
        )
        client = env.execute_async(op)
        with pytest.raises(JobFailedError) as info:
            client.get_job_execution_result(30)
        assert client.runner.lean
        assert info.value.operator == f"bad-{op}" and info.value.position == 4


@pytest.mark.parametrize("how", ["cancel", "stop"])
def test_stop_and_cancel_end_the_lean_loop(tmp_path: Path, how: str) -> None:
    url = f"file://{tmp_path}/log"
    fill(url, "in", 10)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_buffer_timeout(5000)  # a wait that did not end on stop/cancel would show
    source = LogSource.builder().set_log(url).set_topics("in").set_starting_offsets(OffsetsInitializer.earliest())
    got: list[Any] = []
    env.from_source(source.build(), WatermarkStrategy.no_watermarks(), "in").map(lambda e: e["i"]).add_sink(got.append)
    client = env.execute_async("unbounded")
    deadline = time.monotonic() + 10
    while len(got) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(got) == list(range(10))
    assert client.runner.lean
    time.sleep(0.1)  # waiting for data
    end_and_check(client, how, stop_timeout_s=10, within_s=1.0)


def test_metrics_are_those_of_the_general_loop(tmp_path: Path, monkeypatch: Any) -> None:
    from millstream.core import sensors

    url = f"file://{tmp_path}/log"
    fill(url, "in", 40)
    reports: dict[bool, dict[tuple[str, str], float]] = {}

    class Sensor:
        def __init__(self, got: dict[tuple[str, str], float], key: tuple[str, str]) -> None:
            self.got, self.key = got, key

        def inc(self, n: float = 1) -> None:
            self.got[self.key] = self.got.get(self.key, 0) + n

        def set(self, value: float) -> None:
            self.got[self.key] = value

        def observe(self, value: float) -> None:
            self.got[self.key] = value

    for general in (False, True):
        got: dict[tuple[str, str], float] = {}
        sensors.install(lambda name, scope, tags, got=got: Sensor(got, (scope.partition(".")[2], name)))
        try:
            run_chain(url, "map-filter-flat_map", "bounded", Seen(), general=general, monkeypatch=monkeypatch)
        finally:
            sensors.install(None)
        reports[general] = {k: v for k, v in got.items() if k[1].startswith(("numRecords", "current"))}
    assert reports[False] == reports[True]
    assert reports[False][("in", "numRecordsOut")] == 40
    assert len({scope for scope, _ in reports[False]}) >= 4, reports[False]  # the source, three operators, the sink
