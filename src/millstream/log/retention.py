"""Retention and compaction rules shared by the log backends (Kafka's semantics, simplified to whole records).

- ``cleanup.policy`` containing ``delete``: drop records older than ``retention.ms`` (by record timestamp,
  against ``now``) and, oldest first, records beyond ``retention.bytes`` (keys + values) per partition.
  Deletion only ever removes a prefix, so the log start moves forward and no gap appears.
- ``cleanup.policy`` containing ``compact``: keep only the latest record of each key; a tombstone (null
  value) for a key is kept as the latest record. Keyless records are kept. Offsets are unchanged, so
  compaction leaves gaps. The last record of a partition is never removed, so the log end stays put.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core.record import Record


def apply_retention(
    records: Sequence[Record], start: int, end: int, config: Mapping[str, str], now_ms: int
) -> tuple[list[Record], int]:
    """Return the records that stay and the new log start offset."""
    policy = set(config.get("cleanup.policy", "delete").split(","))
    kept = list(records)
    if "compact" in policy and kept:
        latest: dict[bytes, int] = {}
        for r in kept:
            if r.key is not None:
                latest[r.key] = r.offset
        last = kept[-1].offset
        kept = [r for r in kept if r.key is None or latest[r.key] == r.offset or r.offset == last]
    if "delete" in policy:
        retention_ms = int(config.get("retention.ms", "-1"))
        if retention_ms >= 0:
            cut = now_ms - retention_ms
            i = 0
            while i < len(kept) and kept[i].timestamp < cut:
                i += 1
            kept = kept[i:]
        retention_bytes = int(config.get("retention.bytes", "-1"))
        if retention_bytes >= 0:
            total = sum(len(r.key or b"") + len(r.value or b"") for r in kept)
            i = 0
            while i < len(kept) and total > retention_bytes:
                total -= len(kept[i].key or b"") + len(kept[i].value or b"")
                i += 1
            kept = kept[i:]
    new_start = kept[0].offset if kept else end
    return kept, max(start, new_start) if "delete" in policy else start


__all__ = ["apply_retention"]
