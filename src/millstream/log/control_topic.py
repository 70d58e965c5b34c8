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

    Joining never fails for taking long: a first assignment that has not come within the log's timeout is
    waited for by the next calls."""

    def __init__(self, log: Log, group_id: str, topic: str, session_timeout_ms: int) -> None:
        self.log = log
        self.group_id = group_id
        self.topic = topic
        self.session_timeout_ms = session_timeout_ms
        self._consumer: Consumer | None = None

    def leads(self) -> bool:
        """Serve the group protocol (join, heartbeat, rebalance) and say whether this member holds the
        partition now."""
        consumer = self._consumer
        if consumer is None:
            consumer = self._consumer = self.log.consumer(
                self.group_id,
                auto_offset_reset="latest",
                commit_on_close=False,
                properties={
                    "session.timeout.ms": self.session_timeout_ms,
                    "heartbeat.interval.ms": max(100, self.session_timeout_ms // 4),
                },
            )
            try:
                consumer.subscribe([self.topic])
            except BrokerTimeoutError as exc:  # no assignment within the timeout: the member keeps joining
                log.warning("group %s: still joining (%s); trying on", self.group_id, exc.message)
        consumer.poll(0, max_records=1000)  # the records are read by the tail, not here
        return TopicPartition(self.topic, 0) in consumer.assignment()

    @property
    def joined(self) -> bool:
        return self._consumer is not None

    def leave(self) -> None:
        """Leave the group now (the partition goes to another member without waiting for the session)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()


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
