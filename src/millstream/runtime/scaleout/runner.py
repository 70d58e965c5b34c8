"""A reactive job: one job spread over every instance that runs it, rescaled as instances come and go —
Flink's reactive mode, on the parallel runtime.

``millstream run PIPELINE --reactive --job-id J --log file://PATH [-p SLOTS]`` started N times (on one machine,
or on several that share the log) runs job J once, on all of them:

- the instances form a group on the log (:mod:`.group`); the first in line **leads**: it coordinates the job
  as a parallel job's coordinator does (:class:`~millstream.runtime.parallel.ParallelJobRunner`: aligned
  checkpoints, exactly-once commits, restarts), with parallelism = the slots of all live instances (each
  offers ``-p``, default 1);
- every instance offers its slots through a :class:`~.slots.SlotServer`; the leader places worker ``i`` on
  an instance (its own slots first) and the workers connect to each other and to the leader over TCP, each
  connection opened with the job's token — records cross instances exactly as they cross processes on one
  machine, at the exchanges, with their watermarks and barriers;
- **rescaling**: when the live instances change (one starts, stops, or is killed), the leader ends the running
  attempt and starts the next one at the new parallelism from the latest completed checkpoint, whose state is
  redistributed by key group (:mod:`millstream.runtime.parallel.rescale`) — as a Flink job in reactive mode
  restarts when TaskManagers come and go. A lost instance is noticed at once (its workers' connections
  close) and is not waited for; joining instances are: a term's first attempt starts, and a running attempt
  rescales, once no instance has joined for ``stabilization_ms`` (Flink's resource stabilization timeout). A
  planned rescale (a join; an instance that leaves, which keeps the leader's workers until they have moved:
  :meth:`ReactiveJobRunner._hand_over`) ends the attempt at a checkpoint taken for it
  (:class:`~millstream.runtime.parallel.coordinator.EndAtCheckpoint`), so the next one reads nothing twice;
- **leader failover**: when the leader stops heartbeating (frozen, cut off), the next instance claims the lead
  once the leader's session has expired (``session_timeout_ms``), in a new term, and restores the job from the
  checkpoint storage (``state.checkpoints.dir`` — it must be a directory every instance reaches) and the
  log's committed marker. A leader whose process died (kill -9, a crash) is noticed within a heartbeat
  (at once by the followers it placed workers on: their connections from it close): every follower checks at
  every heartbeat that the leader's slot server accepts connections (:func:`~.slots.slot_server_gone`); when
  it refuses, the followers tell the group the leader is :meth:`lost <.group.JobGroup.lost>` and the next in
  line claims the lead without waiting for the session. A new leader taking over a running job starts its
  first attempt at once (no stabilization: the job is down meanwhile) and triggers its first checkpoint as soon
  as the workers run, so the output held since the last checkpoint commits without waiting an interval.
  Every checkpoint commit requires the leader's term (:meth:`.group.JobGroup.require_term`, in the same log
  transaction as the records and the marker; on Kafka the new leader's ``init_transactions`` fences the old
  one), so a deposed leader that wakes up cannot commit; checkpoint ids of a term start above the previous
  terms' (``term * 1,000,000``), so its late writes never replace a checkpoint of the new term;
- **one job**: every instance has the job's id (``jid``, derived from the job id, as Flink gives a job one
  JobID), so the job registry lists it once, with its instances, and sends control requests (``millstream
  jobs stop|cancel|savepoint``) to the coordinating instance's REST API; an instance asked through its own
  REST API passes stop, cancel and savepoints on to the leader through the group;
- Ctrl-C on an instance makes it **leave** (its work moves to the others); on the last instance it stops the
  job as Flink's ``stop`` does (final checkpoint). When the job ends (bounded input, stop, cancel), the leader
  records it and every instance ends.

Checkpointing should be enabled: rescaling restarts from the latest checkpoint (without one, from the
sources' committed offsets or the beginning).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ...core.errors import FencedError
from ...log import open_log
from ...stream.errors import JobFailedError
from ...stream.graph import Transformation, topological
from ...stream.plan import plan_job
from ..checkpointing import job_id_of
from ..job import JobExecutionResult
from ..parallel.checkpoints import ParallelCheckpoints
from ..parallel.coordinator import EndAtCheckpoint, ParallelJobRunner, pickle_job
from ..parallel.launcher import WorkerProcess, prewarm, start_worker
from ..parallel.transport import Address
from ..parallel.worker import TOKEN_ENV
from .group import instance_id, open_group
from .slots import SlotClient, SlotServer, slot_server_gone

log = logging.getLogger("millstream.runtime.scaleout")
TERM_IDS = 1_000_000  #: checkpoint ids of term E start above E * this
BEAT_WHILE_SETTLING_S = 0.05  #: the leader's heartbeat interval while it waits for instances to join
#: how long an instance that leaves (Ctrl-C) keeps the workers it runs for the leader, until the leader has
#: checkpointed and moved them (it normally takes a heartbeat and a checkpoint; the leader waits for that
#: checkpoint for 5 s or 3 intervals: see :class:`~millstream.runtime.parallel.coordinator.EndAtCheckpoint`)
HAND_OVER_S = 15.0


class _Rescale(EndAtCheckpoint):
    """The live instances changed: end the attempt (at a checkpoint taken for it, when it runs), start the next
    one at the new parallelism."""


class _Deposed(Exception):
    """This instance no longer leads (another one claimed the lead in a newer term)."""


class _Leaving(EndAtCheckpoint):
    """This instance leaves the job (Ctrl-C) while others go on (from a checkpoint taken for it)."""


def plan_digest(sinks: list[Transformation], max_parallelism: int | None) -> str:
    """A digest of the job's graph (its plan at parallelism 1): instances of one job id must run the same job."""
    return hashlib.sha256(plan_job(sinks, 1, max_parallelism).to_json().encode()).hexdigest()[:16]


class ReactiveJobRunner(ParallelJobRunner):
    """One instance of a reactive job (see the module docstring); the face of a job runner, so ``execute()``
    and ``millstream run`` drive it as any other."""

    def __init__(
        self,
        env: Any,
        sinks: list[Transformation],
        job_name: str,
        collect: list[Transformation] | None,
        *,
        log_url: str,
        slots: int = 1,
        bind_host: str = "127.0.0.1",
        session_timeout_ms: int = 10_000,
        pipeline: str = "",
        stabilization_ms: int = 1000,
    ) -> None:
        everything = sinks + list(collect or [])
        plan = plan_job(everything, slots, env.config.max_parallelism)
        job_id = job_id_of(env.config, job_name)
        jid = uuid.uuid5(uuid.NAMESPACE_URL, f"millstream-reactive-job:{job_id}").hex  # the same on every instance
        super().__init__(env, sinks, job_name, collect, plan, slots, jid=jid)
        self._everything = everything
        self.slots = slots
        self.bind_host = bind_host
        self.job_id = job_id
        self.digest = plan_digest(everything, env.config.max_parallelism)
        self.instance = instance_id()
        self._log = open_log(log_url)
        self.log_url = log_url
        self.group = open_group(
            self._log,
            self.job_id,
            self.instance,
            {
                "slots": slots,
                "address": "",
                "digest": self.digest,
                "pipeline": pipeline,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "rest": None,
            },
            session_timeout_ms,
        )
        self.slot_server: SlotServer | None = None  # started by join()
        self.heartbeat_s = max(0.1, session_timeout_ms / 4000)
        self.stabilization_ms = stabilization_ms
        self._seen: set[str] = set()  # every instance this one has seen in the group
        self._last_join = time.monotonic()  # when one of them was first seen (this one's own join, at first)
        self.epoch = 0
        self._followed: set[int] = set()  # the terms this instance took part in (led, or saw led)
        self.leaving = threading.Event()
        #: this instance left (Ctrl-C) and the job goes on on the others (its work handed over to them)
        self.handed_over = False
        self._beat_stop = threading.Event()
        self._beat_soon = threading.Event()  # wakes the heartbeat thread (to stop, to beat fast, or now)
        self._settling = False  # the leader waits for joins (:meth:`_stabilize`): beat fast
        # the next attempt starts a job that is down: a takeover of a running job (this instance followed an
        # earlier term) or a restart after a lost instance — it waits for no joins and checkpoints at once
        self._first_checkpoint_now = False
        self._placed: list[str] = []  # the instance of each worker of the running attempt
        self._clients: dict[str, SlotClient] = {}
        self._expected: set[str] = set()  # live members when the attempt was placed, less the unreachable
        self._changed_at: float | None = None  # when the running attempt first saw the members change
        self._unreachable: set[str] = set()
        self._departing: set[str] = set()  # instances that said they leave (Ctrl-C), still in the group's view
        self._republish = False
        self._instances: list[dict[str, Any]] = []  # as the last heartbeat saw them
        self._answering: dict[str, list[Any]] = {}  # savepoints asked through other instances, being taken
        self._forwarded: dict[str, list[Any]] = {}  # savepoints asked here, passed on to the leader

    # -- membership ---------------------------------------------------------------------------------------
    def join(self) -> None:
        """Join the job's group (before :meth:`run`): a live instance running another job under the same id is
        refused, naming both."""
        from ...stream.errors import JobConfigError

        if self.slot_server is not None:
            return
        self.token = self.group.token(60.0)
        self.slot_server = SlotServer(self.bind_host, self.token)
        self.slot_server.on_leader_closed = self._on_leader_closed
        self.group.info["address"] = self.slot_server.address
        self.group.publish()
        view = self.group.heartbeat()
        for member, info in self.group.infos([m for m in view.members if m != self.instance]).items():
            if info.get("digest") != self.digest:
                self.group.leave()
                raise JobConfigError(
                    f"job id {self.job_id!r} already runs another job on instance {member} "
                    f"({info.get('pipeline') or 'a pipeline'} on {info.get('host')}); this is "
                    f"{self.group.info.get('pipeline') or 'a different pipeline'}",
                    hint="give this pipeline its own --job-id, or run the same pipeline file on every instance",
                )

    def leave_group(self) -> None:
        """Leave the job (what Ctrl-C does to an instance): the others go on without it; the last one stops."""
        self.leaving.set()

    def stop(self) -> None:
        """Stop the job (Flink's stop, final checkpoint) — on whichever instance it is asked: a follower passes
        it to the leader."""
        if self._follows():
            self.group.request("stop")
        else:
            super().stop()

    def cancel(self) -> None:
        """Cancel the job, on whichever instance it is asked (see :meth:`stop`)."""
        if self._follows():
            self.group.request("cancel")
        else:
            super().cancel()

    # -- one job, many instances (MultiInstanceJob) ------------------------------------------------------
    def advertise_rest(self, url: str | None) -> None:
        """This instance's REST root URL, published to the group with the next heartbeat."""
        self.group.info["rest"] = url
        self._republish = True

    def instances(self) -> list[dict[str, Any]]:
        """The job's live instances as the last heartbeat saw them (the leader first)."""
        return list(self._instances)

    def control_rest(self) -> str | None:
        """The leader's REST root URL (``None`` before it is known)."""
        return next((i["rest"] for i in self._instances if i["leader"] and i.get("rest")), None)

    def _see_instances(self, view: Any) -> None:
        infos = self.group.infos(view.members)
        seen = [
            {
                "instance": m,
                "host": info.get("host"),
                "pid": info.get("pid"),
                "slots": info.get("slots"),
                "rest": info.get("rest"),
                "leader": m == view.leader,
            }
            for m, info in infos.items()
        ]
        self._instances = sorted(seen, key=lambda i: (not i["leader"], i["instance"]))

    def _pass_savepoints(self, view: Any) -> None:
        """Savepoints asked of a follower go to the leader through the group; the leader takes them as its own
        and answers (the beat thread calls this)."""
        from ...stream.errors import JobConfigError

        if view.leader == self.instance:
            for rid, target in self.group.asked_savepoints(view.epoch):
                if rid not in self._answering:
                    done: list[Any] = []
                    self._answering[rid] = done
                    self.savepoint_requests.append((target, done))
            for rid, done in list(self._answering.items()):
                if done:
                    res = done[0]
                    failed = isinstance(res, BaseException)
                    self.group.answer_savepoint(rid, {"error": str(res)} if failed else {"path": str(res)})
                    del self._answering[rid]
            return
        if not view.leader:
            return
        while self.savepoint_requests:
            target, done = self.savepoint_requests[0]
            rid = secrets.token_hex(8)
            if not self.group.ask_savepoint(rid, target, view.epoch):
                break  # another instance's request is pending: ask at the next beat
            self.savepoint_requests.pop(0)
            self._forwarded[rid] = done
        for rid, done in list(self._forwarded.items()):
            answer = self.group.savepoint_answer(rid)
            if answer is not None:
                done.append(JobConfigError(answer["error"]) if "error" in answer else answer["path"])
                del self._forwarded[rid]

    def _follows(self) -> bool:
        view = self.group.view
        return bool(view.leader) and view.leader != self.instance and not self._beat_stop.is_set()

    def _on_leader_closed(self) -> None:
        """The leader's connection to this instance's slot server closed (the slot server's thread calls this):
        heartbeat now, which checks whether the leader's process is gone."""
        self._beat_soon.set()

    def _check_leader(self) -> None:
        """Every heartbeat of a follower: if the leader's slot server refuses connections, its process is gone —
        tell the group (:meth:`.group.JobGroup.lost`), so that the next in line leads without waiting for the
        leader's session to expire. Also a follower the leader has placed no workers on yet (one that just
        joined) finds it so. (An attempt that ended closes the connections too; its leader still listens.)"""
        leader = self.group.view.leader
        if not leader or leader == self.instance:
            return
        address = self.group.infos([leader]).get(leader, {}).get("address")
        if address and slot_server_gone(str(address), timeout=0.25):
            log.warning("job %s: leader %s is gone (its slot server refuses connections)", self.job_id, leader)
            self.group.lost(leader)

    def _beat(self) -> None:
        while True:
            # while the leader waits for instances to join it beats every 50 ms, so it sees a join when it
            # happens (at the session's pace, a join was seen up to a beat late and the start waited that long)
            self._beat_soon.wait(BEAT_WHILE_SETTLING_S if self._settling else self.heartbeat_s)
            self._beat_soon.clear()
            if self._beat_stop.is_set():
                return
            try:
                self._check_leader()
                if self._republish:
                    self._republish = False
                    self.group.publish()
                view = self.group.heartbeat()
                self._note_joins(view.members)
                self._see_instances(view)
                self._pass_savepoints(view)
                if view.leader == self.instance and (action := self.group.requested(view.epoch)):
                    log.info("job %s: %s asked through another instance", self.job_id, action)
                    (self.cancelled if action == "cancel" else self.stopping).set()
            except Exception as exc:  # the log is busy or gone for a moment: the next beat tries again
                log.warning("job %s: heartbeat failed: %s", self.job_id, exc)

    # -- the instance's life ------------------------------------------------------------------------------
    def run(self) -> JobExecutionResult:
        started = time.monotonic()
        self.start_time_ms = int(time.time() * 1000)
        self.status = "RUNNING"
        self.join()
        assert self.slot_server is not None
        self.slot_server.start()
        prewarm()  # this instance runs workers soon (its own, or the leader's on its slots)
        beat = threading.Thread(target=self._beat, name=f"job-group-{self.job_id}", daemon=True)
        beat.start()
        try:
            while True:
                view = self.group.view
                if view.leader and view.leader != self.instance:
                    self._followed.add(view.epoch)
                end = self.group.last_end()
                if end is not None and end[0] in self._followed:  # the job this instance took part in ended
                    self.status = end[1]
                    break
                if view.leader == self.instance:
                    result = self._lead(view.epoch)
                    if result is not None:
                        return result
                    continue
                if self.cancelled.is_set() or self.leaving.is_set() or self.stopping.is_set():
                    self.handed_over = self.leaving.is_set() and not self.cancelled.is_set()
                    break
                self.status = "RUNNING"  # standing by: slots serve the leader
                self.cancelled.wait(0.05)
            return JobExecutionResult(self.job_name, int((time.monotonic() - started) * 1000), {}, 0)
        finally:
            self._beat_stop.set()
            self._beat_soon.set()
            beat.join(5)
            if self.leaving.is_set():
                self._hand_over()
            else:
                self.group.leave()
            self.slot_server.close()
            self._log.close()
            self.end_time_ms = int(time.time() * 1000)

    def _hand_over(self) -> None:
        """Leave the group while this instance's slots still run the leader's workers, and keep them until the
        leader has moved them (the slot server tells it at once; it checkpoints with these workers and rescales
        without them), at most :data:`HAND_OVER_S`: a clean leave costs the job no reprocessing. The slots start
        no new workers meanwhile."""
        assert self.slot_server is not None
        self.slot_server.drain()
        self.group.leave()
        deadline = time.monotonic() + HAND_OVER_S
        while self.slot_server.busy() and time.monotonic() < deadline and not self.cancelled.is_set():
            time.sleep(0.02)

    def _lead(self, epoch: int) -> JobExecutionResult | None:
        """Coordinate the job in term ``epoch``; its result when it ended, ``None`` when this instance no
        longer leads (deposed) — or it left, which also returns a result."""
        self.epoch = epoch
        self._first_checkpoint_now = bool(self._followed - {epoch})
        self._followed.add(epoch)
        log.info("instance %s coordinates job %s (term %d)", self.instance, self.job_id, epoch)
        try:
            result = ParallelJobRunner.run(self)
        except _Deposed:
            log.warning("instance %s no longer leads job %s: standing by", self.instance, self.job_id)
            self.status = "RUNNING"
            return None
        except _Leaving:
            self.status = "RUNNING"  # the job runs on, on the other instances
            self.handed_over = True
            return JobExecutionResult(self.job_name, 0, {}, 0, checkpoints=self.summary)
        except BaseException:
            self.group.end(epoch, self.status)
            raise
        self.group.end(epoch, self.status)
        return result

    # -- attempts -----------------------------------------------------------------------------------------
    def _attempt(self) -> JobExecutionResult:
        # the term's first attempt (unless it takes over a running job: that one is down), or instances joined:
        # wait until they stop changing
        settle = not self._first_checkpoint_now
        while True:
            if settle:
                self._stabilize()
            settle = False
            self._place()
            try:
                return super()._attempt()
            except _Rescale:
                # (joins have been waited for while the attempt ran: the next one starts at once)
                log.info("job %s: the instances changed; rescaling from the latest checkpoint", self.job_id)
            except Exception as exc:
                if self._term_is_over():  # e.g. a commit refused by the new leader's term
                    raise _Deposed() from exc
                if isinstance(exc, FencedError):
                    # this term is the newest, but the attempt of an older one (instances that claimed together,
                    # before the older saw the newer) started its producers after ours: a restart fences it back
                    raise JobFailedError(self.job_name, exc) from exc
                lost = [c.instance for c in self._clients.values() if c.lost]
                if not isinstance(exc, JobFailedError) or not lost:
                    raise
                log.warning("job %s: lost instance(s) %s; rescaling without them", self.job_id, ", ".join(lost))
                self._unreachable.update(lost)
                # as a takeover: the output held since the restored checkpoint commits as soon as the workers run
                self._first_checkpoint_now = True
            finally:
                for c in self._clients.values():
                    c.close()
                self._clients = {}

    def _note_joins(self, members: list[str]) -> None:
        """Remember when an instance was last seen joining (the heartbeat thread and :meth:`_stabilize` call it)."""
        new = set(members) - self._seen
        if new:
            self._seen |= new
            self._last_join = time.monotonic()

    def _stabilize(self) -> None:
        """Wait until no instance has joined for ``stabilization_ms`` (at most ten times that), so that instances
        started together, or one after another, cost one start instead of a rescale each — Flink's
        ``jobmanager.adaptive-scheduler.resource-stabilization-timeout``, which waits for resources to arrive.

        Only joins are waited for: instances that left (or were lost) are not coming back, so a rescale without
        them, and a new leader taking over instances that have been in the group for a while, start at once."""
        if self.stabilization_ms <= 0:
            return
        self._changed_at = None  # (the ten-windows bound of _still_joining counts from now)
        self._note_joins(self.group.view.members)
        self._settling = True
        self._beat_soon.set()
        try:
            while self._still_joining():
                if self.cancelled.is_set() or self.stopping.is_set() or self.leaving.is_set():
                    return
                time.sleep(0.02)
                self._note_joins(self.group.view.members)
        finally:
            self._settling = False

    def _term_is_over(self) -> bool:
        """Whether another instance leads now (read from the log, not the last heartbeat's view)."""
        try:
            return self.group.term() != self.epoch
        except Exception:
            return False

    def _place(self) -> None:
        """Decide where the next attempt's workers run, and plan the job at the parallelism that gives."""
        view = self.group.view
        infos = self.group.infos(view.members)
        self._unreachable &= set(view.members)
        self._departing &= set(view.members)
        slots: list[tuple[str, int]] = [(self.instance, self.slots)]
        for m in view.members:
            info = infos.get(m)
            if m == self.instance or not info or info.get("digest") != self.digest or not info.get("address"):
                continue
            if m in self._departing:
                continue
            try:
                self._clients[m] = SlotClient(m, str(info["address"]), self.token, timeout=2.0)
            except OSError:
                self._unreachable.add(m)
                continue
            self._unreachable.discard(m)
            slots.append((m, int(info["slots"])))
        total = sum(n for _m, n in slots)
        self._placed = [m for m, n in slots for _ in range(n)]
        self._expected = set(view.members) - self._unreachable - self._departing
        self._changed_at = None
        plan = plan_job(self._everything, total, self.config.max_parallelism)
        if plan.parallelism != self.plan.parallelism:
            log.info("job %s runs with parallelism %d on %d instance(s)", self.job_id, plan.parallelism, len(slots))
        self.plan = plan
        self.workers = plan.parallelism
        self._job = {**self._job, "parallelism": total}
        self._spec = pickle_job(self._job, topological(self._everything))

    def _attempt_must_end(self) -> BaseException | None:
        view = self.group.view
        if view.leader != self.instance or view.epoch != self.epoch:
            return _Deposed()
        if self.leaving.is_set():
            if len(view.members) > 1:
                return _Leaving()
            self.stopping.set()  # the last instance: stop the job (final checkpoint)
        departing = {m for m, c in self._clients.items() if c.leaving}
        if departing:  # (an instance's slot server says it leaves: sooner than the group's view shows it)
            self._departing |= departing
            return _Rescale()
        if set(view.members) - self._unreachable - self._departing != self._expected:
            return None if self._still_joining() else _Rescale()
        self._changed_at = None  # (an instance that joined has left again)
        return None

    def _still_joining(self) -> bool:
        """Whether to wait for more instances before starting (:meth:`_stabilize`) or rescaling a running attempt:
        one joined less than ``stabilization_ms`` ago, for at most ten times that since the wait began (the
        first call after ``_changed_at`` was cleared). A running attempt runs on meanwhile, as Flink's adaptive
        scheduler waits for resources to stabilize while it executes. Departures are not waited for."""
        window = self.stabilization_ms / 1000
        if window <= 0:
            return False
        now = time.monotonic()
        if self._changed_at is None:
            self._changed_at = now
        return now - self._last_join < window and now - self._changed_at < 10 * window

    def _listen(self, tmp: Path) -> tuple[socket.socket, str]:
        return Address.listen(f"tcp:{self.bind_host}", self.workers)

    def _launch(self, address: str, index: int, count: int, tmp: Path) -> WorkerProcess:
        where = self._placed[index] if index < len(self._placed) else self.instance
        if where == self.instance:
            return start_worker(address, index, count, f"tcp:{self.bind_host}", {TOKEN_ENV: self.token.hex()})
        try:
            return self._clients[where].start(address, index, count)
        except OSError as exc:  # the instance went away since it was placed: place the job without it
            log.warning("job %s: %s; rescaling without it", self.job_id, exc)
            self._clients[where].lost = True
            self._unreachable.add(where)
            raise _Rescale() from exc

    def _checkpoints(self) -> ParallelCheckpoints:
        cps = super()._checkpoints()
        epoch = self.epoch
        cps.id_floor = epoch * TERM_IDS
        same_log = (cps.eo_url or "") == self.log_url
        cps.commit_guard = lambda txn: self.group.require_term(txn if same_log else None, epoch)
        if self._first_checkpoint_now:  # the first attempt of a takeover or after a lost instance: checkpoint at once
            self._first_checkpoint_now = False
            cps.last_ms = float("-inf")
        return cps


__all__ = ["ReactiveJobRunner", "plan_digest"]
