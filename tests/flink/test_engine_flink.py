"""``--engine flink`` on a real PyFlink 2.3 mini-cluster (the parity suite's virtualenv): the same output as
millstream's own engine.

- the parity cases (the hand-computed ones, one generated case of each join family and the five evictor cases
  by default, to keep the suite's time; ``MILLSTREAM_FLINK_PARITY=all`` runs all 80),
  each built with millstream's API and translated by ``millstream.flink``, at parallelism 1 and 2 in ONE Flink
  job, give millstream's rows and record timestamps (a window's end - 1, a count window's ``Long.MAX_VALUE``, an
  interval join's ``max(left, right)``: set by the Java ``Restamp`` operator after the Python one);
- ``tests/flink/pipelines/many_operators.py`` (file sources; windows, state, timers, joins, side outputs, file
  sinks) through ``millstream run --engine flink -p 2`` and its exported program run with plain
  ``python job.py`` (parallelism 1) write the same lines as ``millstream run``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.flink.conftest import PIPELINE, flink_test_env, output_lines, run_flink_side
from tests.parity.cases import Case, all_cases, normalise, per_key_sequences
from tests.parity.hand_cases import HAND
from tests.parity.millstream_side import run_millstream

pytestmark = [pytest.mark.flink, pytest.mark.timeout(3600)]


HAND_CASES = [case for case, _ in HAND]
FAMILY_SAMPLES = {"interval-join-s61", "window-join-s71"}
ALL = [*all_cases(), *HAND_CASES]
# by default: the hand cases, one generated case of each join family and every evictor case (windows with an
# evictor run as millstream.flink.evicting.EvictingWindow, a keyed process function: PyFlink has no evictors)
CASES = (
    ALL
    if os.environ.get("MILLSTREAM_FLINK_PARITY") == "all"
    else [c for c in ALL if c.id in FAMILY_SAMPLES or c in HAND_CASES or c.kind == "evict"]
)
VARIANT_CASES = [c for c in CASES if c.kind == "window" and c.lateness][:2]
RUNS: list[tuple[Case, str, int]] = [
    *((c, "process", p) for p in (1, 2) for c in CASES),
    *((c, v, 1) for v in ("aggregate", "reduce", "builtin") for c in VARIANT_CASES),
]


@pytest.fixture(scope="module")
def flink_runs(pyflink_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """All ``RUNS`` through the Flink translation, as one Flink job."""
    cases = [{"case": c.to_json(), "variant": v, "parallelism": p} for c, v, p in RUNS]
    return run_flink_side(pyflink_python, tmp_path_factory.mktemp("flink-parity"), cases, "parity runs")


@pytest.mark.parametrize("case, variant, parallelism", RUNS, ids=[f"{c.id}-{v}-p{p}" for c, v, p in RUNS])
def test_parity_case_on_flink(flink_runs: dict[str, Any], case: Case, variant: str, parallelism: int) -> None:
    got = flink_runs[f"{case.id}/{variant}/{parallelism}"]
    rows, stamps = run_millstream(case, variant, parallelism=parallelism)
    assert normalise(got["rows"]) == normalise(rows), f"{case.id} ({variant}) at parallelism {parallelism}"
    if case.kind == "count" or (case.kind == "evict" and case.window is None):
        assert per_key_sequences(got["rows"]) == per_key_sequences(rows)
    assert normalise(zip(got["rows"], got["stamps"], strict=True)) == normalise(zip(rows, stamps, strict=True)), (
        f"{case.id}: record timestamps"
    )


@pytest.mark.parametrize("parallelism", [2])
def test_pipeline_file_on_flink(
    pyflink_python: Path, millstream_output: dict[str, list[str]], tmp_path: Path, parallelism: int
) -> None:
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
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**flink_test_env(), "OUT": str(out)},
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert output_lines(out) == millstream_output


def test_exported_program(pyflink_python: Path, millstream_output: dict[str, list[str]], tmp_path: Path) -> None:
    job = tmp_path / "job.py"
    proc = subprocess.run(
        [sys.executable, "-m", "millstream", "flink", "export", str(PIPELINE), "-o", str(job)],
        capture_output=True,
        text=True,
        timeout=300,
        env=flink_test_env(),
    )
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # plain `python job.py`
    proc = subprocess.run(
        [str(pyflink_python), str(job)],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=tmp_path,
        env={**env, "OUT": str(out)},
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert output_lines(out) == millstream_output
