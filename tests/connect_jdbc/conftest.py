"""Helpers for the JDBC connector tests (the PostgreSQL and MariaDB fixtures come from tests/fixtures/postgres.py and
tests/fixtures/mariadb.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest


@pytest.fixture
def pg(postgres_db: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to a fresh database (for setting up and checking tables)."""
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute("SET TimeZone TO 'UTC'")
        yield conn
