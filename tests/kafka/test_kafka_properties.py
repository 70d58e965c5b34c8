"""Client properties pass through to librdkafka; bad ones and unreachable clusters give clear errors."""

from __future__ import annotations

import socket
import time

import pytest

from millstream.core.errors import BrokerError, ConfigError
from millstream.core.record import ProducerRecord, TopicPartition
from millstream.log import open_log
from millstream.log.kafka import KafkaLog
from millstream.log.kafka_config import KafkaSettings, parse_bootstrap

pytestmark = pytest.mark.kafka


def test_bootstrap_parsing():
    assert parse_bootstrap("kafka://a:9092, b:9093/") == "a:9092,b:9093"
    for bad in ("", "host", "host:port", "host:0", ":9092"):
        with pytest.raises(ConfigError):
            parse_bootstrap(bad)
    with pytest.raises(ConfigError, match="needs bootstrap servers"):
        open_log("kafka://")


def test_properties_are_scoped_by_prefix():
    s = KafkaSettings(
        "h:1", {"security.protocol": "plaintext", "producer.linger.ms": 7, "consumer.fetch.wait.max.ms": 3}
    )
    assert s.producer_config()["linger.ms"] == "7"
    assert "linger.ms" not in s.consumer_config()
    assert s.consumer_config()["fetch.wait.max.ms"] == "3"
    assert {s.admin_config()["security.protocol"], s.producer_config()["security.protocol"]} == {"plaintext"}
    assert s.producer_config()["enable.idempotence"] is True
    assert s.consumer_config()["isolation.level"] == "read_committed"
    with pytest.raises(ConfigError, match=r"bootstrap\.servers"):
        KafkaSettings("h:1", {"bootstrap.servers": "x:1"})


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression_via_properties(kafka_bootstrap, kafka_properties, kafka_topic, codec):
    props = {**kafka_properties, "producer.compression.type": codec}
    with KafkaLog(kafka_bootstrap, properties=props) as log:
        name = kafka_topic(codec)
        log.create_topic(name)
        values = [b"%s-%d" % (codec.encode(), i) * 20 for i in range(50)]
        log.append(name, 0, [ProducerRecord(v, b"k") for v in values])
        assert [r.value for r in log.read(name, 0, 0)] == values


def test_isolation_level_passes_through(kafka_bootstrap, kafka_properties, kafka_topic):
    """``consumer.isolation.level=read_uncommitted`` makes an open transaction's records readable."""
    with KafkaLog(kafka_bootstrap, properties=kafka_properties) as committed:
        name = committed.create_topic(kafka_topic("iso")).name
        txn = committed.transaction()
        txn.append(name, 0, [ProducerRecord(b"pending")])
        txn.flush()
        props = {**kafka_properties, "consumer.isolation.level": "read_uncommitted"}
        with KafkaLog(kafka_bootstrap, properties=props) as dirty:
            assert [r.value for r in dirty.read(name, 0, 0, timeout_ms=5_000)] == [b"pending"]
        assert committed.read(name, 0, 0, timeout_ms=200) == []
        txn.commit()
        assert [r.value for r in committed.read(name, 0, 0, timeout_ms=5_000)] == [b"pending"]


def test_bad_property_is_a_config_error(kafka_bootstrap):
    with pytest.raises(ConfigError, match=r"no\.such\.property"):
        KafkaLog(kafka_bootstrap, properties={"no.such.property": "1"})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_cluster_fails_at_once_naming_the_servers_and_the_timeout_option():
    port = _closed_port()
    start = time.monotonic()
    with pytest.raises(BrokerError, match=f"connection refused by the Kafka cluster at 127.0.0.1:{port}") as info:
        KafkaLog(f"127.0.0.1:{port}", timeout_ms=30_000)
    assert time.monotonic() - start < 3  # not the 30 s timeout
    assert "timeout_ms" in (info.value.hint or "")


def test_unreachable_cluster_fails_fast_naming_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    import millstream.log.kafka as kafka_module

    port = _closed_port()
    monkeypatch.setattr(kafka_module, "refused_everywhere", lambda _servers: False)  # as if it went down later
    log = KafkaLog(f"127.0.0.1:{port}", timeout_ms=1_500)
    try:
        for call in (
            log.list_topics,
            lambda: log.create_topic("t"),
            lambda: log.append("t", 0, [ProducerRecord(b"x")]),
            lambda: log.read("t", 0, 0),
            lambda: log.committed_offsets("g", [TopicPartition("t", 0)]),
        ):
            start = time.monotonic()
            with pytest.raises(BrokerError, match=f"127.0.0.1:{port}"):
                call()
            assert time.monotonic() - start < 10
    finally:
        log.close()
