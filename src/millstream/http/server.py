""":class:`HttpServer`: an ASGI application served by uvicorn (h11) from a background thread.

The socket is bound and listening (with :attr:`ServerLimits.backlog`) when the constructor returns, so the
port is known (port 0 picks a free one) and a taken port fails at once with :class:`OSError`. :meth:`start`
serves on a thread with its own event loop; :meth:`stop` closes the listener, lets requests in flight finish
(up to a few seconds) and joins the thread.

Timeouts: a connection that has not sent a complete request head within ``read_timeout_s`` of connecting (or
of its previous answer) is closed — uvicorn itself only times out idle keep-alive connections
(``idle_timeout_s``), so a slow or stalled head would otherwise hold a connection forever; bodies are timed by
:mod:`millstream.http.app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .limits import ServerLimits
from .tls import TlsConfig

log = logging.getLogger("millstream.http")


def _head_timeout_protocol(read_timeout_s: float) -> type[H11Protocol]:
    class HeadTimeoutH11Protocol(H11Protocol):
        """uvicorn's h11 protocol, closing connections whose request head is late."""

        _head_deadline: asyncio.TimerHandle | None = None
        _armed_cycle: Any = None

        def _arm(self) -> None:
            self._disarm()
            self._armed_cycle = self.cycle
            self._head_deadline = self.loop.call_later(read_timeout_s, self._head_timed_out)

        def _disarm(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _head_timed_out(self) -> None:
            self._head_deadline = None
            if self.cycle is self._armed_cycle and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._head_deadline is not None and self.cycle is not self._armed_cycle:
                self._disarm()  # a new request's head is complete

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeadTimeoutH11Protocol


class _PromptServer(uvicorn.Server):
    """uvicorn's server, whose main loop also wakes when it is told to exit (uvicorn's looks at ``should_exit``
    every 0.1 s, so each stop waited for that tick)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def exit_soon(self) -> None:
        """Ask the server to exit (from any thread); its main loop wakes at once."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed already
                loop.call_soon_threadsafe(wake.set)


class HttpServer:
    """Serves the ASGI ``app`` on ``host:port`` (``tls``: HTTPS) within ``limits``. Raises :class:`OSError`
    when the address cannot be bound (``errno.EADDRINUSE`` for a taken port)."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: ServerLimits | None = None,
        tls: TlsConfig | None = None,
        name: str = "http",
    ) -> None:
        self.limits = limits or ServerLimits()
        self.host = host
        self.name = name
        self.tls = tls
        ssl_context = tls.context() if tls is not None else None
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # accepted sockets inherit it: uvicorn writes a response's head and body separately, and with
            # Nagle's algorithm the body waits for the client's delayed ACK (~40 ms a request)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((host, port))
            sock.listen(self.limits.backlog)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.socket = sock
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            app,
            http=_head_timeout_protocol(self.limits.read_timeout_s),
            interface="asgi3",
            lifespan="off",
            proxy_headers=False,
            log_config=None,
            access_log=False,
            backlog=self.limits.backlog,
            timeout_keep_alive=max(1, round(self.limits.idle_timeout_s)),
            limit_concurrency=self.limits.max_connections,
            timeout_graceful_shutdown=3,
            h11_max_incomplete_event_size=64 * 1024,
            server_header=False,
        )
        config.load()
        config.ssl = ssl_context
        self._server = _PromptServer(config)
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        """``https`` with TLS, else ``http``."""
        return "https" if self.tls is not None else "http"

    @property
    def url(self) -> str:
        """``scheme://host:port`` to reach the server (a wildcard bind address is reached on loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}"

    def start(self) -> None:
        """Serve from a daemon thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self._run, name=f"millstream-{self.name}", daemon=True)
        self._thread.start()
        for _ in range(500):
            if self._server.started or not self._thread.is_alive():
                break
            self._thread.join(0.01)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._server.serve(sockets=[self.socket]))
        except Exception:
            log.exception("the %s server stopped on an error", self.name)
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        self._server.exit_soon()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.socket.close()


__all__ = ["HttpServer"]
