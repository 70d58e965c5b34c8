"""A control topic: one partition of JSON records that a group of processes share (a Connect cluster's
workers, the instances of a reactive job), and the consumer-group membership on it that elects their leader.

The group coordinator assigns the topic's one partition to exactly one live member of the group, and keeps
it there while that member lives (sticky): that member leads. A member that stops heartbeating for
``session.timeout.ms`` loses it, and another member gets it. The records themselves are not consumed through
the group: every member tails the partition with plain reads (:class:`ControlTail`), so each one sees all
of them.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import orjson

from ..core.errors import BrokerTimeoutError
from ..core.record import TopicPartition
from .base import Log
from .consumer import Consumer

log = logging.getLogger("millstream.log")


class LeaderElection:
    """This process's membership of consumer group ``group_id`` on control topic ``topic``; it leads while
    the group assigns it the topic's partition. The consumer is created on the first :meth:`leads`.

    Joining never blocks the caller and never fails for taking long: the first :meth:`leads` starts the join in
    the background (the group's first assignment can take seconds: the coordinator waits for more members,
    ``group.initial.rebalance.delay.ms``, 3 s by default on Apache Kafka), and :meth:`leads` says ``False``
    until it has come (:attr:`assigned`). A first assignment that has not come within the log's timeout is
    waited for by the next calls."""

    def __init__(self, log: Log, group_id: str, topic: str, session_timeout_ms: int) -> None:
        self.log = log
        self.group_id = group_id
        self.topic = topic
        self.session_timeout_ms = session_timeout_ms
        self._consumer: Consumer | None = None
        self._joining: threading.Thread | None = None  # the current join
        self._joiner: Consumer | None = None  # the current join's member, while it waits for its assignment
        self._join_error: BaseException | None = None
        self._lock = threading.Lock()
        self._left = False  # for good: no join after a leave()
        #: the group gave this member its first assignment (maybe empty) within the log's timeout
        self.assigned = False

    def _join(self) -> None:
        """(The join thread.) Create the member and wait for its first assignment. A join that is no longer
        the current one, or ends after a :meth:`leave`, closes its member and keeps nothing of it, not even its
        error."""
        consumer: Consumer | None = None
        error: BaseException | None = None
        try:
            consumer = self.log.consumer(
                self.group_id,
                auto_offset_reset="latest",
                commit_on_close=False,
                properties={
                    "session.timeout.ms": self.session_timeout_ms,
                    "heartbeat.interval.ms": max(100, self.session_timeout_ms // 4),
                },
            )
            with self._lock:
                self._joiner = consumer
                if self._left:
                    consumer.wakeup()
            try:
                consumer.subscribe([self.topic])
                self.assigned = True
            except BrokerTimeoutError as exc:  # no assignment within the timeout: the member keeps joining
                log.warning("group %s: still joining (%s); trying on", self.group_id, exc.message)
        except BaseException as exc:  # raised to the caller by the next leads(), which joins again after it
            error = exc
        with self._lock:
            self._joiner = None
            if threading.current_thread() is self._joining and not self._left:
                if error is None:
                    self._consumer = consumer
                    return
                self._join_error = error
        if consumer is not None:
            try:
                consumer.close()
            except Exception:
                pass

    def leads(self) -> bool:
        """Serve the group protocol (join, heartbeat, rebalance) and say whether this member holds the
        partition now (``False`` while it joins, and after :meth:`leave`)."""
        if self._left:
            return False
        joining = self._joining
        if joining is None:
            joining = threading.Thread(target=self._join, name=f"join-{self.group_id}", daemon=True)
            with self._lock:
                self._joining = joining
            joining.start()
        if joining.is_alive():
            return False
        error, self._join_error = self._join_error, None
        if error is not None:
            self._joining = None  # joined again by the next call
            raise error
        consumer = self._consumer
        if consumer is None:
            return False
        consumer.poll(0, max_records=1000)  # the records are read by the tail, not here
        return TopicPartition(self.topic, 0) in consumer.assignment()

    @property
    def joined(self) -> bool:
        """Whether this member has started joining the group."""
        return self._joining is not None

    LEAVE_WAIT_S = 6.0
    """How long :meth:`leave` waits for a join in progress to close its member (librdkafka's close of a member
    whose JoinGroup request is in flight waits for that request, up to 5 s)."""

    def leave(self) -> None:
        """Leave the group now, for good (the partition goes to another member without waiting for the session;
        :meth:`leads` joins no more, so a heartbeat after a shutdown's leave starts no member that the log's
        close would then close under its join); a join still waiting for its assignment is woken up, closes its
        member and ends (waited for up to :attr:`LEAVE_WAIT_S`)."""
        with self._lock:
            self._left = True
            consumer, self._consumer = self._consumer, None
            joiner, joining = self._joiner, self._joining
        if consumer is not None:
            consumer.close()
        if joiner is not None:  # a join waiting for its assignment: cut the wait, let it close its member
            joiner.wakeup()
        if joining is not None and joining is not threading.current_thread():
            joining.join(self.LEAVE_WAIT_S)  # (so that the log's close does not close the member under it)


class ControlTail:
    """Reads a control topic's records in order from ``offset``, each once, as ``(timestamp, body)``."""

    def __init__(self, log: Log, topic: str, offset: int) -> None:
        self.log = log
        self.topic = topic
        self.offset = offset

    def read(self, *, to_end: bool = False, timeout_ms: int = 10) -> list[tuple[int, dict[str, Any]]]:
        """The records after the last read. With ``to_end``, up to the partition's end as listed now (one
        request more; it waits ``timeout_ms`` for records not fetched yet); otherwise until a read finds
        nothing within ``timeout_ms``."""
        out: list[tuple[int, dict[str, Any]]] = []
        end = self.log.latest_offset(self.topic, 0) if to_end else None
        while end is None or self.offset < end:
            recs = self.log.read(self.topic, 0, self.offset, max_records=1000, timeout_ms=timeout_ms)
            if not recs:
                break  # (before a listed end: only transaction markers or aborted records are left)
            out.extend((int(r.timestamp), orjson.loads(r.value or b"{}")) for r in recs)
            self.offset = recs[-1].offset + 1
        return out


__all__ = ["ControlTail", "LeaderElection"]
