"""Tasks in their own processes (``task.execution.mode=process``): real parallelism past the GIL.

:class:`ProcessTask` stands in for a :class:`~millstream.connect.worker.WorkerTask` inside the worker: a
thread that starts a child process (``spawn``), forwards stop/pause/resume to it over a pipe, and relays the
states the child reports. The child opens the same log by URL (so ``file://`` or ``kafka://``; a
``memory://`` log is private to one process), reads its offsets from the offsets topic, and runs the usual
:class:`WorkerSourceTask`/:class:`WorkerSinkTask` loop; it writes source offsets and sink group commits to the
log itself, exactly as a thread task would. If the worker dies, the child notices the closed pipe and stops.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Mapping
from typing import Any

from ..log import open_log
from .fencing import task_fencing_for
from .plugins import _import_dotted
from .storage import OffsetStore, StatusStore
from .worker import StatusListener, WorkerContext, WorkerSinkTask, WorkerSourceTask, WorkerTask, class_name
from .worker_config import WorkerConfig

log = logging.getLogger("millstream.connect.process")

MODES = ("thread", "process")


class ProcessTask(threading.Thread):
    """A task run in a child process, controlled from this thread (same interface as ``WorkerTask``)."""

    def __init__(
        self,
        ctx: WorkerContext,
        connector: str,
        task_id: int,
        task_cls: type,
        task_config: Mapping[str, str],
        connector_config: Mapping[str, Any],
        listener: StatusListener,
        *,
        sink: bool,
        paused: bool = False,
        predecessor: threading.Thread | None = None,
    ) -> None:
        super().__init__(name=f"task-{connector}-{task_id}-process", daemon=True)
        self.ctx = ctx
        self.connector = connector
        self.task_id = task_id
        self.task_cls_name = class_name(task_cls)
        self.task_config = dict(task_config)
        self.connector_config = dict(connector_config)
        self.listener = listener
        self.sink = sink
        self.predecessor = predecessor
        self.stopping = threading.Event()
        self._paused = paused
        self._sent_paused = paused
        self.state = "UNASSIGNED"
        self.process: Any = None

    def stop(self) -> None:
        self.stopping.set()

    def set_paused(self, paused: bool) -> None:
        self._paused = paused

    @property
    def paused(self) -> bool:
        return self._paused

    def _report(self, state: str, trace: str | None) -> None:
        self.state = state
        try:
            self.listener(state, trace)
        except Exception:
            log.exception("status listener failed")

    def run(self) -> None:
        grace = float(self.ctx.config.get("task.shutdown.graceful.timeout.ms")) / 1000.0
        if self.predecessor is not None:
            self.predecessor.join(grace)
        if self.stopping.is_set():
            return
        mp = multiprocessing.get_context("spawn")
        parent, child = mp.Pipe()
        args = (
            self.ctx.log.url,
            dict(self.ctx.config.originals),
            self.ctx.worker_id,
            self.sink,
            self.connector,
            self.task_id,
            self.task_cls_name,
            self.task_config,
            self.connector_config,
            self._paused,
            child,
            self.ctx.fencing.group_id if self.ctx.fencing is not None else None,
        )
        self.process = mp.Process(target=_child_main, args=args, name=self.name, daemon=True)
        self.process.start()
        child.close()
        stop_sent_at: float | None = None
        try:
            while True:
                if self.stopping.is_set() and stop_sent_at is None:
                    _send(parent, ("stop",))
                    stop_sent_at = time.monotonic()
                if self._paused != self._sent_paused:
                    self._sent_paused = self._paused
                    _send(parent, ("pause",) if self._paused else ("resume",))
                try:
                    if parent.poll(0.05):
                        msg = parent.recv()
                        if msg[0] == "status":
                            self._report(msg[1], msg[2])
                except (EOFError, OSError):
                    break
                if not self.process.is_alive() and not parent.poll(0):
                    break
                if stop_sent_at is not None and time.monotonic() - stop_sent_at > grace:
                    log.warning("%s did not stop within %.1fs; terminating it", self.name, grace)
                    self.process.terminate()
                    break
        finally:
            self.process.join(grace)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5)
            parent.close()
        code = self.process.exitcode
        if code not in (0, None) and not self.stopping.is_set() and self.state != "FAILED":
            self._report("FAILED", f"the task process exited with code {code}")


def _send(conn: Any, msg: tuple[Any, ...]) -> None:
    try:
        conn.send(msg)
    except (OSError, EOFError, BrokenPipeError):
        pass


def _child_main(
    log_url: str,
    worker_props: dict[str, Any],
    worker_id: str,
    sink: bool,
    connector: str,
    task_id: int,
    task_cls_name: str,
    task_config: dict[str, str],
    connector_config: dict[str, Any],
    paused: bool,
    conn: Any,
    fencing_group: str | None = None,
) -> None:
    """Entry point of a task process: run the task loop, obey the parent's commands, report states."""
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s %(levelname)s [task {connector}-{task_id}] %(message)s"
    )
    config = WorkerConfig(worker_props)
    log_ = open_log(log_url)
    lock = threading.Lock()
    try:
        offsets = OffsetStore(log_, config.get("offset.storage.topic"), config.get("offset.storage.partitions"))
        offsets.start()
        status = StatusStore(log_, config.get("status.storage.topic"), config.get("status.storage.partitions"))
        status.start()
        ctx = WorkerContext(log_, config, offsets, status, worker_id)
        if fencing_group is not None:  # distributed mode: exactly-once source tasks fence their predecessors
            ctx.fencing = task_fencing_for(log_, fencing_group, worker_id)
        task_cls = _import_dotted(task_cls_name)
        if task_cls is None:
            with lock:
                _send(
                    conn,
                    ("status", "FAILED", f"cannot import task class {task_cls_name} in the task process"),
                )
            return

        def listener(state: str, trace: str | None) -> None:
            with lock:
                _send(conn, ("status", state, trace))

        kind = WorkerSinkTask if sink else WorkerSourceTask
        task: WorkerTask = kind(
            ctx, connector, task_id, task_cls, task_config, connector_config, listener, paused=paused
        )
        task.start()
        while task.is_alive():
            try:
                if conn.poll(0.1):
                    msg = conn.recv()
                    if msg[0] == "stop":
                        task.stop()
                    elif msg[0] == "pause":
                        task.set_paused(True)
                    elif msg[0] == "resume":
                        task.set_paused(False)
            except (EOFError, OSError):
                task.stop()  # the worker is gone
                task.join(float(config.get("task.shutdown.graceful.timeout.ms")) / 1000.0)
                break
        task.join()
    finally:
        log_.close()


__all__ = ["MODES", "ProcessTask"]
