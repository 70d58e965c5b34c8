"""Metrics and job state across a restart and a failure (in process, real HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from millstream import StreamExecutionEnvironment
from millstream.connectors import LogSink
from millstream.log import open_log
from millstream.observe import Monitoring
from millstream.stream.errors import JobFailedError
from millstream.stream.restart import RestartStrategies

from ._support import get


class FailOnce:
    """Raises on the element ``at`` the first time it sees it."""

    def __init__(self, at: int, times: int = 1) -> None:
        self.at = at
        self.left = times

    def __call__(self, e: Any) -> Any:
        if e == self.at and self.left:
            self.left -= 1
            raise RuntimeError("injected failure")
        return e


def _job(tmp_path: Path, fail: FailOnce, restarts: int) -> StreamExecutionEnvironment:
    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        if not log.has_topic("out"):
            log.create_topic("out", 1)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(restarts, 10))
    env.from_collection(list(range(3000))).map(fail).name("flaky").sink_to(
        LogSink.builder().set_log(url).set_topic("out").build()
    )
    return env


def test_restarted_job_reports_its_restart_and_finishes(tmp_path: Path) -> None:
    with Monitoring(0) as mon:
        client = _job(tmp_path, FailOnce(2500), restarts=1).execute_async("flaky")
        assert client.wait(60)
        assert client.get_job_execution_result().restarts == 1
        status, values = get(f"{mon.url}/jobs/{client.jid}/metrics?get=numRestarts,uptime")
        assert status == 200 and values[0] == {"id": "numRestarts", "value": "1"} and int(values[1]["value"]) >= 0
        _status, job = get(f"{mon.url}/jobs/{client.jid}")
        assert job["state"] == "FINISHED"
        sink = job["vertices"][-1]
        # without checkpoints the collection is read again from its start: the sink wrote the full run
        # after the restart on top of what it wrote before the failure
        assert sink["metrics"]["write-records"] >= 3000


def test_failed_job_is_failed_in_the_rest_api(tmp_path: Path) -> None:
    with Monitoring(0) as mon:
        client = _job(tmp_path, FailOnce(10), restarts=0).execute_async("broken")
        assert client.wait(60)
        with pytest.raises(JobFailedError):
            client.get_job_execution_result()
        _status, jobs = get(f"{mon.url}/jobs")
        assert {"id": client.jid, "status": "FAILED"} in jobs["jobs"]
        _status, job = get(f"{mon.url}/jobs/{client.jid}")
        assert job["state"] == "FAILED" and job["end-time"] >= job["start-time"]
        assert {v["status"] for v in job["vertices"]} == {"FAILED"}
