"""Tuning advice: a real job whose idle partition holds the watermark back, and each rule on a real job's JSON
with the metric it reads changed (busy, back pressure, lag growth, slow checkpoints)."""

from __future__ import annotations

import copy
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import orjson

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink, LogSource
from millstream.console.advice import advise, format_advice
from millstream.console.lineage import RateTracker
from millstream.core.record import ProducerRecord
from millstream.log import open_log
from millstream.observe import Monitoring
from millstream.windows import TumblingEventTimeWindows

from ..observe._support import wait_for


def _one_partition_producer(url: str, stop: threading.Event) -> None:
    with open_log(url) as log:
        n = 0
        while not stop.wait(0.02):
            n += 1
            log.append("in", 0, [ProducerRecord(orjson.dumps({"k": n % 3}), None, n * 100)])


def test_an_idle_partition_holding_the_watermark_back_is_named_with_the_fix(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("in", 2)
        log.create_topic("out", 1)
    stop = threading.Event()
    producer = threading.Thread(target=_one_partition_producer, args=(url, stop), daemon=True)
    producer.start()
    with Monitoring(0) as mon:
        env = StreamExecutionEnvironment.get_execution_environment()
        source = LogSource.builder().set_log(url).set_topics("in").build()
        (
            env.from_source(source, WatermarkStrategy.for_monotonous_timestamps(), "events")
            .key_by(lambda e: e["k"])
            .window(TumblingEventTimeWindows.of(Duration.of_seconds(1)))
            .reduce(lambda a, b: a)
            .sink_to(LogSink.builder().set_log(url).set_topic("out").build())
        )
        client = env.execute_async("held back")
        try:

            def finding():
                j = httpx.get(f"{mon.url}/console/api/jobs/{client.jid}", timeout=10).json()
                return [a for a in j["advice"] if "holds the watermark back" in a["title"]]

            [f] = wait_for(finding, what="the idle-partition finding")
            assert "in-1" in f["title"] and "with_idleness" in f["fix"]
            # the same advice in the terminal: millstream console --advice --jobs URL
            out = subprocess.run(
                [sys.executable, "-m", "millstream", "console", "--advice", "--jobs", mon.url],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.returncode == 0, out.stderr
            assert "held back" in out.stdout and "with_idleness" in out.stdout
        finally:
            stop.set()
            client.cancel()


def _job(tmp_path: Path) -> dict:
    """A real job's console JSON (a finished one, reported as running for the rules below)."""
    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("out", 1)
    with Monitoring(0) as mon:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_collection(list(range(100))).map(lambda x: x).name("work").sink_to(
            LogSink.builder().set_log(url).set_topic("out").build()
        )
        client = env.execute_async("rules")
        assert client.wait(30)
        job = httpx.get(f"{mon.url}/console/api/jobs/{client.jid}", timeout=10).json()
    job["state"] = "RUNNING"
    for v in job["vertices"]:  # a bounded job computes all the time: start the rules from a quiet job
        v["metrics"].update(busyTimeMsPerSecond=100.0, backPressuredTimeMsPerSecond=0.0)
    return job


def test_each_rule_names_the_bottleneck_and_the_change(tmp_path: Path) -> None:
    base = _job(tmp_path)
    assert [a["title"] for a in advise(base)] == ["no bottleneck found"]
    ended = dict(base, state="FINISHED")
    assert advise(ended)[0]["title"] == "the job has ended (FINISHED)"

    busy = copy.deepcopy(base)
    for v in busy["vertices"]:
        v["metrics"].update(busyTimeMsPerSecond=950.0, numRecordsInPerSecond=10.0)
    busy["vertices"][1]["metrics"]["numRecordsInPerSecond"] = 99.0
    [f] = advise(busy)
    assert "busy 95%" in f["title"] and "'work'" in f["fix"] and "parallelism" in f["fix"]

    one = copy.deepcopy(base)
    one["vertices"][1]["parallelism"] = 2
    one["vertices"][1]["metrics"]["busyTimeMsPerSecond"] = 900.0
    [f] = advise(one)
    assert f["title"].startswith("'work' is the bottleneck") and "set_parallelism(4)" in f["fix"]

    bp = copy.deepcopy(base)
    bp["vertices"][2]["metrics"]["backPressuredTimeMsPerSecond"] = 400.0
    [f] = advise(bp)
    assert "back pressure: 40%" in f["title"] and "out" in f["detail"] and "partitions" in f["fix"]

    cp = copy.deepcopy(base)
    cp["checkpoint_interval_ms"] = 100
    cp["metrics"]["lastCheckpointDuration"] = 250.0
    [f] = advise(cp)
    assert "longer than their 100 ms interval" in f["title"] and "enable_checkpointing(750)" in f["fix"]

    tracker = RateTracker()
    lagging = copy.deepcopy(base)
    lagging["vertices"][0]["metrics"]["records-lag-max"] = 100.0
    lagging["vertices"][0]["topics_in"] = ["in"]
    advise(lagging, {}, tracker)
    import time

    time.sleep(0.6)
    lagging["vertices"][0]["metrics"]["records-lag-max"] = 400.0
    [f] = advise(lagging, {}, tracker)
    assert "consumer lag" in f["title"] and "grows" in f["title"] and "more partitions" in f["fix"]
    assert "fix:" in format_advice(lagging, [f])
