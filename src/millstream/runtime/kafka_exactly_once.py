"""Exactly-once log sinks on Kafka: the transactional id, the transaction-timeout check, the open transaction.

On the embedded log an exactly-once sink keeps its records until the checkpoint's log transaction. On
``kafka://`` the sink writes into an open Kafka transaction instead (as Flink's ``KafkaSink`` does), so
memory stays bounded: past its first 10,000 records (held back, see
:class:`~millstream.log.kafka_transaction.KafkaTransaction`) records stream to the brokers, invisible to
``read_committed`` readers until the commit:

  1. **start**: the job's transactional id is ``<prefix>-0`` (``set_transactional_id_prefix`` of the sink,
     by default ``millstream-<job id>``; ``-0`` is the task number of the single-task runtime). Opening it
     calls ``init_transactions``, which fences any older producer with the same id (a zombie of a crashed
     or still running earlier attempt: its next send or commit fails with ``PRODUCER_FENCED``) and aborts
     the transaction it left open. Only then is the checkpoint marker read, so recovery sees the last
     *committed* checkpoint;
  2. **between checkpoints**: the sinks append to that one transaction (:class:`OpenKafkaTransaction`);
  3. **checkpoint**: the coordinator adds the source group offsets (``send_offsets_to_transaction``) and
     the marker (``put_state`` → a record of the compacted topic ``__millstream_state``) and commits —
     output, offsets and marker become visible together. The next records go to a new transaction;
  4. **cancel / failure**: the open transaction is aborted; the restarted job re-produces its records.

Because a transaction stays open for a whole checkpoint interval, the producer's ``transaction.timeout.ms``
(librdkafka default 60 s) must exceed the interval plus :data:`TIMEOUT_MARGIN_MS`, or the brokers abort
it between checkpoints; :func:`check_transaction_timeout` refuses such a job before it starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.errors import CheckpointError
from ..log.base import Log, Transaction

DEFAULT_TRANSACTION_TIMEOUT_MS = 60_000
"""librdkafka's default ``transaction.timeout.ms``."""

TIMEOUT_MARGIN_MS = 10_000
"""Time a transaction needs beyond the checkpoint interval: taking and writing the checkpoint, the commit."""


def is_kafka(url: str | None) -> bool:
    """Whether a log URL is a Kafka cluster."""
    return str(url or "").startswith("kafka://")


def transactional_id(job_id: str, prefix: str | None, task: int = 0) -> str:
    """``<prefix>-<task>``, the prefix being the sink's ``transactional_id_prefix`` or ``millstream-<job id>``.
    Stable across restarts of the job (so a restart fences the previous attempt) and distinct per job."""
    return f"{prefix or 'millstream-' + job_id}-{task}"


def transaction_timeout_ms(properties: Mapping[str, Any] | None) -> int:
    """The producer's ``transaction.timeout.ms`` from sink properties (``producer.``-scoped wins)."""
    props = dict(properties or {})
    raw = props.get("producer.transaction.timeout.ms", props.get("transaction.timeout.ms"))
    if raw is None:
        return DEFAULT_TRANSACTION_TIMEOUT_MS
    try:
        return int(str(raw))
    except ValueError:
        raise CheckpointError(
            f"transaction.timeout.ms={raw!r} is not a number of milliseconds",
            hint="set_property('transaction.timeout.ms', <milliseconds>) on the Kafka sink",
        ) from None


def check_transaction_timeout(interval_ms: int, sinks: list[Any]) -> None:
    """Refuse exactly-once Kafka sinks whose transactions would time out between two checkpoints."""
    for op in sinks:
        timeout = transaction_timeout_ms(op.sink.properties)
        needed = interval_ms + TIMEOUT_MARGIN_MS
        if timeout < needed:
            raise CheckpointError(
                f"exactly-once Kafka sink {op.name!r}: its transaction.timeout.ms ({timeout} ms) is shorter than "
                f"the checkpoint interval ({interval_ms} ms) plus {TIMEOUT_MARGIN_MS} ms for taking and committing "
                "the checkpoint, so the brokers would abort each transaction before its checkpoint commits it",
                hint=f"raise transaction.timeout.ms to at least {needed} (set_property('transaction.timeout.ms', "
                f"'{needed}') on the sink; brokers cap it at transaction.max.timeout.ms, 15 min by default), "
                "or checkpoint more often (enable_checkpointing(interval_ms))",
            )


class OpenKafkaTransaction:
    """The Kafka transaction the exactly-once sinks of one job write into until the next checkpoint."""

    def __init__(self, log: Log, transactional_id: str) -> None:
        self.log = log
        self.transactional_id = transactional_id
        self.records = 0  # appended since the transaction began
        self.txn: Transaction = log.transaction(transactional_id)

    def fence(self) -> None:
        """``init_transactions`` now: fence older producers of the id and abort what they left open."""
        flush = getattr(self.txn, "flush", None)
        if flush is not None:
            flush()

    def append(self, topic: str, partition: int, records: list[Any]) -> None:
        """Add records to the open transaction (they stream to the brokers, invisible until the commit)."""
        self.txn.append(topic, partition, records)
        self.records += len(records)

    def commit(self) -> int:
        """Commit (the caller has added offsets and the marker) and begin the next transaction; the
        number of records committed."""
        n, txn = self.records, self.txn
        try:
            txn.commit()
        finally:
            self.records = 0
            self.txn = self.log.transaction(self.transactional_id)
        return n

    def abort(self) -> None:
        """Abort the open transaction (nothing of it becomes visible)."""
        self.txn.abort()
        self.records = 0


__all__ = [
    "DEFAULT_TRANSACTION_TIMEOUT_MS",
    "TIMEOUT_MARGIN_MS",
    "OpenKafkaTransaction",
    "check_transaction_timeout",
    "is_kafka",
    "transaction_timeout_ms",
    "transactional_id",
]
