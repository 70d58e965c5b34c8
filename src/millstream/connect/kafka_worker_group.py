"""The worker group of a distributed Connect cluster on a Kafka cluster (``kafka://``): Kafka's own group
protocol elects the leader, a one-partition control topic carries the workers' heartbeats and the leader's
assignment, and Kafka's transactional ids fence a deposed leader. Kafka keeps no compare-and-set state, and
none is needed: as in Kafka Connect, only the leader writes the assignment and the connector configs.

- **Leader**: every worker is a member of the consumer group ``<group.id>`` subscribed to the control topic
  ``__millstream_connect.<group.id>`` (one partition). The group coordinator assigns that partition to
  exactly one live member (sticky: it stays with its owner while the owner lives), which leads. A member that
  stops heartbeating (kill -9, a hang past ``session.timeout.ms``) loses it and another member gets it.
- **Fencing**: a worker that becomes leader starts new producers (``init_transactions``) for the cluster's
  transactional ids ``connect-cluster-<group.id>`` (config writes, Kafka Connect's own id for them) and
  ``connect-cluster-<group.id>-assignment``: every producer of an earlier leader is fenced from then on, so a
  deposed leader that has not noticed yet can write neither a config nor an assignment.
- **Members**: every worker appends a heartbeat ``{worker, url, running, leader, epoch}`` to the control topic
  every ``heartbeat.interval.ms`` (and when what it runs changes) and tails the topic; a worker is live while
  its last heartbeat is newer than ``session.timeout.ms`` (by the record's timestamp: the workers' clocks must
  agree within that) and it has not written ``leave``.
- **Assignment**: the leader's heartbeats carry the assignment (a transaction of its assignment id), numbered
  by its epoch (one more than the highest it has seen); every worker follows the one of the highest
  ``(epoch, version)``. A worker that starts reads the control topic from one session timeout back, so it
  knows the members and the assignment at once.
- **Internal topics**: the first record of each internal topic's partition 0 that names an owner wins: a
  cluster whose ``group.id`` differs from it is refused (:meth:`KafkaWorkerGroup.claim_topics`); it also
  carries the cluster id every worker reports.

A heartbeat (:meth:`KafkaWorkerGroup.heartbeat`):

1. polls the election consumer (the group membership) and notes whether it holds the control partition;
   on becoming leader it reads the control topic to its end and — once no other live worker's heartbeat
   still claims the lead — fences the earlier leaders;
2. appends its heartbeat (the leader's in a transaction, with the assignment);
3. reads the control topic to its end and derives the live members, the leader and the assignment.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import orjson

from ..core.errors import ConfigError, FencedError
from ..core.record import ProducerRecord
from ..log.base import Log
from ..log.control_topic import ControlTail, LeaderElection
from .fencing import KafkaTaskFencing, SourceTaskFencing
from .storage import Guard, TransactionalGuard
from .unit_assignor import Assignment, Unit, assign_units
from .worker_group import GroupView, summary

log = logging.getLogger("millstream.connect.worker_group")

OWNER_KEY = b"__millstream.connect.owner"
"""The key of the ownership record in each internal topic (Connect's stores ignore keys they do not know)."""


CONTROL_RETENTION_MS = 24 * 3600 * 1000
"""How long the control topic keeps heartbeats (a worker reads back one session timeout)."""


def _topic_safe(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9._-]", "_", name)


class KafkaWorkerGroup:
    """One worker's membership of the worker group on Kafka (see the module docstring)."""

    def __init__(
        self, log_: Log, group_id: str, worker_id: str, url: str, session_timeout_ms: int, delay_ms: int
    ) -> None:
        self.log = log_
        self.group_id = group_id
        self.worker_id = worker_id
        self.url = url
        self.session_timeout_ms = session_timeout_ms
        self.delay_ms = delay_ms
        self.topic = f"__millstream_connect.{_topic_safe(group_id)}"
        self.config_tid = f"connect-cluster-{group_id}"
        self.assignment_tid = f"connect-cluster-{group_id}-assignment"
        self.view = GroupView(0, [], "")
        self._election = LeaderElection(log_, group_id, self.topic, session_timeout_ms)
        self._tail = ControlTail(log_, self.topic, 0)
        self._seen: dict[str, tuple[int, dict[str, Any]]] = {}  # worker -> (heartbeat ms, its record)
        self._left: dict[str, int] = {}  # worker -> when it wrote "leave"
        self._assignment = Assignment()
        self._assignment_epoch = 0
        self._epoch = 0  # this worker's epoch while it leads
        self._running: list[list[Any]] = []
        self._published: list[list[Any]] | None = None
        self._cluster_id = ""
        self._joined = False

    # -- the control topic ----------------------------------------------------------------------------
    def _open(self) -> None:
        """Create the control topic (explicitly: Kafka might auto-create it with several partitions), find
        where to read from (one session timeout back) and join the group."""
        # (every heartbeat repeats what a worker needs, so a day of retention keeps the topic short)
        self.log.create_topic(self.topic, 1, {"retention.ms": str(CONTROL_RETENTION_MS)}, exist_ok=True)
        since = int(time.time() * 1000) - self.session_timeout_ms
        try:
            start = self.log.offset_for_timestamp(self.topic, 0, since)
        except Exception:
            start = None
        offset = self.log.latest_offset(self.topic, 0) if start is None else start
        self._tail.offset = max(offset, self.log.earliest_offset(self.topic, 0))
        self._election.leads()  # joins the group
        self._joined = True

    def _read(self) -> None:
        """Step 3: read the control topic to its end."""
        for timestamp, body in self._tail.read(to_end=True, timeout_ms=50):
            worker = str(body.get("worker", ""))
            kind = body.get("kind")
            if kind == "heartbeat":
                self._seen[worker] = (timestamp, body)
                self._left.pop(worker, None)
                a = body.get("assignment")
                epoch = int(body.get("epoch") or 0)
                if a is not None and body.get("leader"):
                    nxt = Assignment.from_json(a)
                    if (epoch, nxt.version) >= (self._assignment_epoch, self._assignment.version):
                        self._assignment, self._assignment_epoch = nxt, epoch
            elif kind == "leave":
                self._left[worker] = timestamp

    def _body(self, leads: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "heartbeat",
            "worker": self.worker_id,
            "url": self.url,
            "running": self._running,
            "leader": leads,
            "epoch": self._epoch,
        }
        if leads:
            body["assignment"] = self._assignment.to_json()
        return body

    def _send(self, leads: bool) -> None:
        """Step 2: append this worker's heartbeat (the leader's in a transaction of its assignment id)."""
        record = ProducerRecord(orjson.dumps(self._body(leads)), self.worker_id.encode())
        if not leads:
            self.log.append(self.topic, 0, [record])
            return
        try:
            with self.log.transaction(self.assignment_tid) as txn:
                txn.append(self.topic, 0, [record])
        except FencedError:
            log.info("worker %s no longer leads group %s: a newer leader fenced it", self.worker_id, self.group_id)
            self._epoch = 0
            self.log.append(self.topic, 0, [ProducerRecord(orjson.dumps(self._body(False)), self.worker_id.encode())])

    # -- membership -----------------------------------------------------------------------------------
    def _holds_partition(self) -> bool:
        if not self._election.joined:
            self._open()
        return self._election.leads()

    def heartbeat(self) -> GroupView:
        """Steps 1-3 (see the module docstring); the first heartbeat waits (up to twice the session timeout
        plus 10 s) until the group has a leader."""
        first = not self._joined
        deadline = time.monotonic() + 2 * self.session_timeout_ms / 1000 + 10
        while True:
            self._beat()
            if not first or self.view.leader or time.monotonic() > deadline:
                return self.view
            time.sleep(0.25)

    def _beat(self) -> None:
        holds = self._holds_partition()  # 1.
        if holds and not self._epoch:
            self._read()
            if any(b.get("leader") for w, b in self._live().items() if w != self.worker_id):
                holds = False  # the last leader still claims it (it has not noticed the move yet): next round
        if holds and not self._epoch:
            self._epoch = (
                max([self._assignment_epoch, *(int(b.get("epoch") or 0) for _ts, b in self._seen.values())]) + 1
            )
            self.log.init_transactions(self.config_tid)  # type: ignore[attr-defined]
            self.log.init_transactions(self.assignment_tid)  # type: ignore[attr-defined]
            log.info("worker %s leads group %s (epoch %d)", self.worker_id, self.group_id, self._epoch)
        elif not holds:
            self._epoch = 0
        self._send(bool(self._epoch))  # 2.
        self._published = self._running
        self._read()  # 3.
        live = self._live()
        live[self.worker_id] = self._body(bool(self._epoch))
        leaders = [(int(b.get("epoch") or 0), w) for w, b in live.items() if b.get("leader")]
        _epoch, leader = max(leaders) if leaders else (0, "")
        if not leader and self._assignment.leader in live:
            leader = self._assignment.leader  # (between two heartbeats of a leader that just took over)
        self.view = GroupView(self._assignment_epoch, sorted(live), leader)

    def _live(self) -> dict[str, dict[str, Any]]:
        """The last heartbeat of each worker whose session has not run out and which has not left."""
        now = int(time.time() * 1000)
        return {w: b for w, (ts, b) in self._seen.items() if now - ts < self.session_timeout_ms and w not in self._left}

    @property
    def is_leader(self) -> bool:
        """Whether this worker led the group at its last heartbeat."""
        return bool(self._epoch) and self.view.leader == self.worker_id

    def leave(self) -> None:
        """Leave the group (a clean shutdown): a ``leave`` record, and the election consumer closes (another
        member takes the control partition at once). Nothing if this worker never joined."""
        if not self._joined:
            return
        try:
            body = {"kind": "leave", "worker": self.worker_id}
            self.log.append(self.topic, 0, [ProducerRecord(orjson.dumps(body), self.worker_id.encode())])
        finally:
            self._election.leave()

    # -- per-worker state -----------------------------------------------------------------------------
    def publish_running(self, units: Iterable[Unit], *, force: bool = False) -> None:
        """Record the units this worker runs or is still stopping: a heartbeat at once when it changed."""
        self._running = sorted([str(n), int(i)] for n, i in units)
        if (self._running != self._published or force) and self._joined:
            self._send(self.is_leader)
            self._published = self._running

    def url_of(self, worker_id: str) -> str:
        """The REST URL of a worker (from its last heartbeat; ``http://<worker id>`` if none seen)."""
        if worker_id == self.worker_id:
            return self.url
        seen = self._seen.get(worker_id)
        return str(seen[1].get("url") if seen else "") or f"http://{worker_id}"

    def held(self, members: Iterable[str]) -> dict[str, list[Unit]]:
        """What each of ``members`` runs or is stopping, as its last heartbeat said."""
        out: dict[str, list[Unit]] = {}
        for m in members:
            running = self._running if m == self.worker_id else (self._seen.get(m, (0, {}))[1].get("running") or [])
            out[m] = [(str(n), int(i)) for n, i in running]
        return out

    # -- the assignment -------------------------------------------------------------------------------
    def assignment(self) -> Assignment:
        """The assignment of the newest leader's last heartbeat (empty before any)."""
        return self._assignment

    def rebalance(self, units: Iterable[Unit], now_ms: int | None = None) -> Assignment:
        """Leader only: compute the next assignment; it goes out with this leader's next heartbeat (at once
        when it changed). A worker that left counts as gone from when its session ran out (its last
        heartbeat + ``session.timeout.ms``) or from its ``leave``, not from when this leader noticed."""
        previous = self._assignment
        now = int(time.time() * 1000) if now_ms is None else now_ms
        members = self.view.members
        departed = dict(previous.departed)
        for w, had in previous.workers.items():
            if w not in members and had and w not in departed:
                seen = self._seen.get(w)
                gone = self._left.get(w) or (seen[0] + self.session_timeout_ms if seen else now)
                departed[w] = min(now, gone)
        base = replace(previous, departed=departed)
        nxt = assign_units(units, members, base, self.held(members), now, self.delay_ms)
        if nxt.version == previous.version and nxt.departed == previous.departed and previous.leader == self.worker_id:
            return previous
        nxt = replace(nxt, version=previous.version + 1, leader=self.worker_id)
        self._assignment, self._assignment_epoch = nxt, self._epoch
        self._send(True)
        if not self._epoch:  # fenced while sending: a newer leader's assignment counts
            return self._assignment
        log.info("rebalanced worker group %s (version %d): %s", self.group_id, nxt.version, summary(nxt))
        return nxt

    # -- guards ---------------------------------------------------------------------------------------
    def _owner(self, topic: str) -> dict[str, Any] | None:
        """The first ownership record in partition 0 of ``topic`` (``None``: none)."""
        offset = self.log.earliest_offset(topic, 0)
        end = self.log.latest_offset(topic, 0)
        while offset < end:
            batch = self.log.read(topic, 0, offset, max_records=10_000, timeout_ms=200)
            if not batch:
                return None
            for r in batch:
                if r.key == OWNER_KEY and r.value:
                    return dict(orjson.loads(r.value))
            offset = batch[-1].offset + 1
        return None

    def claim_topics(self, topics: Mapping[str, str]) -> None:
        """Refuse to share internal topics with another cluster: the first ownership record in each topic
        names the ``group.id`` of the cluster that uses it (written by the first worker that found none; of two
        written at once the first in the partition wins); a worker of another group gets a
        :class:`ConfigError`."""
        for role, topic in topics.items():
            owner = self._owner(topic)
            if owner is None:
                body = {"group.id": self.group_id, "cluster.id": str(uuid.uuid4())}
                self.log.append(topic, 0, [ProducerRecord(orjson.dumps(body), OWNER_KEY)])
                owner = self._owner(topic) or body
            if str(owner.get("group.id")) != self.group_id:
                raise ConfigError(
                    f"{role}={topic} is already used by the Connect cluster with group.id={owner.get('group.id')}, "
                    f"not {self.group_id}: two clusters on the same internal topics would overwrite each other",
                    hint=f"join that cluster with group.id={owner.get('group.id')}, or give this cluster its own "
                    "config.storage.topic, offset.storage.topic and status.storage.topic",
                )
            if role == "config.storage.topic":
                self._cluster_id = str(owner.get("cluster.id") or "")

    def cluster_id(self) -> str:
        """The id the config topic's ownership record carries (the same on every worker of the cluster)."""
        return self._cluster_id

    def write_guard(self) -> Guard:
        """Config writes are transactions of ``connect-cluster-<group.id>``: a newer leader fences them."""
        return TransactionalGuard(self.config_tid)

    def task_fencing(self) -> SourceTaskFencing:
        """Kafka's transactional ids (:class:`~millstream.connect.fencing.KafkaTaskFencing`)."""
        return KafkaTaskFencing(self.log, self.group_id, self.worker_id)


__all__ = ["OWNER_KEY", "KafkaWorkerGroup"]
