"""The Tansu fixture itself: the broker it starts dies with the process that started it, even on SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.fixtures.kafka_broker import tansu_binary

pytestmark = pytest.mark.kafka

SCRIPT = """
import sys, tempfile, time
from pathlib import Path
from tests.fixtures.kafka_broker import TansuBroker
broker = TansuBroker(Path(tempfile.mkdtemp()))
broker.start()
print(broker.proc.pid, broker.bootstrap, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_broker_dies_when_the_test_process_is_killed():
    try:
        tansu_binary()
    except Exception as exc:
        pytest.skip(f"no tansu binary: {exc}")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, env=env, cwd=root)
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline().decode().split()
        broker_pid = int(line[0])
        assert _alive(broker_pid)
        parent.send_signal(signal.SIGKILL)  # no atexit, no fixture teardown: only the kernel can clean up
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(broker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(broker_pid), "tansu outlived the process that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
