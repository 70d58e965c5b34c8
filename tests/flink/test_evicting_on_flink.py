"""Windows with evictors through ``--engine flink`` (``millstream.flink.evicting.EvictingWindow``, a keyed process
function with Flink state and timers, as PyFlink's Python API has no evictors) on a real PyFlink 2.3
mini-cluster: every pipeline of ``tests/flink/evicting_pipelines.py`` (sliding and session windows, allowed
lateness and the late side output, count / purging / continuous triggers, reduce and aggregate after eviction,
``window_all``, a window join, a user-written evictor) gives millstream's rows and record timestamps at
parallelism 1 and 2, all in ONE Flink job. Six of them (those that use Java Flink's evictors, triggers and
formatting only) are also run on Java Flink's own ``EvictingWindowOperator`` (``evicting_java.py``, on the
parity oracle), whose rows and record timestamps millstream's must be. The parity suite's five evictor cases
run in ``test_engine_flink.py``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from millstream import StreamExecutionEnvironment
from millstream.testing import CollectingSink
from tests.flink.conftest import ROOT, flink_test_env, run_flink_side
from tests.flink.evicting_pipelines import JAVA_TWINS, PIPELINES
from tests.parity.cases import normalise
from tests.parity.pyflink_env import OracleUnavailable, provision

pytestmark = [pytest.mark.flink, pytest.mark.timeout(3600)]

JAVA_SIDE = ROOT / "tests" / "flink" / "evicting_java.py"
RUNS = [(name, p) for p in (1, 2) for name in PIPELINES]


def run_on_millstream(name: str, parallelism: int) -> tuple[list[Any], list[Any]]:
    """The pipeline on millstream's engine: (rows, record timestamps), sinks in order."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    sinks = []
    for stream in PIPELINES[name](env):
        sink = CollectingSink()
        stream.sink_to(sink)
        sinks.append(sink)
    env.execute(f"evicting {name}")
    return [r for s in sinks for r in s.values], [t for s in sinks for t in s.timestamps]


@pytest.fixture(scope="module")
def flink_runs(pyflink_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    items = [{"pipeline": name, "parallelism": p} for name, p in RUNS]
    return run_flink_side(pyflink_python, tmp_path_factory.mktemp("flink-evicting"), items, "evicting-window runs")


@pytest.mark.parametrize("name, parallelism", RUNS, ids=[f"{n}-p{p}" for n, p in RUNS])
def test_evicting_window_on_flink(flink_runs: dict[str, Any], name: str, parallelism: int) -> None:
    got = flink_runs[f"{name}/pipeline/{parallelism}"]
    rows, stamps = run_on_millstream(name, parallelism)
    assert rows, f"{name}: the pipeline gives no rows on millstream"
    assert normalise(got["rows"]) == normalise(rows), f"{name} at parallelism {parallelism}"
    assert normalise(zip(got["rows"], got["stamps"], strict=True)) == normalise(zip(rows, stamps, strict=True)), (
        f"{name}: record timestamps"
    )


@pytest.fixture(scope="module")
def java_runs(pyflink_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The Java twins (``evicting_java.JAVA_TWINS``) on Java Flink, one job."""
    try:
        jar = provision().jar
    except OracleUnavailable as exc:  # pyflink_python would have skipped (or failed) already
        pytest.fail(str(exc))
    if jar is None:
        pytest.fail("the parity suite's Java glue jar could not be built (javac): see tests/parity/pyflink_env.py")
    out = tmp_path_factory.mktemp("java-evicting") / "results.json"
    proc = subprocess.run(
        [str(pyflink_python), str(JAVA_SIDE), str(jar), str(out)],
        capture_output=True,
        text=True,
        timeout=3000,
        env=flink_test_env(),
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    data: dict[str, Any] = json.loads(out.read_text())
    return data


@pytest.mark.parametrize("name", list(JAVA_TWINS))
def test_evicting_window_matches_java_flink(java_runs: dict[str, Any], name: str) -> None:
    got = java_runs[name]
    rows, stamps = run_on_millstream(name, 1)
    assert got["rows"], f"{name}: no rows from Java Flink"
    assert normalise(zip(got["rows"], got["stamps"], strict=True)) == normalise(zip(rows, stamps, strict=True)), (
        f"{name}: millstream's rows and timestamps are not Java Flink's"
    )
