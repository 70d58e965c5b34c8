"""The HTTP sink against a real local HTTP server: batching, headers, basic auth, retries with backoff, and
non-retriable statuses routed to the dead-letter topic."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from millstream.core.record import ProducerRecord

from .helpers import wait_until


class Endpoint:
    """A tiny HTTP service that records requests; ``fail_next`` answers 503 that many times, values containing
    "reject" get a 400."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.fail_next = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if endpoint.fail_next > 0:
                    endpoint.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                if b"reject" in body:
                    self.send_response(400)
                    self.send_header("Content-Length", "13")
                    self.end_headers()
                    self.wfile.write(b"bad record!!!")
                    return
                endpoint.requests.append((self.command, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ingest"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    e = Endpoint()
    yield e
    e.close()


def produce(log, values):
    log.create_topic("events", 1, exist_ok=True)
    log.produce("events", [ProducerRecord(v) for v in values])


def test_batches_headers_auth_and_retries(herder, endpoint):
    endpoint.fail_next = 2
    produce(herder.log, [json.dumps({"n": i}).encode() for i in range(5)])
    herder.create_connector(
        "http",
        {
            "connector.class": "HttpSink",
            "topics": "events",
            "http.api.url": endpoint.url,
            "value.converter": "JsonConverter",
            "value.converter.schemas.enable": "false",
            "batch.max.size": "2",
            "headers": "X-Source:millstream|X-Env:test",
            "auth.type": "BASIC",
            "connection.user": "u",
            "connection.password": "p",
            "retry.backoff.ms": "20",
        },
    )
    wait_until(lambda: len(endpoint.requests) == 3, what="3 batched requests")
    assert endpoint.fail_next == 0  # the two 503 answers were retried
    bodies = [json.loads(b) for _m, _h, b in endpoint.requests]
    assert bodies == [[{"n": 0}, {"n": 1}], [{"n": 2}, {"n": 3}], [{"n": 4}]]
    method, headers, _ = endpoint.requests[0]
    assert method == "POST" and headers["X-Source"] == "millstream" and headers["X-Env"] == "test"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert herder.connector_config("http")["connection.password"] == "[hidden]"


def test_rejected_records_go_to_the_dlq_and_the_rest_is_delivered(herder, endpoint):
    produce(herder.log, [b"ok-1", b"reject-me", b"ok-2"])
    herder.create_connector(
        "http",
        {
            "connector.class": "io.confluent.connect.http.HttpSinkConnector",
            "topics": "events",
            "http.api.url": endpoint.url,
            "value.converter": "StringConverter",
            "request.body.format": "string",
            "batch.max.size": "10",
            "batch.prefix": "[",
            "batch.suffix": "]",
            "batch.separator": ";",
            "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": "http-dlq",
            "errors.deadletterqueue.context.headers.enable": "true",
        },
    )
    wait_until(lambda: herder.log.has_topic("http-dlq") and herder.log.latest_offset("http-dlq", 0) == 1)
    dlq = herder.log.read("http-dlq", 0, 0)[0]
    assert dlq.value == b"reject-me"
    assert b"400" in dict(dlq.headers)["__connect.errors.exception.message"]
    wait_until(lambda: len(endpoint.requests) == 2)
    assert [b for _m, _h, b in endpoint.requests] == [
        b"[ok-1]",
        b"[ok-2]",
    ]  # one by one after the batch failed


def test_bad_http_configs_are_reported_per_key(herder):
    from millstream.connect import ConnectorConfigError

    with pytest.raises(ConnectorConfigError) as e:
        herder.create_connector(
            "h",
            {
                "connector.class": "HttpSink",
                "topics": "t",
                "http.api.url": "ftp://x",
                "request.method": "GET",
                "retry.on.status.codes": "5xx",
            },
        )
    assert set(e.value.errors) == {"http.api.url", "request.method", "retry.on.status.codes"}
