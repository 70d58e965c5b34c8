"""The ``debezium-json`` value format in stream jobs: Debezium change events on a topic read as changelog rows
(+I/-U/+U/-D), materialised by key, and written back as change events."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from millstream import StreamExecutionEnvironment
from millstream.connectors import LogSink, LogSource, OffsetsInitializer
from millstream.core.changelog import ChangelogRow, Materializer, RowKind
from millstream.core.errors import SerdeError
from millstream.core.record import ProducerRecord
from millstream.log import open_log
from millstream.stream.errors import JobFailedError
from millstream.testing import CollectingSink

EVENTS = [
    {"before": None, "after": {"id": 1, "name": "ann"}, "op": "c", "ts_ms": 1},
    {"before": None, "after": {"id": 2, "name": "bob"}, "op": "r", "ts_ms": 2},
    {"before": {"id": 1, "name": "ann"}, "after": {"id": 1, "name": "anna"}, "op": "u", "ts_ms": 3},
    {"before": {"id": 2, "name": "bob"}, "after": None, "op": "d", "ts_ms": 4},
]


def source(url: str, topic: str = "cdc") -> LogSource:
    return (
        LogSource.builder()
        .set_log(url)
        .set_topics(topic)
        .set_value_format("debezium-json")
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .build()
    )


@pytest.mark.parametrize("parallelism", [1, 2])
def test_change_events_become_changelog_rows_and_round_trip(tmp_path: Path, parallelism: int) -> None:
    url = f"file://{tmp_path}/log"
    with open_log(url) as log:
        log.create_topic("cdc", 1)
        log.create_topic("copy", 1)
        recs = [ProducerRecord(orjson.dumps(e), b"k", 1000 + i) for i, e in enumerate(EVENTS)]
        recs.append(ProducerRecord(None, b"k", 2000))  # a tombstone: no row
        log.append("cdc", 0, recs)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    rows = env.from_source(source(url), None, "cdc")
    sink = CollectingSink()
    rows.sink_to(sink)
    rows.sink_to(LogSink.builder().set_log(url).set_topic("copy").set_value_format("debezium-json").build())
    env.execute("changelog")
    assert [(r.kind.value, r.row) for r in sink.values] == [
        ("+I", {"id": 1, "name": "ann"}),
        ("+I", {"id": 2, "name": "bob"}),
        ("-U", {"id": 1, "name": "ann"}),
        ("+U", {"id": 1, "name": "anna"}),
        ("-D", {"id": 2, "name": "bob"}),
    ]
    assert sink.timestamps == [1000, 1001, 1002, 1002, 1003]
    table = Materializer(lambda row: row["id"])
    table.apply(sink.values)
    assert table.rows == {1: {"id": 1, "name": "anna"}}
    # written back as change events (as Flink writes them: -U/-D as deletes, +I/+U as creates), they
    # materialise to the same table
    env = StreamExecutionEnvironment.get_execution_environment()
    again = CollectingSink()
    env.from_source(source(url, "copy"), None, "copy").sink_to(again)
    env.execute("read back")
    assert [r.kind.value for r in again.values] == ["+I", "+I", "-D", "+I", "-D"]
    assert [r.row for r in again.values] == [r.row for r in sink.values]
    assert all(isinstance(r, ChangelogRow) and isinstance(r.kind, RowKind) for r in again.values)
    copy = Materializer(lambda row: row["id"])
    copy.apply(again.values)
    assert copy.rows == table.rows


def test_a_record_that_is_no_change_event_names_topic_and_offset(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/log"
    with open_log(url) as log:
        log.create_topic("cdc", 1)
        log.append("cdc", 0, [ProducerRecord(orjson.dumps(EVENTS[0]), None, 1), ProducerRecord(b"{oops", None, 2)])
    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_source(source(url), None, "cdc").sink_to(CollectingSink())
    with pytest.raises(JobFailedError, match=r"record at cdc\[0\] offset 1 is not a Debezium change event") as info:
        env.execute("bad")
    assert isinstance(info.value.__cause__, SerdeError)
