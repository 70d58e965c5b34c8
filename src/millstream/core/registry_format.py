"""Schema-registry formats as descriptions: which registry, which schema, which subject (no I/O here).

A :class:`RegistryFormat` says how values (or keys) of a topic are written and read in Confluent Schema
Registry's wire format — magic byte ``0``, the 4-byte big-endian schema id, then the payload (Protobuf puts
the message indexes of the message type in its file before the payload). It is frozen and holds only names
and strings, so stream and SQL descriptors can carry it to the runtime (and to worker processes), where
:mod:`millstream.schema_registry` binds it to a registry client and Confluent's serializers.

Kinds: ``avro``, ``json`` (JSON Schema) and ``protobuf``. Subjects follow Confluent's naming strategies:

=================  ======================================================================================
strategy           subject
=================  ======================================================================================
``topic``          ``<topic>-value`` / ``<topic>-key`` (TopicNameStrategy, the default)
``record``         the record's full name (RecordNameStrategy): Avro ``namespace.name``, JSON Schema
                   ``title``, Protobuf ``package.Message``
``topic_record``   ``<topic>-<record full name>`` (TopicRecordNameStrategy)
=================  ======================================================================================

An explicit ``subject`` (Flink's ``avro-confluent.subject``) overrides the strategy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

KINDS = ("avro", "json", "protobuf")

SUBJECT_STRATEGIES = {
    "topic": "topic",
    "topicnamestrategy": "topic",
    "record": "record",
    "recordnamestrategy": "record",
    "topic_record": "topic_record",
    "topic-record": "topic_record",
    "topicrecordnamestrategy": "topic_record",
}
"""Accepted spellings of the naming strategies (also Confluent's class names, with or without package)."""

COMPATIBILITY_LEVELS = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)


def subject_strategy(name: str) -> str:
    """The canonical strategy (``topic``, ``record``, ``topic_record``) for one of its spellings."""
    short = str(name).rsplit(".", 1)[-1].strip().lower()
    try:
        return SUBJECT_STRATEGIES[short]
    except KeyError:
        raise ConfigError(
            f"unknown subject name strategy {name!r}",
            hint="use TopicNameStrategy (default), RecordNameStrategy or TopicRecordNameStrategy",
        ) from None


def subject_name(strategy: str, topic: str, record_name: str | None, is_key: bool) -> str:
    """The subject a schema is registered under (see the module docstring)."""
    if strategy == "topic":
        return f"{topic}-{'key' if is_key else 'value'}"
    if not record_name:
        raise ConfigError(
            f"subject name strategy {strategy!r} needs a record name, and the schema has none",
            hint="give the Avro record a name, the JSON Schema a 'title', or use TopicNameStrategy",
        )
    return record_name if strategy == "record" else f"{topic}-{record_name}"


@dataclass(frozen=True, eq=False)
class RegistryFormat:
    """How one side (value or key) of a topic's records is serialized through a schema registry.

    - ``kind``: ``avro`` | ``json`` | ``protobuf``;
    - ``url``: the registry (``http(s)://host:port``, the first of a comma-separated list, or
      ``mock://<scope>`` for an in-process registry shared by everything in the process using that scope);
    - ``schema``: the schema text to write with (Avro JSON or JSON Schema); for reading Avro it is the reader
      schema (records are resolved from their writer schema to it), for reading JSON Schema the schema to
      validate against; ``None`` reads with each record's writer schema;
    - ``message_type``: Protobuf's generated message class, or its dotted import path ``"pkg.mod.Class"``;
    - ``subject`` / ``subject_strategy``: see the module docstring;
    - ``auto_register``: register the schema when it is not yet under the subject (Confluent's
      ``auto.register.schemas``); with ``False`` it must be registered already;
    - ``use_latest_version``: write with the subject's latest schema (needs ``auto_register=False``);
    - ``normalize``: let the registry normalize schemas (``normalize.schemas``);
    - ``compatibility``: set the subject's compatibility level before the first registration
      (``BACKWARD`` ...); ``None`` keeps the registry's;
    - ``as_message``: Protobuf values are read as message objects (default: dicts with proto field names);
    - ``registry_config``: more client settings, Confluent's names (``basic.auth.user.info``,
      ``ssl.ca.location``, ``timeout`` ...).
    """

    kind: str
    url: str
    schema: str | None = None
    message_type: Any = None
    subject: str | None = None
    subject_strategy: str = "topic"
    auto_register: bool = True
    use_latest_version: bool = False
    normalize: bool = False
    compatibility: str | None = None
    as_message: bool = False
    registry_config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown schema-registry format {self.kind!r}", hint=f"use one of: {', '.join(KINDS)}")
        if not self.url:
            raise ConfigError(
                f"the {self.kind} schema-registry format needs the registry URL",
                hint="pass url='http://localhost:8081' (or 'mock://<scope>' for an in-process registry)",
            )
        object.__setattr__(self, "subject_strategy", subject_strategy(self.subject_strategy))
        if self.compatibility is not None:
            level = self.compatibility.upper()
            if level not in COMPATIBILITY_LEVELS:
                raise ConfigError(
                    f"unknown compatibility level {self.compatibility!r}",
                    hint=f"use one of: {', '.join(COMPATIBILITY_LEVELS)}",
                )
            object.__setattr__(self, "compatibility", level)
        if self.use_latest_version and self.auto_register:
            raise ConfigError(
                "use_latest_version and auto_register cannot both be on",
                hint="pass auto_register=False with use_latest_version=True (Confluent's rule)",
            )
        if self.kind == "protobuf" and self.message_type is None:
            raise ConfigError(
                "the protobuf schema-registry format needs the message type",
                hint="pass message_type=<generated message class> or its dotted path 'pkg.module.Message'",
            )

    @property
    def flink_name(self) -> str:
        """The SQL format name: ``avro-confluent``, ``json-schema-confluent`` or ``protobuf-confluent``."""
        return SQL_FORMAT_NAMES[self.kind]

    def describe(self) -> str:
        """A short text for errors and graphs: ``avro-confluent (registry http://..., subject orders-value)``."""
        subject = self.subject or {"topic": "<topic>-value", "record": "<record name>"}.get(
            self.subject_strategy, "<topic>-<record name>"
        )
        return f"{self.flink_name} (registry {self.url}, subject {subject})"


SQL_FORMAT_NAMES = {"avro": "avro-confluent", "json": "json-schema-confluent", "protobuf": "protobuf-confluent"}
"""Format names in SQL (``'format' = 'avro-confluent'``, Flink's name; the other two in its style)."""

__all__ = [
    "COMPATIBILITY_LEVELS",
    "KINDS",
    "SQL_FORMAT_NAMES",
    "SUBJECT_STRATEGIES",
    "RegistryFormat",
    "subject_name",
    "subject_strategy",
]
