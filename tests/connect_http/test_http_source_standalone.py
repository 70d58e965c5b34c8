"""examples/http_source run for real: ``millstream connect standalone`` with the example's properties against the
example's growing REST API, stopped and started again; a second connector created through the REST API."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from millstream.log import open_log
from tests.connect.helpers import wait_until
from tests.connect.test_cli import Worker

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "http_source"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ids(log_url: str, topic: str) -> list[int]:
    log = open_log(log_url)
    try:
        out: list[int] = []
        end = log.latest_offset(topic, 0)
        while len(out) < end:
            out.extend(orjson.loads(r.value)["id"] for r in log.read(topic, 0, len(out)))
        return out
    finally:
        log.close()


def test_example_runs_in_standalone_and_resumes_after_a_restart(tmp_path: Path) -> None:
    port = free_port()
    api = subprocess.Popen([sys.executable, str(EXAMPLE / "items_api.py"), str(port)], stdout=subprocess.PIPE)
    try:
        wait_until(lambda: _reachable(port), what="the example API")
        props = tmp_path / "http-source.properties"
        props.write_text((EXAMPLE / "http-source.properties").read_text().replace("8765", str(port)))
        worker = EXAMPLE / "worker.properties"
        log_url = f"file://{tmp_path / 'log'}"
        args = ("standalone", str(worker), str(props), "--log", log_url, "--rest-port", "0")
        w = Worker(*args)
        try:
            with httpx.Client(base_url=w.url, timeout=10) as c:
                plugins = [p["class"] for p in c.get("/connector-plugins").json()]
                assert "millstream.connect.connectors.http.HttpSourceConnector" in plugins
                wait_until(lambda: c.get("/connectors/orders-http/status").json()["tasks"], what="a task")
                assert c.get("/connectors/orders-http/status").json()["tasks"][0]["state"] == "RUNNING"
                # the same connector through the REST API, by its full class name, into another topic
                config = dict(c.get("/connectors/orders-http/config").json())
                config.update(
                    {
                        "connector.class": "millstream.connect.connectors.http.HttpSourceConnector",
                        "kafka.topic": "orders-rest",
                        "http.timer.interval.millis": "500",
                    }
                )
                del config["name"]
                r = c.post("/connectors", json={"name": "orders-rest", "config": config})
                assert r.status_code == 201, r.text
                status = "/connectors/orders-rest/status"
                wait_until(lambda: [t["state"] for t in c.get(status).json()["tasks"]] == ["RUNNING"], what="RUNNING")
                time.sleep(3)
        finally:
            assert w.terminate(30) == 0
        first = ids(log_url, "orders")
        assert first and first == list(range(1, len(first) + 1))
        rest = ids(log_url, "orders-rest")
        assert rest and rest == list(range(1, len(rest) + 1))
        time.sleep(1.5)  # orders arrive while the worker is down
        w = Worker(*args)
        try:
            # wait until its committed offset is well past the first run's (the log itself is read only once
            # the worker has exited: one process at a time)
            wait_until(lambda: offset_id(w.url, "orders-http") > len(first) + 2, what="orders after the restart")
        finally:
            assert w.terminate(30) == 0
        second = ids(log_url, "orders")
        assert second == list(range(1, len(second) + 1)), "every order once, in order, across the restart"
        assert len(second) > len(first) + 2
    finally:
        api.terminate()
        api.wait(10)


def offset_id(url: str, connector: str) -> int:
    """The ``id`` of the connector's committed source offset (0 before the first commit)."""
    offsets = httpx.get(f"{url}/connectors/{connector}/offsets", timeout=5).json().get("offsets") or []
    return int(offsets[0]["offset"]["id"]) if offsets else 0


def _reachable(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/orders", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_kill_9_with_exactly_once_source_support_reads_every_record_once(tmp_path: Path) -> None:
    """The worker killed -9 three times while the dataset grows and pages are read: with
    ``exactly.once.source.support=enabled`` records and offsets are one log transaction, so every record is in
    the topic exactly once at the end (without it, records written after the last offset flush come again)."""
    from .dataset_server import serve

    for ds in serve():
        ds.grow(40)
        worker = tmp_path / "worker.properties"
        worker.write_text("offset.flush.interval.ms=60000\nexactly.once.source.support=enabled\n")
        props = tmp_path / "items.properties"
        props.write_text(
            "\n".join(
                [
                    "name=items",
                    "connector.class=HttpSource",
                    f"http.request.url={ds.base}/items",
                    "http.request.params=since=${offset.id}&limit=2",
                    "http.response.list.pointer=/data/items",
                    "http.response.record.offset.pointer=id=/id",
                    "http.offset.initial=id=0",
                    "http.timer.interval.millis=100",
                    "http.request.max.pages=1",
                    "http.timer.catchup.interval.millis=150",
                    "kafka.topic=items",
                    "value.converter.schemas.enable=false",
                ]
            )
            + "\n"
        )
        log_url = f"file://{tmp_path / 'log'}"
        args = ("standalone", str(worker), str(props), "--log", log_url, "--rest-port", "0")
        killed_mid_stream = 0
        for _ in range(3):
            w = Worker(*args)
            time.sleep(1.5)  # about 13 records a second: the kill lands while pages are being read
            w.proc.kill()  # SIGKILL: no offset flush, no clean stop
            w.proc.wait(10)
            got = ids(log_url, "items")
            assert got == list(range(1, len(got) + 1)), got  # no record twice, none skipped
            killed_mid_stream += len(got) < len(ds.items)
            ds.grow(10)
        assert killed_mid_stream >= 2
        w, total = Worker(*args), len(ds.items)
        try:
            wait_until(lambda w=w, n=total: offset_id(w.url, "items") == n, timeout=90, what="all records")
        finally:
            assert w.terminate(30) == 0
        got = ids(log_url, "items")
        assert got == list(range(1, len(ds.items) + 1)), (len(got), len(ds.items))
