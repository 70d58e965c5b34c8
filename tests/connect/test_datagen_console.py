"""Datagen quickstarts (rate, iterations, resume) and the console sink."""

from __future__ import annotations

import io

import orjson
import pytest

from millstream.connect.connectors.console import ConsoleSinkTask
from millstream.connect.connectors.datagen import QUICKSTARTS

from .helpers import wait_until


@pytest.mark.parametrize("quickstart", sorted(QUICKSTARTS))
def test_each_quickstart_produces_schema_conforming_records(herder, quickstart):
    herder.create_connector(
        quickstart,
        {
            "connector.class": "DatagenConnector",
            "kafka.topic": quickstart,
            "quickstart": quickstart,
            "iterations": "20",
            "max.interval": "0",
            "key.converter": "StringConverter",
        },
    )
    wait_until(lambda: herder.log.has_topic(quickstart) and herder.log.latest_offset(quickstart, 0) == 20)
    recs = herder.log.read(quickstart, 0, 0)
    env = orjson.loads(recs[0].value)
    schema = QUICKSTARTS[quickstart][0]
    assert [f["field"] for f in env["schema"]["fields"]] == [f.name for f in schema.fields]
    assert set(env["payload"]) == {f.name for f in schema.fields}
    keyfield = QUICKSTARTS[quickstart][1]
    assert recs[0].key == str(env["payload"][keyfield]).encode()


def test_rate_iterations_and_resume_after_restart(make_herder):
    h = make_herder(persist=True)
    h.create_connector(
        "gen",
        {
            "connector.class": "Datagen",
            "kafka.topic": "orders",
            "quickstart": "orders",
            "iterations": "30",
            "rate": "100",
            "random.seed": "7",
        },
    )
    wait_until(lambda: h.log.has_topic("orders") and h.log.latest_offset("orders", 0) >= 10)
    h.stop()
    h2 = make_herder(persist=True)
    wait_until(lambda: h2.log.latest_offset("orders", 0) == 30, timeout=15)
    ids = [orjson.loads(r.value)["payload"]["orderid"] for r in h2.log.read("orders", 0, 0)]
    assert ids == list(range(30))  # resumed at the stored iteration: no gaps, no repeats
    wait_until(
        lambda: h2.connector_offsets("gen") == [{"partition": {"task.id": 0}, "offset": {"current.iteration": 30}}]
    )


def test_console_sink_prints_values_keys_and_metadata(herder):
    herder.log.create_topic("t", 1)
    herder.log.produce("t", [(b'{"a":1}', b"k1")])
    task = ConsoleSinkTask()
    task.out = io.StringIO()
    task.start({"print.key": "true", "print.metadata": "true"})
    from millstream.connect.data import SinkRecord

    task.put(
        [
            SinkRecord("t", 0, None, "k1", None, {"a": 1}, 0, [], 5),
            SinkRecord("t", 0, None, None, None, "x", 0, [], 6),
        ]
    )
    assert task.out.getvalue() == 't[0]@5\tk1\t{"a":1}\nt[0]@6\tnull\tx\n'


def test_console_sink_connector_runs(herder, capsys):
    herder.log.create_topic("c", 1)
    herder.log.produce("c", [(b"hello", None)])
    herder.create_connector(
        "console", {"connector.class": "ConsoleSink", "topics": "c", "value.converter": "StringConverter"}
    )
    wait_until(lambda: "hello" in capsys.readouterr().out or herder.connector_offsets("console"))
