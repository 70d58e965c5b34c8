"""AvroConverter: Avro with Confluent Schema Registry's wire format (magic byte 0, 4-byte schema id, Avro
binary).

Configure it as Confluent's converter (``value.converter=io.confluent.connect.avro.AvroConverter``,
``value.converter.schema.registry.url=http://registry:8081``). Schemas are registered under the
TopicNameStrategy subjects ``<topic>-key`` / ``<topic>-value`` (``auto.register.schemas``, default true) and
looked up by id when reading. The registry client is the one the stream engine's schema-registry formats use
(:mod:`millstream.schema_registry`, Confluent's ``confluent_kafka.schema_registry``), so an incompatible schema
fails with the subject and its compatibility level. ``schema.registry.url=mock://<scope>`` uses the in-process
registry shared by everything in the process with the same scope, as Confluent's serializers do for tests.

Connect schemas map to Avro as Confluent's converter maps them: structs → records (named after the schema,
else ``ConnectDefault``), optional fields → ``["null", T]`` with default null, int8/int16/int32 → int,
int64 → long, float32 → float, float64 → double, Timestamp → long/timestamp-millis, Date → int/date.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping
from typing import Any

import fastavro
import orjson

from .config import ConfigDef, Importance, Type, ValidString
from .converters import Converter
from .data import DATE, TIMESTAMP, Field, Schema, infer_schema
from .errors import DataError, RetriableError

MAGIC = 0


def registry_for(url: str, user_info: str | None = None) -> Any:
    """The shared registry client (:func:`millstream.schema_registry.registry_client`, Confluent's) for
    ``http(s)://...`` (a comma-separated list is tried in order) or ``mock://scope``."""
    from ..schema_registry import registry_client

    config = {"basic.auth.user.info": user_info} if user_info else {}
    return registry_client(url.strip(), config)


# -- schema mapping ----------------------------------------------------------------------------------------
_TO_AVRO = {
    "int8": "int",
    "int16": "int",
    "int32": "int",
    "int64": "long",
    "float32": "float",
    "float64": "double",
    "boolean": "boolean",
    "string": "string",
    "bytes": "bytes",
}


def to_avro_schema(schema: Schema, names: set[str] | None = None) -> Any:
    """The Avro schema for a Connect schema (see the module docstring)."""
    names = set() if names is None else names
    t = schema.type
    out: Any
    if schema.name == TIMESTAMP:
        out = {"type": "long", "logicalType": "timestamp-millis"}
    elif schema.name == DATE:
        out = {"type": "int", "logicalType": "date"}
    elif t in _TO_AVRO:
        out = _TO_AVRO[t]
        if t in ("int8", "int16"):
            out = {"type": "int", "connect.type": t}
    elif t == "array":
        assert schema.value_schema is not None
        out = {"type": "array", "items": to_avro_schema(schema.value_schema, names)}
    elif t == "map":
        assert schema.value_schema is not None
        out = {"type": "map", "values": to_avro_schema(schema.value_schema, names)}
    else:  # struct
        name = (schema.name or "ConnectDefault").replace("-", "_")
        base, i = name, 1
        while name in names:
            i += 1
            name = f"{base}{i}"
        names.add(name)
        fields = []
        for f in schema.fields:
            fs = to_avro_schema(f.schema, names)
            entry: dict[str, Any] = {"name": f.name, "type": fs}
            if f.schema.optional:
                entry["default"] = None
            fields.append(entry)
        out = {"type": "record", "name": name, "fields": fields}
    if schema.optional:
        return ["null", out]
    return out


def from_avro_schema(avro: Any, optional: bool = False) -> Schema:
    """The Connect schema for an Avro schema (unions with null become optional)."""
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        if len(branches) != 1:
            raise DataError(f"Avro unions other than [null, T] are not supported: {avro}")
        return from_avro_schema(branches[0], optional=optional or "null" in avro)
    if isinstance(avro, str):
        avro = {"type": avro}
    t = avro.get("type")
    logical = avro.get("logicalType")
    if logical == "timestamp-millis":
        return Schema("int64", optional, TIMESTAMP, 1)
    if logical == "date":
        return Schema("int32", optional, DATE, 1)
    if t == "record":
        fields = tuple(Field(f["name"], from_avro_schema(f["type"]), i) for i, f in enumerate(avro["fields"]))
        name = avro.get("name")
        return Schema("struct", optional, None if name == "ConnectDefault" else name, fields=fields)
    if t == "array":
        return Schema("array", optional, value_schema=from_avro_schema(avro["items"]))
    if t == "map":
        return Schema("map", optional, key_schema=Schema("string"), value_schema=from_avro_schema(avro["values"]))
    if isinstance(t, dict | list):
        return from_avro_schema(t, optional)
    mapping = {
        "int": "int32",
        "long": "int64",
        "float": "float32",
        "double": "float64",
        "boolean": "boolean",
        "string": "string",
        "bytes": "bytes",
        "enum": "string",
        "fixed": "bytes",
    }
    if t not in mapping:
        raise DataError(f"unsupported Avro type {t!r}")
    return Schema(avro.get("connect.type", mapping[t]), optional)


class AvroConverter(Converter):
    """Confluent's AvroConverter wire format over a schema registry (see the module docstring)."""

    CONFIG_DEF = (
        ConfigDef()
        .define(
            "schema.registry.url",
            Type.LIST,
            importance=Importance.HIGH,
            documentation="Schema Registry URL(s), or mock://<scope> for an in-process registry.",
        )
        .define(
            "auto.register.schemas",
            Type.BOOLEAN,
            True,
            importance=Importance.MEDIUM,
            documentation="Register new schemas under <topic>-key / <topic>-value.",
        )
        .define(
            "basic.auth.credentials.source",
            Type.STRING,
            "URL",
            validator=ValidString("URL", "USER_INFO", "SASL_INHERIT"),
            importance=Importance.LOW,
            documentation="Where registry credentials come from.",
        )
        .define(
            "basic.auth.user.info",
            Type.PASSWORD,
            None,
            importance=Importance.LOW,
            documentation="user:password for the registry (with credentials source USER_INFO).",
        )
    )

    def configure(self, configs: Mapping[str, Any], is_key: bool) -> None:
        super().configure(configs, is_key)
        urls = self.config["schema.registry.url"]
        if not urls:
            from .errors import ConnectorConfigError

            raise ConnectorConfigError({"schema.registry.url": ["AvroConverter needs schema.registry.url"]})
        info = self.config["basic.auth.user.info"]
        self.url = ",".join(urls)
        self.registry = registry_for(self.url, info.value if info is not None else None)
        self.auto_register = bool(self.config["auto.register.schemas"])
        self._write_cache: dict[tuple[str, str], tuple[int, Any]] = {}
        self._read_cache: dict[int, tuple[Any, Schema]] = {}

    def _register(self, subject: str, text: str) -> int:
        from confluent_kafka.schema_registry import Schema

        from ..schema_registry import explain

        try:
            return int(self.registry.register_schema(subject, Schema(text, "AVRO")))
        except Exception as exc:
            raise self._error(explain(exc, url=self.url, subject=subject, client=self.registry)) from exc

    def _schema_text(self, topic: str, schema_id: int) -> str:
        from ..schema_registry import explain

        try:
            return str(self.registry.get_schema(schema_id).schema_str)
        except Exception as exc:
            err = explain(exc, url=self.url, client=self.registry)
            raise self._error(err, f"cannot read Avro data of topic {topic} (schema id {schema_id}): ") from exc

    @staticmethod
    def _error(err: Any, prefix: str = "") -> Exception:
        """Connect's error kinds: an unreachable registry is retriable, anything else is bad data."""
        from ..schema_registry import RegistryUnavailableError

        kind = RetriableError if isinstance(err, RegistryUnavailableError) else DataError
        return kind(prefix + err.message, hint=err.hint)

    def _subject(self, topic: str) -> str:
        return f"{topic}-{'key' if self.is_key else 'value'}"

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any, headers: Any = None) -> bytes | None:
        if value is None:
            return None
        if schema is None:
            schema = infer_schema(value)
            assert schema is not None
        avro = to_avro_schema(schema)
        text = orjson.dumps(avro).decode()
        key = (self._subject(topic), text)
        cached = self._write_cache.get(key)
        if cached is None:
            if not self.auto_register:
                raise DataError(
                    f"schema for subject {key[0]} is not registered and auto.register.schemas=false",
                    hint=f"register it first, or set {self.prefix}auto.register.schemas=true",
                )
            schema_id = self._register(key[0], text)
            cached = self._write_cache[key] = (schema_id, fastavro.parse_schema(avro))
        schema_id, parsed = cached
        buf = io.BytesIO()
        buf.write(struct.pack(">bI", MAGIC, schema_id))
        try:
            fastavro.schemaless_writer(buf, parsed, value)
        except Exception as exc:
            raise DataError(f"value does not match its Avro schema (topic {topic}): {exc}") from exc
        return buf.getvalue()

    def to_connect_data(self, topic: str, data: bytes | None, headers: Any = None) -> tuple[Schema | None, Any]:
        if data is None:
            return None, None
        if len(data) < 5 or data[0] != MAGIC:
            raise DataError(
                f"Unknown magic byte! The data in topic {topic} was not written by an Avro serializer with a "
                "schema registry",
                hint=f"use the converter the producer used for {self.prefix[:-1]} (e.g. JsonConverter or "
                "StringConverter)",
            )
        schema_id = struct.unpack(">I", data[1:5])[0]
        cached = self._read_cache.get(schema_id)
        if cached is None:
            avro = orjson.loads(self._schema_text(topic, schema_id))
            cached = self._read_cache[schema_id] = (fastavro.parse_schema(avro), from_avro_schema(avro))
        parsed, schema = cached
        try:
            value = fastavro.schemaless_reader(io.BytesIO(data[5:]), parsed, None)
        except Exception as exc:
            raise DataError(f"cannot decode Avro data of topic {topic} with schema {schema_id}: {exc}") from exc
        return schema, value


__all__ = [
    "AvroConverter",
    "from_avro_schema",
    "registry_for",
    "to_avro_schema",
]
