"""The coordinator of a parallel job: starts, connects and supervises its worker processes.

:class:`ParallelJobRunner` has the face of :class:`~millstream.runtime.job.JobRunner` (``run``, ``cancel``,
``stop``, ``status``, ``jid``...), so ``execute()``, ``execute_async()`` and ``millstream run`` use either.
Protocol of one attempt (:meth:`ParallelJobRunner._attempt`):

  1. cloudpickle the job (graph, configuration, clock) once; a function that does not pickle fails the job
     before any process starts, naming the operator and the function;
  2. listen on ``coordinator.sock`` in a private temporary directory and start ``N`` workers
     (forked by the process's warm fork server, or fresh interpreters: :mod:`.launcher` — never a fork of
     this process, so a pipeline file is never run again in them); each says ``hello``, gets the job,
     connects to its peers, opens its subtasks and says ``ready``; then all get ``start``
     (:mod:`millstream.runtime.parallel.worker`);
  3. supervise: collect ``execute_and_collect`` results as they come, pass on ``stop`` / ``cancel``, run the
     checkpoints (:mod:`millstream.runtime.parallel.checkpoints`: restored into the workers before ``start``,
     triggered every interval, a final one when every worker has drained its input or stopped); a worker
     that reports a failure, or exits without finishing (killed, crashed), fails the attempt; a reactive job's
     planned rescale ends the attempt at a checkpoint triggered for it (:class:`EndAtCheckpoint`);
  4. always: end every worker still running (``SIGTERM``, then ``SIGKILL`` after 5 s) and remove the
     directory — no orphan processes after a failure, a cancel or Ctrl-C. A worker also leaves by itself when
     the coordinator's connection closes (the coordinator was killed).

A failed attempt is restarted as the job's restart strategy says (all subtasks start again from the last
completed checkpoint, as Flink's full-restart failover does); otherwise ``run`` raises
:class:`JobFailedError` naming the subtask
(``Map (2/4)``), the element, and carrying the worker's traceback as a note of the original exception.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ...core import sensors
from ...core.errors import CheckpointError
from ...core.io_wait import wait_io
from ...stream.errors import JobConfigError, JobFailedError
from ...stream.graph import Transformation, topological
from ...stream.plan import JobPlan
from .. import job_directory
from ..checkpointing import CheckpointSummary, check_tolerable_failures
from ..exception_history import ExceptionHistory
from ..job import JobExecutionResult
from .checkpoints import ParallelCheckpoints
from .launcher import WorkerProcess, start_worker
from .metrics import ParallelJobMetrics
from .transport import PEER_GONE_EXIT, Address, Connection, PeerClosed, accept

_log = logging.getLogger("millstream.runtime")
STARTUP_TIMEOUT_S = 120.0
#: how long a worker that left because a peer was gone waits for the peer that caused it to be seen
ROOT_CAUSE_GRACE_S = 2.0
#: an :class:`EndAtCheckpoint` waits at most this many checkpoint intervals for its checkpoint (as Flink's
#: ``jobmanager.adaptive-scheduler.rescale-trigger.max-delay``: the interval times 3 by default) ...
END_AT_CHECKPOINT_MAX_DELAY = 3
#: ... and at least this many seconds (a barrier waits behind the records already queued in the exchanges: under
#: backpressure a checkpoint takes longer than a short interval)
END_AT_CHECKPOINT_MIN_WAIT_S = 5.0


class WorkerError(Exception):
    """An error raised in a worker process whose exception object could not be sent back as it was."""


class WorkerLostError(Exception):
    """A worker process ended without finishing its subtasks (killed, or crashed)."""


class EndAtCheckpoint(Exception):
    """Returned by :meth:`ParallelJobRunner._attempt_must_end` for an end that can wait for a checkpoint (a
    reactive job's planned rescale: an instance joined or leaves): the coordinator triggers a checkpoint at once
    (or lets the one in flight finish and triggers the next) and ends the attempt, raising this, when the
    checkpoint triggered for it completes or fails — or after :data:`END_AT_CHECKPOINT_MAX_DELAY` intervals
    (:data:`END_AT_CHECKPOINT_MIN_WAIT_S` at least).
    The next attempt restores from that checkpoint, so nothing since the previous one is processed again and
    the output held for it is committed: Flink 2's checkpoint-synchronized rescaling (FLIP-461, with the
    adaptive scheduler's active checkpoint trigger). Without checkpointing, or when the job is stopping or its
    final checkpoint is under way, the attempt ends at once."""


def pickle_job(job: dict[str, Any], nodes: list[Transformation]) -> bytes:
    """The job as cloudpickle bytes; a node whose parameters do not pickle is a :class:`JobConfigError` naming
    the operator and the function."""
    import cloudpickle

    for module in _unimportable_modules():
        cloudpickle.register_pickle_by_value(module)
    for t in nodes:
        for key, value in t.params.items():
            try:
                cloudpickle.dumps(value)
            except Exception as exc:
                what = getattr(value, "__qualname__", None) or type(value).__name__
                raise JobConfigError(
                    f"operator {t.name!r}: its {key} ({what}) cannot be sent to the worker processes of a parallel "
                    f"job: {type(exc).__name__}: {exc}",
                    hint="keep unpicklable resources (connections, locks, open files) out of the function and "
                    "create them in its open(), or run the job with parallelism 1",
                ) from exc
    return cloudpickle.dumps(job)


def _unimportable_modules() -> list[Any]:
    """Loaded modules a fresh interpreter could not import by name (loaded from a file path, as a benchmark or
    a test may be): their functions must travel by value, not by reference."""
    roots = [os.path.abspath(p or os.curdir) for p in sys.path]
    out = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or name == "__main__" or "." in name or getattr(module, "__spec__", None) is None:
            continue
        path = os.path.abspath(file)
        if not any(os.path.dirname(path) == r or path.startswith(r + os.sep) for r in roots):
            out.append(module)
    return out


class ParallelJobRunner:
    """Runs a planned job on ``plan.parallelism`` worker processes (see the module docstring)."""

    def __init__(
        self,
        env: Any,
        sinks: list[Transformation],
        job_name: str,
        collect: list[Transformation] | None,
        plan: JobPlan,
        default_parallelism: int,
        jid: str | None = None,
    ) -> None:
        self.env = env
        self.job_name = job_name
        self.config = env.config
        self.clock = env.clock
        self.plan = plan
        self.workers = plan.parallelism
        self.cancelled = threading.Event()
        self.stopping = threading.Event()
        self.summary = CheckpointSummary()
        self.savepoint_requests: list[tuple[str, list[Any]]] = []
        self.jid = jid or uuid.uuid4().hex
        self.status = "CREATED"
        self.start_time_ms = -1
        self.end_time_ms = -1
        self.restarts = 0
        self._consequence_seen: float | None = None  # when a worker was first seen leaving for a lost peer
        self.exceptions = ExceptionHistory()  # every failure, restarted from or final (GET /jobs/{id}/exceptions)
        self.sinks = sinks
        self.collect = list(collect or [])
        self.collected: list[list[Any]] = [[] for _ in self.collect]
        self._sink_nodes = {t.id: t for t in sinks}
        self.worker_pids: list[int] = []
        self.metrics = ParallelJobMetrics(self.jid, job_name, plan) if sensors.installed() else None
        job = {
            "job_name": job_name,
            "config": self.config,
            "clock": self.clock,
            "sinks": sinks,
            "collect": self.collect,
            "parallelism": default_parallelism,
            "metrics": self.metrics is not None,
        }
        self._job = job
        self._spec = pickle_job(job, topological(sinks + self.collect))
        job_directory.register(self)

    # -- JobRunner's face -----------------------------------------------------------------------------
    def cancel(self) -> None:
        self.cancelled.set()

    def stop(self) -> None:
        """Flink's stop: sources end where they are, operators and sinks close; safe from any thread."""
        self.stopping.set()

    def run(self) -> JobExecutionResult:
        strategy = self.config.restart_strategy
        self.start_time_ms = int(time.time() * 1000)
        self.status = "RUNNING"
        failures = 0
        try:
            while True:
                started = time.monotonic()
                try:
                    self.status = "RUNNING"
                    result = self._attempt()
                    result.restarts = self.restarts
                    break
                except JobFailedError as exc:
                    if self.cancelled.is_set() or self.stopping.is_set():
                        raise
                    self.exceptions.record(exc)
                    reset = strategy.reset_threshold_ms
                    if reset is not None and (time.monotonic() - started) * 1000 >= reset:
                        failures = 0
                    failures += 1
                    delay = strategy.next_delay_ms(failures)
                    if delay is None:
                        raise
                    self.restarts += 1
                    msg = f"job {self.job_name!r} failed ({exc}); restart {self.restarts} in {delay} ms"
                    self.summary.warnings.append(msg)
                    _log.warning(msg)
                    self.status = "RESTARTING"
                    for results in self.collected:
                        results.clear()
                    if self.cancelled.wait(delay / 1000):
                        raise
        except BaseException:
            self.status = "CANCELED" if self.cancelled.is_set() else "FAILED"
            raise
        finally:
            self.end_time_ms = int(time.time() * 1000)
        self.status = "CANCELED" if self.cancelled.is_set() else "FINISHED"
        return result

    # -- one attempt ----------------------------------------------------------------------------------
    def _attempt(self) -> JobExecutionResult:
        started = time.monotonic()
        self._consequence_seen = None
        cps = self._checkpoints()
        if self.metrics is not None:
            self.metrics.new_attempt()
            self.metrics.report_job(self.restarts, self.summary)
        try:
            cps.open()
            restore = cps.restore_payloads()
            return self._run_workers(cps, restore, started)
        finally:
            cps.close()

    # -- where workers run (a scale-out job places them on several instances: runtime.scaleout) ---------
    token = b""  #: the secret every TCP connection of the job opens with (none on Unix sockets)

    def _listen(self, tmp: Path) -> tuple[socket.socket, str]:
        """The coordinator's listening socket and the address workers connect to."""
        return Address.listen(f"unix:{tmp / 'coordinator.sock'}", self.workers)

    def _launch(self, address: str, index: int, count: int, tmp: Path) -> WorkerProcess:
        """Start worker ``index`` of ``count``, to connect to the coordinator at ``address``."""
        return start_worker(address, index, count, f"unix:{tmp / f'w{index}.sock'}")

    def _attempt_must_end(self) -> BaseException | None:
        """Checked while an attempt runs: an exception that ends it now (``None``: go on)."""
        return None

    def _checkpoints(self) -> ParallelCheckpoints:
        """The checkpoints of one attempt."""
        return ParallelCheckpoints(self.job_name, self.config, self.plan, self.summary, self.workers)

    def _run_workers(
        self, cps: ParallelCheckpoints, restore: list[dict[str, Any]], started: float
    ) -> JobExecutionResult:
        n = self.workers
        tmp = Path(tempfile.mkdtemp(prefix="millstream-job-"))
        listener: socket.socket | None = None
        procs: list[WorkerProcess] = []
        conns: dict[int, Connection] = {}
        try:
            listener, address = self._listen(tmp)
            for i in range(n):
                procs.append(self._launch(address, i, n, tmp))
            self.worker_pids = [p.pid for p in procs]
            conns, addresses = self._accept(listener, procs)
            for c in conns.values():
                c.send(("job", list(sys.path), self._spec, addresses))
            self._await_all(conns, procs, "ready", STARTUP_TIMEOUT_S)
            for i, c in conns.items():
                if restore[i]:
                    c.send(("restore", restore[i]))
                c.send(("start",))
            written, late = self._supervise(conns, procs, cps)
        except PeerClosed as exc:  # a worker died while we were talking to it
            raise self._failure(WorkerLostError(f"lost a worker: {exc}")) from exc
        finally:
            if listener is not None:
                listener.close()
            self._end_workers(procs, conns)
            shutil.rmtree(tmp, ignore_errors=True)
        return JobExecutionResult(
            self.job_name, int((time.monotonic() - started) * 1000), written, late, checkpoints=self.summary
        )

    def _accept(
        self, listener: socket.socket, procs: list[WorkerProcess]
    ) -> tuple[dict[int, Connection], dict[int, str]]:
        """Every worker's connection and the address its peers reach it at."""
        conns: dict[int, Connection] = {}
        addresses: dict[int, str] = {}
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        listener.settimeout(0.2)
        while len(conns) < len(procs):
            self._check_exits(procs, set())
            if (ended := self._attempt_must_end()) is not None:
                raise ended
            if time.monotonic() > deadline:
                raise self._failure(WorkerLostError(f"the workers did not start within {STARTUP_TIMEOUT_S:.0f} s"))
            try:
                s = accept(listener, self.token)
            except TimeoutError:
                continue
            if s is None:  # not one of this job's workers
                continue
            c = Connection(s, "worker")
            hello = c.receive_blocking(30)
            conns[int(hello[1])] = c
            addresses[int(hello[1])] = str(hello[3])
            c.name = f"worker {hello[1]}"
        return conns, addresses

    def _await_all(self, conns: dict[int, Connection], procs: list[WorkerProcess], what: str, timeout: float) -> None:
        waiting = set(conns)
        deadline = time.monotonic() + timeout
        while waiting:
            if self.cancelled.is_set():
                return
            for i, msg in self._poll(conns, 0.1):
                if msg[0] == what:
                    waiting.discard(i)
                else:
                    self._handle(i, msg, set())
            self._check_exits(procs, set())
            if time.monotonic() > deadline:
                raise self._failure(WorkerLostError(f"workers {sorted(waiting)} did not get {what} within {timeout} s"))

    def _supervise(
        self, conns: dict[int, Connection], procs: list[WorkerProcess], cps: ParallelCheckpoints
    ) -> tuple[dict[str, int], int]:
        finished: set[int] = set()
        drained: set[int] = set()
        written: dict[str, int] = {}
        late = 0
        told_stop = told_finish = False
        final: int | None = None  # the final checkpoint's id, once triggered
        ending: EndAtCheckpoint | None = None  # an end that waits for the checkpoint ``end_at`` (once triggered)
        end_at: int | None = None
        end_by = 0.0
        while len(finished) < len(conns):
            if (ended := self._attempt_must_end()) is not None:
                if not isinstance(ended, EndAtCheckpoint) or not cps.enabled or told_stop or final is not None:
                    _cancel_all(conns)
                    raise ended
                if ending is None:
                    wait = max(END_AT_CHECKPOINT_MIN_WAIT_S, END_AT_CHECKPOINT_MAX_DELAY * cps.interval_ms / 1000)
                    end_by = time.monotonic() + wait
                    _log.info("job %s: ending the attempt at a checkpoint (%s)", self.job_name, ended)
                ending = ended
                if end_at is None and cps.inflight is None:
                    end_at = self._trigger(conns, cps)
                if time.monotonic() >= end_by:
                    _log.warning("job %s: no checkpoint within the wait; ending the attempt without one", self.job_name)
                    _cancel_all(conns)
                    raise ending
            elif ending is not None:  # the reason went away (an instance that joined left again): go on
                ending = end_at = None
            if self.cancelled.is_set():
                _cancel_all(conns)
                return written, late
            if self.stopping.is_set() and not told_stop:
                told_stop = True
                for c in conns.values():
                    _quiet_send(c, ("stop",))
            if cps.enabled and not told_finish:
                if len(drained) == len(conns) and final is None and cps.inflight is None:
                    final = self._trigger(conns, cps)
                elif final is None and ending is None and cps.due(self.savepoint_requests):
                    self._trigger(conns, cps)
            for i, msg in self._poll(conns, 0.05 if cps.enabled else 0.1):
                kind = msg[0]
                if kind == "finished":
                    finished.add(i)
                    for name, count in msg[2].items():
                        written[name] = written.get(name, 0) + count
                    late += msg[3]
                elif kind == "drained":
                    drained.add(i)
                elif kind == "ack":
                    if cps.on_ack(i, *msg[2:]):
                        cid = cps.inflight
                        st = cps.complete()
                        if st.status == "COMPLETED":
                            for c in conns.values():
                                _quiet_send(c, ("complete", cid))
                        else:
                            try:
                                check_tolerable_failures(self.summary, self.config)
                            except CheckpointError as exc:
                                raise self._failure(exc) from exc
                        if cid == end_at and ending is not None:  # (completed or failed: the attempt ends)
                            _cancel_all(conns)
                            raise ending
                        if cid == final:
                            if st.status != "COMPLETED":
                                raise self._failure(
                                    CheckpointError(
                                        f"the final checkpoint failed, so the job's last output is not committed: "
                                        f"{st.error}",
                                        hint="fix the checkpoint storage and run the job again; it resumes from "
                                        "its last checkpoint",
                                    )
                                )
                            told_finish = True
                            for c in conns.values():
                                _quiet_send(c, ("finish",))
                else:
                    self._handle(i, msg, finished)
            self._check_exits(procs, finished, conns)
        return written, late

    def _trigger(self, conns: dict[int, Connection], cps: ParallelCheckpoints) -> int:
        cid = cps.trigger(self.savepoint_requests)
        for c in conns.values():
            _quiet_send(c, ("checkpoint", cid))
        return cid

    def _poll(self, conns: dict[int, Connection], timeout: float) -> list[tuple[int, Any]]:
        """The frames the workers sent within ``timeout`` s; meanwhile, what is queued for them goes out (a
        frame larger than the socket's buffer, such as a large restore, is written as the worker reads it)."""
        socks = {c.sock: i for i, c in conns.items() if not c.closed}
        if not socks:
            time.sleep(timeout)
            return []
        writers = []
        for s, i in socks.items():
            if conns[i].pending:
                try:
                    if not conns[i].flush():
                        writers.append(s)
                except PeerClosed:
                    conns[i].closed = True
        readable, _w = wait_io(list(socks), writers, timeout)
        out: list[tuple[int, Any]] = []
        for s in readable:
            i = socks[s]
            try:
                out.extend((i, m) for m in conns[i].receive())
            except PeerClosed:
                conns[i].closed = True
        return out

    def _handle(self, index: int, msg: Any, finished: set[int]) -> None:
        if msg[0] == "collected":
            for k, vals, tss in msg[1]:
                if isinstance(k, int):
                    self.collected[k].extend(vals)
                else:  # a collecting sink's lists
                    sink = self._sink_nodes[k[1]].params["sink"]
                    sink.values.extend(vals)
                    sink.timestamps.extend(tss)
        elif msg[0] == "metrics":
            if self.metrics is not None:
                self.metrics.report(*msg[1:])
                self.metrics.report_job(self.restarts, self.summary)
        elif msg[0] == "failed":
            raise self._failure_from(index, msg[2])

    def _check_exits(
        self, procs: list[WorkerProcess], finished: set[int], conns: dict[int, Connection] | None = None
    ) -> None:
        """Fail the attempt if a worker ended before it finished. With ``conns``, a worker whose connection is
        still open is not judged yet: what it sent before it exited ("finished", "failed") is read first. A
        worker that left because a peer was gone (exit :data:`PEER_GONE_EXIT`) is a consequence: for up to
        :data:`ROOT_CAUSE_GRACE_S` the attempt waits for the worker that caused it (killed, crashed) to be
        seen, and names that one."""
        dead = []
        for i, p in enumerate(procs):
            if conns is not None and i in conns and not conns[i].closed:
                continue
            code = p.poll()
            if code is not None and i not in finished and not self.cancelled.is_set():
                dead.append((i, p, code))
        if not dead:
            return
        causes = sorted((d for d in dead if d[2] != PEER_GONE_EXIT), key=lambda d: d[2] >= 0)  # signals first
        if not causes:
            now = time.monotonic()
            if self._consequence_seen is None:
                self._consequence_seen = now
            if now - self._consequence_seen < ROOT_CAUSE_GRACE_S:
                return
        i, p, code = (causes or dead)[0]
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        raise self._failure(WorkerLostError(f"worker {i} (pid {p.pid}) {how} before its subtasks finished"))

    def _failure(self, exc: BaseException) -> JobFailedError:
        err = JobFailedError(self.job_name, exc)
        err.__cause__ = exc
        return err

    def _failure_from(self, index: int, payload: dict[str, Any]) -> JobFailedError:
        error: BaseException | None = None
        if payload.get("blob") is not None:
            try:
                error = pickle.loads(payload["blob"])
            except Exception:
                error = None
        if not isinstance(error, BaseException):
            error = WorkerError(f"{payload['type']}: {payload['message']}")
        error.add_note(f"in worker {index} of job {self.job_name!r}:\n{payload['traceback'].rstrip()}")
        where = payload.get("where") or (None, None, None, None)
        err = JobFailedError(self.job_name, error, operator=where[0], uid=where[1], position=where[2], element=where[3])
        err.__cause__ = error
        return err

    def _end_workers(self, procs: list[WorkerProcess], conns: dict[int, Connection]) -> None:
        """Let finished or cancelled workers exit; SIGTERM, then SIGKILL, whatever is left after a grace."""
        for c in conns.values():
            c.close()
        deadline = time.monotonic() + 5.0
        for p in procs:
            if p.poll() is None:
                try:
                    p.wait(max(0.05, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            if p.poll() is None:
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)


def _cancel_all(conns: dict[int, Connection]) -> None:
    """Tell every worker to leave at once (after anything queued for it, such as a checkpoint's ``complete``)."""
    for c in conns.values():
        _quiet_send(c, ("cancel",))


def _quiet_send(c: Connection, msg: Any) -> None:
    try:
        c.send(msg)
    except (PeerClosed, OSError):
        pass


def default_parallelism(config_parallelism: int | None) -> int:
    """The job's default parallelism: set on the environment, else ``MILLSTREAM_PARALLELISM`` (which
    ``millstream run -p N`` sets), else 1."""
    if config_parallelism is not None:
        return config_parallelism
    raw = os.environ.get("MILLSTREAM_PARALLELISM", "").strip()
    if not raw:
        return 1
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise JobConfigError(
            f"MILLSTREAM_PARALLELISM is {raw!r}, not a positive number of subtasks",
            hint="set it to a whole number such as 2, or unset it",
        )
    return value


__all__ = ["ParallelJobRunner", "WorkerError", "WorkerLostError", "default_parallelism", "pickle_job"]
