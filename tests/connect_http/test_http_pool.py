"""The HTTP sink's keep-alive pool: many requests over few TCP connections (counted by a real local server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from millstream.connect.connectors.http.client import HttpPool, HttpRequestError, HttpSender
from millstream.connect.connectors.http.sink import HttpSinkTask
from millstream.connect.data import SinkRecord

from ..http.conftest import self_signed
from .dataset_server import Dataset, serve


@pytest.fixture
def dataset() -> Iterator[Dataset]:
    yield from serve()


def test_sink_requests_reuse_one_connection(dataset: Dataset) -> None:
    task = HttpSinkTask()
    task.start({"http.api.url": f"{dataset.base}/items", "batch.max.size": "1"})
    try:
        records = [SinkRecord("t", 0, None, None, None, {"n": i}, None, kafka_offset=i) for i in range(60)]
        task.put(records[:30])
        task.put(records[30:])
        assert task.requests_sent == 60 and len(dataset.paths) == 60
        assert dataset.accepted == 1 and task.pool.connections_opened == 1
    finally:
        task.stop()


def test_concurrent_senders_share_the_pool_up_to_its_size(dataset: Dataset) -> None:
    pool = HttpPool(2)
    senders = [HttpSender(f"{dataset.base}/items", pool=pool) for _ in range(4)]

    def send_many(sender: HttpSender) -> None:
        for _ in range(25):
            sender.send(b"[]")

    threads = [threading.Thread(target=send_many, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(dataset.paths) == 100
    # four threads at once may open more than the two kept connections, but nowhere near one per request
    assert dataset.accepted <= 20, dataset.accepted
    pool.close()


def test_a_connection_the_server_closed_when_idle_is_replaced_without_an_error() -> None:
    for dataset in serve(idle_timeout=0.2):
        sender = HttpSender(f"{dataset.base}/items", pool=HttpPool(1), max_retries=0)
        sender.send(b"[]")
        time.sleep(0.6)  # the server closes the idle kept-alive connection
        assert sender.send(b"[]").status == 200  # no retry allowed: the dead connection was noticed and replaced
        assert dataset.accepted == 2
        sender.send(b"[]")
        assert dataset.accepted == 2


def test_https_certificates_are_verified_unless_turned_off(tmp_path: Path) -> None:
    keystore, ca = self_signed(tmp_path)
    for dataset in serve(keystore=str(keystore)):
        url = f"{dataset.base}/items"
        records = [SinkRecord("t", 0, None, None, None, {"n": i}, None, kafka_offset=i) for i in range(5)]

        def sink(url: str = url, **options: str) -> HttpSinkTask:
            task = HttpSinkTask()
            task.start({"http.api.url": url, "batch.max.size": "1", "max.retries": "0", **options})
            return task

        untrusted = sink()
        with pytest.raises(HttpRequestError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.put(records)
        untrusted.stop()
        for options in ({"https.ssl.ca.location": str(ca)}, {"https.ssl.verify": "false"}):
            task = sink(**options)
            accepted = dataset.accepted
            task.put(records)
            assert task.requests_sent == 5 and dataset.accepted == accepted + 1  # one TLS connection, kept
            task.stop()
