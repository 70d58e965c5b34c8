"""Fixtures for the CDC tests: a fresh database on the session's PostgreSQL (``wal_level=logical``), a herder
on a memory:// log, and the connector config pointing at that database."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from millstream.connect.herder import Herder
from millstream.log import open_log

_ids = itertools.count()
FAST = {"offset.flush.interval.ms": "100", "task.shutdown.graceful.timeout.ms": "5000"}


@pytest.fixture
def pg(postgres_db: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit superuser connection to a fresh database."""
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        yield conn


@pytest.fixture
def cdc_config(postgres_db: str) -> Callable[..., dict[str, str]]:
    """The connector config for the fresh database; keyword arguments override or add options
    (``table_include_list=...`` → ``table.include.list``)."""
    url = urlsplit(postgres_db)

    def make(**overrides: str) -> dict[str, str]:
        cfg = {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "database.hostname": url.hostname or "127.0.0.1",
            "database.port": str(url.port or 5432),
            "database.user": url.username or "postgres",
            "database.dbname": url.path.strip("/"),
            "topic.prefix": "srv",
            "slot.name": f"slot_{next(_ids)}",
            "poll.interval.ms": "100",
            "status.update.interval.ms": "500",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "false",
        }
        cfg.update({k.replace("_", "."): v for k, v in overrides.items()})
        return cfg

    return make


@pytest.fixture
def make_herder() -> Iterator[Callable[..., Herder]]:
    """Started herders on one memory:// log (later herders see the offsets of earlier ones)."""
    made: list[Herder] = []
    log = open_log(f"memory://cdc-{next(_ids)}-{time.monotonic_ns()}")

    def make(**worker: Any) -> Herder:
        h = Herder({**FAST, **worker}, log, persist_configs=False, worker_id="test:0")
        h.start()
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()


@pytest.fixture(scope="module")
def non_logical_postgres() -> Iterator[str]:
    """A second, small PostgreSQL cluster running with ``wal_level=replica`` (the default of a fresh server),
    to check what the connector says about it. Returns its DSN."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from ..fixtures.postgres import _as_postgres, _free_port, _pg_bin

    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries")
    root = Path(tempfile.mkdtemp(prefix="millstream-pg-replica-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    import os

    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    run = lambda cmd: subprocess.run(_as_postgres(cmd), capture_output=True, text=True, timeout=300)  # noqa: E731
    init = run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    assert init.returncode == 0, init.stderr
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c wal_level=replica"
    start = run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", opts, "-w", "start"])
    assert start.returncode == 0, start.stderr
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)
