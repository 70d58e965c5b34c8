"""HttpSourceConnector run by the real connect worker against a real local REST server with a growing dataset."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from millstream.connect.connectors.http.pointer import PointerError, render, resolve
from millstream.connect.connectors.http.source import HttpSourceTask
from millstream.connect.errors import ConnectorConfigError
from millstream.connect.herder import Herder
from millstream.connect.plugins import connector_class
from millstream.log.base import Log

from .dataset_server import Dataset, serve

FULL = "millstream.connect.connectors.http.HttpSourceConnector"


@pytest.fixture
def dataset() -> Iterator[Dataset]:
    yield from serve()


def start_herder(log: str | Log) -> Herder:
    h = Herder({"offset.flush.interval.ms": "100", "task.shutdown.graceful.timeout.ms": "5000"}, log)
    h.start()
    return h


@pytest.fixture
def herder() -> Iterator[Herder]:
    h = start_herder("memory://")
    try:
        yield h
    finally:
        h.stop()


def values(log: Log, topic: str) -> list[Any]:
    try:
        end = log.latest_offset(topic, 0)
    except Exception:
        return []
    out: list[Any] = []
    while len(out) < end:
        out.extend(orjson.loads(r.value) for r in log.read(topic, 0, len(out)))
    return out


def wait_until(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def task_states(h: Herder, name: str) -> list[str]:
    return [t["state"] for t in h.connector_status(name)["tasks"]]


def items_config(ds: Dataset, **extra: str) -> dict[str, str]:
    return {
        "connector.class": "HttpSourceConnector",
        "http.request.url": f"{ds.base}/items",
        "http.request.params": "since=${offset.id}&limit=7",
        "http.response.list.pointer": "/data/items",
        "http.response.record.offset.pointer": "id=/id",
        "http.response.record.key.pointer": "/id",
        "http.response.record.timestamp.pointer": "/updated_at",
        "http.offset.initial": "id=0",
        "http.timer.interval.millis": "200",
        "kafka.topic": "items",
        "retry.backoff.ms": "50",
        "value.converter.schemas.enable": "false",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        **extra,
    }


def test_reads_a_growing_dataset_exactly_once_across_a_worker_restart(dataset: Dataset, tmp_path: Path) -> None:
    log_url = f"file://{tmp_path / 'log'}"
    dataset.grow(25)
    h = start_herder(log_url)
    try:
        h.create_connector("items-src", items_config(dataset))
        wait_until(lambda: len(values(h.log, "items")) == 25, what="25 records")
        # pagination within one poll: pages of 7 were asked for one after another: since=0,7,14,21, then 25
        assert [p for p in dataset.paths[:5]] == [f"/items?since={n}&limit=7" for n in (0, 7, 14, 21, 25)]
        dataset.grow(5)
        wait_until(lambda: len(values(h.log, "items")) == 30, what="30 records")
        records = h.log.read("items", 0, 0)
        assert records[0].key == b"1" and records[0].timestamp == 1767225601000
    finally:
        h.stop()  # flushes the offsets of what was written
    dataset.grow(12)
    served_before = len(dataset.paths)
    h = start_herder(log_url)
    try:
        h.create_connector("items-src", items_config(dataset))
        wait_until(lambda: len(values(h.log, "items")) >= 42, what="42 records")
        time.sleep(0.6)  # a few more polls: nothing more may come
        got = values(h.log, "items")
        assert [v["id"] for v in got] == list(range(1, 43))
        # the restarted task asked from the committed offset on, not from the start
        assert dataset.paths[served_before] == "/items?since=30&limit=7"
        offsets = h.connector_offsets("items-src")
        assert offsets == [{"partition": {"url": f"{dataset.base}/items"}, "offset": {"id": 42}}]
    finally:
        h.stop()


def test_cursor_pagination_resumes_from_the_next_page_token(dataset: Dataset, tmp_path: Path) -> None:
    log_url = f"file://{tmp_path / 'log'}"
    dataset.grow(12)
    config = {
        "connector.class": FULL,
        "http.request.url": f"{dataset.base}/feed",
        "http.request.params": "cursor=${offset.next_page}",
        "http.response.list.pointer": "/items",
        "http.response.next.page.pointer": "/next",
        "http.response.record.offset.pointer": "id=/id",
        "http.timer.interval.millis": "200",
        "kafka.topic": "feed",
        "value.converter.schemas.enable": "false",
    }
    h = start_herder(log_url)
    try:
        h.create_connector("feed-src", config)
        wait_until(lambda: len(values(h.log, "feed")) == 12, what="12 records")
        assert dataset.paths[:3] == ["/feed?cursor=", "/feed?cursor=5", "/feed?cursor=10"]
    finally:
        h.stop()
    dataset.grow(6)  # the last page (10..) fills up and a new one appears
    h = start_herder(log_url)
    try:
        h.create_connector("feed-src", config)
        wait_until(lambda: len(values(h.log, "feed")) >= 18, what="18 records")
        time.sleep(0.6)
        assert [v["id"] for v in values(h.log, "feed")] == list(range(1, 19))
    finally:
        h.stop()


def test_link_pagination_and_newest_first_lists(dataset: Dataset, herder: Herder) -> None:
    dataset.grow(11)
    herder.create_connector(
        "links",
        {
            "connector.class": "HttpSource",
            "http.request.url": f"{dataset.base}/feed?link=1",
            "http.response.list.pointer": "/items",
            "http.response.next.page.pointer": "/next",
            "http.response.record.offset.pointer": "id=/id",
            "http.response.record.pointer": "/name",
            "http.timer.interval.millis": "200",
            "kafka.topic": "links",
            "value.converter.schemas.enable": "false",
        },
    )
    wait_until(lambda: len(values(herder.log, "links")) == 11, what="11 records")
    assert values(herder.log, "links") == [f"item-{i}" for i in range(1, 12)]
    assert "/feed?link=1&cursor=10" in dataset.paths


def test_a_500_is_retried_and_the_source_recovers(dataset: Dataset, herder: Herder) -> None:
    dataset.grow(9)
    dataset.fail = [500, 503]
    herder.create_connector("flaky", items_config(dataset))
    wait_until(lambda: len(values(herder.log, "items")) == 9, what="9 records")
    assert dataset.statuses[:3] == [500, 503, 200]
    assert task_states(herder, "flaky") == ["RUNNING"]
    assert [v["id"] for v in values(herder.log, "items")] == list(range(1, 10))


def test_exhausted_retries_fail_the_task_naming_the_url(dataset: Dataset, herder: Herder) -> None:
    dataset.fail = [503] * 3
    herder.create_connector("down", items_config(dataset, **{"max.retries": "2", "retry.backoff.ms": "20"}))
    wait_until(lambda: task_states(herder, "down") == ["FAILED"], what="FAILED")
    trace = herder.connector_status("down")["tasks"][0]["trace"]
    assert f"{dataset.base}/items?since=0&limit=7 answered 503" in trace
    assert "gave up after 3 attempts" in trace
    assert dataset.statuses == [503, 503, 503]


def test_a_bad_pointer_or_a_non_json_body_is_reported_clearly(dataset: Dataset, herder: Herder) -> None:
    dataset.grow(3)
    herder.create_connector("bad-ptr", items_config(dataset, **{"http.response.list.pointer": "/data/results"}))
    wait_until(lambda: task_states(herder, "bad-ptr") == ["FAILED"], what="FAILED")
    trace = herder.connector_status("bad-ptr")["tasks"][0]["trace"]
    assert f"{dataset.base}/items?since=0&limit=7" in trace
    assert "http.response.list.pointer '/data/results' finds nothing" in trace
    assert "/data/results is missing (the object has keys 'items')" in trace
    herder.create_connector(
        "html", items_config(dataset, **{"http.request.url": f"{dataset.base}/html", "kafka.topic": "h"})
    )
    wait_until(lambda: task_states(herder, "html") == ["FAILED"], what="FAILED")
    trace = herder.connector_status("html")["tasks"][0]["trace"]
    assert f"{dataset.base}/html" in trace and "is not JSON" in trace and "maintenance" in trace
    herder.create_connector(
        "scalar", items_config(dataset, **{"http.response.list.pointer": "/count", "kafka.topic": "s"})
    )
    wait_until(lambda: task_states(herder, "scalar") == ["FAILED"], what="FAILED")
    assert "'/count' is a int, not an array" in herder.connector_status("scalar")["tasks"][0]["trace"]


def test_tolerance_all_skips_bad_responses_and_bad_elements(dataset: Dataset, herder: Herder) -> None:
    dataset.grow(6)
    herder.create_connector(
        "tolerant",
        items_config(
            dataset,
            **{"http.response.list.pointer": "/data/results", "errors.tolerance": "all", "errors.log.enable": "true"},
        ),
    )
    wait_until(lambda: len(dataset.paths) >= 3, what="three polls")
    assert task_states(herder, "tolerant") == ["RUNNING"]
    assert values(herder.log, "items") == []
    # an element without the offset field is skipped, the others are read
    dataset.items[2] = {"name": "no id"}
    herder.create_connector(
        "elements",
        items_config(
            dataset,
            **{"errors.tolerance": "all", "kafka.topic": "el", "http.response.record.key.pointer": ""},
        ),
    )
    wait_until(lambda: len(values(herder.log, "el")) == 5, what="5 records")
    time.sleep(0.5)
    assert [v.get("id") for v in values(herder.log, "el")] == [1, 2, 4, 5, 6]
    assert task_states(herder, "elements") == ["RUNNING"]


def test_config_errors_name_the_option(herder: Herder, dataset: Dataset) -> None:
    assert connector_class("HttpSourceConnector") is connector_class(FULL)
    assert connector_class("com.github.castorm.kafka.connect.http.HttpSourceConnector") is connector_class(FULL)
    with pytest.raises(ConnectorConfigError, match="not an http"):
        herder.create_connector("c1", items_config(dataset, **{"http.request.url": "ftp://x"}))
    with pytest.raises(ConnectorConfigError, match=r"\$\{offset\.cursor\} is not an offset field"):
        herder.create_connector("c2", items_config(dataset, **{"http.request.params": "c=${offset.cursor}"}))
    with pytest.raises(ConnectorConfigError, match="must start with '/'"):
        herder.create_connector("c3", items_config(dataset, **{"http.response.list.pointer": "items"}))
    with pytest.raises(ConnectorConfigError, match=r"kafka\.topic"):
        cfg = items_config(dataset)
        del cfg["kafka.topic"]
        herder.create_connector("c4", cfg)


def test_pointers_and_templates() -> None:
    doc = {"a": {"b/c": [10, {"~k": 2}]}}
    assert resolve(doc, "") is doc and resolve(doc, "/") is doc
    assert resolve(doc, "/a/b~1c/1/~0k") == 2
    with pytest.raises(PointerError, match="no index '5'"):
        resolve(doc, "/a/b~1c/5")
    with pytest.raises(PointerError, match="cannot step into a int"):
        resolve(doc, "/a/b~1c/0/x")
    assert render("q=${offset.ts}&x=${offset.none}", {"ts": "2026-01-01T00:00:00Z"}) == "q=2026-01-01T00:00:00Z&x="


def test_requests_reuse_pooled_connections(dataset: Dataset) -> None:
    dataset.grow(3)
    task = HttpSourceTask()
    task.start(items_config(dataset, **{"http.timer.interval.millis": "0", "http.request.params": "limit=1"}))
    try:
        for _ in range(30):
            assert task.request_of(task.offset)[0].endswith("limit=1")
            task.next_due = 0
            task.poll()
        assert len(dataset.paths) >= 30
        assert dataset.accepted == 1 and task.pool.connections_opened == 1
    finally:
        task.stop()


def test_post_requests_and_newest_first_lists(dataset: Dataset) -> None:
    dataset.grow(7)
    task = HttpSourceTask()
    task.start(
        items_config(
            dataset,
            **{
                "http.request.method": "post",
                "http.request.body": '{"after": ${offset.id}}',
                "http.request.headers": "X-After:${offset.id},X-Team:data",
                "http.request.params": "since=${offset.id}&limit=3&order=desc",
                "http.response.list.order.direction": "desc",
            },
        )
    )
    try:
        url, headers, body = task.request_of({"id": 7})
        assert url == f"{dataset.base}/items?since=7&limit=3&order=desc"
        assert headers == {"X-After": "7", "X-Team": "data", "Content-Type": "application/json"}
        assert body == b'{"after": 7}'
        records = task.poll() or []
        # pages [3, 2, 1], [6, 5, 4], [7] (newest first) are read oldest first
        assert [r.value["id"] for r in records] == list(range(1, 8)) and task.records_skipped_seen == 0
        assert task.offset == {"id": 7}
    finally:
        task.stop()
