"""Field-level transforms: InsertField, ReplaceField, MaskField, ValueToKey, ExtractField, HoistField,
Flatten, Cast.

Each follows Kafka's transform of the same name and options; ``$Key``/``$Value`` forms are the nested
``.Key``/``.Value`` classes. Records may be schemaless (plain dicts) or carry a struct schema, which is
rebuilt to match the new value.
"""

from __future__ import annotations

import base64
from typing import Any

from ..config import ConfigDef, Importance, Type
from ..data import TIMESTAMP_SCHEMA, Field, Schema, SinkRecord, from_epoch_ms, infer_schema
from ..errors import ConnectorConfigError, DataError
from .base import Transformation, key_value_pair, rebuild_schema


def _field_spec(spec: str | None) -> tuple[str | None, bool]:
    """``name`` / ``name!`` (required) / ``name?`` (optional) → (name, optional)."""
    if not spec:
        return None, True
    if spec.endswith("!"):
        return spec[:-1], False
    if spec.endswith("?"):
        return spec[:-1], True
    return spec, True


@key_value_pair
class InsertField(Transformation):
    """Insert the record's topic, partition, offset (sink only), timestamp and/or a static value as fields."""

    CONFIG_DEF = (
        ConfigDef()
        .define(
            "topic.field",
            Type.STRING,
            None,
            importance=Importance.MEDIUM,
            documentation="Field for the topic.",
        )
        .define("partition.field", Type.STRING, None, documentation="Field for the Kafka partition.")
        .define(
            "offset.field",
            Type.STRING,
            None,
            documentation="Field for the Kafka offset (sink connectors only).",
        )
        .define("timestamp.field", Type.STRING, None, documentation="Field for the record timestamp.")
        .define("static.field", Type.STRING, None, documentation="Field for a static value.")
        .define("static.value", Type.STRING, None, documentation="The static value.")
    )

    def setup(self) -> None:
        c = self.config
        self.fields = {k: _field_spec(c[k + ".field"]) for k in ("topic", "partition", "offset", "timestamp", "static")}
        if self.fields["static"][0] and c["static.value"] is None:
            raise ConnectorConfigError({"static.value": ["static.value is required when static.field is set"]})

    def apply(self, record: Any) -> Any:
        value = self.operating_value(record)
        schema = self.operating_schema(record)
        if value is None and schema is None:
            return record  # tombstones pass through
        out = dict(self.require_map(value, "field insertion"))
        over: dict[str, Schema | None] = {}
        name = self.fields["topic"][0]
        if name:
            out[name] = record.topic
            over[name] = Schema("string", True)
        name = self.fields["partition"][0]
        if name:
            out[name] = record.kafka_partition
            over[name] = Schema("int32", True)
        name = self.fields["offset"][0]
        if name:
            if not isinstance(record, SinkRecord):
                raise DataError("offset.field is only supported by sink connectors (a source record has no offset yet)")
            out[name] = record.kafka_offset
            over[name] = Schema("int64", True)
        name = self.fields["timestamp"][0]
        if name:
            out[name] = None if record.timestamp is None else from_epoch_ms(record.timestamp)
            over[name] = TIMESTAMP_SCHEMA.as_optional()
        name = self.fields["static"][0]
        if name:
            out[name] = self.config["static.value"]
            over[name] = Schema("string", True)
        return self.new_record(record, rebuild_schema(schema, out, over), out)


@key_value_pair
class ReplaceField(Transformation):
    """Keep (``include``), drop (``exclude``) and rename (``renames=old:new,...``) fields."""

    CONFIG_DEF = (
        ConfigDef()
        .define("exclude", Type.LIST, "", importance=Importance.MEDIUM, documentation="Fields to drop.")
        .define(
            "include",
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            documentation="Fields to keep (all if empty).",
        )
        .define("renames", Type.LIST, "", importance=Importance.MEDIUM, documentation="old:new pairs.")
        .define("whitelist", Type.LIST, "", importance=Importance.LOW, documentation="Deprecated: use include.")
        .define("blacklist", Type.LIST, "", importance=Importance.LOW, documentation="Deprecated: use exclude.")
    )

    def setup(self) -> None:
        c = self.config
        self.include = set(c["include"] or c["whitelist"])
        self.exclude = set(c["exclude"] or c["blacklist"])
        self.renames: dict[str, str] = {}
        for pair in c["renames"]:
            old, sep, new = pair.partition(":")
            if not sep or not old or not new:
                raise ConnectorConfigError(
                    {"renames": [f"Invalid value {pair} for configuration renames: expected old:new pairs"]}
                )
            self.renames[old] = new

    def apply(self, record: Any) -> Any:
        value = self.operating_value(record)
        schema = self.operating_schema(record)
        if value is None:
            return record
        src = self.require_map(value, "field replacement")
        out: dict[str, Any] = {}
        over: dict[str, Schema | None] = {}
        for k, v in src.items():
            if k in self.exclude or (self.include and k not in self.include):
                continue
            new = self.renames.get(k, k)
            out[new] = v
            if schema is not None and schema.type == "struct" and new != k:
                f = schema.field(k)
                over[new] = f.schema if f else None
        return self.new_record(record, rebuild_schema(schema, out, over), out)


_EMPTY = {str: "", int: 0, float: 0.0, bool: False, bytes: b"", list: [], dict: {}}


@key_value_pair
class MaskField(Transformation):
    """Replace the given fields with an empty value of their type, or with ``replacement``."""

    CONFIG_DEF = (
        ConfigDef()
        .define("fields", Type.LIST, importance=Importance.HIGH, documentation="Fields to mask.")
        .define("replacement", Type.STRING, None, importance=Importance.LOW, documentation="Replacement value.")
    )

    def setup(self) -> None:
        if not self.config["fields"]:
            raise ConnectorConfigError({"fields": ["Invalid value  for configuration fields: Empty list"]})

    def _mask(self, v: Any) -> Any:
        rep = self.config["replacement"]
        if rep is None:
            for t, empty in _EMPTY.items():
                if isinstance(v, t):
                    return type(empty)() if isinstance(empty, list | dict) else empty
            return None
        if isinstance(v, bool):
            return rep.lower() == "true"
        try:
            if isinstance(v, int):
                return int(rep)
            if isinstance(v, float):
                return float(rep)
        except ValueError:
            raise DataError(f"cannot use replacement {rep!r} for a {type(v).__name__} field") from None
        return rep

    def apply(self, record: Any) -> Any:
        value = self.operating_value(record)
        if value is None:
            return record
        out = dict(self.require_map(value, "masking"))
        for f in self.config["fields"]:
            if f in out:
                out[f] = self._mask(out[f])
        return self.new_record(record, self.operating_schema(record), out)


class ValueToKey(Transformation):
    """Replace the key with a struct/map of the given value fields."""

    CONFIG_DEF = ConfigDef().define(
        "fields", Type.LIST, importance=Importance.HIGH, documentation="Value fields that make the key."
    )

    def apply(self, record: Any) -> Any:
        value = record.value
        if value is None:
            return record
        if not isinstance(value, dict):
            raise DataError(f"ValueToKey needs a map/struct value, found {type(value).__name__}")
        missing = [f for f in self.config["fields"] if f not in value]
        if missing and record.value_schema is not None:
            raise DataError(f"ValueToKey: field(s) {', '.join(missing)} not found in the value")
        key = {f: value.get(f) for f in self.config["fields"]}
        return record.new_record(key_schema=rebuild_schema(record.value_schema, key), key=key)


@key_value_pair
class ExtractField(Transformation):
    """Replace the key/value with one of its fields (``field``)."""

    CONFIG_DEF = ConfigDef().define(
        "field", Type.STRING, importance=Importance.MEDIUM, documentation="Field to extract."
    )

    def apply(self, record: Any) -> Any:
        value = self.operating_value(record)
        if value is None:
            return record
        src = self.require_map(value, "field extraction")
        name = self.config["field"]
        schema = self.operating_schema(record)
        new_schema = None
        if schema is not None and schema.type == "struct":
            f = schema.field(name)
            if f is None:
                raise DataError(f"Unknown field: {name}")
            new_schema = f.schema
        return self.new_record(record, new_schema, src.get(name))


@key_value_pair
class HoistField(Transformation):
    """Wrap the key/value in a struct/map with a single field (``field``)."""

    CONFIG_DEF = ConfigDef().define("field", Type.STRING, importance=Importance.MEDIUM, documentation="Wrapper field.")

    def apply(self, record: Any) -> Any:
        value = self.operating_value(record)
        schema = self.operating_schema(record)
        name = self.config["field"]
        out = {name: value}
        new_schema = None
        if schema is not None:
            new_schema = Schema("struct", fields=(Field(name, schema),))
        return self.new_record(record, new_schema, out)


@key_value_pair
class Flatten(Transformation):
    """Flatten nested structs/maps into one level, joining names with ``delimiter`` (default ``.``)."""

    CONFIG_DEF = ConfigDef().define(
        "delimiter", Type.STRING, ".", importance=Importance.MEDIUM, documentation="Joiner."
    )

    def _flatten(self, prefix: str, value: dict[str, Any], out: dict[str, Any]) -> None:
        d = self.config["delimiter"]
        for k, v in value.items():
            name = f"{prefix}{d}{k}" if prefix else str(k)
            if isinstance(v, dict):
                self._flatten(name, v, out)
            else:
                out[name] = v

    def apply(self, record: Any) -> Any:
        value = self.operating_value(record)
        if value is None:
            return record
        out: dict[str, Any] = {}
        self._flatten("", self.require_map(value, "flattening"), out)
        schema = self.operating_schema(record)
        new_schema = None if schema is None else infer_schema(out, schema.optional)
        return self.new_record(record, new_schema, out)


CAST_TYPES = ("int8", "int16", "int32", "int64", "float32", "float64", "boolean", "string", "bytes")
_INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}


def cast_value(value: Any, target: str) -> Any:
    """Cast one value to a Connect primitive type name, as Kafka's Cast does (wrapping integers)."""
    if value is None:
        return None
    try:
        if target in _INT_BITS:
            if isinstance(value, str):
                n = int(float(value)) if any(c in value for c in ".eE") else int(value)
            elif isinstance(value, bytes):
                raise DataError("Cast cannot turn bytes into an integer")
            else:
                n = int(value)
            bits = _INT_BITS[target]
            n &= (1 << bits) - 1
            return n - (1 << bits) if n >= 1 << (bits - 1) else n
        if target in ("float32", "float64"):
            return float(value)
        if target == "boolean":
            if isinstance(value, str):
                return value.strip().lower() == "true"
            return bool(value)
        if target == "string":
            if isinstance(value, bytes):
                return base64.b64encode(value).decode()
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)
        if target == "bytes":
            if isinstance(value, bytes):
                return value
            if isinstance(value, str):
                return base64.b64decode(value)
            raise DataError(f"Cast cannot turn a {type(value).__name__} into bytes")
    except (TypeError, ValueError) as exc:
        raise DataError(f"Cast: cannot cast {value!r} to {target}: {exc}") from None
    raise DataError(f"Cast: unknown target type {target}")


@key_value_pair
class Cast(Transformation):
    """Cast fields (``spec=f:int32,g:float64``) or the whole key/value (``spec=string``) to another type."""

    CONFIG_DEF = ConfigDef().define(
        "spec",
        Type.LIST,
        importance=Importance.HIGH,
        documentation="field:type pairs, or a single type for the whole value; types: " + ", ".join(CAST_TYPES),
    )

    def setup(self) -> None:
        spec = self.config["spec"]
        self.whole: str | None = None
        self.casts: dict[str, str] = {}
        errors = []
        for part in spec:
            name, sep, t = part.rpartition(":")
            if not sep:
                name, t = "", part
            if t not in CAST_TYPES:
                errors.append(
                    f"Invalid value {part} for configuration spec: unknown type {t!r}; use one of {CAST_TYPES}"
                )
            elif name:
                self.casts[name] = t
            else:
                self.whole = t
        if not spec:
            errors.append("Invalid value  for configuration spec: Must specify at least one field to cast.")
        if self.whole and self.casts:
            errors.append("Invalid value for configuration spec: cast either the whole value or fields, not both")
        if errors:
            raise ConnectorConfigError({"spec": errors})

    def apply(self, record: Any) -> Any:
        value = self.operating_value(record)
        schema = self.operating_schema(record)
        if value is None:
            return record
        if self.whole:
            new = cast_value(value, self.whole)
            return self.new_record(record, None if schema is None else Schema(self.whole, schema.optional), new)
        out = dict(self.require_map(value, "cast"))
        over: dict[str, Schema | None] = {}
        for f, t in self.casts.items():
            if f in out:
                out[f] = cast_value(out[f], t)
                over[f] = Schema(t, True)
        return self.new_record(record, rebuild_schema(schema, out, over), out)


__all__ = [
    "CAST_TYPES",
    "Cast",
    "ExtractField",
    "Flatten",
    "HoistField",
    "InsertField",
    "MaskField",
    "ReplaceField",
    "ValueToKey",
    "cast_value",
]
