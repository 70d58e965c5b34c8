"""Every code block of docs/**/*.md marked ``runnable`` runs (see :mod:`tests.docs.blocks` for the marker).

Each document gets a fresh temporary directory (so the embedded default log ``file://./.millstream`` and the
default checkpoint directory are inside it), and each block a fresh process. README.md's Python blocks are
run by tests/test_readme.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .blocks import Block, find_blocks

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
RUNNABLE_PAGES = [p for p in PAGES if find_blocks(p)]
TIMEOUT_S = 30
SHELL_PRELUDE = (
    "set -euo pipefail\n"
    'millstream() { "$MILLSTREAM_PYTHON" -m millstream "$@"; }\n'
    'python() { "$MILLSTREAM_PYTHON" "$@"; }\n'
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    env["MILLSTREAM_PYTHON"] = sys.executable
    env["COLUMNS"] = "100"
    return env


def _run(lang: str, code: str, cwd: Path, where: str, expect: int) -> None:
    if lang == "python":
        script = cwd / "_block.py"
        script.write_text(code)
        argv = [sys.executable, str(script)]
    else:
        argv = ["bash", "-c", SHELL_PRELUDE + code]
    try:
        proc = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{where}: the {lang} block did not finish in {TIMEOUT_S} s")
    if proc.returncode != expect:
        pytest.fail(
            f"{where}: the {lang} block exited with {proc.returncode} (expected {expect})\n"
            f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        )


def test_there_are_runnable_blocks() -> None:
    assert sum(len(find_blocks(p)) for p in PAGES) >= 15


@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=[str(p.relative_to(DOCS)) for p in RUNNABLE_PAGES])
def test_runnable_blocks_of_page_run(page: Path, tmp_path: Path) -> None:
    blocks: list[Block] = find_blocks(page)
    where_page = page.relative_to(ROOT)
    for block in blocks:
        where = f"{where_page}:{block.line}"
        for lang, code in block.setup:
            _run(lang, code, tmp_path, f"{where} (its runnable-setup)", 0)
        if block.file:
            (tmp_path / block.file).write_text(block.code)
        else:
            _run(block.lang, block.code, tmp_path, where, block.expect_exit)
