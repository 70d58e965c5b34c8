"""A decoder for ``pgoutput``, PostgreSQL's built-in logical decoding output plugin (protocol version 1).

Pure: bytes in, message objects out; no I/O. The replication stream (:mod:`.replication`) hands each
``XLogData`` payload to :func:`decode`. Messages of a transaction arrive in commit order, framed by
:class:`Begin` (which already carries the commit's LSN) and :class:`Commit`; a :class:`Relation` describing a
table precedes the first change of that table in a session and is sent again whenever the table's
definition changes, which is how schema changes reach the connector.

Column values come in the server's text format (the output function of their type);
:data:`UNCHANGED_TOAST` marks a TOASTed value that an update did not touch and the server did not send.
"""

from __future__ import annotations

import datetime as _dt
import struct
from dataclasses import dataclass

PG_EPOCH = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)
PG_EPOCH_US = int(PG_EPOCH.timestamp()) * 1_000_000
UNCHANGED_TOAST = object()
"""Marker for a TOASTed column value an UPDATE left unchanged (pgoutput sends ``u`` without the value)."""


class PgOutputError(ValueError):
    """A pgoutput message could not be decoded."""


@dataclass(frozen=True)
class Begin:
    final_lsn: int  # LSN of the transaction's commit record
    commit_ts_us: int  # commit time, microseconds since the Unix epoch
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int  # end of the commit record: acknowledging it means "this transaction is done"
    commit_ts_us: int


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    type_modifier: int
    is_key: bool


@dataclass(frozen=True)
class Relation:
    oid: int
    namespace: str
    name: str
    replica_identity: str  # d default, n nothing, f full, i index
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Insert:
    relation_oid: int
    new: tuple[object, ...]


@dataclass(frozen=True)
class Update:
    relation_oid: int
    old: tuple[object, ...] | None  # old key ('K') or whole old row ('O'), when the server sent it
    old_is_key_only: bool
    new: tuple[object, ...]


@dataclass(frozen=True)
class Delete:
    relation_oid: int
    old: tuple[object, ...]
    old_is_key_only: bool


@dataclass(frozen=True)
class Truncate:
    relation_oids: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True)
class Other:
    """A message the connector does not act on (Origin, Type, logical decoding Message)."""

    tag: str


Message = Begin | Commit | Relation | Insert | Update | Delete | Truncate | Other

_I64 = struct.Struct(">q")
_U64 = struct.Struct(">Q")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I16 = struct.Struct(">h")


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def u8(self) -> int:
        v = self.buf[self.pos]
        self.pos += 1
        return v

    def char(self) -> str:
        return chr(self.u8())

    def i16(self) -> int:
        (v,) = _I16.unpack_from(self.buf, self.pos)
        self.pos += 2
        return int(v)

    def i32(self) -> int:
        (v,) = _I32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(v)

    def u32(self) -> int:
        (v,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(v)

    def u64(self) -> int:
        (v,) = _U64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return int(v)

    def i64(self) -> int:
        (v,) = _I64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return int(v)

    def cstring(self) -> str:
        end = self.buf.index(b"\0", self.pos)
        s = self.buf[self.pos : end].decode("utf-8")
        self.pos = end + 1
        return s

    def tuple_data(self) -> tuple[object, ...]:
        buf = self.buf
        (n,) = _I16.unpack_from(buf, self.pos)
        pos = self.pos + 2
        out: list[object] = []
        append = append_ = out.append
        unpack = _I32.unpack_from
        for _ in range(n):
            kind = buf[pos]
            pos += 1
            if kind == 116:  # 't'
                (length,) = unpack(buf, pos)
                pos += 4
                append(buf[pos : pos + length].decode("utf-8"))
                pos += length
            elif kind == 110:  # 'n'
                append_(None)
            elif kind == 117:  # 'u'
                append_(UNCHANGED_TOAST)
            elif kind == 98:  # 'b'
                (length,) = unpack(buf, pos)
                pos += 4
                append(bytes(buf[pos : pos + length]))
                pos += length
            else:
                raise PgOutputError(f"unknown tuple column kind {chr(kind)!r}")
        self.pos = pos
        return tuple(out)


def _ts_us(pg_us: int) -> int:
    return pg_us + PG_EPOCH_US


def decode(payload: bytes) -> Message:
    """Decode one pgoutput message; :class:`PgOutputError` if it is truncated or unknown."""
    r = _Reader(payload)
    try:
        tag = r.char()
        if tag == "I":
            oid = r.u32()
            r.pos += 1  # 'N'
            return Insert(oid, r.tuple_data())
        if tag == "B":
            return Begin(r.u64(), _ts_us(r.i64()), r.u32())
        if tag == "C":
            r.u8()
            return Commit(r.u64(), r.u64(), _ts_us(r.i64()))
        if tag == "R":
            oid = r.u32()
            namespace, name = r.cstring(), r.cstring()
            identity = r.char()
            cols = []
            for _ in range(r.i16()):
                flags = r.u8()
                cols.append(Column(r.cstring(), r.u32(), r.i32(), bool(flags & 1)))
            return Relation(oid, namespace, name, identity, tuple(cols))
        if tag == "U":
            oid = r.u32()
            kind = r.char()
            old = None
            key_only = False
            if kind in ("K", "O"):
                key_only = kind == "K"
                old = r.tuple_data()
                kind = r.char()
            if kind != "N":
                raise PgOutputError(f"update message: expected 'N', got {kind!r}")
            return Update(oid, old, key_only, r.tuple_data())
        if tag == "D":
            oid = r.u32()
            kind = r.char()
            return Delete(oid, r.tuple_data(), kind == "K")
        if tag == "T":
            n = r.i32()
            options = r.u8()
            return Truncate(tuple(r.u32() for _ in range(n)), bool(options & 1), bool(options & 2))
        if tag in ("O", "Y", "M"):
            return Other(tag)
    except (IndexError, struct.error, ValueError) as exc:
        if isinstance(exc, PgOutputError):
            raise
        raise PgOutputError(f"truncated or malformed pgoutput message {payload[:1]!r}: {exc}") from exc
    raise PgOutputError(f"unknown pgoutput message type {tag!r} (is plugin.name pgoutput, protocol version 1?)")


__all__ = [
    "UNCHANGED_TOAST",
    "Begin",
    "Column",
    "Commit",
    "Delete",
    "Insert",
    "Message",
    "Other",
    "PgOutputError",
    "Relation",
    "Truncate",
    "Update",
    "decode",
]
