"""Kafka transactions as a ``Log`` transaction: atomic appends across partitions plus group offset commits.

``log.transaction(transactional_id)`` takes the transactional producer of that id (created and
``init_transactions``-ed once per log, which also fences older producers with the same id) and begins a
Kafka transaction. The protocol of one :class:`KafkaTransaction`:

1. ``append`` produces records inside the transaction at once; ``read_committed`` readers (millstream's
   default) see none of them before the commit.
2. ``commit_offsets(group, offsets)`` adds the group's offsets to the transaction
   (``send_offsets_to_transaction``) with the group's metadata: that of the log's live
   :class:`~millstream.log.kafka_consumer.KafkaConsumer` of the group if there is one (so a zombie member
   is fenced), else a standalone group metadata.
3. ``commit()`` waits for every record's delivery, then ``commit_transaction``; on any failure the
   transaction is aborted and :class:`TransactionError` is raised (nothing is visible). It returns each
   append's first offset, in call order.
4. ``abort()`` aborts. ``put_state`` is not supported: Kafka has no place for state blobs.
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
from .kafka_producer import Delivery, ProduceQueue


class TransactionalProducers:
    """One initialised transactional producer per transactional id, used by one transaction at a time."""

    def __init__(self, settings: KafkaSettings, clock: Clock) -> None:
        self._s = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._idle: dict[str, Producer] = {}
        self._busy: set[str] = set()

    def acquire(self, transactional_id: str) -> Producer:
        """The producer of ``transactional_id``; :class:`TransactionError` if a transaction of it is open."""
        with self._lock:
            if transactional_id in self._busy:
                raise TransactionError(
                    f"a transaction with transactional id {transactional_id!r} is already open in this log",
                    hint="commit or abort it first, or use another transactional id",
                )
            producer = self._idle.pop(transactional_id, None)
            self._busy.add(transactional_id)
        if producer is None:
            try:
                producer = make_client(
                    Producer,
                    self._s.producer_config(**{"transactional.id": transactional_id}),
                    f"transactional producer {transactional_id!r}",
                )
                producer.init_transactions(self._s.timeout_s)
            except KafkaException as exc:
                with self._lock:
                    self._busy.discard(transactional_id)
                raise translate(
                    exc, self._s.bootstrap, f"initialising transactional producer {transactional_id!r}"
                ) from exc
        return producer

    def release(self, transactional_id: str, producer: Producer | None) -> None:
        """Return a producer after its transaction ended (``None``: it failed fatally and is dropped)."""
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
    ) -> None:
        super().__init__()
        self._s = settings
        self._admin = admin
        self._producers = producers
        self.transactional_id = transactional_id or f"millstream-txn-{uuid.uuid4().hex}"
        self._group_metadata = group_metadata
        self._on_written = on_written
        self._producer: Producer | None = producers.acquire(self.transactional_id)
        self._queue = ProduceQueue(self._producer, clock)
        self._appends: list[tuple[str, int, Delivery, int]] = []
        try:
            self._producer.begin_transaction()
        except KafkaException as exc:
            self._release(fatal=True)
            raise self._error("beginning", exc) from exc

    def _error(self, step: str, exc: BaseException) -> MillstreamError:
        what = f"{step} Kafka transaction {self.transactional_id!r}"
        err = translate(exc, self._s.bootstrap, what, transactional=True)
        if isinstance(err, TransactionError):
            return err
        return TransactionError(f"{err.message} (nothing of the transaction is visible)", hint=err.hint)

    def _release(self, fatal: bool = False) -> None:
        if self._producer is not None:
            self._producers.release(self.transactional_id, None if fatal else self._producer)
            self._producer = None

    def _live(self) -> Producer:
        self._check_open()
        assert self._producer is not None
        return self._producer

    def append(self, topic: str, partition: int, records: Sequence[ProducerRecord]) -> None:
        """Produce ``records`` to ``topic[partition]`` inside the transaction (invisible until the commit)."""
        self._live()
        self._admin.check_partition(topic, partition)
        delivery = Delivery()
        try:
            n = self._queue.put(topic, partition, records, delivery)
        except KafkaException as exc:
            raise self._error(f"appending to {topic}[{partition}] in", exc) from exc
        self._appends.append((topic, partition, delivery, n))

    def commit_offsets(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit ``group``'s offsets as part of the transaction (``send_offsets_to_transaction``)."""
        producer = self._live()
        tps = []
        for tp, off in offsets.items():
            check_offset_arg(off)
            self._admin.check_partition(tp[0], tp[1])
            tps.append(KafkaTopicPartition(tp[0], tp[1], int(off)))
        if not tps:
            return
        try:
            producer.send_offsets_to_transaction(tps, self._group_metadata(group), self._s.timeout_s)
        except KafkaException as exc:
            raise self._error(f"committing offsets of group {group!r} in", exc) from exc

    def put_state(self, key: str, value: bytes | None) -> None:
        """Not supported: a Kafka cluster has no place for state blobs."""
        raise TransactionError(
            "a Kafka transaction cannot store state blobs (put_state) in the log",
            hint="keep operator state in the checkpoint storage; the kafka:// log commits records and offsets",
        )

    def _commit(self) -> list[int]:
        producer = self._producer
        assert producer is not None
        try:
            remaining = producer.flush(self._s.timeout_s)
            failed = [d.errors[0] for _, _, d, _ in self._appends if d.errors]
            if remaining or failed or any(d.count != n for _, _, d, n in self._appends):
                detail = failed[0] if failed else f"{remaining} record(s) not acknowledged in time"
                self._abort()
                raise TransactionError(
                    f"committing Kafka transaction {self.transactional_id!r}: records were not written ({detail}); "
                    "the transaction was aborted and nothing of it is visible"
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
        producer = self._producer
        if producer is None:
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
