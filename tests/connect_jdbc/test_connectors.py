"""The JDBC connectors run by the real connect worker (Herder) on a memory:// log against a real PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
import pytest

from millstream.connect.connectors.jdbc import PLUGINS, JdbcSinkConnector, JdbcSourceConnector
from millstream.connect.errors import ConnectorConfigError
from millstream.connect.herder import Herder
from millstream.core.record import ProducerRecord

pytestmark = pytest.mark.postgres

SOURCE = "millstream.connect.connectors.jdbc.JdbcSourceConnector"
SINK = "millstream.connect.connectors.jdbc.JdbcSinkConnector"


@pytest.fixture
def herder(postgres_db: str) -> Iterator[Herder]:
    """A worker on a memory:// log; stopped before the test database is dropped."""
    h = Herder({"offset.flush.interval.ms": "100", "task.shutdown.graceful.timeout.ms": "5000"}, "memory://")
    h.start()
    try:
        yield h
    finally:
        h.stop()


def values_of(h: Herder, topic: str) -> list[Any]:
    if not h.log.has_topic(topic):
        return []
    return [orjson.loads(r.value) for r in h.log.read(topic, 0, 0, max_records=1_000_000) if r.value is not None]


def wait_until(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def produce_json(h: Herder, topic: str, items: list[tuple[Any, Any]]) -> None:
    h.log.create_topic(topic, 1, exist_ok=True)
    h.log.append(
        topic,
        0,
        [
            ProducerRecord(None if v is None else orjson.dumps(v), None if k is None else orjson.dumps(k))
            for k, v in items
        ],
    )


def test_plugin_entries_name_the_confluent_classes() -> None:
    names = {alias for _, _, aliases in PLUGINS for alias in aliases}
    assert {"JdbcSource", "JdbcSink", "io.confluent.connect.jdbc.JdbcSourceConnector"} <= names
    assert JdbcSourceConnector.connector_type() == "source"
    assert JdbcSinkConnector.connector_type() == "sink"


def test_source_incrementing_to_topic_and_resume_from_offsets(
    herder: Herder, postgres_db: str, pg: psycopg.Connection[Any]
) -> None:
    pg.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, qty int, at timestamp)")
    pg.execute(
        "INSERT INTO orders (item, qty, at) SELECT 'item' || g, g, '2024-01-01'::timestamp + g * interval '1s' "
        "FROM generate_series(1, 250) g"
    )
    url = postgres_db.replace("postgresql://", "jdbc:postgresql://").replace("postgres@", "") + "?user=postgres"
    config = {
        "connector.class": SOURCE,
        "connection.url": url,
        "mode": "incrementing",
        "table.whitelist": "orders",
        "topic.prefix": "pg-",
        "poll.interval.ms": "100",
        "batch.max.rows": "40",
    }
    herder.create_connector("orders-src", config)
    herder.wait_for_state("orders-src", "RUNNING", tasks=1, timeout=20)
    wait_until(lambda: len(values_of(herder, "pg-orders")) >= 250, what="250 rows")
    got = values_of(herder, "pg-orders")
    assert len(got) == 250
    first = got[0]
    assert first["payload"] == {"id": 1, "item": "item1", "qty": 1, "at": 1704067201000}
    schema = first["schema"]
    assert schema["name"] == "orders" and schema["type"] == "struct"
    fields = {f["field"]: f for f in schema["fields"]}
    assert fields["id"]["type"] == "int32" and fields["id"]["optional"] is False
    assert fields["at"]["name"] == "org.apache.kafka.connect.data.Timestamp"
    # new rows arrive; after the connector restarts it continues from its stored offset, no duplicates
    pg.execute("INSERT INTO orders (item) VALUES ('late')")
    wait_until(lambda: len(values_of(herder, "pg-orders")) == 251, what="the late row")
    time.sleep(0.3)  # let the offsets flush
    herder.delete_connector("orders-src")
    pg.execute("INSERT INTO orders (item) VALUES ('after restart')")
    herder.create_connector("orders-src", config)
    wait_until(lambda: len(values_of(herder, "pg-orders")) >= 252, what="the row after restart")
    time.sleep(0.5)
    items = [v["payload"]["item"] for v in values_of(herder, "pg-orders")]
    assert len(items) == 252 and items[-1] == "after restart"


def test_json_converter_writes_timestamps_as_epoch_ms() -> None:
    import datetime as dt

    from millstream.connect.converters import JsonConverter
    from millstream.connect.data import TIMESTAMP_SCHEMA, struct_schema

    conv = JsonConverter()
    conv.configure({}, False)
    schema = struct_schema("r", [("at", TIMESTAMP_SCHEMA)])
    data = conv.from_connect_data("t", schema, {"at": dt.datetime(2024, 1, 1, 0, 0, 1, tzinfo=dt.UTC)})
    assert orjson.loads(data)["payload"]["at"] == 1704067201000  # type: ignore[arg-type]
    assert conv.to_connect_data("t", data)[1]["at"] == dt.datetime(2024, 1, 1, 0, 0, 1, tzinfo=dt.UTC)


def test_source_timestamp_incrementing_sees_updates(
    herder: Herder, postgres_db: str, pg: psycopg.Connection[Any]
) -> None:
    pg.execute(
        "CREATE TABLE acct (id bigint PRIMARY KEY, balance numeric(12,2), updated timestamptz NOT NULL DEFAULT now())"
    )
    pg.execute("INSERT INTO acct (id, balance) VALUES (1, 10.50), (2, 20)")
    herder.create_connector(
        "acct-src",
        {
            "connector.class": SOURCE,
            "connection.url": postgres_db,
            "mode": "timestamp+incrementing",
            "incrementing.column.name": "id",
            "timestamp.column.name": "updated",
            "table.whitelist": "acct",
            "topic.prefix": "db.",
            "poll.interval.ms": "100",
            "value.converter.schemas.enable": "false",
        },
    )
    wait_until(lambda: len(values_of(herder, "db.acct")) == 2, what="2 rows")
    pg.execute("UPDATE acct SET balance = 99.99, updated = now() WHERE id = 1")
    wait_until(lambda: len(values_of(herder, "db.acct")) == 3, what="the update")
    last = values_of(herder, "db.acct")[-1]
    assert last["id"] == 1 and last["balance"] == 99.99


def test_sink_upsert_from_json_with_schemas_and_tombstone_delete(
    herder: Herder, postgres_db: str, pg: psycopg.Connection[Any]
) -> None:
    schema = {
        "type": "struct",
        "fields": [
            {"field": "id", "type": "int64", "optional": False},
            {"field": "name", "type": "string", "optional": True},
        ],
    }
    key_schema = {"type": "struct", "fields": [{"field": "id", "type": "int64", "optional": False}]}
    items = [
        ({"schema": key_schema, "payload": {"id": i}}, {"schema": schema, "payload": {"id": i, "name": f"n{i}"}})
        for i in range(50)
    ]
    items.append(({"schema": key_schema, "payload": {"id": 7}}, None))
    items.append(({"schema": key_schema, "payload": {"id": 8}}, {"schema": schema, "payload": {"id": 8, "name": "x"}}))
    produce_json(herder, "people", items)
    herder.create_connector(
        "people-sink",
        {
            "connector.class": SINK,
            "topics": "people",
            "connection.url": postgres_db,
            "insert.mode": "upsert",
            "pk.mode": "record_key",
            "delete.enabled": "true",
            "auto.create": "true",
        },
    )

    def count() -> int:
        try:
            return int(pg.execute("SELECT count(*) FROM people WHERE name = 'x'").fetchone()[0])  # type: ignore[index]
        except psycopg.errors.UndefinedTable:
            return 0

    wait_until(lambda: count() == 1, what="rows in PostgreSQL")
    rows = pg.execute("SELECT id, name FROM people ORDER BY id").fetchall()
    assert len(rows) == 49 and (7, "n7") not in rows and (8, "x") in rows
    status = herder.connector_status("people-sink")
    assert status["tasks"][0]["state"] == "RUNNING"


def test_sink_schemaless_json_record_value_pk(herder: Herder, postgres_db: str, pg: psycopg.Connection[Any]) -> None:
    produce_json(herder, "metrics", [(None, {"host": f"h{i % 3}", "cpu": i * 1.5, "ok": True}) for i in range(9)])
    herder.create_connector(
        "metrics-sink",
        {
            "connector.class": SINK,
            "topics": "metrics",
            "connection.url": postgres_db,
            "insert.mode": "upsert",
            "pk.mode": "record_value",
            "pk.fields": "host",
            "auto.create": "true",
            "table.name.format": "public.${topic}_latest",
            "value.converter.schemas.enable": "false",
        },
    )

    def rows() -> list[Any]:
        try:
            return pg.execute("SELECT host, cpu, ok FROM metrics_latest ORDER BY host").fetchall()
        except psycopg.errors.UndefinedTable:
            return []

    wait_until(lambda: rows() == [("h0", 9.0, True), ("h1", 10.5, True), ("h2", 12.0, True)], what="latest rows")


def test_unreachable_database_fails_the_task_readably(herder: Herder, postgres_db: str) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        produce_json(herder, "t", [(None, {"a": 1})])
        herder.create_connector(
            "down-sink",
            {
                "connector.class": SINK,
                "topics": "t",
                "connection.url": f"jdbc:postgresql://127.0.0.1:{port}/app",
                "connection.password": "topsecret",
                "connection.attempts": "2",
                "connection.backoff.ms": "50",
                "value.converter.schemas.enable": "false",
            },
        )
        herder.create_connector(
            "down-src",
            {
                "connector.class": SOURCE,
                "connection.url": f"jdbc:postgresql://127.0.0.1:{port}/app",
                "connection.attempts": "1",
                "mode": "bulk",
                "table.whitelist": "x",
                "topic.prefix": "p-",
            },
        )
        for name in ("down-sink", "down-src"):
            wait_until(
                lambda name=name: [t["state"] for t in herder.connector_status(name)["tasks"]] == ["FAILED"],
                what=f"{name} task FAILED",
            )
            status = herder.connector_status(name)
            trace = status["tasks"][0]["trace"]
            assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}/app" in trace
            assert "topsecret" not in trace
            assert status["connector"]["state"] == "RUNNING"
        assert "(tried 2 times)" in herder.connector_status("down-sink")["tasks"][0]["trace"]
    # the worker keeps working: another connector runs fine
    produce_json(herder, "ok", [(None, {"a": 1})])
    herder.create_connector(
        "ok-sink",
        {
            "connector.class": SINK,
            "topics": "ok",
            "connection.url": postgres_db,
            "auto.create": "true",
            "value.converter.schemas.enable": "false",
        },
    )
    herder.wait_for_state("ok-sink", "RUNNING", tasks=1, timeout=20)


def test_bad_option_combinations_are_rejected(herder: Herder, postgres_db: str) -> None:
    base = {"connector.class": SINK, "topics": "t", "connection.url": postgres_db}
    with pytest.raises(ConnectorConfigError, match=r"insert.mode=upsert needs primary key columns"):
        herder.create_connector("bad1", {**base, "insert.mode": "upsert"})
    with pytest.raises(ConnectorConfigError, match=r"delete.enabled=true needs pk.mode=record_key"):
        herder.create_connector("bad2", {**base, "delete.enabled": "true", "pk.mode": "record_value"})
    with pytest.raises(ConnectorConfigError, match="oracle"):
        herder.create_connector("bad3", {**base, "connection.url": "jdbc:oracle:thin:@h:1521/db"})
    result = herder.validate({**base, "insert.mode": "upsert"})
    assert result["error_count"] >= 1
    src = {"connector.class": SOURCE, "connection.url": postgres_db, "topic.prefix": "p", "table.whitelist": "t"}
    with pytest.raises(ConnectorConfigError, match="mode"):
        herder.create_connector("bad4", src)
    with pytest.raises(ConnectorConfigError, match=r"timestamp\.column\.name"):
        herder.create_connector("bad5", {**src, "mode": "timestamp"})
    assert herder.connectors() == []


def _terminate_other_sessions(pg: psycopg.Connection[Any]) -> int:
    rows = pg.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    ).fetchall()
    return len(rows)


def test_sink_and_source_survive_a_dropped_connection(
    herder: Herder, postgres_db: str, pg: psycopg.Connection[Any]
) -> None:
    pg.execute("CREATE TABLE src (id serial PRIMARY KEY, v text)")
    pg.execute("INSERT INTO src (v) SELECT 'a' || g FROM generate_series(1, 10) g")
    herder.create_connector(
        "src",
        {
            "connector.class": SOURCE,
            "connection.url": postgres_db,
            "mode": "incrementing",
            "table.whitelist": "src",
            "topic.prefix": "",
            "poll.interval.ms": "50",
            "connection.backoff.ms": "100",
            "value.converter.schemas.enable": "false",
        },
    )
    herder.create_connector(
        "dst",
        {
            "connector.class": SINK,
            "topics": "src",
            "connection.url": postgres_db,
            "insert.mode": "upsert",
            "pk.mode": "record_value",
            "pk.fields": "id",
            "table.name.format": "dst",
            "auto.create": "true",
            "retry.backoff.ms": "100",
            "value.converter.schemas.enable": "false",
        },
    )

    def dst_count() -> int:
        try:
            return int(pg.execute("SELECT count(*) FROM dst").fetchone()[0])  # type: ignore[index]
        except psycopg.errors.UndefinedTable:
            return 0

    wait_until(lambda: dst_count() == 10, what="first 10 rows copied")
    assert _terminate_other_sessions(pg) >= 2  # the source's and the sink's connections
    pg.execute("INSERT INTO src (v) SELECT 'b' || g FROM generate_series(1, 10) g")
    wait_until(lambda: dst_count() == 20, what="rows after the connections were dropped")
    time.sleep(0.3)
    assert len(values_of(herder, "src")) == 20  # the source resumed after its last row: nothing twice
    for name in ("src", "dst"):
        assert [t["state"] for t in herder.connector_status(name)["tasks"]] == ["RUNNING"]
    assert pg.execute("SELECT count(*) FROM dst d JOIN src s USING (id) WHERE d.v = s.v").fetchone() == (20,)


def test_source_finds_tables_and_picks_up_new_ones(
    herder: Herder, postgres_db: str, pg: psycopg.Connection[Any]
) -> None:
    for t in ("alpha", "beta", "skipme"):
        pg.execute(f"CREATE TABLE {t} (id bigserial PRIMARY KEY, v text)")
        pg.execute(f"INSERT INTO {t} (v) VALUES ('{t}-1'), ('{t}-2')")
    herder.create_connector(
        "all-tables",
        {
            "connector.class": SOURCE,
            "connection.url": postgres_db,
            "mode": "incrementing",  # the bigserial column is found without incrementing.column.name
            "table.blacklist": "skipme",
            "topic.prefix": "t-",
            "poll.interval.ms": "50",
            "table.poll.interval.ms": "200",
            "tasks.max": "2",
            "value.converter.schemas.enable": "false",
        },
    )
    herder.wait_for_state("all-tables", "RUNNING", tasks=2, timeout=20)
    assert sorted(t["config"]["tables"] for t in herder.tasks("all-tables")) == ["alpha", "beta"]
    wait_until(lambda: len(values_of(herder, "t-alpha")) == 2 and len(values_of(herder, "t-beta")) == 2, what="rows")
    assert not herder.log.has_topic("t-skipme")
    pg.execute("CREATE TABLE gamma (id bigserial PRIMARY KEY, v text)")
    pg.execute("INSERT INTO gamma (v) VALUES ('gamma-1')")
    wait_until(lambda: values_of(herder, "t-gamma") == [{"id": 1, "v": "gamma-1"}], what="the new table's row")
    assert len(values_of(herder, "t-alpha")) == 2  # reassigning tables resumed from stored offsets


def test_postgres_to_postgres_keeps_types_through_json_with_schemas(
    herder: Herder, postgres_db: str, pg: psycopg.Connection[Any]
) -> None:
    pg.execute(
        "CREATE TABLE goods (id serial PRIMARY KEY, name text NOT NULL, price numeric(10,2), qty smallint, "
        "ok boolean, blob bytea, ratio real, at timestamp, day date)"
    )
    pg.execute(
        "INSERT INTO goods (name, price, qty, ok, blob, ratio, at, day) VALUES "
        "('a', 12.34, 3, true, '\\x00ff', 0.5, '2024-02-03 04:05:06.789', '2024-02-29'), "
        "('b', -0.01, NULL, false, NULL, NULL, NULL, NULL), ('c', NULL, 7, NULL, '', 2, '1999-12-31 23:59:59', NULL)"
    )
    herder.create_connector(
        "goods-src",
        {
            "connector.class": SOURCE,
            "connection.url": postgres_db,
            "mode": "incrementing",
            "incrementing.column.name": "id",
            "table.whitelist": "goods",
            "topic.prefix": "pg.",
            "poll.interval.ms": "50",
            "numeric.mapping": "none",
        },
    )
    herder.create_connector(
        "goods-sink",
        {
            "connector.class": SINK,
            "topics": "pg.goods",
            "connection.url": postgres_db,
            "insert.mode": "upsert",
            "pk.mode": "record_value",
            "pk.fields": "id",
            "auto.create": "true",
            "table.name.format": "goods_copy",
        },
    )

    def copied() -> list[Any]:
        try:
            return pg.execute("SELECT * FROM goods_copy ORDER BY id").fetchall()
        except psycopg.errors.UndefinedTable:
            return []

    wait_until(lambda: len(copied()) == 3, what="3 copied rows")
    assert copied() == pg.execute("SELECT * FROM goods ORDER BY id").fetchall()
    types = dict(
        pg.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'goods_copy'"
        ).fetchall()
    )
    assert types == {
        "id": "integer",
        "name": "text",
        "price": "numeric",
        "qty": "smallint",
        "ok": "boolean",
        "blob": "bytea",
        "ratio": "real",
        "at": "timestamp without time zone",
        "day": "date",
    }


def test_unreachable_database_through_the_rest_api(herder: Herder) -> None:
    import json
    import socket
    import urllib.request

    from millstream.connect.rest import RestServer

    server = RestServer(herder, "127.0.0.1", 0)
    server.start()

    def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            server.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None

    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            status, _ = call(
                "POST",
                "/connectors",
                {
                    "name": "pg-down",
                    "config": {
                        "connector.class": SINK,
                        "topics": "x",
                        "connection.url": f"jdbc:postgresql://127.0.0.1:{port}/db",
                        "connection.password": "hunter2",
                        "connection.attempts": "1",
                    },
                },
            )
            assert status == 201
            wait_until(
                lambda: [t["state"] for t in call("GET", "/connectors/pg-down/status")[1]["tasks"]] == ["FAILED"],
                what="FAILED over REST",
            )
        body = call("GET", "/connectors/pg-down/status")[1]
        assert "cannot connect to PostgreSQL" in body["tasks"][0]["trace"]
        assert "hunter2" not in json.dumps(body)
        assert call("GET", "/connectors/pg-down/config")[1]["connection.password"] != "hunter2"
        assert call("GET", "/")[0] == 200  # the API and the worker keep running
        assert call("GET", "/connectors")[1] == ["pg-down"]
    finally:
        server.stop()


def test_stop_from_another_thread_during_a_poll_leaves_the_connection_to_the_poll(
    postgres_db: str, pg: psycopg.Connection[Any]
) -> None:
    """Kafka Connect calls a source task's ``stop`` from another thread than ``poll``: closing the connection
    under a running query crashed the database driver (a segmentation fault took the whole worker down). The
    poll in progress finishes, and the connection is closed when it returns."""
    import threading

    from millstream.connect.connectors.jdbc.source import JdbcSourceTask

    pg.execute("CREATE TABLE slow (id int PRIMARY KEY)")
    pg.execute("INSERT INTO slow VALUES (1), (2)")
    url = postgres_db.replace("postgresql://", "jdbc:postgresql://").replace("postgres@", "") + "?user=postgres"
    task = JdbcSourceTask()
    task.start(
        {
            "connection.url": url,
            "mode": "incrementing",
            "query": "SELECT id, pg_sleep(0.5) IS NULL AS slept FROM slow",
            "incrementing.column.name": "id",
            "topic.prefix": "slow",
        }
    )
    polled: list[Any] = []
    poller = threading.Thread(target=lambda: polled.append(task.poll()))
    poller.start()
    deadline = time.monotonic() + 10
    while not task.tables[0].reader.in_query and poller.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)  # the query runs (0.5 s a row)
    task.stop()
    assert task.conn is not None  # still the poll's
    poller.join(30)
    assert not poller.is_alive()
    assert task.conn is None  # closed by the poll when it returned
    assert task.poll() is None  # stopped: no more reads
