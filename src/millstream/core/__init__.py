"""millstream.core: records, errors, serde, clock and sensors — the layer everything else stands on."""

from .clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock
from .errors import (
    BrokerError,
    CheckpointError,
    ConfigError,
    ConnectError,
    CorruptLogError,
    InvalidOffsetError,
    LogError,
    MillstreamError,
    OffsetOutOfRangeError,
    SerdeError,
    StreamError,
    TopicExistsError,
    TransactionError,
    UnknownPartitionError,
    UnknownTopicError,
)
from .record import Headers, ProducerRecord, Record, TopicPartition
from .serde import AvroSerde, BytesSerde, JsonSerde, Serde, StringSerde, get_serde

__all__ = [
    "SYSTEM_CLOCK",
    "AvroSerde",
    "BrokerError",
    "BytesSerde",
    "CheckpointError",
    "Clock",
    "ConfigError",
    "ConnectError",
    "CorruptLogError",
    "Headers",
    "InvalidOffsetError",
    "JsonSerde",
    "LogError",
    "ManualClock",
    "MillstreamError",
    "OffsetOutOfRangeError",
    "ProducerRecord",
    "Record",
    "Serde",
    "SerdeError",
    "StreamError",
    "StringSerde",
    "SystemClock",
    "TopicExistsError",
    "TopicPartition",
    "TransactionError",
    "UnknownPartitionError",
    "UnknownTopicError",
    "get_serde",
]
