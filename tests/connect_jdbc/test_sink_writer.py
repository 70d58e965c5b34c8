"""The sink's database half against a real PostgreSQL: pk modes, insert modes, DDL, tombstones, errors."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from millstream.connect.connectors.jdbc.connection import connect, parse_connection_url
from millstream.connect.connectors.jdbc.dialect import TableId, describe_table
from millstream.connect.connectors.jdbc.sink_writer import (
    ColumnSchema,
    DataShapeError,
    InsertMode,
    PkMode,
    RowMapper,
    TableMismatchError,
    TableWriter,
    check_sink_options,
)
from millstream.core.errors import ConfigError

pytestmark = pytest.mark.postgres


@dataclass(frozen=True)
class F:
    name: str
    schema: Any


@dataclass(frozen=True)
class Struct:
    fields: tuple[F, ...]
    type: str = "struct"
    optional: bool = False
    name: str | None = None
    parameters: Any = None


@dataclass
class Rec:
    topic: str
    key: Any
    value: Any
    key_schema: Any = None
    value_schema: Any = None
    kafka_partition: int = 0
    kafka_offset: int = 0


def write(dsn: str, records: list[Rec], **opts: Any) -> int:
    writer_opts = {k: opts.pop(k) for k in ("auto_create", "auto_evolve", "batch_size") if k in opts}
    mapper = RowMapper(**opts)
    writer = TableWriter(**writer_opts)
    conn = connect(parse_connection_url(dsn))
    try:
        rows = [r for r in (mapper.map(rec) for rec in records) if r is not None]
        return writer.write(conn, rows)
    finally:
        conn.close()


def rows(pg: psycopg.Connection[Any], sql: str) -> list[tuple[Any, ...]]:
    return pg.execute(sql).fetchall()


def test_upsert_record_key_struct_schema_auto_create(postgres_db: str, pg: psycopg.Connection[Any]) -> None:
    value_schema = Struct(
        (
            F("id", ColumnSchema("int32", False)),
            F("name", ColumnSchema("string", True)),
            F("score", ColumnSchema("float64", True)),
            F("at", ColumnSchema("int64", True, "org.apache.kafka.connect.data.Timestamp")),
        )
    )
    key_schema = Struct((F("id", ColumnSchema("int32", False)),))
    recs = [
        Rec(
            "users",
            {"id": i},
            {"id": i, "name": f"u{i}", "score": i / 2, "at": 1_700_000_000_000 + i},
            key_schema,
            value_schema,
            kafka_offset=i,
        )
        for i in range(5)
    ]
    recs.append(
        Rec("users", {"id": 2}, {"id": 2, "name": "again", "score": None, "at": None}, key_schema, value_schema)
    )
    n = write(postgres_db, recs, insert_mode=InsertMode.UPSERT, pk_mode=PkMode.RECORD_KEY, auto_create=True)
    assert n == 6
    got = rows(pg, 'SELECT id, name, score, "at" FROM users ORDER BY id')
    assert got[2] == (2, "again", None, None)
    assert got[4] == (4, "u4", 2.0, dt.datetime(2023, 11, 14, 22, 13, 20, 4000))
    definition = describe_table(pg, TableId("users"))
    assert definition is not None
    assert definition.primary_key == ["id"]
    assert definition.columns == {
        "id": "integer",
        "name": "text",
        "score": "double precision",
        "at": "timestamp without time zone",
    }
    assert definition.nullable["id"] is False and definition.nullable["name"] is True
    # replaying the same batch is harmless
    write(postgres_db, recs, insert_mode=InsertMode.UPSERT, pk_mode=PkMode.RECORD_KEY)
    assert rows(pg, "SELECT count(*) FROM users") == [(5,)]


def test_schemaless_primitive_key_tombstone_delete_and_evolve(postgres_db: str, pg: psycopg.Connection[Any]) -> None:
    opts = dict(
        insert_mode=InsertMode.UPSERT,
        pk_mode=PkMode.RECORD_KEY,
        pk_fields=["sku"],
        delete_enabled=True,
        auto_create=True,
        auto_evolve=True,
    )
    write(
        postgres_db,
        [Rec("stock", "a", {"qty": 1}), Rec("stock", "b", {"qty": 2}), Rec("stock", "c", {"qty": 3})],
        **opts,
    )
    write(
        postgres_db,
        [Rec("stock", "b", None), Rec("stock", "a", {"qty": 10, "note": "new column"}), Rec("stock", "b", {"qty": 20})],
        **opts,
    )
    assert rows(pg, "SELECT sku, qty, note FROM stock ORDER BY sku") == [
        ("a", 10, "new column"),
        ("b", 20, None),
        ("c", 3, None),
    ]
    d = describe_table(pg, TableId("stock"))
    assert d is not None and d.columns["qty"] == "bigint" and d.primary_key == ["sku"]


def test_tombstones_skipped_without_delete_enabled(postgres_db: str, pg: psycopg.Connection[Any]) -> None:
    pg.execute("CREATE TABLE t (k text PRIMARY KEY, v bigint)")
    opts = dict(insert_mode=InsertMode.UPSERT, pk_mode=PkMode.RECORD_KEY, pk_fields=["k"])
    assert write(postgres_db, [Rec("t", "x", {"v": 1}), Rec("t", "x", None)], **opts) == 1
    assert rows(pg, "SELECT * FROM t") == [("x", 1)]


def test_insert_kafka_pk_and_table_name_format(postgres_db: str, pg: psycopg.Connection[Any]) -> None:
    recs = [Rec("ev", None, {"what": f"e{i}"}, kafka_partition=1, kafka_offset=100 + i) for i in range(3)]
    write(
        postgres_db,
        recs,
        insert_mode=InsertMode.INSERT,
        pk_mode=PkMode.KAFKA,
        table_name_format="kafka_${topic}",
        auto_create=True,
    )
    assert rows(pg, "SELECT * FROM kafka_ev ORDER BY 3") == [
        ("ev", 1, 100, "e0"),
        ("ev", 1, 101, "e1"),
        ("ev", 1, 102, "e2"),
    ]
    with pytest.raises(psycopg.errors.UniqueViolation):
        write(
            postgres_db,
            recs[:1],
            insert_mode=InsertMode.INSERT,
            pk_mode=PkMode.KAFKA,
            table_name_format="kafka_${topic}",
        )


def test_update_mode_and_record_value_pk(postgres_db: str, pg: psycopg.Connection[Any]) -> None:
    odd = 's."Odd ""Name"""'
    pg.execute(f"CREATE SCHEMA s; CREATE TABLE {odd} (id bigint, region text, total bigint, PRIMARY KEY (id, region))")
    pg.execute(f"INSERT INTO {odd} VALUES (1, 'eu', 0), (2, 'us', 0)")
    recs = [
        Rec("x", None, {"id": 1, "region": "eu", "total": 5}),
        Rec("x", None, {"id": 3, "region": "eu", "total": 7}),
    ]
    write(
        postgres_db,
        recs,
        insert_mode=InsertMode.UPDATE,
        pk_mode=PkMode.RECORD_VALUE,
        pk_fields=["id", "region"],
        table_name_format='s.Odd "Name"',
    )
    assert rows(pg, f"SELECT * FROM {odd} ORDER BY id") == [(1, "eu", 5), (2, "us", 0)]


def test_missing_table_and_columns_are_named(postgres_db: str, pg: psycopg.Connection[Any]) -> None:
    opts = dict(insert_mode=InsertMode.INSERT, pk_mode=PkMode.NONE)
    with pytest.raises(TableMismatchError, match=r"table nope does not exist.*auto.create=true"):
        write(postgres_db, [Rec("nope", None, {"a": 1})], **opts)
    pg.execute("CREATE TABLE narrow (a bigint)")
    with pytest.raises(TableMismatchError, match=r"no column\(s\) \['b'\].*auto.evolve=true"):
        write(postgres_db, [Rec("narrow", None, {"a": 1, "b": 2})], **opts)
    with pytest.raises(DataShapeError, match="str value"):
        write(postgres_db, [Rec("narrow", None, "plain text")], **opts)
    assert rows(pg, "SELECT count(*) FROM narrow") == [(0,)]


def test_failed_batch_is_rolled_back_entirely(postgres_db: str, pg: psycopg.Connection[Any]) -> None:
    pg.execute("CREATE TABLE t (k bigint PRIMARY KEY, v bigint NOT NULL)")
    recs = [Rec("t", None, {"k": 1, "v": 1}), Rec("t", None, {"k": 2, "v": None})]
    with pytest.raises(psycopg.errors.NotNullViolation):
        write(postgres_db, recs, insert_mode=InsertMode.INSERT, pk_mode=PkMode.NONE)
    assert rows(pg, "SELECT count(*) FROM t") == [(0,)]


def test_bad_option_combinations() -> None:
    with pytest.raises(ConfigError, match=r"insert.mode=upsert needs primary key columns"):
        check_sink_options(InsertMode.UPSERT, PkMode.NONE, (), False)
    with pytest.raises(ConfigError, match=r"delete.enabled=true needs pk.mode=record_key"):
        check_sink_options(InsertMode.UPSERT, PkMode.RECORD_VALUE, ("id",), True)
    with pytest.raises(ConfigError, match=r"three pk.fields"):
        check_sink_options(InsertMode.INSERT, PkMode.KAFKA, ("a",), False)
    mapper = RowMapper(insert_mode=InsertMode.UPSERT, pk_mode=PkMode.RECORD_KEY)
    with pytest.raises(ConfigError, match=r"pk.fields must name exactly one column"):
        mapper.map(Rec("t", 5, {"v": 1}))
    with pytest.raises(DataShapeError, match=r"has no key"):
        mapper.map(Rec("t", None, {"v": 1}))


@pytest.mark.parametrize("mode", [InsertMode.UPSERT, InsertMode.INSERT])
def test_copy_path_writes_exactly_what_single_statements_write(
    postgres_db: str, pg: psycopg.Connection[Any], mode: InsertMode
) -> None:
    import decimal

    schema = Struct(
        (
            F("id", ColumnSchema("int64", False)),
            F("name", ColumnSchema("string", True)),
            F("doc", ColumnSchema("map", True)),
            F("raw", ColumnSchema("bytes", True)),
            F("price", ColumnSchema("bytes", True, "org.apache.kafka.connect.data.Decimal", {"scale": "2"})),
            F("at", ColumnSchema("int64", True, "org.apache.kafka.connect.data.Timestamp")),
            F("ok", ColumnSchema("boolean", True)),
        )
    )
    n = 300 if mode is InsertMode.UPSERT else 100
    recs = [
        Rec(
            "t",
            None,
            {
                "id": i % 100,  # upserts: every key three times in the batch, the last one wins
                "name": None if i % 7 == 0 else f"n\t{i}\\x\n",
                "doc": {"i": i, "tags": ["a", "b"]} if i % 3 else None,
                "raw": bytes([i % 256, 0, 255]) if i % 5 else None,
                "price": (i * 1234).to_bytes(4, "big", signed=True) if i % 2 else None,
                "at": 1_700_000_000_000 + i,
                "ok": i % 2 == 0,
            },
            value_schema=schema,
            kafka_offset=i,
        )
        for i in range(n)
    ]
    pk: dict[str, Any] = (
        {"pk_mode": PkMode.RECORD_VALUE, "pk_fields": ["id"]} if mode is InsertMode.UPSERT else {"pk_mode": PkMode.NONE}
    )
    mapper_a = RowMapper(insert_mode=mode, table_name_format="via_copy", **pk)
    mapper_b = RowMapper(insert_mode=mode, table_name_format="via_statements", **pk)
    conn = connect(parse_connection_url(postgres_db))
    try:
        TableWriter(auto_create=True, use_copy=True).write(conn, [mapper_a.map(r) for r in recs])  # type: ignore[misc]
        TableWriter(auto_create=True, use_copy=False).write(conn, [mapper_b.map(r) for r in recs])  # type: ignore[misc]
        # a second batch through the same writer reuses the staging table
        w = TableWriter(use_copy=True)
        w.write(conn, [mapper_a.map(r) for r in recs[:50]])  # type: ignore[misc]
        w.write(conn, [mapper_a.map(r) for r in recs[50:]])  # type: ignore[misc]
    finally:
        conn.close()
    a = rows(pg, "SELECT * FROM via_copy ORDER BY 1, 2, 7")
    b = rows(pg, "SELECT * FROM via_statements ORDER BY 1, 2, 7")
    expected_rows = 100 if mode is InsertMode.UPSERT else 200
    assert len(a) == expected_rows and len(b) == expected_rows // (1 if mode is InsertMode.UPSERT else 2)
    if mode is InsertMode.UPSERT:
        assert a == b
        row = next(r for r in a if r[0] == 11)  # written by record 211, the last with id 11
        assert row[1] == "n\t211\\x\n" and row[2] == {"i": 211, "tags": ["a", "b"]}
        assert row[3] == bytes([211, 0, 255]) and row[4] == decimal.Decimal("2603.74")
    else:
        assert a[::2] == b and a[1::2] == b
