"""Bad and hostile requests against both servers over real sockets: oversized, negative and lying
``Content-Length``, chunked bodies past the limit, stalled request heads; each gets a 4xx (or the connection
closed) within the read timeout, and the server keeps answering."""

from __future__ import annotations

import threading
import time

import httpx

from .conftest import raw


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_oversized_content_length_is_refused_before_reading(connect):
    t0 = time.monotonic()
    out = raw(
        connect.port,
        b"POST /connectors HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000000000000\r\n\r\n{",
    )
    assert _status(out) == 413 and time.monotonic() - t0 < 2
    body = out.split(b"\r\n\r\n", 1)[1]
    assert body.startswith(b'{"error_code":413,"message":"Request body of 100000000000000 bytes is larger')
    assert b"rest.request.max.bytes" in body


def test_a_50_mb_connector_config_is_refused_and_not_stored(connect, herder):
    big = {"name": "big", "config": {"connector.class": "FileStreamSource", "topic": "t", "x": "a" * 50_000_000}}
    r = httpx.post(connect.url + "/connectors", json=big, timeout=30)
    assert r.status_code == 413 and r.json()["error_code"] == 413
    assert herder.connectors() == []


def test_chunked_body_past_the_limit_is_refused(connect):
    def chunks():
        for _ in range(20):
            yield b"x" * 100_000

    r = httpx.put(connect.url + "/connectors/c/config", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error_code"] == 413


def test_negative_and_malformed_content_length_get_400(connect, monitoring):
    for port in (connect.port, monitoring.port):
        for length in (b"-5", b"abc", b"1, 2"):
            out = raw(port, b"POST /connectors HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n")
            assert _status(out) == 400


def test_a_lying_content_length_gets_408_within_the_read_timeout(connect, monitoring):
    for server in (connect, monitoring):
        t0 = time.monotonic()
        out = raw(
            server.port,
            b"PUT /connectors/c/config HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{}",
        )
        assert _status(out) in (408, 405, 404)
        assert time.monotonic() - t0 < 3
    out = raw(connect.port, b"PUT /connectors/c/config HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}")
    assert _status(out) == 408 and b'"error_code":408' in out


def test_a_stalled_request_head_is_closed_and_threads_are_not_left_behind(connect):
    threads = threading.active_count()
    t0 = time.monotonic()
    out = raw(connect.port, b"GET /connectors HTTP/1.1\r\nHost: x\r\n")  # never finishes the head
    assert out == b"" and time.monotonic() - t0 < 3
    t0 = time.monotonic()
    assert raw(connect.port, b"") == b""  # connects, sends nothing
    assert time.monotonic() - t0 < 3
    assert httpx.get(connect.url + "/connectors").json() == []
    assert threading.active_count() <= threads + 1  # at most the thread pool's worker
