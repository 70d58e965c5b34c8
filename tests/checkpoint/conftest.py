"""Fixtures of the checkpoint tests: an embedded log on disk with the crash job's input."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import millstream  # noqa: F401 - registers the runtime
from millstream.log import Log, open_log

sys.path.insert(0, str(Path(__file__).parent))
import crash_job


@pytest.fixture
def events_log(tmp_path: Path) -> Iterator[tuple[str, Log]]:
    """``(url, log)`` of an embedded log holding 20,000 crash-job events."""
    url = f"file://{tmp_path}/log"
    log = open_log(url)
    crash_job.produce(log, 20_000)
    yield url, log
    log.close()
