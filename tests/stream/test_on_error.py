"""``on_error``: elements on which a user function raises go to a side output (and on to a dead-letter topic)
instead of failing the job; the rest of the batch goes on; a limit fails the job anyway; fail-fast stays the
default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink, LogSource, OffsetsInitializer
from millstream.functions import KeyedProcessFunction, ProcessFunction
from millstream.log import open_log
from millstream.state import ValueStateDescriptor
from millstream.stream.errors import JobConfigError, JobFailedError
from millstream.stream.functions import OutputTag
from millstream.testing import CollectingSink

FAILED = OutputTag("failed")


def parse(s: str) -> dict[str, Any]:
    return {"n": int(s)}  # "x" raises ValueError


def elements() -> list[str]:
    return ["1", "2", "x", "4", "y", "6"]


def run(build: Any, parallelism: int = 1, batch: int | None = None) -> tuple[list[Any], list[Any]]:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    if batch:
        env.set_batch_size(batch)
    good, bad = CollectingSink(), CollectingSink()
    main = build(env.from_collection(elements()))
    main.sink_to(good)
    main.get_side_output(FAILED).sink_to(bad)
    env.execute("on_error")
    return good.values, bad.values


@pytest.mark.parametrize("batch", [1, 2, 100])
def test_a_failing_map_routes_the_element_and_goes_on(batch: int) -> None:
    good, bad = run(lambda ds: ds.map(parse).on_error(FAILED), batch=batch)
    assert good == [{"n": 1}, {"n": 2}, {"n": 4}, {"n": 6}]
    assert [b["element"] for b in bad] == ["x", "y"]
    first = bad[0]
    assert first["error"] == "ValueError: invalid literal for int() with base 10: 'x'"
    assert first["operator"] == "Map" and first["position"] == 2
    assert "in parse" in first["traceback"] and "int(s)" in first["traceback"]


def test_filter_flat_map_and_process_route_failures_and_drop_their_partial_outputs() -> None:
    class Twice(ProcessFunction):
        def process_element(self, value: str, ctx: Any) -> Any:
            yield f"{value}-a"
            yield int(value)  # raises after one output for "x": that output is dropped too

    good, bad = run(lambda ds: ds.filter(lambda s: int(s) % 2 == 0).on_error(FAILED))
    assert good == ["2", "4", "6"] and [b["element"] for b in bad] == ["x", "y"]

    def explode(s: str) -> Any:
        yield s
        yield int(s)

    good, bad = run(lambda ds: ds.flat_map(explode).on_error(FAILED))
    assert good == ["1", 1, "2", 2, "4", 4, "6", 6] and [b["element"] for b in bad] == ["x", "y"]
    good, bad = run(lambda ds: ds.process(Twice()).on_error(FAILED))
    assert good == ["1-a", 1, "2-a", 2, "4-a", 4, "6-a", 6] and [b["operator"] for b in bad] == ["Process"] * 2


def test_a_keyed_process_function_keeps_its_state_for_the_good_elements() -> None:
    class Sum(KeyedProcessFunction):
        def open(self, ctx: Any) -> None:
            self.total = ctx.get_state(ValueStateDescriptor("total"))

        def process_element(self, value: str, ctx: Any) -> Any:
            t = (self.total.value() or 0) + int(value)
            self.total.update(t)
            yield t

    good, bad = run(lambda ds: ds.key_by(lambda s: "k").process(Sum()).on_error(FAILED))
    assert good == [1, 3, 7, 13] and [b["element"] for b in bad] == ["x", "y"]


def test_more_failures_than_max_errors_fail_the_job_naming_the_limit() -> None:
    with pytest.raises(JobFailedError) as info:
        run(lambda ds: ds.map(parse).on_error(FAILED, max_errors=1))
    assert info.value.element == "y"
    assert "more than on_error's max_errors=1" in "\n".join(getattr(info.value.__cause__, "__notes__", []))


def test_without_on_error_the_first_failure_fails_the_job() -> None:
    with pytest.raises(JobFailedError) as info:
        run(lambda ds: ds.map(parse))
    assert info.value.element == "x" and info.value.operator == "Map"


def test_on_error_is_refused_where_it_does_not_apply() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    ds = env.from_collection(elements())
    with pytest.raises(JobConfigError, match="on_error\\(\\) applies to map, filter, flat_map and process"):
        ds.key_by(lambda s: s).reduce(lambda a, b: a).on_error(FAILED)
    with pytest.raises(JobConfigError, match="needs an OutputTag"):
        ds.map(parse).on_error("failed")  # type: ignore[arg-type]
    with pytest.raises(JobConfigError, match="max_errors must be a non-negative int"):
        ds.map(parse).on_error(FAILED, max_errors=-1)


@pytest.mark.slow
def test_failed_records_reach_a_dead_letter_topic_at_parallelism_2(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/log"
    with open_log(url) as log:
        log.create_topic("in", 2)
        log.create_topic("dead-letters", 1)
        log.create_topic("out", 1)
        for p in range(2):
            log.append("in", p, [(f"{v}".encode(), None, 1000 + i) for i, v in enumerate(["1", "x", "3", "4"])])
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    src = (
        LogSource.builder()
        .set_log(url)
        .set_topics("in")
        .set_value_format("string")
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .build()
    )
    parsed = env.from_source(src, WatermarkStrategy.for_monotonous_timestamps(), "in").map(parse).on_error(FAILED)
    parsed.sink_to(LogSink.builder().set_log(url).set_topic("out").build())
    parsed.get_side_output(FAILED).map(lambda f: {"element": f["element"], "error": f["error"]}).sink_to(
        LogSink.builder().set_log(url).set_topic("dead-letters").build()
    )
    env.execute("dead letters")
    with open_log(url) as log:
        dead = [orjson.loads(r.value) for r in log.read("dead-letters", 0, 0, max_records=100)]
        out = [orjson.loads(r.value) for r in log.read("out", 0, 0, max_records=100)]
    assert sorted(n["n"] for n in out) == [1, 1, 3, 3, 4, 4]
    assert dead == [{"element": "x", "error": "ValueError: invalid literal for int() with base 10: 'x'"}] * 2
