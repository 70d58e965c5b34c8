"""Kafka transactions as a ``Log`` transaction: atomic appends across partitions plus group offset commits.

``log.transaction(transactional_id)`` reserves the transactional producer of that id (created and
``init_transactions``-ed once per log, which also fences older producers with the same id). The protocol of
one :class:`KafkaTransaction`:

1. ``append`` checks the partition and buffers the records; ``commit_offsets`` checks and buffers the
   offsets. Nothing reaches the cluster yet, so an ``abort`` (or a crash) leaves no trace. A transaction
   that grows past ``buffer_records`` records (or calls ``flush``) begins the Kafka transaction and
   streams its records; ``read_committed`` readers (millstream's default) still see none of them.
2. ``commit()`` first checks, with fresh metadata, that every partition written to still exists: if one
   is gone, nothing is sent and :class:`TransactionError` is raised.
3. It begins the Kafka transaction, sends the records, adds the offsets with
   ``send_offsets_to_transaction`` (with the group metadata of the log's live
   :class:`~millstream.log.kafka_consumer.KafkaConsumer` of that group if there is one, so a zombie member
   is fenced, else a standalone group metadata), waits for every record's delivery and commits. Any
   failure aborts the transaction and raises :class:`TransactionError`: nothing is visible.
4. It returns each append's first offset, in call order. As in Kafka, the commit marker takes an offset
   after the records, so the partition's log end moves one past the last record.

``put_state(key, value)`` appends ``key`` → ``value`` (``None``: a tombstone) to the compacted topic
:data:`STATE_TOPIC` inside the transaction, so a state blob commits or aborts with the records and offsets;
:meth:`KafkaLog.get_state <millstream.log.kafka.KafkaLog.get_state>` reads back the last committed value of a
key. The topic (one partition, ``cleanup.policy=compact``) is created on first use; create it yourself first
to choose its replication factor. Checkpoints keep their marker there (see
:mod:`millstream.runtime.checkpointing`).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from ..core.clock import Clock
from ..core.errors import FencedError, MillstreamError, TopicExistsError, TransactionError
from ..core.record import ProducerRecord, TopicPartition
from .base import Transaction, check_offset_arg
from .kafka_admin import KafkaAdmin
from .kafka_config import KafkaSettings
from .kafka_errors import kafka_error_of, make_client, translate
from .kafka_producer import Delivery, ProduceQueue, prepare

STATE_TOPIC = "__millstream_state"
"""The compacted topic that holds the state blobs of ``put_state`` (key → last committed value)."""


class TransactionalProducers:
    """One initialised transactional producer per transactional id, used by one transaction at a time."""

    def __init__(self, settings: KafkaSettings, clock: Clock) -> None:
        self._s = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._idle: dict[str, Producer] = {}
        self._busy: set[str] = set()

    def reserve(self, transactional_id: str) -> None:
        """Mark ``transactional_id`` in use; :class:`TransactionError` if a transaction of it is open."""
        with self._lock:
            if transactional_id in self._busy:
                raise TransactionError(
                    f"a transaction with transactional id {transactional_id!r} is already open in this log",
                    hint="commit or abort it first, or use another transactional id",
                )
            self._busy.add(transactional_id)

    def producer(self, transactional_id: str) -> Producer:
        """The (reserved) id's producer, created and ``init_transactions``-ed on first use."""
        with self._lock:
            producer = self._idle.pop(transactional_id, None)
        if producer is None:
            try:
                producer = make_client(
                    Producer,
                    self._s.producer_config(**{"transactional.id": transactional_id}),
                    f"transactional producer {transactional_id!r}",
                )
                producer.init_transactions(self._s.timeout_s)
            except KafkaException as exc:
                raise translate(
                    exc, self._s.bootstrap, f"initialising transactional producer {transactional_id!r}"
                ) from exc
        return producer

    def reinit(self, transactional_id: str) -> None:
        """Drop the id's idle producer and create and ``init_transactions`` a new one now: every older producer
        of the id (in this process or any other) is fenced from here on."""
        self.reserve(transactional_id)
        with self._lock:
            old = self._idle.pop(transactional_id, None)
        if old is not None:
            old.flush(0)
        try:
            producer = self.producer(transactional_id)
        except BaseException:
            self.release(transactional_id, None)
            raise
        self.release(transactional_id, producer)

    def release(self, transactional_id: str, producer: Producer | None) -> None:
        """End the id's use; keep ``producer`` for its next transaction (``None``: nothing to keep)."""
        with self._lock:
            self._busy.discard(transactional_id)
            if producer is not None:
                self._idle[transactional_id] = producer

    def close(self) -> None:
        """Drop the idle producers."""
        with self._lock:
            producers = list(self._idle.values())
            self._idle.clear()
        for p in producers:
            p.flush(1.0)


class KafkaTransaction(Transaction):
    """A Kafka transaction over the log (see the module docstring)."""

    def __init__(
        self,
        settings: KafkaSettings,
        admin: KafkaAdmin,
        producers: TransactionalProducers,
        clock: Clock,
        transactional_id: str | None,
        group_metadata: Callable[[str], Any],
        on_written: Callable[[str, int, int], None],
        buffer_records: int = 10_000,
    ) -> None:
        super().__init__()
        self._s = settings
        self._admin = admin
        self._producers = producers
        self._clock = clock
        self.transactional_id = transactional_id or f"millstream-txn-{uuid.uuid4().hex}"
        self._group_metadata = group_metadata
        self._on_written = on_written
        self._buffer_records = buffer_records
        self._producer: Producer | None = None  # acquired when the Kafka transaction begins
        self._pending: list[tuple[str, int, list[ProducerRecord], Delivery]] = []
        self._pending_count = 0
        self._offsets: list[tuple[str, list[KafkaTopicPartition]]] = []
        self._appends: list[tuple[str, int, Delivery, int]] = []
        producers.reserve(self.transactional_id)

    def _fenced(self) -> FencedError:
        return FencedError(
            f"Kafka transaction {self.transactional_id!r} was fenced: a newer producer with the same "
            "transactional.id has started (another instance or a restart of the same job), so this one may "
            "not write any more; its transaction was aborted and nothing of it is committed",
            hint="run one instance per job id; give different jobs different job ids or "
            "set_transactional_id_prefix(...) values",
        )

    def _error(self, step: str, exc: BaseException) -> MillstreamError:
        if is_fenced(exc):
            return self._fenced()
        what = f"{step} Kafka transaction {self.transactional_id!r}"
        err = translate(exc, self._s.bootstrap, what, transactional=True)
        if isinstance(err, TransactionError):
            return err
        return TransactionError(f"{err.message} (nothing of the transaction is visible)", hint=err.hint)

    def _release(self, fatal: bool = False) -> None:
        self._producers.release(self.transactional_id, None if fatal else self._producer)
        self._producer = None

    def _begin(self) -> Producer:
        """Step 1b: begin the Kafka transaction (once) and send what was buffered."""
        if self._producer is None:
            producer = self._producers.producer(self.transactional_id)
            try:
                producer.begin_transaction()
            except KafkaException as exc:
                self._producers.release(self.transactional_id, None)
                raise self._error("beginning", exc) from exc
            self._producer = producer
        self._send_pending()
        return self._producer

    def _send_pending(self) -> None:
        assert self._producer is not None
        queue = ProduceQueue(self._producer, self._clock)
        for topic, partition, records, delivery in self._pending:
            try:
                n = queue.put(topic, partition, records, delivery)
            except KafkaException as exc:
                raise self._error(f"appending to {topic}[{partition}] in", exc) from exc
            self._appends.append((topic, partition, delivery, n))
        self._pending = []
        self._pending_count = 0

    def append(self, topic: str, partition: int, records: Sequence[ProducerRecord]) -> None:
        """Add ``records`` for ``topic[partition]`` (checked now, sent at the latest by ``commit``)."""
        self._check_open()
        self._admin.check_partition(topic, partition)
        batch = prepare(records)
        self._pending.append((topic, partition, batch, Delivery()))
        self._pending_count += len(batch)
        if self._pending_count >= self._buffer_records:
            self._begin()  # a large transaction streams its records instead of holding them

    def flush(self) -> None:
        """Begin the Kafka transaction now and send the records added so far, waiting for their delivery.

        They stay invisible to ``read_committed`` readers until ``commit``; an ``abort`` afterwards leaves
        them in the partitions as aborted records (which take offsets, as in Kafka).
        """
        producer = self._begin()
        try:
            producer.flush(self._s.timeout_s)
        except SystemError as exc:
            raise self._flush_failed(producer, "flushing", exc) from exc

    def commit_offsets(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Add ``group``'s offsets to the transaction (sent with ``send_offsets_to_transaction`` at commit)."""
        self._check_open()
        tps = []
        for tp, off in offsets.items():
            check_offset_arg(off)
            self._admin.check_partition(tp[0], tp[1])
            tps.append(KafkaTopicPartition(tp[0], tp[1], int(off)))
        if tps:
            self._offsets.append((group, tps))

    def put_state(self, key: str, value: bytes | None) -> None:
        """Store ``value`` under ``key`` (``None`` deletes it) in :data:`STATE_TOPIC`, as part of the
        transaction (the topic is created, compacted with one partition, if it does not exist)."""
        self._check_open()
        if not isinstance(key, str) or not key:
            raise TransactionError(f"a state key must be a non-empty string, got {key!r}")
        if value is not None and not isinstance(value, bytes | bytearray | memoryview):
            raise TransactionError(f"a state value must be bytes or None, got {type(value).__name__}")
        ensure_state_topic(self._admin)
        self.append(STATE_TOPIC, 0, [ProducerRecord(None if value is None else bytes(value), key.encode())])

    def _check_targets(self) -> None:
        """Step 2: every partition written or committed still exists (fresh metadata), else nothing is sent."""
        targets = {(t, p) for t, p, _, _ in self._pending} | {(t, p) for t, p, _, _ in self._appends}
        targets |= {(k.topic, k.partition) for _, tps in self._offsets for k in tps}
        if not targets:
            return
        self._admin.metadata()
        for topic, partition in sorted(targets):
            self._admin.check_partition(topic, partition)

    def _commit(self) -> list[int]:
        # Step 1: check the targets while nothing (or only a streamed prefix) has been sent.
        try:
            self._check_targets()
        except MillstreamError as exc:
            self._abort()
            raise TransactionError(
                f"committing Kafka transaction {self.transactional_id!r}: {exc.message}; "
                "the transaction was aborted and nothing of it is visible",
                hint=exc.hint,
            ) from exc
        if not self._pending and not self._appends and not self._offsets:
            self._release()
            return []
        # Step 2: send the buffered records and the offsets inside the Kafka transaction.
        producer = self._begin()
        try:
            for group, tps in self._offsets:
                producer.send_offsets_to_transaction(tps, self._group_metadata(group), self._s.timeout_s)
            # Step 3: wait for every record, then commit.
            try:
                remaining = producer.flush(self._s.timeout_s)
            except SystemError as exc:
                raise self._flush_failed(producer, "committing", exc) from exc
            failed = [d.errors[0] for _, _, d, _ in self._appends if d.errors]
            if remaining or failed or any(d.count != n for _, _, d, n in self._appends):
                detail = failed[0] if failed else f"{remaining} record(s) not acknowledged in time"
                if failed and is_fenced(failed[0]):
                    self._release(fatal=True)  # a fenced producer cannot abort: the newer one did
                    raise self._fenced()
                self._abort()
                raise TransactionError(
                    f"committing Kafka transaction {self.transactional_id!r}: records were not written "
                    f"({detail}); the transaction was aborted and nothing of it is visible"
                )
            producer.commit_transaction(self._s.timeout_s)
        except KafkaException as exc:
            if not is_fenced(exc) and self._fenced_before(producer):
                # (a streamed batch was fenced first: the producer is in an error state, so sending the offsets
                # or committing fails with _STATE, which hides the cause)
                self._release(fatal=True)
                raise self._fenced() from exc
            err = kafka_error_of(exc)
            if err is not None and err.txn_requires_abort() and not is_fenced(exc):
                self._abort()
            else:
                self._release(fatal=True)
            raise self._error("committing", exc) from exc
        self._release()
        bases = []
        for topic, partition, d, n in self._appends:
            if n:
                self._on_written(topic, partition, d.last)
            bases.append(d.first)
        return bases

    def _flush_failed(self, producer: Producer, step: str, exc: SystemError) -> MillstreamError:
        """The error of a ``flush`` that raised ``SystemError``: confluent-kafka surfaces a fatal error (this
        producer fenced while adding a partition to the transaction) inside a delivery callback that way, its
        cause the KafkaError. The producer is unusable: released."""
        self._release(fatal=True)
        if is_fenced(exc.__cause__ or exc.__context__ or exc) or self._fenced_before(producer):
            return self._fenced()
        return TransactionError(
            f"{step} Kafka transaction {self.transactional_id!r} failed ({exc}); nothing of it is visible"
        )

    def _fenced_before(self, producer: Producer) -> bool:
        """Whether a record already sent in this transaction failed because a newer producer fenced this one
        (serves the delivery reports first)."""
        try:
            producer.poll(0)
        except Exception:
            pass
        return any(is_fenced(e) for _t, _p, d, _n in self._appends for e in d.errors)

    def _abort(self) -> None:
        self._pending = []
        self._offsets = []
        producer = self._producer
        if producer is None:  # nothing was sent: nothing to abort on the cluster
            self._producers.release(self.transactional_id, None)
            return
        try:
            producer.abort_transaction(self._s.timeout_s)
        except KafkaException:
            self._release(fatal=True)
            return
        self._release()


_FENCED_CODES = {"PRODUCER_FENCED", "_FENCED", "INVALID_PRODUCER_EPOCH", "INVALID_PRODUCER_ID_MAPPING"}


def is_fenced(error: Any) -> bool:
    """Whether a librdkafka error (or exception holding one) means a newer producer fenced this one."""
    err = kafka_error_of(error) if isinstance(error, BaseException) else error
    name = err.name() if err is not None and hasattr(err, "name") else str(error)
    return name in _FENCED_CODES or any(code in str(error) for code in ("PRODUCER_FENCED", "_FENCED"))


def ensure_state_topic(admin: KafkaAdmin) -> None:
    """Create :data:`STATE_TOPIC` (one partition, compacted) unless it exists."""
    try:
        admin.check_partition(STATE_TOPIC, 0)
        return
    except MillstreamError:
        pass
    try:
        admin.create_topic(STATE_TOPIC, 1, {"cleanup.policy": "compact", "retention.ms": "-1"}, 1)
    except TopicExistsError:
        pass


def standalone_group_metadata(settings: KafkaSettings, group: str) -> Any:
    """Group metadata for ``send_offsets_to_transaction`` from a consumer that never joins the group."""
    consumer = make_client(Consumer, settings.consumer_config(**{"group.id": group}), f"consumer of group {group!r}")
    try:
        return consumer.consumer_group_metadata()
    finally:
        consumer.close()


__all__ = [
    "STATE_TOPIC",
    "KafkaTransaction",
    "TransactionalProducers",
    "ensure_state_topic",
    "standalone_group_metadata",
]
