"""Random-access reads of a Kafka partition: ``Log.read(topic, partition, offset)``.

A :class:`PartitionReader` is one librdkafka consumer *assigned* (not subscribed: no group membership) to
one partition, with ``read_committed`` isolation, ``enable.partition.eof`` and ``auto.offset.reset=error``.
A :class:`ReaderPool` keeps the most recently used readers, so sequential reads
(``read(p, 0)``, ``read(p, 500)``, ...) continue on a consumer whose fetcher has already prefetched the next
records; a read at any other offset re-assigns the consumer at that offset.

How one ``read`` decides it has everything (the protocol, step by step):

1. Hand out records left over from the previous read (cut by ``max_bytes``) if they continue at ``offset``.
2. Drain what the consumer has queued (``consume(max_records, 0)``); records end the read.
3. If records before ``known_end`` are known to exist (this process wrote them), wait for them, up to the
   log's timeout (then :class:`BrokerError`).
4. Otherwise wait up to ``timeout_ms`` for records. Once it has passed: if the consumer has reported reaching
   the end of the partition since it was positioned (the read continues a stream, as a job's source or a
   tailing reader does), return ``[]`` — no request to the cluster, so polling a partition's tail is cheap.
5. Else ask the cluster for the partition's watermarks (read_committed: the last stable offset): an offset
   before the log start raises :class:`OffsetOutOfRangeError`; one before the end waits for its records as in
   step 3; one at the end returns ``[]``; one past the end waits briefly for the broker's
   ``OFFSET_OUT_OF_RANGE`` (raised as :class:`OffsetOutOfRangeError`) and otherwise returns ``[]`` (brokers
   whose high watermark lags behind multi-record batches, such as Tansu, never send one).

Waiting for records without reading them (:meth:`PartitionReader.wait`, a job's idle source): the consumer's
``poll(timeout)`` blocks on librdkafka's queue, which its fetcher thread fills, so the wait ends as soon as
a fetch response brings records. The message ``poll`` returned is kept (``_peeked``) and is the first one the
next read takes; re-positioning drops it.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message
from confluent_kafka import TopicPartition as KafkaTopicPartition

from ..core.errors import MillstreamError, OffsetOutOfRangeError, UnknownTopicError
from ..core.record import Record
from .kafka_config import LOGGER, KafkaSettings
from .kafka_errors import make_client, translate, unreachable

_new = tuple.__new__
_EOF = KafkaError._PARTITION_EOF
_OUT_OF_RANGE = {KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE}
_UNKNOWN = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION}
_SLICE_S = 0.05


def reader_config(settings: KafkaSettings, group_id: str) -> dict[str, Any]:
    """librdkafka config of a random-access reader (assign-only; the group id is never joined)."""
    return settings.consumer_config(
        **{
            "group.id": group_id,
            "enable.partition.eof": True,
            "auto.offset.reset": "error",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )


_error, _value, _timestamp = Message.error, Message.value, Message.timestamp  # unbound: fast with map()
_second = itemgetter(1)  # the milliseconds of a message's (type, timestamp)


def _message_columns(msgs: list[Any]) -> tuple[int, list[Any], list[int]]:
    """``(next offset, values, timestamps)`` of record messages read in sequence (at least one)."""
    return msgs[-1].offset() + 1, list(map(_value, msgs)), list(map(_second, map(_timestamp, msgs)))


def _hdrs(h: Any) -> tuple[Any, ...]:
    return tuple(h) if h else ()


class PartitionReader:
    """One assigned consumer reading one partition at arbitrary offsets (see the module docstring)."""

    def __init__(self, settings: KafkaSettings, group_id: str, topic: str, partition: int) -> None:
        self._s = settings
        self.topic = topic
        self.partition = partition
        self._c = make_client(Consumer, reader_config(settings, group_id), f"reader of {topic}[{partition}]")
        self._next: int | None = None  # offset the next read continues at without re-assigning
        self._pending: list[Record] = []  # records fetched but not yet returned (max_bytes cut)
        self._eof: int | None = None  # position at which the consumer last reported reaching the end
        self._peeked: Message | None = None  # taken from the queue by ``wait``; the next read's first message
        self._deferred: MillstreamError | None = None
        wait = int(settings.consumer_config().get("fetch.wait.max.ms", 500))
        self._grace_s = (3 * wait + 200) / 1000.0
        self.lock = threading.Lock()
        self.closed = False  #: set (under :attr:`lock`) when the pool closed this reader

    def close(self) -> None:
        """Close the consumer (call with :attr:`lock` held)."""
        self.closed = True
        try:
            self._c.close()
        except Exception:  # closing twice or after a fatal error
            pass

    def _reposition(self, offset: int) -> None:
        self._pending = []
        self._peeked = None
        self._eof = None
        self._deferred = None
        self._c.assign([KafkaTopicPartition(self.topic, self.partition, offset)])
        self._next = offset

    def _watermarks(self) -> tuple[int, int]:
        tp = KafkaTopicPartition(self.topic, self.partition)
        try:
            lo, hi = self._c.get_watermark_offsets(tp, timeout=self._s.timeout_s, cached=False)
        except Exception as exc:
            raise translate(
                exc, self._s.bootstrap, f"reading offsets of {self.topic}[{self.partition}]", topic=self.topic
            ) from exc
        return max(0, lo), max(0, hi)

    def prefetch(self, offset: int) -> None:
        """Have the consumer start fetching at ``offset`` in the background (unless it already reads on from
        there), so that a following :meth:`end_offset` or read at ``offset`` waits less. Call with
        :attr:`lock` held."""
        if self._next != offset or self._pending:
            self._reposition(offset)

    def end_offset(self, listed: int) -> int:
        """The partition's end as the fetch path sees it, given the end ``listed`` by ListOffsets.

        Fetches from ``listed``: records found there (brokers whose ListOffsets answer lags behind
        multi-record batches, such as Tansu) move the end to the high watermark of the fetch response, which
        is exact. On brokers whose answer is exact, the fetch just reports the end (one fetch round trip).
        The records fetched stay queued for a following ``read`` at ``listed``. Call with :attr:`lock` held.
        """
        self.prefetch(listed)
        deadline = time.monotonic() + self._grace_s
        msgs: list[Any] = self._take(1000)
        while True:
            try:
                recs = self._convert(msgs, listed)
            except MillstreamError:
                return listed
            if recs:
                self._pending = recs
                break
            if self._eof is not None and self._eof >= listed:
                break
            now = time.monotonic()
            if now >= deadline:
                return listed
            m = self._c.poll(min(_SLICE_S, deadline - now))
            msgs = [] if m is None else [m, *self._c.consume(999, 0)]
        try:
            _, hi = self._c.get_watermark_offsets(KafkaTopicPartition(self.topic, self.partition), cached=True)
        except Exception:
            hi = -1
        end = max(listed, hi, self._eof or 0)
        if self._pending:
            end = max(end, self._pending[-1][2] + 1)
        return end

    def read_values(
        self, offset: int, max_records: int, stop: int | None, known_end: int
    ) -> tuple[int, list[Any], list[int]]:
        """``(next offset, values, timestamps)`` of the records from ``offset`` on, before ``stop``, without
        waiting (``timeout_ms=0``). When the read continues the stream and records are queued, no
        :class:`Record` is built (the columns come straight from the messages); otherwise it is ``read``.
        Call with :attr:`lock` held."""
        if offset == self._next and not self._pending and self._deferred is None:
            return self._columns(self._take(max(1, max_records)), offset, max_records, stop, lambda: known_end)
        return self._record_columns(self.read(offset, max_records, None, 0, known_end), offset, stop)

    def _columns(
        self, msgs: list[Any], offset: int, max_records: int, stop: int | None, known_end: Callable[[], int]
    ) -> tuple[int, list[Any], list[int]]:
        """:meth:`read_values` of the messages taken from the queue (at most ``max_records``), the read continuing
        the stream at ``offset``; ``known_end()`` is asked only when there are none (a read that fetches)."""
        if msgs and self._ends_at_eof(msgs):
            msgs.pop()
            if not msgs:
                return offset, [], []
        if msgs and not any(map(_error, msgs)):
            if stop is not None and msgs[-1].offset() >= stop:
                msgs = [m for m in msgs if m.offset() < stop]
                if not msgs:
                    self._pending = []
                    self._next = None  # records past ``stop`` were taken from the queue: re-position
                    return stop, [], []
                self._next = None
            else:
                self._next = msgs[-1].offset() + 1
            return _message_columns(msgs)
        recs = self._convert(msgs, offset) if msgs else self._fetch(offset, max_records, 0, known_end())
        if len(recs) > max_records:
            recs, self._pending = recs[:max_records], recs[max_records:]
        if recs:
            self._next = recs[-1][2] + 1
        return self._record_columns(recs, offset, stop)

    def _record_columns(self, recs: list[Record], offset: int, stop: int | None) -> tuple[int, list[Any], list[int]]:
        """``(next offset, values, timestamps)`` of records read at ``offset``, cut before ``stop``."""
        if stop is not None and recs and recs[-1][2] >= stop:
            recs = [r for r in recs if r[2] < stop]
            self._next = None
            if not recs:
                return stop, [], []
        if not recs:
            return offset, [], []
        return recs[-1][2] + 1, [r[5] for r in recs], [r[3] for r in recs]

    def read(
        self, offset: int, max_records: int, max_bytes: int | None, timeout_ms: int, known_end: int
    ) -> list[Record]:
        """Records from ``offset`` on (see the module docstring). Call with :attr:`lock` held."""
        max_records = max(1, max_records)
        if offset != self._next:
            self._reposition(offset)
        if self._deferred is not None:
            exc, self._deferred = self._deferred, None
            self._next = None
            raise exc
        out = self._pending or self._fetch(offset, max_records, timeout_ms, known_end)
        if len(out) > max_records:
            out, rest = out[:max_records], out[max_records:]
        else:
            rest = []
        if max_bytes is not None and out:
            size, n = 0, 0
            for r in out:
                size += len(r[5] or b"") + len(r[4] or b"")
                n += 1
                if size >= max_bytes:
                    break
            if n < len(out):
                out, rest = out[:n], out[n:] + rest
        self._pending = rest
        if out:
            self._next = out[-1][2] + 1
        return out

    def poll_values(
        self, offset: int, max_records: int, stop: int | None, known_end: Callable[[], int], timeout_s: float
    ) -> tuple[int, list[Any], list[int]]:
        """:meth:`wait` up to ``timeout_s``, then :meth:`read_values` (whatever the wait said; ``known_end()``
        taken after the wait): the results of the two calls in turn. Call with :attr:`lock` held."""
        got = self.poll_messages(offset, max_records, stop, known_end, timeout_s)
        return _message_columns(got) if isinstance(got, list) else got

    def poll_messages(
        self, offset: int, max_records: int, stop: int | None, known_end: Callable[[], int], timeout_s: float
    ) -> list[Any] | tuple[int, list[Any], list[int]]:
        """:meth:`poll_values`, except that a tailing read's round that brings records only (the common case)
        returns their messages as librdkafka gave them (a non-empty ``list``, the read moved on past them)
        instead of their columns: for a caller that takes the values and timestamps from the messages itself
        (:mod:`~millstream.log.kafka_pipe`). Anything else returns the ``tuple`` ``poll_values`` returns. Call
        with :attr:`lock` held."""
        if offset != self._next:
            self._reposition(offset)  # (as wait does)
        if not self._pending and self._deferred is None:
            # a tailing read's round in one pass: the first message (one an earlier wait took, or the one this wait
            # brings), and what is queued behind it
            deadline = time.monotonic() + timeout_s
            c = self._c
            m, self._peeked = self._peeked, None
            while True:
                if m is None:
                    m = c.poll(math.ceil(max(0.0, timeout_s) * 1000) / 1000)  # (whole ms, rounded up: see wait)
                    if m is None:
                        return self.read_values(offset, max_records, stop, known_end())
                err = _error(m)
                if err is not None and err.code() == _EOF:  # reaching the end is no record: wait on, as wait does
                    self._eof = m.offset()
                    timeout_s = deadline - time.monotonic()
                    if timeout_s <= 0:
                        return self.read_values(offset, max_records, stop, known_end())
                    m = None
                    continue
                msgs: list[Any] = [m, *c.consume(max_records - 1, 0)] if max_records > 1 else [m]
                if err is None:  # (m is a record: msgs keeps one once an end-of-partition event after it is dropped)
                    if _error(msgs[-1]) is not None and self._ends_at_eof(msgs):
                        msgs.pop()
                    if (stop is None or msgs[-1].offset() < stop) and not any(map(_error, msgs)):
                        self._next = msgs[-1].offset() + 1
                        return msgs
                return self._columns(msgs, offset, max_records, stop, known_end)
        if timeout_s > 0:
            self.wait(offset, timeout_s)
        return self.read_values(offset, max_records, stop, known_end())

    def _take(self, n: int) -> list[Any]:
        """Up to ``n`` queued messages without waiting, the one ``wait`` took first."""
        m = self._peeked
        if m is None:
            return self._c.consume(n, 0)
        self._peeked = None
        return [m, *self._c.consume(n - 1, 0)] if n > 1 else [m]

    def wait(self, offset: int, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` until a read at ``offset`` has something to return (records, or an error
        to raise); ``False`` at the timeout. Wakes as soon as the consumer's fetcher queues a message (see
        the module docstring). Call with :attr:`lock` held."""
        if offset != self._next:
            self._reposition(offset)
        if self._pending or self._peeked is not None or self._deferred is not None:
            return True
        deadline = time.monotonic() + timeout_s
        remaining = timeout_s
        while True:
            # librdkafka waits in whole milliseconds and truncates: round up, or a wait under 1 ms would spin
            m = self._c.poll(math.ceil(max(0.0, remaining) * 1000) / 1000)
            if m is None:
                return False
            err = m.error()
            if err is None or err.code() != _EOF:
                self._peeked = m
                return True
            self._eof = m.offset()  # reaching the end is no record: wait on
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False

    def _ends_at_eof(self, msgs: list[Any]) -> bool:
        """Whether the last of ``msgs`` is the consumer's end-of-partition event (it is after most fetches of a
        tailing reader), noted in :attr:`_eof`: the caller drops it, and the records before it keep the fast
        path that a batch without events takes."""
        err = _error(msgs[-1])
        if err is None or err.code() != _EOF:
            return False
        self._eof = msgs[-1].offset()
        return True

    def _convert(self, msgs: list[Any], offset: int) -> list[Record]:
        if msgs and self._ends_at_eof(msgs):
            msgs = msgs[:-1]
        if not msgs:
            return []
        topic, partition = self.topic, self.partition
        if not any(map(_error, msgs)):  # the common case: records only, built in one comprehension
            return [
                _new(Record, (topic, partition, m.offset(), m.timestamp()[1], m.key(), m.value(), _hdrs(m.headers())))
                for m in msgs
            ]
        return self._convert_slow(msgs, offset)

    def _convert_slow(self, msgs: list[Any], offset: int) -> list[Record]:
        out: list[Record] = []
        topic, partition = self.topic, self.partition
        append = out.append
        for m in msgs:
            err = m.error()
            if err is None:
                h = m.headers()
                append(
                    _new(
                        Record,
                        (
                            topic,
                            partition,
                            m.offset(),
                            m.timestamp()[1],
                            m.key(),
                            m.value(),
                            tuple(h) if h else (),
                        ),
                    )
                )
                continue
            code = err.code()
            if code == _EOF:  # (the last event may have been noted already: the end only moves on)
                self._eof = m.offset() if self._eof is None else max(self._eof, m.offset())
                continue
            if code in _OUT_OF_RANGE:
                lo, hi = self._watermarks()
                exc: MillstreamError = OffsetOutOfRangeError(topic, partition, offset, lo, hi)
            elif code in _UNKNOWN:
                exc = UnknownTopicError(topic)
            elif err.fatal():
                exc = translate(err, self._s.bootstrap, f"reading {topic}[{partition}]", topic=topic)
            else:
                LOGGER.debug("reading %s[%d]: %s", topic, partition, err)
                continue
            if out:
                self._deferred = exc
                return out
            self._next = None
            raise exc
        return out

    def _fetch(self, offset: int, max_records: int, timeout_ms: int, known_end: int) -> list[Record]:
        c = self._c
        now = time.monotonic()
        deadline = now + max(0, timeout_ms) / 1000.0
        answer_deadline = now + self._s.timeout_s
        target = known_end
        checked = False
        grace_deadline = 0.0
        msgs = self._take(max_records)
        while True:
            recs = self._convert(msgs, offset)
            if recs:
                return recs
            now = time.monotonic()
            eof = self._eof
            at_end = eof is not None and eof >= offset and eof >= target
            if not at_end and offset < target:
                # Step 3: records are known to exist; wait for them.
                if now >= answer_deadline:
                    raise unreachable(
                        self._s.bootstrap,
                        f"reading {self.topic}[{self.partition}] at offset {offset}",
                        self._s.timeout_s,
                        f"records up to offset {target - 1} exist but did not arrive; an open transaction "
                        "may be blocking read_committed reads",
                    )
                wait = min(_SLICE_S, answer_deadline - now)
            elif now < deadline:
                wait = min(_SLICE_S, deadline - now)  # Step 4: wait for new records
            elif at_end or eof is not None:
                # the consumer has reached the partition's end since it was positioned, and its fetcher keeps
                # the queue filled: what has not arrived yet was not there at its last fetch (a tail read)
                return []
            elif not checked:
                # Step 5: ask the cluster where the partition starts and ends.
                checked = True
                lo, hi = self._watermarks()
                if offset < lo:
                    self._next = None
                    raise OffsetOutOfRangeError(self.topic, self.partition, offset, lo, hi)
                if offset == hi:
                    return []
                if offset < hi:
                    target = hi
                    answer_deadline = time.monotonic() + self._s.timeout_s
                    wait = 0.0
                else:
                    grace_deadline = time.monotonic() + self._grace_s
                    wait = _SLICE_S
            elif now >= grace_deadline:
                return []
            else:
                wait = min(_SLICE_S, grace_deadline - now)
            m = c.poll(wait)
            if m is None:
                msgs = []
            elif max_records > 1:
                msgs = [m, *c.consume(max_records - 1, 0)]
            else:
                msgs = [m]


class PartitionHandle:
    """A :class:`~millstream.log.columns.PartitionColumns` handle on one partition of a :class:`ReaderPool`:
    the partition's reader, used under its lock without a look-up in the pool per call. When the pool has
    closed the reader (it evicts the least recently used; a handle's use does not count as use), the next
    call takes a new one from the pool."""

    __slots__ = ("_key", "_known_end", "_pool", "_reader")

    def __init__(self, pool: ReaderPool, topic: str, partition: int, known_end: Callable[[], int]) -> None:
        self._pool = pool
        self._key = (topic, partition)
        self._known_end = known_end
        self._reader = pool.get(topic, partition)

    def read_values(self, offset: int, max_records: int, stop: int | None) -> tuple[int, list[Any], list[int]]:
        return self._locked(PartitionReader.read_values, offset, max_records, stop, self._known_end())

    def wait(self, offset: int, timeout_s: float) -> bool:
        return self._locked(PartitionReader.wait, offset, timeout_s)

    def poll_values(
        self, offset: int, max_records: int, stop: int | None, timeout_s: float
    ) -> tuple[int, list[Any], list[int]]:
        r = self._reader
        with r.lock:  # (the common case of _locked, without its generic call)
            if not r.closed:
                return r.poll_values(offset, max_records, stop, self._known_end, timeout_s)
        return self._locked(PartitionReader.poll_values, offset, max_records, stop, self._known_end, timeout_s)

    def poll_messages(
        self, offset: int, max_records: int, timeout_s: float
    ) -> list[Any] | tuple[int, list[Any], list[int]]:
        """:meth:`PartitionReader.poll_messages` (no stop): a tailing round's record messages, or what
        :meth:`poll_values` returns."""
        r = self._reader
        with r.lock:
            if not r.closed:
                return r.poll_messages(offset, max_records, None, self._known_end, timeout_s)
        return self._locked(PartitionReader.poll_messages, offset, max_records, None, self._known_end, timeout_s)

    def _locked(self, method: Callable[..., Any], *args: Any) -> Any:
        """``method(reader, *args)`` under the reader's lock; a reader the pool has closed is replaced first."""
        while True:
            r = self._reader
            with r.lock:
                if not r.closed:
                    return method(r, *args)
            self._reader = self._pool.get(*self._key)


class ReaderPool:
    """The most recently used :class:`PartitionReader` per partition, at most ``size`` of them."""

    def __init__(self, settings: KafkaSettings, size: int = 16) -> None:
        self._s = settings
        self._size = size
        self._group = f"millstream-reader-{uuid.uuid4().hex[:12]}"
        self._readers: OrderedDict[tuple[str, int], PartitionReader] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """How many readers the pool keeps."""
        return self._size

    def get(self, topic: str, partition: int) -> PartitionReader:
        """The reader of ``topic[partition]``, created on first use; evicts the least recently used."""
        key = (topic, partition)
        readers = self._readers
        reader = readers.get(key)
        if reader is not None:  # the common case, without the lock (each OrderedDict operation is atomic)
            try:
                readers.move_to_end(key)
                return reader
            except KeyError:  # evicted meanwhile: make a new one below
                pass
        evicted: list[PartitionReader] = []
        with self._lock:
            reader = self._readers.get(key)
            if reader is not None:
                self._readers.move_to_end(key)
                return reader
            reader = PartitionReader(self._s, self._group, topic, partition)
            self._readers[key] = reader
            while len(self._readers) > self._size:
                evicted.append(self._readers.popitem(last=False)[1])
        for old in evicted:
            with old.lock:
                old.close()
        return reader

    def drop_topic(self, topic: str) -> None:
        """Close the readers of ``topic``."""
        with self._lock:
            gone = [k for k in self._readers if k[0] == topic]
            readers = [self._readers.pop(k) for k in gone]
        for r in readers:
            with r.lock:
                r.close()

    def close(self) -> None:
        """Close every reader."""
        with self._lock:
            readers = list(self._readers.values())
            self._readers.clear()
        for r in readers:
            with r.lock:
                r.close()


__all__ = ["PartitionHandle", "PartitionReader", "ReaderPool", "reader_config"]
