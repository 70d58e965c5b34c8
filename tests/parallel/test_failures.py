"""Failures of parallel jobs: errors name the subtask, dead workers fail (or restart) the job, bad input is a
clear error, and no worker process outlives its job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from millstream import RestartStrategies, StreamExecutionEnvironment
from millstream.connectors import LogSource, OffsetsInitializer
from millstream.runtime.job import make_runner
from millstream.stream.errors import JobConfigError, JobFailedError
from millstream.testing import CollectingSink

from .conftest import alive, write_events


def source(url: str, bounded: bool = True) -> LogSource:
    b = LogSource.builder().set_log(url).set_topics("events").set_starting_offsets(OffsetsInitializer.earliest())
    b = b.set_value_format("json")
    return (b.set_bounded(OffsetsInitializer.latest()) if bounded else b).build()


def explode_on_777(e: dict[str, Any]) -> dict[str, Any]:
    if e["i"] == 777:
        raise ValueError("no 777 here")
    return e


def test_a_user_error_names_the_subtask_and_the_element(log_url: str, no_orphans: list[Any]) -> None:
    write_events(log_url, "events", 2, 1000)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.from_source(source(log_url), None, "events").rebalance().map(explode_on_777).sink_to(CollectingSink())
    runner = make_runner(env, env._take_sinks(), "explodes", None)
    no_orphans.append(runner)
    with pytest.raises(JobFailedError) as info:
        runner.run()
    err = info.value
    assert isinstance(err.__cause__, ValueError)
    assert err.operator in ("Map (1/2)", "Map (2/2)")
    assert err.element["i"] == 777
    assert "no 777 here" in str(err) and "Map (" in str(err)
    notes = "\n".join(getattr(err.__cause__, "__notes__", []))
    assert "explode_on_777" in notes and 'raise ValueError("no 777 here")' in notes  # the worker's traceback


def test_a_killed_worker_fails_the_job_and_no_worker_is_left(log_url: str, no_orphans: list[Any]) -> None:
    write_events(log_url, "events", 4, 100)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(3)
    env.from_source(source(log_url, bounded=False), None, "events").key_by(lambda e: e["page"]).map(
        lambda e: e
    ).sink_to(CollectingSink())
    client = env.execute_async("killed")
    runner = client.runner
    no_orphans.append(runner)
    deadline = time.monotonic() + 60
    while (len(runner.worker_pids) < 3 or runner.status != "RUNNING") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    os.kill(runner.worker_pids[1], signal.SIGKILL)
    assert client.wait(30)
    with pytest.raises(JobFailedError, match=r"worker 1 \(pid \d+\) was killed by signal 9"):
        client.get_job_execution_result()


def test_a_failed_job_restarts_as_its_strategy_says(log_url: str, tmp_path: Path, no_orphans: list[Any]) -> None:
    write_events(log_url, "events", 2, 200)
    marker = tmp_path / "failed-once"

    def fail_once(e: dict[str, Any]) -> int:
        if e["i"] == 150 and not marker.exists():
            marker.write_text("x")
            raise RuntimeError("first attempt fails")
        return e["i"]

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(2, 10))
    sink = CollectingSink()
    env.from_source(source(log_url), None, "events").map(fail_once).sink_to(sink)
    runner = make_runner(env, env._take_sinks(), "restarts", None)
    no_orphans.append(runner)
    result = runner.run()
    assert result.restarts == 1
    assert sorted(set(sink.values)) == list(range(200))  # (the first attempt's output is there too: no checkpoints)


def test_an_unpicklable_function_is_named_before_any_process_starts(log_url: str) -> None:
    lock = threading.Lock()

    def with_lock(e: Any) -> Any:
        with lock:
            return e

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.from_source(source(log_url), None, "events").map(with_lock).name("Locked").sink_to(CollectingSink())
    with pytest.raises(JobConfigError, match=r"operator 'Locked': its fn \(.*with_lock\) cannot be sent") as info:
        make_runner(env, env._take_sinks(), "unpicklable", None)
    assert "open()" in str(info.value)


def test_a_key_without_canonical_encoding_names_the_operator(log_url: str, no_orphans: list[Any]) -> None:
    write_events(log_url, "events", 2, 10)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.from_source(source(log_url), None, "events").key_by(lambda e: {"page": e["page"]}).reduce(
        lambda a, b: a
    ).sink_to(CollectingSink())
    runner = make_runner(env, env._take_sinks(), "dict keys", None)
    no_orphans.append(runner)
    with pytest.raises(JobFailedError, match=r"operator 'Keyed Reduce \(\d/2\)' failed at element #0 .*type dict"):
        runner.run()


def test_a_bad_parallelism_variable_is_a_clear_error(log_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILLSTREAM_PARALLELISM", "two")
    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_source(source(log_url), None, "events").sink_to(CollectingSink())
    with pytest.raises(JobConfigError, match="MILLSTREAM_PARALLELISM is 'two', not a positive number"):
        make_runner(env, env._take_sinks(), "j", None)


PIPELINE = """
from millstream import StreamExecutionEnvironment
from millstream.connectors import LogSink, LogSource, OffsetsInitializer

env = StreamExecutionEnvironment.get_execution_environment()
(env.from_source(LogSource.builder().set_topics("events").set_value_format("json")
        .set_starting_offsets(OffsetsInitializer.earliest()).build(), None, "events")
    .key_by(lambda e: e["page"])
    .map(lambda e: {"page": e["page"], "i": e["i"]})
    .sink_to(LogSink.builder().set_topic("out").build()))
env.execute("cli parallel")
"""


def _children(parent: int) -> list[tuple[int, list[bytes]]]:
    """``(pid, cmdline)`` of the processes whose parent is ``parent``, read from /proc (``ps`` may truncate)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
            found.append((int(entry.name), cmdline))
    return found


def _pids_of_workers(parent: int) -> tuple[list[int], list[int]]:
    """``(fork servers, workers)`` of the process ``parent``: workers are its fork server's children (or its own,
    spawned)."""
    servers = [pid for pid, cmd in _children(parent) if b"millstream.runtime.parallel.forkserver" in cmd]
    workers = [pid for pid, cmd in _children(parent) if b"millstream.runtime.parallel.worker" in cmd]
    return servers, workers + [pid for s in servers for pid, _cmd in _children(s)]


@pytest.mark.slow
def test_cli_runs_with_p_prints_the_plan_and_ctrl_c_leaves_no_worker(log_url: str, tmp_path: Path) -> None:
    write_events(log_url, "events", 4, 500)
    from millstream.log import open_log

    with open_log(log_url) as log:
        log.create_topic("out", 2)
    pipeline = tmp_path / "pipeline.py"
    pipeline.write_text(textwrap.dedent(PIPELINE))
    exe = [sys.executable, "-m", "millstream", "run", str(pipeline), "--log", log_url, "-q"]
    plan = subprocess.run([*exe, "-p", "3", "--plan"], capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    assert '"ship_strategy": "HASH"' in plan.stdout and '"parallelism": 3' in plan.stdout
    proc = subprocess.Popen([*exe, "-p", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    servers: list[int] = []
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        servers, workers = _pids_of_workers(proc.pid)
    with open_log(log_url) as log:
        while sum(log.latest_offset("out", p) for p in range(2)) < 500 and time.monotonic() < deadline:
            time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert len(workers) == 2 and not [pid for pid in workers if alive(pid)]
    deadline = time.monotonic() + 10  # the fork server leaves with the process that started it
    while [pid for pid in servers if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(servers) == 1 and not [pid for pid in servers if alive(pid)]


def test_an_exactly_once_sink_without_checkpointing_is_refused(log_url: str) -> None:
    from millstream.connectors import DeliveryGuarantee, LogSink

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    sink = LogSink.builder().set_log(log_url).set_topic("out").set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
    env.from_source(source(log_url), None, "events").sink_to(sink.build())
    with pytest.raises(JobConfigError, match="sink 'LogSink' is exactly-once, which needs checkpointing"):
        make_runner(env, env._take_sinks(), "eo", None)
