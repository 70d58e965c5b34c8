"""The ``kafka`` SQL connector with Flink's option names, on the test broker."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment
from millstream.core.record import ProducerRecord
from millstream.sql import StreamTableEnvironment

pytestmark = pytest.mark.kafka


def test_kafka_tables_window_aggregation(
    kafka_log: Any, kafka_bootstrap: str, kafka_properties: dict[str, Any], kafka_topic: Callable[[str], str]
) -> None:
    src, dst = kafka_topic("sql-src"), kafka_topic("sql-dst")
    kafka_log.create_topic(src, 1)
    kafka_log.create_topic(dst, 1)
    events = [("a", 1000), ("b", 1500), ("a", 2000), ("a", 11000), ("b", 25000)]
    kafka_log.append(src, 0, [ProducerRecord(orjson.dumps({"k": k, "ms": ms}), None, ms) for k, ms in events])
    props = "".join(f", 'properties.{k}' = '{v}'" for k, v in kafka_properties.items())
    t = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
    t.execute_sql(
        f"CREATE TABLE s (k STRING, ms BIGINT, ts AS TO_TIMESTAMP_LTZ(ms, 3), WATERMARK FOR ts AS ts) WITH ("
        f"'connector' = 'kafka', 'topic' = '{src}', 'properties.bootstrap.servers' = '{kafka_bootstrap}', "
        f"'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', 'format' = 'json'{props})"
    )
    t.execute_sql(
        f"CREATE TABLE d (k STRING, window_start TIMESTAMP(3), n BIGINT) WITH ('connector' = 'kafka', "
        f"'topic' = '{dst}', 'properties.bootstrap.servers' = '{kafka_bootstrap}', 'value.format' = 'json'{props})"
    )
    t.execute_sql(
        "INSERT INTO d SELECT k, window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), "
        "INTERVAL '10' SECOND)) GROUP BY window_start, window_end, k"
    ).wait()
    out = [json.loads(r.value) for r in kafka_log.read(dst, 0, 0, timeout_ms=5000)]
    assert sorted((o["k"], o["window_start"], o["n"]) for o in out) == [
        ("a", "1970-01-01 00:00:00", 2),
        ("a", "1970-01-01 00:00:10", 1),
        ("b", "1970-01-01 00:00:00", 1),
        ("b", "1970-01-01 00:00:20", 1),
    ]
