"""Telling the user why event time stands still: a source partition without data that holds the watermark back.

A source's watermark is the minimum over its partitions (SEMANTICS.md); one partition that gets no data keeps
it where it is, and every event-time window and timer downstream waits — silently, in Flink too. Unless the
strategy marks idle partitions itself (``with_idleness``), :class:`StallWatch` checks every source about once a
second (of the job's clock) and, for each partition that has had no data for
``config.idle_partition_warning_ms`` (default 30 s; ``env.get_config().set_idle_partition_warning(...)``)
while another partition of the source is ahead, logs one warning naming the source and the partition and
suggesting ``with_idleness``; again only after the partition had data and stalled anew. The partitions stalled
now are on the driver (``stalled_partitions``), which the metrics report as ``watermarkStalledPartitions`` and
the progress table shows.
"""

from __future__ import annotations

import logging
from typing import Any

from ..core.clock import Clock

_log = logging.getLogger("millstream.runtime")

CHECK_EVERY_MS = 1000


def partition_name(pid: Any) -> str:
    """``topic-3`` for a log partition (Kafka's spelling), else the split as it prints."""
    topic, partition = getattr(pid, "topic", None), getattr(pid, "partition", None)
    return f"{topic}-{partition}" if topic is not None and partition is not None else str(pid)


class StallWatch:
    """Checks ``drivers`` (source drivers with ``can_stall`` and ``stalled(now, after)``) for partitions holding
    the watermark back; nothing at all when none of them can stall or ``after_ms`` is ``None``."""

    def __init__(self, drivers: list[Any], clock: Clock, after_ms: int | None, log: logging.Logger = _log) -> None:
        self.drivers = drivers
        self.clock = clock
        self.after_ms = after_ms
        self.log = log
        self.warned: set[tuple[str, Any]] = set()
        self._last = clock.now_ms()
        self.watching = after_ms is not None and any(d.can_stall for d in drivers)

    def check(self) -> None:
        """Look again if a second (of the job's clock) has passed since the last look."""
        if not self.watching:
            return
        now = self.clock.now_ms()
        if now - self._last < CHECK_EVERY_MS:
            return
        self._last = now
        for d in self.drivers:
            stalled = d.stalled(now, self.after_ms)
            d.stalled_partitions = [pid for pid, _silent, _ahead in stalled]
            current = {(d.name, pid) for pid, _silent, _ahead in stalled}
            for pid, silent, ahead in stalled:
                if (d.name, pid) in self.warned:
                    continue
                self.warned.add((d.name, pid))
                self.log.warning(
                    "source %r: partition %s has had no data for %d s and holds the watermark back (at %d; other "
                    "partitions are up to %d), so event-time windows and timers downstream wait; if it may stay "
                    "empty, mark idle partitions: WatermarkStrategy...with_idleness(Duration.of_seconds(30))",
                    d.name,
                    partition_name(pid),
                    silent // 1000,
                    d.pw.combined,
                    ahead,
                )
            self.warned -= {k for k in self.warned if k[0] == d.name and k not in current}


__all__ = ["StallWatch", "partition_name"]
