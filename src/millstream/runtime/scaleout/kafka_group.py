"""The instances of one reactive job on a Kafka cluster: Kafka's own group protocol elects the leader, and a
one-partition control topic carries the instances' heartbeats.

Kafka keeps no compare-and-set state that :class:`~.group.JobGroup` could use, so on ``kafka://``:

- **Leader**: every instance is a member of the consumer group ``millstream-job.J`` subscribed to the control
  topic ``__millstream_job.J`` (one partition): the group coordinator assigns that partition to exactly one live
  member, which leads. A member that stops heartbeating (kill -9, SIGSTOP past ``session.timeout.ms``) loses
  it and another member gets it, as Kafka Streams elects its group leader. A join slower than the log's timeout
  is waited for by the next heartbeats (see :class:`~millstream.log.control_topic.LeaderElection`).
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
  ``savepoint`` and ``savepoint-answer`` records a savepoint asked through another instance and its outcome.
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
        self._tail = ControlTail(log_, self.topic, log_.latest_offset(self.topic, 0))
        self._seen: dict[str, tuple[int, dict[str, Any]]] = {}  # instance -> (heartbeat ms, its record)
        self._left: set[str] = set()
        self._end: dict[str, Any] | None = None
        self._request: dict[str, Any] | None = None
        self._savepoints: dict[str, dict[str, Any]] = {}  # id -> request, in the order asked
        self._answers: dict[str, dict[str, Any]] = {}  # id -> answer
        self._epoch = 0  # this instance's term while it leads
        self._election = LeaderElection(log_, f"millstream-job.{_topic_safe(job_id)}", self.topic, session_timeout_ms)
        self.view = GroupView(0, [], "", 0)

    # -- the control topic ----------------------------------------------------------------------------------
    def _send(self, body: dict[str, Any]) -> None:
        self.log.append(self.topic, 0, [ProducerRecord(orjson.dumps(body), self.instance_id.encode())])

    def _read(self) -> None:
        for timestamp, body in self._tail.read(timeout_ms=10):
            kind = body.get("kind")
            if kind == "heartbeat":
                self._seen[str(body["instance"])] = (timestamp, body)
                self._left.discard(str(body["instance"]))
            elif kind == "leave":
                self._left.add(str(body["instance"]))
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

    def _claim(self) -> int:
        """Claim the next term (see the module docstring) and return it; raises if the claim did not commit."""
        self.log.init_transactions(self.tid)
        self._read()
        raw = self.log.get_state(self.prefix + "term")
        epoch = max([int(raw) if raw else 0, *(int(b.get("epoch") or 0) for _ts, b in self._seen.values())]) + 1
        with self.log.transaction(self.tid) as txn:
            txn.put_state(self.prefix + "term", str(epoch).encode())
            if self.log.get_state(self.prefix + "token") is None:
                txn.put_state(self.prefix + "token", secrets.token_hex(16).encode())
        log.info("instance %s leads job %s (term %d)", self.instance_id, self.job_id, epoch)
        return epoch

    def heartbeat(self) -> GroupView:
        leads = self._leads()
        if leads and not self._epoch:
            try:
                self._epoch = self._claim()
            except MillstreamError as exc:  # fenced by a newer claimant, or the cluster busy: claimed again next beat
                log.warning("instance %s could not claim the lead of job %s: %s", self.instance_id, self.job_id, exc)
                leads = False
        elif not leads:
            self._epoch = 0
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
        now = int(time.time() * 1000)
        live = {
            m: body
            for m, (ts, body) in self._seen.items()
            if now - ts < self.session_timeout_ms and m not in self._left
        }
        live[self.instance_id] = {"info": self.info, "leader": leads, "epoch": self._epoch}
        leaders = [(int(b["epoch"]), m) for m, b in live.items() if b.get("leader")]
        epoch, leader = max(leaders) if leaders else (0, "")
        self.view = GroupView(0, sorted(live), leader, epoch)
        return self.view

    def token(self, timeout_s: float = 60.0) -> bytes:
        """The job's secret (created by the first leader; this waits for it)."""
        deadline = time.monotonic() + timeout_s
        while True:
            raw = self.log.get_state(self.prefix + "token")
            if raw:
                return bytes.fromhex(raw.decode())
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
