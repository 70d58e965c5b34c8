"""Keyed log sink cost per record (collection -> keyed LogSink on memory://), 1 and 4 partitions; best of 3.

PYTHONPATH=src python benchmarks/sink_partition_bench.py
"""

from __future__ import annotations

import time

import millstream  # noqa: F401 - registers the runtime
from millstream import StreamExecutionEnvironment
from millstream.connectors import LogSink
from millstream.log import open_log

N = 200_000


def main() -> None:
    events = [{"k": f"page-{i % 100}", "count": i % 50, "sum": i} for i in range(N)]
    for parts in (1, 4):
        best = float("inf")
        for rep in range(3):
            url = f"memory://sb-{parts}-{rep}"
            log = open_log(url)
            log.create_topic("out", parts)
            env = StreamExecutionEnvironment.get_execution_environment()
            env.set_batch_size(4096)
            sink = LogSink.builder().set_log(url).set_topic("out").set_key_selector(lambda e: e["k"]).build()
            env.from_collection(events).sink_to(sink)
            started = time.process_time()
            env.execute("sink partitions")
            best = min(best, time.process_time() - started)
        print(f"keyed LogSink, {parts} partition(s): {best / N * 1e6:.2f} us CPU per record (collection -> sink)")


if __name__ == "__main__":
    main()
