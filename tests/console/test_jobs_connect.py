"""The console mounted on a job's metrics server (real jobs) and on a Connect worker's REST port (a real
worker running the datagen connector), and ``millstream console`` reading both over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from millstream import StreamExecutionEnvironment, WatermarkStrategy
from millstream.connect.herder import Herder
from millstream.connect.rest import RestServer
from millstream.connectors import LogSink, LogSource
from millstream.console import ConsoleServer, HttpClient, RemoteJobs
from millstream.log import open_log
from millstream.observe import Monitoring

from ..observe._support import Producer, wait_for


@pytest.fixture
def running(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A job on a growing file:// topic, checkpointing every 200 ms, monitored on a free port."""
    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("in", 2)
        log.create_topic("out", 1)
    producer = Producer(url).start()
    with Monitoring(0) as mon:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.enable_checkpointing(200)
        env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "cp"))
        source = LogSource.builder().set_log(url).set_topics("in").set_group_id("g").build()
        (
            env.from_source(source, WatermarkStrategy.for_monotonous_timestamps(), "events")
            .map(lambda e: e)
            .name("parse")
            .sink_to(LogSink.builder().set_log(url).set_topic("out").build())
        )
        client = env.execute_async("console job")
        try:
            yield {"url": mon.url, "client": client, "log": url}
        finally:
            producer.stop()
            client.cancel()


def test_jobs_on_the_metrics_port_show_vertices_topics_rates_checkpoints_and_advice(running) -> None:
    jid = running["client"].jid
    with httpx.Client(base_url=running["url"] + "/console/api", timeout=10) as c:
        assert c.get(running["url"] + "/console/").status_code == 200  # the page on the job's own port

        def job():
            j = c.get(f"/jobs/{jid}").json()
            ok = all(v["metrics"].get("numRecordsOutPerSecond", 0) > 0 for v in j["vertices"])
            # (the sink's watermark is the least of both partitions': none until the source has read each)
            ok = ok and all("watermark" in v["metrics"] for v in j["vertices"] if v["kind"] == "sink")
            return j if ok and j["checkpoints"]["counts"]["completed"] else None

        j = wait_for(job, what="every vertex moving, the sink's watermark and a checkpoint")
        by_name = {v["name"]: v for v in j["vertices"]}
        assert by_name["events"]["topics_in"] == ["in"] and by_name["events"]["kind"] == "source"
        assert by_name["LogSink"]["topics_out"] == ["out"] and by_name["LogSink"]["kind"] == "sink"
        assert by_name["parse"]["inputs"] == [by_name["events"]["id"]]
        assert "records-lag-max" in by_name["events"]["metrics"]
        assert by_name["LogSink"]["metrics"]["watermarkLagMs"] >= 0
        assert j["checkpoints"]["history"][0]["status"] == "COMPLETED"
        assert j["config"]["checkpoint_interval"] == 200 and j["advice"]
        # the log the job uses is the one the console shows
        assert c.get("/topics").json()["log"] == running["log"]
        ov = c.get("/overview").json()
        edges = {(e["from"], e["to"]) for e in ov["lineage"]["edges"]}
        assert ("topic:in", f"job:{jid}:0") in edges and (f"job:{jid}:0", "topic:out") in edges
        unknown = c.get("/jobs/0123456789abcdef0123456789abcdef")
        assert unknown.status_code == 404 and "not found" in unknown.json()["errors"][0]
        # the Flink REST API on the same port is unchanged
        assert c.get(running["url"] + "/jobs").json()["jobs"]
        running["client"].cancel()
        ended = c.get(f"/jobs/{jid}").json()
        assert ended["state"] == "CANCELED" and "has ended (CANCELED)" in ended["ended"]
        assert ended["advice"][0]["title"].startswith("the job has ended")


def test_millstream_console_shows_jobs_of_another_process_by_url(running) -> None:
    server = ConsoleServer(running["log"], port=0, jobs_urls=(running["url"],))
    try:
        with httpx.Client(base_url=server.http.url + "/console/api", timeout=10) as c:
            jobs = c.get("/jobs").json()["jobs"]
            assert running["client"].jid in [j["jid"] for j in jobs]
            detail = c.get(f"/jobs/{running['client'].jid}").json()
            assert {v["name"] for v in detail["vertices"]} == {"events", "parse", "LogSink"}
            advice = c.get("/advice").json()["jobs"]
            assert any(a["jid"] == running["client"].jid and a["advice"] for a in advice)
    finally:
        server.close()
    down = ConsoleServer(running["log"], port=0, jobs_urls=("http://127.0.0.1:9",))
    try:
        errors = httpx.get(down.http.url + "/console/api/overview", timeout=10).json()["errors"]
        assert any("cannot reach http://127.0.0.1:9" in e for e in errors)
    finally:
        down.close()


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A Connect worker (herder + REST API on a free port) on a file:// log, running datagen."""
    url = f"file://{tmp_path / 'clog'}"
    herder = Herder({"offset.flush.interval.ms": "100"}, open_log(url), worker_id="console-test:0")
    herder.start()
    rest = RestServer(herder, "127.0.0.1", 0)
    rest.start()
    try:
        yield {"url": rest.url, "log": url, "herder": herder}
    finally:
        rest.stop()
        herder.stop()


DATAGEN = {
    "connector.class": "DatagenConnector",
    "kafka.topic": "clicks",
    "quickstart": "clickstream",
    "max.interval": "10",
    "tasks.max": "1",
}


def _rate(c: httpx.Client, name: str) -> tuple[str, float | None]:
    [row] = [x for x in c.get("/connectors").json()["connectors"] if x["name"] == name]
    return row["state"], row["rate"]


def _savepoint_through(c: httpx.Client, jid: str, action: str, target: Path) -> str:
    body = {"targetDirectory": str(target)} if action == "stop" else {"target-directory": str(target)}
    resp = c.post(f"/jobs/{jid}/{action}", json=body)
    assert resp.status_code == 200, resp.text
    trigger = resp.json()["request-id"]

    def done():
        st = c.get(f"/jobs/{jid}/savepoints/{trigger}").json()
        return st["status"]["id"] == "COMPLETED" and st

    st = wait_for(done, timeout=60, what=f"the {action}")
    return str(st["operation"]["location"])


def test_job_control_through_the_console_on_its_port_and_from_another_process(running, tmp_path: Path) -> None:
    client = running["client"]
    jid = client.jid
    wait_for(lambda: client.runner.summary.stats, what="a first checkpoint")
    with httpx.Client(base_url=running["url"] + "/console/api", timeout=10) as c:  # the job's own port
        assert Path(_savepoint_through(c, jid, "savepoints", tmp_path / "local")).is_dir()
        refused = c.post(f"/jobs/{jid}/stop", json={"targetDirectory": str(tmp_path), "drain": True})
        assert refused.status_code == 400 and "drain" in refused.json()["errors"][0]
        assert c.patch(f"/jobs/{'0' * 32}?mode=cancel").status_code == 404
    # what `millstream console --jobs URL` does in another process: forward to the job's REST API by URL
    remote = RemoteJobs(HttpClient(running["url"]))
    assert remote.control("f" * 32, "PATCH", f"/jobs/{'f' * 32}?mode=cancel") is None  # not its job
    status, answer = remote.control(jid, "POST", f"/jobs/{jid}/stop", {"targetDirectory": str(tmp_path / "remote")})
    assert status == 202
    st = wait_for(
        lambda: (
            (a := remote.control(jid, "GET", f"/jobs/{jid}/savepoints/{answer['request-id']}")[1])["status"]["id"]
            == "COMPLETED"
            and a
        ),
        timeout=60,
        what="the stop",
    )
    assert Path(st["operation"]["location"]).parent == tmp_path / "remote"
    assert client.wait(30) and client.get_job_status() == "FINISHED"
    with httpx.Client(base_url=running["url"] + "/console/api", timeout=10) as c:
        ended = c.patch(f"/jobs/{jid}?mode=cancel")
        assert ended.status_code == 409 and "FINISHED" in ended.json()["errors"][0]


def test_connectors_on_the_worker_port_pause_resume_validate_create(worker) -> None:
    with httpx.Client(base_url=worker["url"] + "/console/api", timeout=10) as c:
        r = c.post("/connectors", json={"name": "gen", "config": DATAGEN})
        assert r.status_code == 201, r.text
        wait_for(lambda: (_rate(c, "gen")[1] or 0) > 0, what="datagen records/s")
        row = next(x for x in c.get("/connectors").json()["connectors"] if x["name"] == "gen")
        assert row["type"] == "source" and row["topics"] == ["clicks"] and row["tasks"][0]["state"] == "RUNNING"
        assert c.put("/connectors/gen/pause").json()["status"]["connector"]["state"] in ("RUNNING", "PAUSED")
        paused = time.monotonic()
        wait_for(lambda: _rate(c, "gen") == ("PAUSED", 0.0), timeout=5, what="records/s 0 after pause")
        assert time.monotonic() - paused < 5
        c.put("/connectors/gen/resume")
        wait_for(lambda: (_rate(c, "gen")[1] or 0) > 0, timeout=10, what="records/s after resume")
        detail = c.get("/connectors/gen").json()
        assert detail["info"]["config"]["kafka.topic"] == "clicks" and detail["tasks"]
        plugins = [p["class"] for p in c.get("/plugins").json()["plugins"]]
        assert any(p.endswith("DatagenConnector") for p in plugins)
        keys = {k["name"] for k in c.get("/plugins/DatagenConnector/config").json()["configs"]}
        assert {"kafka.topic", "max.interval"} <= keys
        bad = c.put("/plugins/DatagenConnector/validate", json={**DATAGEN, "name": "x", "max.interval": "soon"})
        assert bad.status_code == 200 and bad.json()["error_count"] >= 1
        errs = {x["value"]["name"]: x["value"]["errors"] for x in bad.json()["configs"]}
        assert errs["max.interval"] and "soon" in errs["max.interval"][0]
        create_bad = c.post("/connectors", json={"name": "bad", "config": {**DATAGEN, "max.interval": "soon"}})
        assert create_bad.status_code == 400 and "max.interval" in create_bad.json()["message"]
        assert c.post("/connectors/gen/restart").status_code == 200
        assert c.delete("/connectors/gen").json() == {"name": "gen", "deleted": True}
        missing = c.put("/connectors/gen/pause")
        assert missing.status_code == 404 and "not found" in missing.json()["message"]
        # topics of the worker's log on the same page
        assert "clicks" in [t["name"] for t in c.get("/topics").json()["topics"]]
        # Kafka Connect's REST API on the same port is unchanged
        assert httpx.get(worker["url"] + "/connectors").json() == []


def test_millstream_console_reads_a_remote_worker(worker) -> None:
    with httpx.Client(base_url=worker["url"], timeout=10) as w:
        assert w.post("/connectors", json={"name": "gen2", "config": DATAGEN}).status_code == 201
    server = ConsoleServer(worker["log"], port=0, connect_urls=(worker["url"],))
    try:
        with httpx.Client(base_url=server.http.url + "/console/api", timeout=10) as c:
            wait_for(lambda: (_rate(c, "gen2")[1] or 0) > 0, what="remote datagen records/s")
            ov = c.get("/overview").json()
            edge = next(e for e in ov["lineage"]["edges"] if e["to"] == "topic:clicks")
            assert edge["from"].endswith(":gen2")
            c.put("/connectors/gen2/pause")
            wait_for(lambda: _rate(c, "gen2") == ("PAUSED", 0.0), timeout=5, what="paused")
    finally:
        server.close()


def test_millstream_console_finds_the_jobs_registered_in_its_log_and_cancels_one(tmp_path: Path) -> None:
    """A `millstream run` in another process registers its job in the log; a console over that log (no --jobs
    URL) shows it and cancels it through the job's REST endpoint."""
    import subprocess
    import sys
    import textwrap

    from ..cli.test_job_control import CHECKPOINTS, PIPELINE
    from ..product.conftest import cli_env

    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("in", 2)
        log.create_topic("out", 1)
    (tmp_path / "p.py").write_text(textwrap.dedent(PIPELINE.format(checkpointing=CHECKPOINTS, name="elsewhere")))
    proc = subprocess.Popen(
        [sys.executable, "-m", "millstream", "run", "p.py", "--log", url, "--quiet"], cwd=tmp_path, env=cli_env()
    )
    server = ConsoleServer(url, port=0)
    try:
        with httpx.Client(base_url=server.http.url + "/console/api", timeout=10) as c:
            jobs = wait_for(
                lambda: [j for j in c.get("/jobs").json()["jobs"] if j["name"] == "elsewhere"], what="the job"
            )
            jid = jobs[0]["jid"]
            assert {v["name"] for v in c.get(f"/jobs/{jid}").json()["vertices"]} == {"events", "copy", "LogSink"}
            assert c.patch(f"/jobs/{jid}?mode=cancel").status_code == 200
            assert proc.wait(timeout=60) == 0
    finally:
        server.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
