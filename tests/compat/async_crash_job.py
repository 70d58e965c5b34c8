"""The job of the async I/O kill -9 test, runnable as a process: ``python async_crash_job.py LOG_URL CHECKPOINTS``.

    log ``events`` (JSON {"i"}) → AsyncDataStream.ordered_wait(sleeps 20 ms, returns i * 3, capacity 50)
      → exactly-once log sink ``out``

Checkpoints every 50 ms; prints ``ready`` once built.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson

import millstream  # noqa: F401 - registers the runtime
from millstream import CheckpointingMode, StreamExecutionEnvironment
from millstream.connectors import DeliveryGuarantee, LogSink, LogSource, OffsetsInitializer
from millstream.core.record import ProducerRecord
from millstream.functions import AsyncDataStream, AsyncFunction
from millstream.log import Log

EVENTS = 3000


def produce(log: Log) -> None:
    log.create_topic("events", 1, {"retention.ms": -1})
    log.create_topic("out", 1, {"retention.ms": -1})
    log.append("events", 0, [ProducerRecord(orjson.dumps({"i": i}), None, 1000 + i) for i in range(EVENTS)])


def values(log: Log, topic: str) -> list[Any]:
    out: list[Any] = []
    off = 0
    while recs := log.read(topic, 0, off, max_records=10_000):
        out.extend(orjson.loads(r.value) for r in recs)
        off = recs[-1].offset + 1
    return out


class Lookup(AsyncFunction):
    async def async_invoke(self, value: Any) -> list[Any]:
        await asyncio.sleep(0.02)
        return [{"i": value["i"], "v": value["i"] * 3}]


def main() -> None:
    url, checkpoints = sys.argv[1], sys.argv[2]
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(200)
    env.enable_checkpointing(50, CheckpointingMode.EXACTLY_ONCE)
    env.get_checkpoint_config().set_checkpoint_storage_dir(checkpoints)
    source = (
        LogSource.builder()
        .set_log(url)
        .set_topics("events")
        .set_group_id("async-crash")
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .build()
    )
    events = env.from_source(source, None, "events").uid("events")
    looked_up = AsyncDataStream.ordered_wait(events, Lookup(), 10_000, 50).uid("lookup")
    sink = LogSink.builder().set_log(url).set_topic("out").set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
    looked_up.sink_to(sink.build()).uid("out")
    print("ready", flush=True)
    env.execute("async-crash", job_id="async-crash")


if __name__ == "__main__":
    main()
