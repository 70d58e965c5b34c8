"""Fixtures of the ``--engine flink`` tests: the PyFlink 2.3 interpreter of the parity suite's virtualenv
(``tests/parity/pyflink_env.py``), provisioned on first use; skipped (failed under ``CI`` or
``MILLSTREAM_REQUIRE_FLINK=1``) when it cannot be provisioned here. Also: what ``millstream run`` (its own
engine) writes for ``pipelines/many_operators.py``, and a standalone Flink cluster (``standalone.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.flink.standalone import StandaloneFlink
from tests.parity.pyflink_env import OracleUnavailable, provision

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "tests" / "flink" / "pipelines" / "many_operators.py"
FLINK_SIDE = ROOT / "tests" / "flink" / "flink_side.py"


def flink_test_env(python_path: str = "") -> dict[str, str]:
    """This environment with the worktree's ``src`` and root on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT), python_path) if p)
    return env


def run_flink_side(pyflink_python: Path, tmp: Path, items: list[dict[str, Any]], what: str) -> dict[str, Any]:
    """Run ``items`` (parity cases or named pipelines, see ``flink_side.py``) through the Flink translation
    as one Flink job in ``tmp``; their results by item. ``what`` names the runs in the line it prints."""
    (tmp / "cases.json").write_text(json.dumps({"cases": items}))
    proc = subprocess.run(
        [str(pyflink_python), str(FLINK_SIDE), str(tmp / "cases.json"), str(tmp / "results.json")],
        capture_output=True,
        text=True,
        timeout=3000,
        cwd=tmp,
        env=flink_test_env(),
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    data: dict[str, Any] = json.loads((tmp / "results.json").read_text())
    print(f"\n{len(items)} {what} on Flink in {data['seconds']:.0f}s", file=sys.stderr)
    results: dict[str, Any] = data["results"]
    return results


def output_lines(folder: Path) -> dict[str, list[str]]:
    """Each output file of ``many_operators.py`` in ``folder``: its lines, sorted."""
    return {p.name: sorted(p.read_text().splitlines()) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="session")
def pyflink_python() -> Path:
    """A Python with PyFlink 2.3 (the parity venv's)."""
    try:
        env = provision()
    except OracleUnavailable as exc:
        message = f"PyFlink unavailable: {exc}"
        if os.environ.get("MILLSTREAM_REQUIRE_FLINK") == "1" or os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return env.python


@pytest.fixture(scope="session")
def millstream_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """What ``millstream run many_operators.py`` (millstream's engine) writes."""
    out = tmp_path_factory.mktemp("millstream-engine")
    proc = subprocess.run(
        [sys.executable, "-m", "millstream", "run", str(PIPELINE), "-q"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**flink_test_env(), "OUT": str(out)},
    )
    assert proc.returncode == 0, proc.stderr
    lines = output_lines(out)
    assert len(lines) == 11 and all(lines.values())
    return lines


@pytest.fixture(scope="module")
def flink_cluster(pyflink_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneFlink]:
    """A standalone Flink cluster (1 JobManager, 1 TaskManager with 2 slots) from the PyFlink install's own
    distribution, on free loopback ports; stopped at the end of the module, and no process of it may be left."""
    cluster = StandaloneFlink(pyflink_python, tmp_path_factory.mktemp("flink-cluster"))
    cluster.start()
    pids = list(cluster.alive())
    try:
        yield cluster
    finally:
        cluster.stop()
        left = [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
        assert not left, f"JVMs of the standalone cluster still running: {left}"
