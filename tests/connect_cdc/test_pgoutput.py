"""The pgoutput decoder on hand-built protocol messages (the PostgreSQL tests cover what a server sends),
including the cases a live server rarely produces: binary and unchanged-TOAST columns, truncates, bad input."""

from __future__ import annotations

import struct

import pytest

from millstream.connect.connectors.postgres_cdc import pgoutput
from millstream.connect.connectors.postgres_cdc.lsn import format_lsn, parse_lsn


def tuple_data(*cols: object) -> bytes:
    out = struct.pack(">h", len(cols))
    for c in cols:
        if c is None:
            out += b"n"
        elif c is pgoutput.UNCHANGED_TOAST:
            out += b"u"
        elif isinstance(c, bytes):
            out += b"b" + struct.pack(">i", len(c)) + c
        else:
            raw = str(c).encode()
            out += b"t" + struct.pack(">i", len(raw)) + raw
    return out


def test_begin_commit_relation() -> None:
    begin = pgoutput.decode(b"B" + struct.pack(">Qqi", 0x1_0000_0010, 1_000_000, 42))
    assert begin == pgoutput.Begin(0x1_0000_0010, pgoutput.PG_EPOCH_US + 1_000_000, 42)
    commit = pgoutput.decode(b"C\0" + struct.pack(">QQq", 5, 9, 0))
    assert commit == pgoutput.Commit(5, 9, pgoutput.PG_EPOCH_US)
    rel = pgoutput.decode(
        b"R"
        + struct.pack(">I", 16384)
        + b"public\0t\0d"
        + struct.pack(">h", 2)
        + b"\x01id\0"
        + struct.pack(">Ii", 23, -1)
        + b"\x00name\0"
        + struct.pack(">Ii", 25, -1)
    )
    assert rel == pgoutput.Relation(
        16384,
        "public",
        "t",
        "d",
        (pgoutput.Column("id", 23, -1, True), pgoutput.Column("name", 25, -1, False)),
    )


def test_changes_with_null_toast_and_binary_columns() -> None:
    ins = pgoutput.decode(b"I" + struct.pack(">I", 7) + b"N" + tuple_data("1", None, b"\x00\x01", "é"))
    assert ins == pgoutput.Insert(7, ("1", None, b"\x00\x01", "é"))
    upd = pgoutput.decode(
        b"U" + struct.pack(">I", 7) + b"K" + tuple_data("1", None) + b"N" + tuple_data("2", pgoutput.UNCHANGED_TOAST)
    )
    assert upd == pgoutput.Update(7, ("1", None), True, ("2", pgoutput.UNCHANGED_TOAST))
    plain = pgoutput.decode(b"U" + struct.pack(">I", 7) + b"N" + tuple_data("3"))
    assert plain == pgoutput.Update(7, None, False, ("3",))
    dele = pgoutput.decode(b"D" + struct.pack(">I", 7) + b"O" + tuple_data("1", "x"))
    assert dele == pgoutput.Delete(7, ("1", "x"), False)
    trunc = pgoutput.decode(b"T" + struct.pack(">iB", 2, 3) + struct.pack(">II", 7, 8))
    assert trunc == pgoutput.Truncate((7, 8), True, True)
    assert pgoutput.decode(b"Y" + struct.pack(">I", 1) + b"public\0mood\0") == pgoutput.Other("Y")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"Z", "unknown pgoutput message type 'Z'"),
        (b"I" + struct.pack(">I", 7) + b"N" + struct.pack(">h", 1) + b"x", "unknown tuple column kind 'x'"),
        (b"I\0\0", "truncated or malformed"),
        (b"U" + struct.pack(">I", 7) + b"Q", "expected 'N'"),
    ],
)
def test_bad_messages_name_the_problem(payload: bytes, message: str) -> None:
    with pytest.raises(pgoutput.PgOutputError, match=message):
        pgoutput.decode(payload)


def test_lsn_forms() -> None:
    assert parse_lsn("0/1525FF0") == 0x1525FF0
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    with pytest.raises(ValueError, match="not an LSN"):
        parse_lsn("1525FF0")
