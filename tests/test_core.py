"""millstream.core: serde, clocks, sensors, records and the error tree."""

from __future__ import annotations

import dataclasses
import datetime
import threading

import pytest

from millstream.core import (
    SYSTEM_CLOCK,
    AvroSerde,
    BytesSerde,
    Clock,
    ConfigError,
    CorruptLogError,
    InvalidOffsetError,
    JsonSerde,
    LogError,
    ManualClock,
    MillstreamError,
    OffsetOutOfRangeError,
    ProducerRecord,
    Record,
    Serde,
    SerdeError,
    StringSerde,
    TopicExistsError,
    TopicPartition,
    UnknownPartitionError,
    UnknownTopicError,
    get_serde,
    sensors,
)

AVRO_SCHEMA = {
    "type": "record",
    "name": "Click",
    "fields": [{"name": "page", "type": "string"}, {"name": "n", "type": "int"}],
}


# -- serde -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "string", "bytes", "avro"])
def test_none_passes_through(fmt: str) -> None:
    serde = get_serde(fmt, schema=AVRO_SCHEMA)
    assert isinstance(serde, Serde)
    assert serde.serialize(None) is None
    assert serde.deserialize(None) is None


def test_json_round_trip() -> None:
    serde = JsonSerde()
    value = {"a": [1, 2.5, "x", None, True], "nested": {"k": "ü"}}
    data = serde.serialize(value)
    assert isinstance(data, bytes)
    assert serde.deserialize(data) == value


def test_json_dataclass_and_datetime() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        at: datetime.datetime

    data = JsonSerde().serialize(Point(1, datetime.datetime(2024, 1, 2, 3, 4, 5)))
    assert JsonSerde().deserialize(data) == {"x": 1, "at": "2024-01-02T03:04:05"}


def test_json_errors_name_the_problem() -> None:
    with pytest.raises(SerdeError, match="cannot serialize object as JSON") as info:
        JsonSerde().serialize(object())
    assert info.value.hint
    with pytest.raises(SerdeError, match=r"malformed JSON.*not json") as info:
        JsonSerde().deserialize(b"{not json")
    assert "format" in (info.value.hint or "")
    long = b"{" + b"x" * 500
    with pytest.raises(SerdeError) as info:
        JsonSerde().deserialize(long)
    assert len(str(info.value)) < 400  # the preview is cut short


def test_string_serde() -> None:
    serde = StringSerde()
    assert serde.serialize("héllo") == "héllo".encode()
    assert serde.serialize(42) == b"42"
    assert serde.serialize(b"raw") == b"raw"
    assert serde.deserialize("héllo".encode()) == "héllo"
    assert StringSerde("latin-1").deserialize(b"\xe9") == "é"
    with pytest.raises(SerdeError, match="not valid utf-8 text") as info:
        serde.deserialize(b"\xff\xfe")
    assert "bytes" in (info.value.hint or "")


def test_bytes_serde() -> None:
    serde = BytesSerde()
    assert serde.serialize(b"x") == b"x"
    assert serde.serialize(bytearray(b"ba")) == b"ba"
    assert serde.serialize(memoryview(b"mv")) == b"mv"
    assert serde.deserialize(b"y") == b"y"
    with pytest.raises(SerdeError, match="needs bytes, got str"):
        serde.serialize("text")


def test_avro_round_trip_and_errors() -> None:
    serde = AvroSerde(AVRO_SCHEMA)
    data = serde.serialize({"page": "/home", "n": 3})
    assert isinstance(data, bytes)
    assert serde.deserialize(data) == {"page": "/home", "n": 3}
    import json

    assert AvroSerde(json.dumps(AVRO_SCHEMA)).deserialize(data) == {"page": "/home", "n": 3}
    with pytest.raises(SerdeError, match="does not match the Avro schema"):
        serde.serialize({"page": "/home", "n": "three"})
    with pytest.raises(SerdeError, match="cannot decode Avro record") as info:
        serde.deserialize(b"\x02")
    assert "schema" in (info.value.hint or "")


def test_avro_bad_schemas() -> None:
    with pytest.raises(ConfigError, match="not valid JSON"):
        AvroSerde("{nope")
    with pytest.raises(ConfigError, match="invalid Avro schema"):
        AvroSerde({"type": "record", "name": "X", "fields": [{"name": "a", "type": "nonsense"}]})


def test_get_serde() -> None:
    assert isinstance(get_serde("JSON"), JsonSerde)
    assert isinstance(get_serde("str"), StringSerde)
    assert isinstance(get_serde("raw"), BytesSerde)
    custom = JsonSerde()
    assert get_serde(custom) is custom
    with pytest.raises(ConfigError, match="needs a schema"):
        get_serde("avro")
    with pytest.raises(ConfigError, match="unknown format 'xml'") as info:
        get_serde("xml")
    assert "json" in (info.value.hint or "")


# -- clocks ----------------------------------------------------------------------------------------------
def test_system_clock_is_wall_time_ms() -> None:
    import time

    before = int(time.time() * 1000)
    now = SYSTEM_CLOCK.now_ms()
    after = int(time.time() * 1000)
    assert before - 1 <= now <= after + 1
    assert isinstance(SYSTEM_CLOCK, Clock)


def test_manual_clock() -> None:
    clock = ManualClock(100)
    assert isinstance(clock, Clock)
    assert clock.now_ms() == 100
    assert clock.advance(50) == 150
    clock.set(1000)
    assert clock.now_ms() == 1000
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.set(999)
    assert "1000" in repr(clock)


def test_manual_clock_threads() -> None:
    clock = ManualClock()
    threads = [threading.Thread(target=lambda: [clock.advance(1) for _ in range(1000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.now_ms() == 4000


# -- sensors ---------------------------------------------------------------------------------------------
def test_sensors_are_noops_until_installed() -> None:
    assert not sensors.installed()
    s = sensors.sensor("numRecordsIn", scope="job.op")
    assert s is sensors.NOOP
    s.inc(5)
    s.set(1.0)
    s.observe(2.0)


def test_installed_factory_gets_names_scopes_tags() -> None:
    calls: list[tuple[str, str, dict[str, str]]] = []
    values: list[float] = []

    class Recorder:
        def inc(self, n: float = 1) -> None:
            values.append(n)

        def set(self, value: float) -> None:
            values.append(value)

        def observe(self, value: float) -> None:
            values.append(value)

    def factory(name: str, scope: str, tags: dict[str, str]) -> sensors.Sensor:
        calls.append((name, scope, tags))
        return Recorder()

    sensors.install(factory)
    try:
        assert sensors.installed()
        s = sensors.sensor("numRecordsOut", scope="job.map.0", kind="task")
        s.inc(3)
        s.set(7)
        assert calls == [("numRecordsOut", "job.map.0", {"kind": "task"})]
        assert values == [3, 7]
    finally:
        sensors.install(None)
    assert sensors.sensor("x") is sensors.NOOP


# -- records ---------------------------------------------------------------------------------------------
def test_records() -> None:
    tp = TopicPartition("t", 3)
    assert str(tp) == "t[3]"
    rec = Record("t", 3, 10, 1000, b"k", b"v")
    assert rec.headers == () and rec.topic_partition == tp
    assert tuple.__new__(Record, ("t", 3, 10, 1000, b"k", b"v", ())) == rec  # how backends build records
    pr = ProducerRecord(b"v")
    assert (pr.key, pr.timestamp, pr.headers, pr.partition) == (None, None, (), None)


# -- errors ----------------------------------------------------------------------------------------------
def test_error_tree() -> None:
    assert issubclass(UnknownTopicError, LogError) and issubclass(UnknownTopicError, KeyError)
    assert issubclass(UnknownPartitionError, IndexError)
    assert issubclass(ConfigError, ValueError) and ConfigError.exit_code == 2
    for cls in (SerdeError, LogError, CorruptLogError, OffsetOutOfRangeError, InvalidOffsetError):
        assert issubclass(cls, MillstreamError)


def test_error_messages_and_hints() -> None:
    err = UnknownTopicError("orders")
    assert str(err).startswith("unknown topic 'orders'")  # not KeyError's repr
    assert "millstream topics create orders" in (err.hint or "")
    assert err.topic == "orders"
    assert UnknownTopicError("t", hint="do this").hint == "do this"

    err2 = UnknownPartitionError("orders", 5, 3)
    assert "partition 5 out of range for topic 'orders', which has 3 partitions (0..2)" in str(err2)
    assert "1 partition (0..0)" in str(UnknownPartitionError("o", 1, 1))

    err3 = OffsetOutOfRangeError("orders", 0, 99, 10, 20)
    assert "offset 99 out of range for orders[0]: valid offsets are 10..20" in str(err3)
    assert (err3.earliest, err3.latest) == (10, 20)

    assert "already exists" in str(TopicExistsError("orders")) and TopicExistsError("orders").hint

    plain = MillstreamError("something broke")
    assert str(plain) == "something broke" and plain.hint is None and plain.exit_code == 1
    hinted = MillstreamError("x is wrong", hint="fix x")
    assert str(hinted) == "x is wrong (fix x)"
