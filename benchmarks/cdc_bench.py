"""PostgreSQL CDC throughput: change events per second from PostgreSQL into the log, next to a bare logical
replication read of the same changes in the same run.

    PYTHONPATH=src python benchmarks/cdc_bench.py [--dsn postgresql://postgres@127.0.0.1:5432/postgres] [CHANGES]

Without ``--dsn`` it starts a private PostgreSQL as the tests' fixture does (Debian's binaries under
``/usr/lib/postgresql/<v>/bin``, a temp cluster with ``wal_level=logical`` and ``fsync=off`` on a free loopback
port, run as the ``postgres`` OS user when run as root) and stops it at the end. A given server needs
``wal_level=logical``. The script creates table ``cdc_bench`` and two slots *before* making
CHANGES (default 100,000) changes — 2/3 inserts, 1/3 updates, in transactions of 1,000 — so both readers
see exactly the same WAL:

- ``bare replication read``: START_REPLICATION on one slot with psycopg's libpq binding, receiving the
  pgoutput messages and counting the change messages — no decoding of rows, no records (the floor);
- ``connector → log``: the PostgresConnector (snapshot.mode=never) in a Connect worker on an embedded
  ``file://`` log, JsonConverter without schemas, from the moment its task runs until all change events are
  in the topic (the task's start — connections, checks — is not counted, as the bare read's connect is not).

Prints events/s of both and the connector's share of the bare read (the issue's target: at least 50%); then,
to show where the time goes, the connector's task polled alone (no worker, no log) and the worker alone
(handed the task's records by a trivial source task).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from millstream.connect.api import SourceConnector, SourceTask, Task
from millstream.connect.connectors.postgres_cdc.replication import ReplicationConnection
from millstream.connect.connectors.postgres_cdc.source import PostgresConnectorTask
from millstream.connect.data import SourceRecord
from millstream.connect.herder import Herder
from millstream.connect.worker import task_gc
from millstream.log import open_log

TABLE = "cdc_bench"
SLOTS = ("cdc_bench_bare", "cdc_bench_connector", "cdc_bench_task")
PUBLICATION = "cdc_bench_pub"


def params_of(dsn: str) -> dict[str, object]:
    url = urlsplit(dsn)
    return {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username or "postgres",
        "dbname": url.path.strip("/") or "postgres",
        **({"password": url.password} if url.password else {}),
    }


def cleanup(conn: psycopg.Connection[object]) -> None:
    for slot in SLOTS:
        if conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone():
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    conn.execute(f"DROP PUBLICATION IF EXISTS {PUBLICATION}")
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def make_changes(conn: psycopg.Connection[object], n: int) -> int:
    inserts = n * 2 // 3
    updates = n - inserts
    for start in range(0, inserts, 1000):
        conn.execute(
            f"INSERT INTO {TABLE} SELECT g, 'row-' || g, 0 FROM generate_series(%s::bigint, %s::bigint) g",
            (start, min(start + 1000, inserts) - 1),
        )
    for start in range(0, updates, 1000):
        conn.execute(
            f"UPDATE {TABLE} SET v = v + 1 WHERE id >= %s::bigint AND id < %s::bigint",
            (start, min(start + 1000, updates)),
        )
    return inserts + updates


def bare_read(params: dict[str, object], n: int) -> float:
    repl = ReplicationConnection(dict(params))
    try:
        start = time.perf_counter()
        repl.start(SLOTS[0], PUBLICATION)
        seen = 0
        while seen < n:
            for msg in repl.read(1.0):
                payload = getattr(msg, "payload", b"")
                if payload[:1] in (b"I", b"U", b"D"):
                    seen += 1
        return time.perf_counter() - start
    finally:
        repl.close()


def connector_run(params: dict[str, object], n: int, replay: list[SourceRecord] | None = None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        log = open_log(f"file://{Path(tmp) / 'log'}")
        herder = Herder({"offset.flush.interval.ms": "1000"}, log, worker_id="bench")
        herder.start()
        try:
            start = time.perf_counter()
            if replay is not None:
                ReplayTask.records = replay
            herder.create_connector(
                "cdc",
                {
                    "connector.class": "PostgresConnector" if replay is None else f"{__name__}.ReplayConnector",
                    "database.hostname": str(params["host"]),
                    "database.port": str(params["port"]),
                    "database.user": str(params["user"]),
                    "database.password": str(params.get("password", "")),
                    "database.dbname": str(params["dbname"]),
                    "topic.prefix": "bench",
                    "slot.name": SLOTS[1],
                    "publication.name": PUBLICATION,
                    "publication.autocreate.mode": "disabled",
                    "table.include.list": f"public\\.{TABLE}",
                    "snapshot.mode": "never",
                    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                    "value.converter.schemas.enable": "false",
                    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
                    "key.converter.schemas.enable": "false",
                },
            )
            topic = f"bench.public.{TABLE}"
            started = False
            while not (log.has_topic(topic) and log.latest_offset(topic, 0) >= n):
                tasks = herder.connector_status("cdc")["tasks"]
                if any(t["state"] == "FAILED" for t in tasks):
                    sys.exit(f"connector failed: {tasks[0].get('trace')}")
                if not started and tasks and tasks[0]["state"] == "RUNNING":
                    started, start = True, time.perf_counter()  # the task's start (connections, checks) excluded
                time.sleep(0.002 if not started else 0.05)
            return time.perf_counter() - start
        finally:
            herder.stop()
            log.close()


class _Context:
    """The least a task needs to run outside a worker: no stored offsets."""

    class _Reader:
        def offset(self, partition: object) -> None:
            return None

    def offset_storage_reader(self) -> _Context._Reader:
        return self._Reader()


def task_alone(params: dict[str, object], n: int) -> tuple[float, list[SourceRecord]]:
    """The connector's task polled directly (decoding + envelopes, no worker, no log)."""
    task = PostgresConnectorTask()
    task.context = _Context()  # type: ignore[assignment]
    task.start(
        {
            "database.hostname": str(params["host"]),
            "database.port": str(params["port"]),
            "database.user": str(params["user"]),
            "database.password": str(params.get("password", "")),
            "database.dbname": str(params["dbname"]),
            "topic.prefix": "bench",
            "slot.name": SLOTS[2],
            "publication.name": PUBLICATION,
            "publication.autocreate.mode": "disabled",
            "table.include.list": f"public\\.{TABLE}",
            "snapshot.mode": "never",
        }
    )
    records: list[SourceRecord] = []
    try:
        with task_gc():  # the worker's garbage-collector settings for tasks
            start = time.perf_counter()
            while len(records) < n:
                records.extend(task.poll() or [])
            return time.perf_counter() - start, records
    finally:
        task.stop()


class ReplayTask(SourceTask):
    """Hands the worker records made beforehand, in batches of 2,048 (what the CDC task's poll returns)."""

    records: list[SourceRecord] = []

    def start(self, props: Mapping[str, str]) -> None:
        self.pos = 0

    def poll(self) -> list[SourceRecord] | None:
        batch = self.records[self.pos : self.pos + 2048]
        self.pos += len(batch)
        if not batch:
            time.sleep(0.01)
        return batch

    def stop(self) -> None:
        pass


class ReplayConnector(SourceConnector):
    def start(self, props: Mapping[str, str]) -> None:
        pass

    def task_class(self) -> type[Task]:
        return ReplayTask

    def stop(self) -> None:
        pass


@contextlib.contextmanager
def private_postgres() -> Iterator[str]:
    """A throw-away PostgreSQL cluster with ``wal_level=logical``, as ``tests/fixtures/postgres.py`` starts."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        sys.exit("no PostgreSQL binaries under /usr/lib/postgresql (apt-get install postgresql), or give --dsn")
    bindir = Path(found[-1]).parent
    as_pg = (lambda cmd: ["runuser", "-u", "postgres", "--", *cmd]) if os.geteuid() == 0 else (lambda cmd: cmd)
    root = Path(tempfile.mkdtemp(prefix="millstream-cdc-bench-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    run = lambda cmd: subprocess.run(as_pg(cmd), capture_output=True, text=True, timeout=300)  # noqa: E731
    init = run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    if init.returncode != 0:
        sys.exit(f"initdb failed: {init.stderr[-500:]}")
    opts = (
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c wal_level=logical "
        "-c max_replication_slots=16 -c max_wal_senders=16"
    )
    start = run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", opts, "-w", "start"])
    if start.returncode != 0:
        sys.exit(f"pg_ctl start failed: {start.stderr[-500:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "args",
        nargs="*",
        metavar="DSN|CHANGES",
        help="[DSN] [CHANGES]: a DSN first (as --dsn), then the number of changes to make (default 100,000)",
    )
    ap.add_argument("--dsn", help="a PostgreSQL server with wal_level=logical (default: start a private one)")
    args = ap.parse_args()
    rest = list(args.args)
    dsn = args.dsn or (rest.pop(0) if rest and "://" in rest[0] else None)
    n = int(rest[0]) if rest else 100_000
    if dsn:
        run_bench(dsn, n)
    else:
        with private_postgres() as private:
            run_bench(private, n)


def run_bench(dsn: str, n: int) -> None:
    params = params_of(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        cleanup(conn)
        conn.execute(f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, name text, v int)")
        conn.execute(f"CREATE PUBLICATION {PUBLICATION} FOR TABLE {TABLE}")
        for slot in SLOTS:
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        t0 = time.perf_counter()
        total = make_changes(conn, n)
        made = time.perf_counter() - t0
    try:
        bare = bare_read(params, total)
        conn_s = connector_run(params, total)
        task_s, records = task_alone(params, total)
        worker_s = connector_run(params, total, replay=records)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            cleanup(conn)
    print(f"{total:,} changes ({total * 2 // 3:,} inserts, {total - total * 2 // 3:,} updates) made in {made:.1f}s")
    print(f"{'bare replication read':24s} {total / bare:>10,.0f} events/s")
    print(f"{'connector -> log':24s} {total / conn_s:>10,.0f} events/s   {bare / conn_s:6.1%} of the bare read")
    print("where the connector's time goes:")
    print(f"{'  task alone':24s} {total / task_s:>10,.0f} events/s   (replication read, pgoutput decoding, envelopes)")
    print(f"{'  worker alone':24s} {total / worker_s:>10,.0f} events/s   (the same records: converters, log appends)")


if __name__ == "__main__":
    main()
