"""Connectors as stream sources and sinks: real files, the embedded log on disk, real connector tasks."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import millstream  # noqa: F401 - registers the runtime
from millstream import StreamExecutionEnvironment
from millstream.connect import SinkConnector, SourceConnector
from millstream.connect.connectors.file import FileStreamSinkConnector, FileStreamSourceConnector
from millstream.connectors import LogSink
from millstream.log import open_log
from millstream.runtime.connector_bridge import ConnectorReader
from millstream.stream.connector_descriptors import ConnectorSink, ConnectorSource


def _wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _topic_values(url: str, topic: str) -> list[Any]:
    log = open_log(url)
    try:
        out: list[Any] = []
        for p in range(log.describe_topic(topic).partitions):
            pos, end = 0, log.latest_offset(topic, p)
            while pos < end:
                recs = log.read(topic, p, pos)
                out.extend(r.value for r in recs)
                pos = recs[-1].offset + 1
        return out
    finally:
        log.close()


def test_filestream_source_feeds_a_job_that_writes_the_log(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("".join(f"line {i}\n" for i in range(50)))
    url = f"file://{tmp_path / 'log'}"
    log = open_log(url)
    log.create_topic("out", 1)
    log.close()
    env = StreamExecutionEnvironment.get_execution_environment()
    lines = env.add_source(ConnectorSource.of(FileStreamSourceConnector, {"file": str(src), "topic": "lines"}))
    lines.map(lambda x: x + " processed").sink_to(
        LogSink.builder().set_log(url).set_topic("out").set_value_format("string").build()
    )
    client = env.execute_async("file to log")
    try:
        _wait_for(lambda: len(_topic_values(url, "out")) >= 50)
        with src.open("a") as fh:  # the connector follows the file, as FileStreamSource does
            fh.write("late line\n")
        _wait_for(lambda: len(_topic_values(url, "out")) >= 51)
    finally:
        client.cancel()
    values = [v.decode() for v in _topic_values(url, "out")]
    assert values == [f"line {i} processed" for i in range(50)] + ["late line processed"]


def test_reader_snapshot_restore_resumes_after_the_checkpointed_offset(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("a\nb\nc\n")
    desc = ConnectorSource.of(FileStreamSourceConnector(), {"file": str(src), "topic": "t"})
    first = ConnectorReader(desc)
    first.open()
    got: list[Any] = []
    _wait_for(lambda: got.extend(first.read(0, 100)[0]) or len(got) >= 3)
    snap = first.snapshot()
    first.close()
    assert got == ["a", "b", "c"]
    assert snap == {"offsets": [[{"filename": str(src)}, {"position": 6}]]}
    with src.open("a") as fh:
        fh.write("d\ne\n")
    second = ConnectorReader(desc)
    second.open()  # the runtime opens readers first, then restores checkpoints into them
    second.restore(snap)
    more: list[Any] = []
    _wait_for(lambda: more.extend(second.read(0, 1)[0]) or len(more) >= 2)
    second.close()
    assert more == ["d", "e"]  # max_records=1 still hands out every polled record, one per read


def test_transforms_and_value_converter_from_the_connector_config(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("keep 1\ndrop 2\nkeep 3\n")
    env = StreamExecutionEnvironment.get_execution_environment()
    config = {
        "file": str(src),
        "topic": "lines",
        "transforms": "route",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": "lines",
        "transforms.route.replacement": "routed",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    }
    got: list[Any] = []
    env.add_source(ConnectorSource.of(FileStreamSourceConnector, config)).filter(
        lambda b: not b.startswith(b"drop")
    ).add_sink(got.append)
    client = env.execute_async("transforms")
    try:
        _wait_for(lambda: len(got) >= 2)
    finally:
        client.cancel()
    assert got == [b"keep 1", b"keep 3"]  # StringConverter made bytes of the connect values


def test_filestream_sink_connector_as_a_stream_sink(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection(["x", "y", {"z": 1}]).add_sink(
        ConnectorSink.of(FileStreamSinkConnector, {"file": str(out), "topics": "t"})
    )
    env.execute("to file")
    assert out.read_text().splitlines() == ["x", "y", '{"z":1}']


class CountingSource(SourceConnector):
    """The seed article's shape: its own start/poll/stop, no task class."""

    def __init__(self, config: Mapping[str, str]) -> None:
        self.config = config
        self.stopped = False

    def start(self) -> None:
        self.n = 0
        self.limit = int(self.config["count"])

    def poll(self, timeout: int = 300000) -> list[str]:
        if self.n >= self.limit:
            raise StopIteration
        self.n += 1
        return [f"message {self.n}"]

    def stop(self) -> None:
        self.stopped = True


class FileWritingSink(SinkConnector):
    """A seed-shaped sink: its own start/put/stop."""

    def __init__(self, config: Mapping[str, str]) -> None:
        self.config = config

    def start(self) -> None:
        self.fh = open(self.config["path"], "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()

    def put(self, values: list[str]) -> None:
        for v in values:
            self.fh.write(v + "\n")

    def stop(self) -> None:
        self.fh.close()


def test_seed_shaped_connectors_run_in_a_bounded_job(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    source = CountingSource({"count": "10"})
    env = StreamExecutionEnvironment.get_execution_environment()
    env.add_source(source).map(lambda x: x + " processed").add_sink(FileWritingSink({"path": str(out)}))
    env.execute("Kafka-Flink example")
    assert out.read_text().splitlines() == [f"message {i} processed" for i in range(1, 11)]
    assert source.stopped


def test_a_connector_class_without_a_task_class_fails_clearly() -> None:
    class NoTasks(SourceConnector):
        def start(self, props: Mapping[str, str]) -> None:
            pass

        def stop(self) -> None:
            pass

    env = StreamExecutionEnvironment.get_execution_environment()
    env.add_source(NoTasks).add_sink(lambda v: None)
    with pytest.raises(Exception, match="has no task class"):
        env.execute("broken")
