"""``GET /jobs/{id}/exceptions`` (Flink's shape), the console's job exceptions and ``jobs describe``'s failure line:
every failure a job restarted from and the one that failed it, naming the subtask, with its traceback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from millstream import RestartStrategies, StreamExecutionEnvironment
from millstream.console.jobs import _exceptions
from millstream.observe import Monitoring
from millstream.stream.errors import JobFailedError
from millstream.testing import CollectingSink

MARKER = "MILLSTREAM_TEST_FAIL_ONCE"


class FailOnce:
    """Raises on element 3 the first time (a marker file says it did)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __call__(self, x: int) -> int:
        if x == 3 and not self.marker.exists():
            self.marker.write_text("failed")
            raise ValueError("the first attempt breaks on 3")
        return x


def always_fails(x: int) -> int:
    if x == 3:
        raise KeyError("three")
    return x


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _run(fn: Any, parallelism: int, attempts: int) -> Any:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(attempts, 10))
    env.from_collection(list(range(6))).rebalance().map(fn).name("Check").sink_to(CollectingSink())
    return env.execute_async("exceptions")


def test_a_restart_is_in_the_history_with_its_subtask_and_traceback(tmp_path: Path) -> None:
    with Monitoring(0) as mon:
        client = _run(FailOnce(tmp_path / "marker"), 1, 2)
        client.get_job_execution_result(60)  # it recovered
        status, doc = _get(f"{mon.url}/jobs/{client.jid}/exceptions")
    assert status == 200
    (entry,) = doc["exceptionHistory"]["entries"]
    assert entry["exceptionName"] == "ValueError" and entry["taskName"] == "Check"
    assert "the first attempt breaks on 3" in entry["stacktrace"] and "in __call__" in entry["stacktrace"]
    assert doc["root-exception"] == entry["stacktrace"] and doc["timestamp"] == entry["timestamp"]
    assert doc["all-exceptions"] == [] and doc["exceptionHistory"]["truncated"] is False
    assert ":" in entry["location"]  # host:pid
    console = _exceptions(client.runner)
    assert console[0]["exception"] == "Check: ValueError" and console[0]["task"] == "Check"


@pytest.mark.slow
def test_a_parallel_job_that_fails_for_good_lists_every_attempt_naming_the_subtask() -> None:
    with Monitoring(0) as mon:
        client = _run(always_fails, 2, 1)  # one restart, then it fails
        with pytest.raises(JobFailedError):
            client.get_job_execution_result(60)
        status, doc = _get(f"{mon.url}/jobs/{client.jid}/exceptions")
        missing, error = _get(f"{mon.url}/jobs/{'0' * 32}/exceptions")
    assert status == 200
    entries = doc["exceptionHistory"]["entries"]
    assert len(entries) == 2 and entries[0]["timestamp"] >= entries[1]["timestamp"]  # newest first
    for e in entries:
        assert e["exceptionName"] == "KeyError" and e["taskName"] in ("Check (1/2)", "Check (2/2)")
        assert "in worker" in e["stacktrace"] and "always_fails" in e["stacktrace"]  # the worker's traceback
    assert missing == 404 and "not found" in error["errors"][0].lower()
