"""HTTP sink throughput: the pooled keep-alive client against the previous one-connection-per-request client.

    PYTHONPATH=src python benchmarks/http_sink_bench.py [RECORDS] [BATCH ...]

Starts a local HTTP/1.1 keep-alive server on 127.0.0.1 (stdlib ``ThreadingHTTPServer``, answers 200 to every
POST after reading the body) and runs ``HttpSinkTask.put`` over RECORDS (default 5,000) schemaless values
``{"id", "name", "v"}`` with each ``batch.max.size`` given (default 1 and 100), twice:

- ``before``: the sink as it was — every request sent with ``urllib.request.urlopen`` on a new TCP connection
  (the previous ``HttpSender._request_once``, kept here verbatim as a subclass);
- ``after``: the sink as it is — requests over the task's urllib3 keep-alive pool.

Prints records/s and requests/s of each, the TCP connections the server accepted, and after/before.
"""

from __future__ import annotations

import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from millstream.connect.connectors.http.client import HttpSender, Response
from millstream.connect.connectors.http.sink import HttpSinkTask
from millstream.connect.data import SinkRecord

ACCEPTED = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY, as real servers (uvicorn, nginx) set it

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self) -> Any:
        ACCEPTED[0] += 1
        return super().get_request()


class UrllibSender(HttpSender):
    """The sender before the pool: one ``urlopen`` (one TCP connection) per request."""

    def _request_once(self, body: Any, content_type: Any, url: str, headers: Any) -> Response:
        all_headers = {"Content-Type": content_type, **self.headers}
        req = urllib.request.Request(url, data=body, method=self.method, headers=all_headers)
        timeout = max(self.connect_timeout_ms, self.request_timeout_ms) / 1000
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Response(resp.status, resp.read(), dict(resp.headers.items()))
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.read() or b"", dict(exc.headers.items()) if exc.headers else {})


class UrllibSinkTask(HttpSinkTask):
    def _sender(self, url: str) -> HttpSender:
        sender = self.senders.get(url)
        if sender is None:
            sender = self.senders[url] = UrllibSender(url, **self._sender_args)
        return sender


def run(task_cls: type[HttpSinkTask], url: str, records: list[SinkRecord], batch: int) -> tuple[float, int, int]:
    task = task_cls()
    task.start({"http.api.url": url, "batch.max.size": str(batch), "max.retries": "0"})
    before = ACCEPTED[0]
    start = time.perf_counter()
    for i in range(0, len(records), 500):  # put() batches as the worker hands them over
        task.put(records[i : i + 500])
    elapsed = time.perf_counter() - start
    task.stop()
    return elapsed, task.requests_sent, ACCEPTED[0] - before


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    batches = [int(b) for b in sys.argv[2:]] or [1, 100]
    httpd = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/ingest"
    value = {"id": 0, "name": "row", "v": 0}
    records = [SinkRecord("bench", 0, None, None, None, {**value, "id": i}, None, kafka_offset=i) for i in range(n)]
    print(f"HTTP sink, {n} records to {url}")
    for batch in batches:
        results = {}
        for label, cls in (
            ("before (urllib, new connection per request)", UrllibSinkTask),
            ("after (urllib3 pool)", HttpSinkTask),
        ):
            run(cls, url, records[: min(n, 200)], batch)  # warm-up
            elapsed, requests, accepted = run(cls, url, records, batch)
            results[label] = n / elapsed
            print(
                f"  batch.max.size={batch:<4} {label:<45} {n / elapsed:>10,.0f} records/s "
                f"{requests / elapsed:>8,.0f} requests/s  {accepted:>5} TCP connections for {requests} requests"
            )
        before, after = results.values()
        print(f"  batch.max.size={batch:<4} after/before: {after / before:.2f}x")
    httpd.shutdown()


if __name__ == "__main__":
    main()
