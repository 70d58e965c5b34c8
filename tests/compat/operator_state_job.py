"""Jobs of the operator-state tests; runnable as a process for the kill -9 test:
``python operator_state_job.py LOG_URL CHECKPOINTS``.

    log ``events`` (JSON {"i"}, 1 partition) → map with a running count in operator list state
      → exactly-once log sink ``out`` ({"i", "n"}: n = elements the map saw up to and including i)

Checkpoints every 50 ms; prints ``ready`` once built. Only a count restored from the checkpoint gives
``n == i + 1`` for every element after restarts.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import orjson

import millstream  # noqa: F401 - registers the runtime
from millstream import CheckpointingMode, StreamExecutionEnvironment
from millstream.connectors import DeliveryGuarantee, LogSink, LogSource, OffsetsInitializer
from millstream.core.record import ProducerRecord
from millstream.functions import CheckpointedFunction, MapFunction
from millstream.log import Log
from millstream.state import ListStateDescriptor

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


class CountingMap(MapFunction, CheckpointedFunction):
    """Counts the elements it saw; the count lives in operator list state."""

    def __init__(self, pause_s: float = 0.0) -> None:
        self.pause_s = pause_s
        self.count = 0
        self.state: Any = None

    def initialize_state(self, context: Any) -> None:
        self.state = context.get_operator_state_store().get_list_state(ListStateDescriptor("count"))
        self.count = sum(self.state.get())

    def snapshot_state(self, context: Any) -> None:
        self.state.update([self.count])

    def map(self, value: Any) -> Any:
        if self.pause_s:
            time.sleep(self.pause_s)
        self.count += 1
        return {"i": value["i"], "n": self.count}


class Recorder(MapFunction, CheckpointedFunction):
    """Keeps every element it saw in list state and its subtask index in union list state; on a restore it
    writes what it got back to ``DIR/restored-<subtask>.json`` (for the rescaling test)."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.seen: Any = None
        self.subtasks: Any = None
        self.restored: dict[str, Any] | None = None

    def initialize_state(self, context: Any) -> None:
        store = context.get_operator_state_store()
        self.seen = store.get_list_state(ListStateDescriptor("seen"))
        self.subtasks = store.get_union_list_state(ListStateDescriptor("subtasks"))
        if context.is_restored():
            self.restored = {"seen": self.seen.get(), "subtasks": self.subtasks.get()}

    def open(self, runtime_context: Any) -> None:
        index = runtime_context.get_index_of_this_subtask()
        if self.restored is not None:
            path = Path(self.out_dir) / f"restored-{index}.json"
            path.write_text(json.dumps(self.restored))
        self.subtasks.update([index])

    def snapshot_state(self, context: Any) -> None:
        pass

    def map(self, value: Any) -> Any:
        self.seen.add(value)
        return value


def main() -> None:
    url, checkpoints = sys.argv[1], sys.argv[2]
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(100)
    env.enable_checkpointing(50, CheckpointingMode.EXACTLY_ONCE)
    env.get_checkpoint_config().set_checkpoint_storage_dir(checkpoints)
    source = (
        LogSource.builder()
        .set_log(url)
        .set_topics("events")
        .set_group_id("operator-state-crash")
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .build()
    )
    events = env.from_source(source, None, "events").uid("events")
    counted = events.map(CountingMap(pause_s=0.0005)).uid("count")
    sink = LogSink.builder().set_log(url).set_topic("out").set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
    counted.sink_to(sink.build()).uid("out")
    print("ready", flush=True)
    env.execute("operator-state-crash", job_id="operator-state-crash")


if __name__ == "__main__":
    main()
