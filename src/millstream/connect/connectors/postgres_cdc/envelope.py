"""Debezium's change-event envelope for one captured table.

Each change becomes a record on topic ``<topic.prefix>.<schema>.<table>`` with

- key: a struct of the primary-key columns (schema ``<topic>.Key``), or null for a table without one;
- value: the envelope struct (schema ``<topic>.Envelope``)::

    {"before": row|null, "after": row|null, "source": {...}, "op": "r"|"c"|"u"|"d", "ts_ms": ...}

  ``before`` is set for deletes, and for updates only when the server sends the old row (``REPLICA IDENTITY
  FULL``) or the key changed (then it holds the old key columns); ``after`` is set for reads, creates and
  updates. ``source`` is Debezium's PostgreSQL source block (``version, connector, name, ts_ms, snapshot, db,
  sequence, schema, table, txId, lsn, xmin``).
- After a delete, a *tombstone* (same key, null value) follows when ``tombstones.on.delete`` is true, so that
  log compaction can drop the key.

An update that changes the primary key is emitted as Debezium does: a delete of the old key (plus its
tombstone) and a create of the new one.

A TOASTed column an update did not change is sent as ``__debezium_unavailable_value`` (Debezium's
``unavailable.value.placeholder``), as the server does not send its value unless ``REPLICA IDENTITY FULL``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .... import __version__
from ...data import Field, Schema, SourceRecord
from .pgoutput import UNCHANGED_TOAST
from .rowcodec import RowDecoder, compile_key, compile_row_decoder
from .values import ColumnType, column_type, convert

UNAVAILABLE = "__debezium_unavailable_value"

SOURCE_SCHEMA = Schema(
    "struct",
    False,
    "io.debezium.connector.postgresql.Source",
    fields=tuple(
        Field(n, s, i)
        for i, (n, s) in enumerate(
            [
                ("version", Schema("string")),
                ("connector", Schema("string")),
                ("name", Schema("string")),
                ("ts_ms", Schema("int64")),
                (
                    "snapshot",
                    Schema(
                        "string",
                        True,
                        "io.debezium.data.Enum",
                        1,
                        default="false",
                        parameters={"allowed": "true,last,false,incremental"},
                    ),
                ),
                ("db", Schema("string")),
                ("sequence", Schema("string", True)),
                ("schema", Schema("string")),
                ("table", Schema("string")),
                ("txId", Schema("int64", True)),
                ("lsn", Schema("int64", True)),
                ("xmin", Schema("int64", True)),
            ]
        )
    ),
)


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type_oid: int
    type_modifier: int


@dataclass
class TableSchema:
    """The Connect schemas of one captured table, built from its columns and primary key."""

    prefix: str
    namespace: str
    name: str
    columns: tuple[ColumnDef, ...]
    key_columns: tuple[str, ...]
    decimal_mode: str = "precise"
    topic: str = field(init=False)
    types: tuple[ColumnType, ...] = field(init=False)
    key_schema: Schema | None = field(init=False)
    row_schema: Schema = field(init=False)
    envelope_schema: Schema = field(init=False)
    key_index: tuple[int, ...] = field(init=False)
    _parsers: tuple[tuple[str, Any, Any], ...] = field(init=False, repr=False)
    _key_names: tuple[str, ...] = field(init=False, repr=False)
    decode_row: RowDecoder = field(init=False, repr=False, compare=False)
    """pgoutput tuple data → row dict for this definition (:mod:`.rowcodec`; raises for the general path)."""
    fast_key: Any = field(init=False, repr=False, compare=False)
    """row → key struct (all columns present), or ``None`` for a table without a key."""

    def __post_init__(self) -> None:
        self.topic = f"{self.prefix}.{self.namespace}.{self.name}"
        self.types = tuple(column_type(c.type_oid, c.type_modifier, self.decimal_mode) for c in self.columns)
        names = [c.name for c in self.columns]
        self.key_index = tuple(names.index(k) for k in self.key_columns if k in names)
        self.key_schema = (
            Schema(
                "struct",
                False,
                f"{self.topic}.Key",
                fields=tuple(
                    Field(self.columns[i].name, _required(self.types[i].schema), n)
                    for n, i in enumerate(self.key_index)
                ),
            )
            if self.key_index
            else None
        )
        key_set = set(self.key_index)
        self.row_schema = Schema(
            "struct",
            True,
            f"{self.topic}.Value",
            fields=tuple(
                Field(c.name, _required(t.schema) if i in key_set else t.schema, i)
                for i, (c, t) in enumerate(zip(self.columns, self.types, strict=True))
            ),
        )
        self._parsers = tuple(
            (
                c.name,
                None if t.parse is str else t.parse,
                UNAVAILABLE if t.schema.type in ("string", "bytes") else None,
            )
            for c, t in zip(self.columns, self.types, strict=True)
        )
        self._key_names = tuple(self.columns[i].name for i in self.key_index)
        self.decode_row = compile_row_decoder(*zip(*self._parsers, strict=True)) if self.columns else _no_rows
        self.fast_key = compile_key(self._key_names) if self.key_schema is not None else None
        self.envelope_schema = Schema(
            "struct",
            False,
            f"{self.topic}.Envelope",
            version=1,
            fields=(
                Field("before", self.row_schema, 0),
                Field("after", self.row_schema, 1),
                Field("source", SOURCE_SCHEMA, 2),
                Field("op", Schema("string"), 3),
                Field("ts_ms", Schema("int64", True), 4),
            ),
        )

    @property
    def full_name(self) -> str:
        return f"{self.namespace}.{self.name}"

    def row(self, texts: Sequence[object]) -> dict[str, Any]:
        """A row dict from text values (``None`` = null, :data:`UNCHANGED_TOAST` = unavailable)."""
        out: dict[str, Any] = {}
        try:
            for (name, parse, toast), v in zip(self._parsers, texts, strict=False):
                if v is None:
                    out[name] = None
                elif v is UNCHANGED_TOAST:
                    out[name] = toast
                elif parse is None:  # text-like: the text is the value
                    out[name] = v
                else:
                    out[name] = parse(v)
        except (ValueError, ArithmeticError, TypeError):
            return self._row_slow(texts)
        return out

    def _row_slow(self, texts: Sequence[object]) -> dict[str, Any]:
        """As :meth:`row`, value by value, so that a bad value raises naming its column."""
        out: dict[str, Any] = {}
        for c, t, v in zip(self.columns, self.types, texts, strict=False):
            if v is UNCHANGED_TOAST:
                out[c.name] = UNAVAILABLE if t.schema.type in ("string", "bytes") else None
            else:
                out[c.name] = convert(t, v if isinstance(v, str) or v is None else str(v), f"{self.full_name}.{c.name}")
        return out

    def key_of(self, row: dict[str, Any] | None) -> dict[str, Any] | None:
        if self.key_schema is None or row is None:
            return None
        return {name: row.get(name) for name in self._key_names}


class SourceInfo(NamedTuple):
    """Where a change came from: the ``source`` block and the record's source offset."""

    db: str
    ts_ms: int
    snapshot: str  # "true" | "last" | "false"
    tx_id: int | None
    lsn: int | None
    sequence: tuple[int | None, int] | None  # (LSN of the previous commit, LSN of this change)
    offset: dict[str, Any]


def _no_rows(buf: bytes, pos: int) -> tuple[dict[str, Any], int]:
    raise ValueError("a table without columns: the general path decides")


def _required(schema: Schema) -> Schema:
    from dataclasses import replace

    return replace(schema, optional=False)


def change_records(
    table: TableSchema,
    op: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    info: SourceInfo,
    partition: dict[str, Any],
    now_ms: int,
    tombstones: bool,
) -> list[SourceRecord]:
    """The record(s) of one change: the event, and for a delete its tombstone when ``tombstones``."""
    seq = info.sequence
    source = {
        "version": __version__,
        "connector": "postgresql",
        "name": table.prefix,
        "ts_ms": info.ts_ms,
        "snapshot": info.snapshot,
        "db": info.db,
        # Debezium's JSON array of strings: [last commit LSN, this event's LSN]
        "sequence": None if seq is None else _sequence(seq),
        "schema": table.namespace,
        "table": table.name,
        "txId": info.tx_id,
        "lsn": info.lsn,
        "xmin": None,
    }
    value = {"before": before, "after": after, "source": source, "op": op, "ts_ms": now_ms}
    key = table.key_of(after if after is not None else before)
    # positional: topic, partition, key schema, key, value schema, value, timestamp, headers, source partition/offset
    record = SourceRecord(
        table.topic, None, table.key_schema, key, table.envelope_schema, value, info.ts_ms, (), partition, info.offset
    )
    if op == "d" and tombstones:
        return [
            record,
            SourceRecord(table.topic, None, table.key_schema, key, None, None, info.ts_ms, (), partition, info.offset),
        ]
    return [record]


def _sequence(seq: tuple[int | None, int]) -> str:
    last = "null" if seq[0] is None else f'"{seq[0]}"'
    return f'[{last}, "{seq[1]}"]'


__all__ = ["SOURCE_SCHEMA", "UNAVAILABLE", "ColumnDef", "SourceInfo", "TableSchema", "change_records"]
