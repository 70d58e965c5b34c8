"""Debezium's ExtractNewRecordState SMT on change events (pure; the PostgreSQL test runs it in a pipeline)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from millstream.connect.connectors.postgres_cdc.envelope import ColumnDef, SourceInfo, TableSchema, change_records
from millstream.connect.data import SourceRecord
from millstream.connect.errors import ConnectorConfigError
from millstream.connect.plugins import REGISTRY
from millstream.connect.transforms.debezium import ExtractNewRecordState

TABLE = TableSchema("srv", "public", "t", (ColumnDef("id", 23, -1), ColumnDef("name", 25, -1)), ("id",))


def event(op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[SourceRecord]:
    info = SourceInfo("db", 1000, "false", 7, 99, (None, 99), {"lsn_commit": 99, "event_serial": 1})
    return change_records(TABLE, op, before, after, info, {"server": "srv"}, 1001, True)


def smt(**props: str) -> ExtractNewRecordState:
    t = ExtractNewRecordState()
    t.configure({k.replace("_", "."): v for k, v in props.items()})
    return t


def test_rows_replace_envelopes_and_deletes_leave_their_tombstone() -> None:
    t = smt(drop_tombstones="false")
    [create] = event("c", None, {"id": 1, "name": "a"})
    out = t.apply(create)
    assert out.value == {"id": 1, "name": "a"} and out.key == {"id": 1}
    assert out.value_schema == replace(TABLE.row_schema, optional=False)
    delete, tomb = event("d", {"id": 1, "name": None}, None)
    assert t.apply(delete) is None
    assert t.apply(tomb) is tomb
    assert smt().apply(tomb) is None  # drop.tombstones defaults to true


def test_rewrite_mode_and_added_fields_and_headers() -> None:
    t = smt(delete_handling_mode="rewrite", add_fields="op,table,source.lsn", add_headers="db")
    [update] = event("u", None, {"id": 1, "name": "b"})
    out = t.apply(update)
    assert out.value == {"id": 1, "name": "b", "__op": "u", "__table": "t", "__source_lsn": "99", "__deleted": "false"}
    assert [f.name for f in out.value_schema.fields][-1] == "__deleted"
    assert [(h.key, h.value) for h in out.headers] == [("__db", "db")]
    delete, _ = event("d", {"id": 1, "name": "b"}, None)
    assert t.apply(delete).value["__deleted"] == "true"


def test_other_records_pass_and_the_class_name_resolves() -> None:
    plain = SourceRecord("beats", None, None, None, None, {"ts_ms": 1})
    assert smt().apply(plain) is plain
    assert REGISTRY.load("io.debezium.transforms.ExtractNewRecordState", "transformation") is ExtractNewRecordState


def test_bad_option_is_a_config_error() -> None:
    with pytest.raises(ConnectorConfigError, match=r"delete\.handling\.mode"):
        smt(delete_handling_mode="explode")
