"""Pipeline tests on the test broker: jobs built with ``KafkaSource`` / ``KafkaSink`` run on the Tansu broker
the root conftest's plugin (``tests/fixtures/kafka_broker.py``) starts, or on ``$MILLSTREAM_TEST_KAFKA``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from millstream.core.record import ProducerRecord, Record
from millstream.log import Log

BASE_TS = 1_700_000_000_000
"""Event times start here (Kafka reads a record timestamp of 0 as "now")."""


@pytest.fixture
def servers(kafka_bootstrap: str) -> str:
    """Bootstrap servers for ``set_bootstrap_servers``."""
    return kafka_bootstrap


@pytest.fixture
def client_props(kafka_properties: dict[str, Any]) -> dict[str, str]:
    """The test broker's client properties, as a source/sink's ``set_property`` pairs."""
    return {k: str(v) for k, v in kafka_properties.items()}


def append_json(log: Log, topic: str, partition: int, values: list[Any], tss: list[int]) -> None:
    """Append JSON values with record timestamps to one partition in one multi-record batch."""
    import orjson

    log.append(topic, partition, [ProducerRecord(orjson.dumps(v), None, t) for v, t in zip(values, tss, strict=True)])


def read_all(log: Log, topic: str, partition: int) -> list[Record]:
    """Every record of a partition, up to its end."""
    end = log.latest_offset(topic, partition)
    out: list[Record] = []
    off = 0
    while off < end:
        recs = log.read(topic, partition, off, max_records=10_000, timeout_ms=2000)
        if not recs:
            break
        out.extend(recs)
        off = recs[-1].offset + 1
    return out


def wait_until(cond: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    """Poll ``cond`` every 20 ms; fail the test naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
