"""The REST API against a live server: raw HTTP for every endpoint's shapes and status codes, and the real
PyPI client ``kafka-connect-py`` (``KafkaConnect`` and its ``kc`` CLI) driving it."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest
from kafka_connect import KafkaConnect

from millstream.connect import SourceConnector, SourceTask
from millstream.connect.herder import Herder
from millstream.connect.rest import RestServer
from millstream.log import open_log

from .helpers import wait_until


def src_cfg(tmp_path: Path, name: str = "src", **extra: str) -> dict[str, str]:
    path = tmp_path / f"{name}.txt"
    path.write_text("a\nb\nc\n")
    return {"connector.class": "FileStreamSource", "file": str(path), "topic": f"{name}-topic", **extra}


@pytest.fixture
def client(rest):
    with httpx.Client(base_url=rest.url, timeout=10) as c:
        yield c


def running(client, name, tasks=1):
    def check():
        r = client.get(f"/connectors/{name}/status")
        s = r.json()
        return (
            r.status_code == 200
            and s["connector"]["state"] == "RUNNING"
            and len(s["tasks"]) == tasks
            and all(t["state"] == "RUNNING" for t in s["tasks"])
        )

    wait_until(check, what=f"{name} RUNNING")


def test_root_health_and_plugins(client):
    r = client.get("/")
    assert r.status_code == 200 and set(r.json()) == {"version", "commit", "kafka_cluster_id"}
    r = client.get("/health")
    assert r.json()["status"] == "healthy"
    plugins = client.get("/connector-plugins").json()
    classes = {p["class"]: p["type"] for p in plugins}
    assert classes["millstream.connect.connectors.file.FileStreamSourceConnector"] == "source"
    assert classes["millstream.connect.connectors.file.FileStreamSinkConnector"] == "sink"
    assert set(classes.values()) == {"source", "sink"}
    everything = client.get("/connector-plugins", params={"connectorsOnly": "false"}).json()
    kinds = {p["type"] for p in everything}
    assert {"source", "sink", "transformation", "predicate", "converter"} <= kinds
    keys = client.get("/connector-plugins/FileStreamSource/config").json()
    topic = next(k for k in keys if k["name"] == "topic")
    assert topic["type"] == "STRING" and topic["required"] is True and topic["importance"] == "HIGH"
    assert client.get("/connector-plugins/Nope/config").status_code == 404


def test_connector_lifecycle_over_raw_http(client, tmp_path, herder):
    cfg = src_cfg(tmp_path, "src", **{"db.password": "hunter2"})
    r = client.post("/connectors", json={"name": "src", "config": cfg})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"http://127.0.0.1:{client.base_url.port}/connectors/src"
    info = r.json()
    assert info["name"] == "src" and info["type"] == "source" and info["config"]["db.password"] == "[hidden]"
    assert client.post("/connectors", json={"name": "src", "config": cfg}).status_code == 409
    running(client, "src")
    assert client.get("/connectors").json() == ["src"]
    assert client.get("/connectors/src/").status_code == 200  # trailing slash
    expanded = client.get("/connectors?expand=status&expand=info").json()
    assert expanded["src"]["status"]["connector"]["state"] == "RUNNING"
    assert expanded["src"]["info"]["config"]["topic"] == "src-topic"
    assert client.get("/connectors/src").json()["tasks"] == [{"connector": "src", "task": 0}]
    assert client.get("/connectors/src/config").json()["db.password"] == "[hidden]"
    assert herder.raw_config("src")["db.password"] == "hunter2"  # masked only in responses
    tasks = client.get("/connectors/src/tasks").json()
    assert tasks[0]["id"] == {"connector": "src", "task": 0} and tasks[0]["config"]["topic"] == "src-topic"
    assert client.get("/connectors/src/tasks/0/status").json() == {
        "id": 0,
        "state": "RUNNING",
        "worker_id": "test:0",
    }
    assert client.get("/connectors/src/tasks/7/status").status_code == 404
    wait_until(lambda: client.get("/connectors/src/topics").json() == {"src": {"topics": ["src-topic"]}})
    assert client.put("/connectors/src/topics/reset").status_code == 202
    assert client.get("/connectors/src/topics").json() == {"src": {"topics": []}}

    # bodiless PUTs with no Content-Type, as kafka-connect-py sends them
    conn = http.client.HTTPConnection("127.0.0.1", int(client.base_url.port))
    conn.request("PUT", "/connectors/src/pause")
    resp = conn.getresponse()
    assert resp.status == 202 and resp.read() == b""
    conn.close()
    wait_until(lambda: client.get("/connectors/src/status").json()["connector"]["state"] == "PAUSED")
    assert client.put("/connectors/src/pause").status_code == 202  # idempotent
    assert client.put("/connectors/src/resume").status_code == 202
    running(client, "src")

    assert client.post("/connectors/src/restart?includeTasks=False&onlyFailed=False").status_code == 204
    r = client.post("/connectors/src/restart?includeTasks=true")
    assert r.status_code == 202 and r.json()["tasks"][0]["state"] == "RESTARTING"
    running(client, "src")
    assert client.post("/connectors/src/tasks/0/restart").status_code == 204
    running(client, "src")

    # offsets: GET any time; PATCH/DELETE only when STOPPED
    offsets = client.get("/connectors/src/offsets").json()
    wait_until(lambda: client.get("/connectors/src/offsets").json()["offsets"], what="offsets flushed")
    offsets = client.get("/connectors/src/offsets").json()
    assert offsets == {"offsets": [{"partition": {"filename": cfg["file"]}, "offset": {"position": 6}}]}
    r = client.patch(
        "/connectors/src/offsets",
        json={"offsets": [{"partition": {"filename": cfg["file"]}, "offset": {"position": 2}}]},
    )
    assert r.status_code == 400 and "STOPPED" in r.json()["message"] and r.json()["error_code"] == 400
    assert client.put("/connectors/src/stop").status_code == 204
    st = wait_until(lambda: (s := client.get("/connectors/src/status").json())["connector"]["state"] == "STOPPED" and s)
    assert st["tasks"] == []
    r = client.patch(
        "/connectors/src/offsets",
        json={"offsets": [{"partition": {"filename": cfg["file"]}, "offset": {"position": 2}}]},
    )
    assert r.status_code == 200 and "altered successfully" in r.json()["message"]
    assert client.get("/connectors/src/offsets").json()["offsets"][0]["offset"] == {"position": 2}
    r = client.request("DELETE", "/connectors/src/offsets")
    assert r.status_code == 200 and "reset successfully" in r.json()["message"]
    assert client.get("/connectors/src/offsets").json() == {"offsets": []}

    # config: PUT updates (200), PATCH merges and deletes keys with null
    new = dict(cfg, **{"batch.size": "10"})
    r = client.put("/connectors/src/config", json=new)
    assert r.status_code == 200 and r.json()["config"]["batch.size"] == "10"
    r = client.patch("/connectors/src/config", json={"batch.size": None, "tasks.max": "1"})
    assert r.status_code == 200 and "batch.size" not in r.json()["config"]
    r = client.put("/connectors/made-by-put/config", json=src_cfg(tmp_path, "put"))
    assert r.status_code == 201
    assert client.delete("/connectors/src").status_code == 204
    assert client.get("/connectors/src").status_code == 404
    assert client.get("/connectors/src").json() == {"error_code": 404, "message": "Connector src not found"}


def test_sink_offsets_use_kafka_topic_and_partition(client, tmp_path, herder):
    out = tmp_path / "out.txt"
    herder.log.create_topic("in", 2)
    herder.log.produce("in", [(b'"x"', None, None, (), 1), (b'"y"', None, None, (), 1)])
    cfg = {
        "connector.class": "FileStreamSink",
        "file": str(out),
        "topics": "in",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
    }
    assert client.post("/connectors", json={"name": "snk", "config": cfg}).status_code == 201
    wait_until(lambda: client.get("/connectors/snk/offsets").json()["offsets"], what="sink offsets")
    assert client.get("/connectors/snk/offsets").json() == {
        "offsets": [{"partition": {"kafka_topic": "in", "kafka_partition": 1}, "offset": {"kafka_offset": 2}}]
    }
    assert out.read_text() == "x\ny\n"
    client.put("/connectors/snk/stop")
    wait_until(lambda: client.get("/connectors/snk/status").json()["connector"]["state"] == "STOPPED")
    body = {"offsets": [{"partition": {"kafka_topic": "in", "kafka_partition": 1}, "offset": {"kafka_offset": 1}}]}
    assert client.patch("/connectors/snk/offsets", json=body).status_code == 200
    client.put("/connectors/snk/resume")
    wait_until(lambda: out.read_text() == "x\ny\ny\n", what="re-delivery after rewinding the sink offset")
    bad = {"offsets": [{"partition": {"kafka_topic": "in"}, "offset": {"kafka_offset": 1}}]}
    client.put("/connectors/snk/stop")
    wait_until(lambda: client.get("/connectors/snk/status").json()["connector"]["state"] == "STOPPED")
    r = client.patch("/connectors/snk/offsets", json=bad)
    assert r.status_code == 400 and "kafka_partition" in r.json()["message"]


def test_bad_requests_get_400_with_a_message(client, tmp_path):
    r = client.post("/connectors", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error_code"] == 400 and "JSON" in r.json()["message"]
    r = client.post("/connectors", json={"name": "x"})
    assert r.status_code == 400 and "config" in r.json()["message"]
    r = client.post(
        "/connectors",
        json={"name": "x", "config": {"connector.class": "FileStreamSource", "batch.size": "-3"}},
    )
    assert r.status_code == 400
    msg = r.json()["message"]
    assert "topic" in msg and "batch.size" in msg and "Value must be at least 1" in msg
    r = client.post("/connectors", json={"name": "x", "config": {"connector.class": "Bogus"}})
    assert r.status_code == 400 and "Bogus" in r.json()["message"] and "FileStreamSource" in r.json()["message"]
    r = client.put("/connectors/x/config", json={"name": "y", "connector.class": "FileStreamSource"})
    assert r.status_code == 400 and "doesn't match" in r.json()["message"]
    assert client.get("/nope").status_code == 404
    assert client.delete("/connector-plugins").status_code == 405
    assert client.post("/connectors/x/restart?includeTasks=maybe").status_code in (400, 404)


def test_validate_reports_every_bad_key_and_still_returns_200(client, tmp_path):
    body = {
        "connector.class": "FileStreamSource",
        "batch.size": "zero",
        "transforms": "t",
        "transforms.t.type": "NoSuchTransform",
    }
    r = client.put("/connector-plugins/FileStreamSource/config/validate", json=body)
    assert r.status_code == 200
    infos = r.json()
    assert infos["name"] == "millstream.connect.connectors.file.FileStreamSourceConnector"
    assert "Common" in infos["groups"] and "Transforms: t" in infos["groups"]
    errors = {c["value"]["name"]: c["value"]["errors"] for c in infos["configs"] if c["value"]["errors"]}
    assert set(errors) == {"name", "topic", "batch.size", "transforms.t.type"}
    assert infos["error_count"] == 4
    first = infos["configs"][0]
    assert set(first) == {"definition", "value"}
    assert set(first["value"]) == {"name", "value", "recommended_values", "errors", "visible"}
    good = dict(src_cfg(tmp_path), name="v")
    assert (
        client.put("/connector-plugins/FileStreamSourceConnector/config/validate", json=good).json()["error_count"] == 0
    )
    mismatch = client.put("/connector-plugins/FileStreamSink/config/validate", json=good)
    assert mismatch.status_code == 400 and "does not match" in mismatch.json()["message"]


def test_loggers(client):
    import logging

    logging.getLogger("millstream.connect.worker")
    r = client.get("/admin/loggers")
    assert r.status_code == 200 and "root" in r.json()
    r = client.put("/admin/loggers/millstream.connect", json={"level": "DEBUG"})
    assert r.status_code == 200 and "millstream.connect" in r.json()
    assert "millstream.connect.worker" in r.json()
    got = client.get("/admin/loggers/millstream.connect.worker").json()
    assert got["level"] == "DEBUG" and "last_modified" in got
    assert client.get("/admin/loggers/no.such.logger").status_code == 404
    assert client.put("/admin/loggers/millstream.connect", json={"level": "LOUD"}).status_code == 400
    client.put("/admin/loggers/millstream.connect", json={"level": "INFO"})
    logging.getLogger("millstream.connect").setLevel(logging.NOTSET)
    logging.getLogger("millstream.connect.worker").setLevel(logging.NOTSET)


def test_kafka_connect_py_client_drives_the_worker(rest, tmp_path):
    kc = KafkaConnect(url=rest.url)
    assert "version" in kc.get_cluster_info()
    cfg = dict(src_cfg(tmp_path, "kc"), name="kc1")
    info = kc.create_connector({"name": "kc1", "config": cfg})
    assert info["name"] == "kc1"
    wait_until(lambda: kc.get_connector_status("kc1")["connector"]["state"] == "RUNNING")
    assert kc.list_connectors() == ["kc1"]
    assert kc.list_connectors(expand="status", state="running")["kc1"]["status"]["connector"]["state"] == "RUNNING"
    assert kc.list_connectors(pattern="kc.*") == ["kc1"]
    assert kc.get_connector("kc1")["type"] == "source"
    assert kc.get_connector_config("kc1")["topic"] == "kc-topic"
    assert kc.update_connector("kc1", dict(cfg, **{"batch.size": "5"}))["config"]["batch.size"] == "5"
    wait_until(lambda: kc.list_connector_tasks("kc1"))
    wait_until(lambda: kc.get_connector_task_status("kc1", 0)["state"] == "RUNNING")
    kc.pause_connector("kc1")
    wait_until(lambda: kc.get_connector_status("kc1")["connector"]["state"] == "PAUSED")
    kc.resume_connector("kc1")
    wait_until(lambda: kc.get_connector_status("kc1")["connector"]["state"] == "RUNNING")
    assert kc.restart_connector("kc1") is None  # 204
    assert kc.restart_connector("kc1", include_tasks=True)["name"] == "kc1"  # 202 + status
    kc.restart_connector_task("kc1", 0)
    wait_until(lambda: kc.get_connector_status("kc1")["tasks"][0]["state"] == "RUNNING")
    assert kc.list_connector_topics("kc1") == {"kc1": {"topics": ["kc-topic"]}}
    kc.reset_connector_topics("kc1")
    plugins = kc.list_connector_plugins()
    assert any(p["class"].endswith("FileStreamSinkConnector") for p in plugins)
    assert kc.validate_connector_config("FileStreamSource", cfg)["error_count"] == 0
    kc.stop_connector("kc1")
    wait_until(lambda: kc.get_connector_status("kc1")["connector"]["state"] == "STOPPED")
    kc.delete_connector("kc1")
    assert kc.list_connectors() == []


def test_kc_cli_drives_the_worker(rest, tmp_path):
    env = dict(os.environ, KAFKA_CONNECT_URL=rest.url)
    exe = Path(sys.executable).parent / "kc"

    def kc(*args: str) -> str:
        out = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    cfg_file = tmp_path / "c.json"
    cfg_file.write_text(json.dumps({"name": "cli1", "config": src_cfg(tmp_path, "cli")}))
    assert json.loads(kc("create", "--config-file", str(cfg_file)))["name"] == "cli1"
    wait_until(lambda: json.loads(kc("status", "cli1"))["connector"]["state"] == "RUNNING")
    assert json.loads(kc("list")) == ["cli1"]
    assert json.loads(kc("list", "--expand", "info"))["cli1"]["info"]["type"] == "source"
    kc("pause", "cli1")
    wait_until(lambda: json.loads(kc("status", "cli1"))["connector"]["state"] == "PAUSED")
    kc("resume", "cli1")
    kc("restart", "cli1", "--include-tasks")
    wait_until(lambda: json.loads(kc("status", "cli1"))["connector"]["state"] == "RUNNING")
    validated = json.loads(
        kc(
            "validate-config",
            "FileStreamSource",
            "--config-data",
            json.dumps({"connector.class": "FileStreamSource", "topic": "t"}),
        )
    )
    assert validated["error_count"] == 1  # only the missing name
    kc("delete", "cli1")
    assert json.loads(kc("list")) == []


RELEASE = threading.Event()


class _Task(SourceTask):
    def start(self, props: Mapping[str, str]) -> None:
        pass

    def poll(self):
        RELEASE.wait(0.05)
        return None

    def stop(self) -> None:
        pass


class HangingSource(SourceConnector):
    def start(self, props: Mapping[str, str]) -> None:
        RELEASE.wait(60)

    def validate(self, props):
        if props.get("hang.validate") == "true":
            RELEASE.wait(60)
        return super().validate(props)

    def task_class(self) -> type[SourceTask]:
        return _Task

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{}]

    def stop(self) -> None:
        pass


def test_a_hanging_connector_never_blocks_the_rest_api(tmp_path):
    RELEASE.clear()
    herder = Herder({"offset.flush.interval.ms": "50"}, open_log("memory://"), worker_id="t:0", operation_timeout_s=1.0)
    herder.start()
    server = RestServer(herder, "127.0.0.1", 0)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            cls = f"{__name__}.HangingSource"
            t0 = time.monotonic()
            assert c.post("/connectors", json={"name": "hang", "config": {"connector.class": cls}}).status_code == 201
            assert c.get("/connectors/hang/status").json()["connector"]["state"] == "UNASSIGNED"
            assert c.get("/connectors").json() == ["hang"]
            assert c.put("/connectors/hang/pause").status_code == 202
            assert c.put("/connectors/hang/resume").status_code == 202
            assert c.post("/connectors/hang/restart").status_code == 204
            assert c.get("/connectors/hang/config").status_code == 200
            assert c.delete("/connectors/hang").status_code == 204
            assert time.monotonic() - t0 < 3
            r = c.post(
                "/connectors",
                json={"name": "h2", "config": {"connector.class": cls, "hang.validate": "true"}},
            )
            assert r.status_code == 500 and "did not finish" in r.json()["message"]
            assert c.get("/health").json()["status"] == "healthy"
            assert time.monotonic() - t0 < 6
    finally:
        RELEASE.set()
        server.stop()
        herder.stop()
