"""Fixtures of the parallel-execution tests: a file:// log with a JSON page-view topic."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from millstream.core.record import ProducerRecord
from millstream.log import open_log


def write_events(url: str, topic: str, partitions: int, n: int, keys: int = 20) -> None:
    """``n`` events ``{"page", "ts", "bytes"}`` spread round-robin over ``partitions``, 10 ms apart, a little out
    of order (up to 60 ms)."""
    with open_log(url) as log:
        log.create_topic(topic, partitions, exist_ok=True)
        per: list[list[ProducerRecord]] = [[] for _ in range(partitions)]
        for i in range(n):
            ts = 1_000_000 + i * 10 - (i % 7) * 10
            value = {"page": f"/p{i % keys}", "ts": ts, "bytes": i % 100, "i": i}
            per[i % partitions].append(ProducerRecord(orjson.dumps(value), None, ts))
        for p, recs in enumerate(per):
            if recs:
                log.append(topic, p, recs)


def events_source(url: str, bounded: bool = True) -> Any:
    """A JSON LogSource over the ``events`` topic of ``url`` from its start (bounded: to its end as of now)."""
    from millstream.connectors import LogSource, OffsetsInitializer

    b = (
        LogSource.builder()
        .set_log(url)
        .set_topics("events")
        .set_value_format("json")
        .set_starting_offsets(OffsetsInitializer.earliest())
    )
    return (b.set_bounded(OffsetsInitializer.latest()) if bounded else b).build()


@pytest.fixture
def log_url(tmp_path: Path) -> str:
    return f"file://{tmp_path}/log"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.fixture
def no_orphans() -> Iterator[list[Any]]:
    """Collects parallel runners; after the test, none of their worker processes may be alive."""
    runners: list[Any] = []
    yield runners
    for r in runners:
        left = [pid for pid in r.worker_pids if alive(pid)]
        assert not left, f"orphan worker processes {left}"
