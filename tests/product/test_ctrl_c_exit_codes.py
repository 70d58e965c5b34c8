"""Ctrl-C exits with 130 from every long-running command (run, produce and consume are tested elsewhere): the
demo and the Connect workers too, after their clean shutdown; SIGTERM stops a Connect worker with 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import cli_env


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "millstream", *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if needle in line:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no {needle!r} on stdout")


@pytest.mark.slow
def test_ctrl_c_in_the_demo_exits_130_after_its_summary(tmp_path: Path) -> None:
    proc = _start(["demo", "--quiet", "--log", f"file://{tmp_path / 'demo'}"], tmp_path)
    _wait_for_line(proc, "metrics:")
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; stopped after" in out
    assert "-m millstream consume page-counts" in out  # the hint names how this run was started


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_a_connect_worker_exits_130_on_ctrl_c_and_0_on_sigterm(tmp_path: Path, sig: int, code: int) -> None:
    props = tmp_path / "worker.properties"
    props.write_text(f"log=file://{tmp_path / 'log'}\nrest.port=0\noffset.storage.file.filename={tmp_path / 'off'}\n")
    proc = _start(["connect", "standalone", str(props)], tmp_path)
    _wait_for_line(proc, "REST API at")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "shutting down" in out
