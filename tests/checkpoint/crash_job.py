"""The job of the crash tests, runnable as a process: ``python crash_job.py LOG_URL CHECKPOINT_DIR
[--interval-ms N] [--batch N] [--slow-us N] [--prefix P] [--guarantee G] [--prop KEY=VALUE ...]``.

    log ``events`` (JSON {"i", "key", "ts"})
      ├─ key_by(key) → 100 ms tumbling windows → count + sum(i) → ``windows``
      └─ map (pass-through, per event)                          → ``passthrough``

Both sinks are exactly-once (``--guarantee``, on the embedded log or Kafka); checkpoints every
``--interval-ms``. ``--prefix`` goes before the topic names, the group and the job id (several jobs on one
broker); ``--prop`` are client properties of the source and sinks (Kafka). Prints ``ready`` once the job is
built (the crash test kills it at random moments after that).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import orjson

import millstream  # noqa: F401 - registers the runtime
from millstream import CheckpointingMode, Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import DeliveryGuarantee, FileSink, LogSink, LogSource, OffsetsInitializer
from millstream.core.record import ProducerRecord
from millstream.functions import Aggregates, Count, ProcessWindowFunction, Sum
from millstream.log import Log
from millstream.windows import TumblingEventTimeWindows

BASE_TS = 1_700_000_000_000


def produce(log: Log, n: int, partitions: int = 2, prefix: str = "") -> None:
    """``n`` events over ``partitions`` partitions, 40 keys, 1 ms apart, slightly out of order."""
    log.create_topic(prefix + "events", partitions, {"retention.ms": -1})
    log.create_topic(prefix + "windows", 2, {"retention.ms": -1})
    log.create_topic(prefix + "passthrough", 2, {"retention.ms": -1})
    batches: dict[int, list[ProducerRecord]] = {p: [] for p in range(partitions)}
    for i in range(n):
        ts = BASE_TS + i - (i % 5) * 7
        p = i % partitions
        batches[p].append(ProducerRecord(orjson.dumps({"i": i, "key": f"k{i % 40}", "ts": ts}), None, ts))
        if len(batches[p]) == 20_000:
            log.append(prefix + "events", p, batches[p])
            batches[p] = []
    for p, b in batches.items():
        if b:
            log.append(prefix + "events", p, b)


class WithKey(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        for r in elements:
            yield {"key": key, "start": context.window().start, "count": r["count"], "sum": r["sum"]}


def build(
    env: StreamExecutionEnvironment,
    url: str,
    slow_us: int = 0,
    guarantee: str = DeliveryGuarantee.EXACTLY_ONCE,
    wrap: Any = None,
    files: str | None = None,
    prefix: str = "",
    properties: dict[str, str] | None = None,
) -> None:
    """Add the job to ``env``; ``wrap(events)`` may add operators right after the source; with ``files``
    the window results also go to an exactly-once file sink (a directory of part files)."""
    source = (
        LogSource.builder()
        .set_log(url)
        .set_topics(prefix + "events")
        .set_group_id(prefix + "crash-job")
        .set_properties(properties or {})
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .build()
    )
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(50)).with_timestamp_assigner(
        lambda e, ts: e["ts"]
    )
    events = env.from_source(source, strategy, "events").uid("events")
    if wrap is not None:
        events = wrap(events)

    def sink(topic: str) -> LogSink:
        b = (
            LogSink.builder()
            .set_log(url)
            .set_topic(prefix + topic)
            .set_key_selector(lambda e: e["key"])
            .set_delivery_guarantee(guarantee)
        )
        for k, v in (properties or {}).items():
            b.set_property(k, v)
        return b.build()

    windows = (
        events.key_by(lambda e: e["key"])
        .window(TumblingEventTimeWindows.of(Duration.of_millis(100)))
        .aggregate(Aggregates(count=Count(), sum=Sum("i")), WithKey())
        .uid("windows")
    )
    windows.sink_to(sink("windows")).uid("windows-sink")
    if files:
        windows.sink_to(FileSink.for_path(files, "json", delivery_guarantee="exactly-once")).uid("windows-files")

    def passthrough(e: Any) -> Any:
        if slow_us:
            end = time.perf_counter() + slow_us / 1e6
            while time.perf_counter() < end:
                pass
        return {"i": e["i"], "key": e["key"]}

    events.map(passthrough).uid("pass").sink_to(sink("passthrough")).uid("pass-sink")


def topic_values(log: Log, topic: str) -> dict[int, list[Any]]:
    """Every committed record value of a topic, per partition, in offset order."""
    out: dict[int, list[Any]] = {}
    for p in range(log.describe_topic(topic).partitions):
        vals: list[Any] = []
        off = 0
        while True:
            recs = log.read(topic, p, off, max_records=50_000)
            if not recs:
                break
            vals.extend(orjson.loads(r.value) for r in recs)
            off = recs[-1].offset + 1
        out[p] = vals
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("checkpoints")
    ap.add_argument("--interval-ms", type=int, default=50)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--slow-us", type=int, default=0)
    ap.add_argument("--files", default=None, help="also write the window results to this directory, exactly once")
    ap.add_argument("--prefix", default="", help="before topic names, the group and the job id")
    ap.add_argument("--guarantee", default=DeliveryGuarantee.EXACTLY_ONCE)
    ap.add_argument("--prop", action="append", default=[], help="KEY=VALUE client property (Kafka)")
    args = ap.parse_args()
    env = StreamExecutionEnvironment.get_execution_environment()
    if os.environ.get("CRASH_JOB_STATE_BACKEND") == "rocksdb":  # keyed state and window contents in RocksDB
        from millstream.state import EmbeddedRocksDBStateBackend

        env.set_state_backend(EmbeddedRocksDBStateBackend())
    env.set_batch_size(args.batch)
    env.enable_checkpointing(args.interval_ms, CheckpointingMode.EXACTLY_ONCE)
    env.get_checkpoint_config().set_checkpoint_storage_dir(args.checkpoints)
    props = dict(p.split("=", 1) for p in args.prop)
    build(env, args.url, args.slow_us, args.guarantee, files=args.files, prefix=args.prefix, properties=props)
    print("ready", flush=True)
    result = env.execute("crash-job", job_id=args.prefix + "crash-job")
    print(f"done restored_from={result.checkpoints.restored_from}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
