"""The log contract suite against ``kafka://`` on the session's test broker (Tansu, or $MILLSTREAM_TEST_KAFKA).

Switched off for Kafka (by the suite's flags): exact ``max_bytes`` cuts (a Kafka fetch works in whole
batches), on-demand retention (brokers apply it in the background) and state blobs in transactions (a
Kafka cluster has no place for them). Two cases are restated below with Kafka's behaviour: a transaction's
commit marker takes an offset, and librdkafka cannot send timestamp 0. Cases that fail only because of a
Tansu limit are skipped only on Tansu, naming the limit; they run against a real Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from millstream.core.errors import ConfigError, TransactionError
from millstream.core.record import ProducerRecord
from millstream.log.kafka import KafkaLog
from tests.fixtures.kafka_broker import TANSU_LIMITS

from .contract import LogContract

pytestmark = pytest.mark.kafka

# contract test name -> the Tansu limit that makes it fail there
TANSU_SKIPS: dict[str, str] = {
    "test_create_partitions_grows_only": "retention",  # no CreatePartitions (KIP-195)
    "test_read_from_middle_and_end": "out_of_range",
    "test_earliest_latest": "high_watermark",
    "test_describe_group_lag": "high_watermark",
    "test_consumer_assign_poll_seek": "high_watermark",  # seek_to_end lands inside the last batch
    "test_large_batch_round_trip": "high_watermark",  # read_all stops at the under-reported log end
}


class TestKafkaLog(LogContract):
    exact_max_bytes = False
    retention_on_demand = False
    supports_state = True  # state blobs are records of the compacted __millstream_state topic

    @pytest.fixture
    def log(self, request: pytest.FixtureRequest) -> Iterator[KafkaLog]:
        limit = TANSU_SKIPS.get(request.node.originalname)
        if limit and request.getfixturevalue("kafka_on_tansu"):
            pytest.skip(TANSU_LIMITS[limit])
        bootstrap: str = request.getfixturevalue("kafka_bootstrap")
        properties: dict[str, Any] = request.getfixturevalue("kafka_properties")
        with KafkaLog(bootstrap, properties=properties, timeout_ms=15_000) as log:
            yield log

    # -- contract cases where Kafka itself (not Tansu) differs, restated with Kafka's behaviour ------------
    def test_round_trip_keys_headers_nulls_timestamps(self, log: KafkaLog, new_topic: Any) -> None:
        """As the suite's case, but librdkafka reads timestamp 0 as "now": KafkaLog rejects 0, so 1 is used."""
        t = new_topic()
        headers = (("trace", b"abc"), ("trace", b"def"), ("empty", None), ("bin", bytes(range(256))))
        before = int(time.time() * 1000)
        log.append(
            t,
            0,
            [
                ProducerRecord(b"v", b"k", 1_600_000_000_000, headers),
                ProducerRecord(None, b"tombstone-key"),
                ProducerRecord(b"", None, 1),
                ProducerRecord(bytes(range(256)) * 4, bytes(range(256))),
            ],
        )
        after = int(time.time() * 1000)
        a, b, c, d = log.read(t, 0, 0)
        assert (a.key, a.value, a.timestamp, a.headers) == (b"k", b"v", 1_600_000_000_000, headers)
        assert (b.key, b.value, b.headers) == (b"tombstone-key", None, ())
        assert before - 5 <= b.timestamp <= after + 5
        assert (c.key, c.value, c.timestamp) == (None, b"", 1)
        assert d.value == bytes(range(256)) * 4 and d.key == bytes(range(256))
        with pytest.raises(ConfigError, match="timestamp 0"):
            log.append(t, 0, [ProducerRecord(b"ok", None, 5), ProducerRecord(b"zero", None, 0)])
        assert [r.value for r in log.read(t, 0, 4)] == []  # the bad batch sent nothing

    def test_transaction_used_once(self, log: KafkaLog, new_topic: Any) -> None:
        """As the suite's case, but a Kafka commit marker takes an offset: the log end is 2 after 1 record."""
        t = new_topic()
        txn = log.transaction()
        txn.append(t, 0, [ProducerRecord(b"a")])
        txn.commit()
        with pytest.raises(TransactionError, match="already"):
            txn.commit()
        assert [(r.offset, r.value) for r in log.read(t, 0, 0)] == [(0, b"a")]
        assert log.latest_offset(t, 0) == 2
