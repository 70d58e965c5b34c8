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


@pytest.fixture
def pg_url(postgres_db: str) -> str:
    """A fresh database on the session's PostgreSQL (root fixture ``postgres_db``); returns its URL."""
    return postgres_db
