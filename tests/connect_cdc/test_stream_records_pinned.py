"""The records the streaming phase produces for a fixed set of changes, pinned byte for byte.

A fixed replication stream (hand-built pgoutput messages: two transactions over three tables, every column
type mapping, nulls, unchanged TOAST values, a key change, replica identity full, a table not captured, a
truncate, keepalives) goes through the task's ``poll`` with a fake replication connection and a fixed clock;
each record's topic, timestamp, source offset and its key and value through ``JsonConverter`` (with and
without schemas) must equal ``stream_records_pinned.json``, written by the decoder and envelope code as they
were before the fast path. So any speed-up must keep the output bytes exactly.

Regenerate the file (only for an intended change of output): ``MILLSTREAM_PIN_WRITE=1 pytest <this file>``.
"""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from millstream.connect.connectors.postgres_cdc import catalog, pgoutput, source
from millstream.connect.connectors.postgres_cdc.catalog import TableInfo
from millstream.connect.connectors.postgres_cdc.config import parse
from millstream.connect.connectors.postgres_cdc.envelope import ColumnDef
from millstream.connect.connectors.postgres_cdc.replication import Keepalive, XLogData
from millstream.connect.connectors.postgres_cdc.source import PostgresConnectorTask
from millstream.connect.converters import JsonConverter
from millstream.connect.data import SourceRecord
from millstream.core.errors import ConnectError

PINNED = Path(__file__).with_name("stream_records_pinned.json")
NOW_MS = 1_700_000_000_123
TOAST = pgoutput.UNCHANGED_TOAST

ITEMS = (  # (name, type oid, type modifier); id is the primary key
    ("id", 20, -1),
    ("name", 25, -1),
    ("flag", 16, -1),
    ("price", 1700, ((10 << 16) | 2) + 4),
    ("amount", 1700, -1),
    ("ts", 1114, -1),
    ("tz", 1184, -1),
    ("data", 17, -1),
    ("doc", 3802, -1),
    ("day", 1082, -1),
    ("at", 1083, -1),
    ("ratio", 701, -1),
    ("small", 21, -1),
    ("uid", 2950, -1),
    ("tags", 1009, -1),  # text[]: its text form
)
NOKEY = (("a", 23, -1), ("b", 25, -1))
TABLES = {
    100: TableInfo(100, "public", "items", tuple(ColumnDef(*c) for c in ITEMS), ("id",), "d"),
    200: TableInfo(200, "public", "nokey", tuple(ColumnDef(*c) for c in NOKEY), (), "f"),
    300: TableInfo(300, "public", "other", (ColumnDef("x", 23, -1),), ("x",), "d"),
}


def tuple_data(*cols: object) -> bytes:
    out = struct.pack(">h", len(cols))
    for c in cols:
        if c is None:
            out += b"n"
        elif c is TOAST:
            out += b"u"
        else:
            raw = str(c).encode()
            out += b"t" + struct.pack(">i", len(raw)) + raw
    return out


def relation(oid: int) -> bytes:
    t = TABLES[oid]
    out = b"R" + struct.pack(">I", oid) + t.namespace.encode() + b"\0" + t.name.encode() + b"\0"
    out += t.replica_identity.encode() + struct.pack(">h", len(t.columns))
    for c in t.columns:
        flags = bytes([c.name in t.key_columns])
        out += flags + c.name.encode() + b"\0" + struct.pack(">Ii", c.type_oid, c.type_modifier)
    return out


def begin(final_lsn: int, xid: int) -> bytes:
    return b"B" + struct.pack(">Qqi", final_lsn, 754_000_000_123_456, xid)


def commit(lsn: int) -> bytes:
    return b"C\0" + struct.pack(">QQq", lsn, lsn + 48, 754_000_000_123_456)


def insert(oid: int, *cols: object) -> bytes:
    return b"I" + struct.pack(">I", oid) + b"N" + tuple_data(*cols)


def update(oid: int, new: tuple[object, ...], old: tuple[object, ...] | None = None, kind: bytes = b"K") -> bytes:
    head = b"U" + struct.pack(">I", oid)
    return head + (kind + tuple_data(*old) if old is not None else b"") + b"N" + tuple_data(*new)


def delete(oid: int, old: tuple[object, ...], kind: bytes = b"K") -> bytes:
    return b"D" + struct.pack(">I", oid) + kind + tuple_data(*old)


def key_only(id_: object) -> tuple[object, ...]:
    return (id_,) + (None,) * (len(ITEMS) - 1)


ROW1 = (
    1, "first", "t", "12.50", "3.14159", "2024-02-29 13:45:01.5", "2024-02-29 13:45:01.123456+00", "\\x00ff10",
    '{"a": [1, 2]}', "2024-02-29", "13:45:01.25", "0.1", "-7", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "{x,\"y z\"}",
)  # fmt: skip
ROW2 = (2, "sécond \"quoted\"\n", "f", "-0.01", "-12000", "1999-12-31 23:59:59", "1999-12-31 23:59:59-05", "\\x",
        "{}", "1970-01-01", "00:00:00", "-1.5e+300", "32767", None, None)  # fmt: skip
ROW3 = (3,) + (None,) * (len(ITEMS) - 1)
ROW1_TOASTED = (1, "first v2", "t", TOAST, TOAST, "2024-02-29 13:45:01.5", TOAST, TOAST, TOAST, "2024-02-29",
                TOAST, "NaN", "1", TOAST, TOAST)  # fmt: skip
ROW2_NEWKEY = (20, *ROW2[1:])

TRUNCATE = b"T" + struct.pack(">iB", 1, 0) + struct.pack(">I", 100)
# Each inner list is what one read() of the replication connection returns.
STREAM: list[list[bytes | int]] = [
    [begin(0x1_0000_1000, 501), relation(100), insert(100, *ROW1), insert(100, *ROW2), 0x1_0000_0F00],
    [insert(100, *ROW3), update(100, ROW1_TOASTED), update(100, ROW2_NEWKEY, key_only(2))],
    [delete(100, key_only(3)), commit(0x1_0000_1000), 0x1_0000_1100],
    [begin(0x1_0000_2000, 502), relation(200), insert(200, 7, "seven"), update(200, (7, "SEVEN"), (7, "seven"), b"O")],
    [relation(300), insert(300, 9), delete(200, (7, "SEVEN"), b"O")],
    [TRUNCATE, b"M\0\0\0\0\0\0\0\0\0x\0\0\0\0\0", commit(0x1_0000_2000)],
    [begin(0x1_0000_3000, 503), insert(100, 4, *ROW2[1:]), update(100, (4, "four", *ROW2[2:])), commit(0x1_0000_3000)],
]


class FakeReplication:
    """Hands out STREAM one read at a time; LSNs of XLogData grow by 16 from 0x1_0000_0100."""

    def __init__(self, stream: list[list[bytes | int]]) -> None:
        self.batches = list(stream)
        self.lsn = 0x1_0000_0100
        self.last_status = float("inf")
        self.received = self.flushed = 0
        self.streaming = True

    def start(self, slot: str, publication: str) -> None:
        pass

    def read(self, timeout: float, max_messages: int = 10_000) -> list[XLogData | Keepalive]:
        if not self.batches:
            return []
        out: list[XLogData | Keepalive] = []
        for m in self.batches.pop(0):
            if isinstance(m, int):
                out.append(Keepalive(m))
            else:
                self.lsn += 16
                out.append(XLogData(self.lsn, self.lsn + 8, m))
        return out

    def send_status(self) -> None:
        pass

    def acknowledge(self, lsn: int) -> None:
        pass

    def close(self) -> None:
        pass


def streaming_task(monkeypatch: pytest.MonkeyPatch, stream: list[list[bytes | int]], **props: str) -> Any:
    monkeypatch.setattr(source, "_now_ms", lambda: NOW_MS)
    monkeypatch.setattr(catalog, "describe_table", lambda conn, oid, ns, name, identity=None: TABLES[oid])
    task = PostgresConnectorTask()
    values = parse(
        {
            "database.hostname": "localhost",
            "database.user": "postgres",
            "database.dbname": "shop",
            "topic.prefix": "srv",
            "table.include.list": "public\\.(items|nokey)",
            **props,
        }
    )
    task.values, task.prefix, task.db, task.slot = values, "srv", "shop", "slot"
    task.partition = {"server": "srv"}
    task.max_batch, task.poll_wait = 2048, 0.0
    task.tombstones = bool(values["tombstones.on.delete"])
    task.heartbeat_s, task.status_s = 0.0, 1e9
    task._stopping, task._lock = threading.Event(), threading.Lock()
    task.snapshot, task.conn = None, None
    task.captured = {100, 200}
    task.tables = {}
    task.resume = (0, 0)
    task.last_returned = None
    task.repl = FakeReplication(stream)
    task._start_streaming()
    return task


def drain(task: Any, stream: list[list[bytes | int]]) -> list[SourceRecord]:
    out: list[SourceRecord] = []
    for _ in stream:
        out.extend(task.poll() or [])
    return out


def rendered(records: list[SourceRecord]) -> list[dict[str, Any]]:
    conv: dict[tuple[bool, bool], JsonConverter] = {}
    for schemas in (False, True):
        for is_key in (False, True):
            c = JsonConverter()
            c.configure({"schemas.enable": str(schemas).lower()}, is_key)
            conv[schemas, is_key] = c
    out = []
    for r in records:
        entry: dict[str, Any] = {
            "topic": r.topic,
            "timestamp": r.timestamp,
            "partition": r.source_partition,
            "offset": r.source_offset,
        }
        for schemas in (False, True):
            for is_key, schema, data in ((True, r.key_schema, r.key), (False, r.value_schema, r.value)):
                b = conv[schemas, is_key].from_connect_data(r.topic, schema, data)
                entry[f"{'key' if is_key else 'value'}{'+schema' if schemas else ''}"] = (
                    None if b is None else b.decode()
                )
        out.append(entry)
    return out


def test_stream_records_are_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    got = rendered(drain(streaming_task(monkeypatch, STREAM), STREAM))
    if os.environ.get("MILLSTREAM_PIN_WRITE"):
        PINNED.write_bytes(orjson.dumps(got, option=orjson.OPT_INDENT_2) + b"\n")
    want = orjson.loads(PINNED.read_bytes())
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"record {i} differs"


def test_resumed_stream_skips_what_was_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a restart at (commit LSN of the first transaction, 4) the same records from the fifth on."""
    task = streaming_task(monkeypatch, STREAM)
    task.resume = (0x1_0000_1000, 4)
    got = rendered(drain(task, STREAM))
    want = orjson.loads(PINNED.read_bytes())
    first = next(i for i, w in enumerate(want) if w["offset"]["event_serial"] == 5)
    assert got == want[first:]


def test_no_tombstones(monkeypatch: pytest.MonkeyPatch) -> None:
    got = rendered(drain(streaming_task(monkeypatch, STREAM, **{"tombstones.on.delete": "false"}), STREAM))
    want = [w for w in orjson.loads(PINNED.read_bytes()) if w["value"] is not None]
    assert got == want


@pytest.mark.parametrize(
    ("column", "text", "message"),
    [
        ("ts", "infinity", "column public.items.ts"),
        ("price", "NaN", "column public.items.price"),
        ("id", "x1", "column public.items.id"),
    ],
)
def test_a_bad_value_names_its_column(monkeypatch: pytest.MonkeyPatch, column: str, text: str, message: str) -> None:
    row = list(ROW1)
    row[[c[0] for c in ITEMS].index(column)] = text
    stream: list[list[bytes | int]] = [[begin(0x2000, 9), relation(100), insert(100, *row), commit(0x2000)]]
    task = streaming_task(monkeypatch, stream)
    with pytest.raises(ConnectError, match=message):
        drain(task, stream)


@pytest.mark.parametrize("payload", [b"I\0\0", b"U" + struct.pack(">I", 100), b"D" + struct.pack(">I", 100) + b"Q"])
def test_a_truncated_change_is_a_pgoutput_error(monkeypatch: pytest.MonkeyPatch, payload: bytes) -> None:
    stream: list[list[bytes | int]] = [[begin(0x2000, 9), relation(100), payload, commit(0x2000)]]
    task = streaming_task(monkeypatch, stream)
    with pytest.raises(pgoutput.PgOutputError):
        drain(task, stream)
