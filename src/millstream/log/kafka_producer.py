"""Writing to a Kafka cluster: synchronous, idempotent appends and partitioned produces.

:class:`KafkaAppender` owns one idempotent librdkafka producer (``enable.idempotence=true`` unless the user's
properties say otherwise). ``append`` and ``produce`` queue the records, then wait until every record is
acknowledged by the cluster (``acks=all``) or has failed, so that when they return the records are durable
as the cluster defines it, and the offsets they return are the offsets the cluster assigned.

Records keep their key, value, headers and CreateTime timestamp; a record without a timestamp gets the
log's clock time (with the system clock librdkafka stamps it). Keyed records in ``produce`` are placed by
librdkafka's ``murmur2_random`` partitioner, which is Kafka's Java partitioner and equals
:func:`millstream.log.partitioner.partition_for_key`; keyless records go round-robin as the ``Log``
contract says.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from itertools import repeat
from operator import itemgetter, length_hint
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.errors import BrokerError, ConfigError, UnknownPartitionError, UnknownTopicError
from ..core.record import ProducerRecord, TopicPartition
from .kafka_admin import KafkaAdmin
from .kafka_config import KafkaSettings
from .kafka_errors import make_client, translate, unreachable


class Delivery:
    """Collects delivery reports of one batch: first and last offset, count, and errors."""

    __slots__ = ("count", "errors", "first", "last", "partition")

    def __init__(self) -> None:
        self.count = 0
        self.first = -1
        self.last = -1
        self.partition = -1
        self.errors: list[KafkaError] = []

    def __call__(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.errors.append(err)
            return
        off = msg.offset()
        if self.count == 0 or off < self.first:
            self.first = off
        if off > self.last:
            self.last = off
        self.partition = msg.partition()
        self.count += 1


class Placements:
    """Collects ``(partition, offset)`` per record of a ``produce`` call, by the record's index."""

    __slots__ = ("errors", "results")

    def __init__(self, n: int) -> None:
        self.results: list[tuple[int, int] | None] = [None] * n
        self.errors: list[KafkaError] = []

    def done(self, index: int, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.errors.append(err)
        else:
            self.results[index] = (msg.partition(), msg.offset())


def record_fields(rec: Any) -> tuple[Any, Any, Any, Any, Any]:
    """``(value, key, timestamp, headers, partition)`` of a ProducerRecord or a shorter plain tuple."""
    if type(rec) is ProducerRecord:
        return rec
    if not isinstance(rec, tuple):
        rec = (rec,)
    return ProducerRecord(*rec)


def prepare(records: Iterable[Any]) -> list[ProducerRecord]:
    """The records as ``ProducerRecord`` tuples, checked before any is sent (so a bad one sends nothing).

    librdkafka reads a timestamp of 0 as "now", so a record stamped 0 (or negative) cannot be written as
    it is; it is rejected rather than silently re-stamped.
    """
    out = list(records)
    if set(map(type, out)) != {ProducerRecord}:  # plain tuples or values (a list of ProducerRecords is as is)
        out = [record_fields(r) for r in out]
    _check_timestamps(list(map(_TIMESTAMP, out)))
    return out


def _check_timestamps(tss: list[Any]) -> list[Any]:
    """``tss`` as they are; :class:`ConfigError` for a timestamp librdkafka would misread (see :func:`prepare`)."""
    given = [t for t in tss if t is not None] if None in tss else tss
    if given and min(given) <= 0:
        ts = next(t for t in given if t <= 0)
        raise ConfigError(
            f"record timestamp {ts} cannot be written to Kafka through librdkafka, which reads 0 as 'now'",
            hint="use timestamps >= 1 (epoch milliseconds), or None for the append time",
        )
    return tss


_VALUE, _KEY, _TIMESTAMP, _HEADERS = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(3)


def queue_room(config: Mapping[str, Any]) -> int:
    """How many records a producer with librdkafka ``config`` can always take on top of what it holds without
    its local queue filling up: its message limit (``queue.buffering.max.messages``), and its byte limit
    (``queue.buffering.max.kbytes``) over the largest record it takes (``message.max.bytes``)."""
    messages = int(config.get("queue.buffering.max.messages", 100_000))
    kbytes = int(config.get("queue.buffering.max.kbytes", 1_048_576))
    largest = int(config.get("message.max.bytes", 1_000_000))
    return min(messages, kbytes * 1024 // max(1, largest))


class ProduceQueue:
    """Queues records on a librdkafka producer with headers, timestamps and back-pressure handling; ``room``:
    :func:`queue_room` of the producer's config (0: not known)."""

    def __init__(self, producer: Producer, clock: Clock, room: int = 0) -> None:
        self.producer = producer
        self.clock = clock
        self.room = room

    def put(self, topic: str, partition: int, records: Sequence[ProducerRecord], callback: Any) -> int:
        """Queue prepared ``records`` (see :func:`prepare`) to ``topic[partition]``; return how many.

        Records without headers are handed to librdkafka by ``map`` (no Python loop per record); when its
        local queue is full, the rest go one by one, serving delivery reports until there is room."""
        n = len(records)
        if not n:
            return 0
        tss = list(map(_TIMESTAMP, records))
        if None in tss:  # the clock's time; with the system clock librdkafka stamps it (0 means "now")
            now = 0 if self.clock is SYSTEM_CLOCK else self.clock.now_ms()
            tss = [now if t is None else t for t in tss]
        if set(map(type, tss)) != {int}:
            tss = [int(t) for t in tss]
        if any(map(_HEADERS, records)):
            return self._put_each(topic, partition, records, tss, callback)
        done = self._produce_all(topic, partition, map(_VALUE, records), map(_KEY, records), tss, callback)
        if done == n:
            return n
        self.producer.poll(0.05)  # local queue full: serve delivery reports, then go on one by one
        return done + self._put_each(topic, partition, records[done:], tss[done:], callback)

    def put_values(
        self,
        topic: str,
        partition: int,
        values: list[Any],
        tss: list[Any],
        callback: Any,
        serialize: Callable[[Any], bytes | None] | None = None,
    ) -> int:
        """Queue keyless, headerless records given as columns: ``values`` (bytes or ``None``) and their
        timestamps ``tss`` (epoch ms ints, or ``None`` for the clock's time); as :meth:`put` of the same
        records, without building them. Timestamps are checked as :func:`prepare` checks them, before any
        record is queued.

        With ``serialize``, ``values`` are elements, each serialized as it is handed to the producer (which
        copies it), so no serialized value outlives its ``produce`` call. An exception of ``serialize`` is
        raised as it is, the values before the failing one queued."""
        n = len(values)
        if not n:
            return 0
        if set(map(type, tss)) != {int}:
            tss = _check_timestamps(tss)
            if None in tss:
                now = 0 if self.clock is SYSTEM_CLOCK else self.clock.now_ms()
                tss = [now if t is None else t for t in tss]
            tss = [int(t) for t in tss]
        elif min(tss) <= 0:
            _check_timestamps(tss)
        encoded = values if serialize is None else map(serialize, values)
        done = self._produce_all(topic, partition, encoded, repeat(None, n), tss, callback)
        if done == n:
            return n
        self.producer.poll(0.05)  # local queue full: serve delivery reports, then go on one by one
        if serialize is not None:  # serialized one at a time: the values before one that fails are queued
            for v, t in zip(values[done:], tss[done:], strict=True):
                done += self._put_each(topic, partition, [ProducerRecord(serialize(v), None, t)], [t], callback)
            return done
        rest = [ProducerRecord(v, None, t) for v, t in zip(values[done:], tss[done:], strict=True)]
        return done + self._put_each(topic, partition, rest, tss[done:], callback)

    def _produce_all(
        self, topic: str, partition: int, values: Iterable[Any], keys: Iterable[Any], tss: list[int], callback: Any
    ) -> int:
        """Hand the records to librdkafka by ``map`` (no Python loop per record); how many it took (fewer when
        its local queue filled up)."""
        n = len(tss)
        left = iter(tss)
        try:  # produce(topic, value, key, partition, on_delivery, callback, timestamp, headers), positionally
            deque(
                map(
                    self.producer.produce,
                    repeat(topic, n),
                    values,
                    keys,
                    repeat(partition, n),
                    repeat(callback, n),
                    repeat(None, n),
                    left,
                    repeat(None, n),
                ),
                maxlen=0,
            )
            return n
        except BufferError:
            return n - length_hint(left) - 1  # map took the failed record's arguments before the call

    def _put_each(
        self, topic: str, partition: int, records: Sequence[ProducerRecord], tss: list[int], callback: Any
    ) -> int:
        produce = self.producer.produce
        for rec, ts in zip(records, tss, strict=True):
            headers = rec[3]
            hdrs: Any = list(headers) if headers else None
            while True:
                try:
                    produce(topic, rec[0], rec[1], partition, on_delivery=callback, timestamp=ts, headers=hdrs)
                    break
                except BufferError:
                    self.producer.poll(0.05)  # local queue full: serve delivery reports, then retry
        return len(records)


class KafkaAppender:
    """The log's idempotent producer: synchronous ``append`` and ``produce`` (see the module docstring)."""

    def __init__(self, settings: KafkaSettings, admin: KafkaAdmin, clock: Clock) -> None:
        self._s = settings
        self._admin = admin
        self._producer = make_client(Producer, settings.producer_config(), "producer")
        self._queue = ProduceQueue(self._producer, clock)
        self._rr: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._async_error: tuple[KafkaError, str, int] | None = None
        self._async_queue: ProduceQueue | None = None
        self._connected = False
        self.produced_end: dict[tuple[str, int], int] = {}
        """Per partition, one past the highest offset this process has written (exact even where a
        broker's high watermark lags)."""

    def close(self) -> None:
        """Deliver what is queued (up to the timeout) and drop the producers."""
        self._producer.flush(self._s.timeout_s)
        if self._async_queue is not None:
            self._async_queue.producer.flush(self._s.timeout_s)

    def warm_up(self, topic: str) -> None:
        """Connect the producer of ``append_nowait`` and fetch ``topic``'s metadata now (an idempotent
        producer gets its producer id on connecting), so the first records do not wait for that."""
        self._fetch_metadata(self.async_queue().producer, topic)

    def _connect(self, topic: str) -> None:
        """Before the synchronous producer's first write: fetch ``topic``'s metadata, which connects it now. Left
        to itself, a new idempotent producer's first write waits about a second for its producer id (librdkafka
        starts getting one on a timer); this makes it wait milliseconds (the first heartbeat, claim or output
        record of a process on Kafka). Does nothing once connected."""
        if not self._connected:
            self._fetch_metadata(self._producer, topic)
            self._connected = True

    def _fetch_metadata(self, producer: Producer, topic: str) -> None:
        try:
            producer.list_topics(topic, timeout=self._s.timeout_s)
        except KafkaException as exc:
            raise translate(exc, self._s.bootstrap, f"connecting the producer for {topic!r}", topic=topic) from exc

    def note_written(self, topic: str, partition: int, last_offset: int) -> None:
        """Remember that ``topic[partition]`` holds records up to ``last_offset``."""
        key = (topic, partition)
        if self.produced_end.get(key, 0) <= last_offset:
            self.produced_end[key] = last_offset + 1

    def forget_topic(self, topic: str) -> None:
        """Forget what was written to ``topic`` (it was deleted)."""
        for key in [k for k in self.produced_end if k[0] == topic]:
            del self.produced_end[key]
        self._rr.pop(topic, None)

    def _wait(self, pending: int, what: str, topic: str, collected: Any) -> None:
        remaining = self._producer.flush(self._s.timeout_s + 5.0)
        if remaining and len(collected.errors) < pending:
            raise unreachable(self._s.bootstrap, what, self._s.timeout_s, f"{remaining} record(s) still in flight")
        if collected.errors:
            err = collected.errors[0]
            if err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                self._admin.forget(topic)
                raise UnknownTopicError(topic)
            failed = len(collected.errors)
            exc = translate(err, self._s.bootstrap, what, topic=topic)
            if isinstance(exc, BrokerError) and failed < pending:
                raise BrokerError(f"{exc.message}; {failed} of {pending} records were not written", hint=exc.hint)
            raise exc

    def append(self, topic: str, partition: int, records: Sequence[ProducerRecord]) -> int:
        """Write ``records`` to ``topic[partition]`` and wait for them; return the first record's offset."""
        self._admin.check_partition(topic, partition)
        self._connect(topic)
        batch = prepare(records)
        delivery = Delivery()
        what = f"appending to {topic}[{partition}]"
        try:
            n = self._queue.put(topic, partition, batch, delivery)
        except KafkaException as exc:
            self._producer.flush(self._s.timeout_s)
            raise translate(exc, self._s.bootstrap, what, topic=topic) from exc
        if n == 0:
            tp = TopicPartition(topic, partition)
            return self._admin.watermarks([tp])[tp][1]
        self._wait(n, what, topic, delivery)
        self.note_written(topic, partition, delivery.last)
        return delivery.first

    def append_nowait(self, topic: str, partition: int, records: Sequence[ProducerRecord]) -> None:
        """Queue ``records`` to ``topic[partition]`` without waiting for them (:meth:`flush` waits).

        A record the cluster refused makes this call (or the next, or ``flush``) raise, naming the first
        error; records are never dropped silently.
        """
        self._raise_async_error()
        self._admin.check_partition(topic, partition)
        batch = prepare(records)
        what = f"appending to {topic}[{partition}]"
        queue = self.async_queue()
        try:
            queue.put(topic, partition, batch, self._async_failed)
        except KafkaException as exc:
            raise translate(exc, self._s.bootstrap, what, topic=topic) from exc
        queue.producer.poll(0)

    def append_values_nowait(
        self,
        topic: str,
        partition: int,
        values: list[Any],
        tss: list[Any],
        serialize: Callable[[Any], bytes | None] | None = None,
    ) -> None:
        """:meth:`append_nowait` of keyless records without headers given as columns (``values``, ``tss``;
        ``serialize``: see :meth:`ProduceQueue.put_values`)."""
        if self._async_error is not None:
            self._raise_async_error()
        self._admin.check_partition(topic, partition)
        queue = self.async_queue()
        try:
            queue.put_values(topic, partition, values, tss, self._async_failed, serialize)
        except KafkaException as exc:
            raise translate(exc, self._s.bootstrap, f"appending to {topic}[{partition}]", topic=topic) from exc
        queue.producer.poll(0)

    def values_writer(
        self, topic: str, partition: int
    ) -> Callable[[list[Any], list[Any], Callable[[Any], bytes | None] | None], None]:
        """:meth:`append_values_nowait` prepared for one partition (checked now, once), as a function of
        ``(values, tss, serialize)``: for a writer that appends to the same partition again and again."""
        self._admin.check_partition(topic, partition)
        queue = self.async_queue()
        put_values, poll, failed, bootstrap = (
            queue.put_values,
            queue.producer.poll,
            self._async_failed,
            self._s.bootstrap,
        )

        def write(values: list[Any], tss: list[Any], serialize: Callable[[Any], bytes | None] | None = None) -> None:
            if self._async_error is not None:
                self._raise_async_error()
            try:
                put_values(topic, partition, values, tss, failed, serialize)
            except KafkaException as exc:
                raise translate(exc, bootstrap, f"appending to {topic}[{partition}]", topic=topic) from exc
            poll(0)

        return write

    def async_queue(self) -> ProduceQueue:
        """The queue of :meth:`append_nowait` and its kin (made on first use): its producer reports failed
        deliveries only, to :meth:`async_failed`, and they are raised by the next write (:meth:`check_async`)."""
        queue = self._async_queue
        if queue is None:
            queue = self._async_queue = self._make_async_queue()
        return queue

    def _make_async_queue(self) -> ProduceQueue:
        # A producer of its own that reports failed deliveries only: no Python call per delivered record.
        # Records it writes do not count in ``produced_end``.
        config = self._s.producer_config(**{"delivery.report.only.error": True})
        return ProduceQueue(make_client(Producer, config, "producer"), self._queue.clock, queue_room(config))

    def _async_failed(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None and self._async_error is None:
            self._async_error = (err, msg.topic(), msg.partition())

    async_failed = _async_failed
    """The delivery callback of :meth:`async_queue`'s records: keeps the first failure for :meth:`check_async`."""

    def check_async(self) -> None:
        """Raise the first failed delivery of :meth:`async_queue`'s records, if one failed since the last check."""
        if self._async_error is not None:
            self._raise_async_error()

    def _raise_async_error(self) -> None:
        failed = self._async_error
        if failed is None:
            return
        self._async_error = None
        err, topic, partition = failed
        if err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
            self._admin.forget(topic)
            raise UnknownTopicError(topic)
        raise translate(err, self._s.bootstrap, f"appending to {topic}[{partition}]", topic=topic)

    def flush(self) -> None:
        """Wait until every record queued by :meth:`append_nowait` is acknowledged; raise the first error."""
        remaining = 0 if self._async_queue is None else self._async_queue.producer.flush(self._s.timeout_s + 5.0)
        self._raise_async_error()
        if remaining:
            raise unreachable(
                self._s.bootstrap, "flushing appends", self._s.timeout_s, f"{remaining} record(s) still in flight"
            )

    def produce(self, topic: str, records: Iterable[ProducerRecord]) -> list[tuple[int, int]]:
        """Write records partitioned as a Kafka producer would; return ``(partition, offset)`` per record."""
        n = self._admin.partition_count(topic)
        self._connect(topic)
        recs = prepare(records)
        rr = self._rr.get(topic)
        if rr is None:
            rr = self._rr[topic] = itertools.cycle(range(n))
        placements = Placements(len(recs))
        what = f"producing to topic {topic!r}"
        produce = self._producer.produce
        system = self._queue.clock is SYSTEM_CLOCK
        now = 0 if system else self._queue.clock.now_ms()
        try:
            for i, (value, key, ts, headers, part) in enumerate(recs):
                if part is not None:
                    if not 0 <= part < n:
                        n = self._admin.partition_count(topic, refresh=True)
                        if not 0 <= part < n:
                            raise UnknownPartitionError(topic, part, n)
                    p = part
                elif key is None:
                    p = next(rr) % n
                else:
                    p = -1
                ts = now if ts is None else int(ts)
                hdrs = list(headers) if headers else None
                cb = partial(placements.done, i)
                while True:
                    try:
                        produce(topic, value, key, p, on_delivery=cb, timestamp=ts, headers=hdrs)
                        break
                    except BufferError:
                        self._producer.poll(0.05)
        except KafkaException as exc:
            self._producer.flush(self._s.timeout_s)
            raise translate(exc, self._s.bootstrap, what, topic=topic) from exc
        if not recs:
            return []
        self._wait(len(recs), what, topic, placements)
        out: list[tuple[int, int]] = []
        for placed in placements.results:
            if placed is None:  # pragma: no cover - every record got a report or an error was raised
                raise BrokerError(f"{what}: a record got no delivery report")
            out.append(placed)
            self.note_written(topic, placed[0], placed[1])
        return out


__all__ = ["Delivery", "KafkaAppender", "Placements", "ProduceQueue", "prepare", "queue_room", "record_fields"]
