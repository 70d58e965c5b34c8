"""A tiny REST API for the HTTP source example: a growing list of orders, served on 127.0.0.1:8765.

    python items_api.py [PORT]

``GET /orders?since=ID&limit=N`` answers ``{"data": {"orders": [...]}}``: the orders with ``id > ID``, oldest
first, at most ``N`` (default 100). A new order arrives every half second.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ORDERS: list[dict[str, Any]] = []
LOCK = threading.Lock()


def add_orders() -> None:
    while True:
        with LOCK:
            n = len(ORDERS) + 1
            ORDERS.append(
                {"id": n, "item": f"sku-{n % 7}", "qty": 1 + n % 3, "created_at": datetime.now(UTC).isoformat()}
            )
        time.sleep(0.5)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if url.path != "/orders":
            status, body = 404, {"error": f"no such path {url.path}"}
        else:
            since, limit = int(q.get("since") or 0), int(q.get("limit") or 100)
            with LOCK:
                orders = [o for o in ORDERS if o["id"] > since][:limit]
            status, body = 200, {"data": {"orders": orders}}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    threading.Thread(target=add_orders, daemon=True).start()
    print(f"serving orders on http://127.0.0.1:{port}/orders", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
