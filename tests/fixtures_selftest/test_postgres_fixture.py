"""The PostgreSQL fixture starts a real server that accepts connections and per-test databases."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.postgres


def test_postgres_server_runs_and_isolates_databases(postgres_db: str) -> None:
    import psycopg

    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int primary key, name text)")
        conn.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)
        version = conn.execute("SHOW server_version").fetchone()
        assert version is not None and int(str(version[0]).split(".")[0]) >= 13
