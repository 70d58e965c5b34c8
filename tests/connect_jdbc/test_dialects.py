"""The JDBC source and sink on SQLite (a temp file) and on a real MariaDB (started by tests/fixtures/mariadb.py).

Each test runs once per dialect: the real connect worker (Herder) on a memory:// log copies a table to a topic
(bulk, incrementing, timestamp+incrementing) and the sink writes the topic back to another table (insert,
upsert, update, delete on tombstone, auto.create, auto.evolve); the copies must equal the originals row for row.
Bad input (a wrong MariaDB password, a missing table, an unknown dialect) must each give one clear error.
"""

from __future__ import annotations

import datetime as dt
import decimal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from millstream.connect.connectors.jdbc.connection import JdbcConnectionError, connect, parse_connection_url
from millstream.connect.connectors.jdbc.dialects import MYSQL, SQLITE, dialect_for_url
from millstream.connect.errors import ConnectorConfigError
from millstream.connect.herder import Herder
from millstream.core.errors import ConfigError
from millstream.core.record import ProducerRecord

SOURCE = "millstream.connect.connectors.jdbc.JdbcSourceConnector"
SINK = "millstream.connect.connectors.jdbc.JdbcSinkConnector"


class Db:
    """A test database of one dialect: its connection.url and a way to run SQL on it (autocommit)."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        self.conn = connect(parse_connection_url(url), autocommit=True)
        self.p = "?" if kind == "sqlite" else "%s"

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        cur = self.conn.cursor()
        cur.execute(sql, params)
        cur.close()

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]
        except Exception as exc:  # a table or column the sink has not created yet (MySQL commits DDL at once)
            if any(m in str(exc) for m in ("no such table", "doesn't exist", "no such column", "Unknown column")):
                return []
            raise
        finally:
            cur.close()

    @property
    def autoinc(self) -> str:
        return "INTEGER PRIMARY KEY" if self.kind == "sqlite" else "INT AUTO_INCREMENT PRIMARY KEY"

    @property
    def ts(self) -> str:
        return "TIMESTAMP" if self.kind == "sqlite" else "DATETIME(3)"

    @property
    def blob(self) -> str:
        return "BLOB" if self.kind == "sqlite" else "VARBINARY(100)"


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        url = f"jdbc:sqlite:{tmp_path / 'test.db'}"
    else:
        url = request.getfixturevalue("mariadb_db")
    d = Db(request.param, url)
    try:
        yield d
    finally:
        d.conn.close()


@pytest.fixture
def herder(db: Db) -> Iterator[Herder]:
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


def wait_until(predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
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


def make_items(db: Db) -> None:
    db.run(
        f"CREATE TABLE items (id {db.autoinc}, name VARCHAR(50) NOT NULL, price DECIMAL(10,2), qty INT, "
        f"ok BOOLEAN, at {db.ts}, day DATE, raw {db.blob})"
    )
    p = db.p
    rows = [
        ("apple", decimal.Decimal("1.25"), 3, True, "2024-02-03 04:05:06.789", "2024-02-29", b"\x00\xff"),
        ("pear", decimal.Decimal("-0.01"), None, False, None, None, None),
        ("fig", None, 7, None, "1999-12-31 23:59:59", "2000-01-01", b""),
    ]
    for r in rows:
        price = None if r[1] is None else (str(r[1]) if db.kind == "sqlite" else r[1])
        db.run(
            f"INSERT INTO items (name, price, qty, ok, at, day, raw) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})",
            (r[0], price, r[2], r[3], r[4], r[5], r[6]),
        )


COLS = "id, name, price, qty, ok, at, day, raw"


def sink_config(topic: str, table: str, db: Db, **extra: str) -> dict[str, str]:
    return {
        "connector.class": SINK,
        "topics": topic,
        "connection.url": db.url,
        "table.name.format": table,
        **extra,
    }


@pytest.mark.parametrize("mode", ["bulk", "incrementing", "timestamp", "timestamp+incrementing"])
def test_table_to_topic_to_table_round_trip(mode: str, db: Db, herder: Herder) -> None:
    make_items(db)
    source = {
        "connector.class": SOURCE,
        "connection.url": db.url,
        "mode": mode,
        "table.whitelist": "items",
        "topic.prefix": "src.",
        "numeric.mapping": "none",
        "poll.interval.ms": "60000" if mode == "bulk" else "100",
    }
    if mode.startswith("timestamp"):
        db.run("UPDATE items SET at = '2000-01-01 00:00:00' WHERE at IS NULL")  # the timestamp column must be set
        source |= {"timestamp.column.name": "at"}
    if mode == "timestamp+incrementing":
        source |= {"incrementing.column.name": "id"}
    herder.create_connector("src", source)
    herder.create_connector(
        "dst",
        sink_config(
            "src.items", "items_copy", db, **{"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"}
        )
        | {"auto.create": "true"},
    )
    original = f"SELECT {COLS} FROM items ORDER BY id"
    copy = f"SELECT {COLS} FROM items_copy ORDER BY id"
    wait_until(lambda: len(db.rows(copy)) == 3, what="3 copied rows")
    assert db.rows(copy) == db.rows(original)
    first = values_of(herder, "src.items")[0]
    fields = {f["field"]: f for f in first["schema"]["fields"]}
    assert fields["at"]["name"] == "org.apache.kafka.connect.data.Timestamp"
    assert fields["price"]["name"] == "org.apache.kafka.connect.data.Decimal"
    assert fields["ok"]["type"] == "boolean" and fields["raw"]["type"] == "bytes"
    assert fields["name"]["optional"] is False
    if mode == "bulk":
        assert len(values_of(herder, "src.items")) == 3
        return
    # new rows (and, with a timestamp, changed rows) are picked up from the stored offsets, nothing twice
    p = db.p
    db.run(f"INSERT INTO items (name, qty, at) VALUES ({p}, {p}, {p})", ("kiwi", 1, "2025-01-01 00:00:00"))
    if mode.startswith("timestamp"):
        db.run(f"UPDATE items SET qty = 99, at = {p} WHERE name = 'pear'", ("2025-01-01 00:00:01",))
        wait_until(lambda: len(values_of(herder, "src.items")) == 5, what="the new and the updated row")
        assert [v["payload"]["name"] for v in values_of(herder, "src.items")][-2:] == ["kiwi", "pear"]
    else:
        wait_until(lambda: len(values_of(herder, "src.items")) == 4, what="the new row")
    wait_until(lambda: db.rows(copy) == db.rows(original), what="the copy to catch up")
    time.sleep(0.5)
    assert len(values_of(herder, "src.items")) == (5 if mode.startswith("timestamp") else 4)
    assert [t["state"] for t in herder.connector_status("src")["tasks"]] == ["RUNNING"]


def test_sink_insert_upsert_update_delete_and_evolve(db: Db, herder: Herder) -> None:
    v1 = {
        "type": "struct",
        "fields": [
            {"field": "id", "type": "int64", "optional": False},
            {"field": "name", "type": "string", "optional": True},
        ],
    }
    v2 = {**v1, "fields": [*v1["fields"], {"field": "score", "type": "float64", "optional": True}]}
    key = {"type": "struct", "fields": [{"field": "id", "type": "int64", "optional": False}]}

    def k(i: int) -> Any:
        return {"schema": key, "payload": {"id": i}}

    def v(schema: Any, **payload: Any) -> Any:
        return {"schema": schema, "payload": payload}

    # upsert + delete on tombstone + auto.create, then auto.evolve adds "score"
    produce_json(
        herder,
        "people",
        [(k(i), v(v1, id=i, name=f"n{i}")) for i in range(20)]
        + [(k(3), None), (k(4), v(v1, id=4, name="four")), (k(5), v(v2, id=5, name="five", score=1.5))]
        + [(k(6), v(v2, id=6, name="six", score=None)), (k(99), None)],
    )
    herder.create_connector(
        "people-sink",
        sink_config(
            "people",
            "people",
            db,
            **{
                "insert.mode": "upsert",
                "pk.mode": "record_key",
                "delete.enabled": "true",
                "auto.create": "true",
                "auto.evolve": "true",
            },
        ),
    )
    wait_until(lambda: (6, "six", None) in db.rows("SELECT id, name, score FROM people"), what="upserts")
    got = db.rows("SELECT id, name, score FROM people ORDER BY id")
    expected = [(i, f"n{i}", None) for i in range(20) if i != 3]
    expected[3] = (4, "four", None)
    expected[4] = (5, "five", 1.5)
    expected[5] = (6, "six", None)
    assert got == expected
    # plain inserts (pk.mode=none, schemaless values; the table is created from the values)
    produce_json(herder, "events", [(None, {"kind": "click", "n": i, "ok": i % 2 == 0}) for i in range(10)])
    herder.create_connector(
        "events-sink",
        sink_config("events", "events", db, **{"auto.create": "true", "value.converter.schemas.enable": "false"}),
    )
    wait_until(lambda: len(db.rows("SELECT n FROM events")) == 10, what="10 inserted rows")
    assert db.rows("SELECT kind, n, ok FROM events ORDER BY n") == [("click", i, int(i % 2 == 0)) for i in range(10)]
    # update mode changes existing rows and ignores unknown keys
    produce_json(
        herder,
        "people_updates",
        [(k(1), v(v2, id=1, name="uno", score=9.0)), (k(1000), v(v2, id=1000, name="nobody", score=0.0))],
    )
    herder.create_connector(
        "people-update",
        sink_config("people_updates", "people", db, **{"insert.mode": "update", "pk.mode": "record_key"}),
    )
    wait_until(lambda: (1, "uno", 9.0) in db.rows("SELECT id, name, score FROM people"), what="the update")
    assert len(db.rows("SELECT id FROM people")) == 19
    for name in ("people-sink", "events-sink", "people-update"):
        assert [t["state"] for t in herder.connector_status(name)["tasks"]] == ["RUNNING"]


def test_missing_table_is_a_clear_error(db: Db, herder: Herder) -> None:
    herder.create_connector(
        "missing-src",
        {
            "connector.class": SOURCE,
            "connection.url": db.url,
            "mode": "bulk",
            "table.whitelist": "nosuchtable",
            "topic.prefix": "x.",
            "poll.interval.ms": "100",
        },
    )
    produce_json(herder, "t", [(None, {"a": 1})])
    herder.create_connector(
        "missing-sink", sink_config("t", "nosuchtable", db, **{"value.converter.schemas.enable": "false"})
    )
    for name, fragment in (("missing-src", "reading table nosuchtable failed"), ("missing-sink", "does not exist")):
        wait_until(
            lambda name=name: [t["state"] for t in herder.connector_status(name)["tasks"]] == ["FAILED"],
            what=f"{name} FAILED",
        )
        trace = herder.connector_status(name)["tasks"][0]["trace"]
        assert fragment in trace and "nosuchtable" in trace
    assert "auto.create=true" in herder.connector_status("missing-sink")["tasks"][0]["trace"]


@pytest.mark.mariadb
def test_wrong_mariadb_password_is_a_clear_error(mariadb_db: str) -> None:
    url = mariadb_db.replace("password=millstream", "password=wrong-secret")
    with pytest.raises(JdbcConnectionError) as info:
        connect(parse_connection_url(url))
    text = str(info.value)
    assert "cannot connect to MySQL/MariaDB at 127.0.0.1:" in text and "Access denied" in text
    assert "password is wrong" in text and "wrong-secret" not in text


def test_unknown_dialect_is_a_config_error() -> None:
    h = Herder({}, "memory://")
    h.start()
    try:
        with pytest.raises(ConnectorConfigError, match=r"'db2'.*PostgreSQL, SQLite and MySQL/MariaDB"):
            h.create_connector("bad", {"connector.class": SINK, "topics": "t", "connection.url": "jdbc:db2://h:5/x"})
        assert h.connectors() == []
    finally:
        h.stop()


def test_urls_pick_the_dialect(tmp_path: Path) -> None:
    assert dialect_for_url("jdbc:sqlite:/tmp/x.db") is SQLITE
    assert dialect_for_url("jdbc:mariadb://h/db") is MYSQL and dialect_for_url("jdbc:mysql://h:1/db") is MYSQL
    p = parse_connection_url("jdbc:mysql://db.example:3307/shop?user=app&password=pw&useSSL=false", password="pw2")
    assert (p["host"], p["port"], p["database"], p["user"], p["password"]) == ("db.example", 3307, "shop", "app", "pw2")
    assert parse_connection_url(f"jdbc:sqlite:{tmp_path}/a b.db")["database"] == f"{tmp_path}/a b.db"
    with pytest.raises(ConfigError, match="cannot be parsed"):
        parse_connection_url("jdbc:mysql:shop")
    with pytest.raises(JdbcConnectionError, match="cannot open SQLite database"):
        connect(parse_connection_url(f"jdbc:sqlite:{tmp_path}/no/such/dir/x.db"))


def test_sqlite_timestamps_compare_at_millisecond_precision() -> None:
    assert SQLITE.bind_param(dt.datetime(2024, 1, 1, 12, 0, 0, 123600)) == "2024-01-01 12:00:00.124"
    assert SQLITE.bind_param(dt.datetime(2024, 1, 1, 12, 0, 0)) == "2024-01-01 12:00:00.000"
    assert SQLITE.bind_value(dt.datetime(2024, 1, 1, 12, 0, 0, 5000), None) == "2024-01-01 12:00:00.005"


def test_query_mode_types_and_offsets(db: Db, herder: Herder) -> None:
    make_items(db)
    herder.create_connector(
        "q",
        {
            "connector.class": SOURCE,
            "connection.url": db.url,
            "mode": "incrementing",
            "incrementing.column.name": "id",
            "query": "SELECT id, name, qty * 2 AS double_qty, price FROM items WHERE name <> 'pear'",
            "topic.prefix": "q-items",
            "poll.interval.ms": "100",
            "numeric.mapping": "best_fit",
        },
    )
    wait_until(lambda: len(values_of(herder, "q-items")) == 2, what="2 query rows")
    db.run(f"INSERT INTO items (name, qty, price) VALUES ({db.p}, {db.p}, {db.p})", ("plum", 5, "2.50"))
    wait_until(lambda: len(values_of(herder, "q-items")) == 3, what="the new query row")
    got = values_of(herder, "q-items")
    assert [v["payload"]["name"] for v in got] == ["apple", "fig", "plum"]
    assert [v["payload"]["double_qty"] for v in got] == [6, 14, 10]
    assert [v["payload"]["price"] for v in got] == [1.25, None, 2.5]
    types = {f["field"]: f["type"] for f in got[-1]["schema"]["fields"]}
    assert types["double_qty"] == "int64" and types["name"] == "string" and types["price"] == "float64"


def test_composite_and_text_keys_upsert(db: Db, herder: Herder) -> None:
    produce_json(
        herder,
        "stock",
        [
            (None, {"shop": "north", "sku": "a-1", "qty": 1}),
            (None, {"shop": "north", "sku": "a-2", "qty": 2}),
            (None, {"shop": "south", "sku": "a-1", "qty": 3}),
            (None, {"shop": "north", "sku": "a-1", "qty": 10}),
        ],
    )
    herder.create_connector(
        "stock-sink",
        sink_config(
            "stock",
            "stock",
            db,
            **{
                "insert.mode": "upsert",
                "pk.mode": "record_value",
                "pk.fields": "shop,sku",
                "auto.create": "true",
                "value.converter.schemas.enable": "false",
            },
        ),
    )
    wait_until(
        lambda: (
            db.rows("SELECT shop, sku, qty FROM stock ORDER BY shop, sku")
            == [("north", "a-1", 10), ("north", "a-2", 2), ("south", "a-1", 3)]
        ),
        what="upserted stock",
    )


@pytest.mark.mariadb
def test_mariadb_source_and_sink_survive_killed_connections(mariadb_db: str, tmp_path: Path) -> None:
    db = Db("mariadb", mariadb_db)
    h = Herder({"offset.flush.interval.ms": "100", "task.shutdown.graceful.timeout.ms": "5000"}, "memory://")
    h.start()
    try:
        db.run("CREATE TABLE src (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))")
        for i in range(10):
            db.run("INSERT INTO src (v) VALUES (%s)", (f"a{i}",))
        h.create_connector(
            "src",
            {
                "connector.class": SOURCE,
                "connection.url": db.url,
                "mode": "incrementing",
                "table.whitelist": "src",
                "topic.prefix": "",
                "poll.interval.ms": "50",
                "connection.backoff.ms": "100",
                "value.converter.schemas.enable": "false",
            },
        )
        h.create_connector(
            "dst",
            sink_config(
                "src",
                "dst",
                db,
                **{
                    "insert.mode": "upsert",
                    "pk.mode": "record_value",
                    "pk.fields": "id",
                    "auto.create": "true",
                    "retry.backoff.ms": "100",
                    "value.converter.schemas.enable": "false",
                },
            ),
        )
        wait_until(lambda: len(db.rows("SELECT id FROM dst")) == 10, what="first 10 rows copied")
        others = [
            r[0]
            for r in db.rows("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE()")
            if r[0] != db.conn.thread_id()
        ]
        assert len(others) >= 2  # the source's and the sink's connections
        for pid in others:
            db.run(f"KILL CONNECTION {int(pid)}")
        for i in range(10):
            db.run("INSERT INTO src (v) VALUES (%s)", (f"b{i}",))
        wait_until(lambda: len(db.rows("SELECT id FROM dst")) == 20, what="rows after the connections were killed")
        time.sleep(0.3)
        assert len(values_of(h, "src")) == 20  # resumed after its last row: nothing twice
        assert db.rows("SELECT id, v FROM dst ORDER BY id") == db.rows("SELECT id, v FROM src ORDER BY id")
        for name in ("src", "dst"):
            assert [t["state"] for t in h.connector_status(name)["tasks"]] == ["RUNNING"]
    finally:
        h.stop()
        db.conn.close()


def test_sink_with_two_tasks_writing_one_table(db: Db) -> None:
    h = Herder({"offset.flush.interval.ms": "100"}, "memory://")
    h.start()
    try:
        h.log.create_topic("hits", 2)
        for part in (0, 1):
            h.log.append(
                "hits",
                part,
                [ProducerRecord(orjson.dumps({"id": part * 10_000 + i, "part": part})) for i in range(3000)],
            )
        h.create_connector(
            "hits-sink",
            sink_config(
                "hits",
                "hits",
                db,
                **{
                    "tasks.max": "2",
                    "insert.mode": "upsert",
                    "pk.mode": "record_value",
                    "pk.fields": "id",
                    "auto.create": "true",
                    "batch.size": "100",
                    "consumer.max.poll.records": "100",
                    "value.converter.schemas.enable": "false",
                },
            ),
        )
        wait_until(lambda: db.rows("SELECT count(*) FROM hits") == [(6000,)], what="6000 rows from two tasks")
        assert db.rows("SELECT part, count(*) FROM hits GROUP BY part ORDER BY part") == [(0, 3000), (1, 3000)]
        assert [t["state"] for t in h.connector_status("hits-sink")["tasks"]] == ["RUNNING", "RUNNING"]
    finally:
        h.stop()


def test_missing_mysql_driver_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from millstream.core.errors import ConnectError

    monkeypatch.setitem(sys.modules, "pymysql", None)  # makes "import pymysql" raise ImportError
    with pytest.raises(ConnectError, match=r"PyMySQL driver is missing.*millstream\[mysql\]"):
        connect(parse_connection_url("jdbc:mysql://127.0.0.1:1/db"))


@pytest.mark.mariadb
def test_mariadb_column_types_become_connect_values(mariadb_db: str) -> None:
    from millstream.connect.connectors.jdbc.dialect import TableId
    from millstream.connect.connectors.jdbc.source_query import Mode, QuerySpec, SourceOffset
    from millstream.connect.connectors.jdbc.source_reader import TableReader

    db = Db("mariadb", mariadb_db)
    try:
        db.run(
            "CREATE TABLE kinds (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, flag BIT(1), mask BIT(8), yr YEAR, "
            "color ENUM('red','blue'), doc JSON, t TIME(3), f FLOAT, d DOUBLE, big BIGINT, tiny TINYINT, "
            "txt MEDIUMTEXT, bin MEDIUMBLOB, ts TIMESTAMP(3) NULL, amount DECIMAL(20,4))"
        )
        db.run(
            "INSERT INTO kinds (flag, mask, yr, color, doc, t, f, d, big, tiny, txt, bin, ts, amount) VALUES "
            "(b'1', b'00000101', 2024, 'blue', '{\"a\": 1}', '12:34:56.789', 1.5, 2.25, 9007199254740993, -5, "
            "'héllo', x'00ff', '2024-05-06 07:08:09.123', 12345678.9012)"
        )
        spec = QuerySpec(Mode.INCREMENTING, table=TableId("kinds"), incrementing_column="id", dialect=MYSQL)
        reader = TableReader(spec, SourceOffset(), numeric_mapping="none")
        conn = connect(parse_connection_url(mariadb_db))
        try:
            reader.start(conn)
            (row,) = reader.read()
        finally:
            conn.close()
        types = {c.name: (c.type, c.logical) for c in reader.columns}
        assert types["id"] == ("int64", None) and types["flag"] == ("boolean", None)
        assert types["mask"] == ("int64", None) and types["yr"] == ("int16", None)
        assert types["t"][1] == "org.apache.kafka.connect.data.Time"
        assert types["ts"][1] == "org.apache.kafka.connect.data.Timestamp"
        assert types["amount"] == ("bytes", "org.apache.kafka.connect.data.Decimal")
        v = row.values
        assert (v["id"], v["flag"], v["mask"], v["yr"], v["color"]) == (1, True, 5, 2024, "blue")
        assert v["doc"].replace(" ", "") == '{"a":1}'
        assert v["t"] == dt.time(12, 34, 56, 789000) and v["f"] == 1.5 and v["d"] == 2.25
        assert v["big"] == 9007199254740993 and v["tiny"] == -5 and v["txt"] == "héllo" and v["bin"] == b"\x00\xff"
        assert v["ts"] == dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)
        assert v["amount"] == (123456789012).to_bytes(5, "big", signed=True)
    finally:
        db.conn.close()
