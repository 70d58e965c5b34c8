"""Sources and sinks as descriptions (no I/O here; :mod:`millstream.runtime` binds them).

- :class:`LogSource` / :class:`LogSink` — any millstream ``Log`` URL, built like Flink's Kafka source/sink.
- :class:`KafkaSource` / :class:`KafkaSink` — the same, with ``set_bootstrap_servers("h:p")`` → ``kafka://h:p``.
- :class:`FileSource` / :class:`FileSink` — text or JSON lines files.
- :class:`CollectionSource` — a Python collection (``env.from_collection``).
- :class:`PrintSink` — standard output (``ds.print()``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..core.registry_format import RegistryFormat
from .errors import JobConfigError

VALUE_FORMATS = ("json", "string", "bytes", "avro", "debezium-json")
"""``debezium-json`` (Flink's name, sources only): each Debezium change event becomes its changelog rows
(:class:`millstream.core.changelog.ChangelogRow`: ``+I``/``-U``/``+U``/``-D`` with the row). A
:class:`~millstream.core.registry_format.RegistryFormat` (e.g. ``ConfluentRegistryAvroSerializationSchema``)
is accepted too: Confluent's schema-registry wire format (see :mod:`millstream.stream.registry_schemas`)."""


@dataclass(frozen=True)
class OffsetsInitializer:
    """Where a log source starts (or, as the bounded end, stops) reading, per partition.

    ``kind``: ``earliest`` | ``latest`` | ``committed`` (with ``reset`` = earliest/latest/none) |
    ``timestamp`` (first record with timestamp >= ``timestamp``) | ``offsets`` (explicit map
    ``{(topic, partition): offset}``). Fields ``ts_ms`` / ``offset_map`` hold the arguments.
    """

    kind: str
    reset: str | None = None
    ts_ms: int | None = None
    offset_map: Mapping[tuple[str, int], int] | None = None

    @staticmethod
    def earliest() -> OffsetsInitializer:
        return OffsetsInitializer("earliest")

    @staticmethod
    def latest() -> OffsetsInitializer:
        return OffsetsInitializer("latest")

    @staticmethod
    def committed_offsets(offset_reset_strategy: Any = "earliest") -> OffsetsInitializer:
        """The group's committed offsets; a partition without one starts where ``offset_reset_strategy``
        (``KafkaOffsetResetStrategy.EARLIEST`` (millstream's default) / ``LATEST`` / ``NONE``: fail) says."""
        if isinstance(offset_reset_strategy, OffsetsInitializer):
            raise JobConfigError(
                f"committed_offsets() takes a reset strategy, not an OffsetsInitializer "
                f"(got OffsetsInitializer.{offset_reset_strategy.kind}())",
                hint="write OffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST) (or LATEST, NONE)",
            )
        reset = str(getattr(offset_reset_strategy, "name", offset_reset_strategy)).lower()
        if reset not in ("earliest", "latest", "none"):
            raise JobConfigError(
                f"offset reset strategy {offset_reset_strategy!r} is invalid",
                hint="use KafkaOffsetResetStrategy.EARLIEST, LATEST or NONE",
            )
        return OffsetsInitializer("committed", reset=reset)

    @staticmethod
    def timestamp(timestamp: int) -> OffsetsInitializer:
        return OffsetsInitializer("timestamp", ts_ms=int(timestamp))

    @staticmethod
    def offsets(offsets: Mapping[Any, int], reset: str = "earliest") -> OffsetsInitializer:
        norm = {}
        for tp, off in offsets.items():
            topic, part = (tp.topic, tp.partition) if hasattr(tp, "topic") else tp
            norm[(str(topic), int(part))] = int(off)
        return OffsetsInitializer("offsets", reset=reset, offset_map=norm)


class OffsetResetStrategy(StrEnum):
    """Where ``committed_offsets(...)`` starts a partition without a committed offset (PyFlink's
    ``KafkaOffsetResetStrategy``; the members equal the strings ``"earliest"``, ``"latest"``, ``"none"``)."""

    EARLIEST = "earliest"
    LATEST = "latest"
    NONE = "none"


KafkaOffsetResetStrategy = OffsetResetStrategy


class SimpleStringSchema:
    """PyFlink's ``SimpleStringSchema``: UTF-8 text in both directions (``serialize``/``deserialize``)."""

    def __init__(self, charset: str = "utf-8") -> None:
        self.charset = charset

    def serialize(self, value: Any) -> bytes:
        return str(value).encode(self.charset)

    def deserialize(self, message: bytes | None) -> str | None:
        return None if message is None else bytes(message).decode(self.charset)


class JsonSchema:
    """JSON values in both directions (a stand-in for Flink's JSON (de)serialization schemas)."""

    def serialize(self, value: Any) -> bytes:
        import orjson

        return orjson.dumps(value)

    def deserialize(self, message: bytes | None) -> Any:
        import orjson

        return None if message is None else orjson.loads(message)


@dataclass(frozen=True)
class KafkaRecordSerializationSchema:
    """Flink's record serializer for sinks: ``KafkaRecordSerializationSchema.builder().set_topic(t)
    .set_value_serialization_schema(SimpleStringSchema())[.set_key_serialization_schema(s)].build()``."""

    topic: str | None = None
    topic_selector: Callable[[Any], str] | None = None
    value_schema: Any = None
    key_schema: Any = None

    @staticmethod
    def builder() -> _RecordSerializerBuilder:
        return _RecordSerializerBuilder()


class _RecordSerializerBuilder:
    def __init__(self) -> None:
        self._kw: dict[str, Any] = {}

    def set_topic(self, topic: str) -> _RecordSerializerBuilder:
        self._kw["topic"] = topic
        return self

    def set_topic_selector(self, selector: Callable[[Any], str]) -> _RecordSerializerBuilder:
        self._kw["topic_selector"] = getattr(selector, "apply", selector)
        return self

    def set_value_serialization_schema(self, schema: Any) -> _RecordSerializerBuilder:
        self._kw["value_schema"] = schema
        return self

    def set_key_serialization_schema(self, schema: Any) -> _RecordSerializerBuilder:
        self._kw["key_schema"] = schema
        return self

    def build(self) -> KafkaRecordSerializationSchema:
        if not self._kw.get("topic") and not self._kw.get("topic_selector"):
            raise JobConfigError("a record serializer needs a topic", hint="call set_topic(...)")
        if self._kw.get("value_schema") is None:
            raise JobConfigError(
                "a record serializer needs a value schema",
                hint="call set_value_serialization_schema(SimpleStringSchema())",
            )
        return KafkaRecordSerializationSchema(**self._kw)


@dataclass(frozen=True)
class LogSource:
    """Reads topics of a millstream log. Build with ``LogSource.builder()``.

    Event time defaults to the record timestamp; values are decoded with ``value_format``; with
    ``deserializer`` set, each :class:`~millstream.core.record.Record` is passed to it instead. A record that
    cannot be decoded fails the job naming topic, partition and offset, or, with ``dead_letter_topic`` set,
    is appended to that topic of the same log with headers saying why (``millstream.runtime.dead_letter``).
    """

    log_url: str | None = None
    topics: tuple[str, ...] = ()
    topic_pattern: str | None = None
    partitions: tuple[tuple[str, int], ...] = ()
    group_id: str | None = None
    starting_offsets: OffsetsInitializer = field(default_factory=OffsetsInitializer.earliest)
    bounded: OffsetsInitializer | None = None
    value_format: str = "json"
    avro_schema: Any = None
    deserializer: Callable[[Any], Any] | None = None
    value_registry: RegistryFormat | None = None
    key_registry: RegistryFormat | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    partition_discovery_ms: int | None = None
    commit_offsets: bool = True
    dead_letter_topic: str | None = None
    name: str = "LogSource"

    @staticmethod
    def builder() -> LogSourceBuilder:
        return LogSourceBuilder()

    @property
    def is_bounded(self) -> bool:
        return self.bounded is not None


class LogSourceBuilder:
    """Fluent builder for :class:`LogSource` (Flink ``KafkaSourceBuilder`` method names)."""

    _cls: type[LogSource] = LogSource

    def __init__(self) -> None:
        self._kw: dict[str, Any] = {}

    def set_log(self, url: str) -> LogSourceBuilder:
        self._kw["log_url"] = url
        return self

    def set_bootstrap_servers(self, servers: str) -> LogSourceBuilder:
        return self.set_log("kafka://" + servers)

    def set_topics(self, *topics: str | Sequence[str]) -> LogSourceBuilder:
        flat: list[str] = []
        for t in topics:
            flat.extend([t] if isinstance(t, str) else list(t))
        self._kw["topics"] = tuple(flat)
        return self

    def set_topic_pattern(self, pattern: str) -> LogSourceBuilder:
        self._kw["topic_pattern"] = pattern
        return self

    def set_partitions(self, partitions: Sequence[Any]) -> LogSourceBuilder:
        self._kw["partitions"] = tuple(
            (p.topic, p.partition) if hasattr(p, "topic") else (str(p[0]), int(p[1])) for p in partitions
        )
        return self

    def set_group_id(self, group_id: str) -> LogSourceBuilder:
        self._kw["group_id"] = group_id
        return self

    def set_starting_offsets(self, initializer: OffsetsInitializer) -> LogSourceBuilder:
        self._kw["starting_offsets"] = initializer
        return self

    def set_bounded(self, stopping: OffsetsInitializer) -> LogSourceBuilder:
        if stopping.kind not in ("latest", "offsets", "timestamp"):
            raise JobConfigError(f"set_bounded needs latest(), offsets() or timestamp(), got {stopping.kind}()")
        self._kw["bounded"] = stopping
        return self

    def set_unbounded(self, stopping: OffsetsInitializer) -> LogSourceBuilder:
        return self.set_bounded(stopping)

    def set_value_format(self, fmt: str | RegistryFormat, schema: Any = None) -> LogSourceBuilder:
        if isinstance(fmt, RegistryFormat):
            return self._registry_values(fmt)
        self._kw.pop("value_registry", None)
        if fmt not in VALUE_FORMATS:
            raise JobConfigError(f"unknown value format {fmt!r}", hint=f"use one of: {', '.join(VALUE_FORMATS)}")
        if fmt == "avro" and schema is None and "avro_schema" not in self._kw:
            raise JobConfigError("value format 'avro' needs a schema", hint="set_value_format('avro', schema)")
        self._kw["value_format"] = fmt
        if schema is not None:
            self._kw["avro_schema"] = schema
        return self

    def _registry_values(self, fmt: RegistryFormat) -> LogSourceBuilder:
        """Values in Confluent's schema-registry wire format (the runtime reads them through the registry)."""
        self._kw["value_format"] = "bytes"
        self._kw["value_registry"] = fmt
        self._kw.pop("deserializer", None)
        return self

    def set_key_format(self, fmt: RegistryFormat) -> LogSourceBuilder:
        """Also read record keys, in a schema-registry format: elements become ``(key, value)`` pairs (the value
        as the value format or deserializer says; a null key is ``None``)."""
        if not isinstance(fmt, RegistryFormat):
            raise JobConfigError(
                f"set_key_format takes a schema-registry format, got {type(fmt).__name__}",
                hint="e.g. ConfluentRegistryAvroDeserializationSchema.for_generic(None, url); for other keys use "
                "set_deserializer(lambda record: (record.key, ...))",
            )
        self._kw["key_registry"] = fmt
        return self

    def set_value_only_deserializer(self, deserializer: Any) -> LogSourceBuilder:
        if isinstance(deserializer, RegistryFormat):
            return self._registry_values(deserializer)
        fn = getattr(deserializer, "deserialize", deserializer)
        if isinstance(deserializer, str):
            return self.set_value_format(deserializer)
        self._kw["value_format"] = "bytes"
        self._kw["deserializer"] = lambda rec: fn(rec.value)
        return self

    def set_deserializer(self, deserializer: Callable[[Any], Any]) -> LogSourceBuilder:
        """A function of the whole :class:`~millstream.core.record.Record` (key, value, headers, ...)."""
        self._kw["deserializer"] = deserializer
        return self

    def set_dead_letter_topic(self, topic: str) -> LogSourceBuilder:
        """Route records that fail to deserialize to ``topic`` (same log; it must exist) instead of failing."""
        if not topic:
            raise JobConfigError("the dead-letter topic needs a name", hint="set_dead_letter_topic('bad-records')")
        self._kw["dead_letter_topic"] = topic
        return self

    def set_property(self, key: str, value: Any) -> LogSourceBuilder:
        props = dict(self._kw.get("properties", {}))
        props[key] = str(value)
        self._kw["properties"] = props
        if key == "partition.discovery.interval.ms":
            self._kw["partition_discovery_ms"] = int(value)
        elif key == "commit.offsets.on.checkpoint" or key == "enable.auto.commit":
            self._kw["commit_offsets"] = str(value).lower() == "true"
        return self

    def set_properties(self, props: Mapping[str, Any]) -> LogSourceBuilder:
        for k, v in props.items():
            self.set_property(k, v)
        return self

    def set_client_id_prefix(self, prefix: str) -> LogSourceBuilder:
        return self.set_property("client.id.prefix", prefix)

    def build(self) -> LogSource:
        kw = self._kw
        if not kw.get("topics") and not kw.get("topic_pattern") and not kw.get("partitions"):
            raise JobConfigError("a log source needs topics", hint="call set_topics(...) or set_topic_pattern(...)")
        so = kw.get("starting_offsets")
        if so is not None and so.kind == "committed" and not kw.get("group_id"):
            raise JobConfigError("committed_offsets() needs a group id", hint="call set_group_id(...)")
        return self._cls(**kw)


@dataclass(frozen=True)
class KafkaSource(LogSource):
    """:class:`LogSource` under Flink's name; ``set_bootstrap_servers("h:p")`` selects ``kafka://h:p``."""

    name: str = "KafkaSource"

    @staticmethod
    def builder() -> LogSourceBuilder:
        b = LogSourceBuilder()
        b._cls = KafkaSource
        return b


class DeliveryGuarantee:
    """Sink delivery guarantees (Flink names)."""

    NONE = "none"
    AT_LEAST_ONCE = "at-least-once"
    EXACTLY_ONCE = "exactly-once"


@dataclass(frozen=True)
class LogSink:
    """Writes elements to a topic of a millstream log. Build with ``LogSink.builder()``.

    ``topic`` or ``topic_selector(value) -> topic``; ``key_selector(value) -> key`` (serialized with
    ``key_format``) decides the partition by murmur2 as in Kafka; ``timestamp`` of each output record is the
    element's timestamp when it has one.
    """

    log_url: str | None = None
    topic: str | None = None
    topic_selector: Callable[[Any], str] | None = None
    key_selector: Callable[[Any], Any] | None = None
    key_format: str = "string"
    key_serializer: Callable[[Any], bytes] | None = None
    value_format: str = "json"
    avro_schema: Any = None
    serializer: Callable[[Any], bytes] | None = None
    value_registry: RegistryFormat | None = None
    key_registry: RegistryFormat | None = None
    delivery_guarantee: str = DeliveryGuarantee.AT_LEAST_ONCE
    transactional_id_prefix: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    name: str = "LogSink"

    @staticmethod
    def builder() -> LogSinkBuilder:
        return LogSinkBuilder()


class LogSinkBuilder:
    """Fluent builder for :class:`LogSink` (Flink ``KafkaSinkBuilder`` names, flattened)."""

    _cls: type[LogSink] = LogSink

    def __init__(self) -> None:
        self._kw: dict[str, Any] = {}

    def set_log(self, url: str) -> LogSinkBuilder:
        self._kw["log_url"] = url
        return self

    def set_bootstrap_servers(self, servers: str) -> LogSinkBuilder:
        return self.set_log("kafka://" + servers)

    def set_topic(self, topic: str) -> LogSinkBuilder:
        self._kw["topic"] = topic
        return self

    def set_topic_selector(self, selector: Callable[[Any], str]) -> LogSinkBuilder:
        self._kw["topic_selector"] = selector
        return self

    def set_key_selector(
        self, selector: Callable[[Any], Any], key_format: str | RegistryFormat = "string"
    ) -> LogSinkBuilder:
        """Keys of the records; ``key_format`` a format name or a schema-registry format (subject ``<topic>-key``)."""
        self._kw["key_selector"] = getattr(selector, "get_key", selector)
        if isinstance(key_format, RegistryFormat):
            self._kw["key_registry"] = key_format
            self._kw["key_format"] = "bytes"
        else:
            self._kw.pop("key_registry", None)
            self._kw["key_format"] = key_format
        return self

    def set_value_format(self, fmt: str | RegistryFormat, schema: Any = None) -> LogSinkBuilder:
        if isinstance(fmt, RegistryFormat):
            self._kw["value_registry"] = fmt
            self._kw["value_format"] = "bytes"
            self._kw.pop("serializer", None)
            return self
        self._kw.pop("value_registry", None)
        if fmt not in VALUE_FORMATS:
            raise JobConfigError(f"unknown value format {fmt!r}", hint=f"use one of: {', '.join(VALUE_FORMATS)}")
        self._kw["value_format"] = fmt
        if schema is not None:
            self._kw["avro_schema"] = schema
        return self

    def set_value_serializer(self, serializer: Callable[[Any], bytes] | RegistryFormat) -> LogSinkBuilder:
        if isinstance(serializer, RegistryFormat):
            return self.set_value_format(serializer)
        self._kw.pop("value_registry", None)
        self._kw["serializer"] = getattr(serializer, "serialize", serializer)
        return self

    def set_delivery_guarantee(self, guarantee: str) -> LogSinkBuilder:
        g = str(getattr(guarantee, "value", guarantee)).lower().replace("_", "-")
        if g not in ("none", "at-least-once", "exactly-once"):
            raise JobConfigError(
                f"unknown delivery guarantee {guarantee!r}", hint="use none, at-least-once or exactly-once"
            )
        self._kw["delivery_guarantee"] = g
        return self

    def set_record_serializer(self, serializer: KafkaRecordSerializationSchema) -> LogSinkBuilder:
        """Flink's way to set topic, value and key serialization at once."""
        if serializer.topic:
            self._kw["topic"] = serializer.topic
        if serializer.topic_selector:
            self._kw["topic_selector"] = serializer.topic_selector
        self.set_value_serializer(serializer.value_schema)
        if isinstance(serializer.key_schema, RegistryFormat):
            self.set_key_selector(lambda v: v, serializer.key_schema)
        elif serializer.key_schema is not None:
            key_ser = serializer.key_schema.serialize
            self._kw["key_selector"] = lambda v: v
            self._kw["key_serializer"] = key_ser
        return self

    def set_transactional_id_prefix(self, prefix: str) -> LogSinkBuilder:
        self._kw["transactional_id_prefix"] = prefix
        return self

    def set_property(self, key: str, value: Any) -> LogSinkBuilder:
        props = dict(self._kw.get("properties", {}))
        props[key] = str(value)
        self._kw["properties"] = props
        return self

    def build(self) -> LogSink:
        kw = self._kw
        if not kw.get("topic") and not kw.get("topic_selector"):
            raise JobConfigError("a log sink needs a topic", hint="call set_topic(...) or set_topic_selector(...)")
        return self._cls(**kw)


@dataclass(frozen=True)
class KafkaSink(LogSink):
    """:class:`LogSink` under Flink's name."""

    name: str = "KafkaSink"

    @staticmethod
    def builder() -> LogSinkBuilder:
        b = LogSinkBuilder()
        b._cls = KafkaSink
        return b


@dataclass(frozen=True)
class FileSource:
    """Reads text files line by line: ``FileSource.for_paths("a.txt", ...)`` (``format`` ``text`` gives str
    lines, ``json`` parses each line). Bounded; elements have no timestamp unless a strategy assigns one."""

    paths: tuple[str, ...]
    format: str = "text"
    name: str = "FileSource"

    @staticmethod
    def for_paths(*paths: str, format: str = "text") -> FileSource:
        if format not in ("text", "json"):
            raise JobConfigError(f"unknown file format {format!r}", hint="use text or json")
        if not paths:
            raise JobConfigError("FileSource needs at least one path")
        return FileSource(tuple(str(p) for p in paths), format)

    @staticmethod
    def for_record_stream_format(stream_format: Any, *paths: str) -> FileSource:
        """PyFlink's builder start: ``StreamFormat.text_line_format()`` reads text lines."""
        return FileSource.for_paths(*paths)

    def process_static_file_set(self) -> FileSource:
        """PyFlink's builder step: the files are read once (millstream's FileSource is bounded)."""
        return self

    def build(self) -> FileSource:
        """PyFlink's builder end: the source itself."""
        return self

    def with_format(self, format: str) -> FileSource:
        return replace(self, format=format)


@dataclass(frozen=True)
class FileSink:
    """Writes one line per element to ``path`` (``format`` ``text`` = ``str(value)``, ``json`` = JSON).

    With ``delivery_guarantee`` exactly-once (needs checkpointing), ``path`` is a directory and each
    checkpoint commits one part file atomically (stage, then rename on checkpoint completion)."""

    path: str
    format: str = "text"
    name: str = "FileSink"
    delivery_guarantee: str = "at-least-once"

    @staticmethod
    def for_path(path: str, format: str = "text", delivery_guarantee: str = "at-least-once") -> FileSink:
        if format not in ("text", "json"):
            raise JobConfigError(f"unknown file format {format!r}", hint="use text or json")
        if delivery_guarantee not in ("at-least-once", "exactly-once", "none"):
            raise JobConfigError(
                f"unknown delivery guarantee {delivery_guarantee!r}", hint="use at-least-once or exactly-once"
            )
        return FileSink(str(path), format, delivery_guarantee=delivery_guarantee)


@dataclass(frozen=True)
class PrintSink:
    """Prints ``str(value)`` per line to stdout (or stderr), optionally prefixed ``"<identifier>> "``."""

    identifier: str | None = None
    stderr: bool = False
    name: str = "Print"


@dataclass(frozen=True, eq=False)
class CollectionSource:
    """A Python collection as a bounded source (``env.from_collection``). Elements carry no timestamp
    unless ``timestamps`` gives one per element."""

    elements: tuple[Any, ...]
    timestamps: tuple[int, ...] | None = None
    name: str = "Collection Source"


@dataclass(frozen=True, eq=False)
class FunctionSource:
    """A legacy :class:`~millstream.stream.functions.SourceFunction` or a generator function
    (``env.add_source``)."""

    function: Any
    name: str = "Custom Source"


@dataclass(frozen=True, eq=False)
class FunctionSink:
    """A legacy :class:`~millstream.stream.functions.SinkFunction` or a callable (``add_sink``)."""

    function: Any
    name: str = "Sink"


__all__ = [
    "VALUE_FORMATS",
    "CollectionSource",
    "DeliveryGuarantee",
    "FileSink",
    "FileSource",
    "FunctionSink",
    "FunctionSource",
    "JsonSchema",
    "KafkaOffsetResetStrategy",
    "KafkaRecordSerializationSchema",
    "KafkaSink",
    "KafkaSource",
    "LogSink",
    "LogSinkBuilder",
    "LogSource",
    "LogSourceBuilder",
    "OffsetResetStrategy",
    "OffsetsInitializer",
    "PrintSink",
    "SimpleStringSchema",
]
