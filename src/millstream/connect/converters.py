"""Converters between Connect data (schema + Python value) and the bytes stored in the log.

A :class:`Converter` is configured once per connector for keys or values (``configure(configs, is_key)``,
with the ``key.converter.`` / ``value.converter.`` prefix already stripped) and then converts each record:
``from_connect_data(topic, schema, value)`` → bytes for source connectors, ``to_connect_data(topic, data)``
→ ``(schema, value)`` for sink connectors. Failures raise :class:`DataError`, which the error handler can
tolerate (``errors.tolerance=all``) and send to the dead-letter topic.

Kafka's converters, by the same names: ``JsonConverter`` (``schemas.enable``), ``StringConverter``,
``ByteArrayConverter``, the primitive ``IntegerConverter``/``LongConverter``/``ShortConverter``/
``FloatConverter``/``DoubleConverter``/``BooleanConverter`` (big-endian, as Kafka's serializers), and
``SimpleHeaderConverter`` for headers. ``AvroConverter`` lives in :mod:`millstream.connect.avro`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from .api import Versioned
from .config import ConfigDef, Importance, Type, ValidString
from .data import (
    DATE,
    TIME,
    TIMESTAMP,
    Schema,
    from_epoch_ms,
    infer_schema,
    to_epoch_ms,
)
from .errors import DataError


class Converter(Versioned):
    """Converts keys or values between Connect data and bytes (see the module docstring)."""

    CONFIG_DEF = ConfigDef()
    is_key = False

    def configure(self, configs: Mapping[str, Any], is_key: bool) -> None:
        """Apply this converter's settings (prefix stripped) for keys (``is_key``) or values."""
        self.is_key = is_key
        self.config = self.CONFIG_DEF.parse(configs)

    def config_def(self) -> ConfigDef:
        return self.CONFIG_DEF

    @property
    def prefix(self) -> str:
        """``key.converter.`` or ``value.converter.``: what users put before this converter's settings."""
        return "key.converter." if self.is_key else "value.converter."

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any, headers: Any = None) -> bytes | None:
        raise NotImplementedError

    def to_connect_data(self, topic: str, data: bytes | None, headers: Any = None) -> tuple[Schema | None, Any]:
        raise NotImplementedError

    def from_connect_batch(
        self, topic: str, schemas: Sequence[Schema | None], values: Sequence[Any]
    ) -> list[bytes | None]:
        """``from_connect_data`` for many records of one topic (converters may do it faster); raises on the
        first failure, and the caller then converts record by record."""
        f = self.from_connect_data
        return [f(topic, s, v) for s, v in zip(schemas, values, strict=True)]

    def to_connect_columns(self, topic: str, datas: Sequence[bytes | None]) -> tuple[list[Any], list[Any]]:
        """``to_connect_data`` for many records of one topic, as ``(schemas, values)`` lists (converters may
        do
        it faster); raises on the first failure, and the caller then converts record by record."""
        f = self.to_connect_data
        pairs = [f(topic, d) for d in datas]
        return [p[0] for p in pairs], [p[1] for p in pairs]


# -- JSON ----------------------------------------------------------------------------------------------
def json_default(obj: Any) -> Any:
    """orjson ``default=``: bytes as base64, datetimes as epoch ms, dates as epoch days, decimals as
    floats."""
    if isinstance(obj, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, _dt.datetime):
        return to_epoch_ms(obj)
    if isinstance(obj, _dt.date):
        return (obj - _dt.date(1970, 1, 1)).days
    if isinstance(obj, _dt.time):
        return (obj.hour * 3600 + obj.minute * 60 + obj.second) * 1000 + obj.microsecond // 1000
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not a Connect value")


_JSON_OPT = orjson.OPT_PASSTHROUGH_DATETIME
_JSON_OPT_NON_STR_KEYS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _json_bytes(obj: Any) -> bytes:
    """``orjson.dumps`` as JsonConverter writes: maps with non-string keys need ``OPT_NON_STR_KEYS``, which
    makes orjson about half as fast on every dict, so first without it and, only when orjson refuses (a
    non-string key, or a value :func:`json_default` rejects), again with it. For string keys the option
    changes nothing, so the bytes are the same either way."""
    try:
        return orjson.dumps(obj, default=json_default, option=_JSON_OPT)
    except orjson.JSONEncodeError:
        return orjson.dumps(obj, default=json_default, option=_JSON_OPT_NON_STR_KEYS)


_INT_RANGES = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}


def _from_json_with_schema(schema: Schema | None, value: Any, path: str = "") -> Any:
    """Convert a JSON payload to Connect values following ``schema``; raise ``DataError`` on a mismatch."""
    if schema is None or value is None:
        if value is None and schema is not None and not schema.optional and schema.default is None:
            raise DataError(f"invalid null value for required {schema.type} field{path and ' ' + path}")
        return value if value is not None or schema is None else schema.default
    t = schema.type
    where = f" at {path}" if path else ""
    if schema.name == TIMESTAMP and isinstance(value, int):
        return from_epoch_ms(value)
    if schema.name == DATE and isinstance(value, int):
        return _dt.date(1970, 1, 1) + _dt.timedelta(days=value)
    if schema.name == TIME and isinstance(value, int):
        return (_dt.datetime(1970, 1, 1) + _dt.timedelta(milliseconds=value)).time()
    if t in _INT_RANGES:
        if not isinstance(value, int) or isinstance(value, bool):
            raise DataError(f"expected an integer for schema type {t}{where}, got {type(value).__name__}")
        bits = _INT_RANGES[t]
        if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise DataError(f"value {value} is out of range for schema type {t}{where}")
        return value
    if t in ("float32", "float64"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise DataError(f"expected a number for schema type {t}{where}, got {type(value).__name__}")
        return float(value)
    if t == "boolean":
        if not isinstance(value, bool):
            raise DataError(f"expected a boolean{where}, got {type(value).__name__}")
        return value
    if t == "string":
        if not isinstance(value, str):
            raise DataError(f"expected a string{where}, got {type(value).__name__}")
        return value
    if t == "bytes":
        if not isinstance(value, str):
            raise DataError(f"expected base64 text for schema type bytes{where}, got {type(value).__name__}")
        try:
            return base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise DataError(f"invalid base64 for schema type bytes{where}: {exc}") from None
    if t == "array":
        if not isinstance(value, list):
            raise DataError(f"expected an array{where}, got {type(value).__name__}")
        return [_from_json_with_schema(schema.value_schema, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if t == "map":
        if isinstance(value, dict):
            return {k: _from_json_with_schema(schema.value_schema, v, f"{path}.{k}") for k, v in value.items()}
        if isinstance(value, list):  # non-string keys are written as [[k, v], ...]
            return {
                _from_json_with_schema(schema.key_schema, kv[0]): _from_json_with_schema(schema.value_schema, kv[1])
                for kv in value
            }
        raise DataError(f"expected an object for a map{where}, got {type(value).__name__}")
    if t == "struct":
        if not isinstance(value, dict):
            raise DataError(f"expected an object for a struct{where}, got {type(value).__name__}")
        return {
            f.name: _from_json_with_schema(f.schema, value.get(f.name), f"{path}.{f.name}" if path else f.name)
            for f in schema.fields
        }
    raise DataError(f"unknown schema type {t}")  # pragma: no cover


class JsonConverter(Converter):
    """Kafka's JsonConverter: with ``schemas.enable=true`` (default) the envelope
    ``{"schema":…,"payload":…}``,
    with ``false`` plain JSON."""

    CONFIG_DEF = (
        ConfigDef()
        .define(
            "schemas.enable",
            Type.BOOLEAN,
            True,
            importance=Importance.HIGH,
            documentation='Include schemas in the data: each record is {"schema": ..., "payload": ...}.',
        )
        .define("schemas.cache.size", Type.INT, 1000, importance=Importance.LOW, documentation="Unused; accepted.")
        .define(
            "decimal.format",
            Type.STRING,
            "BASE64",
            validator=ValidString("BASE64", "NUMERIC"),
            importance=Importance.LOW,
            documentation="How decimals are written.",
        )
        .define(
            "replace.null.with.default",
            Type.BOOLEAN,
            True,
            importance=Importance.LOW,
            documentation="Replace null fields with their schema default.",
        )
    )

    schemas_enable = True

    def configure(self, configs: Mapping[str, Any], is_key: bool) -> None:
        super().configure(configs, is_key)
        self.schemas_enable = bool(self.config["schemas.enable"])
        self._cache: dict[int, tuple[Schema, dict[str, Any]]] = {}

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any, headers: Any = None) -> bytes | None:
        if value is None and schema is None:
            return None
        try:
            if self.schemas_enable:
                if schema is None:
                    schema = infer_schema(value)
                return _json_bytes({"schema": self._schema_json(schema), "payload": value})
            return _json_bytes(value)
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise DataError(f"Converting Kafka Connect data to byte[] failed for topic {topic}: {exc}") from exc

    def from_connect_batch(
        self, topic: str, schemas: Sequence[Schema | None], values: Sequence[Any]
    ) -> list[bytes | None]:
        """:meth:`from_connect_data` of each pair in one comprehension (no call per record but orjson's)."""
        if self.schemas_enable:
            return super().from_connect_batch(topic, schemas, values)
        dumps, pairs = orjson.dumps, list(zip(schemas, values, strict=True))
        try:  # as _json_bytes: first without OPT_NON_STR_KEYS, then, if orjson refuses, with it
            return [
                None if v is None and s is None else dumps(v, default=json_default, option=_JSON_OPT) for s, v in pairs
            ]
        except orjson.JSONEncodeError:
            pass
        try:
            return [
                None if v is None and s is None else dumps(v, default=json_default, option=_JSON_OPT_NON_STR_KEYS)
                for s, v in pairs
            ]
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise DataError(f"Converting Kafka Connect data to byte[] failed for topic {topic}: {exc}") from exc

    def _schema_json(self, schema: Schema | None) -> dict[str, Any] | None:
        """``schema.to_json()``, cached by identity (a source usually reuses one schema object)."""
        if schema is None:
            return None
        cache = self._cache
        hit = cache.get(id(schema))
        if hit is not None and hit[0] is schema:
            return hit[1]
        if len(cache) > 1000:
            cache.clear()
        out = schema.to_json()
        cache[id(schema)] = (schema, out)
        return out

    def to_connect_data(self, topic: str, data: bytes | None, headers: Any = None) -> tuple[Schema | None, Any]:
        if data is None:
            return None, None
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            preview = bytes(data[:60]).decode("utf-8", "replace")
            raise DataError(
                f"Converting byte[] to Kafka Connect data failed due to serialization error of topic "
                f"{topic}: "
                f"{exc} (data starts {preview!r})",
                hint=f"the {'key' if self.is_key else 'value'} is not JSON; use "
                f"{self.prefix[:-1]}=org.apache.kafka.connect.storage.StringConverter or ByteArrayConverter",
            ) from exc
        if not self.schemas_enable:
            return None, obj
        if not (isinstance(obj, dict) and len(obj) == 2 and "schema" in obj and "payload" in obj):
            raise DataError(
                'JsonConverter with schemas.enable requires "schema" and "payload" fields and may not '
                f"contain additional fields (topic {topic}). If you are trying to deserialize plain JSON "
                f"data, set {self.prefix}schemas.enable=false in your converter configuration.",
                hint=f"set {self.prefix}schemas.enable=false",
            )
        if obj["schema"] is None:
            return None, obj["payload"]
        try:
            schema = Schema.from_json(obj["schema"])
        except ValueError as exc:
            raise DataError(f"invalid schema in JSON envelope of topic {topic}: {exc}") from exc
        return schema, _from_json_with_schema(schema, obj["payload"])


# -- strings and bytes ---------------------------------------------------------------------------------
class StringConverter(Converter):
    """UTF-8 (``converter.encoding``) text. Non-string values are written as JSON (dicts, lists) or
    ``str()``."""

    CONFIG_DEF = ConfigDef().define(
        "converter.encoding", Type.STRING, "UTF8", importance=Importance.HIGH, documentation="Text encoding."
    )
    encoding = "utf-8"

    def configure(self, configs: Mapping[str, Any], is_key: bool) -> None:
        super().configure(configs, is_key)
        enc = configs.get("encoding") or self.config["converter.encoding"]
        self.encoding = {"UTF8": "utf-8", "utf8": "utf-8"}.get(enc, enc)

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any, headers: Any = None) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, str):
            return value.encode(self.encoding)
        if isinstance(value, bytes):
            return value
        if isinstance(value, dict | list):
            return orjson.dumps(
                value, default=json_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
            )
        return str(value).encode(self.encoding)

    def from_connect_batch(
        self, topic: str, schemas: Sequence[Schema | None], values: Sequence[Any]
    ) -> list[bytes | None]:
        if self.encoding == "utf-8" and set(map(type, values)) == _STR_ONLY:
            return list(map(str.encode, values))
        enc = self.encoding
        f = self.from_connect_data
        return [v.encode(enc) if type(v) is str else f(topic, None, v) for v in values]

    def to_connect_columns(self, topic: str, datas: Sequence[bytes | None]) -> tuple[list[Any], list[Any]]:
        if self.encoding == "utf-8" and set(map(type, datas)) == _BYTES_ONLY:
            try:
                return [_OPTIONAL_STRING] * len(datas), list(map(bytes.decode, datas))  # type: ignore[arg-type]
            except UnicodeDecodeError:
                pass
        return super().to_connect_columns(topic, datas)

    def to_connect_data(self, topic: str, data: bytes | None, headers: Any = None) -> tuple[Schema | None, Any]:
        if data is None:
            return Schema("string", True), None
        try:
            return _OPTIONAL_STRING, bytes(data).decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"topic {topic}: data is not valid {self.encoding} text ({exc.reason} at byte {exc.start})",
                hint=f"use {self.prefix[:-1]}=org.apache.kafka.connect.converters.ByteArrayConverter",
            ) from None


_OPTIONAL_STRING = Schema("string", True)
_STR_ONLY = {str}
_BYTES_ONLY = {bytes}
_OPTIONAL_BYTES = Schema("bytes", True)


class ByteArrayConverter(Converter):
    """Bytes passed through unchanged (``str`` values are UTF-8 encoded)."""

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any, headers: Any = None) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        if isinstance(value, str):
            return value.encode()
        raise DataError(
            f"ByteArrayConverter is not compatible with objects of type {type(value).__name__} (topic {topic})",
            hint=f"use {self.prefix[:-1]}=org.apache.kafka.connect.json.JsonConverter or StringConverter",
        )

    def to_connect_data(self, topic: str, data: bytes | None, headers: Any = None) -> tuple[Schema | None, Any]:
        return _OPTIONAL_BYTES, None if data is None else bytes(data)


class _NumberConverter(Converter):
    fmt = ">i"
    schema_type = "int32"
    py_type: type = int

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any, headers: Any = None) -> bytes | None:
        if value is None:
            return None
        try:
            return struct.pack(self.fmt, self.py_type(value))
        except (struct.error, TypeError, ValueError) as exc:
            raise DataError(
                f"{type(self).__name__} cannot serialize {value!r} as {self.schema_type} (topic {topic}): {exc}"
            ) from None

    def to_connect_data(self, topic: str, data: bytes | None, headers: Any = None) -> tuple[Schema | None, Any]:
        schema = Schema(self.schema_type, True)
        if data is None:
            return schema, None
        size = struct.calcsize(self.fmt)
        if len(data) != size:
            raise DataError(
                f"{type(self).__name__}: expected {size} bytes for {self.schema_type} but got {len(data)} "
                f"(topic {topic})",
                hint=f"the data was not written with {type(self).__name__}; use the matching {self.prefix[:-1]}",
            )
        return schema, self.py_type(struct.unpack(self.fmt, data)[0])


class IntegerConverter(_NumberConverter):
    """32-bit big-endian integers (Kafka's IntegerSerializer)."""


class LongConverter(_NumberConverter):
    """64-bit big-endian integers."""

    fmt, schema_type = ">q", "int64"


class ShortConverter(_NumberConverter):
    """16-bit big-endian integers."""

    fmt, schema_type = ">h", "int16"


class FloatConverter(_NumberConverter):
    """32-bit IEEE 754 floats."""

    fmt, schema_type, py_type = ">f", "float32", float


class DoubleConverter(_NumberConverter):
    """64-bit IEEE 754 floats."""

    fmt, schema_type, py_type = ">d", "float64", float


class BooleanConverter(_NumberConverter):
    """One byte, 1 or 0."""

    fmt, schema_type, py_type = ">?", "boolean", bool


class HeaderConverter(Versioned):
    """Converts header values to and from bytes."""

    CONFIG_DEF = ConfigDef()

    def configure(self, configs: Mapping[str, Any]) -> None:
        self.config = self.CONFIG_DEF.parse(configs)

    def from_connect_header(self, topic: str, key: str, schema: Schema | None, value: Any) -> bytes | None:
        raise NotImplementedError

    def to_connect_header(self, topic: str, key: str, data: bytes | None) -> tuple[Schema | None, Any]:
        raise NotImplementedError


class SimpleHeaderConverter(HeaderConverter):
    """Kafka's default header converter: strings as UTF-8; numbers/booleans/maps/lists as JSON text; bytes as
    is.

    Reading, UTF-8 text that is a JSON number, boolean, object or array becomes that value; other text stays a
    string; non-UTF-8 bytes stay bytes.
    """

    def from_connect_header(self, topic: str, key: str, schema: Schema | None, value: Any) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode()
        return orjson.dumps(value, default=json_default, option=orjson.OPT_PASSTHROUGH_DATETIME)

    def to_connect_header(self, topic: str, key: str, data: bytes | None) -> tuple[Schema | None, Any]:
        if data is None:
            return None, None
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            return _OPTIONAL_BYTES, bytes(data)
        if text[:1] in "-0123456789tf[{":
            try:
                value = orjson.loads(text)
                return infer_schema(value, True), value
            except orjson.JSONDecodeError:
                pass
        return _OPTIONAL_STRING, text


class StringHeaderConverter(HeaderConverter):
    """Header values as UTF-8 strings."""

    def from_connect_header(self, topic: str, key: str, schema: Schema | None, value: Any) -> bytes | None:
        return None if value is None else (value if isinstance(value, bytes) else str(value).encode())

    def to_connect_header(self, topic: str, key: str, data: bytes | None) -> tuple[Schema | None, Any]:
        return _OPTIONAL_STRING, None if data is None else bytes(data).decode("utf-8", "replace")


__all__ = [
    "BooleanConverter",
    "ByteArrayConverter",
    "Converter",
    "DoubleConverter",
    "FloatConverter",
    "HeaderConverter",
    "IntegerConverter",
    "JsonConverter",
    "LongConverter",
    "ShortConverter",
    "SimpleHeaderConverter",
    "StringConverter",
    "StringHeaderConverter",
]
