"""Connect's data model: optional :class:`Schema` descriptions of keys and values, and records.

Values are plain Python: ``dict`` for structs and maps, ``list`` for arrays, ``str``/``int``/``float``/
``bool``/``bytes``, ``datetime``/``date``/``time`` for Kafka's logical types. A schema is optional
(``None`` = schemaless, as with ``schemas.enable=false``); when a converter needs one it is inferred from
the value (:func:`infer_schema`). Schema type names are Kafka Connect's (``int32``, ``struct``, ...).

Records: :class:`SourceRecord` (what a source task returns from ``poll``) carries its *source partition*
and *source offset*; :class:`SinkRecord` (what a sink task gets in ``put``) carries the topic, partition
and offset it was read from. Headers are :class:`Header` tuples ``(key, value, schema)``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

PRIMITIVE_TYPES = ("int8", "int16", "int32", "int64", "float32", "float64", "boolean", "string", "bytes")
TYPES = (*PRIMITIVE_TYPES, "array", "map", "struct")

TIMESTAMP = "org.apache.kafka.connect.data.Timestamp"
DATE = "org.apache.kafka.connect.data.Date"
TIME = "org.apache.kafka.connect.data.Time"
DECIMAL = "org.apache.kafka.connect.data.Decimal"
EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


@dataclass(frozen=True)
class Field:
    """A named field of a struct schema."""

    name: str
    schema: Schema
    index: int = 0


@dataclass(frozen=True)
class Schema:
    """A Kafka Connect schema: a type, optionality, an optional name/version/doc, and children."""

    type: str
    optional: bool = False
    name: str | None = None
    version: int | None = None
    doc: str | None = None
    default: Any = None
    parameters: Mapping[str, str] | None = None
    fields: tuple[Field, ...] = ()
    key_schema: Schema | None = None  # map keys
    value_schema: Schema | None = None  # map values / array items

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def as_optional(self) -> Schema:
        return self if self.optional else replace(self, optional=True)

    # -- JSON form (JsonConverter's envelope "schema") ----------------------------------------------
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.type == "struct":
            out["fields"] = [{**f.schema.to_json(), "field": f.name} for f in self.fields]
        elif self.type == "array" and self.value_schema is not None:
            out["items"] = self.value_schema.to_json()
        elif self.type == "map" and self.key_schema is not None and self.value_schema is not None:
            out["keys"] = self.key_schema.to_json()
            out["values"] = self.value_schema.to_json()
        out["optional"] = self.optional
        if self.name is not None:
            out["name"] = self.name
        if self.version is not None:
            out["version"] = self.version
        if self.doc is not None:
            out["doc"] = self.doc
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        if self.default is not None:
            out["default"] = self.default
        return out

    @classmethod
    def from_json(cls, obj: Any) -> Schema:
        """Parse the JSON form; raise ``ValueError`` naming what is wrong."""
        if not isinstance(obj, Mapping):
            raise ValueError(f"a schema must be a JSON object, got {type(obj).__name__}")
        t = obj.get("type")
        if t not in TYPES:
            raise ValueError(f"unknown schema type {t!r}; expected one of {', '.join(TYPES)}")
        fields: tuple[Field, ...] = ()
        key_schema = value_schema = None
        if t == "struct":
            raw = obj.get("fields")
            if not isinstance(raw, list):
                raise ValueError("a struct schema needs a 'fields' array")
            fields = tuple(Field(str(f.get("field")), cls.from_json(f), i) for i, f in enumerate(raw))
        elif t == "array":
            if "items" not in obj:
                raise ValueError("an array schema needs 'items'")
            value_schema = cls.from_json(obj["items"])
        elif t == "map":
            if "keys" not in obj or "values" not in obj:
                raise ValueError("a map schema needs 'keys' and 'values'")
            key_schema, value_schema = cls.from_json(obj["keys"]), cls.from_json(obj["values"])
        params = obj.get("parameters")
        return cls(
            t,
            bool(obj.get("optional", False)),
            obj.get("name"),
            obj.get("version"),
            obj.get("doc"),
            obj.get("default"),
            dict(params) if isinstance(params, Mapping) else None,
            fields,
            key_schema,
            value_schema,
        )


def _s(t: str, optional: bool = False, **kw: Any) -> Schema:
    return Schema(t, optional, **kw)


STRING_SCHEMA = _s("string")
OPTIONAL_STRING_SCHEMA = _s("string", True)
INT32_SCHEMA = _s("int32")
INT64_SCHEMA = _s("int64")
FLOAT64_SCHEMA = _s("float64")
BOOLEAN_SCHEMA = _s("boolean")
BYTES_SCHEMA = _s("bytes")
OPTIONAL_BYTES_SCHEMA = _s("bytes", True)
TIMESTAMP_SCHEMA = _s("int64", name=TIMESTAMP, version=1)
DATE_SCHEMA = _s("int32", name=DATE, version=1)
TIME_SCHEMA = _s("int32", name=TIME, version=1)


def struct_schema(name: str | None, fields: Sequence[tuple[str, Schema]], optional: bool = False) -> Schema:
    """A struct schema from ``(field name, schema)`` pairs."""
    return Schema("struct", optional, name, fields=tuple(Field(n, s, i) for i, (n, s) in enumerate(fields)))


def infer_schema(value: Any, optional: bool = False) -> Schema | None:
    """A schema describing ``value`` (``None`` for ``None``): dicts become structs, lists arrays, ints
    int64."""
    if value is None:
        return None
    if isinstance(value, bool):
        return _s("boolean", optional)
    if isinstance(value, int):
        return _s("int64", optional)
    if isinstance(value, float):
        return _s("float64", optional)
    if isinstance(value, str):
        return _s("string", optional)
    if isinstance(value, bytes | bytearray | memoryview):
        return _s("bytes", optional)
    if isinstance(value, _dt.datetime):
        return replace(TIMESTAMP_SCHEMA, optional=optional)
    if isinstance(value, _dt.date):
        return replace(DATE_SCHEMA, optional=optional)
    if isinstance(value, _dt.time):
        return replace(TIME_SCHEMA, optional=optional)
    if isinstance(value, Mapping):
        fields = []
        for i, (k, v) in enumerate(value.items()):
            fs = infer_schema(v, True) or OPTIONAL_STRING_SCHEMA
            fields.append(Field(str(k), fs, i))
        return Schema("struct", optional, fields=tuple(fields))
    if isinstance(value, list | tuple):
        item = next((infer_schema(v, True) for v in value if v is not None), None) or OPTIONAL_STRING_SCHEMA
        return Schema("array", optional, value_schema=item)
    raise TypeError(f"cannot infer a Connect schema for a {type(value).__name__}")


def to_epoch_ms(value: Any) -> int:
    """Epoch milliseconds of a ``datetime`` (naive = UTC), ``date`` or int."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        return int((value - EPOCH).total_seconds() * 1000)
    if isinstance(value, _dt.date):
        return (value - EPOCH.date()).days * 86_400_000
    return int(value)


def from_epoch_ms(ms: int) -> _dt.datetime:
    """A UTC ``datetime`` from epoch milliseconds."""
    return EPOCH + _dt.timedelta(milliseconds=int(ms))


class Header(NamedTuple):
    """One record header: a key, a value (any Connect value) and its optional schema."""

    key: str
    value: Any
    schema: Schema | None = None


def _header(headers: Sequence[Header], key: str) -> Header | None:
    for h in reversed(headers):
        if h.key == key:
            return h
    return None


class SourceRecord(NamedTuple):
    """A record produced by a source task; ``source_partition``/``source_offset`` are small JSON maps.

    Records are immutable named tuples (cheap to build by the million); :meth:`new_record` returns a copy
    with some fields replaced, which is how transforms change them.
    """

    topic: str
    kafka_partition: int | None
    key_schema: Schema | None
    key: Any
    value_schema: Schema | None
    value: Any
    timestamp: int | None = None
    headers: Sequence[Header] = ()
    source_partition: Mapping[str, Any] | None = None
    source_offset: Mapping[str, Any] | None = None

    def new_record(self, **changes: Any) -> SourceRecord:
        """A copy with some fields replaced (transforms never mutate the record they are given)."""
        return self._replace(**changes)

    def header(self, key: str) -> Header | None:
        """The last header named ``key``, or ``None``."""
        return _header(self.headers, key)


class SinkRecord(NamedTuple):
    """A record delivered to a sink task; ``kafka_offset`` is its offset in ``topic``/``kafka_partition``.

    ``original_topic``/``original_kafka_partition``/``original_kafka_offset`` keep where it was read from even
    after a transform renamed the topic (Kafka 3.6+'s ``originalTopic()``...).
    """

    topic: str
    kafka_partition: int | None
    key_schema: Schema | None
    key: Any
    value_schema: Schema | None
    value: Any
    timestamp: int | None = None
    headers: Sequence[Header] = ()
    kafka_offset: int = -1
    timestamp_type: str = "CreateTime"
    original_topic: str | None = None
    original_kafka_partition: int | None = None
    original_kafka_offset: int | None = None

    def new_record(self, **changes: Any) -> SinkRecord:
        """A copy with some fields replaced (transforms never mutate the record they are given)."""
        return self._replace(**changes)

    def header(self, key: str) -> Header | None:
        """The last header named ``key``, or ``None``."""
        return _header(self.headers, key)


ConnectRecord = SourceRecord | SinkRecord
"""Either kind of record (Kafka's ``ConnectRecord``): the fields up to ``headers`` are common."""


def source_record(
    source_partition: Mapping[str, Any] | None,
    source_offset: Mapping[str, Any] | None,
    topic: str,
    value: Any,
    *,
    key: Any = None,
    value_schema: Schema | None = None,
    key_schema: Schema | None = None,
    partition: int | None = None,
    timestamp: int | None = None,
    headers: Sequence[Header] = (),
) -> SourceRecord:
    """Convenience constructor for :class:`SourceRecord` with keyword arguments."""
    return SourceRecord(
        topic,
        partition,
        key_schema,
        key,
        value_schema,
        value,
        timestamp,
        tuple(headers),
        source_partition,
        source_offset,
    )


__all__ = [
    "BOOLEAN_SCHEMA",
    "BYTES_SCHEMA",
    "DATE",
    "DATE_SCHEMA",
    "DECIMAL",
    "FLOAT64_SCHEMA",
    "INT32_SCHEMA",
    "INT64_SCHEMA",
    "OPTIONAL_BYTES_SCHEMA",
    "OPTIONAL_STRING_SCHEMA",
    "PRIMITIVE_TYPES",
    "STRING_SCHEMA",
    "TIME",
    "TIMESTAMP",
    "TIMESTAMP_SCHEMA",
    "TIME_SCHEMA",
    "TYPES",
    "ConnectRecord",
    "Field",
    "Header",
    "Schema",
    "SinkRecord",
    "SourceRecord",
    "from_epoch_ms",
    "infer_schema",
    "source_record",
    "struct_schema",
    "to_epoch_ms",
]
