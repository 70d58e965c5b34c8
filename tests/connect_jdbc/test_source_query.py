"""The source's mode queries, offsets and batched reads against a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest

from millstream.connect.connectors.jdbc.connection import connect, parse_connection_url
from millstream.connect.connectors.jdbc.dialect import TableId
from millstream.connect.connectors.jdbc.source_query import Mode, QuerySpec, SourceOffset
from millstream.connect.connectors.jdbc.source_reader import TableReader
from millstream.core.errors import ConfigError

pytestmark = pytest.mark.postgres

T0 = dt.datetime(2024, 1, 1, 12, 0, 0)


def read_all(dsn: str, reader: TableReader) -> list[dict[str, Any]]:
    """Run one query cycle to exhaustion."""
    conn = connect(parse_connection_url(dsn))
    try:
        reader.start(conn)
        out: list[dict[str, Any]] = []
        while reader.in_query:
            out.extend(r.values for r in reader.read())
        return out
    finally:
        conn.close()


def test_offset_map_round_trip_keeps_microseconds() -> None:
    off = SourceOffset(42, dt.datetime(2024, 5, 6, 7, 8, 9, 123456))
    stored = off.to_map()
    assert stored == {"incrementing": 42, "timestamp": 1714979289123, "timestamp_nanos": 123456000}
    assert SourceOffset.from_map(stored) == off
    assert SourceOffset.from_map({"timestamp": 1714979289123}).timestamp == dt.datetime(2024, 5, 6, 7, 8, 9, 123000)
    assert SourceOffset.from_map(None) == SourceOffset()


def test_mode_sql_matches_confluent() -> None:
    spec = QuerySpec(Mode.TIMESTAMP_INCREMENTING, TableId("t"), incrementing_column="id", timestamp_columns=("a", "b"))
    sql, params = spec.build(SourceOffset(5, T0), T0)
    assert sql == (
        'SELECT * FROM "t" WHERE COALESCE("a", "b") < %s AND ((COALESCE("a", "b") = %s AND "id" > %s) OR '
        'COALESCE("a", "b") > %s) ORDER BY COALESCE("a", "b"), "id" ASC'
    )
    assert params == (T0, T0, 5, T0)
    assert QuerySpec(Mode.INCREMENTING, TableId("t"), incrementing_column="id").build(SourceOffset(), None) == (
        'SELECT * FROM "t" WHERE "id" > %s ORDER BY "id" ASC',
        (-1,),
    )
    with pytest.raises(ConfigError, match=r"needs incrementing\.column\.name"):
        QuerySpec(Mode.INCREMENTING, TableId("t"))
    with pytest.raises(ConfigError, match=r"needs timestamp\.column\.name"):
        QuerySpec(Mode.TIMESTAMP, TableId("t"))


def test_incrementing_reads_new_rows_in_batches(postgres_db: str, pg: psycopg.Connection[Any]) -> None:
    pg.execute("CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric(10,2), n numeric(5,0))")
    pg.execute("INSERT INTO items (name, price, n) SELECT 'i' || g, g * 1.5, g FROM generate_series(1, 25) g")
    spec = QuerySpec(Mode.INCREMENTING, TableId("items"), incrementing_column="id")
    reader = TableReader(spec, SourceOffset(), batch_max_rows=10, numeric_mapping="best_fit")
    conn = connect(parse_connection_url(postgres_db))
    reader.start(conn)
    batches = []
    while reader.in_query:
        batches.append(reader.read())
    conn.close()
    assert [len(b) for b in batches] == [10, 10, 5]
    assert batches[0][0].values == {"id": 1, "name": "i1", "price": 1.5, "n": 1}
    assert batches[0][-1].offset == SourceOffset(10)
    assert reader.offset == SourceOffset(25)
    cols = {c.name: c for c in reader.columns}
    assert (cols["id"].type, cols["id"].optional) == ("int32", False)
    assert (cols["price"].type, cols["n"].type, cols["name"].optional) == ("float64", "int32", False)
    pg.execute("INSERT INTO items (name) VALUES ('late')")
    assert [r["name"] for r in read_all(postgres_db, reader)] == ["late"]
    assert read_all(postgres_db, reader) == []
    # a reader resuming from a stored offset continues after it
    resumed = TableReader(spec, SourceOffset.from_map({"incrementing": 24}), numeric_mapping="none")
    got = read_all(postgres_db, resumed)
    assert [r["id"] for r in got] == [25, 26]
    assert int.from_bytes(got[0]["price"], "big", signed=True) == 3750  # Decimal(37.50), scale 2
    assert dict(resumed.columns[2].parameters) == {"scale": "2"}


def test_timestamp_mode_sees_updates_and_respects_delay(postgres_db: str, pg: psycopg.Connection[Any]) -> None:
    pg.execute("CREATE TABLE acc (id int PRIMARY KEY, balance int, updated timestamptz NOT NULL)")
    pg.execute("INSERT INTO acc VALUES (1, 10, %s), (2, 20, %s)", (T0, T0 + dt.timedelta(seconds=1)))
    spec = QuerySpec(Mode.TIMESTAMP, TableId("acc"), timestamp_columns=("updated",))
    reader = TableReader(spec, SourceOffset())
    first = read_all(postgres_db, reader)
    assert [r["id"] for r in first] == [1, 2]
    assert first[0]["updated"] == T0.replace(tzinfo=dt.UTC)
    assert reader.offset.timestamp == T0 + dt.timedelta(seconds=1)
    pg.execute("UPDATE acc SET balance = 11, updated = %s WHERE id = 1", (T0 + dt.timedelta(seconds=5),))
    assert [(r["id"], r["balance"]) for r in read_all(postgres_db, reader)] == [(1, 11)]
    # rows newer than now - delay wait for a later poll
    pg.execute("UPDATE acc SET balance = 21, updated = now() WHERE id = 2")
    delayed = TableReader(spec, reader.offset, delay_ms=3_600_000)
    assert read_all(postgres_db, delayed) == []
    assert [r["balance"] for r in read_all(postgres_db, reader)] == [21]


def test_timestamp_incrementing_keeps_rows_sharing_a_timestamp(postgres_db: str, pg: psycopg.Connection[Any]) -> None:
    pg.execute("CREATE TABLE ev (id bigint PRIMARY KEY, ts timestamp NOT NULL, v text)")
    pg.execute("INSERT INTO ev SELECT g, %s, 'v' || g FROM generate_series(1, 7) g", (T0,))
    spec = QuerySpec(Mode.TIMESTAMP_INCREMENTING, TableId("ev"), incrementing_column="id", timestamp_columns=("ts",))
    reader = TableReader(spec, SourceOffset(), batch_max_rows=3)
    conn = connect(parse_connection_url(postgres_db))
    reader.start(conn)
    part = reader.read()
    reader.close()  # stop mid-result, as after a crash, and resume from the offset of the last row handed out
    conn.close()
    assert [r.values["id"] for r in part] == [1, 2, 3]
    resumed = TableReader(spec, SourceOffset.from_map(part[-1].offset.to_map()), batch_max_rows=3)
    assert [r["id"] for r in read_all(postgres_db, resumed)] == [4, 5, 6, 7]
    pg.execute("INSERT INTO ev VALUES (8, %s, 'same ts'), (0, %s, 'later ts, lower id')", (T0, T0 + dt.timedelta(1)))
    assert [r["id"] for r in read_all(postgres_db, resumed)] == [8, 0]


def test_bulk_and_query_modes(postgres_db: str, pg: psycopg.Connection[Any]) -> None:
    pg.execute("CREATE TABLE k (id int, region text, amount int)")
    pg.execute("INSERT INTO k VALUES (1, 'eu', 5), (2, 'us', 7), (3, 'eu', 9)")
    bulk = TableReader(QuerySpec(Mode.BULK, TableId("k")), SourceOffset())
    assert len(read_all(postgres_db, bulk)) == 3
    assert len(read_all(postgres_db, bulk)) == 3  # bulk re-reads everything
    q = QuerySpec(Mode.INCREMENTING, query="SELECT id, amount FROM k WHERE region = 'eu';", incrementing_column="id")
    assert q.partition == {"query": "SELECT id, amount FROM k WHERE region = 'eu';"}
    reader = TableReader(q, SourceOffset())
    assert read_all(postgres_db, reader) == [{"id": 1, "amount": 5}, {"id": 3, "amount": 9}]
    assert reader.offset == SourceOffset(3)
