"""Local pre-aggregation of keyed tumbling windows before their exchange (millstream.stream.operators.preagg):
the same results, late elements and dropped counts as sending every element, at a fraction of the records."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.core.record import ProducerRecord
from millstream.functions import (
    AggregateFunction,
    Aggregates,
    Count,
    Max,
    Mean,
    Min,
    ProcessWindowFunction,
    Sum,
)
from millstream.log import open_log
from millstream.runtime.parallel.exchange import ACTIVE, END, IDLE, ExchangeSender
from millstream.stream.errors import JobConfigError, KeySelectorError, OperatorError
from millstream.stream.operators.preagg import (
    MergePartials,
    WindowPreAggregator,
    merging_params,
    pre_aggregation_applies,
)
from millstream.stream.operators.window import WindowFunctionSpec
from millstream.stream.partitioning import Partitioning
from millstream.testing import CollectingSink
from millstream.windows import SlidingEventTimeWindows, TumblingEventTimeWindows

from .test_runtime import source

STRATEGY = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(30)).with_timestamp_assigner(
    lambda e, ts: e["ts"]
)


def write_with_late(url: str, topic: str, partitions: int, n: int) -> None:
    """``n`` events 10 ms apart over 17 pages; every 40th is 3 s behind (late: its window has fired)."""
    with open_log(url) as log:
        log.create_topic(topic, partitions, exist_ok=True)
        per: list[list[ProducerRecord]] = [[] for _ in range(partitions)]
        for i in range(n):
            ts = 1_000_000 + i * 10 - (i % 7) * 10 - (3000 if i % 40 == 39 and i > 400 else 0)
            value = {"page": f"/p{i % 17}", "ts": ts, "bytes": i % 100}
            per[i % partitions].append(ProducerRecord(orjson.dumps(value), None, ts))
        for p, recs in enumerate(per):
            log.append(topic, p, recs)


class Labelled(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        for r in elements:
            yield (key, context.window().start, r)


class MeanBytes(AggregateFunction):
    """A user AggregateFunction with merge."""

    def create_accumulator(self) -> list[int]:
        return [0, 0]

    def add(self, value: Any, acc: list[int]) -> list[int]:
        return [acc[0] + 1, acc[1] + value["bytes"]]

    def get_result(self, acc: list[int]) -> Any:
        return acc[1] / acc[0]

    def merge(self, a: list[int], b: list[int]) -> list[int]:
        return [a[0] + b[0], a[1] + b[1]]


class NoMerge(MeanBytes):
    """The same without merge (Flink only asks for it for merging windows): sent element by element."""

    merge = AggregateFunction.merge  # type: ignore[assignment]


def _max_bytes(a: Any, b: Any) -> Any:
    return a if a["bytes"] >= b["bytes"] else b


FUNCTIONS: dict[str, Any] = {
    "builtins": lambda w: w.aggregate(
        Aggregates(n=Count(), bytes=Sum("bytes"), mean=Mean("bytes"), lo=Min("bytes"), hi=Max("bytes")), Labelled()
    ),
    "reduce": lambda w: w.reduce(_max_bytes),
    "user-aggregate": lambda w: w.aggregate(MeanBytes()),
    "no-merge": lambda w: w.aggregate(NoMerge(), Labelled()),
}


def run(url: str, function: str, parallelism: int, strategy: str = "AUTO") -> tuple[list[Any], int]:
    env = StreamExecutionEnvironment.get_execution_environment({"table.optimizer.agg-phase-strategy": strategy})
    env.set_parallelism(parallelism)
    env.set_batch_size(50)
    sink = CollectingSink()
    events = env.from_source(source(url), STRATEGY, "events").set_parallelism(1)  # one channel per window subtask
    window = events.key_by(lambda e: e["page"]).window(TumblingEventTimeWindows.of(Duration.of_millis(500)))
    FUNCTIONS[function](window).sink_to(sink)
    result = env.execute(f"preagg {function} p{parallelism} {strategy}")
    rows = sorted(zip(map(repr, sink.values), sink.timestamps, strict=True))
    return rows, result.num_late_records_dropped


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_pre_aggregated_windows_equal_one_phase_and_parallelism_1(log_url: str, function: str) -> None:
    """Results, their timestamps and the late elements dropped are the same with and without pre-aggregation
    and at parallelism 1 (the source runs with 1, so each window subtask's watermark is its one input's)."""
    write_with_late(log_url, "events", 1, 3000)
    base, late = run(log_url, function, 1)
    assert len(base) > 100 and late > 20
    assert run(log_url, function, 2) == (base, late)
    assert run(log_url, function, 3, "ONE_PHASE") == (base, late)


def _params(fn: WindowFunctionSpec, **over: Any) -> dict[str, Any]:
    p = {
        "assigner": TumblingEventTimeWindows.of(Duration.of_millis(100)),
        "trigger": None,
        "evictor": None,
        "lateness": 0,
        "fn": fn,
        "key_fn": lambda e: e["k"],
        "late_tag": None,
    }
    p.update(over)
    return p


def test_what_is_pre_aggregated() -> None:
    agg = WindowFunctionSpec("aggregate", Aggregates(n=Count()))
    assert pre_aggregation_applies(_params(agg))
    assert pre_aggregation_applies(_params(WindowFunctionSpec("reduce", _max_bytes)))
    assert not pre_aggregation_applies(_params(WindowFunctionSpec("aggregate", NoMerge())))
    assert not pre_aggregation_applies(_params(WindowFunctionSpec("list")))
    assert not pre_aggregation_applies(_params(agg, lateness=10))
    assert not pre_aggregation_applies(_params(agg, late_tag=object()))
    sliding = SlidingEventTimeWindows.of(Duration.of_millis(100), Duration.of_millis(50))
    assert not pre_aggregation_applies(_params(agg, assigner=sliding))

    class Opens(MeanBytes):
        def open(self, runtime_context: Any) -> None:
            self.opened = True

    assert not pre_aggregation_applies(_params(WindowFunctionSpec("aggregate", Opens())))


def sender(params: dict[str, Any]) -> tuple[ExchangeSender, list[Any], dict[int, list[Any]]]:
    local: list[Any] = []
    outbox: dict[int, list[Any]] = {1: []}
    s = ExchangeSender(
        0,
        Partitioning("HASH", params["key_fn"]),
        0,
        1,
        2,
        128,
        local.append,
        outbox,
        "window (1/2)",
        WindowPreAggregator(params),
        "w",
    )
    return s, local, outbox


def sent(local: list[Any], outbox: dict[int, list[Any]]) -> list[tuple[Any, Any, int]]:
    """(partial, timestamp, watermark before it) of every record sent, in order per channel."""
    return [(v, t, w) for sub in local + outbox[1] for v, t, w in zip(sub[1], sub[2], sub[3], strict=True)]


def test_partials_go_out_before_the_watermark_that_makes_them_due() -> None:
    params = _params(WindowFunctionSpec("aggregate", Aggregates(n=Count(), s=Sum("x"))))
    s, local, outbox = sender(params)
    vals = [{"k": i % 10, "x": i} for i in range(1000)]
    s.process(vals, [i // 20 for i in range(1000)], [-1] * 1000, 40)  # ts 0..49: window [0, 100), open
    assert sent(local, outbox) == []  # nothing due yet: only the watermark went on
    s.process([], [], [], 99)  # window end - 1 reached
    partials = sent(local, outbox)
    assert sorted(v for v, _, _ in partials) == [(k, [100, sum(range(k, 1000, 10))]) for k in range(10)]
    assert {(t, w) for _, t, w in partials} == {(99, 40)}  # max timestamp, the watermark before the due one
    assert s.records_out == 10
    # a late element goes on at once, as one element's partial
    local.clear(), outbox[1].clear()
    s.process([{"k": 3, "x": 7}, {"k": 3, "x": 8}], [5, 150], [99, 99], 99)
    assert sent(local, outbox) == [((3, [1, 7]), 5, 99)]
    # what is held goes out before a barrier
    local.clear(), outbox[1].clear()
    s.send_barrier(1)
    assert [v for v, _, _ in sent(local, outbox)] == [(3, [1, 8])]


def test_merging_partials_gives_the_function_s_results() -> None:
    fn = WindowFunctionSpec("aggregate", MeanBytes())
    merged = merging_params(_params(fn))["fn"]
    assert isinstance(merged.user, MergePartials)
    acc = merged.user.create_accumulator()
    for part in ([2, 10], [3, 5]):
        acc = merged.user.add(("k", part), acc)
    assert merged.user.get_result(acc) == 3.0
    red = merging_params(_params(WindowFunctionSpec("reduce", lambda a, b: a + b)))["fn"].user
    assert red.get_result(red.add(("k", 4), red.add(("k", 3), red.create_accumulator()))) == 7


def test_errors_while_pre_aggregating_name_the_window_and_the_element() -> None:
    s, _, _ = sender(_params(WindowFunctionSpec("aggregate", Aggregates(n=Count())), key_fn=lambda e: e["k"]))
    with pytest.raises(KeySelectorError, match="unhashable key of type list") as info:
        s.process([{"k": 1}, {"k": [1]}], [1, 2], [-1, -1], 0)
    assert info.value.operator == "window (1/2)" and info.value.position == 1
    s, _, _ = sender(_params(WindowFunctionSpec("aggregate", Aggregates(n=Count()))))
    with pytest.raises(OperatorError, match="no timestamp"):
        s.process([{"k": 1}], [None], [-1], 0)


def test_a_bad_agg_phase_strategy_is_refused() -> None:
    with pytest.raises(JobConfigError, match="agg-phase-strategy must be AUTO, ONE_PHASE or TWO_PHASE"):
        StreamExecutionEnvironment.get_execution_environment({"table.optimizer.agg-phase-strategy": "three"})


def test_an_input_that_turns_idle_or_ends_sends_what_it_holds_first() -> None:
    """Idle, the channel no longer holds the window's watermark back: its partials must be there before."""
    for status in (IDLE, END):
        s, local, outbox = sender(_params(WindowFunctionSpec("aggregate", Aggregates(n=Count()))))
        s.process([{"k": 1}, {"k": 2}, {"k": 1}], [1, 2, 3], [-1, -1, -1], 10)
        s.set_status(status)
        assert sorted(v for sub in local + outbox[1] for v in sub[1]) == [(1, [2]), (2, [1])]
        for channel in (local, outbox[1]):  # on each channel: the partials (active), then the status
            assert [sub[5] for sub in channel][-1] == status
            assert all(sub[5] == ACTIVE for sub in channel[:-1])
