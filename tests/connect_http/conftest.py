"""A real local HTTP server (stdlib ``http.server`` on a free port) that answers from a script of statuses."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class ScriptedServer:
    """Answers requests with the next status of ``script`` (then 200); records every request."""

    url: str
    script: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.headers.get("x-status") == "200"]


@pytest.fixture
def http_server() -> Iterator[ScriptedServer]:
    state: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            srv: ScriptedServer = state["server"]
            with srv.lock:
                step = srv.script.pop(0) if srv.script else 200
                status, extra = step if isinstance(step, tuple) else (step, {})
                headers = {k.lower(): v for k, v in self.headers.items()}
                headers["x-status"] = str(status)
                srv.requests.append(Received(self.command, self.path, headers, body, time.monotonic()))
            payload = b'{"ok": true}' if status < 400 else b'{"error": "scripted failure"}'
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_PUT = do_PATCH = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["server"] = ScriptedServer(f"http://127.0.0.1:{httpd.server_address[1]}/ingest")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
