"""Frames over stream sockets between the processes of a parallel job (worker ↔ worker, worker ↔ coordinator).

Why this transport: records cross a process boundary only at exchanges, in batches (one frame per peer per
round of the worker loop, holding every channel's sub-batch for that peer), over Unix domain sockets. A
frame is ``[u32 length][u8 codec][payload]``; the payload is encoded with :mod:`marshal` when every value is of
a built-in type (JSON-like records: about 25% cheaper than pickle to write and read) and with :mod:`pickle`
(protocol 5) otherwise — marshal refuses anything it cannot represent exactly (subclasses included), so no
value ever changes type on the way. Both ends run the same interpreter, which marshal needs.

Addresses are ``unix:PATH`` (the workers of one machine: sockets in the job's private temporary directory) or
``tcp:HOST:PORT`` (a job spread over several instances, :mod:`millstream.runtime.scaleout`). A TCP connection
is opened with the job's secret token (:func:`connect` sends it, :func:`accept` checks it before anything
else is read), because frames may carry pickles: a process that does not know the token is never read from.

:class:`Connection` never blocks on sending: frames queue in memory and :meth:`Connection.flush` writes what
the socket takes (the worker loop watches :attr:`Connection.pending` for back pressure). Receiving reads what
is there and returns whole frames. A peer that closes its end makes :meth:`Connection.receive` raise
:class:`PeerClosed`.
"""

from __future__ import annotations

import hmac
import marshal
import pickle
import socket
import struct
import time
from collections import deque
from typing import Any

from ...core.io_wait import wait_io

_HEADER = struct.Struct(">IB")
#: a worker's exit status when it left because the coordinator or a peer closed its connection (a consequence of
#: another failure, not its cause)
PEER_GONE_EXIT = 3
MARSHAL, PICKLE = 0, 1
READ_CHUNK = 1 << 20


class PeerClosed(ConnectionError):
    """The other end of a connection closed it (its process ended or died)."""


TOKEN_BYTES = 32


class Address:
    """Parsing and opening the two kinds of addresses (see the module docstring)."""

    @staticmethod
    def listen(spec: str, backlog: int = 64) -> tuple[socket.socket, str]:
        """A listening socket for ``spec`` — ``unix:PATH``, ``tcp:HOST`` (any free port) or ``tcp:HOST:PORT`` —
        and the address peers connect to."""
        kind, _, rest = spec.partition(":")
        if kind == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(rest)
            s.listen(backlog)
            return s, spec
        if kind != "tcp":
            raise ValueError(f"not an address: {spec!r} (unix:PATH or tcp:HOST[:PORT])")
        host, _, port = rest.rpartition(":") if rest.count(":") == 1 else (rest, "", "0")
        s = socket.create_server((host, int(port or 0)), backlog=backlog)
        return s, f"tcp:{host}:{s.getsockname()[1]}"

    @staticmethod
    def connect(address: str, token: bytes = b"", timeout: float = 30.0) -> socket.socket:
        """A connected socket to ``address`` (a TCP one has sent ``token`` first)."""
        kind, _, rest = address.partition(":")
        if kind == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(rest)
            return s
        host, _, port = rest.rpartition(":")
        s = socket.create_connection((host, int(port)), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(token.ljust(TOKEN_BYTES, b"\0")[:TOKEN_BYTES])
        return s


def accept(listener: socket.socket, token: bytes, timeout: float = 10.0) -> socket.socket | None:
    """Accept one connection; on a TCP listener, ``None`` (and the connection closed) unless it opens with
    ``token``."""
    s, _addr = listener.accept()
    s.settimeout(timeout)
    if s.family == socket.AF_UNIX:
        return s
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        got = recv_exact(s, TOKEN_BYTES)
    except (OSError, PeerClosed):
        s.close()
        return None
    if not hmac.compare_digest(got, token.ljust(TOKEN_BYTES, b"\0")[:TOKEN_BYTES]):
        s.close()
        return None
    return s


def recv_exact(s: socket.socket, n: int, timeout: float | None = None) -> bytes:
    """Exactly ``n`` bytes from a blocking socket (:class:`PeerClosed` when it closes first)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    buf = b""
    while len(buf) < n:
        if deadline is not None:
            s.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise PeerClosed("peer closed during the handshake")
        buf += chunk
    return buf


def encode(obj: Any) -> bytes:
    """One frame for ``obj`` (marshal when it can, else pickle)."""
    try:
        payload = marshal.dumps(obj)
        codec = MARSHAL
    except ValueError:
        payload = pickle.dumps(obj, protocol=5)
        codec = PICKLE
    return _HEADER.pack(len(payload), codec) + payload


def decode(codec: int, payload: memoryview) -> Any:
    return marshal.loads(payload) if codec == MARSHAL else pickle.loads(payload)


class Connection:
    """A framed, non-blocking-on-send connection over a connected stream socket."""

    def __init__(self, sock: socket.socket, name: str = "peer") -> None:
        self.sock = sock
        self.name = name
        sock.setblocking(False)
        self._out: deque[memoryview] = deque()
        self.pending = 0  # bytes queued and not yet written
        self._in = bytearray()
        self._backlog: deque[Any] = deque()
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    # -- sending --------------------------------------------------------------------------------------
    def send(self, obj: Any) -> None:
        """Queue ``obj`` as a frame and write what the socket takes now."""
        self.send_frame(encode(obj))

    def send_frame(self, frame: bytes) -> None:
        self._out.append(memoryview(frame))
        self.pending += len(frame)
        self.flush()

    def flush(self) -> bool:
        """Write queued frames until the socket would block; ``True`` when nothing is left queued."""
        out = self._out
        while out:
            view = out[0]
            try:
                n = self.sock.send(view)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as exc:
                raise PeerClosed(f"{self.name}: {exc}") from exc
            self.pending -= n
            if n == len(view):
                out.popleft()
            else:
                out[0] = view[n:]
        return True

    def flush_blocking(self, timeout: float = 30.0) -> None:
        """Write every queued frame, waiting up to ``timeout`` s for the socket to take them."""
        import time

        deadline = time.monotonic() + timeout
        while not self.flush():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: could not send {self.pending} bytes within {timeout} s")
            wait_io([], [self.sock], min(left, 0.5))

    # -- receiving ------------------------------------------------------------------------------------
    def receive(self) -> list[Any]:
        """The frames that have fully arrived (possibly none); raises :class:`PeerClosed` at end of stream."""
        if self._backlog:
            frames_ready = list(self._backlog)
            self._backlog.clear()
            return frames_ready
        buf = self._in
        while True:
            try:
                chunk = self.sock.recv(READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                raise PeerClosed(f"{self.name}: {exc}") from exc
            if not chunk:
                self.closed = True
                break
            buf += chunk
            if len(chunk) < READ_CHUNK:
                break
        frames: list[Any] = []
        pos, end = 0, len(buf)
        view = memoryview(buf)
        try:
            while end - pos >= _HEADER.size:
                size, codec = _HEADER.unpack_from(buf, pos)
                start = pos + _HEADER.size
                if end - start < size:
                    break
                frames.append(decode(codec, view[start : start + size]))
                pos = start + size
        finally:
            view.release()
        if pos:
            del buf[:pos]
        if self.closed and not frames:
            raise PeerClosed(f"{self.name} closed the connection")
        return frames

    def receive_blocking(self, timeout: float) -> Any:
        """Wait up to ``timeout`` s for one frame and return it (``TimeoutError`` when none came); frames that
        arrived with it are kept for the next calls."""
        import time

        deadline = time.monotonic() + timeout
        while not self._backlog:
            self._backlog.extend(self.receive())
            if self._backlog:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no message within {timeout} s")
            wait_io([self.sock], (), min(left, 0.5))
        return self._backlog.popleft()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


__all__ = [
    "MARSHAL",
    "PEER_GONE_EXIT",
    "PICKLE",
    "TOKEN_BYTES",
    "Address",
    "Connection",
    "PeerClosed",
    "accept",
    "decode",
    "encode",
    "recv_exact",
]
