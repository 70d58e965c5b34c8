"""Worker slots across instances: a :class:`SlotServer` on every instance of a reactive job starts workers for
the job's leader; the leader's :class:`SlotClient` asks for them and watches them as :class:`RemoteWorker`.

The protocol, frames over one TCP connection (:mod:`millstream.runtime.parallel.transport`, opened with the
job's token):

- leader → server ``("start", coordinator, index, count)``: start worker ``index`` of ``count`` (forked by the
  instance's fork server, as a local parallel job's workers are), to connect to the coordinator's address;
  server → leader ``("started", index, pid)`` or ``("error", index, text)``;
- leader → server ``("signal", index, signal)``;
- server → leader ``("exit", index, returncode)`` when a worker ends;
- server → leader ``("leaving",)`` when the instance leaves the job (Ctrl-C): the leader moves the workers away
  at a checkpoint, and the server starts no new ones (a ``start`` is answered with ``error``).

A server serves one leader at a time: a new leader's connection (a new term) kills the workers an earlier
connection started, and so does the end of a connection — workers never outlive the leader that placed them
(they also leave by themselves when their coordinator's connection closes).

When the leader's connection ends (an attempt ended, or the leader's process died), the server calls
``on_leader_closed``; :func:`slot_server_gone` tells the two apart from the leader's own slot server: a
process that died (kill -9, a crash) no longer listens, so connecting to it is refused at once. (Followers
also ask it at every heartbeat; such a probe connection, which sends no token, is closed and ignored.)
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable

from ...core.io_wait import wait_io
from ..parallel.launcher import WorkerProcess, start_worker
from ..parallel.transport import Address, Connection, PeerClosed, accept
from ..parallel.worker import TOKEN_ENV

log = logging.getLogger("millstream.runtime.scaleout")


class SlotServer:
    """This instance's worker slots, offered on a TCP port of ``bind_host`` (see the module docstring)."""

    def __init__(self, bind_host: str, token: bytes) -> None:
        self.bind_host = bind_host
        self.token = token
        self.listener, self.address = Address.listen(f"tcp:{bind_host}")
        self.listener.settimeout(0.2)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._serving = 0  # the connection whose workers may live (older ones' are killed)
        self._workers: dict[int, list[WorkerProcess]] = {}  # connection number -> its workers
        self._draining = False  # the instance leaves: start no more workers
        self._thread = threading.Thread(target=self._accept_loop, name="slot-server", daemon=True)
        #: called (in the server's thread) when the serving leader's connection ends from the leader's side
        self.on_leader_closed: Callable[[], None] | None = None

    def start(self) -> SlotServer:
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        number = 0
        while not self._closed.is_set():
            try:
                s = accept(self.listener, self.token)
            except (TimeoutError, OSError):
                continue
            if s is None:
                continue
            number += 1
            with self._lock:
                self._serving = number
                for old in list(self._workers):
                    self._kill(old)
            threading.Thread(target=self._serve, args=(s, number), name=f"slot-leader-{number}", daemon=True).start()

    def _serve(self, s: socket.socket, number: int) -> None:
        conn = Connection(s, "leader")
        mine: dict[int, WorkerProcess] = {}
        reported: set[int] = set()
        told_leaving = False
        try:
            while not self._closed.is_set() and self._serving == number:
                wait_io([s], (), 0.05)
                if self._draining and not told_leaving:
                    told_leaving = True
                    conn.send(("leaving",))
                for msg in conn.receive():
                    if msg[0] == "start":
                        _kind, coordinator, index, count = msg
                        if self._draining:
                            conn.send(("error", index, "the instance is leaving the job"))
                            continue
                        try:
                            proc = start_worker(
                                coordinator, index, count, f"tcp:{self.bind_host}", {TOKEN_ENV: self.token.hex()}
                            )
                        except Exception as exc:
                            conn.send(("error", index, f"{type(exc).__name__}: {exc}"))
                            continue
                        mine[index] = proc
                        with self._lock:
                            self._workers.setdefault(number, []).append(proc)
                        conn.send(("started", index, proc.pid))
                    elif msg[0] == "signal" and msg[1] in mine:
                        mine[msg[1]].send_signal(msg[2])
                for index, proc in mine.items():
                    if index not in reported and (code := proc.poll()) is not None:
                        reported.add(index)
                        conn.send(("exit", index, code))
        except (PeerClosed, OSError):
            closed = self.on_leader_closed if self._serving == number and not self._closed.is_set() else None
            if closed is not None:  # (the attempt ended, or the leader is gone: the callback tells which)
                try:
                    closed()
                except Exception as exc:
                    log.warning("slot server: handling the leader's closed connection failed: %s", exc)
        finally:
            conn.close()
            with self._lock:
                self._kill(number)

    def _kill(self, number: int) -> None:
        """End the workers connection ``number`` started (call with the lock held)."""
        for proc in self._workers.pop(number, []):
            if proc.poll() is None:
                proc.kill()

    def drain(self) -> None:
        """Start no more workers (the instance is leaving) and tell the serving leader (``("leaving",)``), which
        moves the workers running here at a checkpoint; they go on until then. A leader's ``start`` is answered
        with an error, so it places the job without this instance."""
        self._draining = True

    def busy(self) -> bool:
        """Whether a worker this server started still runs."""
        with self._lock:
            return any(p.poll() is None for procs in self._workers.values() for p in procs)

    def close(self) -> None:
        self._closed.set()
        self.listener.close()
        with self._lock:
            for number in list(self._workers):
                self._kill(number)


def slot_server_gone(address: str, timeout: float = 0.5) -> bool:
    """Whether the slot server at ``address`` (``tcp:HOST:PORT``) is gone: connecting to it is refused — its
    process died (or closed the server), so the kernel of its host answers for it. ``False`` when it accepts the
    connection (it lives: the connection is closed again without the token, which the server ignores) or does
    not answer within ``timeout`` (a host cut off or down: nothing is known)."""
    kind, _, rest = address.partition(":")
    host, _, port = rest.rpartition(":")
    if kind != "tcp" or not port.isdigit():
        return False
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


class SlotClient:
    """The leader's connection to one instance's :class:`SlotServer`."""

    def __init__(self, instance: str, address: str, token: bytes, timeout: float = 5.0) -> None:
        self.instance = instance
        self.conn = Connection(Address.connect(address, token, timeout), f"instance {instance}")
        self.exits: dict[int, int] = {}
        self.started: dict[int, int] = {}
        self.lost = False
        self.leaving = False  # the instance said it leaves the job

    def start(self, coordinator: str, index: int, count: int, timeout: float = 30.0) -> RemoteWorker:
        self.conn.send(("start", coordinator, index, count))
        deadline = time.monotonic() + timeout
        while index not in self.started:
            if self.lost or time.monotonic() > deadline:
                raise OSError(f"instance {self.instance} did not start worker {index}")
            self.pump(0.05)
        return RemoteWorker(self, index, self.started[index])

    def pump(self, wait: float = 0.0) -> None:
        """Read what the server sent (start confirmations, exits)."""
        if self.lost:
            return
        if wait:
            wait_io([self.conn.sock], (), wait)
        try:
            frames = self.conn.receive()
        except PeerClosed:
            self.lost = True
            return
        for msg in frames:
            if msg[0] == "started":
                self.started[int(msg[1])] = int(msg[2])
            elif msg[0] == "exit":
                self.exits[int(msg[1])] = int(msg[2])
            elif msg[0] == "leaving":
                self.leaving = True
            elif msg[0] == "error":
                raise OSError(f"instance {self.instance} could not start worker {msg[1]}: {msg[2]}")

    def signal(self, index: int, sig: int) -> None:
        try:
            self.conn.send(("signal", index, sig))
        except (PeerClosed, OSError):
            self.lost = True

    def close(self) -> None:
        self.conn.close()


class RemoteWorker:
    """A worker on another instance, with :class:`subprocess.Popen`'s ``poll``/``wait``/``kill``; a lost
    instance counts as its workers killed (``-SIGKILL``)."""

    def __init__(self, client: SlotClient, index: int, pid: int) -> None:
        self.client = client
        self.index = index
        self.pid = pid

    def poll(self) -> int | None:
        self.client.pump()
        if self.index in self.client.exits:
            return self.client.exits[self.index]
        return -signal.SIGKILL if self.client.lost else None

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"worker {self.index} on {self.client.instance}", timeout or 0.0)
            self.client.pump(0.02)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            self.client.signal(self.index, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


__all__ = ["RemoteWorker", "SlotClient", "SlotServer", "slot_server_gone"]
