"""Job control from another process, with real processes on a ``file://`` log: ``millstream run`` (foreground and
``--detached``) registers its job in the log; ``millstream jobs list|describe|savepoint|stop|cancel --log URL``
find and control it; bad input is one clear error line and a non-zero exit code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from millstream.core.record import ProducerRecord
from millstream.log import open_log
from millstream.runtime.checkpoint_storage import load_checkpoint
from millstream.runtime.job_registry import EXPIRY_MS, JOBS_TOPIC, JobEntry, JobRegistry, UnknownJobError

from ..observe._support import Producer, wait_for
from ..product.conftest import cli_env

PIPELINE = """
from millstream import StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink, LogSource

env = StreamExecutionEnvironment.get_execution_environment()
{checkpointing}
(
    env.from_source(LogSource.builder().set_topics("in").set_group_id("g").build(),
                    WatermarkStrategy.for_monotonous_timestamps(), "events")
    .map(lambda e: e).name("copy")
    .sink_to(LogSink.builder().set_topic("out").build())
)
env.execute("{name}")
"""
CHECKPOINTS = 'env.enable_checkpointing(200)\nenv.get_checkpoint_config().set_checkpoint_storage_dir("cp")'


def _setup(tmp_path: Path) -> str:
    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("in", 2)
        log.create_topic("out", 1)
    (tmp_path / "cp.py").write_text(textwrap.dedent(PIPELINE.format(checkpointing=CHECKPOINTS, name="copier")))
    (tmp_path / "plain.py").write_text(textwrap.dedent(PIPELINE.format(checkpointing="", name="plain")))
    return url


def ms(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "millstream", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def listed(url: str, cwd: Path, *flags: str) -> list[dict[str, Any]]:
    res = ms("jobs", "list", "--json", "--log", url, *flags, cwd=cwd)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def one_error_line(res: subprocess.CompletedProcess[str], *words: str) -> None:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    first = res.stderr.splitlines()[0]
    assert first.startswith("error: "), res.stderr
    for w in words:
        assert w in first, res.stderr


def test_run_list_describe_savepoint_stop(tmp_path: Path) -> None:
    url = _setup(tmp_path)
    producer = Producer(url).start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "millstream", "run", "cp.py", "--log", url, "--quiet"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        jobs = wait_for(lambda: [j for j in listed(url, tmp_path) if j["state"] == "RUNNING"], what="the job listed")
        assert len(jobs) == 1
        job = jobs[0]
        assert job["name"] == "copier" and job["pid"] == proc.pid and re.fullmatch(r"[0-9a-f]{32}", job["jid"])
        assert job["rest"].startswith("http://127.0.0.1:")

        table = ms("jobs", "list", "--log", url, cwd=tmp_path).stdout
        assert job["jid"] in table and "RUNNING" in table and job["rest"] in table

        wait_for(lambda: "checkpoint: none" not in ms("jobs", "describe", "copier", "--log", url, cwd=tmp_path).stdout)
        described = ms("jobs", "describe", job["jid"][:8], "--log", url, cwd=tmp_path)
        assert described.returncode == 0, described.stderr
        for words in ("state:      RUNNING", "events", "copy", "LogSink", "checkpoint: "):
            assert words in described.stdout, described.stdout

        sp = ms(
            "jobs", "savepoint", job["jid"], "--log", url, "--target-directory", str(tmp_path / "sps"), cwd=tmp_path
        )
        assert sp.returncode == 0, sp.stderr
        location = Path(sp.stdout.strip().rsplit(" ", 1)[1])
        assert location.parent == tmp_path / "sps" and location.is_dir()
        assert load_checkpoint(location).manifest["kind"] == "savepoint"
        assert proc.poll() is None  # a savepoint leaves the job running

        stop = ms("jobs", "stop", job["jid"], "--log", url, "-d", str(tmp_path / "stopped"), cwd=tmp_path)
        assert stop.returncode == 0, stop.stderr
        final = Path(stop.stdout.strip().rsplit(" ", 1)[1])
        assert final.is_dir() and load_checkpoint(final).checkpoint_id >= load_checkpoint(location).checkpoint_id
        assert proc.wait(timeout=60) == 0
        assert listed(url, tmp_path) == []
        assert [j["state"] for j in listed(url, tmp_path, "--all")] == ["FINISHED"]
    finally:
        producer.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_detached_run_is_cancelled_by_id(tmp_path: Path) -> None:
    url = _setup(tmp_path)
    started = ms("run", "--detached", "cp.py", "--log", url, cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    jid = started.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", jid), started.stdout
    assert f"millstream jobs cancel {jid}" in started.stderr
    (entry,) = listed(url, tmp_path)
    assert entry["jid"] == jid and entry["state"] in ("CREATED", "RUNNING")
    pid = entry["pid"]
    os.kill(pid, 0)  # the background run outlived the command that started it

    cancelled = ms("jobs", "cancel", jid, "--log", url, cwd=tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.strip() == f"cancelled job {jid} (copier)"

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{pid}/stat") as fh:  # a zombie (its parent was this test's child, now gone) is gone
            return fh.read().split()[2] == "Z"

    wait_for(gone, timeout=30, what="the detached run to exit")
    assert [j["state"] for j in listed(url, tmp_path, "--all")] == ["CANCELED"]


def test_bad_input_is_one_line_each(tmp_path: Path) -> None:
    url = _setup(tmp_path)
    one_error_line(ms("jobs", "cancel", "0123456789abcdef", "--log", url, cwd=tmp_path), "no running job", url)
    one_error_line(ms("jobs", "describe", "nope", "--log", url, cwd=tmp_path), "no running job")

    started = ms("run", "-d", "plain.py", "--log", url, cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    jid = started.stdout.strip()
    try:
        res = ms("jobs", "savepoint", jid, "--log", url, "--target-directory", str(tmp_path / "sp"), cwd=tmp_path)
        one_error_line(res, "without checkpointing", "env.enable_checkpointing")
        assert len(res.stderr.splitlines()) == 1
        res = ms("jobs", "stop", jid, "--log", url, cwd=tmp_path)
        one_error_line(res, "without checkpointing")
        assert not (tmp_path / "sp").exists()
        verbose = ms("--verbose", "jobs", "savepoint", jid, "--log", url, "-d", str(tmp_path / "sp"), cwd=tmp_path)
        assert verbose.returncode == 1 and "Traceback" in verbose.stderr
    finally:
        assert ms("jobs", "cancel", jid, "--log", url, cwd=tmp_path).returncode == 0


def _entry(jid: str, name: str, status: str, heartbeat: int) -> JobEntry:
    return JobEntry(jid, name, name, status, "http://127.0.0.1:1", "h", 1, heartbeat - 1000, heartbeat)


def test_registry_keeps_the_latest_entry_and_reports_silent_jobs_lost() -> None:
    with open_log("memory://") as log:
        reg = JobRegistry(log)
        assert reg.entries() == []
        now = int(time.time() * 1000)
        reg.announce(_entry("a" * 32, "alpha", "CREATED", now - 10))
        reg.announce(_entry("a" * 32, "alpha", "RUNNING", now))
        reg.announce(_entry("abcd" + "0" * 28, "beta", "RUNNING", now - EXPIRY_MS - 1))  # killed -9
        reg.announce(_entry("c" * 32, "gamma", "FINISHED", now))
        log.append(JOBS_TOPIC, 0, [ProducerRecord(b"not json", b"x"), ProducerRecord(b"[1]", b"y")])  # not ours
        assert {e.name: e.state(now) for e in reg.entries()} == {
            "alpha": "RUNNING",
            "beta": "LOST",
            "gamma": "FINISHED",
        }
        assert [e.name for e in reg.running(now)] == ["alpha"]
        assert reg.find("alpha").jid == "a" * 32 and reg.find("aaaa").name == "alpha"
        assert reg.find("gamma", running_only=False).status == "FINISHED"
        with pytest.raises(UnknownJobError, match="no running job 'gamma'"):
            reg.find("gamma")
        reg.announce(_entry("abcd" + "1" * 28, "delta", "RUNNING", now))
        with pytest.raises(UnknownJobError, match="names 2 jobs"):
            reg.find("abcd", running_only=False)


RESTARTING = """
from pathlib import Path
from millstream import RestartStrategies, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink, LogSource

def fail_once(e):
    marker = Path("failed-once")
    if not marker.exists():
        marker.write_text("x")
        raise ValueError("a poison record, the first time")
    return e

env = StreamExecutionEnvironment.get_execution_environment()
env.set_restart_strategy(RestartStrategies.fixed_delay_restart(3, 100))
(
    env.from_source(LogSource.builder().set_topics("in").set_group_id("r").build(),
                    WatermarkStrategy.for_monotonous_timestamps(), "events")
    .map(fail_once).name("check")
    .sink_to(LogSink.builder().set_topic("out").build())
)
env.execute("restarting")
"""


def test_describe_names_the_latest_failure_of_a_job_that_restarted(tmp_path: Path) -> None:
    url = _setup(tmp_path)
    (tmp_path / "restarting.py").write_text(textwrap.dedent(RESTARTING))
    producer = Producer(url).start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "millstream", "run", "restarting.py", "--log", url, "--quiet"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: (tmp_path / "failed-once").exists(), what="the first failure")

        def described() -> str | None:
            out = ms("jobs", "describe", "restarting", "--log", url, cwd=tmp_path).stdout
            return out if "failures:" in out else None

        text = wait_for(described, what="the failure in describe")
        assert "failures:   1, the latest at" in text and "in check: ValueError: a poison record" in text, text
    finally:
        producer.stop()
        proc.terminate()
        proc.communicate(timeout=60)


def test_a_second_copy_of_a_running_job_is_refused_until_the_first_is_gone(tmp_path: Path) -> None:
    import signal

    url = _setup(tmp_path)
    run = [sys.executable, "-m", "millstream", "run", "plain.py", "--log", url, "--quiet"]
    first = subprocess.Popen(run, cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        job = wait_for(lambda: [j for j in listed(url, tmp_path) if j["state"] == "RUNNING"], what="the job")[0]
        second = ms("run", "plain.py", "--log", url, "--quiet", cwd=tmp_path, timeout=60)
        one_error_line(second, "job id 'plain' is already running in", job["jid"], f"pid {first.pid}")
        assert second.returncode == 2 and "another --job-id" in second.stderr
        os.kill(first.pid, signal.SIGKILL)  # dead, though its entry says RUNNING until the heartbeat expires
        first.wait(30)
        third = subprocess.Popen(run, cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: any(j["pid"] == third.pid for j in listed(url, tmp_path)), what="the restarted job")
        finally:
            third.terminate()
            third.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate(timeout=60)
