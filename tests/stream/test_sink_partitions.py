"""The log sink's partitioner: keyed records land on ``murmur2(key) % partitions`` (Kafka's default) whether
the partition comes from the sink's key cache or not, and on partition 0 of a one-partition topic."""

from __future__ import annotations

import orjson
import pytest

from millstream import StreamExecutionEnvironment
from millstream.connectors import LogSink
from millstream.log import open_log, partition_for_key


@pytest.mark.parametrize("partitions", [1, 3, 8])
def test_keyed_records_land_on_the_murmur2_partition(partitions: int) -> None:
    url = f"memory://sink-partitions-{partitions}"
    log = open_log(url)
    log.create_topic("out", partitions)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(7)  # many batches: the same keys again, from the sink's cache
    events = [{"k": f"user-{i % 37}" if i % 11 else None, "i": i} for i in range(500)]
    sink = LogSink.builder().set_log(url).set_topic("out").set_key_selector(lambda e: e["k"]).build()
    env.from_collection(events).sink_to(sink)
    env.execute("partitions")
    seen = []
    for p in range(partitions):
        for r in log.read("out", p, 0, max_records=10_000):
            e = orjson.loads(r.value)
            seen.append(e["i"])
            if r.key is not None:
                assert r.key == e["k"].encode()
                assert p == partition_for_key(r.key, partitions)
    assert sorted(seen) == list(range(500))
    log.close()
