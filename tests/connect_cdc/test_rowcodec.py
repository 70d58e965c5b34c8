"""The compiled row decoders (``rowcodec``) agree with the general path (``pgoutput.decode`` then
``TableSchema.row``) on every row they accept, and refuse (raise) what they do not handle."""

from __future__ import annotations

import random

import pytest

from millstream.connect.connectors.postgres_cdc import pgoutput
from millstream.connect.connectors.postgres_cdc.envelope import ColumnDef, TableSchema
from millstream.connect.connectors.postgres_cdc.rowcodec import Fallback, compile_key

from .test_stream_records_pinned import ITEMS, ROW1, ROW2, TOAST, tuple_data


def general(table: TableSchema, data: bytes) -> dict[str, object]:
    msg = pgoutput.decode(b"I" + b"\0\0\0\1N" + data)
    assert isinstance(msg, pgoutput.Insert)
    return table.row(msg.new)


def test_random_rows_decode_as_the_general_path_does() -> None:
    table = TableSchema("p", "public", "items", tuple(ColumnDef(*c) for c in ITEMS), ("id",))
    rng = random.Random(7)
    for _ in range(500):
        row = [rng.choice([a, b, None, TOAST]) for a, b in zip(ROW1, ROW2, strict=True)]
        data = tuple_data(*row)
        got, end = table.decode_row(data + b"tail", 0)
        assert end == len(data)
        assert got == general(table, data)
        assert list(got) == [c[0] for c in ITEMS]  # the column order: the JSON bytes follow it


def test_many_columns_and_odd_names() -> None:
    names = [f"c{i}" for i in range(300)] + ["quote'd", 'dq"', "new\nline", "é", "{x}"]
    table = TableSchema("p", "s", "wide", tuple(ColumnDef(n, 23, -1) for n in names), ("quote'd",))
    values = list(range(len(names)))
    data = tuple_data(*values)
    got, _ = table.decode_row(data, 0)
    assert got == dict(zip(names, values, strict=True)) == general(table, data)
    assert compile_key(["quote'd", "new\nline"])(got) == {"quote'd": 300, "new\nline": 302}


@pytest.mark.parametrize(
    "data",
    [
        tuple_data(1, "a"),  # fewer columns than the definition
        tuple_data(1, "a", "t", "1.00", "2"),  # more
        b"\0\3" + b"b\0\0\0\1x" + b"n" + b"n",  # a binary column
        tuple_data("x1", "a", "t"),  # a value int() rejects
        tuple_data(1, "a", "t")[:-1],  # truncated
    ],
)
def test_what_it_does_not_handle_raises_for_the_general_path(data: bytes) -> None:
    cols = (ColumnDef("id", 20, -1), ColumnDef("name", 25, -1), ColumnDef("flag", 16, -1))
    table = TableSchema("p", "s", "t", cols, ("id",))
    with pytest.raises((Fallback, ValueError, IndexError)):
        table.decode_row(data, 0)
