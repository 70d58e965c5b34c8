"""``millstream console``: serves the page and prints its URL; bad arguments are one clear error line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "millstream", "console", *args], capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def test_a_port_in_use_and_a_bad_log_url_are_one_error_line(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        out = _run("--log", f"file://{tmp_path}/log", "--port", str(taken))
    assert out.returncode == 2 and f"error: --port {taken}: the port is already in use" in out.stderr
    bad = _run("--log", "nosuch://x", "--port", "0")
    assert bad.returncode == 2 and "unknown log URL scheme" in bad.stderr
    advice = _run("--advice")
    assert advice.returncode == 2 and "--advice needs --jobs URL" in advice.stderr


def test_serves_the_page_until_terminated(tmp_path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "millstream", "console", "--log", f"file://{tmp_path}/log", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("console: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[1]
        assert httpx.get(url, timeout=10).status_code == 200
        assert httpx.get(url + "api/topics", timeout=10).json()["topics"] == []
    finally:
        proc.terminate()
        start = time.monotonic()
        assert proc.wait(20) == 0 and time.monotonic() - start < 20
