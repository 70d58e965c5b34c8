"""The HTTP sink's sender and bodies against a real local HTTP server."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import json
import socket
import threading
import time

import pytest

from millstream.connect.connectors.http.body import json_body, string_body
from millstream.connect.connectors.http.client import (
    HttpSender,
    HttpSinkError,
    SenderClosedError,
    backoff_ms,
    normalize_policy,
    parse_headers,
    parse_status_codes,
)
from millstream.core.errors import ConfigError

from .conftest import ScriptedServer


def test_retries_5xx_with_exponential_backoff(http_server: ScriptedServer) -> None:
    http_server.script = [503, 500, 502]
    sender = HttpSender(http_server.url, headers={"X-Team": "data"}, max_retries=5, retry_backoff_ms=100)
    resp = sender.send(b"[1,2]")
    assert resp.status == 200
    reqs = http_server.requests
    assert [r.headers["x-status"] for r in reqs] == ["503", "500", "502", "200"]
    assert all(r.body == b"[1,2]" and r.headers["x-team"] == "data" for r in reqs)
    gaps = [b.at - a.at for a, b in itertools.pairwise(reqs)]
    # waits of 100, 200, 400 ms (exponential), each measured from the previous answer
    for gap, expected in zip(gaps, (0.1, 0.2, 0.4), strict=True):
        assert gap >= expected * 0.95
    assert gaps[2] > gaps[0]


def test_gives_up_after_max_retries_with_readable_error(http_server: ScriptedServer) -> None:
    http_server.script = [500] * 10
    sender = HttpSender(http_server.url, max_retries=2, retry_backoff_ms=10, backoff_policy="constant")
    with pytest.raises(HttpSinkError) as info:
        sender.send(b"[]")
    assert info.value.attempts == 3 and info.value.status == 500
    assert "answered 500" in str(info.value) and "gave up after 3 attempts" in str(info.value)
    assert "scripted failure" in str(info.value)
    assert len(http_server.requests) == 3


def test_4xx_is_not_retried_and_retry_after_is_honoured(http_server: ScriptedServer) -> None:
    http_server.script = [400]
    with pytest.raises(HttpSinkError, match="answered 400"):
        HttpSender(http_server.url, retry_backoff_ms=10).send(b"[]")
    assert len(http_server.requests) == 1
    http_server.script = [(429, {"Retry-After": "1"})]
    start = time.monotonic()
    HttpSender(http_server.url, retry_backoff_ms=10, method="put").send(b"[]")
    assert time.monotonic() - start >= 0.95
    assert [r.method for r in http_server.requests[1:]] == ["PUT", "PUT"]


def test_unreachable_endpoint_is_retried_then_reported() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/x"
        with pytest.raises(HttpSinkError, match=r"could not reach .*gave up after 2 attempts"):
            HttpSender(url, max_retries=1, retry_backoff_ms=10).send(b"[]")


def test_close_interrupts_a_backoff_wait(http_server: ScriptedServer) -> None:
    http_server.script = [503] * 5
    sender = HttpSender(http_server.url, retry_backoff_ms=60_000)
    threading.Timer(0.3, sender.close).start()
    start = time.monotonic()
    with pytest.raises(SenderClosedError):
        sender.send(b"[]")
    assert time.monotonic() - start < 10


def test_basic_auth_header(http_server: ScriptedServer) -> None:
    HttpSender(http_server.url, user="u", password="p").send(b"[]")
    assert http_server.requests[0].headers["authorization"] == "Basic dTpw"


def test_option_parsers() -> None:
    codes = parse_status_codes("408,429,500-")
    assert [c for c in (200, 404, 408, 429, 499, 500, 503) if codes(c)] == [408, 429, 500, 503]
    assert parse_status_codes("400-499")(404)
    with pytest.raises(ConfigError, match="invalid entry"):
        parse_status_codes("5xx")
    assert parse_headers("Content-Type:text/plain|X-A: b") == {"Content-Type": "text/plain", "X-A": "b"}
    with pytest.raises(ConfigError, match="has no ':'"):
        parse_headers("oops")
    assert normalize_policy("CONSTANT_VALUE") == "constant"
    assert normalize_policy("EXPONENTIAL_WITH_JITTER") == "exponential_with_jitter"
    with pytest.raises(ConfigError):
        normalize_policy("linear")
    assert [backoff_ms("exponential", 100, n, 350) for n in (1, 2, 3, 4)] == [100, 200, 350, 350]
    assert 200 <= backoff_ms("exponential_with_jitter", 100, 3, 10_000) <= 400
    with pytest.raises(ConfigError, match="not an http"):
        HttpSender("ftp://x")


def test_bodies() -> None:
    values = [{"id": 1, "at": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "p": decimal.Decimal("1.5")}, "s", None]
    assert json.loads(json_body(values)) == [{"id": 1, "at": "2024-01-02T03:04:05+00:00", "p": 1.5}, "s", None]
    assert json_body([{"a": 1}], as_array=False) == b'{"a":1}'
    assert string_body(["a", {"b": 2}, b"c"], prefix="[", separator=";", suffix="]") == b'[a;{"b":2};c]'
