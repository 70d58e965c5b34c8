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
"""

from __future__ import annotations

import uuid

from ..log.base import Log


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


__all__ = ["TaskFencing"]
