"""Bind a :class:`~millstream.core.registry_format.RegistryFormat` to Confluent's serializers.

- :class:`RegistrySerializer` — ``for_topic(topic)`` gives a function value → wire-format bytes, made of
  Confluent's ``AvroSerializer`` / ``JSONSerializer`` / ``ProtobufSerializer`` with millstream's subject
  naming (:func:`~millstream.core.registry_format.subject_name`). The schema is registered (or looked up) on
  the first value of each topic; a registry that refuses it raises
  :class:`~millstream.schema_registry.client.SchemaEvolutionError` naming the subject and its compatibility level.
- :class:`RegistryDeserializer` — a function of a whole log record → value, made of Confluent's
  ``AvroDeserializer`` / ``JSONDeserializer`` / ``ProtobufDeserializer``. Every failure (not wire format, a schema
  id the registry does not know, an unreachable registry, a payload that does not match its schema) raises
  :class:`~millstream.core.errors.SerdeError` naming topic, partition and offset, the format, and the fix. The
  record is not consumed by the failure: the source fails before its position is checkpointed or committed
  (or, with a dead-letter topic, the record is copied there with the reason).

Values: Avro and JSON Schema are dicts (and lists, strings, numbers as the schema says); Protobuf values are
written from a message or a dict (by proto field name) and read as dicts with proto field names (64-bit
integers stay ``int``, enums are their names), or as messages with ``as_message``. ``None`` is a null value
(a tombstone) both ways.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import orjson

from ..core.errors import ConfigError, MillstreamError, SerdeError
from ..core.registry_format import RegistryFormat, subject_name
from .client import explain, registry_client
from .wire import describe_non_wire, schema_id_of


def message_class(message_type: Any) -> Any:
    """The Protobuf message class of ``message_type`` (a class, an instance, or ``"pkg.module.Class"``)."""
    if isinstance(message_type, str):
        module, _, name = message_type.rpartition(".")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(
                f"cannot import the Protobuf message class {message_type!r}: {exc}",
                hint="give the dotted path of a generated class (module.Message) importable by the job",
            ) from exc
    return message_type if isinstance(message_type, type) else type(message_type)


def record_name(fmt: RegistryFormat) -> str | None:
    """The record's full name used by the record naming strategies (see :mod:`~millstream.core.registry_format`)."""
    if fmt.kind == "protobuf":
        return str(message_class(fmt.message_type).DESCRIPTOR.full_name)
    if fmt.schema is None:
        return None
    try:
        parsed = orjson.loads(fmt.schema)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"the {fmt.kind} schema is not valid JSON: {exc}", hint="check the schema text") from exc
    if not isinstance(parsed, dict):
        return None
    if fmt.kind == "json":
        return parsed.get("title")
    name = parsed.get("name")
    if not name:
        return None
    namespace = parsed.get("namespace")
    return f"{namespace}.{name}" if namespace and "." not in name else str(name)


def message_to_dict(message: Any) -> dict[str, Any]:
    """A Protobuf message as a dict by proto field name (nested messages as dicts, unset ones ``None``)."""
    out: dict[str, Any] = {}
    for f in message.DESCRIPTOR.fields:
        value = getattr(message, f.name)
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            vf = f.message_type.fields_by_name["value"]
            out[f.name] = {k: _field_value(vf, v) for k, v in value.items()}
        elif _repeated(f):
            out[f.name] = [_field_value(f, v) for v in value]
        elif f.message_type is not None:
            out[f.name] = message_to_dict(value) if message.HasField(f.name) else None
        else:
            out[f.name] = _field_value(f, value)
    return out


def _repeated(f: Any) -> bool:
    is_repeated = getattr(f, "is_repeated", None)  # protobuf >= 5.29; ``label`` is gone in 7
    return bool(is_repeated) if is_repeated is not None else f.label == f.LABEL_REPEATED


def _field_value(f: Any, value: Any) -> Any:
    if f.message_type is not None:
        return message_to_dict(value)
    if f.enum_type is not None:
        named = f.enum_type.values_by_number.get(value)
        return named.name if named is not None else value
    return value


def _context(topic: str, is_key: bool) -> Any:
    from confluent_kafka.serialization import MessageField, SerializationContext

    return SerializationContext(topic, MessageField.KEY if is_key else MessageField.VALUE)


class _Bound:
    """What serializer and deserializer share: the format, the client, the subject naming."""

    def __init__(self, fmt: RegistryFormat, is_key: bool) -> None:
        self.fmt = fmt
        self.is_key = is_key
        self.client = registry_client(fmt.url, fmt.registry_config)
        self.record_name = record_name(fmt)

    def subject(self, topic: str) -> str:
        return self.fmt.subject or subject_name(self.fmt.subject_strategy, topic, self.record_name, self.is_key)

    def _strategy(self) -> Callable[[Any, Any], str | None]:
        def strategy(ctx: Any, _record_name: Any) -> str | None:
            return None if ctx is None else self.subject(ctx.topic)

        return strategy


class RegistrySerializer(_Bound):
    """Values → Confluent wire format, one Confluent serializer per topic (see the module docstring)."""

    def __init__(self, fmt: RegistryFormat, is_key: bool = False) -> None:
        super().__init__(fmt, is_key)
        if fmt.kind in ("avro", "json") and fmt.schema is None and not fmt.use_latest_version:
            raise ConfigError(
                f"writing {fmt.flink_name} needs a schema",
                hint="pass the schema to write with, or use_latest_version=True with auto_register=False",
            )
        self._serializers: dict[str, Callable[[Any], bytes | None]] = {}
        self._levels_set: set[str] = set()

    def _conf(self) -> dict[str, Any]:
        return {
            "auto.register.schemas": self.fmt.auto_register,
            "use.latest.version": self.fmt.use_latest_version,
            "normalize.schemas": self.fmt.normalize,
            "subject.name.strategy": self._strategy(),
        }

    def _make(self) -> Any:
        from confluent_kafka.schema_registry.avro import AvroSerializer
        from confluent_kafka.schema_registry.json_schema import JSONSerializer

        fmt, conf = self.fmt, self._conf()
        if fmt.kind == "avro":
            return AvroSerializer(self.client, fmt.schema, conf=conf)
        if fmt.kind == "json":
            return JSONSerializer(fmt.schema, self.client, conf=conf)
        from confluent_kafka.schema_registry.protobuf import ProtobufSerializer

        return ProtobufSerializer(message_class(fmt.message_type), self.client, conf=conf)

    def _prepare(self, topic: str) -> None:
        """Set the subject's compatibility level when the format asks for one (before the first registration)."""
        subject = self.subject(topic)
        if self.fmt.compatibility and subject not in self._levels_set:
            try:
                self.client.set_compatibility(subject, self.fmt.compatibility)
            except Exception as exc:
                raise explain(exc, url=self.fmt.url, subject=subject, client=self.client) from exc
            self._levels_set.add(subject)

    def for_topic(self, topic: str) -> Callable[[Any], bytes | None]:
        """The function value → bytes for records of ``topic``."""
        fn = self._serializers.get(topic)
        if fn is not None:
            return fn
        serializer, ctx = self._make(), _context(topic, self.is_key)
        to_message = self._to_message if self.fmt.kind == "protobuf" else None
        fmt, subject = self.fmt, self.subject(topic)

        def serialize(value: Any) -> bytes | None:
            if value is None:
                return None
            if subject not in self._levels_set and fmt.compatibility:
                self._prepare(topic)  # on the first value: no registry call before the job runs
            try:
                return serializer(to_message(value) if to_message else value, ctx)
            except MillstreamError:
                raise
            except Exception as exc:
                err = explain(exc, url=fmt.url, subject=subject, client=self.client)
                if type(err) is SerdeError and not _is_registry_error(exc):
                    err = SerdeError(
                        f"cannot write a value of topic '{topic}' as {fmt.flink_name} (subject '{subject}'): "
                        f"{type(exc).__name__}: {exc}",
                        hint="make the value match the schema",
                    )
                raise err from exc

        self._serializers[topic] = serialize
        return serialize

    def _to_message(self, value: Any) -> Any:
        cls = message_class(self.fmt.message_type)
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            from google.protobuf import json_format

            return json_format.ParseDict(value, cls())
        raise SerdeError(
            f"protobuf-confluent writes {cls.__name__} messages or dicts, got {type(value).__name__}",
            hint="map elements to dicts by field name (or to messages) before the sink",
        )


def _is_registry_error(exc: BaseException) -> bool:
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    return isinstance(exc, SchemaRegistryError)


class RegistryDeserializer(_Bound):
    """Log records → values (see the module docstring). Call with a record; ``None`` values pass through."""

    def __init__(self, fmt: RegistryFormat, is_key: bool = False) -> None:
        super().__init__(fmt, is_key)
        self._deserializer = self._make()
        self._contexts: dict[str, Any] = {}

    def _make(self) -> Any:
        from confluent_kafka.schema_registry.avro import AvroDeserializer
        from confluent_kafka.schema_registry.json_schema import JSONDeserializer

        fmt = self.fmt
        conf = {"subject.name.strategy": self._strategy(), "use.latest.version": fmt.use_latest_version}
        if fmt.kind == "avro":
            return AvroDeserializer(self.client, fmt.schema, conf=conf)
        if fmt.kind == "json":
            return JSONDeserializer(fmt.schema, conf=conf, schema_registry_client=self.client)
        from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer

        return ProtobufDeserializer(message_class(fmt.message_type), conf, schema_registry_client=self.client)

    def __call__(self, record: Any) -> Any:
        data = record[4] if self.is_key else record[5]
        if data is None:
            return None
        return self.decode(bytes(data), record[0], record[1], record[2])

    def decode(self, data: bytes, topic: str, partition: int = -1, offset: int = -1) -> Any:
        """The value of wire-format ``data`` read from ``topic`` (partition and offset name it in errors)."""
        fmt, side = self.fmt, "key" if self.is_key else "value"
        where = f"record at {topic}[{partition}] offset {offset}"
        schema_id = schema_id_of(data)
        if schema_id is None:
            raise SerdeError(
                f"{where}: the {side} is not in Confluent's schema-registry wire format: {describe_non_wire(data)}",
                hint=f"this {side} was not written by a {fmt.flink_name} serializer: read the topic with the format "
                "its producer used, or set a dead-letter topic to set such records aside",
            )
        ctx = self._contexts.get(topic)
        if ctx is None:
            ctx = self._contexts[topic] = _context(topic, self.is_key)
        try:
            value = self._deserializer(data, ctx)
        except Exception as exc:
            err = explain(exc, url=fmt.url, client=self.client)
            hint = err.hint or "check that the producer wrote this topic with the schema the registry holds"
            raise type(err)(
                f"{where}: cannot read the {side} as {fmt.flink_name} with schema id {schema_id}: {err.message}",
                hint=hint,
            ) from exc
        if fmt.kind == "protobuf" and not fmt.as_message:
            return message_to_dict(value)
        return value


__all__ = ["RegistryDeserializer", "RegistrySerializer", "message_class", "message_to_dict", "record_name"]
