"""Worker processes for ``test_embedded_processes.py`` (run as ``python embedded_worker.py MODE PATH ...``).

Modes:
    writer PATH RUN     append batches and transactions forever, printing each acknowledged one:
                        ``A <partition> <base> <count> <tag>`` / ``T <tag> <base0> <n0> <base1> <n1>``
    cwriter PATH WID N  append N batches of 10 records, alternating partitions 0/1 of topic ``c``
    reader PATH TOTAL   read topic ``c`` (2 partitions) with blocking reads until TOTAL records; print JSON
    racer PATH          append to ``doomed`` and ``keep`` until ``doomed`` is deleted; print the outcome
    opener PATH WID     open (creating) the log, create topic ``c`` if missing, append one record
"""

from __future__ import annotations

import json
import random
import sys
import time

from millstream.core.errors import UnknownTopicError
from millstream.core.record import ProducerRecord, TopicPartition
from millstream.log.embedded import EmbeddedLog

DATA_PARTITIONS = 3


def value(tag: str, i: int, n: int) -> bytes:
    return f"{tag}:{i}:{n}:".encode() + b"." * 40


def writer(path: str, run: int) -> None:
    rnd = random.Random(run)
    log = EmbeddedLog(path, chunk_records=50)  # small stored batches: a kill can land between chunk rows
    log.create_topic("data", DATA_PARTITIONS, {"retention.ms": -1}, exist_ok=True)
    log.create_topic("tx", 2, {"retention.ms": -1}, exist_ok=True)
    seq = 0
    while True:
        seq += 1
        tag = f"{run}-{seq}"
        if rnd.random() < 0.7:
            p = rnd.randrange(DATA_PARTITIONS)
            n = rnd.choice([1, 7, 60, 333])
            base = log.append("data", p, [ProducerRecord(value(tag, i, n), tag.encode()) for i in range(n)])
            print(f"A {p} {base} {n} {tag}", flush=True)
        else:
            n0, n1 = rnd.randrange(1, 120), rnd.randrange(1, 120)
            end0 = log.latest_offset("tx", 0) + n0  # the only writer: the transaction's records end here
            txn = log.transaction(f"writer-{run}")
            txn.append("tx", 0, [ProducerRecord(value(tag, i, n0)) for i in range(n0)])
            txn.append("tx", 1, [ProducerRecord(value(tag, i, n1)) for i in range(n1)])
            txn.commit_offsets("g", {TopicPartition("tx", 0): end0})
            txn.put_state("last", tag.encode())
            b0, b1 = txn.commit()
            assert b0 == end0 - n0, (b0, end0, n0)
            print(f"T {tag} {b0} {n0} {b1} {n1}", flush=True)


def cwriter(path: str, wid: str, batches: int) -> None:
    log = EmbeddedLog(path)
    seqs = [0, 0]
    for b in range(batches):
        p = b % 2
        records = []
        for _ in range(10):
            records.append(ProducerRecord(f"{wid}:{p}:{seqs[p]}".encode()))
            seqs[p] += 1
        log.append("c", p, records)
    print("done", flush=True)


def reader(path: str, total: int) -> None:
    log = EmbeddedLog(path)
    positions = [0, 0]
    seen: list[list[tuple[int, str]]] = [[], []]
    deadline = time.monotonic() + 60
    while sum(map(len, seen)) < total and time.monotonic() < deadline:
        for p in (0, 1):
            for r in log.read("c", p, positions[p], max_records=37, timeout_ms=20):
                seen[p].append((r.offset, (r.value or b"").decode()))
                positions[p] = r.offset + 1
    print(json.dumps(seen), flush=True)


def racer(path: str) -> None:
    log = EmbeddedLog(path)
    kept = 0
    try:
        while True:
            log.append("doomed", 0, [ProducerRecord(b"d")] * 5)
            log.append("keep", 0, [ProducerRecord(b"k")] * 3)
            kept += 3
            if kept == 3:
                print("ready", flush=True)
    except UnknownTopicError as exc:
        print(f"unknown-topic {kept} {exc}", flush=True)


def opener(path: str, wid: str) -> None:
    log = EmbeddedLog(path)
    log.create_topic("c", 2, exist_ok=True)
    base = log.append("c", 0, [ProducerRecord(wid.encode())])
    print(f"ok {base}", flush=True)


def main() -> None:
    mode, path, *args = sys.argv[1:]
    if mode == "writer":
        writer(path, int(args[0]))
    elif mode == "cwriter":
        cwriter(path, args[0], int(args[1]))
    elif mode == "reader":
        reader(path, int(args[0]))
    elif mode == "opener":
        opener(path, args[0])
    elif mode == "racer":
        racer(path)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
