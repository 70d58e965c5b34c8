"""The millstream side of a parity case: the same pipeline through millstream's public DataStream API.

Each case runs in a fresh ``StreamExecutionEnvironment``: ``from_collection`` of the case's
``(key, ts, value)`` tuples, ``assign_timestamps_and_watermarks`` with
``for_bounded_out_of_orderness(d)`` and the ``ts`` field as event time, then the case's window, count
window or join, with functions that format their results exactly like ``flink_runner.py`` and the Java
glue do. Results come back as rows plus their record timestamps (``CollectingSink``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from millstream import Duration, OutputTag, StreamExecutionEnvironment, WatermarkStrategy
from millstream.functions import (
    AggregateFunction,
    Aggregates,
    Count,
    JoinFunction,
    Max,
    Min,
    ProcessJoinFunction,
    ProcessWindowFunction,
    Sum,
)
from millstream.testing import CollectingSink
from millstream.windows import (
    CountTrigger,
    DeltaEvictor,
    EventTimeSessionWindows,
    GlobalWindows,
    SlidingEventTimeWindows,
    TimeEvictor,
    TumblingEventTimeWindows,
)

from .cases import Case


class WindowFormat(ProcessWindowFunction):
    """``["w", key, start, end, count, sum, sorted values]`` for each firing of a time window."""

    def process(self, key: Any, context: Any, elements: Iterable[Any]) -> Iterable[Any]:
        values = sorted(e[2] for e in elements)
        window = context.window()
        yield ["w", key, window.start, window.end, len(values), sum(values), values]


class CountFormat(ProcessWindowFunction):
    """``["c", key, values in window order]`` for each firing of a count window."""

    def process(self, key: Any, context: Any, elements: Iterable[Any]) -> Iterable[Any]:
        yield ["c", key, [e[2] for e in elements]]


class ValuesAggregate(AggregateFunction):
    """Incremental aggregate collecting the values of a window (twin of ``ValuesAggregate.java``)."""

    def create_accumulator(self) -> list[int]:
        return []

    def add(self, value: Any, accumulator: list[int]) -> list[int]:
        return [*accumulator, value[2]]

    def get_result(self, accumulator: list[int]) -> list[int]:
        return accumulator

    def merge(self, acc_a: list[int], acc_b: list[int]) -> list[int]:
        return acc_a + acc_b


class ValuesWindowFormat(ProcessWindowFunction):
    """Formats a list of values (from ``ValuesAggregate`` or the reduce variant) like ``WindowFormat``."""

    def process(self, key: Any, context: Any, elements: Iterable[Any]) -> Iterable[Any]:
        values = sorted(v for result in elements for v in result)
        window = context.window()
        yield ["w", key, window.start, window.end, len(values), sum(values), values]


class ReducedWindowFormat(ProcessWindowFunction):
    """Formats the one reduced element ``(k, ts, v, values)`` of a window like ``WindowFormat``."""

    def process(self, key: Any, context: Any, elements: Iterable[Any]) -> Iterable[Any]:
        values = sorted(v for reduced in elements for v in reduced[3])
        window = context.window()
        yield ["w", key, window.start, window.end, len(values), sum(values), values]


class BuiltinWindowFormat(ProcessWindowFunction):
    """``["w", key, start, end, count, sum, min, max]`` from the built-in ``Aggregates`` result."""

    def process(self, key: Any, context: Any, elements: Iterable[Any]) -> Iterable[Any]:
        for agg in elements:
            window = context.window()
            yield ["w", key, window.start, window.end, agg["count"], agg["sum"], agg["min"], agg["max"]]


#: How the millstream side computes a time window's result; every variant must give Flink's rows.
#: "process": ProcessWindowFunction over the window's elements (list state);
#: "aggregate": aggregate(AggregateFunction, ProcessWindowFunction) (incremental state);
#: "reduce": reduce(ReduceFunction, ProcessWindowFunction) over elements carrying their values;
#: "builtin": aggregate(Aggregates(count=Count(), sum=Sum(2), min=Min(2), max=Max(2)), ...), compared
#: on (key, start, end, count, sum, min, max) - see :func:`project_builtin`.
#: aggregate/reduce/builtin take millstream's fast path for tumbling windows without allowed lateness.
WINDOW_VARIANTS = ("process", "aggregate", "reduce", "builtin")


def project_builtin(row: Any) -> Any:
    """A Flink window row projected to what the "builtin" variant yields (late rows unchanged)."""
    if row[0] != "w":
        return row
    values = row[6]
    return [*row[:6], min(values), max(values)]


class IntervalJoinFormat(ProcessJoinFunction):
    """``["j", key, left ts, left v, right ts, right v, output timestamp]`` for each pair."""

    def process_element(self, left: Any, right: Any, ctx: Any) -> Iterable[Any]:
        yield ["j", left[0], left[1], left[2], right[1], right[2], ctx.get_timestamp()]


class WindowJoinFormat(JoinFunction):
    """``["j", key, left ts, left v, right ts, right v]`` for each pair of a window."""

    def join(self, value1: Any, value2: Any) -> Any:
        return ["j", value1[0], value1[1], value1[2], value2[1], value2[2]]


def _key(element: Any) -> Any:
    return element[0]


def _source(env: StreamExecutionEnvironment, rows: list[tuple[str, int, int]], delay: int) -> Any:
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(delay)).with_timestamp_assigner(
        lambda element, _ts: element[1]
    )
    return env.from_collection([tuple(r) for r in rows]).assign_timestamps_and_watermarks(strategy)


def _assigner(spec: dict[str, Any]) -> Any:
    kind = spec["type"]
    if kind == "tumbling":
        return TumblingEventTimeWindows.of(Duration.of_millis(spec["size"]), Duration.of_millis(spec["offset"]))
    if kind == "sliding":
        return SlidingEventTimeWindows.of(
            Duration.of_millis(spec["size"]),
            Duration.of_millis(spec["slide"]),
            Duration.of_millis(spec["offset"]),
        )
    if kind == "session":
        return EventTimeSessionWindows.with_gap(Duration.of_millis(spec["gap"]))
    raise ValueError(f"unknown window type {kind!r}")


def _window_function(windowed: Any, variant: str) -> Any:
    if variant == "process":
        return windowed.process(WindowFormat())
    if variant == "aggregate":
        return windowed.aggregate(ValuesAggregate(), window_function=ValuesWindowFormat())
    if variant == "reduce":
        return windowed.reduce(lambda a, b: (a[0], max(a[1], b[1]), a[2], a[3] + b[3]), ReducedWindowFormat())
    if variant == "builtin":
        builtin = Aggregates(count=Count(), sum=Sum(2), min=Min(2), max=Max(2))
        return windowed.aggregate(builtin, window_function=BuiltinWindowFormat())
    raise ValueError(f"unknown window function variant {variant!r}")


def _build(env: StreamExecutionEnvironment, case: Case, variant: str) -> list[Any]:
    """Builds the case's pipeline; returns the streams whose elements are the case's results."""
    if case.kind == "window":
        assert case.window is not None
        source = _source(env, case.inputs["main"], case.delay)
        if variant == "reduce":  # elements carry the tuple of values they stand for
            source = source.map(lambda e: (e[0], e[1], e[2], (e[2],)))
        windowed = source.key_by(_key).window(_assigner(case.window))
        if case.lateness:
            windowed = windowed.allowed_lateness(case.lateness)
        tag = OutputTag("late")
        if case.late_output:
            windowed = windowed.side_output_late_data(tag)
        result = _window_function(windowed, variant)
        if not case.late_output:
            return [result]
        late = result.get_side_output(tag).map(lambda e: ["late", e[0], e[1], e[2]])
        return [result, late]
    if case.kind == "count":
        assert case.count is not None
        keyed = _source(env, case.inputs["main"], case.delay).key_by(_key)
        return [keyed.count_window(case.count["size"], case.count["slide"]).process(CountFormat())]
    if case.kind == "evict":
        assert case.count is not None
        spec = case.extra["evictor"]
        keyed = _source(env, case.inputs["main"], case.delay).key_by(_key)
        if case.window is not None:
            ws = keyed.window(_assigner(case.window))
        else:
            ws = keyed.window(GlobalWindows.create()).trigger(CountTrigger.of(case.count["size"]))
        if spec["type"] == "time":
            evictor: Any = TimeEvictor.of(Duration.of_millis(spec["ms"]), spec["after"])
        else:
            evictor = DeltaEvictor.of(spec["threshold"], lambda a, b: abs(a[1] - b[1]), spec["after"])
        return [ws.evictor(evictor).process(WindowFormat() if case.window is not None else CountFormat())]
    if case.kind == "interval_join":
        spec = case.join
        assert spec is not None
        left = _source(env, case.inputs["left"], case.delay).key_by(_key)
        right = _source(env, case.inputs["right"], case.delay).key_by(_key)
        joined = left.interval_join(right).between(Duration.of_millis(spec["lo"]), Duration.of_millis(spec["hi"]))
        if spec.get("lo_exclusive"):
            joined = joined.lower_bound_exclusive()
        if spec.get("hi_exclusive"):
            joined = joined.upper_bound_exclusive()
        return [joined.process(IntervalJoinFormat())]
    if case.kind == "window_join":
        assert case.window is not None
        left = _source(env, case.inputs["left"], case.delay)
        right = _source(env, case.inputs["right"], case.delay)
        joined = left.join(right).where(_key).equal_to(_key).window(_assigner(case.window))
        return [joined.apply(WindowJoinFormat())]
    raise ValueError(f"unknown case kind {case.kind!r}")


def run_millstream(
    case: Case,
    variant: str = "process",
    batch_size: int | None = None,
    parallelism: int = 1,
    state_backend: Any = None,
) -> tuple[list[Any], list[Any]]:
    """Runs ``case`` through millstream; returns (result rows, their record timestamps), sinks in order.

    ``variant`` (time-window cases only) picks the window function, see :data:`WINDOW_VARIANTS`;
    ``batch_size`` (default: the engine's) is how many records each operator call gets; ``parallelism`` is the
    job's (the collection source runs with 1, its timestamps operator too, the rest with ``parallelism`` on
    worker processes); ``state_backend`` (default: the in-memory one) is given to ``env.set_state_backend``.
    """
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    if state_backend is not None:
        env.set_state_backend(state_backend)
    if batch_size is not None:
        env.set_batch_size(batch_size)
    sinks = []
    for stream in _build(env, case, variant):
        sink = CollectingSink()
        stream.sink_to(sink)
        sinks.append(sink)
    env.execute(f"parity {case.id}")
    rows = [row for sink in sinks for row in sink.values]
    stamps = [ts for sink in sinks for ts in sink.timestamps]
    return rows, stamps
