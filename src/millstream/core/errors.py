"""millstream's exception tree.

Every error millstream raises on purpose derives from :class:`MillstreamError`. Each carries a message that
names the thing that went wrong and, where there is one, a ``hint`` saying what to do about it. The CLI
prints ``error: <message>`` (plus the hint) and exits with :attr:`MillstreamError.exit_code`; it shows a
traceback only for errors that are not a ``MillstreamError`` (bugs) or with ``--verbose``.

::

    MillstreamError
     ├── ConfigError                  bad URL, option, properties file, or argument
     ├── SerdeError                   a value could not be (de)serialized
     ├── LogError                     the partitioned log
     │    ├── UnknownTopicError
     │    ├── TopicExistsError
     │    ├── UnknownPartitionError   partition out of range
     │    ├── InvalidOffsetError      negative or otherwise invalid offset argument
     │    ├── OffsetOutOfRangeError   offset before the log start or after the log end
     │    ├── CorruptLogError         the path holds no millstream log, or a damaged one
     │    ├── TransactionError        a transaction could not commit (nothing of it is visible)
     │    └── BrokerError             a Kafka cluster reported or caused an error
     ├── StreamError                  building or running a stream job
     │    └── (defined in millstream.stream / millstream.runtime)
     ├── CheckpointError              checkpoints, savepoints and recovery
     └── ConnectError                 the connect framework, connectors and tasks
"""

from __future__ import annotations


class MillstreamError(Exception):
    """Base of every error millstream raises on purpose.

    ``message`` says what is wrong (naming the topic, file, operator, ...); ``hint`` says how to fix it.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigError(MillstreamError, ValueError):
    """A URL, option, config file or argument is invalid."""

    exit_code = 2


class SerdeError(MillstreamError, ValueError):
    """A key or value could not be serialized or deserialized."""


class LogError(MillstreamError):
    """Base of errors from the partitioned log."""


class UnknownTopicError(LogError, KeyError):
    """The topic does not exist."""

    def __init__(self, topic: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"unknown topic {topic!r}",
            hint=hint or f"create it first, e.g. `millstream topics create {topic} --partitions N`",
        )
        self.topic = topic

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return MillstreamError.__str__(self)


class TopicExistsError(LogError):
    """A topic of that name already exists."""

    def __init__(self, topic: str) -> None:
        super().__init__(
            f"topic {topic!r} already exists",
            hint="pick another name, or pass exist_ok / --if-not-exists",
        )
        self.topic = topic


class UnknownPartitionError(LogError, IndexError):
    """The partition number is outside ``0 .. partitions-1`` of the topic."""

    def __init__(self, topic: str, partition: int, partitions: int) -> None:
        super().__init__(
            f"partition {partition} out of range for topic {topic!r}, which has {partitions} "
            f"partition{'s' if partitions != 1 else ''} (0..{partitions - 1})",
            hint="use a partition number between 0 and partitions-1",
        )
        self.topic = topic
        self.partition = partition
        self.partitions = partitions


class InvalidOffsetError(LogError, ValueError):
    """An offset argument is invalid (for example negative)."""


class OffsetOutOfRangeError(LogError):
    """The offset is before the earliest retained offset or after the log end offset."""

    def __init__(self, topic: str, partition: int, offset: int, earliest: int, latest: int) -> None:
        super().__init__(
            f"offset {offset} out of range for {topic}[{partition}]: valid offsets are {earliest}..{latest}",
            hint="seek to the earliest or latest offset (auto.offset.reset), or pick an offset in range",
        )
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.earliest = earliest
        self.latest = latest


class WakeupError(LogError):
    """A consumer's blocking call was cut short by :meth:`~millstream.log.consumer.Consumer.wakeup` (Kafka's
    ``WakeupException``): another thread asked the reading thread to stop waiting."""


class CorruptLogError(LogError):
    """The log path holds something that is not a (healthy) millstream log."""


class TransactionError(LogError):
    """A log transaction failed; none of its writes or offset commits are visible."""


class FencedError(TransactionError):
    """A transaction's precondition did not hold: another writer replaced this one (it is a zombie)."""


class BrokerError(LogError):
    """A Kafka cluster reported an error or could not be reached."""


class BrokerTimeoutError(BrokerError):
    """A Kafka cluster gave no answer within the client's timeout (it may still answer later)."""


class StreamError(MillstreamError):
    """Base of errors from building or running a stream job."""


class CheckpointError(MillstreamError):
    """Base of errors from checkpoints, savepoints and recovery."""


class ConnectError(MillstreamError):
    """Base of errors from the connect framework and its connectors."""


__all__ = [
    "BrokerError",
    "BrokerTimeoutError",
    "CheckpointError",
    "ConfigError",
    "ConnectError",
    "CorruptLogError",
    "FencedError",
    "InvalidOffsetError",
    "LogError",
    "MillstreamError",
    "OffsetOutOfRangeError",
    "SerdeError",
    "StreamError",
    "TopicExistsError",
    "TransactionError",
    "UnknownPartitionError",
    "UnknownTopicError",
    "WakeupError",
]
