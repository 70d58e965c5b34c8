"""Starting worker processes: forked from a warm fork server, or spawned as fresh interpreters.

A fresh interpreter that imports the runtime takes about 0.25 s before it can run a subtask — a quarter of a
second added to every job start and to every restart after a failure. So the coordinator's process keeps one
**fork server** (``python -m millstream.runtime.parallel.forkserver``, started with the first parallel job and
ending with the process): a single-threaded interpreter that has imported the worker once and forks a worker for
each request in about 5 ms, as Flink keeps TaskManagers warm between jobs. Forking *the job's own process*
instead would be as fast but is unsafe there: it runs other threads (the metrics server, a job client) whose
locks a child would inherit held.

A forked worker gets, with each request, what a spawned one inherits: the coordinator's current standard
output and error (as file descriptors), environment and working directory. It runs
:func:`millstream.runtime.parallel.worker.main` and leaves with ``os._exit``. The fork server reaps its
children and reports their exit statuses, so :class:`ForkedWorker` answers ``poll``/``wait`` like
:class:`subprocess.Popen`.

``MILLSTREAM_WORKER_START=spawn`` starts every worker as a fresh interpreter (``python -m
millstream.runtime.parallel.worker``); so does a fork server that cannot start (logged once). A spawned worker
watches a pipe from the process that started it and ends when that process ends (:func:`watch_lifeline`), so
no worker, forked or spawned, outlives the process it was started for.
"""

from __future__ import annotations

import logging
import marshal
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)

START_ENV = "MILLSTREAM_WORKER_START"
LIFELINE_ENV = "MILLSTREAM_WORKER_LIFELINE"  #: a spawned worker's end of its starter's lifeline pipe
_MAX_MESSAGE = 1 << 20


class WorkerProcess(Protocol):
    """What the coordinator needs of a worker process (:class:`subprocess.Popen` has it)."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...


class ForkServer:
    """The coordinator's end of the fork server (see the module docstring). Thread-safe: jobs running side by
    side in one process share it."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "millstream.runtime.parallel.forkserver", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self.sock = ours
        self.lock = threading.Lock()
        self.exits: dict[int, int] = {}  # pid -> returncode (Popen's convention: -N for signal N)
        self.sock.settimeout(30)
        if self._receive() != ("ready",):
            raise OSError("the fork server did not start")

    def _receive(self) -> tuple[object, ...]:
        data = self.sock.recv(_MAX_MESSAGE)
        if not data:
            raise OSError("the fork server is gone")
        msg = marshal.loads(data)
        assert isinstance(msg, tuple)
        return msg

    def _drain(self) -> None:
        """Take the exit reports that have arrived (call with the lock held)."""
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    data = self.sock.recv(_MAX_MESSAGE)
                except (BlockingIOError, InterruptedError):
                    return
                if not data:
                    return
                msg = marshal.loads(data)
                if msg[0] == "exit":
                    self._exited(msg)
        finally:
            self.sock.settimeout(30)

    def _exited(self, msg: tuple[object, ...]) -> None:
        _kind, pid, code, cpu = msg
        self.exits[int(pid)] = int(code)  # type: ignore[call-overload]
        global _forked_cpu
        _forked_cpu += float(cpu)  # type: ignore[arg-type]

    def start(self, args: list[str], extra_env: dict[str, str] | None = None) -> ForkedWorker:
        """Fork a worker running ``worker.main(args)`` with this process's stdout/stderr, environment (plus
        ``extra_env``) and working directory."""
        request = marshal.dumps(("fork", args, {**os.environ, **(extra_env or {})}, os.getcwd()))
        fds, opened = _standard_fds()
        try:
            with self.lock:
                socket.send_fds(self.sock, [request], fds)
                return self._await_fork()
        finally:
            for fd in opened:
                os.close(fd)

    def _await_fork(self) -> ForkedWorker:
        while True:
            msg = self._receive()
            if msg[0] == "exit":
                self._exited(msg)
            elif msg[0] == "forked":
                pid = int(msg[1])  # type: ignore[call-overload]
                # a pid is reused once its process is reaped: an earlier worker's exit with this pid (reported
                # before this fork, on the same socket) is not this worker's
                self.exits.pop(pid, None)
                return ForkedWorker(self, pid)
            else:
                raise OSError(f"the fork server could not start a worker: {msg[1]}")

    def returncode(self, pid: int) -> int | None:
        with self.lock:
            self._drain()
            return self.exits.get(pid)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class ForkedWorker:
    """A worker forked by the :class:`ForkServer`, with :class:`subprocess.Popen`'s ``poll``/``wait``/``kill``."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.returncode(self.pid)
            if self.returncode is None and not self.server.alive:  # the server died: so did its report
                self.returncode = -signal.SIGKILL if not _exists(self.pid) else None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _standard_fds() -> tuple[list[int], list[int]]:
    """This process's file descriptors 1 and 2 (what a spawned worker would inherit; ``/dev/null`` for a closed
    one), and those opened here (to close once sent)."""
    fds, opened = [], []
    for fd in (1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            null = os.open(os.devnull, os.O_WRONLY)
            fds.append(null)
            opened.append(null)
    return fds, opened


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_forked_cpu = 0.0  # CPU seconds of the forked workers that have ended and been reported
_server: ForkServer | None = None
_server_lock = threading.Lock()
_server_failed = False


def _fork_server() -> ForkServer | None:
    """The process's fork server, started on first use (``None``: spawn workers instead)."""
    global _server, _server_failed
    with _server_lock:
        if _server is not None and not _server.alive:
            _server.sock.close()
            _server = None
        if _server is None and not _server_failed:
            try:
                _server = ForkServer()
            except Exception as exc:  # not fatal: workers start as fresh interpreters
                _server_failed = True
                log.warning("the worker fork server did not start (%s); workers start as fresh interpreters", exc)
        return _server


def _forget_server_in_child() -> None:
    """A fork of this process (``multiprocessing``, a user's ``os.fork``) must not talk over the parent's socket:
    it starts a fork server of its own if it runs a parallel job."""
    global _server, _server_lock
    _server = None
    _server_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_server_in_child)


def forked_cpu_seconds() -> float:
    """CPU seconds (user + system) of the forked workers that have ended — what ``RUSAGE_CHILDREN`` tells of
    spawned ones (a forked worker is the fork server's child, not this process's)."""
    server = _server
    if server is not None:
        with server.lock:
            server._drain()
    return _forked_cpu


def prewarm() -> None:
    """Start this process's fork server in the background (no-op when workers are spawned or it runs already),
    so that the first worker forks in milliseconds instead of waiting for a fresh interpreter to import the
    runtime — what an instance of a reactive job does when it joins, while the group settles."""
    if os.environ.get(START_ENV, "").lower() == "spawn" or _server is not None:
        return
    threading.Thread(target=_fork_server, name="millstream-fork-server-start", daemon=True).start()


def start_worker(
    coordinator: str, index: int, count: int, listen: str, extra_env: dict[str, str] | None = None
) -> WorkerProcess:
    """Start worker ``index`` of ``count`` that connects to the coordinator at ``coordinator`` and listens for
    its peers on ``listen`` (:mod:`.worker`'s arguments), with ``extra_env`` added to its environment: forked by
    the fork server, or spawned when ``MILLSTREAM_WORKER_START=spawn`` or the fork server cannot run."""
    args = [coordinator, str(index), str(count), listen]
    if os.environ.get(START_ENV, "").lower() != "spawn":
        server = _fork_server()
        if server is not None:
            try:
                return server.start(args, extra_env)
            except OSError as exc:
                log.warning("the worker fork server failed (%s); starting a fresh interpreter", exc)
    lifeline = _lifeline()
    return subprocess.Popen(
        [sys.executable, "-m", "millstream.runtime.parallel.worker", *args],
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(extra_env or {}), LIFELINE_ENV: str(lifeline)},
        pass_fds=(lifeline,),
    )


_lifeline_fds: tuple[int, int] | None = None


def _lifeline() -> int:
    """The read end of this process's lifeline pipe, which every spawned worker inherits: the write end stays
    open (and unwritten) while this process lives, so a worker reads end-of-file when it dies, even by kill -9,
    and then ends itself (:func:`watch_lifeline`) — what the fork server does for forked workers."""
    global _lifeline_fds
    with _server_lock:
        if _lifeline_fds is None:
            _lifeline_fds = os.pipe()
        return _lifeline_fds[0]


def watch_lifeline() -> None:
    """(In a spawned worker.) Kill this process when the process that started it ends (see :func:`_lifeline`)."""
    raw = os.environ.pop(LIFELINE_ENV, "")
    if not raw:
        return
    fd = int(raw)

    def watch() -> None:
        try:
            while os.read(fd, 1):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="millstream-lifeline", daemon=True).start()


__all__ = ["START_ENV", "ForkServer", "ForkedWorker", "WorkerProcess", "forked_cpu_seconds", "prewarm", "start_worker"]
