"""``--property``/``-X`` on each log scheme: embedded URL options for file://, refused for memory://."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from millstream.cli import cli


def test_property_on_file_log_sets_embedded_options(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/log"
    result = CliRunner().invoke(cli, ["topics", "create", "t", "--log", url, "-X", "synchronous=full"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        cli, ["topics", "list", "--log", url + "?busy_timeout_ms=100", "-X", "poll_interval_ms=2"]
    )
    assert result.exit_code == 0, result.output
    assert "t" in result.output.split()


def test_unknown_embedded_property_is_a_config_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["topics", "list", "--log", f"file://{tmp_path}/log", "-X", "acks=all"])
    assert result.exit_code == 2
    assert "unknown option 'acks' in the file:// log URL" in result.output


def test_property_on_memory_log_is_refused() -> None:
    result = CliRunner().invoke(cli, ["topics", "list", "--log", "memory://", "-X", "a=b"])
    assert result.exit_code == 2
    assert "--property does not apply to a memory:// log" in result.output
