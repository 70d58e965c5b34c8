"""``millstream run`` as a real subprocess: scrape its --metrics-port while it runs; progress on and off."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from millstream.log import open_log

from ..product.conftest import cli_env
from ._support import Producer, get, prometheus, wait_for

V = "flink_taskmanager_job_task_operator_"
J = "flink_jobmanager_job_"

FOLLOW = """
from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink, LogSource
from millstream.windows import TumblingEventTimeWindows

env = StreamExecutionEnvironment.get_execution_environment()
env.enable_checkpointing(200)
env.get_checkpoint_config().set_checkpoint_storage_dir("cp")
(
    env.from_source(LogSource.builder().set_topics("in").set_group_id("g").build(),
                    WatermarkStrategy.for_monotonous_timestamps(), "events")
    .key_by(lambda e: e["k"])
    .window(TumblingEventTimeWindows.of(Duration.of_seconds(1)))
    .reduce(lambda a, b: {"k": a["k"], "n": a["n"] + b["n"]})
    .name("sum per second")
    .sink_to(LogSink.builder().set_topic("out").build())
)
env.execute("follow")
"""

BOUNDED = """
from millstream import StreamExecutionEnvironment
from millstream.connectors import LogSink

env = StreamExecutionEnvironment.get_execution_environment()
env.from_collection(list(range(500))).map(lambda x: x + 1).name("plus one").sink_to(
    LogSink.builder().set_topic("out").build())
env.execute("bounded")
"""


def _setup(tmp_path: Path, text: str, *topics: str) -> str:
    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        for t in topics:
            log.create_topic(t, 2)
    (tmp_path / "p.py").write_text(textwrap.dedent(text))
    return url


def test_scrape_a_running_millstream_run(tmp_path: Path) -> None:
    url = _setup(tmp_path, FOLLOW, "in", "out")
    producer = Producer(url).start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "millstream", "run", "p.py", "--log", url, "--metrics-port", "0", "--quiet"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        metrics_line = proc.stderr.readline().strip()
        rest_line = proc.stderr.readline().strip()
        assert metrics_line.startswith("metrics: http://127.0.0.1:") and metrics_line.endswith("/metrics")
        base = metrics_line.split()[1].removesuffix("/metrics")
        assert rest_line == f"rest:    {base}/jobs"

        first = wait_for(
            lambda: (m := prometheus(base + "/metrics")).get((V + "numRecordsIn", "events"), 0) > 0 and m,
            what="the first records",
        )
        later = wait_for(
            lambda: (
                (m := prometheus(base + "/metrics"))[(V + "numRecordsIn", "events")]
                > first[(V + "numRecordsIn", "events")]
                and m.get((J + "numberOfCompletedCheckpoints", "follow"), 0) >= 1
                and m[(V + "currentInputWatermark", "sum per second")] > 0
                and m
            ),
            what="records and checkpoints to advance",
        )
        assert later[(V + "numRecordsInPerSecond", "events")] > 0
        assert later[(J + "lastCheckpointSize", "follow")] > 0

        status, jobs = get(base + "/jobs")
        assert status == 200 and len(jobs["jobs"]) == 1 and jobs["jobs"][0]["status"] == "RUNNING"
        jid = jobs["jobs"][0]["id"]
        status, job = get(f"{base}/jobs/{jid}")
        assert job["name"] == "follow" and [v["name"] for v in job["vertices"]] == [
            "events",
            "sum per second",
            "LogSink",
        ]
        status, cps = get(f"{base}/jobs/{jid}/checkpoints")
        assert status == 200 and cps["counts"]["completed"] >= 1
        assert get(f"{base}/jobs/{jid}x")[0] == 404

        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        producer.stop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    # --quiet: no progress table, only the stop line (this job checkpoints, so the stop takes a final one)
    assert re.fullmatch(
        r"interrupted: job stopped with final checkpoint \d+; run it again with the same --job-id to resume",
        err.strip(),
    ), err


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "millstream", "run", "p.py", "--log", f"file://{tmp_path / 'log'}", *args],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_progress_forced_quiet_and_default(tmp_path: Path) -> None:
    _setup(tmp_path, BOUNDED, "out")
    forced = _run(tmp_path, "--progress")
    assert forced.returncode == 0, forced.stderr
    assert "out/s" in forced.stderr and "plus one" in forced.stderr and "500" in forced.stderr
    assert "bounded  FINISHED" in forced.stderr
    for args in (("--quiet",), (), ("--progress", "--quiet")):
        res = _run(tmp_path, *args)  # stderr is a pipe, not a terminal: no progress unless forced
        assert res.returncode == 0, res.stderr
        assert res.stderr == "", args
