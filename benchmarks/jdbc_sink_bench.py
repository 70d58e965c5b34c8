"""JDBC sink write throughput against a real PostgreSQL, with ratios to plain psycopg baselines.

    PYTHONPATH=src python benchmarks/jdbc_sink_bench.py postgresql://postgres@127.0.0.1:5432/postgres [ROWS]

Writes ROWS (default 100,000) schemaless records ``{"id", "name", "v"}`` in put()-sized batches of 2,000:

- ``sink insert`` / ``sink upsert``: RowMapper + TableWriter, as JdbcSinkTask.put does (one transaction per
  batch; COPY for inserts, COPY into a staging table + INSERT .. ON CONFLICT for upserts);
- baselines in the same process: psycopg ``executemany`` of the same INSERT .. ON CONFLICT, and ``COPY``.

Prints rows/s for each and the sink's ratio to the executemany baseline (the sink's overhead: mapping records
to rows, binding values, checking the table) and to COPY (PostgreSQL's fastest load path).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from millstream.connect.connectors.jdbc.connection import connect, parse_connection_url
from millstream.connect.connectors.jdbc.sink_writer import InsertMode, PkMode, RowMapper, TableWriter

BATCH = 2000


@dataclass
class Rec:
    topic: str
    key: Any
    value: Any
    key_schema: Any = None
    value_schema: Any = None
    kafka_partition: int = 0
    kafka_offset: int = 0


def records(n: int, topic: str) -> list[Rec]:
    return [Rec(topic, None, {"id": i, "name": f"row-{i}", "v": i % 1000}, kafka_offset=i) for i in range(n)]


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_sink(dsn: str, recs: list[Rec], mode: InsertMode, table: str) -> float:
    mapper = RowMapper(insert_mode=mode, pk_mode=PkMode.RECORD_VALUE, pk_fields=["id"], table_name_format=table)
    writer = TableWriter(auto_create=True)
    conn = connect(parse_connection_url(dsn))

    def go() -> None:
        for i in range(0, len(recs), BATCH):
            rows = [mapper.map(r) for r in recs[i : i + BATCH]]
            writer.write(conn, [r for r in rows if r is not None])

    try:
        return timed(go)
    finally:
        conn.close()


def run_executemany(dsn: str, recs: list[Rec], table: str) -> float:
    with psycopg.connect(dsn) as conn:
        conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, name text, v bigint)")
        conn.commit()
        sql = (
            f"INSERT INTO {table} (id, name, v) VALUES (%s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, v = EXCLUDED.v"
        )

        def go() -> None:
            for i in range(0, len(recs), BATCH):
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(sql, [(r.value["id"], r.value["name"], r.value["v"]) for r in recs[i : i + BATCH]])

        return timed(go)


def run_copy(dsn: str, recs: list[Rec], table: str) -> float:
    with psycopg.connect(dsn) as conn:
        conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, name text, v bigint)")
        conn.commit()

        def go() -> None:
            for i in range(0, len(recs), BATCH):
                with conn.transaction(), conn.cursor() as cur, cur.copy(f"COPY {table} (id, name, v) FROM STDIN") as cp:
                    for r in recs[i : i + BATCH]:
                        cp.write_row((r.value["id"], r.value["name"], r.value["v"]))

        return timed(go)


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    dsn = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    recs = records(n, "bench")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for t in ("bench_insert", "bench_upsert", "bench_many", "bench_copy"):
            conn.execute(f"DROP TABLE IF EXISTS {t}")
    results = {
        "sink insert": run_sink(dsn, recs, InsertMode.INSERT, "bench_insert"),
        "sink upsert": run_sink(dsn, recs, InsertMode.UPSERT, "bench_upsert"),
        "baseline executemany upsert": run_executemany(dsn, recs, "bench_many"),
        "baseline COPY": run_copy(dsn, recs, "bench_copy"),
    }
    base = results["baseline executemany upsert"]
    copy = results["baseline COPY"]
    print(f"{n:,} rows, batches of {BATCH:,}")
    for name, secs in results.items():
        print(
            f"{name:30s} {n / secs:>12,.0f} rows/s   x{base / secs:5.2f} vs executemany   x{copy / secs:5.2f} vs COPY"
        )
    with psycopg.connect(dsn, autocommit=True) as conn:
        for t in ("bench_insert", "bench_upsert", "bench_many", "bench_copy"):
            conn.execute(f"DROP TABLE IF EXISTS {t}")


if __name__ == "__main__":
    main()
