"""The PostgreSQL CDC source against a real PostgreSQL (``wal_level=logical``) inside a real herder:
snapshot then streaming, Debezium's envelope, tombstones, key changes, replica identity, schema changes,
snapshot modes, heartbeats, resuming after a restart with neither loss nor duplicates, slot acknowledgement,
and the setup mistakes users make, each failing with its fix."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import orjson
import psycopg
import pytest

from millstream.connect.herder import Herder
from millstream.core.debezium_json import DebeziumJsonFormat
from millstream.log import Log

from ..connect.helpers import wait_until

pytestmark = pytest.mark.postgres


def events(log: Log, topic: str) -> list[tuple[Any, Any]]:
    """(key, value) of every record of ``topic`` (JSON decoded; tombstones have value None)."""
    if not log.has_topic(topic):
        return []
    out = []
    for p in range(log.describe_topic(topic).partitions):
        for r in log.read(topic, p, 0, max_records=1_000_000):
            out.append((orjson.loads(r.key) if r.key else None, orjson.loads(r.value) if r.value else None))
    return out


def wait_events(log: Log, topic: str, n: int, timeout: float = 30) -> list[tuple[Any, Any]]:
    return wait_until(lambda: (e := events(log, topic)) and len(e) >= n and e, timeout, f"{n} records on {topic}")


def wait_running(h: Herder, name: str) -> None:
    def running() -> bool:
        tasks = h.connector_status(name)["tasks"]
        return bool(tasks) and tasks[0]["state"] == "RUNNING"

    wait_until(running, 30, f"{name}'s task to run")


def task_trace(h: Herder, name: str) -> str:
    def failed() -> str | None:
        st = h.connector_status(name)
        for t in st["tasks"]:
            if t["state"] == "FAILED":
                return str(t.get("trace") or "")
        if st["connector"]["state"] == "FAILED":
            return str(st["connector"].get("trace") or "")
        return None

    return str(wait_until(failed, 30, f"{name} to fail"))


def slot_flush(pg: psycopg.Connection[Any], slot: str) -> int:
    row = pg.execute(
        "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = %s", (slot,)
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def test_snapshot_then_streams_changes_in_debezium_envelope(
    pg: psycopg.Connection[Any], cdc_config: Callable[..., dict[str, str]], make_herder: Callable[..., Herder]
) -> None:
    pg.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(8,2), day date)")
    pg.execute("INSERT INTO items VALUES (1, 'one', 1.50, '2024-01-02'), (2, 'two', 2, NULL)")
    h = make_herder()
    h.create_connector("cdc", cdc_config())
    snap = wait_events(h.log, "srv.public.items", 2)
    assert [v["op"] for _, v in snap] == ["r", "r"]
    assert [v["source"]["snapshot"] for _, v in snap] == ["true", "last"]
    assert snap[0] == (
        {"id": 1},
        {
            "before": None,
            "after": {"id": 1, "name": "one", "price": 1.5, "day": 19724},
            "source": snap[0][1]["source"],
            "op": "r",
            "ts_ms": snap[0][1]["ts_ms"],
        },
    )
    src = snap[0][1]["source"]
    assert (src["connector"], src["name"], src["db"], src["schema"], src["table"]) == (
        "postgresql",
        "srv",
        pg.info.dbname,
        "public",
        "items",
    )

    pg.execute("INSERT INTO items VALUES (3, 'three', 3, NULL)")
    pg.execute("UPDATE items SET name = 'TWO' WHERE id = 2")
    pg.execute("DELETE FROM items WHERE id = 1")
    pg.execute("UPDATE items SET id = 30 WHERE id = 3")  # a key change: delete + tombstone + create
    got = wait_events(h.log, "srv.public.items", 2 + 1 + 1 + 2 + 3)[2:]
    ops = [(k, v and v["op"]) for k, v in got]
    assert ops == [
        ({"id": 3}, "c"),
        ({"id": 2}, "u"),
        ({"id": 1}, "d"),
        ({"id": 1}, None),
        ({"id": 3}, "d"),
        ({"id": 3}, None),
        ({"id": 30}, "c"),
    ]
    create, update, delete = got[0][1], got[1][1], got[2][1]
    assert create["before"] is None and create["after"]["name"] == "three"
    assert update["before"] is None and update["after"] == {"id": 2, "name": "TWO", "price": 2.0, "day": None}
    assert delete["after"] is None and delete["before"] == {"id": 1, "name": None, "price": None, "day": None}
    assert got[6][1]["after"]["id"] == 30
    s = update["source"]
    assert s["snapshot"] == "false" and isinstance(s["txId"], int) and isinstance(s["lsn"], int)
    assert got[0][1]["source"]["txId"] < s["txId"] < delete["source"]["txId"]
    # Debezium's sequence: [LSN of the previous commit, LSN of this change]
    last_commit, this = orjson.loads(s["sequence"])
    assert this == str(s["lsn"]) and int(last_commit) < s["lsn"]


def test_schemas_enabled_carry_debezium_schema_names(
    pg: psycopg.Connection[Any], cdc_config: Callable[..., dict[str, str]], make_herder: Callable[..., Herder]
) -> None:
    pg.execute("CREATE TABLE t (id bigint PRIMARY KEY, at timestamptz, ok boolean)")
    h = make_herder()
    h.create_connector("cdc", cdc_config(value_converter_schemas_enable="true", key_converter_schemas_enable="true"))
    wait_running(h, "cdc")
    pg.execute("INSERT INTO t VALUES (7, '2024-05-06 07:08:09.123+02', true)")
    [(key, value)] = wait_events(h.log, "srv.public.t", 1)
    assert key == {"schema": key["schema"], "payload": {"id": 7}}
    assert key["schema"]["name"] == "srv.public.t.Key"
    schema = value["schema"]
    assert schema["name"] == "srv.public.t.Envelope"
    fields = {f["field"]: f for f in schema["fields"]}
    assert fields["source"]["name"] == "io.debezium.connector.postgresql.Source"
    assert {f["field"]: f.get("name") for f in fields["after"]["fields"]}["at"] == "io.debezium.time.ZonedTimestamp"
    assert value["payload"]["after"] == {"id": 7, "at": "2024-05-06T05:08:09.123000Z", "ok": True}


def test_replica_identity_full_sends_before_and_schema_changes_follow(
    pg: psycopg.Connection[Any], cdc_config: Callable[..., dict[str, str]], make_herder: Callable[..., Herder]
) -> None:
    pg.execute("CREATE TABLE acct (id int PRIMARY KEY, balance int)")
    pg.execute("ALTER TABLE acct REPLICA IDENTITY FULL")
    pg.execute("INSERT INTO acct VALUES (1, 10)")
    h = make_herder()
    h.create_connector("cdc", cdc_config(snapshot_mode="no_data"))
    wait_running(h, "cdc")
    wait_until(lambda: pg.execute("SELECT count(*) FROM pg_replication_slots WHERE active").fetchone()[0], 30, "slot")
    pg.execute("UPDATE acct SET balance = 20 WHERE id = 1")
    pg.execute("ALTER TABLE acct ADD COLUMN owner text")
    pg.execute("UPDATE acct SET owner = 'ann' WHERE id = 1")
    pg.execute("DELETE FROM acct")
    got = wait_events(h.log, "srv.public.acct", 4)
    assert [v and v["op"] for _, v in got] == ["u", "u", "d", None]  # snapshot.mode=never: no "r"
    assert got[0][1]["before"] == {"id": 1, "balance": 10} and got[0][1]["after"] == {"id": 1, "balance": 20}
    assert got[1][1]["before"] == {"id": 1, "balance": 20, "owner": None}
    assert got[1][1]["after"] == {"id": 1, "balance": 20, "owner": "ann"}
    assert got[2][1]["before"] == {"id": 1, "balance": 20, "owner": "ann"}
    # a table created while the connector runs is captured too
    pg.execute("CREATE TABLE later (id int PRIMARY KEY, note text)")
    pg.execute("INSERT INTO later VALUES (1, 'new')")
    [(key, value)] = wait_events(h.log, "srv.public.later", 1)
    assert key == {"id": 1} and value["op"] == "c" and value["after"] == {"id": 1, "note": "new"}
    # the debezium-json format reads these events as Flink's changelog
    fmt = DebeziumJsonFormat()
    raw = [r.value for r in h.log.read("srv.public.acct", 0, 0)]
    kinds = [c.kind.short_string for value in raw for c in fmt.decode(value)]
    assert kinds == ["-U", "+U", "-U", "+U", "-D"]


def test_restart_resumes_without_loss_or_duplicates_and_acks_the_slot(
    pg: psycopg.Connection[Any], cdc_config: Callable[..., dict[str, str]], make_herder: Callable[..., Herder]
) -> None:
    pg.execute("CREATE TABLE n (id int PRIMARY KEY, v int)")
    pg.execute("INSERT INTO n SELECT g, 0 FROM generate_series(1, 100) g")
    cfg = cdc_config()
    h = make_herder()
    h.create_connector("cdc", cfg)
    wait_events(h.log, "srv.public.n", 100)
    with pg.transaction():
        for i in range(1, 51):
            pg.execute("UPDATE n SET v = v + 1 WHERE id = %s", (i,))
    wait_events(h.log, "srv.public.n", 150)
    before = slot_flush(pg, cfg["slot.name"])
    wait_until(lambda: slot_flush(pg, cfg["slot.name"]) > before or None, 30, "the slot to be acknowledged")
    h.stop()
    # changes while the connector is down are kept by the slot
    pg.execute("INSERT INTO n SELECT g, 1 FROM generate_series(101, 120) g")
    pg.execute("DELETE FROM n WHERE id <= 10")
    h2 = make_herder()
    h2.create_connector("cdc", cfg)
    got = wait_events(h2.log, "srv.public.n", 150 + 20 + 20)
    assert len(got) == 190, "a change was delivered twice or lost"
    assert [v["op"] for _, v in got[:100]] == ["r"] * 100
    assert [v["op"] for _, v in got[100:150]] == ["u"] * 50
    assert [v["op"] for _, v in got[150:170]] == ["c"] * 20
    assert [v and v["op"] for _, v in got[170:]] == ["d", None] * 10


@pytest.mark.parametrize("heartbeat_ms", ["0", "200"])
def test_a_quiet_slot_is_acknowledged_with_or_without_heartbeats(
    heartbeat_ms: str,
    pg: psycopg.Connection[Any],
    cdc_config: Callable[..., dict[str, str]],
    make_herder: Callable[..., Herder],
) -> None:
    pg.execute("CREATE TABLE quiet (id int PRIMARY KEY)")
    pg.execute("CREATE TABLE busy (id int PRIMARY KEY)")
    cfg = cdc_config(heartbeat_interval_ms=heartbeat_ms, table_include_list="public\\.quiet")
    h = make_herder()
    h.create_connector("cdc", cfg)
    wait_running(h, "cdc")
    wait_until(lambda: slot_flush(pg, cfg["slot.name"]), 30, "the slot to exist")
    start = slot_flush(pg, cfg["slot.name"])
    pg.execute("INSERT INTO busy SELECT generate_series(1, 1000)")  # WAL the connector does not capture
    end = pg.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()[0]
    wait_until(lambda: slot_flush(pg, cfg["slot.name"]) >= end or None, 30, "the quiet slot to catch up")
    assert slot_flush(pg, cfg["slot.name"]) > start
    assert not h.log.has_topic("srv.public.busy")
    if heartbeat_ms == "0":
        assert not h.log.has_topic("__debezium-heartbeat.srv")
        return
    beats = wait_events(h.log, "__debezium-heartbeat.srv", 1)
    assert beats[0][0] == {"serverName": "srv"} and isinstance(beats[0][1]["ts_ms"], int)


def test_when_needed_snapshots_again_when_the_slot_is_gone_and_initial_refuses(
    pg: psycopg.Connection[Any], cdc_config: Callable[..., dict[str, str]], make_herder: Callable[..., Herder]
) -> None:
    pg.execute("CREATE TABLE w (id int PRIMARY KEY)")
    pg.execute("INSERT INTO w VALUES (1)")
    cfg = cdc_config()
    h = make_herder()
    h.create_connector("cdc", cfg)
    wait_events(h.log, "srv.public.w", 1)
    pg.execute("INSERT INTO w VALUES (2)")
    wait_events(h.log, "srv.public.w", 2)
    h.delete_connector("cdc")
    wait_until(lambda: not pg.execute("SELECT active FROM pg_replication_slots").fetchone()[0], 30, "slot free")
    pg.execute("SELECT pg_drop_replication_slot(%s)", (cfg["slot.name"],))
    h.create_connector("cdc", cfg)
    trace = task_trace(h, "cdc")
    assert "no longer exists" in trace and "snapshot.mode=when_needed" in trace
    h.delete_connector("cdc")
    h.create_connector("cdc", {**cfg, "snapshot.mode": "when_needed"})
    got = wait_events(h.log, "srv.public.w", 4)
    assert [(k["id"], v["op"]) for k, v in got[2:]] == [(1, "r"), (2, "r")]


# -- the mistakes users make --------------------------------------------------------------------------------
def test_table_without_primary_key_fails_with_the_fix(
    pg: psycopg.Connection[Any], cdc_config: Callable[..., dict[str, str]], make_herder: Callable[..., Herder]
) -> None:
    pg.execute("CREATE TABLE logs (msg text)")
    h = make_herder()
    h.create_connector("cdc", cdc_config())
    trace = task_trace(h, "cdc")
    assert "public.logs have no primary key" in trace
    assert "REPLICA IDENTITY FULL" in trace and "table.exclude.list" in trace


def test_wrong_password_and_missing_replication_permission(
    pg: psycopg.Connection[Any], cdc_config: Callable[..., dict[str, str]], make_herder: Callable[..., Herder]
) -> None:
    role = f"cdc_user_{pg.info.dbname}"
    pg.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'right'")
    try:
        pg.execute("CREATE TABLE t (id int PRIMARY KEY)")
        pg.execute("CREATE PUBLICATION dbz_publication FOR ALL TABLES")
        pg.execute(f"GRANT SELECT ON t TO {role}")
        cfg = cdc_config(database_user=role, database_password="wrong")
        try:  # a server configured elsewhere (MILLSTREAM_TEST_POSTGRES) may trust every login
            psycopg.connect(
                host=cfg["database.hostname"],
                port=cfg["database.port"],
                dbname=cfg["database.dbname"],
                user=role,
                password="wrong",
            ).close()
            pytest.skip("the server does not check passwords")
        except psycopg.OperationalError:
            pass
        h = make_herder()
        h.create_connector("bad-pw", cfg)
        trace = task_trace(h, "bad-pw")
        assert "refused the login" in trace and "database.password" in trace and "wrong" not in trace.split("\n")[-2]
        h.create_connector("no-repl", cdc_config(database_user=role, database_password="right"))
        trace = task_trace(h, "no-repl")
        assert "may not use replication" in trace and f'ALTER ROLE "{role}" WITH REPLICATION' in trace
    finally:
        pg.execute(f"DROP OWNED BY {role}")
        pg.execute(f"DROP ROLE {role}")


def test_slot_in_use_by_another_client(
    pg: psycopg.Connection[Any], cdc_config: Callable[..., dict[str, str]], make_herder: Callable[..., Herder]
) -> None:
    pg.execute("CREATE TABLE t (id int PRIMARY KEY)")
    cfg = cdc_config()
    h = make_herder()
    h.create_connector("first", cfg)
    wait_until(
        lambda: pg.execute(
            "SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = %s", (cfg["slot.name"],)
        ).fetchone()[0],
        30,
        "the first connector's slot in use",
    )
    h.create_connector(
        "second", {**cfg, "topic.prefix": "other", "slot.max.retries": "2", "slot.retry.delay.ms": "100"}
    )
    trace = task_trace(h, "second")
    assert "is in use by another client" in trace and "slot.name" in trace


def test_config_mistakes_are_reported_by_option(make_herder: Callable[..., Herder]) -> None:
    h = make_herder()
    result = h.validate(
        {
            "connector.class": "PostgresConnector",
            "database.hostname": "localhost",
            "database.user": "u",
            "database.dbname": "d",
            "topic.prefix": "p",
            "plugin.name": "decoderbufs",
            "snapshot.mode": "sometimes",
            "slot.name": "Bad-Name",
            "table.include.list": "a.b",
            "table.exclude.list": "c.d",
        }
    )
    errors = {c["value"]["name"]: c["value"]["errors"] for c in result["configs"] if c["value"]["errors"]}
    assert set(errors) >= {"plugin.name", "snapshot.mode"}
    ok = h.validate(
        {
            "connector.class": "PostgresConnector",
            "database.hostname": "localhost",
            "database.user": "u",
            "database.dbname": "d",
            "topic.prefix": "p",
            "slot.name": "Bad-Name",
            "table.include.list": "a.b",
            "table.exclude.list": "c.d",
        }
    )
    errors = {c["value"]["name"]: c["value"]["errors"] for c in ok["configs"] if c["value"]["errors"]}
    assert "lower-case letters" in errors["slot.name"][0]
    assert "cannot both be set" in errors["table.exclude.list"][0]


def test_wal_level_not_logical_says_how_to_turn_it_on(
    non_logical_postgres: str, cdc_config: Callable[..., dict[str, str]], make_herder: Callable[..., Herder]
) -> None:
    port = non_logical_postgres.rsplit(":", 1)[1].split("/")[0]
    h = make_herder()
    h.create_connector("cdc", cdc_config(database_port=port, database_dbname="postgres"))
    trace = task_trace(h, "cdc")
    assert "wal_level = replica" in trace and "ALTER SYSTEM SET wal_level = logical" in trace


def test_types_are_the_same_in_snapshot_and_stream(
    pg: psycopg.Connection[Any], cdc_config: Callable[..., dict[str, str]], make_herder: Callable[..., Herder]
) -> None:
    pg.execute(
        "CREATE TABLE typed (id int PRIMARY KEY, s smallint, b bigint, ok boolean, r real, d double precision, "
        "n numeric(10,3), t text, c char(3), day date, tod time, ts timestamp, tstz timestamptz, raw bytea, "
        "doc jsonb, u uuid, arr int[], span interval, big numeric)"
    )
    row = (
        "-5, 9000000000, true, 1.5, 2.25, 12.345, 'x''y', 'ab', '2024-02-29', '12:34:56.789', "
        "'2024-02-29 12:34:56.789', '2024-02-29 12:34:56.789+01', '\\x00ff', '{\"k\": [1, 2]}', "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,2}', '1 day 02:00:00', -123.4500"
    )
    pg.execute(f"INSERT INTO typed VALUES (1, {row})")
    h = make_herder()
    h.create_connector("cdc", cdc_config())
    wait_events(h.log, "srv.public.typed", 1)
    pg.execute(f"INSERT INTO typed VALUES (2, {row})")
    snap, streamed = (v["after"] for _, v in wait_events(h.log, "srv.public.typed", 2))
    assert snap == {**streamed, "id": 1}
    assert streamed == {
        "id": 2,
        "s": -5,
        "b": 9000000000,
        "ok": True,
        "r": 1.5,
        "d": 2.25,
        "n": 12.345,
        "t": "x'y",
        "c": "ab ",
        "day": 19782,
        "tod": 45_296_789_000,
        "ts": 1_709_210_096_789_000,
        "tstz": "2024-02-29T11:34:56.789000Z",
        "raw": "AP8=",
        "doc": '{"k": [1, 2]}',
        "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "arr": "{1,2}",
        "span": "1 day 02:00:00",
        # numeric without scale: Debezium's VariableScaleDecimal, the unscaled value as two's-complement bytes
        "big": {"scale": 4, "value": base64.b64encode((-1234500).to_bytes(3, "big", signed=True)).decode()},
    }


def test_a_dropped_replication_connection_is_reopened_without_loss_or_duplicates(
    pg: psycopg.Connection[Any], cdc_config: Callable[..., dict[str, str]], make_herder: Callable[..., Herder]
) -> None:
    pg.execute("CREATE TABLE r (id int PRIMARY KEY)")
    cfg = cdc_config()
    h = make_herder()
    h.create_connector("cdc", cfg)
    wait_running(h, "cdc")
    for round_ in range(3):
        with pg.transaction():
            for i in range(50):
                pg.execute("INSERT INTO r VALUES (%s)", (round_ * 100 + i,))
        wait_until(
            lambda: pg.execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                "WHERE slot_name = %s AND active_pid IS NOT NULL",
                (cfg["slot.name"],),
            ).fetchone(),
            30,
            "the walsender to terminate",
        )
    got = wait_events(h.log, "srv.public.r", 150)
    time.sleep(1.0)  # anything doubled would arrive by now
    got = events(h.log, "srv.public.r")
    assert sorted(k["id"] for k, _ in got) == sorted(r * 100 + i for r in range(3) for i in range(50))
    assert h.connector_status("cdc")["tasks"][0]["state"] == "RUNNING"


def test_a_terminated_walsender_is_a_cdc_error_however_libpq_reports_it(
    pg: psycopg.Connection[Any], postgres_db: str
) -> None:
    """The replication connection's reads after the server closed it raise :class:`CdcError` (which the task
    answers by reconnecting), never libpq's own ``OperationalError`` (which failed the task: a race seen in the
    full suite when ``consume_input`` noticed the closed socket first)."""
    import os
    import socket
    from urllib.parse import urlsplit

    from millstream.connect.connectors.postgres_cdc.replication import CdcError, ReplicationConnection

    url = urlsplit(postgres_db)
    params = {"host": url.hostname, "port": url.port, "user": url.username, "dbname": url.path.lstrip("/")}
    pg.execute("CREATE TABLE t (id int PRIMARY KEY)")
    pg.execute("CREATE PUBLICATION p_term FOR TABLE t")
    for attempt in range(5):  # each attempt: a stream, its walsender terminated, reads until the loss shows
        repl = ReplicationConnection(params)
        slot = f"slot_term_{attempt}"
        repl.create_slot(slot, export_snapshot=False)
        repl.start(slot, "p_term")
        if attempt % 2:  # the server ends it (an error message, then the end of the stream)
            pg.execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            )
        else:  # the network drops it: no message, the socket just ends (libpq raises from consume_input)
            socket.socket(fileno=os.dup(repl.pg.socket)).shutdown(socket.SHUT_RDWR)
        with pytest.raises(CdcError):
            for _ in range(200):
                repl.read(0.05)
                repl.send_status()
        repl.close()

        def released(slot: str = slot) -> bool:
            row = pg.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
            return row is not None and not row[0]

        wait_until(released, 30, "the slot to be released")
        pg.execute("SELECT pg_drop_replication_slot(%s)", (slot,))


def test_database_to_log_to_jdbc_upsert_mirror(
    pg: psycopg.Connection[Any],
    postgres_db: str,
    cdc_config: Callable[..., dict[str, str]],
    make_herder: Callable[..., Herder],
) -> None:
    """Debezium's classic pipeline: CDC source → topic → ExtractNewRecordState → JDBC sink (upsert by key,
    deletes on tombstones): the mirror table ends equal to the source table."""
    pg.execute("CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL, qty int NOT NULL)")
    pg.execute("INSERT INTO orders SELECT g, 'item-' || g, g FROM generate_series(1, 50) g")
    h = make_herder()
    h.create_connector(
        "cdc",
        cdc_config(
            table_include_list="public\\.orders",
            value_converter_schemas_enable="true",
            key_converter_schemas_enable="true",
        ),
    )
    h.create_connector(
        "mirror",
        {
            "connector.class": "JdbcSink",
            "topics": "srv.public.orders",
            "connection.url": postgres_db,
            "insert.mode": "upsert",
            "pk.mode": "record_key",
            "delete.enabled": "true",
            "auto.create": "true",
            "table.name.format": "orders_mirror",
            "transforms": "unwrap",
            "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
            "transforms.unwrap.drop.tombstones": "false",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        },
    )
    wait_events(h.log, "srv.public.orders", 50)
    pg.execute("UPDATE orders SET qty = qty * 10 WHERE id % 3 = 0")
    pg.execute("DELETE FROM orders WHERE id % 5 = 0")
    pg.execute("INSERT INTO orders VALUES (100, 'new', 1)")
    pg.execute("UPDATE orders SET id = 200 WHERE id = 1")

    def rows(table: str) -> list[tuple[Any, ...]]:
        try:
            return pg.execute(f"SELECT id, item, qty FROM {table} ORDER BY id").fetchall()
        except psycopg.errors.UndefinedTable:
            return []

    expected = rows("orders")
    wait_until(lambda: rows("orders_mirror") == expected, 60, "the mirror to equal the table")


def test_initial_only_takes_the_snapshot_and_lets_the_slot_go(
    pg: psycopg.Connection[Any], cdc_config: Callable[..., dict[str, str]], make_herder: Callable[..., Herder]
) -> None:
    pg.execute("CREATE TABLE once (id int PRIMARY KEY)")
    pg.execute("INSERT INTO once SELECT generate_series(1, 5)")
    cfg = cdc_config(snapshot_mode="initial_only")
    h = make_herder()
    h.create_connector("cdc", cfg)
    got = wait_events(h.log, "srv.public.once", 5)
    assert [v["op"] for _, v in got] == ["r"] * 5
    wait_until(
        lambda: (
            not pg.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (cfg["slot.name"],)).fetchone()
        ),
        30,
        "the slot to be dropped",
    )
    pg.execute("INSERT INTO once VALUES (6)")
    h.restart_connector("cdc", include_tasks=True)  # a restart finds the snapshot done: nothing to do
    wait_running(h, "cdc")
    time.sleep(1.0)
    assert len(events(h.log, "srv.public.once")) == 5
    assert h.connector_status("cdc")["tasks"][0]["state"] == "RUNNING"
    assert not pg.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (cfg["slot.name"],)).fetchone()
