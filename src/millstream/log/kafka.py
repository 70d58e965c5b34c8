"""``kafka://host:port[,host:port]``: the ``Log`` contract on any Kafka-compatible cluster via librdkafka.

:class:`KafkaLog` puts together the parts, one module each:

- :mod:`~millstream.log.kafka_config` — bootstrap servers, property pass-through (SASL/TLS work unchanged),
  millstream's client defaults;
- :mod:`~millstream.log.kafka_admin` — topics, offsets and consumer groups through the AdminClient;
- :mod:`~millstream.log.kafka_producer` — synchronous idempotent ``append`` / ``produce``;
- :mod:`~millstream.log.kafka_reader` — random-access ``read`` on cached assigned consumers;
- :mod:`~millstream.log.kafka_transaction` — ``transaction(transactional_id)`` on Kafka transactions;
- :mod:`~millstream.log.kafka_consumer` — ``consumer(group_id)`` with real group membership.

Kafka semantics where they differ from the embedded log: ``latest_offset`` is the high watermark (a
transaction's commit marker takes an offset too); ``list_groups`` lists every group the cluster knows;
``commit_offsets`` from outside a group needs the group to have no active members; retention and compaction
are the brokers' job (``enforce_retention`` does nothing); a transaction's state blobs (``put_state``) are
records of the compacted topic ``__millstream_state`` and ``get_state`` reads the last committed one.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from confluent_kafka.admin import OffsetSpec

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.errors import BrokerError, ConfigError, TopicExistsError, UnknownTopicError
from ..core.record import ProducerRecord, Record, TopicPartition
from .base import (
    TOPIC_CONFIG_DEFAULTS,
    GroupDescription,
    Log,
    PartitionOffsets,
    TopicDescription,
    Transaction,
    check_offset_arg,
    check_partition_increase,
    validate_topic_config,
    validate_topic_name,
)
from .columns import Convert, PartitionColumns, PipeFailed, ValuesPipe
from .kafka_admin import KafkaAdmin, validate_partitions_arg
from .kafka_config import DEFAULT_TIMEOUT_MS, KafkaSettings, refused_everywhere
from .kafka_consumer import KafkaConsumer
from .kafka_pipe import make_values_pipe
from .kafka_producer import KafkaAppender
from .kafka_reader import PartitionHandle, ReaderPool
from .kafka_transaction import STATE_TOPIC, KafkaTransaction, TransactionalProducers, standalone_group_metadata

_WAIT_SLICE_S = 0.001
"""``wait_for_records`` over several partitions: how long each consumer's blocking poll lasts in turn."""


class KafkaLog(Log):
    """The ``Log`` contract on a Kafka cluster (see the module docstring).

    ``bootstrap`` is ``host:port[,host:port]``; ``properties`` are librdkafka properties for every client
    (``producer.`` / ``consumer.`` / ``admin.`` prefixes scope one to one kind of client);
    ``timeout_ms`` bounds every wait for the cluster; ``readers`` is how many partitions keep a cached
    random-access consumer.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        properties: Mapping[str, Any] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        readers: int = 16,
    ) -> None:
        self.settings = KafkaSettings(bootstrap, properties, timeout_ms)
        self.url = f"kafka://{self.settings.bootstrap}"
        if refused_everywhere(self.settings.bootstrap):  # fail now, not after timeout_ms
            raise BrokerError(
                f"connection refused by the Kafka cluster at {self.settings.bootstrap}: nothing listens there",
                hint="check the bootstrap servers (kafka://HOST:PORT) and that the brokers are up; a cluster "
                f"that does not answer is waited for up to timeout_ms ({timeout_ms} ms, open_log(url, "
                "timeout_ms=...))",
            )
        self.clock = clock
        self._admin = KafkaAdmin(self.settings)
        self._appender: KafkaAppender | None = None
        self._readers = ReaderPool(self.settings, size=readers)
        self._txn_producers = TransactionalProducers(self.settings, clock)
        self._consumers: dict[str, weakref.ref[KafkaConsumer]] = {}  # the live member of each group
        self._all_consumers: weakref.WeakSet[KafkaConsumer] = weakref.WeakSet()
        self._group_metadata: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._state_values: dict[bytes, bytes | None] = {}  # get_state: the last value of each key read so far
        self._state_next = 0  # ... and the offset of __millstream_state to read on from
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Close this log's consumers, readers and producers (delivering queued records). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for consumer in list(self._all_consumers):
            try:
                consumer.close()
            except Exception:  # a consumer that failed (e.g. NoOffsetError) still gets closed
                pass
        self._readers.close()
        self._txn_producers.close()
        if self._appender is not None:
            self._appender.close()

    @property
    def _writer(self) -> KafkaAppender:
        appender = self._appender
        if appender is None:
            with self._lock:
                if self._appender is None:
                    self._appender = KafkaAppender(self.settings, self._admin, self.clock)
                appender = self._appender
        return appender

    def _produced_end(self, topic: str, partition: int) -> int:
        appender = self._appender
        return -1 if appender is None else appender.produced_end.get((topic, partition), -1)

    # -- topics -------------------------------------------------------------------------------------
    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        config: Mapping[str, Any] | None = None,
        *,
        replication_factor: int = 1,
        exist_ok: bool = False,
    ) -> TopicDescription:
        """Create a topic with ``partitions``, ``replication_factor`` and topic ``config`` (Kafka's names)."""
        validate_topic_name(name)
        validate_partitions_arg(partitions)
        if not isinstance(replication_factor, int) or replication_factor < 1:
            raise ConfigError(f"replication_factor must be a positive integer, got {replication_factor!r}")
        cfg = validate_topic_config(config)
        try:
            self._admin.create_topic(name, partitions, cfg, replication_factor)
        except TopicExistsError:
            if exist_ok:
                return self.describe_topic(name)
            raise
        if self._appender is not None:
            self._appender.forget_topic(name)
        return TopicDescription(name, partitions, {**TOPIC_CONFIG_DEFAULTS, **cfg}, replication_factor)

    def create_partitions(self, name: str, total: int) -> TopicDescription:
        """Grow topic ``name`` to ``total`` partitions (Kafka's CreatePartitions; see :meth:`Log.create_partitions`)."""
        check_partition_increase(name, self._admin.partition_count(name, refresh=True), total)
        self._admin.create_partitions(name, total)
        if self._appender is not None:
            self._appender.forget_topic(name)
        return self.describe_topic(name)

    def delete_topic(self, name: str) -> None:
        """Delete a topic; its records go, and the cluster drops groups' offsets for it."""
        self._admin.delete_topic(name)
        self._readers.drop_topic(name)
        if self._appender is not None:
            self._appender.forget_topic(name)

    def list_topics(self) -> list[str]:
        """All topics except Kafka's internal ones, sorted."""
        return self._admin.list_topics()

    def describe_topic(self, name: str) -> TopicDescription:
        """Partitions, replication factor and effective config of a topic."""
        return self._admin.describe_topic(name)

    def has_topic(self, name: str) -> bool:
        """Whether the topic exists (one metadata request)."""
        try:
            self._admin.partition_count(name, refresh=True)
        except KeyError:
            return False
        return True

    # -- writes -------------------------------------------------------------------------------------
    def append(self, topic: str, partition: int, records: Sequence[ProducerRecord]) -> int:
        """Write a batch to one partition with the idempotent producer and wait for it; return its first offset."""
        return self._writer.append(topic, partition, records)

    def prepare_writes(self, topic: str) -> None:
        """Get the producer ready to write to ``topic`` (connection, producer id, topic metadata), so that a
        job's first output records do not wait for that. Optional hook of the sink operators."""
        self._writer.warm_up(topic)

    def append_nowait(self, topic: str, partition: int, records: Sequence[ProducerRecord]) -> None:
        """Queue a batch for ``topic[partition]`` without waiting for the cluster's acknowledgement; a
        refused record makes a later call or :meth:`flush_writes` raise. Optional hook used by sinks."""
        self._writer.append_nowait(topic, partition, records)

    def append_values_nowait(
        self,
        topic: str,
        partition: int,
        values: list[Any],
        timestamps: list[Any],
        serialize: Callable[[Any], bytes | None] | None = None,
    ) -> None:
        """:meth:`append_nowait` of keyless records without headers, given as columns: ``values`` (bytes or
        ``None``) and ``timestamps`` (epoch ms, or ``None`` for the append time). Optional hook used by sinks:
        no record tuple is built per value. With ``serialize``, ``values`` are elements serialized one by one
        as the producer takes them (no list of serialized values is built); an exception of ``serialize`` is
        raised as it is, the values before the failing one queued."""
        (self._appender or self._writer).append_values_nowait(topic, partition, values, timestamps, serialize)

    def values_writer(
        self, topic: str, partition: int
    ) -> Callable[[list[Any], list[Any], Callable[[Any], bytes | None] | None], None]:
        """:meth:`append_values_nowait` of ``topic[partition]``, prepared (the partition checked once): a function
        of ``(values, timestamps, serialize)`` for a sink that writes the same partition round after round
        (:class:`~millstream.log.columns.ValuesWriters`)."""
        return self._writer.values_writer(topic, partition)

    def values_pipe(
        self, source: PartitionColumns, topic: str, convert: Convert, failed: PipeFailed
    ) -> ValuesPipe | None:
        """A pipe of the partition handle ``source`` (of this or another Kafka log) into ``topic``
        (:class:`~millstream.log.columns.ValuesPipes`, :mod:`~millstream.log.kafka_pipe`); ``None`` where
        ``source`` is not a Kafka partition handle."""
        if not isinstance(source, PartitionHandle):
            return None
        self._admin.partition_count(topic)  # (raises for an unknown topic)
        return make_values_pipe(source, self._writer, topic, self.settings.bootstrap, convert, failed)

    def flush_writes(self) -> None:
        """Wait until everything queued by :meth:`append_nowait` is acknowledged (raises the first error)."""
        if self._appender is not None:
            self._appender.flush()

    def produce(self, topic: str, records: Iterable[ProducerRecord]) -> list[tuple[int, int]]:
        """Write records placed by Kafka's partitioner (murmur2 on keys); return ``(partition, offset)`` each."""
        return self._writer.produce(topic, records)

    # -- reads --------------------------------------------------------------------------------------
    def read(
        self,
        topic: str,
        partition: int,
        offset: int,
        *,
        max_records: int = 10_000,
        max_bytes: int | None = None,
        timeout_ms: int = 0,
    ) -> list[Record]:
        """Committed records from ``offset`` on (see :mod:`millstream.log.kafka_reader` for how it waits)."""
        check_offset_arg(offset)
        self._admin.check_partition(topic, partition)
        reader = self._readers.get(topic, partition)
        with reader.lock:
            return reader.read(offset, max_records, max_bytes, timeout_ms, self._produced_end(topic, partition))

    def read_values(
        self, topic: str, partition: int, offset: int, *, max_records: int = 10_000, stop: int | None = None
    ) -> tuple[int, list[bytes | None], list[int]]:
        """Columns of ``read(topic, partition, offset, max_records=...)`` cut before offset ``stop``:
        ``(next offset, values, timestamps)``. Cheaper than ``read`` for a job's source, which needs no more
        of each record; optional hook (sources fall back to ``read``)."""
        if type(offset) is not int or offset < 0:
            check_offset_arg(offset)
        self._admin.check_partition(topic, partition)
        reader = self._readers.get(topic, partition)
        with reader.lock:
            return reader.read_values(offset, max_records, stop, self._produced_end(topic, partition))

    def partition_columns(self, topic: str, partition: int) -> PartitionHandle:
        """A handle on ``topic[partition]`` for a source that reads it in sequence: :meth:`read_values` and
        :meth:`wait_for_records` of that one partition, checked once here (:mod:`millstream.log.columns`)."""
        self._admin.check_partition(topic, partition)
        return PartitionHandle(self._readers, topic, partition, partial(self._produced_end, topic, partition))

    def wait_for_records(self, positions: Mapping[TopicPartition, int], timeout_ms: float) -> bool:
        """Block up to ``timeout_ms`` until a read at one of ``positions`` (partition → offset) has records
        (or an error) to return; ``False`` at the timeout. Optional hook: a job's idle source waits here
        instead of sleeping, and wakes when a fetch response brings records.

        One partition blocks in its consumer's ``poll``. librdkafka keeps one queue per consumer and the
        Python client cannot wait on several, so with more partitions the wait goes round their consumers in
        blocking polls of 1 ms each (librdkafka's shortest wait). With more partitions than the log keeps
        readers for (``readers``), waiting on them all would close and re-open consumers in turn: it sleeps
        the timeout instead and says ``True`` (the caller reads them all, as before waits existed)."""
        if not positions:
            return False
        timeout_s = max(0.0, timeout_ms) / 1000.0
        if len(positions) > self._readers.size:
            time.sleep(timeout_s)
            return True
        readers = []
        for tp, offset in positions.items():
            self._admin.check_partition(tp.topic, tp.partition)
            readers.append((self._readers.get(tp.topic, tp.partition), offset))
        if len(readers) == 1:  # one wait in its consumer's poll covers the timeout
            reader, offset = readers[0]
            with reader.lock:
                return reader.wait(offset, timeout_s)
        deadline = time.monotonic() + timeout_s
        while True:
            for reader, offset in readers:
                wait = max(0.0, min(_WAIT_SLICE_S, deadline - time.monotonic()))
                with reader.lock:
                    if reader.wait(offset, wait):
                        return True
            if deadline - time.monotonic() <= 0:
                return False

    def earliest_offset(self, topic: str, partition: int) -> int:
        """The log start offset of ``topic[partition]``."""
        self._admin.check_partition(topic, partition)
        tp = TopicPartition(topic, partition)
        return max(0, self._admin.list_offsets({tp: OffsetSpec.earliest()})[tp][0])

    def latest_offset(self, topic: str, partition: int) -> int:
        """The high watermark of ``topic[partition]``: the offset the next record gets.

        ListOffsets' answer is confirmed by one fetch from it (see ``PartitionReader.end_offset``), so the
        end is exact also on brokers whose ListOffsets lags behind multi-record batches (Tansu); bounded
        sources and "read to the end" loops rely on it. The fetched records stay queued for the next read.
        """
        self._admin.check_partition(topic, partition)
        tp = TopicPartition(topic, partition)
        hw = max(0, self._admin.list_offsets({tp: OffsetSpec.latest()})[tp][0])
        reader = self._readers.get(topic, partition)
        with reader.lock:
            return reader.end_offset(hw)

    def offset_ranges(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, tuple[int, int]]:
        """:meth:`Log.offset_ranges` in two ``ListOffsets`` requests for all partitions; the ends are confirmed
        by fetches as :meth:`latest_offset` does, all started before any is waited for, so their waits overlap
        (a job's start on a topic of many partitions pays about one fetch wait, not one per partition)."""
        tps = list(dict.fromkeys(TopicPartition(tp.topic, tp.partition) for tp in partitions))
        for tp in tps:
            self._admin.check_partition(tp.topic, tp.partition)
        lo = self._admin.list_offsets({tp: OffsetSpec.earliest() for tp in tps})
        hi = self._admin.list_offsets({tp: OffsetSpec.latest() for tp in tps})
        out: dict[TopicPartition, tuple[int, int]] = {}
        step = max(1, self._readers.size)  # no more at once than the pool keeps: none is evicted half-way
        for i in range(0, len(tps), step):
            chunk = [(tp, max(0, hi[tp][0]), self._readers.get(tp.topic, tp.partition)) for tp in tps[i : i + step]]
            for _, listed, reader in chunk:
                with reader.lock:
                    reader.prefetch(listed)
            for tp, listed, reader in chunk:
                with reader.lock:
                    out[tp] = (max(0, lo[tp][0]), reader.end_offset(listed))
        return out

    def offset_for_timestamp(self, topic: str, partition: int, timestamp: int) -> int | None:
        """The first offset with a record timestamp ``>= timestamp`` (``offsets_for_times``), or ``None``.

        The cluster's answer is checked against the records: brokers that answer per batch rather than
        per record get the exact offset by reading forward from their answer.
        """
        self._admin.check_partition(topic, partition)
        tp = TopicPartition(topic, partition)
        offset, _ = self._admin.list_offsets({tp: OffsetSpec.for_timestamp(int(timestamp))})[tp]
        if offset < 0:
            return None
        while True:
            batch = self.read(topic, partition, offset, max_records=1000)
            if not batch:
                return None
            for r in batch:
                if r.timestamp >= timestamp:
                    return r.offset
            offset = batch[-1].offset + 1

    # -- consumer groups ----------------------------------------------------------------------------
    def commit_offsets(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit a group's offsets: through the log's live consumer of the group if any, else as an admin."""
        for tp, off in offsets.items():
            check_offset_arg(off)
            self._admin.check_partition(tp[0], tp[1])
        member = self._member(group)
        if member is not None:
            member.commit(offsets)
        else:
            self._admin.alter_offsets(group, offsets)

    def committed_offsets(
        self, group: str, partitions: Iterable[TopicPartition] | None = None
    ) -> dict[TopicPartition, int]:
        """A group's committed offsets; partitions without a commit are left out."""
        return self._admin.committed(group, partitions)

    def list_groups(self) -> list[str]:
        """Every consumer group the cluster knows, sorted."""
        return self._admin.list_groups()

    def delete_group(self, group: str) -> None:
        """Delete a group (it must have no active members) with its committed offsets."""
        self._admin.delete_group(group)
        self._group_metadata.pop(group, None)

    def group_members(self, group: str) -> list[tuple[str, list[TopicPartition]]]:
        """The group's active members as ``(member id, assigned partitions)`` (``DescribeGroups``)."""
        return self._admin.describe_group_members(group)

    def describe_group(self, group: str) -> GroupDescription:
        """Committed offsets, log start/end and lag per partition, with two ListOffsets requests in all."""
        committed = self.committed_offsets(group)
        topics = set(self._admin.list_topics())
        tps = [tp for tp in sorted(committed) if tp.topic in topics]
        marks = self._admin.watermarks(tps)
        rows = [PartitionOffsets(tp.topic, tp.partition, committed[tp], *marks[tp]) for tp in tps]
        return GroupDescription(group, tuple(rows))

    # -- transactions -------------------------------------------------------------------------------
    def transaction(self, transactional_id: str | None = None) -> Transaction:
        """Begin a Kafka transaction with the producer of ``transactional_id`` (a fresh id when ``None``)."""
        writer = self._writer
        return KafkaTransaction(
            self.settings,
            self._admin,
            self._txn_producers,
            self.clock,
            transactional_id,
            self._metadata_for,
            writer.note_written,
        )

    def init_transactions(self, transactional_id: str) -> None:
        """Start a new producer for ``transactional_id`` now (Kafka's ``init_transactions``): it fences every
        older producer of that id, here or in another process, whose later commits fail with
        :class:`~millstream.core.errors.FencedError`; the next ``transaction(transactional_id)`` uses it."""
        self._txn_producers.reinit(transactional_id)

    def get_state(self, key: str) -> bytes | None:
        """The value last committed under ``key`` by a transaction's ``put_state`` (``None``: never, or
        deleted). Reads the committed records of ``__millstream_state`` that this log has not read yet: it keeps
        the last value of every key it has read, and the offset to go on from (from the topic's start again when
        that offset is no longer in the topic). Every exactly-once checkpoint on Kafka adds a record to the
        topic, so reading it from its start each time got slower the longer a cluster ran (on a broker without
        compaction, without end)."""
        with self._state_lock:
            try:
                end = self.latest_offset(STATE_TOPIC, 0)
            except UnknownTopicError:
                return None
            start = self.earliest_offset(STATE_TOPIC, 0)
            offset = self._state_next
            if not start <= offset <= end:  # compacted or truncated past it (or a new topic): read it all again
                self._state_values.clear()
                offset = start
            values = self._state_values
            while offset < end:
                # (no wait for records newer than ``end``: a read at 0 ms still waits for those before the
                # partition's end, and returns at once at a commit marker, which a 200 ms wait held back)
                batch = self.read(STATE_TOPIC, 0, offset, max_records=10_000, timeout_ms=0)
                if not batch:
                    break  # only transaction markers (or records of a transaction still open) are left
                for rec in batch:
                    if rec.key is not None:
                        values[rec.key] = rec.value
                offset = batch[-1].offset + 1
            self._state_next = offset
            return values.get(key.encode())

    def _metadata_for(self, group: str) -> Any:
        member = self._member(group)
        if member is not None:
            return member.consumer_group_metadata()
        meta = self._group_metadata.get(group)
        if meta is None:
            meta = self._group_metadata[group] = standalone_group_metadata(self.settings, group)
        return meta

    # -- consumers ----------------------------------------------------------------------------------
    def consumer(self, group_id: str | None = None, **options: Any) -> KafkaConsumer:
        """A :class:`KafkaConsumer` with real group membership (options: see its constructor)."""
        return KafkaConsumer(self, group_id, **options)

    def _register_consumer(self, group: str | None, consumer: KafkaConsumer) -> None:
        self._all_consumers.add(consumer)
        if group:
            self._consumers[group] = weakref.ref(consumer)

    def _unregister_consumer(self, group: str | None, consumer: KafkaConsumer) -> None:
        self._all_consumers.discard(consumer)
        ref = self._consumers.get(group) if group else None
        if ref is not None and ref() is consumer:
            del self._consumers[group]  # type: ignore[arg-type]

    def _member(self, group: str) -> KafkaConsumer | None:
        ref = self._consumers.get(group)
        return ref() if ref is not None else None


__all__ = ["KafkaLog"]
