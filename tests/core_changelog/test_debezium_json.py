"""The debezium-json format and the changelog materialiser (pure; the CDC tests feed them real events)."""

from __future__ import annotations

import orjson
import pytest

from millstream.core.changelog import ChangelogRow, Materializer, RowKind
from millstream.core.debezium_json import DebeziumJsonFormat
from millstream.core.errors import SerdeError

INS, UB, UA, D = RowKind.INSERT, RowKind.UPDATE_BEFORE, RowKind.UPDATE_AFTER, RowKind.DELETE


def ev(op: str, before: object = None, after: object = None) -> bytes:
    return orjson.dumps({"before": before, "after": after, "op": op, "source": {}, "ts_ms": 1})


def test_ops_become_flink_row_kinds() -> None:
    f = DebeziumJsonFormat()
    assert f.decode(ev("r", after={"id": 1})) == [ChangelogRow(INS, {"id": 1})]
    assert f.decode(ev("c", after={"id": 2})) == [ChangelogRow(INS, {"id": 2})]
    assert f.decode(ev("u", {"id": 1, "v": 1}, {"id": 1, "v": 2})) == [
        ChangelogRow(UB, {"id": 1, "v": 1}),
        ChangelogRow(UA, {"id": 1, "v": 2}),
    ]
    assert f.decode(ev("d", before={"id": 2})) == [ChangelogRow(D, {"id": 2})]
    assert f.decode(None) == []  # tombstone
    assert [str(r) for r in f.decode(ev("c", after={"id": 3}))] == ["+I{'id': 3}"]


def test_schema_envelope_is_unwrapped() -> None:
    wrapped = orjson.dumps({"schema": {"type": "struct"}, "payload": {"before": None, "after": {"id": 1}, "op": "c"}})
    assert DebeziumJsonFormat().decode(wrapped) == [ChangelogRow(INS, {"id": 1})]


def test_update_without_before_says_to_set_replica_identity_full_or_skip() -> None:
    with pytest.raises(SerdeError) as err:
        DebeziumJsonFormat().decode(ev("u", None, {"id": 1}))
    assert "REPLICA IDENTITY FULL" in (err.value.hint or "")
    assert DebeziumJsonFormat(update_before="skip").decode(ev("u", None, {"id": 1})) == [ChangelogRow(UA, {"id": 1})]


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[1]", orjson.dumps({"op": "x"}), orjson.dumps({"op": "c", "after": None}), b'{"op": "d"}'],
)
def test_malformed_events_are_serde_errors(data: bytes) -> None:
    with pytest.raises(SerdeError):
        DebeziumJsonFormat().decode(data)


def test_encode_round_trips_through_decode() -> None:
    f = DebeziumJsonFormat()
    assert f.decode(f.encode(ChangelogRow(UA, {"id": 1}))) == [ChangelogRow(INS, {"id": 1})]
    assert f.decode(f.encode(ChangelogRow(UB, {"id": 1}))) == [ChangelogRow(D, {"id": 1})]


def test_materializer_applies_a_changelog_by_key() -> None:
    m = Materializer(lambda r: r["id"])
    f = DebeziumJsonFormat()
    for data in (
        ev("r", after={"id": 1, "v": 0}),
        ev("c", after={"id": 2, "v": 0}),
        ev("u", {"id": 1, "v": 0}, {"id": 1, "v": 5}),
        ev("d", before={"id": 2, "v": 0}),
        None,
    ):
        m.apply(f.decode(data))
    assert m.rows == {1: {"id": 1, "v": 5}}
