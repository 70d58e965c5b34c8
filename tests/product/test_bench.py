"""``millstream bench``: lists and runs benchmark scripts (a real subprocess, a real benchmark run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def test_lists_benchmarks(cli: Any) -> None:
    res = cli("bench", "--dir", str(BENCH))
    assert res.returncode == 0, res.stderr
    assert "engine" in res.stdout.split()


def test_runs_a_benchmark_and_prints_its_figures(tmp_path: Path, cli: Any) -> None:
    script = tmp_path / "tiny_bench.py"
    script.write_text("import sys\nprint('tiny: 3 ops', sys.argv[1:])\n")
    res = cli("bench", "--dir", str(tmp_path), "tiny", "--n", "3")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "tiny: 3 ops ['--n', '3']"


def test_unknown_benchmark_and_missing_dir_are_one_line_errors(tmp_path: Path, cli: Any) -> None:
    res = cli("bench", "--dir", str(BENCH), "nope")
    assert res.returncode == 2 and res.stderr.startswith("error: no benchmark named 'nope'")
    res = cli("bench", "engine")  # cwd is an empty temp dir
    assert res.returncode == 2 and res.stderr.startswith("error: no benchmarks directory at benchmarks")
