"""The instances of one reactive job on a Kafka cluster: Kafka's own group protocol elects the leader, and a
one-partition control topic carries the instances' heartbeats.

Kafka keeps no compare-and-set state that :class:`~.group.JobGroup` could use, so on ``kafka://``:

- **Leader**: every instance is a member of the consumer group ``millstream-job.J`` subscribed to the control
  topic ``__millstream_job.J`` (one partition): the group coordinator assigns that partition to exactly one live
  member, which claims the lead when no live instance leads. A member that stops heartbeating (kill -9,
  SIGSTOP past ``session.timeout.ms``) loses it and another member gets it, as Kafka Streams elects its group
  leader. A join slower than the log's timeout is waited for by the next heartbeats (see
  :class:`~millstream.log.control_topic.LeaderElection`). A leader keeps the lead until a live instance leads
  in a newer term (so a rebalance that moves the partition while the leader lives moves nothing).
- **Succession** (before the group notices): when the leader's process dies, connecting to its slot server is
  refused (:func:`~.slots.slot_server_gone`, which every follower asks at every heartbeat, and at once when its
  connections from the leader close): they mark it :meth:`~KafkaJobGroup.lost` (a ``lost`` record tells every
  instance) and no longer count it live, and the first live instance by id claims the next term at once,
  without the partition — the Kafka group only evicts the dead member when its session expires. Its claim is
  fenced like any other: two claimants get two terms, the older leader stands by when it sees the newer, and
  the job's transactional id lets only the newest attempt commit. Two successors are rare but possible (an
  instance started just after the loss has not yet seen the follower that found it, and may sort first):
  a successor that finds the log's term newer than every term it has seen in a heartbeat defers to it, as
  another successor's claim whose heartbeat is on the way.
- **First claim**: an instance that sees no other live instance before the group gave it its first assignment
  claims the first term at once: the first assignment takes seconds (the coordinator waits for more members,
  ``group.initial.rebalance.delay.ms``; on Apache Kafka 3 s by default), and nobody leads meanwhile. Instances
  started together may each claim: the newest term leads, as in a succession, and the others stand by as soon
  as they see it (usually within the resource stabilization timeout, before the first attempt places workers).
- **Term**: a new leader takes one more than the highest term it knows — the log's state (``job-group/J/term``)
  and the heartbeats on the control topic — and writes it to the log's state in a transaction of the job's
  group transactional id ``millstream-job-group.J``. It calls ``init_transactions`` on that id first, which
  fences every earlier claimant and aborts a transaction one left open (an instance killed inside its claim):
  a claim left open would otherwise hold back every ``read_committed`` reader of the state (on Kafka until
  ``transaction.timeout.ms`` ran out), and with it the next leaders' claims and the job's committed markers.
  The term numbers its checkpoints (above term * 1,000,000). Fencing of a deposed leader is Kafka's: the job's
  exactly-once commits use its transactional id, and every attempt of a new leader starts with
  ``init_transactions``, which fences the old leader's producer — its late commits fail.
- **Members**: every instance appends a heartbeat record ``{instance, info, leader, epoch}`` to the control
  topic every heartbeat; every instance tails the topic, so each knows the live instances (a heartbeat newer
  than the session timeout, by the record's timestamp — the instances' clocks must agree within that), the
  leader and its term. ``request`` and ``end`` records carry stop/cancel requests and the job's end;
  ``savepoint`` and ``savepoint-answer`` records a savepoint asked through another instance and its outcome;
  ``lost`` records an instance whose process was found gone.
  A new instance reads the heartbeats, leaves and losses among the topic's last records first, so it knows the
  instances that heartbeat now (older heartbeats do not count; requests, savepoints and ends count from its
  start).
- **Token**: the first leader creates the job's secret in the log's state; the others wait for it.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

import orjson

from ...core.errors import ConfigError, MillstreamError
from ...core.record import ProducerRecord
from ...log.control_topic import ControlTail, LeaderElection
from .group import GroupView

if TYPE_CHECKING:
    from ...log.kafka import KafkaLog

log = logging.getLogger("millstream.runtime.scaleout")
RECENT_RECORDS = 1000  #: a new instance reads this many of the control topic's last records first


def _topic_safe(job_id: str) -> str:
    return re.sub(r"[^a-zA-Z0-9._-]", "_", job_id)


class KafkaJobGroup:
    """One instance's membership of its job's group on Kafka (see the module docstring); the face of
    :class:`~.group.JobGroup`."""

    def __init__(
        self, log_: KafkaLog, job_id: str, instance_id: str, info: dict[str, Any], session_timeout_ms: int
    ) -> None:
        self.log = log_
        self.job_id = job_id
        self.instance_id = instance_id
        self.info = info
        self.session_timeout_ms = session_timeout_ms
        self.topic = f"__millstream_job.{_topic_safe(job_id)}"
        self.prefix = f"job-group/{job_id}/"
        self.tid = f"millstream-job-group.{job_id}"  # the transactional id of the group's state writes
        log_.create_topic(self.topic, 1, exist_ok=True)
        latest = log_.latest_offset(self.topic, 0)
        self._tail = ControlTail(log_, self.topic, latest)
        self._seen: dict[str, tuple[int, dict[str, Any]]] = {}  # instance -> (heartbeat ms, its record)
        self._left: set[str] = set()
        self._lost: dict[str, int] = {}  # instance -> when it was seen gone (ms); its older heartbeats do not count
        self._token: bytes | None = None
        self._led: set[int] = set()  # the terms this instance saw led by a live instance
        self._end: dict[str, Any] | None = None
        self._request: dict[str, Any] | None = None
        self._savepoints: dict[str, dict[str, Any]] = {}  # id -> request, in the order asked
        self._answers: dict[str, dict[str, Any]] = {}  # id -> answer
        self._epoch = 0  # this instance's term while it leads
        self._election = LeaderElection(log_, f"millstream-job.{_topic_safe(job_id)}", self.topic, session_timeout_ms)
        self.view = GroupView(0, [], "", 0)
        # the membership records before this instance started too: it knows the instances that heartbeat now (a
        # leader that died just before it started is found gone and succeeded; a live leader is seen before this
        # instance may claim). Requests, savepoints and ends count from its start only, as before.
        backlog = ControlTail(log_, self.topic, max(log_.earliest_offset(self.topic, 0), latest - RECENT_RECORDS))
        for timestamp, body in backlog.read(to_end=True):
            if body.get("kind") in ("heartbeat", "leave", "lost"):
                self._apply(timestamp, body)

    # -- the control topic ----------------------------------------------------------------------------------
    def _send(self, body: dict[str, Any]) -> None:
        self.log.append(self.topic, 0, [ProducerRecord(orjson.dumps(body), self.instance_id.encode())])

    def _read(self) -> None:
        for timestamp, body in self._tail.read(timeout_ms=10):
            self._apply(timestamp, body)

    def _apply(self, timestamp: int, body: dict[str, Any]) -> None:
        kind = body.get("kind")
        if kind == "heartbeat":
            self._seen[str(body["instance"])] = (timestamp, body)
            self._left.discard(str(body["instance"]))
        elif kind == "leave":
            self._left.add(str(body["instance"]))
        elif kind == "lost":
            gone = str(body["instance"])
            self._lost[gone] = max(self._lost.get(gone, 0), timestamp)
        elif kind == "end":
            self._end = body
        elif kind == "request":
            self._request = body
        elif kind == "savepoint":
            self._savepoints[str(body["id"])] = body
        elif kind == "savepoint-answer":
            self._answers[str(body["id"])] = body
            self._savepoints.pop(str(body["id"]), None)

    # -- membership ---------------------------------------------------------------------------------------
    def _leads(self) -> bool:
        return self._election.leads()

    def _claim(self, succession: bool = False) -> int:
        """Claim the next term (see the module docstring) and return it; raises if the claim did not commit.

        A ``succession`` claim defers to a term it has not seen led (returns 0, no claim): when the log's term is
        newer than every term in the heartbeats this instance has read, another successor claimed it a moment ago
        — their views of the live instances differed, as an instance started just after the loss has not yet seen
        the follower that found it — and its heartbeat is on the way. (Should that claimant die before its first
        heartbeat, the instance the group then gives the partition claims over its term.)"""
        self.log.init_transactions(self.tid)
        self._read()
        raw = self.log.get_state(self.prefix + "term")
        stored = int(raw) if raw else 0
        seen = max((int(b.get("epoch") or 0) for _ts, b in self._seen.values()), default=0)
        if succession and stored > seen:
            log.info(
                "instance %s: term %d of job %s was claimed by another instance", self.instance_id, stored, self.job_id
            )
            return 0
        epoch = max(stored, seen) + 1
        with self.log.transaction(self.tid) as txn:
            txn.put_state(self.prefix + "term", str(epoch).encode())
            if self._token is None and self.log.get_state(self.prefix + "token") is None:
                txn.put_state(self.prefix + "token", secrets.token_hex(16).encode())
        log.info("instance %s leads job %s (term %d)", self.instance_id, self.job_id, epoch)
        return epoch

    def lost(self, instance: str) -> None:
        """``instance``'s process is gone (its slot server refuses connections): its heartbeats so far no longer
        make it live — here, and on every instance, through a ``lost`` record on the control topic — so the next
        in line claims the lead before the group evicts it (see **Succession** in the module docstring). A
        heartbeat it sends later makes it live again."""
        self._lost[instance] = int(time.time() * 1000)
        self._send({"kind": "lost", "instance": instance})

    def _live(self, now: int) -> dict[str, dict[str, Any]]:
        """The other instances whose last heartbeat is newer than the session timeout (and than their loss)."""
        return {
            m: body
            for m, (ts, body) in self._seen.items()
            if now - ts < self.session_timeout_ms
            and m not in self._left
            and ts > self._lost.get(m, -1)
            and m != self.instance_id
        }

    def _successor(self, live: dict[str, dict[str, Any]], now: int) -> bool:
        """Whether this instance is next in line after a leader lost within the session timeout: the first live
        instance by id."""
        recent = any(now - at < self.session_timeout_ms for at in list(self._lost.values()))
        return recent and self.instance_id < min(live, default="\uffff")

    def heartbeat(self) -> GroupView:
        """Serve the group protocol, read the control topic, claim the lead when this instance holds the partition
        (or succeeds a lost leader, or is the job's first instance), no live instance leads and the job has not
        ended in a term this instance saw led; stand by when a live one leads in a newer term; append this
        instance's heartbeat; return (and keep in :attr:`view`) what it saw."""
        holds = self._leads()
        self._read()
        now = int(time.time() * 1000)
        live = self._live(now)
        rival = max((int(b.get("epoch") or 0) for b in live.values() if b.get("leader")), default=0)
        if self._epoch and rival > self._epoch:
            log.warning("instance %s: term %d leads job %s now", self.instance_id, rival, self.job_id)
            self._epoch = 0
        ended = self._end is not None and int(self._end["epoch"]) in self._led  # (its leader left: no claim)
        first = not live and not self._election.assigned  # no other instance: the job's first, claims at once
        succession = not holds and not first and self._successor(live, now)
        if not self._epoch and not rival and not ended and (holds or first or succession):
            try:
                self._epoch = self._claim(succession)
            except MillstreamError as exc:  # fenced by a newer claimant, or the cluster busy: claimed again next beat
                (log.info if first and not holds else log.warning)(
                    "instance %s could not claim the lead of job %s: %s", self.instance_id, self.job_id, exc
                )
        leads = bool(self._epoch)
        self._send(
            {
                "kind": "heartbeat",
                "instance": self.instance_id,
                "info": self.info,
                "leader": leads,
                "epoch": self._epoch,
            }
        )
        self._read()
        live = self._live(int(time.time() * 1000))
        live[self.instance_id] = {"info": self.info, "leader": leads, "epoch": self._epoch}
        leaders = [(int(b["epoch"]), m) for m, b in live.items() if b.get("leader")]
        epoch, leader = max(leaders) if leaders else (0, "")
        if leader:
            self._led.add(epoch)
        self.view = GroupView(0, sorted(live), leader, epoch)
        return self.view

    def token(self, timeout_s: float = 60.0) -> bytes:
        """The job's secret (created by the first leader; this waits for it)."""
        deadline = time.monotonic() + timeout_s
        while True:
            raw = self.log.get_state(self.prefix + "token")
            if raw:
                self._token = bytes.fromhex(raw.decode())
                return self._token
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"no instance of job {self.job_id!r} became its leader within {timeout_s:.0f} s",
                    hint="check that the Kafka cluster's group coordinator is reachable",
                )
            self.heartbeat()
            time.sleep(0.1)

    def infos(self, members: list[str] | None = None) -> dict[str, dict[str, Any]]:
        out = {}
        for m in self.view.members if members is None else members:
            if m == self.instance_id:
                out[m] = self.info
            elif m in self._seen:
                out[m] = dict(self._seen[m][1].get("info") or {})
        return out

    def publish(self) -> None:
        """(Every heartbeat carries the info: nothing to do.)"""

    @property
    def is_leader(self) -> bool:
        return self.view.leader == self.instance_id

    def term(self) -> int:
        """The current term as the last heartbeat saw it (this instance's own while it leads)."""
        return self._epoch or self.view.epoch

    def require_term(self, txn: Any | None, epoch: int) -> None:
        """Nothing to check here: on Kafka a new leader's ``init_transactions`` fences the old leader's commits."""

    def request(self, action: str) -> None:
        self._send({"kind": "request", "epoch": self.view.epoch, "action": action})

    def requested(self, epoch: int) -> str | None:
        req = self._request
        return str(req["action"]) if req and int(req["epoch"]) == epoch else None

    def ask_savepoint(self, rid: str, target: str, epoch: int) -> bool:
        self._send({"kind": "savepoint", "id": rid, "epoch": epoch, "target": target})
        return True

    def asked_savepoints(self, epoch: int) -> list[tuple[str, str]]:
        return [(rid, str(b["target"])) for rid, b in self._savepoints.items() if int(b["epoch"]) == epoch]

    def answer_savepoint(self, rid: str, answer: dict[str, str]) -> None:
        self._send({"kind": "savepoint-answer", "id": rid, **answer})
        self._answers[rid] = {"id": rid, **answer}
        self._savepoints.pop(rid, None)

    def savepoint_answer(self, rid: str) -> dict[str, str] | None:
        answer = self._answers.get(rid)
        return {k: str(v) for k, v in answer.items() if k != "kind"} if answer else None

    def end(self, epoch: int, status: str) -> None:
        self._send({"kind": "end", "epoch": epoch, "status": status})

    def last_end(self) -> tuple[int, str] | None:
        end = self._end
        return (int(end["epoch"]), str(end["status"])) if end else None

    def leave(self) -> None:
        try:
            self._send({"kind": "leave", "instance": self.instance_id})
            self._election.leave()
        except Exception as exc:  # the cluster went away: the session expires by itself
            log.debug("leaving job group of %s: %s", self.job_id, exc)


__all__ = ["KafkaJobGroup"]
