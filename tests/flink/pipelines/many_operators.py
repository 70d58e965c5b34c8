"""A pipeline exercising what the Flink translation covers, for `millstream run --engine flink` tests.

Two JSON-lines files (``events.jsonl`` in event-time order, ``readings.jsonl`` out of order with late
elements) feed: a process function with a side output, tumbling windows with allowed lateness, a late-data
side output and an incremental aggregate, sliding windows with reduce, session windows with a process
function, count windows, a rolling reduce, a keyed process function with value state and event-time timers,
a keyed co-process function over two connected streams, an interval join and a window join. The session
windows' key selector comes from ``pipeline_helpers.py``, a module next to this file. Every result
goes to its own file in ``$OUT`` (one line per element).
"""

import os
from pathlib import Path

from pipeline_helpers import user_of  # a module next to this file (shipped to a remote cluster)

from millstream import Duration, OutputTag, WatermarkStrategy
from millstream.connectors import FileSink, FileSource
from millstream.functions import (
    AggregateFunction,
    KeyedCoProcessFunction,
    KeyedProcessFunction,
    ProcessFunction,
    ProcessJoinFunction,
    ProcessWindowFunction,
)
from millstream.state import ValueStateDescriptor
from millstream.windows import EventTimeSessionWindows, SlidingEventTimeWindows, TumblingEventTimeWindows

HERE = Path(__file__).parent
OUT = Path(os.environ.get("OUT", "out"))
LATE = OutputTag("late")
ODD = OutputTag("odd")


class SplitOdd(ProcessFunction):
    def process_element(self, value, ctx):
        if value["v"] % 2:
            yield ODD, {"odd": value["v"], "ts": ctx.timestamp()}
        yield value


class Total(AggregateFunction):
    def create_accumulator(self):
        return (0, 0)

    def add(self, value, acc):
        return (acc[0] + 1, acc[1] + value["v"])

    def get_result(self, acc):
        return acc

    def merge(self, a, b):
        return (a[0] + b[0], a[1] + b[1])


class WindowLine(ProcessWindowFunction):
    def process(self, key, context, elements):
        for count, total in elements:
            w = context.window()
            yield f"{key} [{w.start},{w.end}) count={count} sum={total} wm<{w.max_timestamp() + 1}"


class Sessions(ProcessWindowFunction):
    def process(self, key, context, elements):
        vs = sorted(e["v"] for e in elements)
        yield {"user": key, "start": context.window().start, "end": context.window().end, "values": vs}


class Timeouts(KeyedProcessFunction):
    """Counts a user's events; 5 ms (event time) after each, emits the count if nothing came since."""

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))
        self.last = runtime_context.get_state(ValueStateDescriptor("last"))

    def process_element(self, value, ctx):
        self.count.update((self.count.value() or 0) + 1)
        self.last.update(ctx.timestamp())
        ctx.timer_service().register_event_time_timer(ctx.timestamp() + 5)

    def on_timer(self, timestamp, ctx):
        if self.last.value() is not None and timestamp == self.last.value() + 5:
            yield {"user": ctx.get_current_key(), "quiet_at": timestamp, "count": self.count.value()}


class PerSideCounts(KeyedCoProcessFunction):
    def open(self, runtime_context):
        self.left = runtime_context.get_state(ValueStateDescriptor("left"))
        self.right = runtime_context.get_state(ValueStateDescriptor("right"))

    def process_element1(self, value, ctx):
        n = (self.left.value() or 0) + 1
        self.left.update(n)
        yield ["events", ctx.get_current_key(), n, value["v"]]

    def process_element2(self, value, ctx):
        n = (self.right.value() or 0) + 1
        self.right.update(n)
        yield ["readings", ctx.get_current_key(), n, value["v"]]


class JoinLine(ProcessJoinFunction):
    def process_element(self, left, right, ctx):
        yield [left["user"], left["v"], right["v"], ctx.get_timestamp()]


def strategy(delay):
    return WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(delay)).with_timestamp_assigner(
        lambda e, ts: e["ts"]
    )


def sink(stream, name, fmt="json"):
    stream.sink_to(FileSink.for_path(str(OUT / name), format=fmt))


def build(env):
    OUT.mkdir(parents=True, exist_ok=True)
    events = env.from_source(FileSource.for_paths(str(HERE / "events.jsonl"), format="json"), strategy(0), "events")
    readings = env.from_source(
        FileSource.for_paths(str(HERE / "readings.jsonl"), format="json"), strategy(3), "readings"
    )
    split = readings.process(SplitOdd())
    sink(split.get_side_output(ODD), "odd.txt")
    tumbling = (
        split.key_by(lambda e: e["user"])
        .window(TumblingEventTimeWindows.of(Duration.of_millis(10)))
        .allowed_lateness(Duration.of_millis(4))
        .side_output_late_data(LATE)
        .aggregate(Total(), window_function=WindowLine())
    )
    sink(tumbling, "tumbling.txt", "text")
    sink(tumbling.get_side_output(LATE).map(lambda e: ["late", e["user"], e["ts"], e["v"]]), "late.txt")
    sliding = (
        readings.map(lambda e: {**e, "vs": [e["v"]]})
        .key_by(lambda e: e["user"])
        .window(SlidingEventTimeWindows.of(Duration.of_millis(12), Duration.of_millis(4)))
        .reduce(lambda a, b: {**a, "vs": sorted(a["vs"] + b["vs"])})
        .map(lambda e: [e["user"], e["vs"]])
    )
    sink(sliding, "sliding.txt")
    sessions = events.key_by(user_of).window(EventTimeSessionWindows.with_gap(Duration.of_millis(6)))
    sink(sessions.process(Sessions()), "sessions.txt")
    counts = (
        events.key_by(lambda e: e["user"])
        .count_window(3, 2)
        .apply(lambda key, window, elements: [[key, [e["v"] for e in elements]]])
    )
    sink(counts, "count_windows.txt")
    rolling = (
        events.filter(lambda e: e["v"] % 3 != 0)
        .key_by(lambda e: e["user"])
        .reduce(lambda a, b: {"user": a["user"], "v": a["v"] + b["v"], "ts": b["ts"]})
    )
    sink(rolling.map(lambda e: [e["user"], e["v"]]), "rolling.txt")
    sink(events.key_by(lambda e: e["user"]).process(Timeouts()), "timeouts.txt")
    co = events.connect(readings).key_by(lambda e: e["user"], lambda e: e["user"]).process(PerSideCounts())
    sink(co, "co_process.txt")
    joined = (
        events.key_by(lambda e: e["user"])
        .interval_join(events.flat_map(lambda e: [e] if e["v"] % 2 == 0 else []).key_by(lambda e: e["user"]))
        .between(Duration.of_millis(-3), Duration.of_millis(2))
        .process(JoinLine())
    )
    sink(joined, "interval_join.txt")
    wjoin = (
        events.join(events.filter(lambda e: e["v"] % 4 == 0))
        .where(lambda e: e["user"])
        .equal_to(lambda e: e["user"])
        .window(TumblingEventTimeWindows.of(Duration.of_millis(15)))
        .apply(lambda a, b: [a["user"], a["v"], b["v"]])
    )
    sink(wjoin, "window_join.txt")
