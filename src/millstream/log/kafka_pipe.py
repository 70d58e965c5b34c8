"""A Kafka partition piped into a Kafka topic: :meth:`KafkaLog.values_pipe <millstream.log.kafka.KafkaLog.
values_pipe>`, the round of a job that maps one partition's records into a topic, in one call.

A round takes the messages the partition's reader polls (:meth:`~millstream.log.kafka_reader.PartitionHandle.
poll_messages`: librdkafka's messages as they come) and hands them to the writing log's producer of appends
without waiting (:meth:`~millstream.log.kafka_producer.KafkaAppender.async_queue`) by one ``map`` of ``produce``
over their converted values and their timestamps. Each value is converted (decoded, mapped, serialized: the
caller's ``convert`` functions, a ``map`` each) as the producer takes it, so no list of values, elements or
serialized values is built, and nothing runs in Python per record but the caller's own functions.

What a write checks is checked before anything is produced, and a batch that fails a check goes back to the
caller as values, to be written its own way (:class:`~millstream.log.columns.ValuesPipes`): the records'
timestamps (librdkafka reads 0 as "now"), and room in the producer's local queue for the whole batch — an
element the producer refused would be gone, as it was converted already.

Where pulling a converted value raises, the record it was made of is told by how far the iterators went:
``map`` pulls a call's arguments in order, the value before the timestamp, so a failure of the conversion leaves
the timestamps one behind the messages, and a failure of ``produce`` itself (which took both) does not.

A round is the hot path of a tailing job (a wake-up, on cold caches, where each Python call costs microseconds),
so the pipe takes the partition handle's reader and the appender's error state as the handle and the appender
would, without their calls (it is part of the Kafka log, as they are).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from itertools import repeat
from operator import itemgetter, length_hint
from typing import Any, NoReturn

from confluent_kafka import KafkaException, Message

from ..core.errors import BrokerError
from ..core.record import Record
from .columns import Convert, PipeFailed, ValuesPipe
from .kafka_errors import translate
from .kafka_producer import KafkaAppender
from .kafka_reader import PartitionHandle

_value, _timestamp = Message.value, Message.timestamp  # unbound: fast with map()
_second = itemgetter(1)  # the milliseconds of a message's (type, timestamp)


def _record(m: Any) -> Record:
    """The :class:`Record` of a message (a failing one, handed to ``failed``)."""
    return Record(m.topic(), m.partition(), m.offset(), m.timestamp()[1], m.key(), m.value(), tuple(m.headers() or ()))


def make_values_pipe(
    handle: PartitionHandle, appender: KafkaAppender, topic: str, bootstrap: str, convert: Convert, failed: PipeFailed
) -> ValuesPipe:
    """The pipe of ``handle``'s partition into ``topic`` through ``appender`` (a cluster at ``bootstrap``): see
    the module docstring and :meth:`ValuesPipes.values_pipe <millstream.log.columns.ValuesPipes.values_pipe>`."""
    queue = appender.async_queue()
    producer, room = queue.producer, queue.room
    produce, serve = producer.produce, producer.poll
    poll_messages, check_async, callback = handle.poll_messages, appender.check_async, appender.async_failed
    known_end = handle._known_end

    def produce_failed(exc: Exception, partition: int) -> NoReturn:
        """Raise what a write raises for ``produce``'s exception ``exc``."""
        if isinstance(exc, KafkaException):
            raise translate(exc, bootstrap, f"appending to {topic}[{partition}]", topic=topic) from exc
        if isinstance(exc, BufferError):  # (room was checked: only with another thread writing through it)
            raise BrokerError(
                f"appending to {topic}[{partition}]: the producer's local queue filled up while a batch was "
                "handed over element by element, and the element it refused is gone",
                hint="write to this log's topics from one thread at a time; the job restarts from its last "
                "committed position (at least once)",
            ) from exc
        raise exc

    def pipe(offset: int, max_records: int, timeout_s: float, partition: int) -> tuple[int, int, Any, Any]:
        if appender._async_error is not None:  # (check_async's test, without its call)
            check_async()
        r = handle._reader  # (the handle's poll_messages, without its call: the reader under its lock)
        with r.lock:
            got = None if r.closed else r.poll_messages(offset, max_records, None, known_end, timeout_s)
        if got is None:  # (the pool closed the reader: the handle takes a new one)
            got = poll_messages(offset, max_records, timeout_s)
        if not isinstance(got, list):
            nxt, values, tss = got
            return nxt, len(values), values, tss
        n = len(got)
        tss = list(map(_second, map(_timestamp, got)))
        nxt = got[-1].offset() + 1
        if min(tss) <= 0 or len(producer) + n > room:
            return nxt, n, list(map(_value, got)), tss
        start = 0
        while start < n:
            k = n - start
            msgs, stamps = (iter(got), iter(tss)) if not start else (iter(got[start:]), iter(tss[start:]))
            converted: Iterator[Any] = map(_value, msgs)
            for f in convert:
                converted = map(f, converted)
            try:  # produce(topic, value, key, partition, on_delivery, callback, timestamp, headers), positionally
                deque(
                    map(
                        produce,
                        repeat(topic, k),
                        converted,
                        repeat(None, k),
                        repeat(partition, k),
                        repeat(callback, k),
                        repeat(None, k),
                        stamps,
                        repeat(None, k),
                    ),
                    maxlen=0,
                )
                break
            except Exception as exc:
                left = length_hint(msgs)
                if length_hint(stamps) == left:  # produce itself raised: it had taken the record's timestamp
                    produce_failed(exc, partition)
                i = n - left - 1
                value = failed(exc, i, _record(got[i]))  # raises, or gives what to write for record i
                try:
                    produce(topic, value, None, partition, callback, None, tss[i], None)
                except Exception as exc2:
                    produce_failed(exc2, partition)
                start = i + 1
        serve(0)
        return nxt, n, None, None

    return pipe


__all__ = ["make_values_pipe"]
