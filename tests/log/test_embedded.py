"""Embedded-log specifics: the file, bad files at the log path, reopening, threads, retention parity."""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from millstream.core.clock import ManualClock
from millstream.core.errors import (
    ConfigError,
    CorruptLogError,
    LogError,
    OffsetOutOfRangeError,
    SerdeError,
    UnknownTopicError,
)
from millstream.core.record import ProducerRecord, TopicPartition
from millstream.log import open_log
from millstream.log.embedded import EmbeddedLog
from millstream.log.memory import MemoryLog
from millstream.log.sqlite_store import APPLICATION_ID, DB_FILE, FORMAT_VERSION

from .contract import read_all, recs, values


def make_log(tmp_path: Path) -> tuple[Path, EmbeddedLog]:
    path = tmp_path / "log"
    log = EmbeddedLog(path)
    log.create_topic("t", 2)
    log.append("t", 0, recs(b"a", b"b", b"c"))
    log.commit_offsets("g", {TopicPartition("t", 0): 2})
    log.close()
    return path, log


# -- the path and the file -------------------------------------------------------------------------------
def test_creates_missing_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "log"
    with open_log(f"file://{path}") as log:
        log.create_topic("x")
    assert (path / DB_FILE).is_file()


def test_file_url_needs_a_path() -> None:
    with pytest.raises(ConfigError, match="path"):
        open_log("file://")


def test_marks_the_database(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path)
    conn = sqlite3.connect(path / DB_FILE)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()[0] == str(FORMAT_VERSION)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with EmbeddedLog(path) as log:
        log.create_topic("t", 2, {"retention.ms": 5000, "cleanup.policy": "compact"})
        log.append("t", 1, [ProducerRecord(b"v", b"k", 42, (("h", b"1"),))])
        with log.transaction() as txn:
            txn.append("t", 0, recs(b"x"))
            txn.commit_offsets("g", {TopicPartition("t", 1): 1})
            txn.put_state("op", b"snapshot")
    with EmbeddedLog(path) as log:
        desc = log.describe_topic("t")
        assert desc.partitions == 2 and desc.config["retention.ms"] == "5000"
        assert desc.config["cleanup.policy"] == "compact"
        (rec,) = log.read("t", 1, 0)
        assert (rec.key, rec.value, rec.timestamp, rec.headers) == (b"k", b"v", 42, (("h", b"1"),))
        assert values(log.read("t", 0, 0)) == [b"x"]
        assert log.committed_offsets("g") == {TopicPartition("t", 1): 1}
        assert log.get_state("op") == b"snapshot"
        assert log.append("t", 1, recs(b"next")) == 1


def test_closed_log_refuses_use(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log")
    log.create_topic("t")
    log.close()
    log.close()  # idempotent
    with pytest.raises(LogError, match="closed"):
        log.append("t", 0, recs(b"x"))


@pytest.mark.parametrize("mode", ["normal", "full", "FULL"])
def test_synchronous_modes(tmp_path: Path, mode: str) -> None:
    with EmbeddedLog(tmp_path / "log", synchronous=mode) as log:
        log.create_topic("t")
        log.append("t", 0, recs(b"x"))
        assert values(log.read("t", 0, 0)) == [b"x"]


def test_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="synchronous"):
        EmbeddedLog(tmp_path / "a", synchronous="sometimes")
    with pytest.raises(ConfigError, match="busy_timeout_ms"):
        EmbeddedLog(tmp_path / "b", busy_timeout_ms=-1)
    with pytest.raises(ConfigError, match="poll_interval_ms"):
        EmbeddedLog(tmp_path / "c", poll_interval_ms=0)


# -- bad files at the log path ---------------------------------------------------------------------------
def test_path_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("my notes")
    with pytest.raises(CorruptLogError, match="is a file, not a millstream log directory") as info:
        EmbeddedLog(path)
    assert str(path) in str(info.value) and info.value.hint
    assert path.read_text() == "my notes"


@pytest.mark.parametrize(
    "content",
    [
        b"hello, this is a text file\n" * 10,
        b"",
        bytes(random.Random(1).randrange(256) for _ in range(8192)),
        b"SQL",
    ],
    ids=["text", "empty", "garbage", "tiny"],
)
def test_not_an_sqlite_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "log"
    path.mkdir()
    (path / DB_FILE).write_bytes(content)
    if not content:  # an empty file is a new database: the log initialises it
        with EmbeddedLog(path) as log:
            assert log.list_topics() == []
        return
    with pytest.raises(CorruptLogError, match="not an SQLite database") as info:
        EmbeddedLog(path)
    assert str(path / DB_FILE) in str(info.value) and info.value.hint
    assert (path / DB_FILE).read_bytes() == content  # untouched


def test_foreign_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.mkdir()
    conn = sqlite3.connect(path / DB_FILE)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users VALUES (1, 'ada')")
    conn.commit()
    conn.close()
    with pytest.raises(CorruptLogError, match=r"an SQLite database but not a millstream log.*users") as info:
        EmbeddedLog(path)
    assert str(path / DB_FILE) in str(info.value)
    conn = sqlite3.connect(path / DB_FILE)
    assert conn.execute("SELECT name FROM users").fetchall() == [("ada",)]  # nothing written to it
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0
    conn.close()


def test_newer_format_version(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path)
    conn = sqlite3.connect(path / DB_FILE)
    conn.execute("UPDATE meta SET value=? WHERE key='format'", (str(FORMAT_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(CorruptLogError, match="newer millstream") as info:
        EmbeddedLog(path)
    assert "upgrade" in (info.value.hint or "")


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with EmbeddedLog(path) as log:
        log.create_topic("t")
        for _ in range(20):
            log.append("t", 0, [ProducerRecord(os.urandom(200)) for _ in range(100)])
    db = path / DB_FILE
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(CorruptLogError, match="truncated") as info:
        EmbeddedLog(path)
    assert str(db) in str(info.value)


def test_damaged_pages(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with EmbeddedLog(path) as log:
        log.create_topic("t")
        for _ in range(20):
            log.append("t", 0, [ProducerRecord(b"x" * 200) for _ in range(100)])
    db = path / DB_FILE
    size = db.stat().st_size
    with open(db, "r+b") as f:  # keep the header and schema page, scribble over the rest
        f.seek(4096)
        f.write(random.Random(7).randbytes(size - 4096))
    with pytest.raises(CorruptLogError) as info, EmbeddedLog(path) as log:
        read_all(log, "t")
    assert str(db) in str(info.value) and info.value.hint


# -- several log objects, threads ------------------------------------------------------------------------
def test_two_instances_share_one_path(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with EmbeddedLog(path) as a, EmbeddedLog(path) as b:
        a.create_topic("t")
        b.append("t", 0, recs(b"from-b"))
        assert values(a.read("t", 0, 0)) == [b"from-b"]
        assert "t" in b.list_topics()


def test_stale_topic_cache_after_delete_and_recreate_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with EmbeddedLog(path) as a, EmbeddedLog(path) as b:
        a.create_topic("t", 1)
        a.append("t", 0, recs(b"old"))  # a now caches the topic's id
        b.delete_topic("t")
        with pytest.raises(UnknownTopicError, match="deleted"):
            a.append("t", 0, recs(b"lost?"))
        b.create_topic("t", 3)
        assert a.append("t", 2, recs(b"new")) == 0  # the new topic, with its new partition count
        assert a.read("t", 0, 0) == []  # never the old topic's records
        assert values(b.read("t", 2, 0)) == [b"new"]


def test_blocking_read_woken_by_another_instance(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with EmbeddedLog(path, poll_interval_ms=1000) as a, EmbeddedLog(path) as b:
        a.create_topic("t")
        timer = threading.Timer(0.2, lambda: b.append("t", 0, recs(b"hello")))
        timer.start()
        started = time.monotonic()
        got = a.read("t", 0, 0, timeout_ms=5000)
        waited = time.monotonic() - started
        timer.join()
        assert values(got) == [b"hello"]
        assert waited < 0.6  # woken by the in-process signal, not the 1 s poll


def test_blocking_read_woken_by_other_connection_commit(tmp_path: Path) -> None:
    """A commit through a plain SQLite connection (as from another process) is noticed by polling."""
    path = tmp_path / "log"
    with EmbeddedLog(path, poll_interval_ms=5) as log:
        log.create_topic("t")
        result: list[float] = []

        def reader() -> None:
            got = log.read("t", 0, 0, timeout_ms=5000)
            result.append(time.monotonic())
            assert values(got) == [b"raw"]

        thread = threading.Thread(target=reader)
        thread.start()
        time.sleep(0.2)
        other = EmbeddedLog(path)
        # bypass the in-process signal: write with the other object's connection, then signal nothing
        other._waker = type(other._waker)()
        appended = time.monotonic()
        other.append("t", 0, recs(b"raw"))
        thread.join()
        other.close()
        assert result and result[0] - appended < 0.5


def test_concurrent_threads_append(tmp_path: Path) -> None:
    with EmbeddedLog(tmp_path / "log") as log:
        log.create_topic("t")
        errors: list[BaseException] = []

        def writer(n: int) -> None:
            try:
                for i in range(40):
                    log.append("t", 0, [ProducerRecord(b"%d:%d:%d" % (n, i, j)) for j in range(10)])
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        got = read_all(log, "t")
        assert [r.offset for r in got] == list(range(1600))
        for start in range(0, 1600, 10):  # every batch is contiguous and whole
            batch = [v.split(b":") for v in values(got[start : start + 10])]  # type: ignore[union-attr]
            assert len({(n, i) for n, i, _ in batch}) == 1
            assert [int(j) for _, _, j in batch] == list(range(10))


def test_append_racing_delete_in_threads(tmp_path: Path) -> None:
    with EmbeddedLog(tmp_path / "log") as log:
        log.create_topic("keep")
        log.create_topic("doomed")
        outcome: list[str] = []

        def writer() -> None:
            try:
                while True:
                    log.append("doomed", 0, recs(b"x", b"y"))
                    log.append("keep", 0, recs(b"k"))
            except UnknownTopicError:
                outcome.append("unknown-topic")

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.1)
        log.delete_topic("doomed")
        thread.join(5)
        assert outcome == ["unknown-topic"]
        kept = read_all(log, "keep")
        assert [r.offset for r in kept] == list(range(log.latest_offset("keep", 0)))


# -- bad records -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        ProducerRecord("text"),  # type: ignore[arg-type]
        ProducerRecord(b"v", 42),  # type: ignore[arg-type]
        ProducerRecord(b"v", None, 1.5),  # type: ignore[arg-type]
        ProducerRecord(b"v", None, True),  # type: ignore[arg-type]
        ProducerRecord(b"v", None, None, (("h", object()),)),  # type: ignore[arg-type]
        42,
    ],
    ids=["str-value", "int-key", "float-ts", "bool-ts", "bad-header", "not-a-record"],
)
def test_bad_records_rejected_and_nothing_written(tmp_path: Path, bad: object) -> None:
    with EmbeddedLog(tmp_path / "log") as log:
        log.create_topic("t")
        log.append("t", 0, recs(b"before"))
        with pytest.raises(SerdeError) as info:
            log.append("t", 0, [ProducerRecord(b"ok"), bad])  # type: ignore[list-item]
        assert info.value.hint
        assert values(read_all(log, "t")) == [b"before"]


def test_bytes_like_values_accepted(tmp_path: Path) -> None:
    with EmbeddedLog(tmp_path / "log") as log:
        log.create_topic("t")
        log.append("t", 0, [ProducerRecord(bytearray(b"ba"), memoryview(b"mv"), 7.0)])  # type: ignore[arg-type]
        (rec,) = log.read("t", 0, 0)
        assert (rec.value, rec.key, rec.timestamp) == (b"ba", b"mv", 7)


def test_append_time_comes_from_the_clock(tmp_path: Path) -> None:
    clock = ManualClock(1_000)
    with EmbeddedLog(tmp_path / "log", clock=clock) as log:
        log.create_topic("t")
        log.append("t", 0, recs(b"a"))
        clock.advance(500)
        with log.transaction() as txn:
            txn.append("t", 0, [ProducerRecord(b"b"), ProducerRecord(b"c", None, 5)])
        assert [r.timestamp for r in log.read("t", 0, 0)] == [1_000, 1_500, 5]


# -- stored batches --------------------------------------------------------------------------------------
def test_large_appends_are_chunked(tmp_path: Path) -> None:
    with EmbeddedLog(tmp_path / "log", chunk_records=100, chunk_bytes=2000) as log:
        log.create_topic("t")
        log.append("t", 0, [ProducerRecord(b"x" * 50, b"k") for _ in range(1000)])
        conn = sqlite3.connect(tmp_path / "log" / DB_FILE)
        counts = [r[0] for r in conn.execute("SELECT record_count FROM batches ORDER BY base_offset")]
        conn.close()
        assert counts == [40] * 25  # a chunk closes at the 40th 51-byte record (2,040 >= 2,000 bytes)
        got = log.read("t", 0, 37, max_records=500)
        assert [r.offset for r in got] == list(range(37, 537))
        assert len(log.read("t", 0, 0, max_bytes=1000)) == 20


@pytest.mark.parametrize("seed", range(8))
def test_retention_matches_memory_backend(tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random appends then retention: the embedded log keeps exactly what the memory log keeps."""
    from millstream.log import embedded_retention

    if seed % 2:
        monkeypatch.setattr(embedded_retention, "_PAGE", 3)  # retention reads batch heads page by page
    rnd = random.Random(seed)
    config = rnd.choice(
        [
            {"cleanup.policy": "compact"},
            {"cleanup.policy": "delete", "retention.ms": rnd.randrange(0, 3000)},
            {"cleanup.policy": "delete", "retention.bytes": rnd.randrange(0, 3000), "retention.ms": -1},
            {"cleanup.policy": "compact,delete", "retention.ms": rnd.randrange(0, 3000)},
            {
                "cleanup.policy": "compact,delete",
                "retention.bytes": rnd.randrange(0, 2000),
                "retention.ms": -1,
            },
        ]
    )
    memory = MemoryLog()
    embedded = EmbeddedLog(tmp_path / "log", chunk_records=rnd.choice([2, 5, 1000]))
    now = 10_000
    for log in (memory, embedded):
        log.create_topic("t", 1, config)
    for round_ in range(3):
        for _ in range(rnd.randrange(1, 15)):
            batch = [
                ProducerRecord(
                    None if rnd.random() < 0.1 else os.urandom(rnd.randrange(0, 60)),
                    None if rnd.random() < 0.2 else b"k%d" % rnd.randrange(8),
                    now - rnd.randrange(0, 4000),
                )
                for _ in range(rnd.randrange(1, 12))
            ]
            for log in (memory, embedded):
                log.append("t", 0, batch)
        removed = [log.enforce_retention(now_ms=now + round_ * 500) for log in (memory, embedded)]
        assert removed[0] == removed[1]
        for what in ("earliest_offset", "latest_offset"):
            assert getattr(memory, what)("t", 0) == getattr(embedded, what)("t", 0)
        assert read_all(memory, "t") == read_all(embedded, "t")
    embedded.close()


def test_background_retention(tmp_path: Path) -> None:
    clock = ManualClock(100_000)
    with EmbeddedLog(tmp_path / "log", clock=clock, retention_check_interval_ms=20) as log:
        log.create_topic("t", 1, {"retention.ms": 1000})
        log.append("t", 0, [ProducerRecord(b"old", None, 1_000), ProducerRecord(b"new", None, 99_500)])
        deadline = time.monotonic() + 5
        while log.earliest_offset("t", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert values(read_all(log, "t")) == [b"new"]
        assert log.last_retention_error is None
        thread = log._retention_thread
        assert thread is not None and thread.is_alive()
    thread.join(1)
    assert not thread.is_alive()  # close() stops it


def test_no_background_retention_when_disabled(tmp_path: Path) -> None:
    with EmbeddedLog(tmp_path / "log", retention_check_interval_ms=0) as log:
        log.create_topic("t", 1, {"retention.ms": 1})
        log.append("t", 0, [ProducerRecord(b"old", None, 0)])
        time.sleep(0.1)
        assert log._retention_thread is None
        assert log.earliest_offset("t", 0) == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_directory(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.mkdir()
    path.chmod(0o500)
    try:
        with pytest.raises(LogError, match="cannot open the log") as info:
            EmbeddedLog(path)
        assert "write" in (info.value.hint or "")
    finally:
        path.chmod(0o700)


@pytest.mark.parametrize(
    ("error", "expected", "kind"),
    [
        (sqlite3.OperationalError("unable to open database file"), "cannot open the log", LogError),
        (sqlite3.OperationalError("attempt to write a readonly database"), "cannot open the log", LogError),
        (sqlite3.OperationalError("database is locked"), "stayed locked by another process", LogError),
        (sqlite3.DatabaseError("database disk image is malformed"), "is damaged", CorruptLogError),
        (sqlite3.DatabaseError("file is not a database"), "is damaged", CorruptLogError),
    ],
)
def test_sqlite_errors_are_explained(tmp_path: Path, error: sqlite3.Error, expected: str, kind: type) -> None:
    from millstream.log.sqlite_store import translate_error

    translated = translate_error(error, tmp_path / DB_FILE, "appending to t[0]")
    assert isinstance(translated, kind)
    assert expected in str(translated) and str(tmp_path / DB_FILE) in str(translated)
    assert "appending to t[0]" in str(translated)


def test_small_reads_see_compaction_of_a_batch_they_are_inside(tmp_path: Path) -> None:
    """The per-thread cache of decoded batches never serves contents that compaction has rewritten."""
    with EmbeddedLog(tmp_path / "log") as log:
        log.create_topic("t", 1, {"cleanup.policy": "compact"})
        log.append("t", 0, [ProducerRecord(b"v%d" % i, b"k%d" % (i % 5)) for i in range(20)])
        assert [r.offset for r in log.read("t", 0, 0, max_records=3)] == [0, 1, 2]  # stops inside the batch
        assert [r.offset for r in log.read("t", 0, 3, max_records=3)] == [3, 4, 5]
        assert log.enforce_retention() == 15
        assert [r.offset for r in log.read("t", 0, 3, max_records=3)] == [15, 16, 17]
        assert values(log.read("t", 0, 0)) == [b"v15", b"v16", b"v17", b"v18", b"v19"]


def test_seeks_do_not_slow_down_with_partition_size(tmp_path: Path) -> None:
    """A read finds its first batch by seeking the small covering index, never by scanning batch rows."""
    with EmbeddedLog(tmp_path / "log", chunk_records=10) as log:
        log.create_topic("t")
        for _ in range(100):
            log.append("t", 0, [ProducerRecord(b"x" * 2000) for _ in range(50)])  # 500 stored batches
        conn = log._conn()
        from millstream.log.embedded import _SELECT_BATCHES

        plan = " ".join(str(row) for row in conn.execute("EXPLAIN QUERY PLAN " + _SELECT_BATCHES, (1, 0, 4000)))
        assert "SCAN" not in plan and "COVERING INDEX" in plan


def test_dropped_log_ends_its_retention_thread(tmp_path: Path) -> None:
    import gc

    log = EmbeddedLog(tmp_path / "log", retention_check_interval_ms=10)
    log.create_topic("t")
    log.append("t", 0, recs(b"x"))
    thread = log._retention_thread
    assert thread is not None
    del log
    gc.collect()
    thread.join(2)
    assert not thread.is_alive()


def test_log_object_survives_fork(tmp_path: Path) -> None:
    """A forked child may keep using the parent's log object: it opens its own connections."""
    import multiprocessing

    with EmbeddedLog(tmp_path / "log") as log:
        log.create_topic("t")
        log.append("t", 0, recs(b"parent-1"))
        ctx = multiprocessing.get_context("fork")
        child = ctx.Process(target=lambda: log.append("t", 0, recs(b"child")))
        child.start()
        child.join(30)
        assert child.exitcode == 0
        log.append("t", 0, recs(b"parent-2"))
        assert values(read_all(log, "t")) == [b"parent-1", b"child", b"parent-2"]


def test_url_options(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'log'}?synchronous=full&busy_timeout_ms=1234&retention_check_interval_ms=0"
    with open_log(url) as log:
        assert isinstance(log, EmbeddedLog)
        assert (log.synchronous, log.busy_timeout_ms) == ("full", 1234)
        assert log.path == tmp_path / "log" and log.url == f"file://{tmp_path / 'log'}"
        sync = log._conn().execute("PRAGMA synchronous").fetchone()[0]
        assert sync == 2  # FULL
    with pytest.raises(ConfigError, match="unknown option 'fsync'") as info:
        open_log(f"file://{tmp_path / 'log'}?fsync=1")
    assert "synchronous" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="must be an integer"):
        open_log(f"file://{tmp_path / 'log'}?busy_timeout_ms=soon")


# -- append_values (the columnar append hook Connect's source tasks use) -------------------------------------
def test_append_values_stores_what_append_of_keyless_records_stores(tmp_path: Path) -> None:
    clock = ManualClock(1_000)
    log = EmbeddedLog(tmp_path / "log", clock=clock)
    log.create_topic("a")
    log.create_topic("b")
    values = [b"x", None, b"", b"z" * 5000]
    stamps = [5, None, 7, 2**40]
    assert log.append("a", 0, [ProducerRecord(v, None, t) for v, t in zip(values, stamps, strict=True)]) == 0
    assert log.append_values("b", 0, values, stamps) == 0
    assert log.append_values("b", 0, [b"next"], [None]) == 4
    got_a = log.read("a", 0, 0)
    got_b = log.read("b", 0, 0)
    assert [r[2:] for r in got_a] == [r[2:] for r in got_b[:4]]
    assert [(r.value, r.timestamp, r.key, r.headers) for r in got_b[3:]] == [
        (b"z" * 5000, 2**40, None, ()),
        (b"next", 1_000, None, ()),
    ]
    log.close()


def test_append_values_rejects_what_append_rejects(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log")
    log.create_topic("t")
    with pytest.raises(SerdeError, match="must be bytes"):
        log.append_values("t", 0, [b"ok", "text"], [1, 2])
    with pytest.raises(SerdeError, match="timestamp"):
        log.append_values("t", 0, [b"ok"], ["soon"])
    with pytest.raises(ValueError, match="2 values but 1 timestamps"):
        log.append_values("t", 0, [b"a", b"b"], [1])
    assert log.read("t", 0, 0) == []  # nothing half-written
    log.append_values("t", 0, [bytearray(b"converted")], [3.0])
    assert [(r.value, r.timestamp) for r in log.read("t", 0, 0)] == [(b"converted", 3)]
    log.close()


# -- read_columns / LogConsumer.poll_columns (records as columns, no Record objects) --------------------------
def _as_columns(records: list) -> tuple | None:
    if not records:
        return None
    offsets, tss, keys, vals, headers = (list(c) for c in zip(*(r[2:] for r in records), strict=True))
    return (
        offsets,
        tss,
        None if all(k is None for k in keys) else keys,
        vals,
        headers if any(headers) else None,
    )


def test_read_columns_returns_what_read_returns(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log", chunk_records=3)  # several stored batches per append
    log.create_topic("plain")
    log.create_topic("mixed")
    log.append("plain", 0, [ProducerRecord(b"v%d" % i, None, 100 + i) for i in range(10)])
    log.append("mixed", 0, [ProducerRecord(b"a", None, 1), ProducerRecord(b"b", None, 2)])
    log.append("mixed", 0, [ProducerRecord(b"c", b"k", 3, (("h", b"1"),)), ProducerRecord(None, None, 4)])
    for topic in ("plain", "mixed"):
        end = log.latest_offset(topic, 0)
        for offset in range(end + 1):
            for limit in (1, 2, 4, 100):
                want = _as_columns(log.read(topic, 0, offset, max_records=limit))
                assert log.read_columns(topic, 0, offset, max_records=limit) == want, (topic, offset, limit)
    plain = log.read_columns("plain", 0, 0)
    assert plain is not None and plain[2] is None and plain[4] is None
    with pytest.raises(OffsetOutOfRangeError):
        log.read_columns("plain", 0, 11)
    log.close()


def test_read_columns_waits_for_an_append(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log")
    log.create_topic("t")
    assert log.read_columns("t", 0, 0, timeout_ms=10) is None
    threading.Timer(0.05, lambda: log.append("t", 0, recs(b"late"))).start()
    got = log.read_columns("t", 0, 0, timeout_ms=5000)
    assert got is not None and got[3] == [b"late"]
    log.close()


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_poll_columns_matches_poll(tmp_path: Path, kind: str) -> None:
    url = f"memory://poll-columns-{time.monotonic_ns()}" if kind == "memory" else f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("t", 3)
        for p in range(3):
            log.append("t", p, [ProducerRecord(b"%d-%d" % (p, i), b"k" if i == 2 else None, i) for i in range(5)])
        tps = [TopicPartition("t", p) for p in range(3)]
        a, b = log.consumer("a"), log.consumer("b")
        a.assign(tps)
        b.assign(tps)
        for max_records in (4, 7, 100):
            want = a.poll(max_records=max_records)
            got = b.poll_columns(max_records=max_records)
            flat = [
                (tp.topic, tp.partition, *row)
                for tp, (offs, tss, keys, vals, hdrs) in got
                for row in zip(offs, tss, keys or [None] * len(offs), vals, hdrs or [()] * len(offs), strict=True)
            ]
            assert flat == [tuple(r) for r in want]
            assert [b.position(tp) for tp in tps] == [a.position(tp) for tp in tps]
        assert b.poll_columns(timeout_ms=10) == []
        a.close()
        b.close()
