"""docs/cli-reference.md is what ``python -m millstream.cli.reference`` generates from the commands' --help."""

from __future__ import annotations

from pathlib import Path

from millstream.cli.reference import REGENERATE, render

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "cli-reference.md"


def test_cli_reference_is_current() -> None:
    assert REFERENCE.exists(), f"docs/cli-reference.md is missing: run `{REGENERATE}` in the repository root"
    assert REFERENCE.read_text() == render(), (
        f"docs/cli-reference.md is stale (a command's --help changed): run `{REGENERATE}` in the repository root"
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
