"""Embedded log throughput against raw SQLite, measured in the same run.

Appends N records of ~100 bytes (a 10-byte key, a 100-byte value, a timestamp) to a one-partition topic
of the embedded log (``file://``) in batches, reads them all back as ``Record`` objects, and does the same
with raw ``sqlite3``: per-row ``executemany`` inserts into a table keyed by offset (one commit per batch,
the same WAL / synchronous=NORMAL / checkpoint settings) and per-row ``SELECT`` s of the same rows in the
same batch size. Runs are interleaved and repeated (best of ``--repeat``) so that load from other
processes on the machine hits both sides alike.
Raw SQLite is the practical limit of this design; the ratios say how close the log gets.

    PYTHONPATH=src python benchmarks/log_bench.py [--records 1000000] [--batch 10000] [--repeat 3]

Bars (from the project issue): embedded append >= 60% and embedded read >= 60% of the raw-SQLite rate.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from millstream.core.record import ProducerRecord
from millstream.log.embedded import EmbeddedLog

BAR = 0.60


def make_batches(n: int, batch: int) -> list[list[ProducerRecord]]:
    base_ts = 1_700_000_000_000
    rows = [
        ProducerRecord(b"v%09d" % i + b"x" * 90, b"key-%06d" % (i % 1_000_000), base_ts + i) for i in range(n)
    ]
    return [rows[i : i + batch] for i in range(0, n, batch)]


def embedded_append(path: Path, batches: list[list[ProducerRecord]]) -> float:
    with EmbeddedLog(path) as log:
        log.create_topic("bench", 1, {"retention.ms": -1})
        started = time.perf_counter()
        for batch in batches:
            log.append("bench", 0, batch)
        return time.perf_counter() - started


def embedded_read(path: Path, size: int, n: int) -> float:
    with EmbeddedLog(path) as log:
        got = offset = 0
        started = time.perf_counter()
        while True:
            records = log.read("bench", 0, offset, max_records=size)
            if not records:
                break
            got += len(records)
            offset = records[-1].offset + 1
        elapsed = time.perf_counter() - started
    if got != n:
        raise SystemExit(f"embedded log read back {got} records, expected {n}")
    return elapsed


def raw_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=16384")  # the embedded log's settings, so only the layout differs
    conn.execute("PRAGMA cache_size=-65536")
    return conn


def raw_append(path: Path, batches: list[list[ProducerRecord]]) -> float:
    conn = raw_connect(path)
    conn.execute(
        "CREATE TABLE records (offset INTEGER PRIMARY KEY, timestamp INTEGER NOT NULL, key BLOB, value BLOB, "
        "headers BLOB)"
    )
    offset = 0
    started = time.perf_counter()
    for batch in batches:
        rows = [(offset + i, r.timestamp, r.key, r.value, None) for i, r in enumerate(batch)]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        offset += len(batch)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def raw_read(path: Path, size: int, n: int) -> float:
    conn = raw_connect(path)
    got = offset = 0
    started = time.perf_counter()
    while True:
        rows = conn.execute(
            "SELECT offset, timestamp, key, value, headers FROM records "
            "WHERE offset >= ? ORDER BY offset LIMIT ?",
            (offset, size),
        ).fetchall()
        if not rows:
            break
        got += len(rows)
        offset = rows[-1][0] + 1
    elapsed = time.perf_counter() - started
    conn.close()
    if got != n:
        raise SystemExit(f"raw sqlite read back {got} rows, expected {n}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000, help="records to append and read")
    parser.add_argument("--batch", type=int, default=10_000, help="records per append / read")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best rate counts")
    args = parser.parse_args(argv)
    n, batch = args.records, args.batch
    batches = make_batches(n, batch)
    raw_a: list[float] = []
    emb_a: list[float] = []
    raw_r: list[float] = []
    emb_r: list[float] = []
    with tempfile.TemporaryDirectory(prefix="millstream-log-bench-") as tmp:
        root = Path(tmp)
        for i in range(args.repeat):  # interleaved, so a busy moment on the machine hits both sides alike
            raw_a.append(raw_append(root / f"raw-{i}.db", batches))
            emb_a.append(embedded_append(root / f"log-{i}", batches))
        del batches
        for _ in range(args.repeat):
            raw_r.append(raw_read(root / "raw-0.db", batch, n))
            emb_r.append(embedded_read(root / "log-0", batch, n))
    raw_append_rate, emb_append = n / min(raw_a), n / min(emb_a)
    raw_read_rate, emb_read = n / min(raw_r), n / min(emb_r)
    append_ratio = emb_append / raw_append_rate
    read_ratio = emb_read / raw_read_rate
    print(
        f"log_bench: {n:,} records of ~110 bytes (10 B key + 100 B value), batches of {batch:,}, "
        f"best of {args.repeat} interleaved runs"
    )
    print(f"{'':24}{'append rec/s':>14}{'read rec/s':>14}")
    print(f"{'raw sqlite3 (per row)':24}{raw_append_rate:>14,.0f}{raw_read_rate:>14,.0f}")
    print(f"{'embedded log (file://)':24}{emb_append:>14,.0f}{emb_read:>14,.0f}")
    print(f"{'ratio embedded / raw':24}{append_ratio:>14.2f}{read_ratio:>14.2f}")
    ok = append_ratio >= BAR and read_ratio >= BAR
    print(f"bar: both ratios >= {BAR:.2f} -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
