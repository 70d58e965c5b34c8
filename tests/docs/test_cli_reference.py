"""docs/cli-reference.md is what ``python -m millstream.cli.reference`` generates from the commands' --help.

The check runs in a fresh process: click caches each command's help option on first use, so a command
invoked earlier in this process by other tests (outside the root group, without ``-h``) would render
differently than ``millstream ... --help`` does for a user.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

from millstream.cli.reference import REGENERATE, render

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "cli-reference.md"


def test_cli_reference_is_current(tmp_path: Path) -> None:
    assert REFERENCE.exists(), f"docs/cli-reference.md is missing: run `{REGENERATE}` in the repository root"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p),
    }
    fresh = tmp_path / "cli-reference.md"
    proc = subprocess.run(
        [sys.executable, "-m", "millstream.cli.reference", str(fresh)], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    current, new = REFERENCE.read_text(), fresh.read_text()
    diff = "\n".join(list(difflib.unified_diff(current.splitlines(), new.splitlines(), lineterm=""))[:40])
    assert current == new, (
        f"docs/cli-reference.md is stale (a command's --help changed): run `{REGENERATE}` in the repository "
        f"root\n{diff}"
    )


def test_cli_reference_covers_every_command() -> None:
    text = render()
    for path in (
        "millstream topics create",
        "millstream connect worker",
        "millstream checkpoints savepoint",
        "millstream run",
        "millstream consume",
        "millstream produce",
    ):
        assert f"## {path}\n" in text
        assert f"Usage: {path} " in text
