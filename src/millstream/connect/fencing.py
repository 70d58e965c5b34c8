"""Zombie fencing of exactly-once source tasks in a distributed cluster (KIP-618).

An exactly-once source task commits each batch — records and source offsets — in one log transaction. When
the task moves to another worker while its old instance still runs (a worker that hung past its session
timeout: a *zombie*), both would commit, and the records of one would be duplicated. So, as Kafka fences
the producer of a task's old ``transactional.id``:

1. a task instance that starts **claims** its task: it writes a new token under
   ``connect-fence/<group>/<connector>/<task>`` in the log's state (its own transaction);
2. every batch it commits carries the precondition that the token is still its own
   (:meth:`~millstream.log.base.Transaction.require_state`);
3. once a newer instance has claimed the task, the old instance's next commit fails with
   :class:`~millstream.core.errors.FencedError` and writes nothing; the old instance stops (FAILED, its
   status write ignored because the task belongs to the new instance).

The new instance reads the source offsets *after* its claim, so it resumes exactly after the last batch any
earlier instance committed.

On ``kafka://`` (:class:`KafkaTaskFencing`) the fencing is Kafka's own, as in Kafka Connect: each task commits
with the transactional id ``<group>-<connector>-<task>``; the claim (step 1) starts a new producer of that id
(``init_transactions``), which fences the producer of every earlier instance in any process (step 3: its
next commit fails with :class:`~millstream.core.errors.FencedError`). Both variants share the
:class:`SourceTaskFencing` protocol (:func:`task_fencing_for` picks one for a log).
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from ..core.errors import ConfigError
from ..log.base import Log, Transaction
from ..log.consumer import GroupCoordinator


class SourceTaskFencing(Protocol):
    """Zombie fencing of exactly-once source tasks (see the module docstring)."""

    group_id: str

    def claim(self, connector: str, task: int) -> Any:
        """Step 1: fence every earlier instance of the task; returns the claim for :meth:`transaction`."""
        ...

    def transaction(self, claim: Any) -> Transaction:
        """Step 2: a log transaction that commits only while ``claim`` is the task's latest."""
        ...


class TaskFencing:
    """Claims of exactly-once source tasks for one cluster (see the module docstring)."""

    def __init__(self, log_: Log, group_id: str, worker_id: str) -> None:
        self.log = log_
        self.group_id = group_id
        self.worker_id = worker_id

    def key(self, connector: str, task: int) -> str:
        """The state key of a task's fencing token."""
        return f"connect-fence/{self.group_id}/{connector}/{task}"

    def claim(self, connector: str, task: int) -> tuple[str, bytes]:
        """Step 1: fence every earlier instance of the task; returns ``(key, token)`` for step 2."""
        key = self.key(connector, task)
        token = f"{self.worker_id}/{uuid.uuid4().hex}".encode()
        with self.log.transaction() as txn:
            txn.put_state(key, token)
        return key, token

    def transaction(self, claim: tuple[str, bytes]) -> Transaction:
        """Step 2: a transaction that commits only while the task's token is still ``claim``'s."""
        txn = self.log.transaction()
        txn.require_state(*claim)
        return txn


class KafkaTaskFencing:
    """Claims of exactly-once source tasks on a Kafka cluster: Kafka's transactional-id fencing."""

    def __init__(self, log_: Log, group_id: str, worker_id: str) -> None:
        self.log = log_
        self.group_id = group_id
        self.worker_id = worker_id

    def transactional_id(self, connector: str, task: int) -> str:
        """Kafka Connect's transactional id of a source task: ``<group>-<connector>-<task>``."""
        return f"{self.group_id}-{connector}-{task}"

    def claim(self, connector: str, task: int) -> str:
        """Step 1: a new producer of the task's transactional id fences every earlier one."""
        tid = self.transactional_id(connector, task)
        self.log.init_transactions(tid)  # type: ignore[attr-defined]
        return tid

    def transaction(self, claim: str) -> Transaction:
        """Step 2: a transaction of the claimed transactional id (fenced once a newer instance claimed it)."""
        return self.log.transaction(claim)


def is_kafka(log_: Log) -> bool:
    """Whether ``log_`` is a :class:`~millstream.log.kafka.KafkaLog` (without importing the Kafka client when
    it is not installed)."""
    try:
        from ..log.kafka import KafkaLog
    except ImportError:
        return False
    return isinstance(log_, KafkaLog)


def task_fencing_for(log_: Log, group_id: str, worker_id: str) -> SourceTaskFencing:
    """The fencing of ``log_``: state tokens on a log that coordinates groups itself, transactional ids on
    Kafka; :class:`ConfigError` on any other log."""
    if isinstance(log_, GroupCoordinator):
        return TaskFencing(log_, group_id, worker_id)
    if is_kafka(log_):
        return KafkaTaskFencing(log_, group_id, worker_id)
    raise ConfigError(
        f"distributed mode needs a log that coordinates groups; {log_.url} does not",
        hint="use the embedded log (log.url=file://PATH) shared by every worker of the cluster, or a Kafka "
        "cluster (kafka://HOST:PORT)",
    )


__all__ = ["KafkaTaskFencing", "SourceTaskFencing", "TaskFencing", "is_kafka", "task_fencing_for"]
