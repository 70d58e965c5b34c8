"""The instances of one reactive job: membership, the leader and its term, over the log's group membership.

Every instance of job ``J`` (``millstream run PIPELINE --reactive --job-id J --log URL``, on any machine that
reaches the log) is a member of the log's group ``millstream-job:J``: the log keeps members alive by their
heartbeats, expires one that stops for ``session_timeout_ms`` (kill -9, a frozen or cut-off process) and counts
generations (:meth:`~millstream.log.embedded.EmbeddedLog.sync_group_member`). On top of that, in the log's
state (written by log transactions):

``job-group/J/instance/<id>``
    what an instance offers: ``{"slots", "address" (its slot server), "digest" (of its job plan),
    "pipeline", "host", "pid"}``;
``job-group/J/leader``
    ``{"instance", "epoch"}``: who coordinates the job, in which **term**. An instance claims it when the
    recorded leader is no longer a live member (its session expired, it left, or a follower found its process
    gone: :meth:`JobGroup.lost`) and it is the first live member by id — one log transaction
    with the precondition that the record is still the one it read, so two claimants cannot both win. The
    epoch goes up with every claim; the leader's checkpoint commits require it (a deposed leader that wakes
    up — SIGSTOP, a network partition — cannot commit: it is fenced, as Kafka fences a zombie producer);
``job-group/J/request``
    ``{"epoch", "action"}``: ``stop`` or ``cancel`` asked of that term's leader through another instance (its
    REST API, ``millstream jobs stop``);
``job-group/J/savepoint-request``, ``job-group/J/savepoint-answer``
    ``{"id", "epoch", "target"}``: a savepoint asked of that term's leader through another instance, and
    ``{"id", "path"}`` or ``{"id", "error"}``: how it went (one request at a time: an instance with another
    request waits until the pending one is answered);
``job-group/J/end``
    ``{"epoch", "status"}``: the job ended (finished, stopped or cancelled) in that term: every instance leaves;
``job-group/J/token``
    the secret every TCP connection of the job opens with (created once; whoever can read the log is trusted,
    as whoever can write to it already is).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ...core.errors import ConfigError, FencedError
from ...log.base import Log
from ...log.consumer import GroupCoordinator

if TYPE_CHECKING:
    from .kafka_group import KafkaJobGroup

log = logging.getLogger("millstream.runtime.scaleout")


@dataclass(frozen=True)
class GroupView:
    """What one heartbeat saw: the live ``members`` (sorted), the ``leader`` and its ``epoch`` (``""``/0 when
    nobody leads), and the log group's ``generation``."""

    generation: int
    members: list[str]
    leader: str
    epoch: int


class JobGroup:
    """One instance's membership of its job's group (see the module docstring)."""

    def __init__(self, log_: Log, job_id: str, instance_id: str, info: dict[str, Any], session_timeout_ms: int) -> None:
        if not isinstance(log_, GroupCoordinator):
            raise ConfigError(
                f"a reactive job's instances find each other through the log, and {log_.url} cannot keep a group",
                hint="use an embedded log (--log file://PATH) or a Kafka cluster (--log kafka://HOST:PORT) that "
                "every instance reaches, or run without --reactive",
            )
        self.log = log_
        self.coordinator: GroupCoordinator = log_
        self.job_id = job_id
        self.instance_id = instance_id
        self.info = info
        self.session_timeout_ms = session_timeout_ms
        self.group_id = f"millstream-job:{job_id}"
        self.prefix = f"job-group/{job_id}/"
        self.view = GroupView(0, [], "", 0)
        self._joined = False

    # -- state ------------------------------------------------------------------------------------------
    def _get(self, key: str) -> Any:
        raw = self.log.get_state(self.prefix + key)
        return orjson.loads(raw) if raw else None

    def _put(self, key: str, value: Any, *, expected: bytes | None = None, check: bool = False) -> None:
        with self.log.transaction() as txn:
            if check:
                txn.require_state(self.prefix + key, expected)
            txn.put_state(self.prefix + key, orjson.dumps(value) if value is not None else None)

    def publish(self) -> None:
        """Write this instance's info again (after it changed)."""
        if self._joined:
            self._put("instance/" + self.instance_id, self.info)

    def token(self, timeout_s: float = 0.0) -> bytes:
        """The job's secret for TCP connections (created by the first instance)."""
        raw = self.log.get_state(self.prefix + "token")
        if raw is None:
            try:
                self._put("token", secrets.token_hex(16), check=True)
            except FencedError:
                pass
            raw = self.log.get_state(self.prefix + "token")
        return bytes.fromhex(orjson.loads(raw or b'""'))

    def infos(self, members: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """What each live member (or each of ``members``) published."""
        out = {}
        for m in self.view.members if members is None else members:
            info = self._get("instance/" + m)
            if info:
                out[m] = info
        return out

    # -- membership -------------------------------------------------------------------------------------
    def heartbeat(self) -> GroupView:
        """Sync this member, publish its info, claim the lead if it is free and this member is first in line;
        returns (and keeps in :attr:`view`) what it saw."""
        state = self.coordinator.sync_group_member(self.group_id, self.instance_id, [], self.session_timeout_ms, [])
        if not self._joined:
            self._put("instance/" + self.instance_id, self.info)
            self._joined = True
        members = sorted(state.members)
        raw = self.log.get_state(self.prefix + "leader")
        current: dict[str, Any] = orjson.loads(raw) if raw else {"instance": "", "epoch": 0}
        leader, epoch = str(current["instance"]), int(current["epoch"])
        if leader not in members and members and members[0] == self.instance_id:
            claim = {"instance": self.instance_id, "epoch": epoch + 1}
            try:
                self._put("leader", claim, expected=raw, check=True)
                leader, epoch = self.instance_id, epoch + 1
                log.info("instance %s leads job %s (term %d)", self.instance_id, self.job_id, epoch)
            except FencedError:  # another instance claimed it first
                now = self._get("leader") or {"instance": "", "epoch": 0}
                leader, epoch = str(now["instance"]), int(now["epoch"])
        self.view = GroupView(state.generation, members, leader if leader in members else "", epoch)
        return self.view

    def lost(self, instance: str) -> None:
        """``instance``'s process is gone (its slot server refuses connections): it leaves the log's group on its
        behalf, so that the next in line claims the lead at its next heartbeat instead of at the end of the lost
        one's session. (Were it alive after all, its next heartbeat joins it again — deposed, if the lead moved
        meanwhile: its commits require its term.)"""
        try:
            self.coordinator.leave_group_member(self.group_id, instance)
        except Exception as exc:  # the log is busy for a moment: the session expires by itself
            log.debug("removing lost instance %s from %s: %s", instance, self.group_id, exc)

    def term(self) -> int:
        """The leader's term as the log has it now (0 before the first claim)."""
        leader = self._get("leader") or {}
        return int(leader.get("epoch", 0))

    @property
    def is_leader(self) -> bool:
        return self.view.leader == self.instance_id

    def require_term(self, txn: Any | None, epoch: int) -> None:
        """In a commit transaction on this log: fail it (:class:`FencedError`) unless ``epoch`` is still the
        leader's term (checked again atomically by the transaction's precondition); with ``txn`` ``None`` (the
        commit goes to another log), only checked now."""
        raw = self.log.get_state(self.prefix + "leader")
        if not raw or int(orjson.loads(raw)["epoch"]) != epoch:
            raise FencedError(
                f"instance {self.instance_id} no longer leads job {self.job_id} (term {epoch} is over): its "
                "checkpoint is not committed"
            )
        if txn is not None:
            txn.require_state(self.prefix + "leader", raw)

    def request(self, action: str) -> None:
        """Ask the leader of the current term to ``stop`` or ``cancel`` the job (what a follower does when it is
        told to)."""
        self._put("request", {"epoch": self.view.epoch, "action": action})

    def requested(self, epoch: int) -> str | None:
        """The action asked of the leader of term ``epoch``, if any."""
        req = self._get("request")
        return str(req["action"]) if req and int(req["epoch"]) == epoch else None

    def ask_savepoint(self, rid: str, target: str, epoch: int) -> bool:
        """Ask the leader of term ``epoch`` for a savepoint into ``target`` (request id ``rid``); ``False`` while
        another instance's request is still pending (ask again later)."""
        raw = self.log.get_state(self.prefix + "savepoint-request")
        pending = orjson.loads(raw) if raw else None
        answer = self._get("savepoint-answer")
        if pending and int(pending["epoch"]) == self.term() and (answer or {}).get("id") != pending["id"]:
            return False
        try:
            self._put("savepoint-request", {"id": rid, "epoch": epoch, "target": target}, expected=raw, check=True)
        except FencedError:  # another instance asked at the same moment
            return False
        return True

    def asked_savepoints(self, epoch: int) -> list[tuple[str, str]]:
        """The savepoints asked of the leader of term ``epoch`` and not answered yet: ``(id, target)`` each."""
        req = self._get("savepoint-request")
        if not req or int(req["epoch"]) != epoch or (self._get("savepoint-answer") or {}).get("id") == req["id"]:
            return []
        return [(str(req["id"]), str(req["target"]))]

    def answer_savepoint(self, rid: str, answer: dict[str, str]) -> None:
        """The leader's answer to request ``rid``: ``{"path": ...}`` or ``{"error": ...}``."""
        self._put("savepoint-answer", {"id": rid, **answer})

    def savepoint_answer(self, rid: str) -> dict[str, str] | None:
        """The answer to request ``rid``, once there is one."""
        answer = self._get("savepoint-answer")
        return answer if answer and answer.get("id") == rid else None

    def end(self, epoch: int, status: str) -> None:
        """Record that the job ended in term ``epoch`` (every instance then leaves)."""
        self._put("end", {"epoch": epoch, "status": status})

    def last_end(self) -> tuple[int, str] | None:
        """The term in which the job last ended, and how (``None``: it never ended)."""
        end = self._get("end")
        return (int(end["epoch"]), str(end["status"])) if end else None

    def leave(self) -> None:
        if self._joined:
            try:
                self._put("instance/" + self.instance_id, None)
                self.coordinator.leave_group_member(self.group_id, self.instance_id)
            except Exception as exc:  # the log went away: the session expires by itself
                log.debug("leaving job group %s: %s", self.group_id, exc)
            self._joined = False


def open_group(
    log_: Log, job_id: str, instance_id: str, info: dict[str, Any], session_timeout_ms: int
) -> JobGroup | KafkaJobGroup:
    """The group of a reactive job's instances on ``log_``: on the log's own state (the embedded log), or on
    Kafka's group protocol (:mod:`.kafka_group`)."""
    from ...log.kafka import KafkaLog
    from .kafka_group import KafkaJobGroup

    if isinstance(log_, KafkaLog):
        return KafkaJobGroup(log_, job_id, instance_id, info, session_timeout_ms)
    return JobGroup(log_, job_id, instance_id, info, session_timeout_ms)


def instance_id() -> str:
    """A fresh id for this instance: host, pid and a random suffix (sorted ids decide who leads next)."""
    import socket

    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


__all__ = ["GroupView", "JobGroup", "instance_id", "open_group"]
