"""Helpers for the product tests: run ``python -m millstream`` as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


def cli_env() -> dict[str, str]:
    """The environment for subprocesses: inherits PYTHONPATH, with this worktree's src first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH", "")) if p)
    env.pop("MILLSTREAM_LOG", None)
    return env


def run_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m millstream ARGS`` to completion, text output captured."""
    return subprocess.run(
        [sys.executable, "-m", "millstream", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``cli(*args)`` runs the millstream command in ``tmp_path``."""
    return lambda *args, timeout=120: run_cli(*args, cwd=tmp_path, timeout=timeout)
