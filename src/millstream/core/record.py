"""Records as they are stored in and read from the log.

:class:`Record` is a named tuple so that backends can build it from a stored tuple in C
(``tuple.__new__(Record, row)``) — reading a million records a second leaves no room for a Python-level
constructor call per record. Fields follow Kafka's ``ConsumerRecord``.
"""

from __future__ import annotations

from typing import NamedTuple

Headers = tuple[tuple[str, bytes | None], ...]
"""Record headers: an ordered sequence of ``(name, value)`` pairs; names may repeat, as in Kafka."""


class TopicPartition(NamedTuple):
    """A partition of a topic."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]"


class Record(NamedTuple):
    """A record read from the log.

    ``timestamp`` is epoch milliseconds (Kafka's CreateTime: set by the producer, or the append time when
    the producer gave none). ``key`` and ``value`` are bytes (``None`` for a null key or a tombstone).
    """

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


class ProducerRecord(NamedTuple):
    """A record to append to the log.

    ``timestamp`` ``None`` means "now" (the log's clock at append time). ``partition`` ``None`` means
    "choose by key" (Kafka's murmur2 partitioner) when producing to a topic; it is ignored by
    ``Log.append``, which is told the partition explicitly. A plain tuple in the same field order is
    accepted wherever a ``ProducerRecord`` is.
    """

    value: bytes | None
    key: bytes | None = None
    timestamp: int | None = None
    headers: Headers = ()
    partition: int | None = None


__all__ = ["Headers", "ProducerRecord", "Record", "TopicPartition"]
