"""Error handling in a running sink/source: tolerance, retries, error log, dead-letter topic with context
headers, and failures in put() (which Kafka Connect leaves to the task)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
import pytest

from millstream.connect import RetriableError, SinkConnector, SinkRecord, SinkTask
from millstream.core.record import ProducerRecord

from .helpers import wait_until

PUT: list[str] = []
ATTEMPTS: dict[str, int] = {}


class PickyTask(SinkTask):
    """Accepts records whose value has no "bad" field; "flaky" values fail with a RetriableError twice."""

    def start(self, props: Mapping[str, str]) -> None:
        pass

    def put(self, records: list[SinkRecord]) -> None:
        for r in records:
            if isinstance(r.value, dict) and r.value.get("bad"):
                raise ValueError(f"cannot store {r.value}")
            if isinstance(r.value, dict) and r.value.get("flaky"):
                n = ATTEMPTS[r.value["flaky"]] = ATTEMPTS.get(r.value["flaky"], 0) + 1
                if n <= 2:
                    raise RetriableError("database busy")
        PUT.extend(orjson.dumps(r.value).decode() for r in records)

    def stop(self) -> None:
        pass


class PickySink(SinkConnector):
    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[SinkTask]:
        return PickyTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{}]

    def stop(self) -> None:
        pass


def produce(log, topic, values):
    log.create_topic(topic, 1, exist_ok=True)
    log.produce(topic, [ProducerRecord(v, b"k", None, (("h", b"1"),)) for v in values])


def sink(**extra):
    return {
        "connector.class": f"{__name__}.PickySink",
        "topics": "in",
        "key.converter": "StringConverter",
        "value.converter": "JsonConverter",
        "value.converter.schemas.enable": "false",
        **extra,
    }


@pytest.fixture(autouse=True)
def _reset():
    PUT.clear()
    ATTEMPTS.clear()


def test_tolerance_all_sends_conversion_transform_and_put_failures_to_the_dlq(herder, caplog):
    produce(herder.log, "in", [b'{"n": 1}', b"not json", b'{"n": 2, "bad": true}', b'"a string"', b'{"n": 3}'])
    caplog.set_level(logging.ERROR, "millstream.connect.errors")
    herder.create_connector(
        "s",
        sink(
            **{
                "errors.tolerance": "all",
                "errors.log.enable": "true",
                "errors.log.include.messages": "true",
                "errors.deadletterqueue.topic.name": "dlq",
                "errors.deadletterqueue.context.headers.enable": "true",
                "transforms": "x",
                "transforms.x.type": "ReplaceField$Value",
                "transforms.x.exclude": "unused",
                "transforms.x.predicate": "notString",
                "predicates": "notString",
                "predicates.notString.type": "TopicNameMatches",
                "predicates.notString.pattern": "in",
            }
        ),
    )
    wait_until(lambda: herder.log.has_topic("dlq") and herder.log.latest_offset("dlq", 0) == 3, what="3 DLQ records")
    wait_until(lambda: len(PUT) == 2)
    assert PUT == ['{"n":1}', '{"n":3}']
    dlq = herder.log.read("dlq", 0, 0)
    assert [r.value for r in dlq] == [b"not json", b'"a string"', b'{"n": 2, "bad": true}']  # original bytes
    stages = [dict(r.headers)["__connect.errors.stage"] for r in dlq]
    assert stages == [b"VALUE_CONVERTER", b"TRANSFORMATION", b"TASK_PUT"]
    h = dict(dlq[0].headers)
    assert h["h"] == b"1" and dlq[0].key == b"k"  # original key and headers kept
    assert h["__connect.errors.topic"] == b"in" and h["__connect.errors.partition"] == b"0"
    assert h["__connect.errors.offset"] == b"1" and h["__connect.errors.connector.name"] == b"s"
    assert h["__connect.errors.task.id"] == b"0"
    assert b"JsonConverter" in h["__connect.errors.class.name"]
    assert b"DataError" in h["__connect.errors.exception.class.name"]
    assert b"Traceback" in h["__connect.errors.exception.stacktrace"]
    assert b"cannot store" in dict(dlq[2].headers)["__connect.errors.exception.message"]
    assert "Error encountered in task s-0" in caplog.text and "offset=1" in caplog.text
    wait_until(
        lambda: [o["offset"] for o in herder.connector_offsets("s")] == [{"kafka_offset": 5}],
        what="all consumed",
    )
    assert herder.connector_status("s")["tasks"][0]["state"] == "RUNNING"


def test_tolerance_none_fails_the_task_and_commits_nothing_past_the_bad_record(herder):
    produce(herder.log, "in", [b'{"n": 1}', b"garbage", b'{"n": 2}'])
    herder.create_connector("s", sink())
    st = wait_until(lambda: (s := herder.connector_status("s"))["tasks"] and s["tasks"][0]["state"] == "FAILED" and s)
    assert "Tolerance exceeded in error handler" in st["tasks"][0]["trace"]
    assert PUT == []
    assert herder.connector_offsets("s") == []  # the batch was never put, so nothing is committed


def test_schemas_enable_mismatch_fails_with_the_setting_to_change(herder):
    produce(herder.log, "in", [b'{"n": 1}'])
    cfg = sink()
    del cfg["value.converter.schemas.enable"]
    herder.create_connector("s", cfg)
    st = wait_until(lambda: (s := herder.connector_status("s"))["tasks"] and s["tasks"][0]["state"] == "FAILED" and s)
    assert "set value.converter.schemas.enable=false" in st["tasks"][0]["trace"]


def test_retriable_put_failures_are_redelivered_with_backoff(herder):
    produce(herder.log, "in", [b'{"n": 1}', b'{"flaky": "a"}'])
    herder.create_connector("s", sink())
    wait_until(lambda: len(PUT) == 2, timeout=15, what="delivery after two retriable failures")
    assert ATTEMPTS["a"] == 3
    assert herder.connector_status("s")["tasks"][0]["state"] == "RUNNING"


def test_retry_timeout_then_tolerated_put_failure_goes_to_the_dlq(herder):
    ATTEMPTS["b"] = -100  # always fails retriably
    produce(herder.log, "in", [b'{"flaky": "b"}', b'{"n": 7}'])
    herder.create_connector(
        "s",
        sink(
            **{
                "errors.retry.timeout": "700",
                "errors.tolerance": "all",
                "errors.deadletterqueue.topic.name": "dlq",
            }
        ),
    )
    wait_until(lambda: PUT == ['{"n":7}'], timeout=15)
    wait_until(lambda: herder.log.has_topic("dlq") and herder.log.latest_offset("dlq", 0) == 1)
    assert herder.log.read("dlq", 0, 0)[0].value == b'{"flaky": "b"}'
