"""Debezium's ``ExtractNewRecordState`` SMT (``io.debezium.transforms.ExtractNewRecordState``): turns a change
event's envelope into the plain row it leaves behind, so sinks that expect rows (the JDBC sink in upsert mode
with ``delete.enabled``, files, HTTP) can materialise a CDC topic.

Per record (options as Debezium's):

- ``op`` ``r``/``c``/``u``: the value becomes ``after`` (its schema the envelope's ``after`` schema);
- ``op`` ``d``: ``delete.handling.mode=drop`` (default) drops it — the tombstone that follows carries the
  delete; ``rewrite`` keeps ``before`` with ``__deleted="true"`` added (and ``"false"`` on other rows);
  ``none`` passes the envelope through;
- a tombstone (null value): dropped when ``drop.tombstones=true`` (default), else passed on — set it to
  ``false`` for a JDBC sink with ``delete.enabled=true``;
- ``add.fields=op,table,lsn,source.ts_ms`` copies envelope or ``source`` fields into the row as
  ``__op``, ``__table``, ... (``add.fields.prefix``); ``add.headers`` does the same into headers;
- any record that is not a change envelope (heartbeats, other topics) passes unchanged.

Keys are left alone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..config import ConfigDef, Importance, Type, ValidString
from ..data import Field, Header, Schema
from ..errors import DataError
from .base import Transformation

_STRING = Schema("string", True)


class ExtractNewRecordState(Transformation):
    """See the module docstring."""

    CONFIG_DEF = (
        ConfigDef()
        .define(
            "drop.tombstones",
            Type.BOOLEAN,
            True,
            importance=Importance.MEDIUM,
            documentation="Drop tombstones (set false to let a sink with delete.enabled delete the row).",
        )
        .define(
            "delete.handling.mode",
            Type.STRING,
            "drop",
            validator=ValidString("drop", "rewrite", "none"),
            importance=Importance.MEDIUM,
            documentation="drop: drop delete events; rewrite: keep the old row with __deleted=true; none: keep "
            "the envelope.",
        )
        .define(
            "add.fields",
            Type.LIST,
            "",
            importance=Importance.LOW,
            documentation="Envelope fields (op, ts_ms) or source fields (table, lsn, source.ts_ms, ...) to add to "
            "the row.",
        )
        .define("add.fields.prefix", Type.STRING, "__", importance=Importance.LOW, documentation="Prefix of them.")
        .define(
            "add.headers",
            Type.LIST,
            "",
            importance=Importance.LOW,
            documentation="Envelope or source fields to add as headers.",
        )
        .define("add.headers.prefix", Type.STRING, "__", importance=Importance.LOW, documentation="Prefix of them.")
    )

    def setup(self) -> None:
        self.drop_tombstones = bool(self.config["drop.tombstones"])
        self.delete_mode = self.config["delete.handling.mode"]
        self.fields = [f.strip() for f in self.config["add.fields"] if f.strip()]
        self.headers = [f.strip() for f in self.config["add.headers"] if f.strip()]
        self.field_prefix = self.config["add.fields.prefix"]
        self.header_prefix = self.config["add.headers.prefix"]
        self._schemas: dict[int, tuple[Schema, Schema]] = {}

    def apply(self, record: Any) -> Any:
        value = record.value
        if value is None:
            return None if self.drop_tombstones else record
        if not _is_envelope(value):
            return record
        op = value.get("op")
        if op == "d":
            if self.delete_mode == "drop":
                return None
            if self.delete_mode == "none":
                return record
            row, schema = value.get("before"), _field_schema(record.value_schema, "before")
        else:
            row, schema = value.get("after"), _field_schema(record.value_schema, "after")
        if row is None:
            raise DataError(
                f"change event op={op!r} on topic {record.topic} has no row to extract",
                hint="for deletes with REPLICA IDENTITY NOTHING there is none; use delete.handling.mode=drop",
            )
        extra = {self.field_prefix + f.replace(".", "_"): _pick(value, f) for f in self.fields}
        if self.delete_mode == "rewrite":
            extra[f"{self.field_prefix}deleted"] = "true" if op == "d" else "false"
        headers = record.headers
        if self.headers:
            headers = (
                *record.headers,
                *(Header(self.header_prefix + f.replace(".", "_"), _pick(value, f), _STRING) for f in self.headers),
            )
        new_schema = self._with_fields(schema, list(extra)) if schema is not None else None
        return record.new_record(value_schema=new_schema, value={**row, **extra}, headers=headers)

    def _with_fields(self, schema: Schema, names: list[str]) -> Schema:
        if not names:
            return replace(schema, optional=False)
        cached = self._schemas.get(id(schema))
        if cached is not None and cached[0] is schema:
            return cached[1]
        n = len(schema.fields)
        out = replace(
            schema,
            optional=False,
            fields=(*schema.fields, *(Field(name, _STRING, n + i) for i, name in enumerate(names))),
        )
        self._schemas[id(schema)] = (schema, out)
        return out


def _is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and "op" in value and "after" in value and "before" in value


def _field_schema(schema: Schema | None, name: str) -> Schema | None:
    if schema is None:
        return None
    f = schema.field(name)
    return f.schema if f is not None else None


def _pick(value: dict[str, Any], path: str) -> str | None:
    """``op``, ``ts_ms`` from the envelope; ``source.x`` or a bare source field (``table``, ``lsn``) from source."""
    if path.startswith("source."):
        found = (value.get("source") or {}).get(path[len("source.") :])
    elif path in value and path != "source":
        found = value[path]
    else:
        found = (value.get("source") or {}).get(path)
    return None if found is None else str(found)


__all__ = ["ExtractNewRecordState"]
