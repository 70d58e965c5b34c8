"""JDBC-style PostgreSQL source and sink against a real PostgreSQL started for the session."""

from __future__ import annotations

import time

import orjson
import psycopg
import pytest

from millstream.connect import ConnectorConfigError
from millstream.core.record import ProducerRecord

from .helpers import wait_until

pytestmark = pytest.mark.postgres


def rows(url, query):
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def maybe_rows(url, query):
    """``rows``, or ``None`` while the table or column does not exist yet."""
    try:
        return rows(url, query)
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
        return None


def execute(url, *statements):
    with psycopg.connect(url, autocommit=True) as conn:
        for st in statements:
            conn.execute(st)


def jdbc_url(url):
    return "jdbc:" + url


def json_records(log, topic, items):
    log.create_topic(topic, 1, exist_ok=True)
    log.produce(
        topic, [ProducerRecord(None if v is None else orjson.dumps(v), orjson.dumps(k)) for k, v in items]
    )


def test_sink_auto_creates_the_table_from_datagen_structs(herder, pg_url):
    herder.create_connector(
        "gen",
        {
            "connector.class": "Datagen",
            "kafka.topic": "orders",
            "quickstart": "orders",
            "iterations": "50",
            "max.interval": "0",
            "key.converter": "StringConverter",
        },
    )
    herder.create_connector(
        "db",
        {
            "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
            "topics": "orders",
            "connection.url": jdbc_url(pg_url),
            "auto.create": "true",
            "pk.mode": "record_value",
            "pk.fields": "orderid",
            "insert.mode": "upsert",
            "key.converter": "StringConverter",
        },
    )
    wait_until(
        lambda: (
            rows(pg_url, "SELECT count(*) FROM orders")[0][0] == 50
            if herder.connector_offsets("db")
            else False
        )
    )
    cols = dict(
        rows(
            pg_url, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name='orders'"
        )
    )
    assert cols == {
        "ordertime": "bigint",
        "orderid": "integer",
        "itemid": "text",
        "orderunits": "double precision",
        "address": "jsonb",
    }
    city = rows(pg_url, "SELECT address->>'city' FROM orders WHERE orderid = 3")[0][0]
    assert city.startswith("City_")
    pk = rows(
        pg_url,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'orders'::regclass AND i.indisprimary",
    )
    assert pk == [("orderid",)]


def test_sink_upsert_update_delete_and_evolve(herder, pg_url):
    json_records(
        herder.log,
        "users",
        [
            ({"id": 1}, {"id": 1, "name": "a"}),
            ({"id": 2}, {"id": 2, "name": "b"}),
            ({"id": 1}, {"id": 1, "name": "a2"}),
        ],
    )
    base = {
        "connector.class": "JdbcSink",
        "topics": "users",
        "connection.url": pg_url,
        "value.converter.schemas.enable": "false",
        "key.converter.schemas.enable": "false",
        "table.name.format": "app_${topic}",
        "auto.create": "true",
        "insert.mode": "upsert",
        "pk.mode": "record_key",
        "pk.fields": "id",
        "delete.enabled": "true",
    }
    herder.create_connector("db", base)
    wait_until(
        lambda: (
            rows(pg_url, "SELECT id, name FROM app_users ORDER BY id") == [(1, "a2"), (2, "b")]
            if rows(pg_url, "SELECT to_regclass('app_users')")[0][0]
            else False
        )
    )
    json_records(
        herder.log, "users", [({"id": 2}, None), ({"id": 3}, {"id": 3, "name": "c", "email": "c@x"})]
    )
    st = wait_until(lambda: (s := herder.connector_status("db"))["tasks"][0]["state"] == "FAILED" and s)
    assert "auto.evolve=true" in st["tasks"][0]["trace"] and "email" in st["tasks"][0]["trace"]
    assert rows(pg_url, "SELECT id FROM app_users ORDER BY id") == [
        (1,),
        (2,),
    ]  # the failed batch rolled back
    herder.put_connector_config("db", {**base, "auto.evolve": "true"})
    wait_until(
        lambda: (
            maybe_rows(pg_url, "SELECT id, name, email FROM app_users ORDER BY id")
            == [(1, "a2", None), (3, "c", "c@x")]
        )
    )


def test_sink_config_errors_and_unreachable_database(herder):
    with pytest.raises(ConnectorConfigError) as e:
        herder.create_connector(
            "x",
            {
                "connector.class": "JdbcSink",
                "topics": "t",
                "connection.url": "jdbc:x",
                "insert.mode": "upsert",
                "delete.enabled": "true",
            },
        )
    assert set(e.value.errors) == {"pk.mode", "delete.enabled"}
    herder.create_connector(
        "down",
        {
            "connector.class": "JdbcSink",
            "topics": "t",
            "connection.url": "jdbc:postgresql://127.0.0.1:1/nowhere",
            "connection.attempts": "1",
        },
    )
    st = wait_until(
        lambda: (s := herder.connector_status("down"))["tasks"] and s["tasks"][0]["state"] == "FAILED" and s
    )
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/nowhere" in st["tasks"][0]["trace"]


def test_source_incrementing_resumes_after_restart(make_herder, pg_url):
    execute(
        pg_url,
        "CREATE TABLE items (id SERIAL PRIMARY KEY, name TEXT, price NUMERIC(6,2), at TIMESTAMP)",
        "INSERT INTO items (name, price, at) SELECT 'n' || g, g * 1.5, now() FROM generate_series(1, 250) g",
    )
    cfg = {
        "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
        "connection.url": jdbc_url(pg_url),
        "mode": "incrementing",
        "incrementing.column.name": "id",
        "topic.prefix": "pg-",
        "poll.interval.ms": "100",
        "batch.max.rows": "100",
        "table.whitelist": "items",
        "value.converter.schemas.enable": "false",
    }
    h1 = make_herder(persist=True)
    h1.create_connector("src", cfg)
    wait_until(lambda: h1.log.has_topic("pg-items") and h1.log.latest_offset("pg-items", 0) == 250)
    first = orjson.loads(h1.log.read("pg-items", 0, 0, max_records=1)[0].value)
    assert first["id"] == 1 and first["name"] == "n1" and first["price"] == 1.5
    h1.stop()
    execute(pg_url, "INSERT INTO items (name) SELECT 'm' || g FROM generate_series(1, 10) g")
    h2 = make_herder(persist=True)
    wait_until(lambda: h2.log.latest_offset("pg-items", 0) == 260)
    time.sleep(0.3)
    ids = [orjson.loads(r.value)["id"] for r in h2.log.read("pg-items", 0, 0)]
    assert ids == list(range(1, 261))
    assert h2.connector_offsets("src") == [{"partition": {"table": "items"}, "offset": {"incrementing": 260}}]


def test_source_timestamp_incrementing_and_bulk(herder, pg_url):
    execute(
        pg_url,
        "CREATE TABLE ev (id INT PRIMARY KEY, ts TIMESTAMP NOT NULL, v TEXT)",
        "INSERT INTO ev VALUES (1, '2024-01-01 00:00:00', 'a'), (2, '2024-01-01 00:00:00', 'b'), "
        "(3, '2024-01-02 00:00:00', 'c')",
    )
    herder.create_connector(
        "ts",
        {
            "connector.class": "JdbcSource",
            "connection.url": pg_url,
            "mode": "timestamp+incrementing",
            "incrementing.column.name": "id",
            "timestamp.column.name": "ts",
            "topic.prefix": "ts-",
            "poll.interval.ms": "100",
            "table.whitelist": "ev",
        },
    )
    wait_until(lambda: herder.log.has_topic("ts-ev") and herder.log.latest_offset("ts-ev", 0) == 3)
    execute(
        pg_url,
        "INSERT INTO ev VALUES (4, '2024-01-02 00:00:00', 'd')",
        "UPDATE ev SET ts = now(), v = 'a2' WHERE id = 1",
    )
    wait_until(lambda: herder.log.latest_offset("ts-ev", 0) == 5)
    envs = [orjson.loads(r.value) for r in herder.log.read("ts-ev", 0, 0)]
    assert [e["payload"]["v"] for e in envs] == ["a", "b", "c", "d", "a2"]
    ts_field = next(f for f in envs[0]["schema"]["fields"] if f["field"] == "ts")
    assert ts_field["name"] == "org.apache.kafka.connect.data.Timestamp"
    assert envs[0]["payload"]["ts"] == 1704067200000
    herder.create_connector(
        "bulk",
        {
            "connector.class": "JdbcSource",
            "connection.url": pg_url,
            "mode": "bulk",
            "query": "SELECT id, v FROM ev WHERE id <= 2",
            "topic.prefix": "bulk-ev",
            "poll.interval.ms": "200",
        },
    )
    wait_until(lambda: herder.log.has_topic("bulk-ev") and herder.log.latest_offset("bulk-ev", 0) >= 4)
    with pytest.raises(ConnectorConfigError) as e:
        herder.create_connector(
            "bad",
            {
                "connector.class": "JdbcSource",
                "connection.url": pg_url,
                "mode": "incrementing",
                "topic.prefix": "x",
            },
        )
    assert "incrementing.column.name" in e.value.errors


def test_file_to_postgres_round_trip_is_idempotent_with_kafka_coordinates(herder, pg_url, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("".join(f"row {i}\n" for i in range(2000)))
    herder.create_connector(
        "file",
        {
            "connector.class": "FileStreamSource",
            "file": str(src),
            "topic": "lines",
            "value.converter": "StringConverter",
        },
    )
    sink = {
        "connector.class": "JdbcSink",
        "topics": "lines",
        "connection.url": pg_url,
        "auto.create": "true",
        "value.converter": "StringConverter",
        "insert.mode": "upsert",
        "pk.mode": "kafka",
        "transforms": "wrap",
        "transforms.wrap.type": "HoistField$Value",
        "transforms.wrap.field": "line",
    }
    herder.create_connector("db", sink)
    wait_until(
        lambda: (
            rows(pg_url, "SELECT to_regclass('lines')")[0][0]
            and rows(pg_url, "SELECT count(*) FROM lines")[0][0] == 2000
        )
    )
    # replay everything (as after a crash before the offset commit): upserts keyed by topic/partition/offset
    herder.stop_connector("db")
    herder.wait_for_state("db", "STOPPED")
    herder.reset_offsets("db")
    herder.resume_connector("db")
    wait_until(
        lambda: (
            herder.connector_offsets("db")
            and herder.connector_offsets("db")[0]["offset"]["kafka_offset"] == 2000
        )
    )
    assert rows(pg_url, "SELECT count(*), min(__connect_offset), max(__connect_offset) FROM lines")[0] == (
        2000,
        0,
        1999,
    )
    assert rows(pg_url, "SELECT line FROM lines WHERE __connect_offset = 1234")[0][0] == "row 1234"
