"""Scrape a job running in this process (``env.execute_async``) over real HTTP: Prometheus text and the
Flink-shaped REST API, on the embedded log on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink, LogSource
from millstream.core import sensors
from millstream.core.record import ProducerRecord
from millstream.log import open_log
from millstream.observe import Monitoring
from millstream.windows import TumblingEventTimeWindows

from ._support import Producer, get, prometheus, wait_for

V = "flink_taskmanager_job_task_operator_"
J = "flink_jobmanager_job_"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A windowed job on a growing file:// topic with checkpoints every 200 ms, monitored on a free port."""
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
            .key_by(lambda e: e["k"])
            .window(TumblingEventTimeWindows.of(Duration.of_seconds(1)))
            .reduce(lambda a, b: {"k": a["k"], "n": a["n"] + b["n"]})
            .name("sum per second")
            .sink_to(LogSink.builder().set_log(url).set_topic("out").build())
        )
        client = env.execute_async("scraped")
        try:
            yield {"url": mon.url, "client": client, "log": url, "registry": mon.registry}
        finally:
            producer.stop()
            client.cancel()
    assert not sensors.installed()


def test_prometheus_text_has_flink_names_with_growing_values(running: dict[str, Any]) -> None:
    metrics_url = running["url"] + "/metrics"
    first = wait_for(
        lambda: (m := prometheus(metrics_url)).get((V + "numRecordsIn", "events"), 0) > 0 and m,
        what="the source's first records",
    )
    second = wait_for(
        lambda: (
            (m := prometheus(metrics_url))[(V + "numRecordsIn", "events")] > first[(V + "numRecordsIn", "events")]
            and m[(V + "currentInputWatermark", "sum per second")]
            > first[(V + "currentInputWatermark", "sum per second")]
            and m.get((J + "numberOfCompletedCheckpoints", "scraped"), 0) >= 1
            and m
        ),
        what="records, watermark and checkpoints to advance",
    )
    for name in ("numRecordsIn", "numRecordsOut", "numRecordsInPerSecond", "numRecordsOutPerSecond"):
        assert second[(V + name, "parse")] > 0, name
    assert second[(V + "numRecordsOut", "parse")] <= second[(V + "numRecordsIn", "events")]
    assert 0 <= second[(V + "busyTimeMsPerSecond", "parse")] <= 1000
    assert 0 <= second[(V + "backPressuredTimeMsPerSecond", "LogSink")] <= 1000
    assert second[(V + "numLateRecordsDropped", "sum per second")] == 0
    assert second[(V + "records_lag_max", "events")] >= 0
    assert second[(J + "lastCheckpointDuration", "scraped")] > 0
    assert second[(J + "lastCheckpointSize", "scraped")] > 0
    assert second[(J + "numberOfFailedCheckpoints", "scraped")] == 0
    # the watermark is event time: the producer's timestamps are n * 100 ms
    wm = second[(V + "currentOutputWatermark", "events")]
    assert 0 < wm < 10**9

    # a record far behind the watermark is dropped by the window, and counted
    with open_log(running["log"]) as log:
        log.append("in", 0, [ProducerRecord(b'{"k": 1, "n": 0}', None, 1)])
    wait_for(
        lambda: prometheus(metrics_url).get((V + "numLateRecordsDropped", "sum per second"), 0) == 1,
        what="the late record to be counted",
    )


def test_rest_api_shapes(running: dict[str, Any]) -> None:
    base = running["url"]
    client = running["client"]
    status, jobs = get(base + "/jobs")
    assert status == 200
    assert {"id": client.jid, "status": "RUNNING"} in jobs["jobs"]

    status, overview = get(base + "/jobs/overview")
    mine = next(j for j in overview["jobs"] if j["jid"] == client.jid)
    assert mine["name"] == "scraped" and mine["state"] == "RUNNING" and mine["end-time"] == -1
    assert mine["tasks"]["total"] == 4 and mine["tasks"]["running"] == 4

    wait_for(lambda: get(base + f"/jobs/{client.jid}")[1]["vertices"][0]["metrics"]["read-records"] > 0)
    status, job = get(base + f"/jobs/{client.jid}")
    assert status == 200
    assert {"jid", "name", "state", "start-time", "end-time", "duration", "vertices", "plan"} <= set(job)
    assert job["jid"] == client.jid and job["state"] == "RUNNING" and job["duration"] >= 0
    names = [v["name"] for v in job["vertices"]]
    assert names == ["events", "parse", "sum per second", "LogSink"]
    for v in job["vertices"]:
        assert len(v["id"]) == 32 and v["parallelism"] == 1 and v["status"] == "RUNNING"
        assert {"read-records", "write-records"} <= set(v["metrics"])
    plan = {n["id"]: n for n in job["plan"]["nodes"]}
    window_vertex = job["vertices"][2]["id"]
    assert [i["id"] for i in plan[window_vertex]["inputs"]] == [job["vertices"][1]["id"]]

    vid = job["vertices"][0]["id"]
    status, listed = get(base + f"/jobs/{client.jid}/vertices/{vid}/metrics")
    ids = {m["id"] for m in listed}
    assert {"0.numRecordsIn", "0.numRecordsOutPerSecond", "0.currentOutputWatermark", "0.records-lag-max"} <= ids
    status, values = get(
        base + f"/jobs/{client.jid}/vertices/{vid}/metrics?get=0.numRecordsIn,0.nothing,0.records-lag-max"
    )
    assert [v["id"] for v in values] == ["0.numRecordsIn", "0.records-lag-max"]
    assert int(values[0]["value"]) > 0 and isinstance(values[0]["value"], str)

    wait_for(lambda: get(base + f"/jobs/{client.jid}/checkpoints")[1]["counts"]["completed"] >= 2)
    status, cps = get(base + f"/jobs/{client.jid}/checkpoints")
    assert set(cps["counts"]) == {"restored", "total", "in_progress", "completed", "failed"}
    latest = cps["latest"]["completed"]
    assert latest["status"] == "COMPLETED" and latest["@class"] == "completed"
    assert latest["state_size"] > 0 and latest["end_to_end_duration"] >= 0
    assert latest["trigger_timestamp"] <= latest["latest_ack_timestamp"]
    assert cps["history"][0]["id"] == latest["id"] and cps["history"][0]["id"] > cps["history"][-1]["id"]
    assert cps["latest"]["failed"] is None

    def completed_metric() -> int:
        listed = get(base + f"/jobs/{client.jid}/metrics?get=numberOfCompletedCheckpoints")[1]
        return int(listed[0]["value"]) if listed else 0

    # the metric is reported at most once a second, so it can lag the REST checkpoint counts just read
    assert wait_for(completed_metric, what="numberOfCompletedCheckpoints >= 1") >= 1


def test_unknown_job_vertex_and_path_are_404_json(running: dict[str, Any]) -> None:
    base = running["url"]
    jid = running["client"].jid
    for path in (
        "/jobs/00000000000000000000000000000000",
        "/jobs/00000000000000000000000000000000/checkpoints",
        f"/jobs/{jid}/vertices/ffffffffffffffffffffffffffffffff/metrics",
        "/nothing/here",
    ):
        status, body = get(base + path)
        assert status == 404, path
        assert isinstance(body["errors"], list) and body["errors"][0], path


def test_finished_job_shows_its_end(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("out", 1)
    with Monitoring(0) as mon:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_collection(list(range(1000))).map(lambda x: x * 2).sink_to(
            LogSink.builder().set_log(url).set_topic("out").build()
        )
        client = env.execute_async("short")
        assert client.wait(30)
        status, job = get(f"{mon.url}/jobs/{client.jid}")
        assert status == 200 and job["state"] == "FINISHED" and job["end-time"] >= job["start-time"] > 0
        assert [v["metrics"]["write-records"] for v in job["vertices"]] == [1000, 1000, 1000]
        assert [v["status"] for v in job["vertices"]] == ["FINISHED"] * 3
