"""Serializers/deserializers between Python values and the bytes stored in the log.

A :class:`Serde` turns a value into bytes (``serialize``) and back (``deserialize``). ``None`` always maps
to ``None`` (a null key or a tombstone value) in both directions. Failures raise :class:`SerdeError`
naming the format and the reason, so a malformed record can be routed to a dead-letter topic instead of
crashing a job.

Formats: ``json`` (orjson), ``string`` (UTF-8), ``bytes`` (as is), ``avro`` (fastavro, schemaless binary
with a given schema). :func:`get_serde` builds one by name.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import orjson

from .errors import ConfigError, SerdeError


@runtime_checkable
class Serde(Protocol):
    """Converts values to and from bytes. ``None`` passes through unchanged."""

    name: str

    def serialize(self, value: Any) -> bytes | None: ...

    def deserialize(self, data: bytes | None) -> Any: ...


def _preview(data: bytes, limit: int = 60) -> str:
    text = data[:limit].decode("utf-8", "replace")
    return text + ("…" if len(data) > limit else "")


class JsonSerde:
    """JSON via orjson. Serializes dicts, lists, str, numbers, bools, dataclasses, datetimes."""

    name = "json"

    def serialize(self, value: Any) -> bytes | None:
        if value is None:
            return None
        try:
            return orjson.dumps(value)
        except TypeError as exc:
            raise SerdeError(
                f"cannot serialize {type(value).__name__} as JSON: {exc}",
                hint="convert it to dict/list/str/number first, or use another format",
            ) from exc

    def deserialize(self, data: bytes | None) -> Any:
        if data is None:
            return None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise SerdeError(
                f"malformed JSON ({exc}): {_preview(bytes(data))!r}",
                hint="fix the producer, or read the topic with format 'string' or 'bytes'",
            ) from exc


class StringSerde:
    """UTF-8 text."""

    name = "string"

    def __init__(self, encoding: str = "utf-8") -> None:
        self.encoding = encoding

    def serialize(self, value: Any) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            return value
        return str(value).encode(self.encoding)

    def deserialize(self, data: bytes | None) -> Any:
        if data is None:
            return None
        try:
            return bytes(data).decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise SerdeError(
                f"value is not valid {self.encoding} text ({exc.reason} at byte {exc.start})",
                hint="read the topic with format 'bytes'",
            ) from exc


class BytesSerde:
    """Bytes as they are (``bytearray``/``memoryview`` are copied to ``bytes``)."""

    name = "bytes"

    def serialize(self, value: Any) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        raise SerdeError(
            f"format 'bytes' needs bytes, got {type(value).__name__}",
            hint="encode the value yourself, or use format 'json' or 'string'",
        )

    def deserialize(self, data: bytes | None) -> Any:
        return None if data is None else bytes(data)


class AvroSerde:
    """Avro binary (schemaless: the schema is agreed out of band) via fastavro."""

    name = "avro"

    def __init__(self, schema: Mapping[str, Any] | str) -> None:
        import fastavro

        if isinstance(schema, str):
            try:
                schema = orjson.loads(schema)
            except orjson.JSONDecodeError as exc:
                raise ConfigError(f"Avro schema is not valid JSON: {exc}") from exc
        try:
            self._schema = fastavro.parse_schema(dict(schema))  # type: ignore[arg-type]
        except Exception as exc:
            raise ConfigError(f"invalid Avro schema: {exc}") from exc
        self.schema = schema
        self._writer = fastavro.schemaless_writer
        self._reader = fastavro.schemaless_reader

    def serialize(self, value: Any) -> bytes | None:
        if value is None:
            return None
        buf = io.BytesIO()
        try:
            self._writer(buf, self._schema, value)
        except Exception as exc:
            raise SerdeError(f"value does not match the Avro schema: {exc}") from exc
        return buf.getvalue()

    def deserialize(self, data: bytes | None) -> Any:
        if data is None:
            return None
        try:
            return self._reader(io.BytesIO(data), self._schema, None)
        except Exception as exc:
            raise SerdeError(
                f"cannot decode Avro record ({type(exc).__name__}: {exc})",
                hint="check that the writer used the same schema",
            ) from exc


FORMATS = ("json", "string", "bytes", "avro")


def get_serde(fmt: str | Serde, *, schema: Mapping[str, Any] | str | None = None) -> Serde:
    """Return the serde for a format name (``json``, ``string``, ``bytes``, ``avro``) or pass a Serde through."""
    if not isinstance(fmt, str):
        return fmt
    name = fmt.lower()
    if name == "json":
        return JsonSerde()
    if name in ("string", "str", "text"):
        return StringSerde()
    if name in ("bytes", "raw", "bytearray"):
        return BytesSerde()
    if name == "avro":
        if schema is None:
            raise ConfigError("format 'avro' needs a schema", hint="pass schema=<Avro schema dict or JSON>")
        return AvroSerde(schema)
    raise ConfigError(f"unknown format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")


__all__ = ["FORMATS", "AvroSerde", "BytesSerde", "JsonSerde", "Serde", "StringSerde", "get_serde"]
