"""Serialization schemas over a Confluent schema registry, named as Flink names them.

Flink's Java API has ``ConfluentRegistryAvroSerializationSchema.forGeneric(subject, schema, url, configs)``
and ``ConfluentRegistryAvroDeserializationSchema.forGeneric(schema, url, configs)`` (PyFlink has no Python
wrapper for them); millstream gives them in snake_case, and the same pair for JSON Schema and Protobuf::

    from millstream.connectors import KafkaSource, ConfluentRegistryAvroDeserializationSchema

    source = (KafkaSource.builder().set_bootstrap_servers("localhost:9092").set_topics("orders")
              .set_value_only_deserializer(
                  ConfluentRegistryAvroDeserializationSchema.for_generic(None, "http://localhost:8081"))
              .build())

Each is a :class:`~millstream.core.registry_format.RegistryFormat` (a frozen description: no I/O here), so it
goes wherever a format or a serialization schema does: ``set_value_only_deserializer``,
``set_value_format``, ``set_value_serializer``, ``KafkaRecordSerializationSchema``'s
``set_value_serialization_schema`` / ``set_key_serialization_schema``. The runtime binds it to the registry.

``registry_config`` takes Confluent's client settings (``basic.auth.user.info``, ``ssl.ca.location``, ...,
with or without the ``schema.registry.`` prefix) and Confluent's serializer settings:
``auto.register.schemas``, ``use.latest.version``, ``normalize.schemas`` and
``[key.|value.]subject.name.strategy`` (``TopicNameStrategy`` | ``RecordNameStrategy`` |
``TopicRecordNameStrategy``, with or without Confluent's package name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..core.registry_format import RegistryFormat

_FLAGS = {"auto.register.schemas": "auto_register", "use.latest.version": "use_latest_version"}


def _schema_text(schema: Any) -> str | None:
    """Schema text from a string, a dict, or an object with ``to_json()``/``__str__`` (PyFlink's ``AvroSchema``)."""
    if schema is None or isinstance(schema, str):
        return schema
    if isinstance(schema, Mapping):
        return orjson.dumps(dict(schema)).decode()
    to_json = getattr(schema, "to_json", None)
    return str(to_json() if callable(to_json) else schema)


def split_registry_config(registry_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """``RegistryFormat`` keyword arguments from Confluent-style settings: serializer settings become fields
    (``auto_register``, ``use_latest_version``, ``normalize``, ``subject_strategy``), the rest is
    ``registry_config`` (the client's)."""
    fields: dict[str, Any] = {}
    client: dict[str, Any] = {}
    for key, value in (registry_config or {}).items():
        k = str(key)
        if k in _FLAGS:
            fields[_FLAGS[k]] = str(value).lower() == "true"
        elif k == "normalize.schemas":
            fields["normalize"] = str(value).lower() == "true"
        elif k.endswith("subject.name.strategy"):
            fields["subject_strategy"] = str(value)
        else:
            client[k] = value
    if fields.get("use_latest_version") and "auto_register" not in fields:
        fields["auto_register"] = False
    fields["registry_config"] = client
    return fields


class ConfluentRegistryAvroSerializationSchema(RegistryFormat):
    """Writes Avro in Confluent's wire format, registering ``schema`` under ``subject``."""

    @staticmethod
    def for_generic(
        subject: str | None, schema: Any, schema_registry_url: str, registry_config: Mapping[str, Any] | None = None
    ) -> ConfluentRegistryAvroSerializationSchema:
        """``subject`` ``None`` follows the naming strategy (default ``<topic>-value``)."""
        return ConfluentRegistryAvroSerializationSchema(
            "avro",
            schema_registry_url,
            schema=_schema_text(schema),
            subject=subject,
            **split_registry_config(registry_config),
        )


class ConfluentRegistryAvroDeserializationSchema(RegistryFormat):
    """Reads Avro in Confluent's wire format: each record's writer schema comes from the registry by id and is
    resolved to ``schema`` (``None``: read with the writer schema)."""

    @staticmethod
    def for_generic(
        schema: Any, schema_registry_url: str, registry_config: Mapping[str, Any] | None = None
    ) -> ConfluentRegistryAvroDeserializationSchema:
        return ConfluentRegistryAvroDeserializationSchema(
            "avro", schema_registry_url, schema=_schema_text(schema), **split_registry_config(registry_config)
        )


class ConfluentRegistryJsonSchemaSerializationSchema(RegistryFormat):
    """Writes JSON in Confluent's wire format, validating each value against ``schema`` (a JSON Schema)."""

    @staticmethod
    def for_schema(
        schema: Any,
        schema_registry_url: str,
        subject: str | None = None,
        registry_config: Mapping[str, Any] | None = None,
    ) -> ConfluentRegistryJsonSchemaSerializationSchema:
        return ConfluentRegistryJsonSchemaSerializationSchema(
            "json",
            schema_registry_url,
            schema=_schema_text(schema),
            subject=subject,
            **split_registry_config(registry_config),
        )


class ConfluentRegistryJsonSchemaDeserializationSchema(RegistryFormat):
    """Reads JSON in Confluent's wire format, validating each value against ``schema`` (``None``: against the
    record's writer schema from the registry)."""

    @staticmethod
    def for_schema(
        schema: Any, schema_registry_url: str, registry_config: Mapping[str, Any] | None = None
    ) -> ConfluentRegistryJsonSchemaDeserializationSchema:
        return ConfluentRegistryJsonSchemaDeserializationSchema(
            "json", schema_registry_url, schema=_schema_text(schema), **split_registry_config(registry_config)
        )


class ConfluentRegistryProtobufSerializationSchema(RegistryFormat):
    """Writes Protobuf in Confluent's wire format (with message indexes); elements are messages of
    ``message_type`` or dicts by proto field name."""

    @staticmethod
    def for_message(
        message_type: Any,
        schema_registry_url: str,
        subject: str | None = None,
        registry_config: Mapping[str, Any] | None = None,
    ) -> ConfluentRegistryProtobufSerializationSchema:
        return ConfluentRegistryProtobufSerializationSchema(
            "protobuf",
            schema_registry_url,
            message_type=message_type,
            subject=subject,
            **split_registry_config(registry_config),
        )


class ConfluentRegistryProtobufDeserializationSchema(RegistryFormat):
    """Reads Protobuf in Confluent's wire format into dicts by proto field name (``as_message=True``: into
    ``message_type`` objects)."""

    @staticmethod
    def for_message(
        message_type: Any,
        schema_registry_url: str,
        registry_config: Mapping[str, Any] | None = None,
        as_message: bool = False,
    ) -> ConfluentRegistryProtobufDeserializationSchema:
        return ConfluentRegistryProtobufDeserializationSchema(
            "protobuf",
            schema_registry_url,
            message_type=message_type,
            as_message=as_message,
            **split_registry_config(registry_config),
        )


__all__ = [
    "ConfluentRegistryAvroDeserializationSchema",
    "ConfluentRegistryAvroSerializationSchema",
    "ConfluentRegistryJsonSchemaDeserializationSchema",
    "ConfluentRegistryJsonSchemaSerializationSchema",
    "ConfluentRegistryProtobufDeserializationSchema",
    "ConfluentRegistryProtobufSerializationSchema",
    "RegistryFormat",
    "split_registry_config",
]
