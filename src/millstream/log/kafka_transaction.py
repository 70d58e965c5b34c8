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

``put_state`` is not supported: a Kafka cluster has no place for state blobs.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from ..core.clock import Clock
from ..core.errors import MillstreamError, TransactionError
from ..core.record import ProducerRecord, TopicPartition
from .base import Transaction, check_offset_arg
from .kafka_admin import KafkaAdmin
from .kafka_config import KafkaSettings
from .kafka_errors import kafka_error_of, make_client, translate
from .kafka_producer import Delivery, ProduceQueue, prepare


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

    def _error(self, step: str, exc: BaseException) -> MillstreamError:
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
        producer.flush(self._s.timeout_s)

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
        """Not supported: a Kafka cluster has no place for state blobs."""
        raise TransactionError(
            "a Kafka transaction cannot store state blobs (put_state) in the log",
            hint="keep operator state in the checkpoint storage; the kafka:// log commits records and offsets",
        )

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
            remaining = producer.flush(self._s.timeout_s)
            failed = [d.errors[0] for _, _, d, _ in self._appends if d.errors]
            if remaining or failed or any(d.count != n for _, _, d, n in self._appends):
                detail = failed[0] if failed else f"{remaining} record(s) not acknowledged in time"
                self._abort()
                raise TransactionError(
                    f"committing Kafka transaction {self.transactional_id!r}: records were not written "
                    f"({detail}); the transaction was aborted and nothing of it is visible"
                )
            producer.commit_transaction(self._s.timeout_s)
        except KafkaException as exc:
            err = kafka_error_of(exc)
            if err is not None and err.txn_requires_abort():
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


def standalone_group_metadata(settings: KafkaSettings, group: str) -> Any:
    """Group metadata for ``send_offsets_to_transaction`` from a consumer that never joins the group."""
    consumer = make_client(Consumer, settings.consumer_config(**{"group.id": group}), f"consumer of group {group!r}")
    try:
        return consumer.consumer_group_metadata()
    finally:
        consumer.close()


__all__ = ["KafkaTransaction", "TransactionalProducers", "standalone_group_metadata"]
