"""Fixtures for the connect tests: a herder on a fresh memory:// log, a REST server on a free port."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from millstream.connect.herder import Herder
from millstream.connect.rest import RestServer
from millstream.log import open_log

_ids = itertools.count()

FAST = {"offset.flush.interval.ms": "50", "task.shutdown.graceful.timeout.ms": "3000"}


@pytest.fixture
def log_name() -> str:
    return f"connect-test-{next(_ids)}-{time.monotonic_ns()}"


@pytest.fixture
def log_url(log_name: str) -> str:
    """The log the herders share; test modules override this to run on other backends too."""
    return f"memory://{log_name}"


@pytest.fixture
def make_herder(log_url: str) -> Iterator[Callable[..., Herder]]:
    """Build started herders on the shared log at ``log_url``; all are stopped at the end."""
    made: list[Herder] = []

    def make(persist: bool = False, **worker: Any) -> Herder:
        h = Herder({**FAST, **worker}, open_log(log_url), persist_configs=persist, worker_id="test:0")
        h.start()
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()


@pytest.fixture
def herder(make_herder: Callable[..., Herder]) -> Herder:
    return make_herder()


@pytest.fixture
def rest(herder: Herder) -> Iterator[RestServer]:
    server = RestServer(herder, "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL (initdb + pg_ctl from PATH) on a free port for the session; yields its base URL."""
    import os
    import shutil
    import socket
    import subprocess

    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    import tempfile
    from pathlib import Path

    # not under pytest's tmp dir: that one is private to root, and PostgreSQL must run as another user
    base = Path(tempfile.mkdtemp(prefix="millstream-pg-"))
    data = base / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True, capture_output=True
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server: str) -> str:
    """A fresh database on the session's PostgreSQL; returns its URL."""
    import psycopg

    name = f"t{next(_ids)}_{time.monotonic_ns() % 10**9}"
    with psycopg.connect(postgres_server + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"
