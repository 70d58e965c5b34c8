"""A real local REST server (stdlib ``http.server``, HTTP/1.1 keep-alive, 127.0.0.1, free port) serving a paged,
growing dataset, for the HTTP source tests; it counts the TCP connections it accepts.

Endpoints:

- ``GET /items?since=ID&limit=N`` → ``{"data": {"items": [...]}, "count": n}``: items with ``id > since``
  (``since`` inclusive when ``inclusive=1``), at most ``limit``, ascending (descending with ``order=desc``);
- ``GET /feed?cursor=C`` → ``{"items": [...], "next": C2 | null}``: pages of ``page_size`` items by position;
  ``next`` is null on the last (possibly partial) page; ``/feed?link=1`` gives ``next`` as a full URL;
- ``GET /html`` → an HTML page (not JSON).

``fail`` is a list of statuses answered (in order) before the normal answers.
"""

from __future__ import annotations

import json
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def item(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"item-{i}", "updated_at": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z"}


@dataclass
class Dataset:
    base: str
    items: list[dict[str, Any]] = field(default_factory=list)
    fail: list[int] = field(default_factory=list)
    page_size: int = 5
    paths: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    accepted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def grow(self, n: int) -> None:
        with self.lock:
            start = len(self.items) + 1
            self.items.extend(item(i) for i in range(start, start + n))

    def answer(self, path: str) -> tuple[int, str, bytes]:
        url = urllib.parse.urlsplit(path)
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        with self.lock:
            self.paths.append(path)
            if self.fail:
                status = self.fail.pop(0)
                self.statuses.append(status)
                return status, "application/json", b'{"error": "scripted failure"}'
            self.statuses.append(200)
            items = list(self.items)
        if url.path == "/items":
            since = int(q.get("since") or 0)
            limit = int(q.get("limit") or 1000)
            inclusive = q.get("inclusive") == "1"
            # an element without an id (a bad record) counts with its position
            ids = [x.get("id", pos + 1) for pos, x in enumerate(items)]
            page = [x for x, n in zip(items, ids, strict=True) if n > since or (inclusive and n == since)][:limit]
            if q.get("order") == "desc":
                page.reverse()
            return 200, "application/json", json.dumps({"data": {"items": page}, "count": len(page)}).encode()
        if url.path == "/feed":
            pos = int(q.get("cursor") or 0)
            page = items[pos : pos + self.page_size]
            nxt: Any = None
            if pos + self.page_size < len(items):
                nxt = str(pos + self.page_size)
                if q.get("link") == "1":
                    nxt = f"{self.base}/feed?link=1&cursor={nxt}"
            return 200, "application/json", json.dumps({"items": page, "next": nxt}).encode()
        if url.path == "/html":
            return 200, "text/html", b"<html><body>maintenance</body></html>"
        return 404, "application/json", b'{"error": "no such path"}'


def serve(idle_timeout: float | None = None, keystore: str | None = None) -> Iterator[Dataset]:
    """Run the server; with ``idle_timeout`` it closes a kept-alive connection idle for that many seconds; with
    ``keystore`` (a PEM file with key and certificate) it speaks HTTPS."""
    state: dict[str, Dataset] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive
        disable_nagle_algorithm = True  # TCP_NODELAY: headers and body are separate writes
        timeout = idle_timeout

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, ctype, payload = state["ds"].answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> Any:
            conn = super().get_request()
            with state["ds"].lock:
                state["ds"].accepted += 1
            return conn

    httpd = Server(("127.0.0.1", 0), Handler)
    scheme = "http"
    if keystore:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(keystore)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"
    state["ds"] = Dataset(f"{scheme}://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["ds"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
