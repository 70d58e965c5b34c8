"""``--flink-address``: a pipeline submitted to a standalone Flink cluster (a JobManager and a TaskManager started
from the PyFlink install's own distribution, ``standalone.py``), as ``flink run -m`` does.

``tests/flink/pipelines/many_operators.py`` through ``millstream run --engine flink --flink-address`` at
parallelism 1 and 2, and its exported program (``millstream flink export --flink-address``) run with plain
``python job.py``: each run is a job the cluster's REST API lists as FINISHED, with the asked parallelism,
and the files written are millstream's own engine's. The cluster's processes have no ``PYTHONPATH``: the
job ships millstream and the pipeline's modules itself (``millstream.flink.runner.run_here``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flink.conftest import PIPELINE, flink_test_env, output_lines
from tests.flink.standalone import StandaloneFlink

pytestmark = [pytest.mark.flink, pytest.mark.slow, pytest.mark.timeout(1800)]


def _jobs(cluster: StandaloneFlink) -> dict[str, dict]:
    return {job["jid"]: job for job in cluster.rest("/jobs/overview")["jobs"]}


def _finished_job(cluster: StandaloneFlink, before: dict[str, dict], parallelism: int) -> None:
    new = [job for jid, job in _jobs(cluster).items() if jid not in before]
    assert [(job["name"], job["state"]) for job in new] == [("many_operators", "FINISHED")]
    vertices = cluster.rest(f"/jobs/{new[0]['jid']}")["vertices"]
    assert max(v["parallelism"] for v in vertices) == parallelism


@pytest.mark.parametrize("parallelism", [1, 2])
def test_run_submits_to_the_cluster(
    flink_cluster: StandaloneFlink,
    pyflink_python: Path,
    millstream_output: dict[str, list[str]],
    tmp_path: Path,
    parallelism: int,
) -> None:
    before = _jobs(flink_cluster)
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "millstream",
            "run",
            str(PIPELINE),
            "-p",
            str(parallelism),
            "--engine",
            "flink",
            "--flink-python",
            str(pyflink_python),
            "--flink-address",
            flink_cluster.address,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env={**flink_test_env(), "OUT": str(out)},
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    _finished_job(flink_cluster, before, parallelism)
    assert output_lines(out) == millstream_output


def test_exported_program_submits_to_the_cluster(
    flink_cluster: StandaloneFlink, pyflink_python: Path, millstream_output: dict[str, list[str]], tmp_path: Path
) -> None:
    job = tmp_path / "job.py"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "millstream",
            "flink",
            "export",
            str(PIPELINE),
            "-o",
            str(job),
            "-p",
            "2",
            "--flink-address",
            flink_cluster.address,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=flink_test_env(),
    )
    assert proc.returncode == 0, proc.stderr
    before = _jobs(flink_cluster)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # plain `python job.py`
    proc = subprocess.run(
        [str(pyflink_python), str(job)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env={**env, "OUT": str(out)},
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    _finished_job(flink_cluster, before, 2)
    assert output_lines(out) == millstream_output
