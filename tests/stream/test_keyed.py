"""Keyed process functions, state (with TTL), timers, rolling aggregations, union/connect, side outputs."""

from __future__ import annotations

from typing import Any

from millstream import Duration, OutputTag, WatermarkStrategy
from millstream.core.clock import ManualClock
from millstream.functions import (
    CoMapFunction,
    KeyedCoProcessFunction,
    KeyedProcessFunction,
    ProcessFunction,
    ReduceFunction,
    Sum,
    TimeDomain,
)
from millstream.state import (
    AggregatingStateDescriptor,
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    StateTtlConfig,
    ValueStateDescriptor,
)
from millstream.testing import CollectionSource, Pause, timestamped

from .conftest import run_collect, values


def wm_src(env: Any, pairs: list[tuple[Any, int]], d: int = 0) -> Any:
    return env.from_source(
        timestamped(pairs), WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(d))
    )


class CountWithTimeout(KeyedProcessFunction):
    """Counts per key; emits (key, count, timer_ts) 10 ms of event time after the key's last element."""

    def open(self, runtime_context: Any) -> None:
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))
        self.last = runtime_context.get_state(ValueStateDescriptor("last"))
        self.seen = runtime_context.get_list_state(ListStateDescriptor("seen"))
        self.by_value = runtime_context.get_map_state(MapStateDescriptor("by_value"))
        self.total = runtime_context.get_reducing_state(ReducingStateDescriptor("total", lambda a, b: a + b))
        self.agg = runtime_context.get_aggregating_state(AggregatingStateDescriptor("agg", Sum()))

    def process_element(self, value: Any, ctx: Any) -> Any:
        c = (self.count.value() or 0) + 1
        self.count.update(c)
        self.seen.add(value[1])
        self.by_value.put(value[1], c)
        self.total.add(value[1])
        self.agg.add(value[1])
        old = self.last.value()
        if old is not None:
            ctx.timer_service().delete_event_time_timer(old)
        t = ctx.timestamp() + 10
        ctx.timer_service().register_event_time_timer(t)
        self.last.update(t)
        if value[1] < 0:
            yield OutputTag("negative"), value

    def on_timer(self, timestamp: int, ctx: Any) -> Any:
        assert ctx.time_domain() == TimeDomain.EVENT_TIME
        yield (
            ctx.get_current_key(),
            self.count.value(),
            timestamp,
            list(self.seen.get()),
            sorted(self.by_value.keys()),
            self.total.get(),
            self.agg.get(),
        )
        self.count.clear()
        self.seen.clear()


def test_keyed_process_state_and_event_timers(collect: Any) -> None:
    pairs = [(("a", 1), 1), (("b", 2), 2), (("a", 3), 5), (("b", -1), 20), (("a", 4), 40)]
    neg = OutputTag("negative")

    def build(env: Any) -> Any:
        p = wm_src(env, pairs).key_by(lambda e: e[0]).process(CountWithTimeout())
        return {"main": p, "neg": p.get_side_output(neg)}

    out = collect(build)
    # b's timer at 12 is replaced by 30 before the watermark reaches 12 (b@20 arrives at wm 4)
    assert out["main"] == [
        (("a", 2, 15, [1, 3], [1, 3], 4, 4), 15),
        (("b", 2, 30, [2, -1], [-1, 2], 1, 1), 30),
        (("a", 1, 50, [4], [1, 3, 4], 8, 8), 50),
    ]
    assert values(out["neg"]) == [("b", -1)]


class ProcTimer(KeyedProcessFunction):
    def process_element(self, value: Any, ctx: Any) -> Any:
        ctx.timer_service().register_processing_time_timer(
            ctx.timer_service().current_processing_time() + 100
        )
        return None

    def on_timer(self, timestamp: int, ctx: Any) -> Any:
        yield (ctx.get_current_key(), timestamp, ctx.time_domain())


def test_processing_time_timers_with_manual_clock() -> None:
    items = [("a", 1), Pause(50), ("b", 2), Pause(60), ("c", 3), Pause(200)]

    def build(env: Any) -> Any:
        return env.from_source(CollectionSource(items)).key_by(lambda e: e[0]).process(ProcTimer())

    for b in (1, 7, 10_000):
        out = run_collect(build, b, ManualClock(1000))["out"]
        assert out == [
            (("a", 1100, TimeDomain.PROCESSING_TIME), None),
            (("b", 1150, TimeDomain.PROCESSING_TIME), None),
            (("c", 1210, TimeDomain.PROCESSING_TIME), None),
        ]


class TtlCounter(KeyedProcessFunction):
    def open(self, runtime_context: Any) -> None:
        d = ValueStateDescriptor("c")
        d.enable_time_to_live(StateTtlConfig.new_builder(Duration.of_millis(100)).build())
        self.c = runtime_context.get_state(d)

    def process_element(self, value: Any, ctx: Any) -> Any:
        n = (self.c.value() or 0) + 1
        self.c.update(n)
        yield (value, n)


def test_state_ttl_expires_on_processing_time() -> None:
    items = ["k", "k", Pause(99), "k", Pause(100), "k", Pause(150), "k"]

    def build(env: Any) -> Any:
        return env.from_source(CollectionSource(items)).key_by(lambda e: e).process(TtlCounter())

    out = values(run_collect(build, 7, ManualClock(0))["out"])
    assert out == [("k", 1), ("k", 2), ("k", 3), ("k", 1), ("k", 1)]


def test_rolling_aggregations(collect: Any) -> None:
    data = [("a", 3, "x"), ("a", 1, "y"), ("b", 5, "z"), ("a", 4, "w")]

    class Add(ReduceFunction):
        def reduce(self, a: Any, b: Any) -> Any:
            return (a[0], a[1] + b[1], b[2])

    def build(env: Any) -> Any:
        s = env.from_collection(data)
        k = lambda e: e[0]  # noqa: E731
        return {
            "reduce": s.key_by(k).reduce(Add()),
            "sum": s.key_by(k).sum(1),
            "min": s.key_by(k).min(1),
            "max_by": s.key_by(k).max_by(1),
            "min_by": s.key_by(k).min_by(1),
        }

    out = collect(build)
    assert values(out["reduce"]) == [("a", 3, "x"), ("a", 4, "y"), ("b", 5, "z"), ("a", 8, "w")]
    assert values(out["sum"]) == [("a", 3, "x"), ("a", 4, "x"), ("b", 5, "z"), ("a", 8, "x")]
    assert values(out["min"]) == [("a", 3, "x"), ("a", 1, "x"), ("b", 5, "z"), ("a", 1, "x")]
    assert values(out["max_by"]) == [("a", 3, "x"), ("a", 3, "x"), ("b", 5, "z"), ("a", 4, "w")]
    assert values(out["min_by"]) == [("a", 3, "x"), ("a", 1, "y"), ("b", 5, "z"), ("a", 1, "y")]


def test_map_filter_flat_map_process_and_side_outputs(collect: Any) -> None:
    odd = OutputTag("odd")

    class Split(ProcessFunction):
        def process_element(self, value: Any, ctx: Any) -> Any:
            if value % 2:
                ctx.output(odd, value)
            else:
                yield value * 10

    def build(env: Any) -> Any:
        s = (
            env.from_collection(range(10))
            .filter(lambda x: x != 3)
            .flat_map(lambda x: [x] * (x % 3))
            .map(lambda x: x + 1)
        )
        p = s.process(Split())
        return {"even": p, "odd": p.get_side_output(odd)}

    out = collect(build)
    # values x in 0..9 without 3, repeated x % 3 times, plus 1
    expanded = [x + 1 for x in range(10) if x != 3 for _ in range(x % 3)]
    assert values(out["even"]) == [v * 10 for v in expanded if v % 2 == 0]
    assert values(out["odd"]) == [v for v in expanded if v % 2]


def test_union_takes_minimum_watermark(collect: Any) -> None:
    from millstream.windows import TumblingEventTimeWindows

    a = [(("k", 1), 1), (("k", 2), 50)]
    b = [(("k", 3), 5), (("k", 4), 8)]

    def build(env: Any) -> Any:
        u = wm_src(env, a).union(wm_src(env, b))
        return (
            u.key_by(lambda e: e[0])
            .window(TumblingEventTimeWindows.of(10))
            .apply(lambda k, w, es: [(w.start, sorted(e[1] for e in es))])
        )

    # a's watermark races ahead to 49, but b's holds the union back: nothing of b is late
    assert values(collect(build)["out"]) == [(0, [1, 3, 4]), (50, [2])]


def test_connect_co_map_and_keyed_co_process() -> None:
    class Tag(CoMapFunction):
        def map1(self, value: Any) -> Any:
            return ("left", value)

        def map2(self, value: Any) -> Any:
            return ("right", value)

    class Enrich(KeyedCoProcessFunction):
        def open(self, runtime_context: Any) -> None:
            self.name = runtime_context.get_state(ValueStateDescriptor("name"))

        def process_element1(self, value: Any, ctx: Any) -> Any:
            self.name.update(value[1])

        def process_element2(self, value: Any, ctx: Any) -> Any:
            yield (value[0], value[1], self.name.value())

    def build(env: Any) -> Any:
        left = env.from_collection([1, 2])
        right = env.from_collection(["x"])
        names = env.from_collection([("a", "Alice"), ("b", "Bob")])
        orders = env.from_collection([("a", 10), ("b", 20), ("a", 30)])
        enriched = names.connect(orders).key_by(lambda e: e[0], lambda e: e[0]).process(Enrich())
        return {"co": left.connect(right).map(Tag()), "enriched": enriched}

    for b in (1, 7, 10_000):
        out = run_collect(build, b)
        # interleaving of two sources depends on batch size; the set of outputs does not
        assert sorted(values(out["co"])) == [("left", 1), ("left", 2), ("right", "x")]
        # sources are read round-robin in creation order, so each name precedes the orders of its key
        assert values(out["enriched"]) == [("a", 10, "Alice"), ("b", 20, "Bob"), ("a", 30, "Alice")]
