"""Flink's job control operations, acting on the jobs of this process (:mod:`~millstream.runtime.job_directory`):
the logic behind the REST API's control endpoints (:mod:`millstream.observe.server`).

- :meth:`JobControl.cancel` — ``PATCH /jobs/{id}?mode=cancel``: the job stops reading at once and closes
  without a final checkpoint (its uncommitted exactly-once output is aborted);
- :meth:`JobControl.trigger_savepoint` — ``POST /jobs/{id}/savepoints``: a checkpoint is taken at the next
  round boundary and copied to ``TARGET/savepoint-<id6>-<random>`` (Flink's layout); with ``cancel-job`` the
  job is cancelled once the savepoint is written;
- :meth:`JobControl.stop_with_savepoint` — ``POST /jobs/{id}/stop``: the job stops as ``JobClient.stop()``
  does (sources stop at a round boundary, the final checkpoint commits the last output, sinks close), and
  that final checkpoint is copied as the savepoint — so the savepoint holds exactly the state of the
  committed output, nothing after it;
- :meth:`JobControl.status` — ``GET /jobs/{id}/savepoints/{triggerid}``: ``IN_PROGRESS`` or ``COMPLETED`` with
  the savepoint's ``location`` or a ``failure-cause``.

Refusals raise :class:`~millstream.observe.rest.NotFound` (404: unknown job or trigger id),
:class:`JobNotRunning` (409: the job has ended) or :class:`BadControlRequest` (400: no checkpointing, no target
directory, ``drain``), each naming what to do instead. Savepoint operations of ended jobs are kept until
:data:`MAX_OPERATIONS` newer ones exist.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import MillstreamError
from ..runtime import job_directory
from .rest import NotFound

#: how many savepoint operations are remembered (oldest dropped first)
MAX_OPERATIONS = 200
#: how long a cancel-job / stop operation waits for the job before reporting a failure
OPERATION_TIMEOUT_S = 600.0
#: the job parameter naming the default savepoint directory (``env.set_default_savepoint_directory``)
SAVEPOINT_DIR_PARAM = "execution.checkpointing.savepoint-dir"


class BadControlRequest(MillstreamError):
    """The request cannot be served as asked (HTTP 400)."""


class JobNotRunning(MillstreamError):
    """The job has ended; only running jobs can be cancelled, stopped or take savepoints (HTTP 409)."""


@dataclass
class SavepointOperation:
    """One asynchronous savepoint (or stop-with-savepoint): ``result`` gets the savepoint's path or the
    exception that prevented it; ``done`` is set once either is there."""

    jid: str
    trigger_id: str
    runner: Any
    result: list[Any] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    reported: threading.Event = field(default_factory=threading.Event)  # its outcome was asked for
    on_success: Callable[[SavepointOperation], None] | None = None  # runs before ``done`` is set

    def finish(self, outcome: Any) -> None:
        """Record the outcome (a path or an exception) once."""
        if not self.done.is_set():
            self.result.append(outcome)
            if self.on_success is not None and not isinstance(outcome, BaseException):
                self.on_success(self)
            self.done.set()


def _running(jid: str, doing: str) -> Any:
    runner = job_directory.get(jid)
    if runner is None:
        raise NotFound(f"Job {jid} not found", hint="GET /jobs lists the jobs of this process")
    if runner.status in job_directory.TERMINAL:
        raise JobNotRunning(
            f"Job {jid} is {runner.status}: only a running job can {doing}",
            hint="start it again (millstream run ... --from-savepoint DIR) to act on it",
        )
    return runner


def _needs_checkpointing(runner: Any, jid: str, what: str) -> None:
    if getattr(runner.config, "checkpoint_interval", None) is None:
        raise BadControlRequest(
            f"Job {jid} runs without checkpointing, so it cannot {what}",
            hint="enable it in the pipeline with env.enable_checkpointing(interval_ms) and run the job again; "
            "to end this job, cancel it: millstream jobs cancel ID, or PATCH /jobs/{id}?mode=cancel",
        )


def _target(runner: Any, jid: str, target_directory: str | None) -> Path:
    """``TARGET/savepoint-<first 6 of the job id>-<12 hex>``, as Flink names savepoint directories."""
    base = target_directory or dict(getattr(runner.config, "params", {}) or {}).get(SAVEPOINT_DIR_PARAM)
    if not base:
        raise BadControlRequest(
            f"No savepoint target directory given for job {jid}, and the job sets no default one",
            hint='pass "target-directory" (millstream jobs savepoint ID --target-directory DIR), or call '
            "env.set_default_savepoint_directory(DIR) in the pipeline",
        )
    return Path(str(base)) / f"savepoint-{jid[:6]}-{uuid.uuid4().hex[:12]}"


class JobControl:
    """Control operations on this process's jobs (see the module docstring). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: dict[tuple[str, str], SavepointOperation] = {}
        self._latest: dict[str, dict[str, Any]] = {}  # job id -> its latest savepoint (Flink's checkpoint shape)

    def cancel(self, jid: str) -> None:
        """Cancel job ``jid`` (returns at once; the job ends at its next round boundary)."""
        _running(jid, "be cancelled").cancel()

    def trigger_savepoint(self, jid: str, target_directory: str | None, cancel_job: bool = False) -> str:
        """Ask job ``jid`` for a savepoint under ``target_directory`` (else the job's default savepoint
        directory); its trigger id. With ``cancel_job`` the job is cancelled after the savepoint is written."""
        runner = _running(jid, "take a savepoint")
        _needs_checkpointing(runner, jid, "take a savepoint")
        target = _target(runner, jid, target_directory)
        op = self._new(jid, runner)
        answer: list[Any] = []
        runner.savepoint_requests.append((str(target), answer))
        self._watch(op, lambda: self._await_savepoint(op, answer, cancel_job))
        return op.trigger_id

    def stop_with_savepoint(self, jid: str, target_directory: str | None, drain: bool = False) -> str:
        """Stop job ``jid`` with a savepoint of its final checkpoint under ``target_directory``; the
        trigger id. ``drain`` (end event time first) is refused: millstream's stop does not drain."""
        runner = _running(jid, "be stopped")
        if drain:
            raise BadControlRequest(
                f"Job {jid}: stop with drain (advancing event time to the end first) is not supported",
                hint='stop without "drain" (millstream jobs stop ID without --drain); windows still open are '
                "kept in the savepoint and fire after the restart",
            )
        _needs_checkpointing(runner, jid, "stop with a savepoint")
        target = _target(runner, jid, target_directory)
        op = self._new(jid, runner)
        runner.stop()
        self._watch(op, lambda: self._await_stop(op, target))
        return op.trigger_id

    def status(self, jid: str, trigger_id: str) -> dict[str, Any]:
        """Flink's asynchronous operation answer for a savepoint trigger of job ``jid``."""
        with self._lock:
            op = self._ops.get((jid, trigger_id))
        if op is None:
            raise NotFound(
                f"Savepoint operation {trigger_id} of job {jid} not found",
                hint="use the request-id that POST /jobs/{id}/savepoints or /stop answered",
            )
        if not op.done.is_set():
            return {"status": {"id": "IN_PROGRESS"}, "operation": None}
        op.reported.set()
        outcome = op.result[0]
        if isinstance(outcome, BaseException):
            message = getattr(outcome, "message", None) or str(outcome) or type(outcome).__name__
            cause = {"class": type(outcome).__name__, "stack-trace": message, "serialized-throwable": message}
            return {"status": {"id": "COMPLETED"}, "operation": {"failure-cause": cause}}
        return {"status": {"id": "COMPLETED"}, "operation": {"location": str(outcome)}}

    def settle(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until every operation has finished and its outcome was asked for — so a
        process whose job just stopped with a savepoint answers the client's last status request before it
        exits. ``True`` when nothing is left pending."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                pending = [op for op in self._ops.values() if not op.reported.is_set()]
            if not pending:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            pending[0].done.wait(min(left, 0.1))
            if pending[0].done.is_set():
                pending[0].reported.wait(min(max(deadline - time.monotonic(), 0), 0.1))

    # -- internals ------------------------------------------------------------------------------------
    def _new(self, jid: str, runner: Any) -> SavepointOperation:
        op = SavepointOperation(jid, uuid.uuid4().hex, runner, on_success=self._record)
        with self._lock:
            self._ops[(jid, op.trigger_id)] = op
            for key in list(self._ops)[: max(0, len(self._ops) - MAX_OPERATIONS)]:
                del self._ops[key]
        return op

    def latest_savepoint(self, jid: str) -> dict[str, Any] | None:
        """The latest savepoint taken through this control, as ``/jobs/{id}/checkpoints`` shows it in
        ``latest.savepoint`` (``None`` without one)."""
        with self._lock:
            return self._latest.get(jid)

    def _record(self, op: SavepointOperation) -> None:
        from ..runtime.checkpoint_storage import read_manifest

        location = op.result[0]
        try:
            manifest = read_manifest(Path(location))
        except Exception:  # the savepoint is there; only its figures are missing from the answer
            manifest = {}
        now = int(time.time() * 1000)
        entry = {
            "@class": "completed",
            "id": int(manifest.get("checkpoint_id", -1)),
            "status": "COMPLETED",
            "is_savepoint": True,
            "savepointFormat": "CANONICAL",
            "checkpoint_type": "SAVEPOINT",
            "trigger_timestamp": int(manifest.get("timestamp_ms", now)),
            "latest_ack_timestamp": now,
            "external_path": str(location),
            "discarded": False,
        }
        with self._lock:
            self._latest[op.jid] = entry

    def _watch(self, op: SavepointOperation, body: Any) -> None:
        def run() -> None:
            try:
                body()
            except BaseException as exc:  # never leave an operation IN_PROGRESS forever
                op.finish(exc)

        threading.Thread(target=run, name=f"savepoint-{op.trigger_id[:8]}", daemon=True).start()

    @staticmethod
    def _await_savepoint(op: SavepointOperation, answer: list[Any], cancel_job: bool) -> None:
        """Wait for the job to serve the request (or end without serving it), then cancel it if asked."""
        deadline = time.monotonic() + OPERATION_TIMEOUT_S
        runner = op.runner
        while not answer:
            if runner.status in job_directory.TERMINAL:
                time.sleep(0.05)  # a request served in the job's last round lands just before it ends
                if not answer:
                    raise JobNotRunning(f"Job {op.jid} ended ({runner.status}) before it took the savepoint")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Job {op.jid} did not take the savepoint within {OPERATION_TIMEOUT_S:g} s")
            time.sleep(0.02)
        outcome = answer[0]
        if cancel_job and not isinstance(outcome, BaseException):
            runner.cancel()
        op.finish(outcome)

    @staticmethod
    def _await_stop(op: SavepointOperation, target: Path) -> None:
        """Wait for the stopped job to end, then copy its final (committed) checkpoint to ``target``."""
        from ..runtime.checkpointing import checkpoint_root, job_id_of
        from ..runtime.savepoints import committed_checkpoint, copy_as_savepoint

        runner = op.runner
        deadline = time.monotonic() + OPERATION_TIMEOUT_S
        while runner.status not in job_directory.TERMINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Job {op.jid} did not stop within {OPERATION_TIMEOUT_S:g} s")
            time.sleep(0.05)
        if runner.status != "FINISHED":
            raise JobNotRunning(f"Job {op.jid} ended {runner.status} while stopping, without a final checkpoint")
        done = [s for s in runner.summary.stats if s.status == "COMPLETED"]
        if not done:
            raise MillstreamError(f"Job {op.jid} stopped without completing a checkpoint, so there is no savepoint")
        chk = committed_checkpoint(checkpoint_root(runner.config), job_id_of(runner.config, runner.job_name))
        if chk.checkpoint_id != done[-1].checkpoint_id:
            raise MillstreamError(
                f"Job {op.jid}'s final checkpoint {done[-1].checkpoint_id} is not the committed one "
                f"({chk.checkpoint_id}); no savepoint was written"
            )
        op.finish(copy_as_savepoint(chk, target))


__all__ = [
    "MAX_OPERATIONS",
    "SAVEPOINT_DIR_PARAM",
    "BadControlRequest",
    "JobControl",
    "JobNotRunning",
    "SavepointOperation",
]
