"""The ``jdbc`` SQL connector on SQLite (stdlib) and on the suite's PostgreSQL server, checked against Flink's
documented semantics: with a PRIMARY KEY the sink upserts ``+I``/``+U`` by the key and deletes ``-D`` (``-U``
dropped); without one it appends and refuses changelogs; the source is a bounded scan."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment
from millstream.core.record import ProducerRecord
from millstream.log import open_log
from millstream.sql import SqlValidationError, StreamTableEnvironment

Query = Callable[[str], list[tuple[Any, ...]]]


class Database:
    """A database for one test: its ``jdbc`` table options and a way to run SQL on it directly."""

    def __init__(self, options: str, execute: Callable[[str], list[tuple[Any, ...]]]) -> None:
        self.options = options
        self.execute = execute


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        conn = sqlite3.connect(path)

        def run_sqlite(sql: str) -> list[tuple[Any, ...]]:
            rows = conn.execute(sql).fetchall()
            conn.commit()
            return rows

        yield Database(f"'url' = 'jdbc:sqlite:{path}'", run_sqlite)
        conn.close()
        return
    import psycopg

    dsn = request.getfixturevalue("postgres_db")
    host_db = dsn.split("@", 1)[1]
    pg = psycopg.connect(dsn, autocommit=True)

    def run_pg(sql: str) -> list[tuple[Any, ...]]:
        cur = pg.execute(sql)  # type: ignore[call-overload]
        return list(cur.fetchall()) if cur.description else []

    yield Database(f"'url' = 'jdbc:postgresql://{host_db}', 'username' = 'postgres'", run_pg)
    pg.close()


def _env(parallelism: int = 1) -> StreamTableEnvironment:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    return StreamTableEnvironment.create(env)


def _clicks(t: StreamTableEnvironment, folder: Path) -> None:
    path = folder / "clicks.json"
    rows = [("a", 1, "1.50"), ("b", 2, "2.25"), ("a", 3, None), ("c", 4, "4.00"), ("a", 5, "5.75"), ("b", 6, "6")]
    path.write_text("".join(json.dumps({"u": u, "s": s, "p": p}) + "\n" for u, s, p in rows))
    t.execute_sql(
        "CREATE TABLE clicks (u STRING, s INT, p DECIMAL(10, 2), ts AS TO_TIMESTAMP(CONCAT('2024-01-01 10:00:0', "
        f"CAST(s AS STRING)))) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"
    )


def test_upserts_by_primary_key_and_reads_the_table_back(db: Database, tmp_path: Path) -> None:
    db.execute("CREATE TABLE counts (u VARCHAR(10) PRIMARY KEY, n BIGINT, last_s INT)")
    t = _env()
    _clicks(t, tmp_path)
    t.execute_sql(
        "CREATE TABLE counts (u STRING, n BIGINT, last_s INT, PRIMARY KEY (u) NOT ENFORCED) "
        f"WITH ('connector' = 'jdbc', {db.options}, 'table-name' = 'counts', 'sink.buffer-flush.max-rows' = '2')"
    )
    t.execute_sql("INSERT INTO counts SELECT u, COUNT(*), MAX(s) FROM clicks GROUP BY u").wait()
    assert sorted(db.execute("SELECT u, n, last_s FROM counts")) == [("a", 3, 5), ("b", 2, 6), ("c", 1, 4)]
    # a second run upserts the same keys again (no duplicate-key errors)
    t.execute_sql("INSERT INTO counts SELECT u, COUNT(*) * 10, MIN(s) FROM clicks GROUP BY u").wait()
    assert sorted(db.execute("SELECT u, n, last_s FROM counts")) == [("a", 30, 1), ("b", 20, 2), ("c", 10, 4)]
    # the source: a bounded scan, as a table to query
    got = t.execute_sql("SELECT u, n * 2 AS n2 FROM counts WHERE last_s > 1").collect()
    assert sorted(tuple(r) for r in got) == [("b", 40), ("c", 20)]


def test_deletes_and_updates_of_a_changelog_reach_the_table(db: Database, tmp_path: Path) -> None:
    """An upsert log table (a changelog with -U/+U and -D) copied into a database table: the table ends as the
    log's last state."""
    db.execute("CREATE TABLE latest (k VARCHAR(10) PRIMARY KEY, v BIGINT)")
    url = f"file://{tmp_path}/log"
    log = open_log(url)
    log.create_topic("kv", 1)
    ups = [("x", 1), ("y", 2), ("x", 3), ("z", 4), ("y", None), ("x", 5), ("w", None)]
    log.append(
        "kv",
        0,
        [ProducerRecord(None if v is None else json.dumps({"k": k, "v": v}).encode(), json.dumps({"k": k}).encode())
         for k, v in ups],
    )  # fmt: skip
    t = _env()
    t.execute_sql(
        "CREATE TABLE kv (k STRING, v BIGINT, PRIMARY KEY (k) NOT ENFORCED) WITH ('connector' = 'millstream', "
        f"'log' = '{url}', 'topic' = 'kv', 'scan.bounded.mode' = 'latest-offset')"
    )
    t.execute_sql(
        "CREATE TABLE latest (k STRING, v BIGINT, PRIMARY KEY (k) NOT ENFORCED) "
        f"WITH ('connector' = 'jdbc', {db.options}, 'table-name' = 'latest', 'sink.buffer-flush.interval' = '10ms')"
    )
    t.execute_sql("INSERT INTO latest SELECT * FROM kv").wait()
    assert sorted(db.execute("SELECT k, v FROM latest")) == [("x", 5), ("z", 4)]


def test_appends_without_a_key_and_converts_types(db: Database, tmp_path: Path) -> None:
    db.execute("CREATE TABLE events (u VARCHAR(10), s INT, p NUMERIC(10, 2), ts TIMESTAMP)")
    t = _env()
    _clicks(t, tmp_path)
    t.execute_sql(
        "CREATE TABLE events (u STRING, s INT, p DECIMAL(10, 2), ts TIMESTAMP(3)) "
        f"WITH ('connector' = 'jdbc', {db.options}, 'table-name' = 'events', 'sink.buffer-flush.max-rows' = '0')"
    )
    t.execute_sql("INSERT INTO events SELECT u, s, p, ts FROM clicks").wait()
    t.execute_sql("INSERT INTO events SELECT u, s, p, ts FROM clicks WHERE s = 1").wait()
    assert len(db.execute("SELECT * FROM events")) == 7  # appended twice
    rows = sorted(tuple(r) for r in t.execute_sql("SELECT u, s, p, ts FROM events WHERE s >= 5").collect())
    assert rows == [
        ("a", 5, Decimal("5.75"), dt.datetime(2024, 1, 1, 10, 0, 5)),
        ("b", 6, Decimal("6.00"), dt.datetime(2024, 1, 1, 10, 0, 6)),
    ]
    with pytest.raises(SqlValidationError, match=r"connector .jdbc.\) takes only inserts") as info:
        t.execute_sql("INSERT INTO events SELECT u, COUNT(*), MAX(p), MAX(ts) FROM clicks GROUP BY u")
    assert "PRIMARY KEY" in (info.value.hint or "")


def test_date_columns_are_written_and_read_as_dates(db: Database, tmp_path: Path) -> None:
    db.execute("CREATE TABLE days (id INT, d DATE)")
    t = _env()
    t.execute_sql(
        "CREATE TABLE days (id INT, d DATE) "
        f"WITH ('connector' = 'jdbc', {db.options}, 'table-name' = 'days', 'sink.buffer-flush.max-rows' = '0')"
    )
    _clicks(t, tmp_path)
    t.execute_sql("INSERT INTO days SELECT s, CAST(ts AS DATE) FROM clicks WHERE s = 1").wait()
    assert [tuple(r) for r in t.execute_sql("SELECT id, d FROM days").collect()] == [(1, dt.date(2024, 1, 1))]
    assert [str(r[0])[:10] for r in db.execute("SELECT d FROM days")] == ["2024-01-01"]


def test_sink_parallelism_keeps_each_keys_changes_in_order(tmp_path: Path) -> None:
    path = tmp_path / "test.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE counts (u TEXT PRIMARY KEY, n BIGINT)")
    t = _env(2)
    _clicks(t, tmp_path)
    t.execute_sql(
        "CREATE TABLE counts (u STRING, n BIGINT, PRIMARY KEY (u) NOT ENFORCED) WITH ('connector' = 'jdbc', "
        f"'url' = 'jdbc:sqlite:{path}', 'table-name' = 'counts', 'sink.parallelism' = '2', "
        "'sink.buffer-flush.max-rows' = '1')"
    )
    t.execute_sql("INSERT INTO counts SELECT u, COUNT(*) FROM clicks GROUP BY u").wait()
    with sqlite3.connect(path) as conn:
        assert sorted(conn.execute("SELECT u, n FROM counts")) == [("a", 3), ("b", 2), ("c", 1)]


@pytest.mark.parametrize(
    ("options", "message", "hint"),
    [
        ("'url' = 'jdbc:sqlite:x.db'", "needs the option 'table-name'", "'table-name' = "),
        ("'table-name' = 't'", "needs the option 'url'", "'url' = 'jdbc:postgresql"),
        ("'url' = 'jdbc:oracle:thin:@h:1521/x', 'table-name' = 't'", "is not a supported JDBC URL", "jdbc:sqlite"),
        ("'url' = 'jdbc:sqlite:x.db', 'table-name' = 't', 'driver' = 'org.sqlite.JDBC'", "unknown option 'driver'",
         "remove it"),
        ("'url' = 'jdbc:sqlite:x.db', 'table-name' = 't', 'sink.buffer-flush.interval' = 'soon'",
         "'sink.buffer-flush.interval' of table 'j' must be a duration, got 'soon'", "'1s'"),
        ("'url' = 'jdbc:sqlite:x.db', 'table-name' = 't', 'sink.buffer-flush.max-rows' = '-1'",
         "'sink.buffer-flush.max-rows' of table 'j' must be an integer >= 0", "max-rows"),
        ("'url' = 'jdbc:sqlite:x.db', 'table-name' = 't', 'sink.parallelism' = '0'",
         "'sink.parallelism' of table 'j' must be an integer >= 1", "'sink.parallelism' = '2'"),
    ],
)  # fmt: skip
def test_bad_jdbc_options_are_refused_naming_the_option(options: str, message: str, hint: str) -> None:
    with pytest.raises(SqlValidationError, match=message) as info:
        _env().execute_sql(f"CREATE TABLE j (a INT, b STRING) WITH ('connector' = 'jdbc', {options})")
    assert hint in (info.value.hint or "")


def test_rows_are_flushed_by_the_interval_while_the_job_runs(tmp_path: Path) -> None:
    """``sink.buffer-flush.interval``: with no row limit and no checkpoints, buffered rows of an unbounded job reach
    the database by the interval timer alone."""
    path = tmp_path / "test.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE seq (id BIGINT)")
    url = f"file://{tmp_path}/log"
    log = open_log(url)
    log.create_topic("ids", 1)
    log.append("ids", 0, [ProducerRecord(json.dumps({"id": i}).encode()) for i in range(5)])
    t = _env()
    t.execute_sql(f"CREATE TABLE ids (id BIGINT) WITH ('connector' = 'millstream', 'log' = '{url}', 'topic' = 'ids')")
    t.execute_sql(
        f"CREATE TABLE seq (id BIGINT) WITH ('connector' = 'jdbc', 'url' = 'jdbc:sqlite:{path}', 'table-name' = 'seq', "
        "'sink.buffer-flush.max-rows' = '0', 'sink.buffer-flush.interval' = '100ms')"
    )
    result = t.execute_sql("INSERT INTO seq SELECT id FROM ids")  # unbounded: runs until cancelled
    try:
        n, deadline = 0, time.monotonic() + 30
        while time.monotonic() < deadline and n < 5:
            time.sleep(0.05)
            with sqlite3.connect(path) as conn:
                n = conn.execute("SELECT COUNT(*) FROM seq").fetchone()[0]
        assert n == 5, "the interval did not flush the buffered rows"
        log.append("ids", 0, [ProducerRecord(json.dumps({"id": i}).encode()) for i in range(5, 8)])
        while time.monotonic() < deadline and n < 8:
            time.sleep(0.05)
            with sqlite3.connect(path) as conn:
                n = conn.execute("SELECT COUNT(*) FROM seq").fetchone()[0]
        assert n == 8
    finally:
        result.get_job_client().cancel()
