"""The exactly-once job of the parallel checkpoint tests (also run as a script by the crash test and the
benchmark): 4-partition page views → key_by page → 500 ms tumbling count + sum → exactly-once log sink, and
key_by page → keyed process state (a running count) → exactly-once file sink."""

from __future__ import annotations

import sys
import time
from typing import Any

from millstream import CheckpointingMode, Duration, RestartStrategies, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import DeliveryGuarantee, FileSink, LogSink, LogSource, OffsetsInitializer
from millstream.functions import Aggregates, Count, KeyedProcessFunction, ProcessWindowFunction, Sum
from millstream.state import ValueStateDescriptor
from millstream.windows import TumblingEventTimeWindows


class Labelled(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        for r in elements:
            yield {"page": key, "start": context.window().start, "n": r["n"], "bytes": r["bytes"]}


class RunningCount(KeyedProcessFunction):
    def open(self, runtime_context: Any) -> None:
        self.count = runtime_context.get_state(ValueStateDescriptor("count", None))

    def process_element(self, value: Any, ctx: Any) -> Any:
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        if n % 50 == 0:
            yield {"page": value["page"], "count": n, "i": value["i"]}


def throttled(seconds: float) -> Any:
    """A map that takes ``seconds`` per element: a slower job, so that kills land in its middle."""

    def slow(e: Any) -> Any:
        time.sleep(seconds)
        return e

    return slow


def build(
    env: StreamExecutionEnvironment,
    log_url: str,
    out_dir: str,
    *,
    bounded: bool = True,
    interval_ms: int = 200,
    pause_s: float = 0.0,
) -> None:
    env.enable_checkpointing(interval_ms, CheckpointingMode.EXACTLY_ONCE)
    b = (
        LogSource.builder()
        .set_log(log_url)
        .set_topics("events")
        .set_group_id("crash-job")
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_value_format("json")
    )
    if bounded:
        b = b.set_bounded(OffsetsInitializer.latest())
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(30)).with_timestamp_assigner(
        lambda e, ts: e["ts"]
    )
    events = env.from_source(b.build(), strategy, "events").uid("events")
    if pause_s:
        events = events.map(throttled(pause_s)).uid("throttle")
    keyed = events.key_by(lambda e: e["page"])
    (
        keyed.window(TumblingEventTimeWindows.of(Duration.of_millis(500)))
        .aggregate(Aggregates(n=Count(), bytes=Sum("bytes")), Labelled())
        .uid("windows")
        .sink_to(
            LogSink.builder()
            .set_log(log_url)
            .set_topic("windows")
            .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .build()
        )
        .uid("windows-sink")
    )
    (
        keyed.process(RunningCount())
        .uid("counts")
        .sink_to(FileSink.for_path(out_dir, "json", "exactly-once"))
        .uid("counts-sink")
    )


def main() -> None:
    log_url, out_dir, ckpt, parallelism = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    env.get_checkpoint_config().set_checkpoint_storage_dir(ckpt)
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(1000, 100))
    build(env, log_url, out_dir)
    env.execute("crash job", job_id="crash-job")


if __name__ == "__main__":
    main()
