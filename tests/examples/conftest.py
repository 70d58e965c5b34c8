"""Helpers for the example tests: run ``millstream run examples/...`` as real subprocesses."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from millstream.log import open_log

from ..product.conftest import cli_env

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def start_example(name: str, log_url: str, cwd: Path, stdout: Any = None, **env: str) -> subprocess.Popen[str]:
    """Start ``millstream run examples/NAME/pipeline.py --log LOG_URL`` (extra environment in ``env``;
    ``stdout`` a file to write to, default a pipe)."""
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "millstream", "run", str(EXAMPLES / name / "pipeline.py"), "--log", log_url],
        cwd=cwd,
        env={**cli_env(), **env},
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def topic_values(url: str, topic: str, decode: Callable[[bytes], Any] = orjson.loads) -> list[Any]:
    """Every value of partition 0 of ``topic`` (``[]`` if the topic does not exist yet)."""
    out: list[Any] = []
    with open_log(url) as log:
        if not log.has_topic(topic):
            return out
        pos, end = 0, log.latest_offset(topic, 0)
        while pos < end:
            recs = log.read(topic, 0, pos)
            out.extend(decode(r.value) for r in recs)
            pos = recs[-1].offset + 1
    return out


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``predicate`` until true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")
