"""The worker group of a distributed Connect cluster: membership, the leader, and the assignment of
connectors and tasks, over the log's own group membership and state.

Every worker of the cluster (same ``group.id`` on the same log) is a member of the log's group
``<group.id>`` with its worker id (``host:port``) as member id; the log keeps the members alive by
heartbeats, expires a member that stops heartbeating for ``session.timeout.ms`` and counts generations
(:meth:`~millstream.log.embedded.EmbeddedLog.sync_group_member`). On top of that, in the log's state
(``Log.get_state``, written by transactions):

``connect-group/<group>/worker/<id>``
    ``{"url", "running": [units]}``: where to reach the worker and which units it runs or is still stopping
    (written by the worker whenever that changes);
``connect-group/<group>/assignment``
    the :class:`~millstream.connect.unit_assignor.Assignment`, written by the leader only.

A heartbeat (:meth:`WorkerGroup.heartbeat`):

1. syncs the member (join, or heartbeat) and learns the live members; the **leader** is the worker that
   wrote the stored assignment while it stays in the group (leadership does not move when workers join, as
   in Kafka), else the first live member by id — every worker computes it the same way;
2. the leader computes the next assignment (:func:`~millstream.connect.unit_assignor.assign_units`) and
   writes it with a precondition that the stored one is still the one it read, so two workers that both
   believe they lead for a moment cannot overwrite each other's assignment;
3. every worker reads the stored assignment and runs exactly its units.

That is :class:`EmbeddedWorkerGroup`, for a log that coordinates groups itself and has compare-and-set state
(``file://``). On ``kafka://`` :class:`~millstream.connect.kafka_worker_group.KafkaWorkerGroup` does the same
with Kafka's group protocol and transactions. The herder sees either through the :class:`WorkerGroup` protocol
(:func:`open_worker_group` picks the variant for a log).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import orjson

from ..core.errors import ConfigError, FencedError
from ..log.base import Log
from ..log.consumer import GroupCoordinator
from .fencing import SourceTaskFencing, TaskFencing, is_kafka
from .storage import Guard, StateGuard
from .unit_assignor import Assignment, Unit, assign_units

log = logging.getLogger("millstream.connect.worker_group")


@dataclass(frozen=True)
class GroupView:
    """What one heartbeat saw: the log group's ``generation``, the live ``members`` (sorted) and the
    ``leader``."""

    generation: int
    members: list[str]
    leader: str


class WorkerGroup(Protocol):
    """One worker's membership of its cluster's worker group, as the distributed herder uses it."""

    group_id: str
    view: GroupView

    def heartbeat(self) -> GroupView:
        """Keep (or take up) the membership; learn the live members and the leader."""
        ...

    @property
    def is_leader(self) -> bool:
        """Whether this worker led the group at its last heartbeat."""
        ...

    def leave(self) -> None:
        """Leave the group (a clean shutdown)."""
        ...

    def publish_running(self, units: Iterable[Unit], *, force: bool = False) -> None:
        """Tell the group which units this worker runs or is still stopping."""
        ...

    def url_of(self, worker_id: str) -> str:
        """The REST URL of a worker."""
        ...

    def held(self, members: Iterable[str]) -> dict[str, list[Unit]]:
        """What each of ``members`` runs or is stopping, as it published."""
        ...

    def assignment(self) -> Assignment:
        """The current assignment."""
        ...

    def rebalance(self, units: Iterable[Unit], now_ms: int | None = None) -> Assignment:
        """(Leader only) compute and store the next assignment; returns the stored one."""
        ...

    def claim_topics(self, topics: Mapping[str, str]) -> None:
        """Refuse internal topics another cluster (another ``group.id``) uses: :class:`ConfigError`."""
        ...

    def cluster_id(self) -> str:
        """The id of the log's cluster (``kafka_cluster_id``), the same on every worker."""
        ...

    def write_guard(self) -> Guard:
        """The fencing a leader's config write carries (read it *before* reading the config topic)."""
        ...

    def task_fencing(self) -> SourceTaskFencing:
        """Zombie fencing of exactly-once source tasks on this log."""
        ...


class EmbeddedWorkerGroup:
    """One worker's membership of the worker group on a log that coordinates groups (see the module
    docstring)."""

    def __init__(
        self, log_: Log, group_id: str, worker_id: str, url: str, session_timeout_ms: int, delay_ms: int
    ) -> None:
        if not isinstance(log_, GroupCoordinator):
            raise ConfigError(
                f"distributed mode needs a log that coordinates groups; {log_.url} does not",
                hint="use the embedded log (log.url=file://PATH) shared by every worker of the cluster, or a "
                "Kafka cluster (kafka://HOST:PORT)",
            )
        self.log = log_
        self.coordinator: GroupCoordinator = log_
        self.group_id = group_id
        self.worker_id = worker_id
        self.url = url
        self.session_timeout_ms = session_timeout_ms
        self.delay_ms = delay_ms
        self.view = GroupView(0, [], worker_id)
        self._published: bytes | None = None
        self._prefix = f"connect-group/{group_id}/"
        self._joined = False

    # -- membership -----------------------------------------------------------------------------------
    def heartbeat(self) -> GroupView:
        """Step 1: sync the member; returns (and keeps in :attr:`view`) what it saw."""
        state = self.coordinator.sync_group_member(self.group_id, self.worker_id, [], self.session_timeout_ms, [])
        self._joined = True
        members = sorted(state.members)
        current = self.assignment().leader
        leader = current if current in members else (members[0] if members else self.worker_id)
        self.view = GroupView(state.generation, members, leader)
        return self.view

    @property
    def is_leader(self) -> bool:
        """Whether this worker led the group at its last heartbeat."""
        return self.view.leader == self.worker_id

    def leave(self) -> None:
        """Leave the group (a clean shutdown): the leader notices at its next heartbeat. Nothing if this
        worker never joined."""
        if not self._joined:
            return
        self.publish_running([], force=True)
        self.coordinator.leave_group_member(self.group_id, self.worker_id)

    # -- per-worker state -----------------------------------------------------------------------------
    def _put(self, key: str, value: bytes, expected: bytes | None = None, check: bool = False) -> None:
        with self.log.transaction() as txn:
            if check:
                txn.require_state(key, expected)
            txn.put_state(key, value)

    def publish_running(self, units: Iterable[Unit], *, force: bool = False) -> None:
        """Record the units this worker runs or is still stopping (written only when it changed)."""
        body = orjson.dumps({"url": self.url, "running": sorted(list(u) for u in units)})
        if body != self._published or force:
            self._put(self._prefix + "worker/" + self.worker_id, body)
            self._published = body

    def worker_info(self, worker_id: str) -> dict[str, object]:
        """``{"url", "running"}`` a worker last published (empty if none)."""
        raw = self.log.get_state(self._prefix + "worker/" + worker_id)
        return orjson.loads(raw) if raw else {}

    def url_of(self, worker_id: str) -> str:
        """The REST URL of a worker (from what it published; ``http://<worker id>`` if nothing)."""
        return str(self.worker_info(worker_id).get("url") or f"http://{worker_id}")

    def held(self, members: Iterable[str]) -> dict[str, list[Unit]]:
        """What each of ``members`` runs or is stopping, as it published."""
        out: dict[str, list[Unit]] = {}
        for m in members:
            running = self.worker_info(m).get("running") or []
            assert isinstance(running, list)
            out[m] = [(str(n), int(i)) for n, i in running]
        return out

    # -- the assignment -------------------------------------------------------------------------------
    def _read_raw(self) -> bytes | None:
        return self.log.get_state(self._prefix + "assignment")

    def assignment(self) -> Assignment:
        """Step 3: the stored assignment (empty before the first leader wrote one)."""
        raw = self._read_raw()
        return Assignment.from_json(orjson.loads(raw)) if raw else Assignment()

    def rebalance(self, units: Iterable[Unit], now_ms: int | None = None) -> Assignment:
        """Step 2 (leader only): compute the next assignment from ``units`` and store it if it changed.
        Returns the stored assignment (another leader's, if it wrote first)."""
        raw = self._read_raw()
        previous = Assignment.from_json(orjson.loads(raw)) if raw else Assignment()
        now = int(time.time() * 1000) if now_ms is None else now_ms
        members = self.view.members
        nxt = assign_units(units, members, previous, self.held(members), now, self.delay_ms)
        if nxt.version == previous.version and previous.leader == self.worker_id:
            return previous
        nxt = replace(nxt, version=previous.version + 1, leader=self.worker_id)
        try:
            self._put(self._prefix + "assignment", orjson.dumps(nxt.to_json()), raw, check=True)
        except FencedError:
            log.info("another worker rebalanced the group at the same time; using its assignment")
            return self.assignment()
        log.info("rebalanced worker group %s (version %d): %s", self.group_id, nxt.version, summary(nxt))
        return nxt

    # -- guards ---------------------------------------------------------------------------------------
    def claim_topics(self, topics: Mapping[str, str]) -> None:
        """Refuse to share internal topics with another cluster: the first cluster to use a topic records its
        ``group.id`` for it; a worker of another group naming the same topic gets a :class:`ConfigError`."""
        for role, topic in topics.items():
            key = f"connect-topic-owner/{topic}"
            raw = self.log.get_state(key)
            if raw is None:
                try:
                    self._put(key, self.group_id.encode(), None, check=True)
                    continue
                except FencedError:
                    raw = self.log.get_state(key)
            owner = (raw or b"").decode()
            if owner != self.group_id:
                raise ConfigError(
                    f"{role}={topic} is already used by the Connect cluster with group.id={owner}, not "
                    f"{self.group_id}: two clusters on the same internal topics would overwrite each other",
                    hint=f"join that cluster with group.id={owner}, or give this cluster its own "
                    "config.storage.topic, offset.storage.topic and status.storage.topic",
                )

    # -- the cluster ----------------------------------------------------------------------------------
    def cluster_id(self) -> str:
        """The log's id (:func:`cluster_id_of`)."""
        return cluster_id_of(self.log)

    def write_guard(self) -> Guard:
        """A compare-and-set of a version in the log's state: if any other worker changed connector configs
        since this was read (two workers that both believed they led, for a heartbeat), the write fails instead
        of overwriting a change it did not see."""
        key = f"connect-config-version/{self.group_id}"
        current = self.log.get_state(key)
        return StateGuard(key, current, str(int(current or b"0") + 1).encode())

    def task_fencing(self) -> SourceTaskFencing:
        """State tokens (:class:`~millstream.connect.fencing.TaskFencing`)."""
        return TaskFencing(self.log, self.group_id, self.worker_id)


def open_worker_group(
    log_: Log, group_id: str, worker_id: str, url: str, session_timeout_ms: int, delay_ms: int
) -> WorkerGroup:
    """The worker group of ``log_``: :class:`EmbeddedWorkerGroup` on a log that coordinates groups itself,
    :class:`~millstream.connect.kafka_worker_group.KafkaWorkerGroup` on Kafka."""
    if is_kafka(log_):
        from .kafka_worker_group import KafkaWorkerGroup

        return KafkaWorkerGroup(log_, group_id, worker_id, url, session_timeout_ms, delay_ms)
    return EmbeddedWorkerGroup(log_, group_id, worker_id, url, session_timeout_ms, delay_ms)


def summary(a: Assignment) -> str:
    parts = []
    for w, units in sorted(a.workers.items()):
        parts.append(
            f"{w}: {len([u for u in units if u[1] < 0])} connectors, {len([u for u in units if u[1] >= 0])} tasks"
        )
    if a.departed:
        parts.append("waiting for " + ", ".join(sorted(a.departed)))
    return "; ".join(parts) or "no workers"


def cluster_id_of(log_: Log) -> str:
    """A stable id of the log, the same for every worker on it (Kafka's ``kafka_cluster_id``: 22 characters
    of URL-safe base64): created once, kept in the log's state."""
    import base64
    import uuid

    key = "connect-cluster-id"
    raw = log_.get_state(key)
    if raw is None:
        fresh = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=")
        try:
            with log_.transaction() as txn:
                txn.require_state(key, None)
                txn.put_state(key, fresh)
            raw = fresh
        except FencedError:
            raw = log_.get_state(key)
    return (raw or b"").decode()


__all__ = [
    "EmbeddedWorkerGroup",
    "GroupView",
    "WorkerGroup",
    "cluster_id_of",
    "open_worker_group",
    "summary",
]
