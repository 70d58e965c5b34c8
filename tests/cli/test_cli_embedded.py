"""The CLI as a shell user runs it: real ``python -m millstream`` processes on an embedded ``file://`` log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


def sh(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "millstream", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'log'}"


def test_produce_then_consume_across_processes(url: str) -> None:
    assert sh("topics", "create", "events", "-p", "3", "--log", url).returncode == 0
    lines = "".join(json.dumps({"id": i, "user": f"u{i % 5}"}) + "\n" for i in range(300))
    res = sh("produce", "events", "--key-field", "user", "--log", url, input=lines)
    assert res.returncode == 0, res.stderr
    out = sh("consume", "events", "--from-beginning", "--group", "g", "--log", url)
    assert out.returncode == 0, out.stderr
    ids = sorted(json.loads(line)["value"]["id"] for line in out.stdout.splitlines())
    assert ids == list(range(300))
    # the group committed its offsets: a second run prints nothing new
    assert sh("consume", "events", "--group", "g", "--log", url).stdout == ""
    described = json.loads(sh("topics", "describe", "events", "--json", "--log", url).stdout)
    assert sum(p["latest"] for p in described["partitions"]) == 300


def test_default_log_is_dot_millstream_in_cwd(tmp_path: Path) -> None:
    env = {"MILLSTREAM_LOG": ""}
    res = subprocess.run(
        [sys.executable, "-m", "millstream", "topics", "create", "t"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC, **env},
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / ".millstream").is_dir()


def test_foreign_file_at_log_path_is_one_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notalog"
    bogus.write_text("hello, I am not a log\n")
    res = sh("topics", "list", "--log", f"file://{bogus}")
    assert res.returncode == 1
    assert res.stderr.startswith("error: ")
    assert str(bogus) in res.stderr
    assert "Traceback" not in res.stderr
    assert bogus.read_text() == "hello, I am not a log\n"  # untouched


def test_verbose_shows_traceback(url: str) -> None:
    assert sh("topics", "create", "other", "--log", url).returncode == 0
    res = sh("--verbose", "consume", "missing", "--log", url)
    assert res.returncode == 1
    assert "Traceback" in res.stderr and "unknown topic 'missing'" in res.stderr


def test_demo_on_embedded_log() -> None:
    res = sh("demo", "--duration", "4", "--quiet")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("data:    file://") and "page-counts" in res.stdout


def test_log_on_the_group_applies_to_the_command_and_a_commands_own_wins(tmp_path: Path) -> None:
    a, b = f"file://{tmp_path / 'a'}", f"file://{tmp_path / 'b'}"
    assert sh("--log", a, "topics", "create", "only-in-a").returncode == 0
    assert sh("topics", "create", "only-in-b", "--log", b).returncode == 0
    assert sh("--log", a, "topics", "list").stdout.split() == ["only-in-a"]
    assert sh("--log", a, "topics", "list", "--log", b).stdout.split() == ["only-in-b"]


def test_read_only_commands_do_not_create_a_log_at_a_mistyped_path(tmp_path: Path) -> None:
    typo = tmp_path / "lgo"
    for args in (["topics", "list"], ["topics", "describe", "t"], ["consume", "t"]):
        res = sh(*args, "--log", f"file://{typo}")
        assert res.returncode == 1, res.stderr
        assert f"error: there is no log at file://{typo}" in res.stderr and "Traceback" not in res.stderr
    assert not typo.exists()


def test_a_refused_kafka_port_fails_at_once() -> None:
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    res = sh("topics", "list", "--log", f"kafka://127.0.0.1:{port}")
    assert res.returncode == 1
    assert f"connection refused by the Kafka cluster at 127.0.0.1:{port}" in res.stderr
    assert "timeout_ms" in res.stderr and time.monotonic() - start < 15


def test_ctrl_c_in_produce_writes_the_lines_read_and_says_how_many(url: str) -> None:
    import signal
    import time

    assert sh("topics", "create", "t", "--log", url).returncode == 0
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "millstream", "produce", "t", "--log", url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None and proc.stderr is not None
    for i in range(5):
        proc.stdin.write(json.dumps({"i": i}) + "\n")
    proc.stdin.flush()
    time.sleep(2)  # the lines are read; produce waits for more (a user at the keyboard)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130  # stdin still open: the interrupt, not an end of input, ended it
    assert "interrupted: produced 5 record(s) to 't'" in proc.stderr.read()
    proc.stdin.close()
    out = sh("consume", "t", "--from-beginning", "--log", url)
    assert [json.loads(line)["value"]["i"] for line in out.stdout.splitlines()] == list(range(5))
