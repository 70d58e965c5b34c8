"""Public façade: sources and sinks (see :mod:`millstream.stream.connectors`)."""

from .stream.connectors import (
    CollectionSource,
    DeliveryGuarantee,
    FileSink,
    FileSource,
    KafkaSink,
    KafkaSource,
    LogSink,
    LogSource,
    OffsetResetStrategy,
    OffsetsInitializer,
    PrintSink,
)

KafkaOffsetsInitializer = OffsetsInitializer
"""PyFlink's name for :class:`OffsetsInitializer`."""

__all__ = [
    "CollectionSource",
    "DeliveryGuarantee",
    "FileSink",
    "FileSource",
    "KafkaOffsetsInitializer",
    "KafkaSink",
    "KafkaSource",
    "LogSink",
    "LogSource",
    "OffsetResetStrategy",
    "OffsetsInitializer",
    "PrintSink",
]
