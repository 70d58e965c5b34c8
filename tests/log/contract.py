"""The ``Log`` contract suite: one set of tests every log backend must pass.

Use it by subclassing :class:`LogContract` in a ``test_*.py`` module and providing a ``log`` fixture::

    class TestMyLog(LogContract):
        @pytest.fixture
        def log(self, tmp_path):
            with MyLog(...) as log:
                yield log

Tests create their topics with the ``new_topic`` fixture (unique names, so a shared broker works) and never
assume they are alone in the log (``list_topics`` is checked for inclusion, not equality).

Behaviour that legitimately differs between backends is switched by the class flags below; a backend that
cannot meet one sets the flag to ``False`` in its subclass and says why. A subclass may also override a
single test (for example to ``pytest.skip`` it with the reason, or to wait for a cluster's metadata to
settle after deleting a topic) without touching the others.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from millstream.core.errors import (
    ConfigError,
    InvalidOffsetError,
    LogError,
    OffsetOutOfRangeError,
    TopicExistsError,
    TransactionError,
    UnknownPartitionError,
    UnknownTopicError,
    WakeupError,
)
from millstream.core.record import ProducerRecord, Record, TopicPartition
from millstream.log import Consumer, Log, NoOffsetError
from millstream.log.base import TOPIC_CONFIG_DEFAULTS
from millstream.log.partitioner import partition_for_key

NewTopic = Callable[..., str]


def values(records: list[Record]) -> list[bytes | None]:
    return [r.value for r in records]


def recs(*vals: bytes | None) -> list[ProducerRecord]:
    return [ProducerRecord(v) for v in vals]


def poll_n(consumer: Consumer, n: int, timeout_s: float = 10.0) -> list[Record]:
    """Poll until ``n`` records arrived (a single poll may return fewer, e.g. one partition's worth)."""
    out: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        out.extend(consumer.poll(timeout_ms=200, max_records=n - len(out)))
    return out


def read_all(log: Log, topic: str, partition: int = 0) -> list[Record]:
    """Every record from the log start to the log end."""
    out: list[Record] = []
    offset = log.earliest_offset(topic, partition)
    end = log.latest_offset(topic, partition)
    while offset < end:
        batch = log.read(topic, partition, offset)
        if not batch:
            break
        out.extend(batch)
        offset = batch[-1].offset + 1
    return out


class LogContract:
    """The contract tests (see the module docstring). Subclasses provide the ``log`` fixture."""

    # -- backend switches -------------------------------------------------------------------------------
    #: ``read(max_bytes=...)`` stops exactly when the keys + values returned reach ``max_bytes`` (memory and
    #: embedded); a Kafka fetch works in whole record batches, so only "at least one record" holds there.
    exact_max_bytes = True
    #: ``enforce_retention()`` applies retention.ms / retention.bytes / compaction synchronously.
    retention_on_demand = True
    #: transactions can carry opaque state blobs (``put_state`` / ``get_state``).
    supports_state = True
    #: a blocking read is woken by an append from another thread within this many ms.
    wakeup_ms = 500
    consumer_wakeup_ms: int | None = 500  # how soon a consumer's poll returns a record appended while it waits
    #: an append to an empty record list returns the log end and writes nothing.
    empty_append_ok = True

    @pytest.fixture
    def log(self) -> Log:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError("a LogContract subclass must define a `log` fixture")

    @pytest.fixture
    def new_topic(self, log: Log) -> NewTopic:
        """``new_topic(partitions=1, config=None)`` creates a uniquely named topic and returns its name."""

        def make(partitions: int = 1, config: dict[str, object] | None = None, prefix: str = "t") -> str:
            name = f"{prefix}-{uuid.uuid4().hex[:12]}"
            log.create_topic(name, partitions, config)
            return name

        return make

    # -- topics -------------------------------------------------------------------------------------------
    def test_create_list_describe(self, log: Log) -> None:
        name = f"orders-{uuid.uuid4().hex[:8]}"
        desc = log.create_topic(name, 3, {"retention.ms": 1000})
        assert desc.name == name and desc.partitions == 3
        assert desc.config["retention.ms"] == "1000"
        assert name in log.list_topics()
        assert log.list_topics() == sorted(log.list_topics())
        assert log.has_topic(name)
        again = log.describe_topic(name)
        assert again.partitions == 3
        assert again.config["retention.ms"] == "1000"
        assert again.config["cleanup.policy"] == TOPIC_CONFIG_DEFAULTS["cleanup.policy"]
        assert [tp.partition for tp in again.partitions_list()] == [0, 1, 2]

    def test_create_partitions_grows_only(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic(2)
        log.append(t, 1, [ProducerRecord(b"old")])
        assert log.create_partitions(t, 3).partitions == 3
        assert log.describe_topic(t).partitions == 3
        assert log.latest_offset(t, 1) == 1 and log.latest_offset(t, 2) == 0  # existing records stay put
        log.append(t, 2, [ProducerRecord(b"new")])
        assert values(log.read(t, 2, 0, timeout_ms=2000)) == [b"new"]
        with pytest.raises(ConfigError, match="can only be added"):
            log.create_partitions(t, 2)
        with pytest.raises(ConfigError, match="already has 3"):
            log.create_partitions(t, 3)
        with pytest.raises(UnknownTopicError):
            log.create_partitions(f"missing-{uuid.uuid4().hex[:8]}", 4)

    def test_create_existing(self, log: Log, new_topic: NewTopic) -> None:
        name = new_topic(2)
        with pytest.raises(TopicExistsError, match=name):
            log.create_topic(name, 5)
        desc = log.create_topic(name, 5, exist_ok=True)
        assert desc.partitions == 2
        assert log.describe_topic(name).partitions == 2

    def test_delete_topic(self, log: Log, new_topic: NewTopic) -> None:
        name = new_topic(2)
        log.append(name, 0, recs(b"a", b"b"))
        log.commit_offsets("g-del", {TopicPartition(name, 0): 1})
        log.delete_topic(name)
        assert name not in log.list_topics()
        assert not log.has_topic(name)
        for call in (
            lambda: log.describe_topic(name),
            lambda: log.read(name, 0, 0),
            lambda: log.append(name, 0, recs(b"x")),
            lambda: log.latest_offset(name, 0),
            lambda: log.delete_topic(name),
        ):
            with pytest.raises(UnknownTopicError, match=name):
                call()
        assert TopicPartition(name, 0) not in log.committed_offsets("g-del")

    def test_recreated_topic_starts_empty(self, log: Log) -> None:
        name = f"again-{uuid.uuid4().hex[:8]}"
        log.create_topic(name, 1)
        log.append(name, 0, recs(b"old1", b"old2"))
        log.commit_offsets("g-again", {TopicPartition(name, 0): 2})
        log.delete_topic(name)
        log.create_topic(name, 1)
        assert log.latest_offset(name, 0) == 0
        assert log.read(name, 0, 0) == []
        assert log.committed_offsets("g-again", [TopicPartition(name, 0)]) == {}
        assert log.append(name, 0, recs(b"new")) == 0
        assert values(log.read(name, 0, 0)) == [b"new"]

    @pytest.mark.parametrize("bad", ["", "has space", "x" * 250, ".", "..", "a/b", "ü"])
    def test_bad_topic_names(self, log: Log, bad: str) -> None:
        with pytest.raises(ConfigError):
            log.create_topic(bad)

    @pytest.mark.parametrize("partitions", [0, -1])
    def test_bad_partition_count(self, log: Log, partitions: int) -> None:
        with pytest.raises(ConfigError, match="partition"):
            log.create_topic(f"p-{uuid.uuid4().hex[:8]}", partitions)

    @pytest.mark.parametrize(
        "config",
        [
            {"retention.ms": "soon"},
            {"retention.bytes": -7},
            {"cleanup.policy": "shred"},
            {"cleanup.policy": ""},
        ],
    )
    def test_bad_topic_config(self, log: Log, config: dict[str, object]) -> None:
        name = f"c-{uuid.uuid4().hex[:8]}"
        with pytest.raises(ConfigError, match=next(iter(config))):
            log.create_topic(name, 1, config)
        assert name not in log.list_topics()

    # -- append and read ----------------------------------------------------------------------------------
    def test_append_returns_base_offsets(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic(2)
        assert log.append(t, 0, recs(b"a", b"b", b"c")) == 0
        assert log.append(t, 0, recs(b"d")) == 3
        assert log.append(t, 1, recs(b"x")) == 0
        assert log.latest_offset(t, 0) == 4
        assert log.earliest_offset(t, 0) == 0
        got = log.read(t, 0, 0)
        assert [r.offset for r in got] == [0, 1, 2, 3]
        assert values(got) == [b"a", b"b", b"c", b"d"]
        assert all(r.topic == t and r.partition == 0 for r in got)
        assert values(log.read(t, 1, 0)) == [b"x"]

    def test_empty_append(self, log: Log, new_topic: NewTopic) -> None:
        if not self.empty_append_ok:
            pytest.skip("backend does not accept empty appends")
        t = new_topic()
        log.append(t, 0, recs(b"a"))
        assert log.append(t, 0, []) == 1
        assert log.latest_offset(t, 0) == 1

    def test_plain_tuples_accepted(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        log.append(t, 0, [(b"v1",), (b"v2", b"k2"), (b"v3", b"k3", 1234)])  # type: ignore[list-item]
        got = log.read(t, 0, 0)
        assert [(r.value, r.key) for r in got] == [(b"v1", None), (b"v2", b"k2"), (b"v3", b"k3")]
        assert got[2].timestamp == 1234

    def test_read_from_middle_and_end(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        log.append(t, 0, recs(*[b"%d" % i for i in range(10)]))
        assert values(log.read(t, 0, 7)) == [b"7", b"8", b"9"]
        assert log.read(t, 0, 10) == []
        with pytest.raises(OffsetOutOfRangeError, match=r"offset 11 out of range"):
            log.read(t, 0, 11)

    def test_read_max_records(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        for i in range(5):
            log.append(t, 0, recs(*[b"%d-%d" % (i, j) for j in range(4)]))
        got = log.read(t, 0, 2, max_records=7)
        assert [r.offset for r in got] == list(range(2, 9))
        assert len(log.read(t, 0, 0, max_records=1)) == 1
        assert len(log.read(t, 0, 0, max_records=0)) == 1  # at least one record, as a Kafka fetch
        assert len(log.read(t, 0, 0, max_records=1000)) == 20

    def test_read_max_bytes(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        log.append(t, 0, [ProducerRecord(b"v" * 100, b"k" * 10) for _ in range(20)])
        first = log.read(t, 0, 0, max_bytes=1)
        assert len(first) >= 1  # the first record always comes, whatever its size
        some = log.read(t, 0, 3, max_bytes=500)
        assert 1 <= len(some) <= 17 and some[0].offset == 3
        if self.exact_max_bytes:
            assert len(first) == 1
            assert len(some) == 5  # 5 x 110 bytes reaches 500
            assert len(log.read(t, 0, 0, max_bytes=550)) == 5
            assert len(log.read(t, 0, 0, max_bytes=551)) == 6

    def test_large_batch_round_trip(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        batch = [ProducerRecord(b"%06d" % i + b"." * 50, b"k%d" % (i % 97), 1000 + i) for i in range(12_345)]
        assert log.append(t, 0, batch) == 0
        assert log.append(t, 0, batch[:10]) == 12_345
        got = read_all(log, t)
        assert len(got) == 12_355
        assert [r.offset for r in got] == list(range(12_355))
        expected = [(b.value, b.key, b.timestamp) for b in batch]
        assert [(r.value, r.key, r.timestamp) for r in got[:12_345]] == expected
        mid = log.read(t, 0, 9_999, max_records=3)
        assert [r.offset for r in mid] == [9_999, 10_000, 10_001]

    def test_round_trip_keys_headers_nulls_timestamps(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        headers = (("trace", b"abc"), ("trace", b"def"), ("empty", None), ("bin", bytes(range(256))))
        before = int(time.time() * 1000)
        log.append(
            t,
            0,
            [
                ProducerRecord(b"v", b"k", 1_600_000_000_000, headers),
                ProducerRecord(None, b"tombstone-key"),
                ProducerRecord(b"", None, 0),
                ProducerRecord(bytes(range(256)) * 4, bytes(range(256))),
            ],
        )
        after = int(time.time() * 1000)
        a, b, c, d = log.read(t, 0, 0)
        assert (a.key, a.value, a.timestamp, a.headers) == (b"k", b"v", 1_600_000_000_000, headers)
        assert (b.key, b.value, b.headers) == (b"tombstone-key", None, ())
        assert before - 5 <= b.timestamp <= after + 5  # no timestamp: the append time
        assert (c.key, c.value, c.timestamp) == (None, b"", 0)
        assert d.value == bytes(range(256)) * 4 and d.key == bytes(range(256))
        assert isinstance(a, Record) and a.topic_partition == TopicPartition(t, 0)

    def test_blocking_read_times_out(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        started = time.monotonic()
        assert log.read(t, 0, 0, timeout_ms=150) == []
        assert time.monotonic() - started >= 0.12

    def test_blocking_read_woken_by_append(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        log.append(t, 0, recs(b"first"))
        times: dict[str, float] = {}

        def writer() -> None:
            time.sleep(0.2)
            times["append"] = time.monotonic()
            log.append(t, 0, recs(b"second"))

        thread = threading.Thread(target=writer)
        thread.start()
        got = log.read(t, 0, 1, timeout_ms=10_000)
        woke = time.monotonic()
        thread.join()
        assert values(got) == [b"second"]
        assert woke - times["append"] < self.wakeup_ms / 1000

    def test_wait_for_records_times_out(self, log: Log, new_topic: NewTopic) -> None:
        """The optional ``wait_for_records`` hook (every backend here has it): at the end of each partition it
        waits the whole timeout and says ``False``."""
        t = new_topic(2)
        log.append(t, 1, recs(b"x"))
        assert log.read(t, 1, 0, timeout_ms=5000)  # (on Kafka: the reader has fetched up to the end)
        started = time.monotonic()
        assert log.wait_for_records({TopicPartition(t, 0): 0, TopicPartition(t, 1): 1}, 150) is False  # type: ignore[attr-defined]
        assert time.monotonic() - started >= 0.12

    def test_wait_for_records_returns_at_once_with_records(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic(2)
        log.append(t, 1, recs(b"a", b"b"))
        assert log.read(t, 1, 0, timeout_ms=5000)
        started = time.monotonic()
        assert log.wait_for_records({TopicPartition(t, 0): 0, TopicPartition(t, 1): 1}, 5000) is True  # type: ignore[attr-defined]
        assert time.monotonic() - started < 1.0
        assert values(log.read(t, 1, 1, timeout_ms=5000)) == [b"b"]  # the wait took nothing away from the read

    def test_wait_for_records_woken_by_append(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic(2)
        log.append(t, 1, recs(b"first"))  # the writer is started (Kafka: a producer id) before the timed part
        assert values(log.read(t, 1, 0, timeout_ms=5000)) == [b"first"]
        times: dict[str, float] = {}

        def writer() -> None:
            time.sleep(0.2)
            times["append"] = time.monotonic()
            log.append(t, 1, recs(b"second"))

        thread = threading.Thread(target=writer)
        thread.start()
        assert log.wait_for_records({TopicPartition(t, 0): 0, TopicPartition(t, 1): 1}, 10_000) is True  # type: ignore[attr-defined]
        woke = time.monotonic()
        thread.join()
        assert woke - times["append"] < self.wakeup_ms / 1000
        assert values(log.read(t, 1, 1, timeout_ms=5000)) == [b"second"]

    def test_consumer_poll_woken_by_append(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        consumer = log.consumer(None, auto_offset_reset="earliest")
        consumer.assign([TopicPartition(t, 0)])
        assert consumer.poll(timeout_ms=100) == []
        # The first append may start the writer (on Kafka, an idempotent producer acquires its producer id
        # on a 500 ms timer inside librdkafka): that one-time start is not the consumer's wake-up.
        log.append(t, 0, recs(b"early"))
        assert values(poll_n(consumer, 1)) == [b"early"]
        times: dict[str, float] = {}

        def writer() -> None:
            time.sleep(0.2)
            times["append"] = time.monotonic()
            log.append(t, 0, recs(b"late"))

        thread = threading.Thread(target=writer)
        thread.start()
        got = consumer.poll(timeout_ms=10_000)
        woke = time.monotonic()
        thread.join()
        assert values(got) == [b"late"]
        assert consumer.position(TopicPartition(t, 0)) == 2
        if self.consumer_wakeup_ms is not None:
            assert woke - times["append"] < self.consumer_wakeup_ms / 1000
        consumer.close()

    def test_consumer_wakeup_ends_a_waiting_poll(self, log: Log, new_topic: NewTopic) -> None:
        """Kafka's ``wakeup()``: a poll waiting for records in another thread raises ``WakeupError`` (long before
        its timeout); a wakeup with no poll waiting makes the next waiting poll raise, once."""
        t = new_topic()
        consumer = log.consumer(None, auto_offset_reset="earliest")
        consumer.assign([TopicPartition(t, 0)])
        assert consumer.poll(timeout_ms=50) == []
        timer = threading.Timer(0.2, consumer.wakeup)
        timer.start()
        started = time.monotonic()
        with pytest.raises(WakeupError):
            consumer.poll(timeout_ms=20_000)
        assert time.monotonic() - started < 10
        timer.join()
        consumer.wakeup()
        with pytest.raises(WakeupError):
            consumer.poll(timeout_ms=100)
        assert consumer.poll(timeout_ms=50) == []  # once
        log.append(t, 0, recs(b"a"))
        assert values(poll_n(consumer, 1)) == [b"a"]  # the consumer reads on
        consumer.close()

    def test_earliest_latest(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic(2)
        assert (log.earliest_offset(t, 1), log.latest_offset(t, 1)) == (0, 0)
        log.append(t, 1, recs(b"a", b"b"))
        assert (log.earliest_offset(t, 1), log.latest_offset(t, 1)) == (0, 2)

    def test_offset_ranges_of_many_partitions_at_once(self, log: Log, new_topic: NewTopic) -> None:
        t, u = new_topic(3), new_topic(1)
        log.append(t, 1, recs(b"a", b"b"))
        log.append(t, 1, recs(b"c"))  # several batches: the end is exact on every backend (Kafka confirms it)
        log.append(u, 0, recs(b"x"))
        tps = [TopicPartition(t, 0), TopicPartition(t, 1), TopicPartition(t, 2), TopicPartition(u, 0)]
        assert log.offset_ranges(tps) == {tps[0]: (0, 0), tps[1]: (0, 3), tps[2]: (0, 0), tps[3]: (0, 1)}
        for tp in tps:  # the same as asking one by one
            assert log.offset_ranges([tp])[tp] == (log.earliest_offset(*tp), log.latest_offset(*tp))
        assert log.offset_ranges([]) == {}
        with pytest.raises(UnknownPartitionError):
            log.offset_ranges([TopicPartition(t, 3)])

    def test_offset_for_timestamp(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        log.append(t, 0, [ProducerRecord(b"a", None, 100), ProducerRecord(b"b", None, 200)])
        log.append(t, 0, [ProducerRecord(b"c", None, 150), ProducerRecord(b"d", None, 400)])  # non-monotonic
        assert log.offset_for_timestamp(t, 0, 0) == 0
        assert log.offset_for_timestamp(t, 0, 100) == 0
        assert log.offset_for_timestamp(t, 0, 101) == 1
        assert log.offset_for_timestamp(t, 0, 150) == 1  # first offset whose timestamp is >= 150
        assert log.offset_for_timestamp(t, 0, 201) == 3
        assert log.offset_for_timestamp(t, 0, 400) == 3
        assert log.offset_for_timestamp(t, 0, 401) is None

    def test_offset_for_timestamp_empty(self, log: Log, new_topic: NewTopic) -> None:
        assert log.offset_for_timestamp(new_topic(), 0, 0) is None

    # -- bad input ----------------------------------------------------------------------------------------
    def test_unknown_topic(self, log: Log) -> None:
        name = f"nope-{uuid.uuid4().hex[:8]}"
        for call in (
            lambda: log.append(name, 0, recs(b"x")),
            lambda: log.read(name, 0, 0),
            lambda: log.earliest_offset(name, 0),
            lambda: log.latest_offset(name, 0),
            lambda: log.offset_for_timestamp(name, 0, 0),
            lambda: log.describe_topic(name),
            lambda: log.produce(name, recs(b"x")),
            lambda: log.commit_offsets("g", {TopicPartition(name, 0): 0}),
        ):
            with pytest.raises(UnknownTopicError) as info:
                call()
            assert name in str(info.value) and info.value.hint

    @pytest.mark.parametrize("partition", [2, -1, 99])
    def test_partition_out_of_range(self, log: Log, new_topic: NewTopic, partition: int) -> None:
        t = new_topic(2)
        for call in (
            lambda: log.append(t, partition, recs(b"x")),
            lambda: log.read(t, partition, 0),
            lambda: log.earliest_offset(t, partition),
            lambda: log.latest_offset(t, partition),
            lambda: log.commit_offsets("g", {TopicPartition(t, partition): 0}),
        ):
            with pytest.raises(UnknownPartitionError, match=rf"partition {partition} out of range.*{t}"):
                call()
        assert log.latest_offset(t, 0) == 0 and log.latest_offset(t, 1) == 0

    @pytest.mark.parametrize("offset", [-1, -100])
    def test_negative_offset(self, log: Log, new_topic: NewTopic, offset: int) -> None:
        t = new_topic()
        log.append(t, 0, recs(b"a"))
        with pytest.raises(InvalidOffsetError, match="negative"):
            log.read(t, 0, offset)
        with pytest.raises(InvalidOffsetError):
            log.commit_offsets("g", {TopicPartition(t, 0): offset})
        assert values(log.read(t, 0, 0)) == [b"a"]

    def test_non_integer_offset(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        with pytest.raises(InvalidOffsetError):
            log.read(t, 0, "0")  # type: ignore[arg-type]

    def test_write_after_delete_is_rejected(self, log: Log, new_topic: NewTopic) -> None:
        keep, doomed = new_topic(), new_topic()
        log.append(keep, 0, recs(b"safe"))
        log.append(doomed, 0, recs(b"x"))
        log.delete_topic(doomed)
        with pytest.raises(UnknownTopicError, match=doomed):
            log.append(doomed, 0, recs(b"y"))
        assert values(log.read(keep, 0, 0)) == [b"safe"]

    # -- produce / partitioning ---------------------------------------------------------------------------
    def test_produce_partitions_by_murmur2(self, log: Log, new_topic: NewTopic) -> None:
        from kafka.partitioner.default import murmur2 as kafka_python_murmur2

        t = new_topic(7)
        keys = [b"user-%d" % i for i in range(200)] + [b"21", b"foobar", b"abc", b""]
        placed = log.produce(t, [ProducerRecord(b"v", k) for k in keys])
        for key, (partition, _) in zip(keys, placed, strict=True):
            assert partition == partition_for_key(key, 7)
            assert partition == (kafka_python_murmur2(key) & 0x7FFFFFFF) % 7  # kafka-python's producer rule
        for p in range(7):
            got = log.read(t, p, 0, max_records=1000)
            expected = [k for k, (pp, _) in zip(keys, placed, strict=True) if pp == p]
            assert sorted(r.key for r in got) == sorted(expected)

    def test_produce_explicit_and_keyless(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic(3)
        placed = log.produce(t, [ProducerRecord(b"x", b"k", partition=2), *recs(*[b"n"] * 6)])
        assert placed[0] == (2, 0)
        assert sorted(p for p, _ in placed[1:]) == [0, 0, 1, 1, 2, 2]  # keyless: spread round-robin
        with pytest.raises(UnknownPartitionError):
            log.produce(t, [ProducerRecord(b"x", partition=3)])

    # -- consumer groups ----------------------------------------------------------------------------------
    def test_commit_and_committed(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic(3)
        group = f"g-{uuid.uuid4().hex[:8]}"
        log.append(t, 0, recs(b"a", b"b", b"c"))
        assert log.committed_offsets(group) == {}
        log.commit_offsets(group, {TopicPartition(t, 0): 1, TopicPartition(t, 1): 0})
        log.commit_offsets(group, {TopicPartition(t, 0): 3})  # overwrite
        assert log.committed_offsets(group) == {TopicPartition(t, 0): 3, TopicPartition(t, 1): 0}
        only = log.committed_offsets(group, [TopicPartition(t, 1), TopicPartition(t, 2)])
        assert only == {TopicPartition(t, 1): 0}
        assert group in log.list_groups()
        log.delete_group(group)
        assert group not in log.list_groups()
        assert log.committed_offsets(group) == {}

    def test_describe_group_lag(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic(2)
        group = f"g-{uuid.uuid4().hex[:8]}"
        log.append(t, 0, recs(*[b"x"] * 10))
        log.append(t, 1, recs(*[b"y"] * 4))
        log.commit_offsets(group, {TopicPartition(t, 0): 7, TopicPartition(t, 1): 4})
        desc = log.describe_group(group)
        rows = {(p.topic, p.partition): p for p in desc.partitions}
        assert rows[(t, 0)].committed == 7 and rows[(t, 0)].latest == 10 and rows[(t, 0)].lag == 3
        assert rows[(t, 1)].lag == 0
        assert desc.total_lag == 3

    # -- consumers ----------------------------------------------------------------------------------------
    def test_consumer_assign_poll_seek(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic(2)
        log.append(t, 0, recs(b"a0", b"a1"))
        log.append(t, 1, recs(b"b0"))
        consumer = log.consumer()
        consumer.assign([TopicPartition(t, 0), TopicPartition(t, 1)])
        got: list[Record] = []
        deadline = time.monotonic() + 5
        while len(got) < 3 and time.monotonic() < deadline:
            got += consumer.poll(timeout_ms=100)
        assert sorted(values(got)) == [b"a0", b"a1", b"b0"]
        assert consumer.position(TopicPartition(t, 0)) == 2
        consumer.seek(TopicPartition(t, 0), 1)
        assert values(consumer.poll(timeout_ms=500)) == [b"a1"]
        consumer.seek_to_beginning([TopicPartition(t, 1)])
        assert values(consumer.poll(timeout_ms=500)) == [b"b0"]
        consumer.seek_to_end()
        assert consumer.poll(timeout_ms=50) == []
        with pytest.raises(UnknownPartitionError):
            consumer.assign([TopicPartition(t, 5)])
        consumer.close()

    def test_consumer_group_resumes_from_commit(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic(2)
        group = f"g-{uuid.uuid4().hex[:8]}"
        log.produce(t, recs(*[b"%d" % i for i in range(6)]))
        first = log.consumer(group)
        first.subscribe([t])
        assert sorted(first.assignment()) == [TopicPartition(t, 0), TopicPartition(t, 1)]
        seen = poll_n(first, 6)
        assert len(seen) == 6
        first.close()  # commits positions
        assert log.committed_offsets(group) == {TopicPartition(t, 0): 3, TopicPartition(t, 1): 3}
        log.produce(t, recs(b"new"))
        second = log.consumer(group)
        second.subscribe([t])
        assert values(poll_n(second, 1)) == [b"new"]
        assert second.poll(timeout_ms=200) == []
        second.close()

    def test_consumer_reset_policies(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        log.append(t, 0, recs(b"old"))
        latest = log.consumer(f"g-{uuid.uuid4().hex[:8]}", auto_offset_reset="latest")
        latest.subscribe([t])
        log.append(t, 0, recs(b"fresh"))
        assert values(latest.poll(timeout_ms=500)) == [b"fresh"]
        strict = log.consumer(f"g-{uuid.uuid4().hex[:8]}", auto_offset_reset="none")
        with pytest.raises(NoOffsetError):
            strict.subscribe([t])
        with pytest.raises(ConfigError):
            log.consumer(auto_offset_reset="sometimes")

    # -- transactions -------------------------------------------------------------------------------------
    def test_transaction_commits_all(self, log: Log, new_topic: NewTopic) -> None:
        src, out = new_topic(1), new_topic(2)
        group = f"g-{uuid.uuid4().hex[:8]}"
        log.append(out, 1, recs(b"before"))
        with log.transaction("tx-1") as txn:
            txn.append(out, 0, recs(b"a", b"b"))
            txn.append(out, 1, recs(b"c"))
            txn.commit_offsets(group, {TopicPartition(src, 0): 5})
            if self.supports_state:
                txn.put_state("op-1", b"\x00state\xff")
        assert values(log.read(out, 0, 0)) == [b"a", b"b"]
        assert values(log.read(out, 1, 0)) == [b"before", b"c"]
        assert log.committed_offsets(group) == {TopicPartition(src, 0): 5}
        if self.supports_state:
            assert log.get_state("op-1") == b"\x00state\xff"

    def test_transaction_commit_returns_bases(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic(2)
        log.append(t, 0, recs(b"x", b"y"))
        txn = log.transaction()
        txn.append(t, 0, recs(b"a"))
        txn.append(t, 1, recs(b"b"))
        txn.append(t, 0, recs(b"c"))
        assert txn.commit() == [2, 0, 3]

    def test_transaction_invisible_until_commit(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        group = f"g-{uuid.uuid4().hex[:8]}"
        with log.transaction() as txn:
            txn.append(t, 0, recs(b"pending"))
            txn.commit_offsets(group, {TopicPartition(t, 0): 1})
            assert log.read(t, 0, 0) == []
            assert log.latest_offset(t, 0) == 0
            assert log.committed_offsets(group) == {}
        assert values(log.read(t, 0, 0)) == [b"pending"]

    def test_transaction_abort(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        group = f"g-{uuid.uuid4().hex[:8]}"
        txn = log.transaction()
        txn.append(t, 0, recs(b"nope"))
        txn.commit_offsets(group, {TopicPartition(t, 0): 1})
        txn.abort()
        txn.abort()  # idempotent
        assert log.latest_offset(t, 0) == 0
        assert log.committed_offsets(group) == {}
        with pytest.raises(TransactionError):
            txn.commit()
        with pytest.raises(TransactionError):
            txn.append(t, 0, recs(b"late"))

    def test_exception_aborts_transaction(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        with pytest.raises(RuntimeError, match="boom"), log.transaction() as txn:
            txn.append(t, 0, recs(b"nope"))
            raise RuntimeError("boom")
        assert log.latest_offset(t, 0) == 0

    def test_transaction_used_once(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic()
        txn = log.transaction()
        txn.append(t, 0, recs(b"a"))
        txn.commit()
        with pytest.raises(TransactionError, match="already"):
            txn.commit()
        assert log.latest_offset(t, 0) == 1

    def test_transaction_bad_partition_rejected_early(self, log: Log, new_topic: NewTopic) -> None:
        t = new_topic(1)
        with log.transaction() as txn:
            with pytest.raises(UnknownPartitionError):
                txn.append(t, 1, recs(b"x"))
            with pytest.raises(UnknownTopicError):
                txn.append(f"missing-{uuid.uuid4().hex[:6]}", 0, recs(b"x"))
            txn.append(t, 0, recs(b"ok"))
        assert values(log.read(t, 0, 0)) == [b"ok"]

    def test_transaction_all_or_nothing_on_failure(self, log: Log, new_topic: NewTopic) -> None:
        keep, doomed = new_topic(), new_topic()
        group = f"g-{uuid.uuid4().hex[:8]}"
        txn = log.transaction()
        txn.append(keep, 0, recs(b"a"))
        txn.append(doomed, 0, recs(b"b"))
        txn.commit_offsets(group, {TopicPartition(keep, 0): 1})
        if self.supports_state:
            txn.put_state(f"s-{group}", b"x")
        log.delete_topic(doomed)  # another writer deletes a topic the transaction writes to
        with pytest.raises(LogError):
            txn.commit()
        assert log.latest_offset(keep, 0) == 0
        assert log.committed_offsets(group) == {}
        if self.supports_state:
            assert log.get_state(f"s-{group}") is None

    def test_state_blobs(self, log: Log) -> None:
        if not self.supports_state:
            pytest.skip("backend keeps no state blobs")
        key = f"state-{uuid.uuid4().hex[:8]}"
        assert log.get_state(key) is None
        with log.transaction() as txn:
            txn.put_state(key, b"v1")
        with log.transaction() as txn:
            txn.put_state(key, b"v2")
        assert log.get_state(key) == b"v2"
        with log.transaction() as txn:
            txn.put_state(key, None)
        assert log.get_state(key) is None

    # -- retention and compaction -------------------------------------------------------------------------
    def _need_retention(self) -> None:
        if not self.retention_on_demand:
            pytest.skip("backend applies retention in the background, not on demand")

    def test_retention_ms(self, log: Log, new_topic: NewTopic) -> None:
        self._need_retention()
        t = new_topic(1, {"retention.ms": 1000})
        log.append(t, 0, [ProducerRecord(b"%d" % i, None, 10_000 + i * 100) for i in range(10)])
        log.append(t, 0, [ProducerRecord(b"late", None, 20_000)])
        assert log.enforce_retention(now_ms=11_450) == 5  # cut 10_450 drops timestamps 10_000..10_400
        assert log.earliest_offset(t, 0) == 5
        assert log.latest_offset(t, 0) == 11
        assert values(log.read(t, 0, 5, max_records=2)) == [b"5", b"6"]
        with pytest.raises(OffsetOutOfRangeError, match=r"valid offsets are 5\.\.11"):
            log.read(t, 0, 2)
        assert log.offset_for_timestamp(t, 0, 0) == 5
        assert log.enforce_retention(now_ms=100_000) == 6
        assert (log.earliest_offset(t, 0), log.latest_offset(t, 0)) == (11, 11)
        assert log.read(t, 0, 11) == []
        assert log.append(t, 0, recs(b"next")) == 11

    def test_retention_bytes(self, log: Log, new_topic: NewTopic) -> None:
        self._need_retention()
        t = new_topic(1, {"retention.bytes": 250, "retention.ms": -1})
        for i in range(4):
            log.append(t, 0, [ProducerRecord(b"%d" % i * 50, None, 0) for _ in range(2)])  # 100 bytes each
        removed = log.enforce_retention()
        assert removed == 3  # 400 bytes -> keep the newest 250 bytes or less
        assert log.earliest_offset(t, 0) == 3
        assert [r.offset for r in read_all(log, t)] == [3, 4, 5, 6, 7]

    def test_compaction(self, log: Log, new_topic: NewTopic) -> None:
        self._need_retention()
        t = new_topic(1, {"cleanup.policy": "compact"})
        log.append(t, 0, [ProducerRecord(b"a1", b"a"), ProducerRecord(b"b1", b"b"), ProducerRecord(b"n1")])
        log.append(t, 0, [ProducerRecord(b"a2", b"a"), ProducerRecord(None, b"b")])
        log.append(t, 0, [ProducerRecord(b"c1", b"c")])
        log.append(t, 0, [ProducerRecord(b"c2", b"c")])
        assert log.enforce_retention() == 3
        got = read_all(log, t)
        assert [(r.offset, r.key, r.value) for r in got] == [
            (2, None, b"n1"),
            (3, b"a", b"a2"),
            (4, b"b", None),
            (6, b"c", b"c2"),
        ]
        assert log.earliest_offset(t, 0) == 0  # compaction alone leaves the log start
        assert values(log.read(t, 0, 5)) == [b"c2"]  # reading from inside a gap continues after it
        assert log.latest_offset(t, 0) == 7
        assert log.enforce_retention() == 0

    def test_compact_and_delete(self, log: Log, new_topic: NewTopic) -> None:
        self._need_retention()
        t = new_topic(1, {"cleanup.policy": "compact,delete", "retention.ms": 1000})
        log.append(t, 0, [ProducerRecord(b"x1", b"x", 100), ProducerRecord(b"y1", b"y", 5000)])
        log.append(t, 0, [ProducerRecord(b"x2", b"x", 5100), ProducerRecord(b"old", None, 200)])
        removed = log.enforce_retention(now_ms=5500)
        got = read_all(log, t)
        assert [(r.offset, r.value) for r in got] == [(1, b"y1"), (2, b"x2"), (3, b"old")]
        assert removed == 1
        assert log.earliest_offset(t, 0) == 1

    def test_consumer_resets_when_retention_passes_it(self, log: Log, new_topic: NewTopic) -> None:
        self._need_retention()
        t = new_topic(1, {"retention.ms": 10})
        log.append(t, 0, [ProducerRecord(b"gone", None, 0), ProducerRecord(b"kept", None, 10**13)])
        consumer = log.consumer()
        consumer.assign([TopicPartition(t, 0)])
        log.enforce_retention(now_ms=1000)
        assert values(consumer.poll(timeout_ms=500)) == [b"kept"]
