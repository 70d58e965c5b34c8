"""Dead-letter routing for log sources: records that fail to deserialize go to a topic instead of failing the job.

A log source built with ``set_dead_letter_topic(topic)`` decodes each batch as usual; when a record of the
batch cannot be decoded (bad JSON, a wrong Avro payload, a custom deserializer raising), that record is
appended to the dead-letter topic unchanged — key, value, timestamp and headers as read — with headers
naming where it came from and why it failed, and the job goes on with the batch's other records. Without a
dead-letter topic such a record fails the job, naming topic, partition and offset: a record is never
skipped silently.

Headers added (Kafka Connect's ``__connect.errors.*`` scheme, under millstream's prefix):
``__millstream.errors.topic``, ``__millstream.errors.partition``, ``__millstream.errors.offset``,
``__millstream.errors.exception.class.name``, ``__millstream.errors.exception.message``, and
``__millstream.errors.source.name`` (the source's name in the job).

Delivery to the dead-letter topic is at-least-once: the append is acknowledged before the source's
position moves past the record, so a restart from an earlier checkpoint may route the same record again
(as Kafka Connect's dead-letter queue does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..core.record import ProducerRecord, Record
from ..log.base import Log

HEADER_PREFIX = "__millstream.errors."


def error_headers(record: Record, exc: BaseException, source_name: str) -> tuple[tuple[str, bytes], ...]:
    """The headers that say where ``record`` came from and why it could not be decoded."""
    message = str(exc) or type(exc).__name__
    return (
        (HEADER_PREFIX + "topic", record.topic.encode()),
        (HEADER_PREFIX + "partition", str(record.partition).encode()),
        (HEADER_PREFIX + "offset", str(record.offset).encode()),
        (HEADER_PREFIX + "exception.class.name", f"{type(exc).__module__}.{type(exc).__qualname__}".encode()),
        (HEADER_PREFIX + "exception.message", message.encode("utf-8", "replace")[:4096]),
        (HEADER_PREFIX + "source.name", source_name.encode()),
    )


class DeadLetterRouter:
    """Decodes records one by one and sends those that fail to a dead-letter topic of ``log``.

    ``decode`` maps one :class:`Record` to an element, raising on a record it cannot decode. The topic must
    exist (checked when the source opens), so a misspelt name fails the job at start, not at the first bad
    record.
    """

    def __init__(self, log: Log, topic: str, source_name: str) -> None:
        self.log = log
        self.topic = topic
        self.source_name = source_name
        self.routed = 0
        log.describe_topic(topic)  # UnknownTopicError names the topic

    def decode(self, records: Sequence[Record], decode: Callable[[Record], Any]) -> tuple[list[Any], list[int]]:
        """``(values, timestamps)`` of the records that decode; the others are appended to the topic first."""
        values: list[Any] = []
        timestamps: list[int] = []
        bad: list[ProducerRecord] = []
        for r in records:
            try:
                v = decode(r)
            except Exception as exc:  # any decoding failure is routed, never dropped
                headers = tuple(r.headers) + error_headers(r, exc, self.source_name)
                bad.append(ProducerRecord(r.value, r.key, r.timestamp, headers))
                continue
            values.append(v)
            timestamps.append(r.timestamp)
        if bad:
            self.log.produce(self.topic, bad)
            self.routed += len(bad)
        return values, timestamps


__all__ = ["HEADER_PREFIX", "DeadLetterRouter", "error_headers"]
