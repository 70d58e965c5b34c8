"""Parallel jobs on worker processes: identical results at every parallelism, partitioners, watermarks across
exchanges, idle subtasks, collecting results (millstream.runtime.parallel)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSource, OffsetsInitializer
from millstream.functions import Aggregates, Count, MapFunction, ProcessWindowFunction, Sum
from millstream.testing import CollectingSink
from millstream.windows import TumblingEventTimeWindows

from .conftest import write_events


def source(url: str, topic: str = "events", bounded: bool = True) -> LogSource:
    b = (
        LogSource.builder()
        .set_log(url)
        .set_topics(topic)
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_value_format("json")
    )
    if bounded:
        b = b.set_bounded(OffsetsInitializer.latest())
    return b.build()


STRATEGY = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(30)).with_timestamp_assigner(
    lambda e, ts: e["ts"]
)


class Labelled(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        for r in elements:
            yield (key, context.window().start, r["n"], r["bytes"])


def windowed(url: str, parallelism: int, topic: str = "events", batch: int | None = None) -> CollectingSink:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    if batch:
        env.set_batch_size(batch)
    sink = CollectingSink()
    (
        env.from_source(source(url, topic), STRATEGY, "events")
        .key_by(lambda e: e["page"])
        .window(TumblingEventTimeWindows.of(Duration.of_millis(500)))
        .aggregate(Aggregates(n=Count(), bytes=Sum("bytes")), Labelled())
        .sink_to(sink)
    )
    result = env.execute(f"windows p{parallelism}")
    assert result.records_written["CollectingSink"] == len(sink.values)
    return sink


@pytest.mark.parametrize("partitions", [1, 4])
def test_windowed_results_are_identical_at_every_parallelism(log_url: str, partitions: int) -> None:
    write_events(log_url, "events", partitions, 3000)
    base = windowed(log_url, 1)
    assert len(base.values) > 100
    for p, batch in ((2, None), (3, 7), (4, None)):
        got = windowed(log_url, p, batch=batch)
        assert sorted(got.values) == sorted(base.values), f"parallelism {p}"
        assert sorted(zip(got.values, got.timestamps, strict=True)) == sorted(
            zip(base.values, base.timestamps, strict=True)
        )


class Subtask(MapFunction):
    """Tags each element with the index of the subtask that mapped it."""

    def open(self, runtime_context: Any) -> None:
        self.index = runtime_context.get_index_of_this_subtask()
        self.n = runtime_context.get_number_of_parallel_subtasks()

    def map(self, value: Any) -> Any:
        return (self.index, self.n, value["i"])


@pytest.mark.parametrize("strategy", ["rebalance", "broadcast", "global", "custom", "shuffle", "hash"])
def test_partitioners_route_as_flinks_do(log_url: str, strategy: str) -> None:
    write_events(log_url, "events", 2, 600)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    s = env.from_source(source(log_url), None, "events")
    routed = {
        "rebalance": lambda: s.rebalance(),
        "broadcast": lambda: s.broadcast(),
        "global": lambda: s.global_(),
        "custom": lambda: s.partition_custom(lambda key, n: key % n, lambda e: e["i"]),
        "shuffle": lambda: s.shuffle(),
        "hash": lambda: s.key_by(lambda e: e["page"]),
    }[strategy]()
    sink = CollectingSink()
    routed.map(Subtask()).set_parallelism(3).sink_to(sink)
    env.execute(strategy)
    per = Counter(index for index, n, _ in sink.values)
    assert {n for _, n, _ in sink.values} == {3}
    seen = Counter(i for _, _, i in sink.values)
    if strategy == "broadcast":
        assert per == {0: 600, 1: 600, 2: 600} and set(seen.values()) == {3}
        return
    assert sorted(seen) == list(range(600)) and set(seen.values()) == {1}
    if strategy == "rebalance":
        assert per == {0: 200, 1: 200, 2: 200}
    elif strategy == "global":
        assert per == {0: 600}
    elif strategy == "custom":
        assert all(i % 3 == index for index, _, i in sink.values)
    elif strategy == "shuffle":
        assert min(per.values()) > 100
    else:  # hash: a page always lands on the same subtask
        pages = {}
        for index, _, i in sink.values:
            assert pages.setdefault(i % 20, index) == index


def test_collection_source_feeds_parallel_operators_and_execute_and_collect(log_url: str) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    out = env.from_collection(list(range(100))).map(lambda x: x * 2).execute_and_collect()
    assert sorted(out) == [x * 2 for x in range(100)]


def test_a_parallel_job_runs_in_a_process_with_more_than_1024_files_open(log_url: str) -> None:
    """Its sockets get numbers above ``select``'s FD_SETSIZE: the coordinator and the transport wait on them with
    ``poll`` (``select`` failed with "filedescriptor out of range", once a long test session had that many open)."""
    import os
    import resource

    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1200:
        pytest.skip("fewer than 1200 files may be open here")
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(2)
        out = env.from_collection(list(range(100))).key_by(lambda x: x % 7).map(lambda x: x + 1).execute_and_collect()
        assert sorted(out) == list(range(1, 101))
    finally:
        for fd in held:
            os.close(fd)


def test_union_and_interval_join_across_exchanges(log_url: str) -> None:
    write_events(log_url, "events", 4, 1000)

    def run(p: int) -> list[Any]:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(p)
        a = env.from_source(source(log_url), STRATEGY, "a")
        b = env.from_source(source(log_url), STRATEGY, "b").filter(lambda e: e["i"] % 3 == 0)
        both = a.union(b.map(lambda e: {**e, "page": e["page"] + "!"})).map(lambda e: e["page"])
        joined = (
            a.key_by(lambda e: e["page"])
            .interval_join(b.key_by(lambda e: e["page"]))
            .between(Duration.of_millis(-20), Duration.of_millis(20))
            .process(lambda left, right, ctx: [(left["i"], right["i"])])
        )
        s1, s2 = CollectingSink(), CollectingSink()
        both.sink_to(s1)
        joined.sink_to(s2)
        env.execute("union and join")
        return [sorted(s1.values), sorted(s2.values)]

    assert run(2) == run(1)


def test_idle_subtasks_do_not_hold_back_watermarks(log_url: str, no_orphans: list[Any]) -> None:
    """One partition, three source subtasks: two have no split, are idle, and the windows still fire."""
    write_events(log_url, "events", 1, 400)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(3)
    sink = CollectingSink()
    (
        env.from_source(source(log_url, bounded=False), STRATEGY, "events")
        .key_by(lambda e: e["page"])
        .window(TumblingEventTimeWindows.of(Duration.of_millis(500)))
        .aggregate(Aggregates(n=Count()))
        .sink_to(sink)
    )
    client = env.execute_async("idle")
    no_orphans.append(client.runner)
    deadline = time.monotonic() + 60
    while len(sink.values) < 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    client.cancel()
    assert len(sink.values) >= 7  # 400 events over 4 s of event time: the windows up to the watermark fired
    assert client.get_job_status() == "CANCELED"
