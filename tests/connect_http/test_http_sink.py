"""HttpSinkConnector run by the real connect worker on a memory:// log, against a real local HTTP server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from millstream.connect.connectors.http import PLUGINS, HttpSinkConnector
from millstream.connect.errors import ConnectorConfigError
from millstream.connect.herder import Herder
from millstream.core.record import ProducerRecord

from .conftest import ScriptedServer

SINK = "millstream.connect.connectors.http.HttpSinkConnector"


@pytest.fixture
def herder() -> Iterator[Herder]:
    h = Herder({"offset.flush.interval.ms": "100", "task.shutdown.graceful.timeout.ms": "5000"}, "memory://")
    h.start()
    try:
        yield h
    finally:
        h.stop()


def produce(h: Herder, topic: str, values: list[Any]) -> None:
    h.log.create_topic(topic, 1, exist_ok=True)
    h.log.append(topic, 0, [ProducerRecord(None if v is None else orjson.dumps(v)) for v in values])


def wait_until(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def delivered(server: ScriptedServer) -> list[Any]:
    out: list[Any] = []
    for r in server.accepted():
        out.extend(json.loads(r.body))
    return out


def test_batches_in_order_with_retries(herder: Herder, http_server: ScriptedServer) -> None:
    assert PLUGINS[0][2] == ("HttpSink",) and HttpSinkConnector.connector_type() == "sink"
    http_server.script = [503, 500]
    produce(herder, "events", [{"n": i} for i in range(23)] + [None])
    herder.create_connector(
        "http",
        {
            "connector.class": SINK,
            "topics": "events",
            "http.api.url": http_server.url.replace("/ingest", "/in/${topic}"),
            "headers": "Authorization:Bearer abc|X-Source:millstream",
            "batch.max.size": "10",
            "retry.backoff.ms": "50",
            "value.converter.schemas.enable": "false",
        },
    )
    wait_until(lambda: len(delivered(http_server)) == 23, what="23 values")
    assert delivered(http_server) == [{"n": i} for i in range(23)]
    accepted = http_server.accepted()
    assert [len(json.loads(r.body)) for r in accepted] == [10, 10, 3]
    assert all(r.path == "/in/events" and r.method == "POST" for r in http_server.requests)
    assert accepted[0].headers["authorization"] == "Bearer abc"
    assert accepted[0].headers["content-type"] == "application/json"
    assert [r.headers["x-status"] for r in http_server.requests[:3]] == ["503", "500", "200"]
    assert herder.connector_status("http")["tasks"][0]["state"] == "RUNNING"


def test_exhausted_retries_fail_the_task_with_the_response(herder: Herder, http_server: ScriptedServer) -> None:
    http_server.script = [502] * 3
    produce(herder, "e", [{"n": 1}])
    herder.create_connector(
        "http-down",
        {
            "connector.class": SINK,
            "topics": "e",
            "http.api.url": http_server.url,
            "max.retries": "2",
            "retry.backoff.ms": "20",
            "value.converter.schemas.enable": "false",
        },
    )
    wait_until(lambda: [t["state"] for t in herder.connector_status("http-down")["tasks"]] == ["FAILED"], what="FAILED")
    trace = herder.connector_status("http-down")["tasks"][0]["trace"]
    assert "answered 502" in trace and "gave up after 3 attempts" in trace
    assert len(http_server.requests) == 3


def test_string_bodies_and_config_errors(herder: Herder, http_server: ScriptedServer) -> None:
    produce(herder, "s", ["a", "b", "c"])
    herder.create_connector(
        "http-s",
        {
            "connector.class": SINK,
            "topics": "s",
            "http.api.url": http_server.url,
            "request.method": "put",
            "request.body.format": "string",
            "batch.prefix": "<",
            "batch.separator": "|",
            "batch.suffix": ">",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        },
    )
    wait_until(lambda: len(http_server.accepted()) == 1, what="one request")
    req = http_server.accepted()[0]
    assert (req.method, req.body) == ("PUT", b'<"a"|"b"|"c">')
    with pytest.raises(ConnectorConfigError, match="not an http"):
        herder.create_connector("bad", {"connector.class": SINK, "topics": "s", "http.api.url": "ftp://x"})
    with pytest.raises(ConnectorConfigError, match=r"retry\.on\.status\.codes"):
        herder.create_connector(
            "bad2", {"connector.class": SINK, "topics": "s", "http.api.url": "http://x", "retry.on.status.codes": "5xx"}
        )
