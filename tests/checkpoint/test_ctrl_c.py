"""Ctrl-C on ``millstream run`` stops the job like Flink's ``stop``: sources stop at a round boundary, the final
checkpoint is taken and commits the exactly-once output, the command exits 130; a second run with the same
``--job-id`` resumes from that checkpoint with nothing lost and nothing duplicated. Real processes, a real
SIGINT, the embedded log on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import crash_job
import pytest

from millstream.log import open_log
from millstream.runtime.checkpoint_storage import CheckpointStorage

SRC = str(Path(__file__).resolve().parents[2] / "src")
EVENTS = 30_000

PIPELINE = """
import os, time
from millstream import CheckpointingMode, StreamExecutionEnvironment
from millstream.connectors import DeliveryGuarantee, LogSink, LogSource, OffsetsInitializer

env = StreamExecutionEnvironment.get_execution_environment()
env.set_batch_size(200)
# a long interval: the only checkpoint of the first run is the final one Ctrl-C takes
env.enable_checkpointing(600_000, CheckpointingMode.EXACTLY_ONCE)
env.get_checkpoint_config().set_checkpoint_storage_dir(os.environ["CHK_DIR"])
src = LogSource.builder().set_topics("events").set_group_id("stop-job").set_starting_offsets(
    OffsetsInitializer.earliest())
if os.environ.get("BOUNDED"):
    src = src.set_bounded(OffsetsInitializer.latest())
seen = [0]

def slow(e):
    seen[0] += 1
    if seen[0] == 1000:
        print("progress", flush=True)
    if not os.environ.get("BOUNDED"):
        time.sleep(0.0002)
    return {"i": e["i"], "key": e["key"]}

sink = LogSink.builder().set_topic("out").set_key_selector(lambda e: e["key"]).set_delivery_guarantee(
    DeliveryGuarantee.EXACTLY_ONCE).build()
env.from_source(src.build(), None, "events").uid("events").map(slow).uid("slow").sink_to(sink).uid("out")
env.execute("stop-job")
"""


def _env(chk: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH", "")) if p)
    env.pop("MILLSTREAM_LOG", None)
    env["CHK_DIR"] = str(chk)
    env.update(extra)
    return env


def _run(tmp_path: Path, url: str, chk: Path, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "millstream", "run", "pipeline.py", "--log", url, "--job-id", "stop-job"],
        cwd=tmp_path,
        env=_env(chk, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_ctrl_c_takes_a_final_checkpoint_and_the_restart_resumes_exactly(
    tmp_path: Path, sig: int, code: int, word: str
) -> None:
    """Ctrl-C (SIGINT), and SIGTERM as a supervisor sends it, both stop with a final checkpoint."""
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    url = f"file://{tmp_path}/log"
    chk = tmp_path / "chk"
    with open_log(url) as log:
        crash_job.produce(log, EVENTS)
        log.create_topic("out", 2, {"retention.ms": -1})
    proc = _run(tmp_path, url, chk)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "progress", proc.stderr.read() if proc.stderr else ""
        time.sleep(0.3)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert f"{word}: job stopped with final checkpoint 1" in err, err
    assert "--job-id" in err
    assert CheckpointStorage(chk, "stop-job").completed_ids() == [1]
    with open_log(url) as log:
        first = crash_job.topic_values(log, "out")
        marker = log.get_state("millstream.checkpoint/stop-job")
    n_first = sum(map(len, first.values()))
    assert 1000 <= n_first < EVENTS, f"stopped after {n_first} events: Ctrl-C came too late to test a resume"
    assert marker is not None and b'"checkpoint_id": 1' in marker  # the output committed with checkpoint 1
    # the second run resumes from the final checkpoint and runs to the end of the input
    second = _run(tmp_path, url, chk, BOUNDED="1")
    _out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    with open_log(url) as log:
        got = crash_job.topic_values(log, "out")
    every = sorted(v["i"] for vals in got.values() for v in vals)
    assert every == list(range(EVENTS)), "lost or duplicated events across the Ctrl-C and the restart"
    for p, vals in first.items():
        assert got[p][: len(vals)] == vals  # the first run's committed output stays as it was


def test_ctrl_c_without_checkpointing_stops_the_job(tmp_path: Path) -> None:
    """Without checkpointing Ctrl-C still stops cleanly (sinks flush) and says so."""
    (tmp_path / "pipeline.py").write_text(
        textwrap.dedent(PIPELINE)
        .replace("env.enable_checkpointing(600_000, CheckpointingMode.EXACTLY_ONCE)", "")
        .replace(".set_delivery_guarantee(\n    DeliveryGuarantee.EXACTLY_ONCE)", "")
    )
    url = f"file://{tmp_path}/log"
    with open_log(url) as log:
        crash_job.produce(log, 5_000)
        log.create_topic("out", 2, {"retention.ms": -1})
    proc = _run(tmp_path, url, tmp_path / "chk")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "progress", proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == "interrupted: job stopped", err
    with open_log(url) as log:
        got = crash_job.topic_values(log, "out")
    n = sum(map(len, got.values()))
    assert n >= 1000  # what the job processed before the stop was flushed to the log
