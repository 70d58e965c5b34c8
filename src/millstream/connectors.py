"""Public façade: sources and sinks (see :mod:`millstream.stream.connectors`)."""

from .stream.connectors import (
    CollectionSource,
    DeliveryGuarantee,
    FileSink,
    FileSource,
    JsonSchema,
    KafkaOffsetResetStrategy,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    LogSink,
    LogSource,
    OffsetResetStrategy,
    OffsetsInitializer,
    PrintSink,
    SimpleStringSchema,
)
from .stream.registry_schemas import (
    ConfluentRegistryAvroDeserializationSchema,
    ConfluentRegistryAvroSerializationSchema,
    ConfluentRegistryJsonSchemaDeserializationSchema,
    ConfluentRegistryJsonSchemaSerializationSchema,
    ConfluentRegistryProtobufDeserializationSchema,
    ConfluentRegistryProtobufSerializationSchema,
    RegistryFormat,
)

KafkaOffsetsInitializer = OffsetsInitializer
"""PyFlink's name for :class:`OffsetsInitializer`."""

__all__ = [
    "CollectionSource",
    "ConfluentRegistryAvroDeserializationSchema",
    "ConfluentRegistryAvroSerializationSchema",
    "ConfluentRegistryJsonSchemaDeserializationSchema",
    "ConfluentRegistryJsonSchemaSerializationSchema",
    "ConfluentRegistryProtobufDeserializationSchema",
    "ConfluentRegistryProtobufSerializationSchema",
    "DeliveryGuarantee",
    "FileSink",
    "FileSource",
    "JsonSchema",
    "KafkaOffsetResetStrategy",
    "KafkaOffsetsInitializer",
    "KafkaRecordSerializationSchema",
    "KafkaSink",
    "KafkaSource",
    "LogSink",
    "LogSource",
    "OffsetResetStrategy",
    "OffsetsInitializer",
    "PrintSink",
    "RegistryFormat",
    "SimpleStringSchema",
]
