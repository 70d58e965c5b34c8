"""Kafka's murmur2 key partitioner: Kafka's own test vectors and agreement with kafka-python."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from millstream.log.partitioner import murmur2, partition_for_key

# org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed Java ints)
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "expected"), KAFKA_VECTORS.items(), ids=[k.decode() for k in KAFKA_VECTORS])
def test_kafka_vectors(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected


def test_empty_key() -> None:
    assert murmur2(b"") & 0xFFFFFFFF == kafka_python_murmur2(b"") & 0xFFFFFFFF


@given(st.binary(max_size=200))
def test_matches_kafka_python(key: bytes) -> None:
    assert murmur2(key) & 0xFFFFFFFF == kafka_python_murmur2(key) & 0xFFFFFFFF
    assert -(1 << 31) <= murmur2(key) < 1 << 31


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=1000))
def test_partition_for_key_is_kafkas_rule(key: bytes, partitions: int) -> None:
    expected = (kafka_python_murmur2(key) & 0x7FFFFFFF) % partitions
    assert partition_for_key(key, partitions) == expected
    assert 0 <= partition_for_key(key, partitions) < partitions


@pytest.mark.parametrize(
    ("key", "partitions", "expected"),
    [(b"21", 3, (-973932308 & 0x7FFFFFFF) % 3), (b"foobar", 12, (-790332482 & 0x7FFFFFFF) % 12)],
)
def test_known_placements(key: bytes, partitions: int, expected: int) -> None:
    assert partition_for_key(key, partitions) == expected
