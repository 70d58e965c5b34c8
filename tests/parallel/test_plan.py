"""The planner (millstream.stream.plan): parallelism, max parallelism, partitioning and chaining, as Flink's."""

from __future__ import annotations

import json

import pytest

from millstream import StreamExecutionEnvironment
from millstream.connectors import FileSink, LogSink, LogSource
from millstream.stream.errors import JobConfigError
from millstream.testing import CollectingSink
from millstream.windows import TumblingEventTimeWindows


def log_source() -> LogSource:
    return LogSource.builder().set_log("memory://plan").set_topics("t").build()


def plan_of(env: StreamExecutionEnvironment) -> dict:
    return json.loads(env.get_execution_plan())


def test_key_by_is_a_hash_exchange_and_forward_edges_chain() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(4)
    (
        env.from_source(log_source(), None, "events")
        .map(lambda e: e)
        .key_by(lambda e: e["page"])
        .window(TumblingEventTimeWindows.of(1000))
        .reduce(lambda a, b: a)
        .sink_to(LogSink.builder().set_log("memory://plan").set_topic("out").build())
    )
    nodes = plan_of(env)["nodes"]
    assert [(n["type"], n["parallelism"]) for n in nodes] == [
        ("Source: events", 4),
        ("Map", 4),
        ("Window(Reduce)", 4),
        ("Sink: LogSink", 4),
    ]
    assert [n.get("predecessors", [{}])[0].get("ship_strategy") for n in nodes] == [None, "FORWARD", "HASH", "FORWARD"]
    assert nodes[0]["chain"] == nodes[1]["chain"] != nodes[2]["chain"] == nodes[3]["chain"]
    assert all(n["max_parallelism"] == 128 for n in nodes)
    assert nodes[0]["pact"] == "Data Source" and nodes[3]["pact"] == "Data Sink"


def test_non_parallel_sources_run_with_one_subtask_and_rebalance() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(3)
    env.from_collection([1, 2, 3]).map(lambda x: x).sink_to(CollectingSink())
    nodes = env.plan().nodes
    source, mapper, _sink = nodes.values()
    assert (source.parallelism, mapper.parallelism) == (1, 3)
    assert mapper.inputs[0].partitioning.strategy == "REBALANCE"


def test_explicit_partitionings_and_chaining_controls() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    src = env.from_source(log_source(), None, "s")
    a = src.broadcast().map(lambda x: x).name("a")
    b = a.shuffle().map(lambda x: x).name("b").set_parallelism(3)
    c = b.rescale().filter(bool).name("c").set_parallelism(3)
    d = c.map(lambda x: x).name("d").set_parallelism(3).disable_chaining()
    e = d.global_().map(lambda x: x).name("e").set_parallelism(1)
    f = e.partition_custom(lambda k, n: 0, lambda x: x).map(lambda x: x).name("f").set_parallelism(1)
    f.sink_to(CollectingSink())
    plan = env.plan()
    by_name = {n.t.name: n for n in plan.nodes.values()}
    strategy = {name: by_name[name].inputs[0].partitioning.strategy for name in "abcdef"}
    assert strategy == {"a": "BROADCAST", "b": "SHUFFLE", "c": "RESCALE", "d": "FORWARD", "e": "GLOBAL", "f": "CUSTOM"}
    assert by_name["d"].chain == by_name["d"].id  # disable_chaining: a task of its own


def test_window_all_runs_with_one_subtask() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(4)
    env.from_source(log_source(), None, "s").window_all(TumblingEventTimeWindows.of(10)).reduce(max).sink_to(
        CollectingSink()
    )
    window = next(n for n in env.plan().nodes.values() if n.t.kind == "window")
    assert window.parallelism == 1


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda env: env.set_parallelism(0), "parallelism must be a positive int, got 0"),
        (lambda env: env.set_max_parallelism(0), "max parallelism must be an int from 1 to 32768"),
        (lambda env: env.set_max_parallelism(40000), "max parallelism must be an int from 1 to 32768"),
        (
            lambda env: env.from_collection([1]).set_parallelism(2).sink_to(CollectingSink()) and env.plan(),
            "operator 'Collection Source' cannot run with parallelism 2: its source cannot be split",
        ),
        (
            lambda env: (
                env.from_source(log_source(), None, "s")
                .map(str)
                .set_parallelism(9)
                .set_max_parallelism(8)
                .sink_to(CollectingSink())
                and env.plan()
            ),
            "operator 'Map': parallelism 9 is above its max parallelism 8",
        ),
        (
            lambda env: (
                env.from_source(log_source(), None, "s").forward().map(str).set_parallelism(3).sink_to(CollectingSink())
                and env.plan()
            ),
            "forward partitioning cannot change the parallelism: 's' runs with 1, 'Map' with 3",
        ),
        (
            lambda env: (
                env.from_source(log_source(), None, "s").sink_to(FileSink.for_path("out.txt")).set_parallelism(2)
                and env.plan()
            ),
            "operator 'FileSink' cannot run with parallelism 2: it writes one file",
        ),
    ],
    ids=["zero", "max-zero", "max-too-big", "collection-parallel", "above-max", "forward-mismatch", "one-file"],
)
def test_bad_parallelism_is_a_clear_error(build, message: str) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    with pytest.raises(JobConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(env)
