"""``--property``/``-X`` on each log scheme: embedded URL options for file://; Kafka client properties are
refused with a clear error by the file:// and memory:// logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from millstream.cli import cli
from millstream.core.errors import ConfigError
from millstream.log import open_log


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
    assert CliRunner().invoke(cli, ["topics", "create", "t", "--log", f"file://{tmp_path}/log"]).exit_code == 0
    result = CliRunner().invoke(cli, ["topics", "list", "--log", f"file://{tmp_path}/log", "-X", "acks=all"])
    assert result.exit_code == 2
    assert "unknown option 'acks' in the file:// log URL" in result.output


def test_property_on_memory_log_is_refused() -> None:
    result = CliRunner().invoke(cli, ["topics", "list", "--log", "memory://", "-X", "a=b"])
    assert result.exit_code == 2
    assert "client properties (a) apply to kafka:// logs, not to memory://" in result.output


def test_open_log_refuses_client_properties_on_file_and_memory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="apply to kafka:// logs, not to file://"):
        open_log(f"file://{tmp_path}/log", properties={"linger.ms": "5"})
    with pytest.raises(ConfigError, match="not to memory://"):
        open_log("memory://", properties={"acks": "all"})
    open_log(f"file://{tmp_path}/log", properties={}).close()  # nothing to refuse
