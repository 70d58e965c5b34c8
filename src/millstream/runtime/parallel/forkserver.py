"""The fork server of a coordinator's process: ``python -m millstream.runtime.parallel.forkserver FD``.

Imports the worker once, says ``("ready",)`` on the socket ``FD`` (a ``SOCK_SEQPACKET`` pair with the
coordinator's process, :class:`~millstream.runtime.parallel.launcher.ForkServer`), then serves until that
socket closes (the coordinator's process ended):

- ``("fork", args, environ, cwd)`` with two file descriptors (the coordinator's stdout and stderr): fork a
  child that takes them as its own stdout and stderr, the environment and the working directory, runs
  ``worker.main(args)`` and leaves with ``os._exit``; answer ``("forked", pid)`` (or ``("error", text)``);
- every child that ends is reaped and reported as ``("exit", pid, returncode, cpu_seconds)`` (``-N`` for
  signal ``N``).

When the coordinator's process ends, its children that still run are killed (SIGKILL) and the server exits:
workers never outlive the process they were started for (a worker whose coordinator runs in another process,
as the workers a reactive job's leader places on another instance, would not notice that instance's death).

It stays single-threaded and opens nothing but that socket, so forking it is safe. SIGINT is ignored (Ctrl-C
in a terminal reaches the whole process group; the coordinator decides).
"""

from __future__ import annotations

import marshal
import os
import signal
import socket
import sys

import cloudpickle  # noqa: F401 - preloaded for the workers

from ...core.io_wait import wait_io
from . import worker

_MAX_MESSAGE = 1 << 20


def _child(
    sock: socket.socket, wake: tuple[int, int], fds: list[int], args: list[str], env: dict[str, str], cwd: str
) -> None:
    code = 1
    try:
        sock.close()
        signal.set_wakeup_fd(-1)
        for fd in wake:
            os.close(fd)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        code = worker.main(args)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


_children: set[int] = set()  # forked and not reaped yet


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _children.discard(pid)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        try:
            sock.send(marshal.dumps(("exit", pid, code, usage.ru_utime + usage.ru_stime)))
        except OSError:
            return


def _kill_children() -> None:
    for pid in _children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def serve(fd: int) -> int:
    """Fork workers for the coordinator at the other end of socket ``fd`` until that end closes; then kill the
    workers still running and return. A coordinator that ends before it reads a reply (an instance that stops
    while the fork server is still starting) ends the server the same way, quietly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    try:
        return _serve(sock)
    except OSError:  # the coordinator's end closed under a send
        _kill_children()
        return 0


def _serve(sock: socket.socket) -> int:
    rd, wr = os.pipe()
    os.set_blocking(wr, False)
    signal.set_wakeup_fd(wr)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the select through the wakeup fd
    sock.send(marshal.dumps(("ready",)))
    while True:
        ready, _ = wait_io([sock.fileno(), rd])
        if rd in ready:
            os.read(rd, 4096)
        _reap(sock)
        if sock.fileno() not in ready:
            continue
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, _MAX_MESSAGE, 2)
        except OSError:
            data = b""
        if not data:  # the coordinator's process ended: so do its workers
            _kill_children()
            return 0
        try:
            kind, args, env, cwd = marshal.loads(data)
            assert kind == "fork" and len(fds) == 2
            pid = os.fork()
        except Exception as exc:
            for f in fds:
                os.close(f)
            sock.send(marshal.dumps(("error", f"{type(exc).__name__}: {exc}")))
            continue
        if pid == 0:
            _child(sock, (rd, wr), fds, args, env, cwd)
        _children.add(pid)
        for f in fds:
            os.close(f)
        sock.send(marshal.dumps(("forked", pid)))


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1])))
