"""docs/configuration.md's generated tables match the declared ConfigDefs (see millstream.connect.config_reference)."""

from __future__ import annotations

from pathlib import Path

from millstream.connect.config_reference import REGENERATE, SECTIONS, regenerate
from millstream.connect.worker_config import worker_config_def

CONFIGURATION = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_configuration_tables_are_current() -> None:
    text = CONFIGURATION.read_text()
    assert regenerate(text) == text, (
        f"docs/configuration.md has stale generated tables (a ConfigDef changed): run `{REGENERATE}` in the "
        "repository root"
    )


def test_every_region_is_in_the_page_and_every_worker_option_listed() -> None:
    text = CONFIGURATION.read_text()
    for name in SECTIONS:
        assert f"<!-- BEGIN GENERATED: {name} -->" in text
    for name in worker_config_def().names():
        assert f"| `{name}` |" in text
