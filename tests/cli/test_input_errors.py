"""Careless input and unusable log directories give one clear error, never a traceback: bytes that are not
UTF-8 are one more malformed line for ``produce``; a log directory this user may not read or write names
the path and the fix (checked as a real unprivileged user when the suite runs as root)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from millstream.cli import cli
from millstream.core.errors import MillstreamError
from millstream.log import open_log
from millstream.log.sqlite_store import translate_error

from ..product.conftest import cli_env

BAD_UTF8 = b'{"a":1}\n{"a":"\xff"}\n{"a":3}\n'


def _log(tmp_path: Path) -> str:
    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("t", 1)
    return url


def _values(url: str) -> list[object]:
    with open_log(url) as log:
        return [json.loads(r.value) for r in log.read("t", 0, 0)]


def test_produce_skip_invalid_skips_a_non_utf8_line_and_keeps_the_rest(tmp_path: Path) -> None:
    url = _log(tmp_path)
    res = CliRunner().invoke(cli, ["produce", "t", "--skip-invalid", "--log", url], input=BAD_UTF8)
    assert res.exit_code == 0, res.output
    assert "skipped line 2: not valid UTF-8 (byte 0xff at column 7)" in res.stderr
    assert "Traceback" not in res.output
    assert _values(url) == [{"a": 1}, {"a": 3}]


def test_produce_stops_at_a_non_utf8_line_keeping_the_lines_before(tmp_path: Path) -> None:
    url = _log(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "millstream", "produce", "t", "--log", url],
        input=BAD_UTF8,
        capture_output=True,
        env=cli_env(),
        timeout=60,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in err
    assert "error: line 2: not valid UTF-8" in err and "the 1 record(s) before it were written" in err
    assert _values(url) == [{"a": 1}]


def _open_unprivileged(url: str) -> str:
    """Open the log as an unprivileged user and return what went wrong (``error: ...`` / ``hint: ...`` lines
    of a MillstreamError, or a traceback). As root, a forked child drops to ``nobody`` first (root passes
    every permission check, and the interpreter may live where ``nobody`` cannot exec it)."""
    if os.geteuid() != 0:
        return _try_open(url)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, try, report, exit without running the parent's cleanups
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write, _try_open(url).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


def _try_open(url: str) -> str:
    try:
        with open_log(url) as log:
            log.produce("t", [(b"{}",)])
    except MillstreamError as exc:
        return f"error: {exc.message}\nhint: {exc.hint}"
    except BaseException:
        return traceback.format_exc()
    return "opened"


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user may traverse (pytest's own tmp dirs are private to their owner)."""
    d = Path(tempfile.mkdtemp(prefix="millstream-perm-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_an_unreadable_log_directory_is_one_clear_error(shared_dir: Path) -> None:
    url = _log(shared_dir)
    (shared_dir / "log").chmod(0o700 if os.geteuid() == 0 else 0o000)
    try:
        out = _open_unprivileged(url)
    finally:
        (shared_dir / "log").chmod(0o755)
    assert out.startswith(f"error: permission denied on the log at {shared_dir / 'log'}"), out
    assert "hint: give this user read and write access to" in out


def test_a_read_only_log_is_one_clear_error(shared_dir: Path) -> None:
    url = _log(shared_dir)
    for p in (shared_dir / "log", *(shared_dir / "log").iterdir()):
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        out = _open_unprivileged(url)
    finally:
        (shared_dir / "log").chmod(0o755)
    assert out.startswith(f"error: cannot open the log at {shared_dir / 'log' / 'log.db'} for writing"), out
    assert "hint: check that the directory exists and that this user may write to it" in out


def test_a_full_disk_gets_a_hint(tmp_path: Path) -> None:
    err = translate_error(sqlite3.OperationalError("database or disk is full"), tmp_path / "log.db", "appending")
    assert "the disk is full" in err.message and err.hint and "df -h" in err.hint
