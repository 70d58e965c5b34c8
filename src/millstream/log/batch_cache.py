"""A small per-thread cache of decoded stored batches, so that small sequential reads decode each batch once.

A reader that asks for fewer records than a stored batch holds (a consumer polling 500 at a time from
4,096-record batches) would otherwise fetch and decode the same batch again on every read. The embedded
log keeps the batch a read stopped inside, keyed by ``(topic_id, partition, base_offset, last_offset,
record_count)``: stored records never change, and retention or compaction always changes the base, the
last offset or the count of a batch they rewrite, so a key never names stale contents.
"""

from __future__ import annotations

from .batch_codec import Columns

BatchKey = tuple[int, int, int, int, int]


class BatchCache:
    """Least-recently-used decoded batches, holding at most about ``max_records`` records."""

    __slots__ = ("_entries", "_records", "max_records")

    def __init__(self, max_records: int = 32_768) -> None:
        self.max_records = max_records
        self._entries: dict[BatchKey, Columns] = {}
        self._records = 0

    def get(self, key: BatchKey) -> Columns | None:
        """The decoded batch under ``key`` (now the most recently used), or ``None``."""
        columns = self._entries.pop(key, None)
        if columns is not None:
            self._entries[key] = columns
        return columns

    def put(self, key: BatchKey, columns: Columns) -> None:
        """Keep a decoded batch, evicting the least recently used ones beyond ``max_records``."""
        old = self._entries.pop(key, None)
        if old is not None:
            self._records -= old[5]
        self._entries[key] = columns
        self._records += columns[5]
        while self._records > self.max_records and len(self._entries) > 1:
            oldest = next(iter(self._entries))
            self._records -= self._entries.pop(oldest)[5]

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["BatchCache", "BatchKey"]
