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
