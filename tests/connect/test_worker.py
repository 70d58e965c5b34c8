"""The worker end to end on a memory:// log: FileStream source → topic → FileStream sink, offsets and resume,
target states, restarts, failures, and the guarantee that a blocked connector never blocks the herder."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path

import orjson
import pytest

from millstream.connect import (
    AlreadyExistsError,
    ConnectorConfigError,
    NotFoundError,
    PluginNotFoundError,
    SourceConnector,
    SourceRecord,
    SourceTask,
)
from millstream.connect.data import STRING_SCHEMA
from millstream.connect.errors import BadRequestError
from millstream.core.record import TopicPartition

from .helpers import wait_until


@pytest.fixture(params=["memory", "file"])
def log_url(request, log_name, tmp_path):
    """Every worker test runs on the in-memory log and on the embedded (SQLite) log."""
    if request.param == "memory":
        return f"memory://{log_name}"
    return f"file://{tmp_path / 'log'}"


def write_lines(path: Path, start: int, end: int) -> None:
    with open(path, "a") as f:
        for i in range(start, end):
            f.write(f"line-{i}\n")


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def source_cfg(path: Path, topic: str = "lines", **extra: str) -> dict[str, str]:
    return {"connector.class": "FileStreamSource", "file": str(path), "topic": topic, **extra}


def sink_cfg(path: Path, topics: str = "lines", **extra: str) -> dict[str, str]:
    return {"connector.class": "FileStreamSink", "file": str(path), "topics": topics, **extra}


def test_file_round_trip_with_json_envelope(herder, tmp_path):
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    write_lines(src, 0, 500)
    herder.create_connector("src", source_cfg(src))
    herder.create_connector("snk", sink_cfg(dst))
    wait_until(lambda: len(read_lines(dst)) == 500, what="500 lines in the sink file")
    assert read_lines(dst) == [f"line-{i}" for i in range(500)]
    # Kafka's default JsonConverter (schemas.enable=true) wrote the envelope into the topic
    rec = herder.log.read("lines", 0, 0, max_records=1)[0]
    assert orjson.loads(rec.value) == {"schema": {"type": "string", "optional": False}, "payload": "line-0"}
    # follows appended lines, including a line completed later
    with open(src, "a") as f:
        f.write("partial")
        f.flush()
        time.sleep(0.3)
        f.write("-done\n")
    wait_until(lambda: len(read_lines(dst)) == 501, what="appended line")
    assert read_lines(dst)[-1] == "partial-done"
    # offsets: source byte position under Kafka's key, sink offsets as the consumer group's
    size = src.stat().st_size
    wait_until(
        lambda: (
            herder.connector_offsets("src") == [{"partition": {"filename": str(src)}, "offset": {"position": size}}]
        ),
        what="source offset flush",
    )
    wait_until(
        lambda: herder.log.committed_offsets("connect-snk") == {TopicPartition("lines", 0): 501},
        what="sink group commit",
    )
    key = orjson.dumps(["src", {"filename": str(src)}])
    stored = [r for r in herder.log.read("connect-offsets", 0, 0) if r.key == key]
    assert orjson.loads(stored[-1].value) == {"position": size}
    assert herder.active_topics("src") == ["lines"]
    assert herder.active_topics("snk") == ["lines"]


def test_restart_resumes_from_stored_offsets_without_loss_or_duplicates(make_herder, tmp_path):
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    write_lines(src, 0, 300)
    h1 = make_herder(persist=True)
    h1.create_connector("src", source_cfg(src))
    h1.create_connector("snk", sink_cfg(dst))
    wait_until(lambda: len(read_lines(dst)) == 300, what="first 300 lines")
    h1.stop()  # graceful: flushes source offsets and commits sink offsets
    write_lines(src, 300, 450)
    h2 = make_herder(persist=True)  # same log: configs, target states and offsets come back
    assert h2.connectors() == ["snk", "src"]
    wait_until(lambda: len(read_lines(dst)) == 450, what="lines written after restart")
    time.sleep(0.3)
    assert read_lines(dst) == [f"line-{i}" for i in range(450)]
    assert h2.connector_status("src")["connector"]["state"] == "RUNNING"


def test_paused_and_stopped_states_survive_a_worker_restart(make_herder, tmp_path):
    src = tmp_path / "in.txt"
    write_lines(src, 0, 5)
    h1 = make_herder(persist=True)
    h1.create_connector("a", source_cfg(src, "ta"))
    h1.create_connector("b", source_cfg(src, "tb"), "STOPPED")
    h1.wait_for_state("a", "RUNNING", tasks=1)
    h1.pause_connector("a")
    h1.wait_for_state("a", "PAUSED", tasks=1)
    h1.stop()
    h2 = make_herder(persist=True)
    h2.wait_for_state("a", "PAUSED", tasks=1)
    st = h2.wait_for_state("b", "STOPPED")
    assert st["tasks"] == []
    h2.delete_connector("a")
    h3 = make_herder(persist=True)
    assert h3.connectors() == ["b"]


def test_pause_resume_stop_and_restart(herder, tmp_path):
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    write_lines(src, 0, 10)
    herder.create_connector("src", source_cfg(src))
    herder.create_connector("snk", sink_cfg(dst))
    wait_until(lambda: len(read_lines(dst)) == 10)
    herder.pause_connector("src")
    herder.pause_connector("src")  # idempotent
    herder.wait_for_state("src", "PAUSED", tasks=1)
    write_lines(src, 10, 20)
    time.sleep(0.4)
    assert len(read_lines(dst)) == 10  # nothing read while paused
    herder.resume_connector("src")
    herder.wait_for_state("src", "RUNNING", tasks=1)
    wait_until(lambda: len(read_lines(dst)) == 20)
    herder.stop_connector("src")
    st = herder.wait_for_state("src", "STOPPED")
    assert st["tasks"] == [] and herder.tasks("src") == []
    herder.resume_connector("src")
    herder.wait_for_state("src", "RUNNING", tasks=1)
    write_lines(src, 20, 25)
    wait_until(lambda: len(read_lines(dst)) == 25)
    assert herder.restart_connector("src") is None
    status = herder.restart_connector("src", include_tasks=True)
    assert status["connector"]["state"] == "RESTARTING" and status["tasks"][0]["state"] == "RESTARTING"
    herder.wait_for_state("src", "RUNNING", tasks=1)
    herder.restart_task("src", 0)
    herder.wait_for_state("src", "RUNNING", tasks=1)
    write_lines(src, 25, 30)
    wait_until(lambda: len(read_lines(dst)) == 30)
    time.sleep(0.2)
    assert read_lines(dst) == [f"line-{i}" for i in range(30)]  # restarts neither lost nor repeated lines


def test_bad_configs_name_each_key_and_unknown_classes_list_known_ones(herder, tmp_path):
    with pytest.raises(ConnectorConfigError) as e:
        herder.create_connector("x", {"connector.class": "FileStreamSource", "batch.size": "lots", "tasks.max": "0"})
    errors = e.value.errors
    assert set(errors) == {"topic", "batch.size", "tasks.max"}
    assert "Invalid value lots for configuration batch.size: Not a number of type INT" in errors["batch.size"]
    assert errors["topic"] == ['Missing required configuration "topic" which has no default value.']
    with pytest.raises(ConnectorConfigError) as e:
        herder.create_connector("x", {"connector.class": "NoSuchConnector", "topic": "t"})
    msg = e.value.errors["connector.class"][0]
    assert "NoSuchConnector" in msg and "FileStreamSource" in msg and "FileStreamSink" in msg
    with pytest.raises(ConnectorConfigError) as e:
        herder.create_connector("x", {"connector.class": "FileStreamSink", "file": str(tmp_path / "o")})
    assert "Must configure one of topics or topics.regex" in e.value.errors["topics"]
    herder.create_connector("ok", source_cfg(tmp_path / "in.txt"))
    with pytest.raises(AlreadyExistsError):
        herder.create_connector("ok", source_cfg(tmp_path / "in.txt"))
    with pytest.raises(NotFoundError):
        herder.connector_status("nope")
    with pytest.raises(BadRequestError):
        herder.create_connector("", source_cfg(tmp_path / "in.txt"))
    with pytest.raises(PluginNotFoundError):
        from millstream.connect.plugins import connector_class

        connector_class("org.example.Missing")


class BlockingConnector(SourceConnector):
    """A connector whose start() blocks until released (a connector that hangs on an unreachable system)."""

    release = threading.Event()

    def start(self, props: Mapping[str, str]) -> None:
        self.release.wait(30)

    def task_class(self) -> type[SourceTask]:
        return CountingTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{"topic": "blocked"}]

    def stop(self) -> None:
        pass


FAILED_ONCE: set[str] = set()


@pytest.fixture(autouse=True)
def _reset_failures():
    FAILED_ONCE.clear()


class CountingTask(SourceTask):
    """Emits numbered records; ``fail_at`` makes poll raise once (per topic) when that number is reached."""

    def start(self, props: Mapping[str, str]) -> None:
        self.topic = props["topic"]
        off = self.context.offset_storage_reader().offset({"p": 0})
        self.n = off["n"] if off else 0
        self.fail_at = int(props.get("fail_at", -1))
        self.limit = int(props.get("limit", 50))

    def poll(self):
        if self.n == self.fail_at and self.topic not in FAILED_ONCE:
            FAILED_ONCE.add(self.topic)
            raise RuntimeError(f"boom at record {self.n}")
        if self.n >= self.limit:
            time.sleep(0.02)
            return None
        self.n += 1
        return [
            SourceRecord(self.topic, None, None, None, STRING_SCHEMA, str(self.n), None, [], {"p": 0}, {"n": self.n})
        ]

    def stop(self) -> None:
        pass


class CountingConnector(SourceConnector):
    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[SourceTask]:
        return CountingTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{k: v for k, v in self.props.items() if k in ("topic", "fail_at", "limit")}]

    def stop(self) -> None:
        pass


def test_a_blocked_connector_never_blocks_the_herder(herder, tmp_path):
    BlockingConnector.release.clear()
    cls = f"{__name__}.BlockingConnector"
    t0 = time.monotonic()
    herder.create_connector("stuck", {"connector.class": cls})
    assert herder.connector_status("stuck")["connector"]["state"] == "UNASSIGNED"
    herder.pause_connector("stuck")
    herder.resume_connector("stuck")
    herder.restart_connector("stuck", include_tasks=True)
    herder.create_connector("other", source_cfg(tmp_path / "x.txt"))
    herder.wait_for_state("other", "RUNNING", tasks=1)
    herder.delete_connector("stuck")
    assert time.monotonic() - t0 < 5
    BlockingConnector.release.set()


def test_failed_task_reports_trace_and_restarts_on_request_or_automatically(herder):
    cls = f"{__name__}.CountingConnector"
    herder.create_connector("c", {"connector.class": cls, "topic": "nums", "fail_at": "5", "limit": "8"})
    st = wait_until(lambda: (s := herder.connector_status("c"))["tasks"] and s["tasks"][0]["state"] == "FAILED" and s)
    assert "boom at record 5" in st["tasks"][0]["trace"]
    status = herder.restart_connector("c", include_tasks=True, only_failed=True)
    assert status["connector"]["state"] == "RUNNING" and status["tasks"][0]["state"] == "RESTARTING"
    wait_until(lambda: herder.log.latest_offset("nums", 0) == 8, what="8 records after restart")
    vals = [r.value for r in herder.log.read("nums", 0, 0)]
    assert [orjson.loads(v)["payload"] for v in vals] == [str(i) for i in range(1, 9)]

    herder.create_connector(
        "auto",
        {
            "connector.class": cls,
            "topic": "nums2",
            "fail_at": "3",
            "limit": "6",
            "errors.restart.enable": "true",
            "errors.restart.backoff.initial.ms": "50",
        },
    )
    wait_until(
        lambda: herder.log.has_topic("nums2") and herder.log.latest_offset("nums2", 0) == 6,
        what="automatic restart after the failure",
    )
    herder.wait_for_state("auto", "RUNNING", tasks=1)


def test_exactly_once_source_writes_records_and_offsets_atomically(make_herder, tmp_path):
    src, _dst = tmp_path / "in.txt", tmp_path / "out.txt"
    write_lines(src, 0, 100)
    h = make_herder(**{"exactly.once.source.support": "enabled", "offset.flush.interval.ms": "60000"})
    h.create_connector("src", source_cfg(src))
    wait_until(lambda: h.log.has_topic("lines") and h.log.latest_offset("lines", 0) == 100)
    # offsets are stored with each batch, not at the (here: one minute) flush interval
    assert h.connector_offsets("src")[0]["offset"] == {"position": src.stat().st_size}


COMMITTED: list[tuple[str, object]] = []


class KeyedTask(SourceTask):
    """Emits keyed records with headers and records commit_record metadata."""

    def start(self, props: Mapping[str, str]) -> None:
        self.done = False

    def poll(self):
        if self.done:
            time.sleep(0.02)
            return None
        self.done = True
        from millstream.connect.data import Header

        return [
            SourceRecord(
                "raw-events",
                None,
                None,
                f"k{i}",
                None,
                {"id": i, "kind": "drop" if i == 1 else "keep"},
                1_700_000_000_000 + i,
                [Header("trace", f"t{i}")],
                {"src": "x"},
                {"i": i},
            )
            for i in range(3)
        ]

    def commit_record(self, record, metadata) -> None:
        COMMITTED.append((record.value["id"], metadata))

    def stop(self) -> None:
        pass


class KeyedConnector(CountingConnector):
    def task_class(self) -> type[SourceTask]:
        return KeyedTask


def test_source_transforms_keys_headers_and_commit_record(herder):
    COMMITTED.clear()
    herder.create_connector(
        "keyed",
        {
            "connector.class": f"{__name__}.KeyedConnector",
            "key.converter": "StringConverter",
            "value.converter": "JsonConverter",
            "value.converter.schemas.enable": "false",
            "transforms": "route,drop,stamp",
            "transforms.route.type": "RegexRouter",
            "transforms.route.regex": "raw-(.*)",
            "transforms.route.replacement": "clean-$1",
            "transforms.drop.type": "Filter",
            "transforms.drop.predicate": "isDrop",
            "transforms.stamp.type": "InsertField$Value",
            "transforms.stamp.topic.field": "topic",
            "predicates": "isDrop",
            "predicates.isDrop.type": "HasHeaderKey",
            "predicates.isDrop.name": "drop-me",
        },
    )
    wait_until(lambda: herder.log.has_topic("clean-events") and herder.log.latest_offset("clean-events", 0) == 3)
    recs = herder.log.read("clean-events", 0, 0)
    assert [r.key for r in recs] == [b"k0", b"k1", b"k2"]
    assert orjson.loads(recs[0].value) == {"id": 0, "kind": "keep", "topic": "clean-events"}
    assert recs[0].headers == (("trace", b"t0"),) and recs[0].timestamp == 1_700_000_000_000
    wait_until(lambda: len(COMMITTED) == 3)
    assert [m for _i, m in COMMITTED] == [
        ("clean-events", 0, 0),
        ("clean-events", 0, 1),
        ("clean-events", 0, 2),
    ]
    wait_until(lambda: herder.connector_offsets("keyed") == [{"partition": {"src": "x"}, "offset": {"i": 2}}])


def test_reconfiguring_and_recreating_connectors_neither_loses_nor_repeats_lines(herder, tmp_path):
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    write_lines(src, 0, 200)
    herder.create_connector("src", source_cfg(src))
    herder.create_connector("snk", sink_cfg(dst))
    wait_until(lambda: len(read_lines(dst)) == 200)
    created, info = herder.put_connector_config("src", source_cfg(src, **{"batch.size": "7"}))
    assert not created and info["config"]["batch.size"] == "7"
    created, _ = herder.put_connector_config("snk", sink_cfg(dst, **{"consumer.override.max.poll.records": "9"}))
    write_lines(src, 200, 300)
    wait_until(lambda: len(read_lines(dst)) >= 300)
    herder.delete_connector("snk")
    herder.create_connector("snk", sink_cfg(dst))  # same name: resumes from the group's committed offsets
    write_lines(src, 300, 350)
    wait_until(lambda: len(read_lines(dst)) >= 350)
    time.sleep(0.3)
    assert read_lines(dst) == [f"line-{i}" for i in range(350)]


def test_tasks_report_record_counts_through_sensors(herder, tmp_path):
    from millstream.core import sensors

    counts: dict[tuple[str, str], float] = {}

    class Counter:
        def __init__(self, key):
            self.key = key

        def inc(self, n=1):
            counts[self.key] = counts.get(self.key, 0) + n

        def set(self, value):
            pass

        def observe(self, value):
            pass

    sensors.install(lambda name, scope, tags: Counter((name, scope)))
    try:
        src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
        write_lines(src, 0, 40)
        herder.create_connector("src", source_cfg(src))
        herder.create_connector("snk", sink_cfg(dst))
        wait_until(lambda: len(read_lines(dst)) == 40)
    finally:
        sensors.install(None)
    assert counts[("source-record-poll-total", "connect.src.0")] == 40
    assert counts[("source-record-write-total", "connect.src.0")] == 40
    assert counts[("sink-record-read-total", "connect.snk.0")] == 40
    assert counts[("sink-record-send-total", "connect.snk.0")] == 40


def test_the_tasks_of_a_sink_share_its_partitions_and_write_each_record_once(make_herder, tmp_path, log_url):
    """tasks.max=2: on the embedded log the two tasks are members of the sink's group and split the topic's
    partitions (on the in-memory log, which coordinates no groups, each would read all: one task suffices there)."""
    if not log_url.startswith("file://"):
        pytest.skip("the in-memory log has no group membership")
    from millstream.core.record import ProducerRecord

    herder = make_herder()
    herder.log.create_topic("multi", 4)
    for p in range(4):
        herder.log.append("multi", p, [ProducerRecord(f"r{p}-{i}".encode(), None, i) for i in range(100)])
    dst = tmp_path / "out.txt"
    cfg = sink_cfg(dst, topics="multi", **{"tasks.max": "2"})
    cfg["value.converter"] = "org.apache.kafka.connect.storage.StringConverter"
    herder.create_connector("split", cfg)
    herder.wait_for_state("split", "RUNNING", tasks=2, timeout=20)
    want = sorted(f"r{p}-{i}" for p in range(4) for i in range(100))
    wait_until(lambda: len(read_lines(dst)) >= 400, what="400 lines")
    time.sleep(1.5)  # a second heartbeat round: nothing more may come
    assert sorted(read_lines(dst)) == want  # each record once, though two tasks read the topic
    wait_until(
        lambda: herder.log.committed_offsets("connect-split") == {TopicPartition("multi", p): 100 for p in range(4)},
        what="the group's commits",
    )


def test_a_sink_task_stopped_before_it_starts_leaves_its_group(make_herder, tmp_path, log_url, monkeypatch):
    """A stop() that comes while the task is being set up (its consumer made and subscribed, ``SinkTask.start``
    not called yet): the task ends without starting, and its consumer leaves the group at once, as Kafka
    Connect closes it, instead of holding its partitions until its session expires."""
    if not log_url.startswith("file://"):
        pytest.skip("the in-memory log has no group membership")
    from millstream.connect.worker import WorkerSinkTask

    made: list[WorkerSinkTask] = []
    setup = WorkerSinkTask.setup_task

    def setup_then_stop(self: WorkerSinkTask) -> None:  # the stop arrives right after the setup, every time
        setup(self)
        made.append(self)
        self.stop()

    monkeypatch.setattr(WorkerSinkTask, "setup_task", setup_then_stop)
    herder = make_herder(**{"consumer.session.timeout.ms": "60000"})
    herder.log.create_topic("early", 2)
    herder.create_connector("early-stop", sink_cfg(tmp_path / "out.txt", topics="early"))
    task = wait_until(lambda: made and made[0], what="the sink task's setup")
    task.join(10)
    assert not task.is_alive()
    assert herder.log.describe_group_members("connect-early-stop") == []
