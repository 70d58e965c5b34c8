"""Behaviour behind the throughput work: lines reach the sink file as ``put`` returns (not at the next offset
commit), a sink started before its topic exists still gets every record, the fast paths keep offsets and
ordering exact, the cyclic GC is switched back on after a batch, and tasks run with raised GC thresholds
that are restored when the last task ends."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import orjson
import pytest

from millstream.connect.api import SourceConnector, SourceTask, Task
from millstream.connect.connectors.file import FileStreamSinkTask
from millstream.connect.data import STRING_SCHEMA, Field, Schema, SinkRecord, SourceRecord
from millstream.connect.worker import TASK_GC_THRESHOLD, task_gc
from millstream.core.record import Record, TopicPartition
from millstream.log import open_log
from millstream.log.partitioner import partition_for_key

from .helpers import wait_until
from .test_errors import PUT

# offsets are committed only on stop: anything seen before then came through put() itself
SLOW_COMMIT = {"offset.flush.interval.ms": "600000"}


@pytest.fixture(params=["memory", "file"])
def log_url(request, log_name, tmp_path):
    if request.param == "memory":
        return f"memory://{log_name}"
    return f"file://{tmp_path / 'log'}"


def _sink_record(value: str, offset: int) -> SinkRecord:
    return SinkRecord("t", 0, None, None, STRING_SCHEMA, value, 0, [], offset)


def test_file_sink_put_writes_through_before_flush(tmp_path: Path):
    out = tmp_path / "out.txt"
    task = FileStreamSinkTask()
    task.start({"file": str(out)})
    try:
        task.put([_sink_record(f"v{i}", i) for i in range(3)])
        assert out.read_text() == "v0\nv1\nv2\n"  # no flush() yet: put() handed the lines to the OS
        task.put([_sink_record("tail", 3)])
        assert out.read_text().splitlines() == ["v0", "v1", "v2", "tail"]
    finally:
        task.stop()


def test_sink_started_before_its_topic_gets_every_line_without_waiting_for_a_commit(make_herder, tmp_path):
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    lines = [f"line-{i}" for i in range(5003)]  # not a multiple of the batch size: a short last batch
    src.write_text("".join(f"{line}\n" for line in lines))
    herder = make_herder(**SLOW_COMMIT)
    herder.create_connector(
        "snk",
        {"connector.class": "FileStreamSink", "file": str(dst), "topics": "lines"},
    )
    herder.create_connector(
        "src", {"connector.class": "FileStreamSource", "file": str(src), "topic": "lines", "batch.size": "1000"}
    )
    wait_until(lambda: dst.exists() and len(dst.read_text().splitlines()) == len(lines), what="every line")
    assert dst.read_text().splitlines() == lines
    # nothing committed yet (600 s interval); stopping commits exactly what put() accepted
    assert herder.log.committed_offsets("connect-snk") == {}
    herder.stop()
    log = open_log(herder.log.url) if herder.log.url.startswith("file://") else herder.log
    assert log.committed_offsets("connect-snk") == {TopicPartition("lines", 0): len(lines)}


def test_sink_on_a_multi_partition_topic_reads_every_partition(make_herder, tmp_path):
    dst = tmp_path / "out.txt"
    herder = make_herder()
    herder.log.create_topic("multi", 3)
    herder.create_connector(
        "snk",
        {
            "connector.class": "FileStreamSink",
            "file": str(dst),
            "topics": "multi",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        },
    )
    for p in range(3):
        herder.log.append("multi", p, [(f"p{p}-{i}".encode(),) for i in range(50)])
    wait_until(lambda: dst.exists() and len(dst.read_text().splitlines()) == 150, what="150 lines")
    got = dst.read_text().splitlines()
    for p in range(3):
        assert [x for x in got if x.startswith(f"p{p}-")] == [f"p{p}-{i}" for i in range(50)]


def test_fast_paths_leave_the_gc_as_they_found_it(make_herder, tmp_path):
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("".join(f"x{i}\n" for i in range(3000)))
    herder = make_herder()
    herder.create_connector("src", {"connector.class": "FileStreamSource", "file": str(src), "topic": "lines"})
    herder.create_connector("snk", {"connector.class": "FileStreamSink", "file": str(dst), "topics": "lines"})
    wait_until(lambda: dst.exists() and len(dst.read_text().splitlines()) == 3000, what="3000 lines")
    herder.stop()
    assert gc.isenabled()


def test_tasks_raise_the_gc_thresholds_while_they_run_and_restore_them(make_herder, tmp_path):
    before = gc.get_threshold()
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("".join(f"x{i}\n" for i in range(100)))
    herder = make_herder()
    herder.create_connector("src", {"connector.class": "FileStreamSource", "file": str(src), "topic": "lines"})
    herder.create_connector("snk", {"connector.class": "FileStreamSink", "file": str(dst), "topics": "lines"})
    wait_until(lambda: dst.exists() and len(dst.read_text().splitlines()) == 100, what="100 lines")
    running = gc.get_threshold()
    assert all(r >= max(b, t) for r, b, t in zip(running, before, TASK_GC_THRESHOLD, strict=True))
    herder.stop()
    assert gc.get_threshold() == before


def test_task_gc_nests_across_threads_and_respects_a_later_change():
    before = gc.get_threshold()
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with task_gc():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=other)
    with task_gc():
        t.start()
        assert entered.wait(10)
    assert gc.get_threshold()[0] >= TASK_GC_THRESHOLD[0]  # the other thread is still inside
    release.set()
    t.join(10)
    assert gc.get_threshold() == before
    try:
        with task_gc():
            gc.set_threshold(1234, 5, 6)  # someone else's setting: left alone on exit
        assert gc.get_threshold() == (1234, 5, 6)
    finally:
        gc.set_threshold(*before)


def test_a_put_failure_in_the_column_fast_path_sends_the_original_record_to_the_dlq(make_herder, tmp_path):
    """Keyless records without headers are polled as columns (no Record objects); a record put() rejects
    must still reach the DLQ as its original bytes, and only accepted records count as consumed."""
    PUT.clear()
    herder = make_herder()
    herder.log.create_topic("in", 2)
    herder.log.append("in", 0, [(b'{"n": 1}',), (b'{"n": 2, "bad": true}',), (b'{"n": 3}',)])
    herder.log.append("in", 1, [(b'{"n": 4}',)])
    herder.create_connector(
        "s",
        {
            "connector.class": "tests.connect.test_errors.PickySink",
            "topics": "in",
            "value.converter": "JsonConverter",
            "value.converter.schemas.enable": "false",
            "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": "dlq",
        },
    )
    wait_until(lambda: herder.log.has_topic("dlq") and herder.log.latest_offset("dlq", 0) == 1, what="1 DLQ record")
    assert herder.log.read("dlq", 0, 0)[0].value == b'{"n": 2, "bad": true}'
    wait_until(lambda: sorted(PUT) == ['{"n":1}', '{"n":3}', '{"n":4}'], what="the good records")
    wait_until(
        lambda: sorted(o["offset"]["kafka_offset"] for o in herder.connector_offsets("s")) == [1, 3],
        what="offsets past every record",
    )


_KEY = Schema("struct", False, "k", fields=(Field("id", Schema("int64"), 0),))
_VALUE = Schema("struct", True, "v", fields=(Field("n", Schema("string"), 0),))


def _keyed_batches() -> list[list[SourceRecord]]:
    """Batches the source fast path takes (all keyed; keyless; keyed with tombstones) and one it leaves to
    the general path (keys on some records only)."""

    def rec(i: int, keyed: bool, tombstone: bool = False) -> SourceRecord:
        value = None if tombstone else {"n": f"v{i}"}
        return SourceRecord(
            "keyed", None, _KEY if keyed else None, {"id": i} if keyed else None,
            None if tombstone else _VALUE, value, 1000 + i, (), {"p": 1}, {"o": i},
        )  # fmt: skip

    return [
        [rec(i, True) for i in range(0, 50)],
        [rec(i, False) for i in range(50, 60)],
        [rec(i, True, tombstone=i % 2 == 1) for i in range(60, 80)],
        [rec(i, i % 3 == 0) for i in range(80, 100)],
    ]


class KeyedSourceTask(SourceTask):
    def start(self, props: Mapping[str, str]) -> None:
        self.batches = _keyed_batches()

    def poll(self) -> list[SourceRecord] | None:
        if self.batches:
            return self.batches.pop(0)
        time.sleep(0.01)
        return None

    def stop(self) -> None:
        pass


class KeyedSource(SourceConnector):
    def start(self, props: Mapping[str, str]) -> None:
        pass

    def task_class(self) -> type[Task]:
        return KeyedSourceTask

    def stop(self) -> None:
        pass


@pytest.mark.parametrize("partitions", [1, 3])
def test_keyed_source_records_are_written_as_the_general_path_writes_them(make_herder, partitions):
    """Keys converted in the batch fast path: the same key and value bytes, key partitioning, order and
    offsets as the record-by-record path gives."""
    herder = make_herder()
    herder.create_connector(
        "keyed",
        {
            "connector.class": f"{__name__}.KeyedSource",
            "topic.creation.default.partitions": str(partitions),
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "false",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
        },
    )
    log = herder.log

    def written() -> list[Record]:
        if not log.has_topic("keyed"):
            return []
        return [r for p in range(partitions) for r in log.read("keyed", p, 0, max_records=1000)]

    wait_until(lambda: len(written()) == 100, what="100 records")
    expected = [r for batch in _keyed_batches() for r in batch]
    by_value = {}
    for r in written():
        i = r.timestamp - 1000
        want = expected[i]
        key = None if want.key is None else orjson.dumps(want.key)
        assert (r.key, r.value) == (key, None if want.value is None else orjson.dumps(want.value)), i
        if key is not None and partitions > 1:
            assert r.partition == partition_for_key(key, partitions)
        by_value[i] = r
    assert sorted(by_value) == list(range(100))
    for p in range(partitions):  # the task's order within each partition
        stamps = [r.timestamp for r in log.read("keyed", p, 0, max_records=1000)]
        assert stamps == sorted(stamps)
    wait_until(lambda: herder.offsets.get("keyed", {"p": 1}) == {"o": 99}, what="the last offset stored")
