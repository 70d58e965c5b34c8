"""Retention and compaction of one partition of the embedded log, batch by batch inside SQLite.

The rules are those of :mod:`millstream.log.retention` (so ``memory://`` and ``file://`` agree record for
record), applied without decoding more than needed:

1. ``compact`` in ``cleanup.policy``: decode every batch, keep the latest record of each key, keyless
   records and the partition's last record; rewrite only the batches that lost records (offsets stay, so
   gaps appear). Tombstones stay as a key's latest record. Skipped when nothing was appended since the
   partition was last compacted.
2. ``delete`` in ``cleanup.policy``, ``retention.ms`` >= 0: drop whole leading batches whose newest
   timestamp is older than ``now - retention.ms``; in the first batch that has a newer record, drop its
   leading records older than that cut (a prefix, as Kafka and the memory backend do).
3. ``delete``, ``retention.bytes`` >= 0: drop the oldest batches (then records) while the partition holds
   more than ``retention.bytes`` of keys + values.
4. With ``delete``, the log start moves to the first remaining offset (or the log end when empty).

The caller runs this inside one write transaction per partition.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence

from .batch_codec import StoredRecord, decode_rows, encode_stored, record_size

_INSERT = (
    "INSERT INTO batches(topic_id, partition, base_offset, last_offset, max_timestamp, record_count, "
    "byte_size, records) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _replace(
    conn: sqlite3.Connection, tid: int, partition: int, base: int, kept: Sequence[StoredRecord]
) -> None:
    conn.execute(
        "DELETE FROM batches WHERE topic_id=? AND partition=? AND base_offset=?", (tid, partition, base)
    )
    if kept:
        conn.execute(_INSERT, (tid, partition, *encode_stored(kept)))


_PAGE = 256


def _heads(conn: sqlite3.Connection, tid: int, partition: int) -> Iterator[tuple[int, int, int, int]]:
    """``(base_offset, max_timestamp, record_count, byte_size)`` of the partition's batches, oldest first.

    Read a page at a time from the covering index, so that retention that stops after a few batches does
    not read the heads of all of them; rows may be deleted while the iteration goes on.
    """
    after = -1
    while True:
        page = conn.execute(
            "SELECT base_offset, max_timestamp, record_count, byte_size FROM batches "
            "WHERE topic_id=? AND partition=? AND base_offset > ? ORDER BY base_offset LIMIT ?",
            (tid, partition, after, _PAGE),
        ).fetchall()
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1][0]


def _stored(conn: sqlite3.Connection, tid: int, partition: int, base: int) -> list[StoredRecord]:
    (blob,) = conn.execute(
        "SELECT records FROM batches WHERE topic_id=? AND partition=? AND base_offset=?",
        (tid, partition, base),
    ).fetchone()
    return decode_rows(blob, base)


def _compact(conn: sqlite3.Connection, tid: int, partition: int) -> int:
    end, compacted_end = conn.execute(
        "SELECT next_offset, compacted_end FROM partitions WHERE topic_id=? AND partition=?", (tid, partition)
    ).fetchone()
    if end == compacted_end:
        return 0  # nothing appended since the last compaction, which left one record per key
    batches = [
        (base, decode_rows(blob, base))
        for base, blob in conn.execute(
            "SELECT base_offset, records FROM batches WHERE topic_id=? AND partition=? ORDER BY base_offset",
            (tid, partition),
        )
    ]
    removed = 0
    if batches:
        latest: dict[bytes, int] = {}
        for _, rows in batches:
            for row in rows:
                if row[2] is not None:
                    latest[row[2]] = row[0]
        last = batches[-1][1][-1][0]
        for base, rows in batches:
            kept = [r for r in rows if r[2] is None or latest[r[2]] == r[0] or r[0] == last]
            if len(kept) != len(rows):
                removed += len(rows) - len(kept)
                _replace(conn, tid, partition, base, kept)
    conn.execute(
        "UPDATE partitions SET compacted_end=? WHERE topic_id=? AND partition=?", (end, tid, partition)
    )
    return removed


def _delete_by_time(conn: sqlite3.Connection, tid: int, partition: int, cut: int) -> int:
    removed = 0
    for base, max_ts, count, _ in _heads(conn, tid, partition):
        if max_ts < cut:
            _replace(conn, tid, partition, base, ())
            removed += count
            continue
        rows = _stored(conn, tid, partition, base)
        i = 0
        while i < len(rows) and rows[i][1] < cut:
            i += 1
        if i:
            _replace(conn, tid, partition, base, rows[i:])
            removed += i
        break
    return removed


def _delete_by_size(conn: sqlite3.Connection, tid: int, partition: int, limit: int) -> int:
    (total,) = conn.execute(
        "SELECT coalesce(sum(byte_size), 0) FROM batches WHERE topic_id=? AND partition=?", (tid, partition)
    ).fetchone()
    removed = 0
    if total <= limit:
        return 0
    for base, _, count, size in _heads(conn, tid, partition):
        if total - size > limit:
            _replace(conn, tid, partition, base, ())
            total -= size
            removed += count
            continue
        rows = _stored(conn, tid, partition, base)
        i = 0
        while i < len(rows) and total > limit:
            total -= record_size(rows[i])
            i += 1
        _replace(conn, tid, partition, base, rows[i:])
        removed += i
        break
    return removed


def enforce_partition(
    conn: sqlite3.Connection, tid: int, partition: int, config: Mapping[str, str], now_ms: int
) -> int:
    """Apply the cleanup policy to one partition (see the module docstring); return records removed."""
    policy = set(config.get("cleanup.policy", "delete").split(","))
    removed = 0
    if "compact" in policy:
        removed += _compact(conn, tid, partition)
    if "delete" in policy:
        retention_ms = int(config.get("retention.ms", "-1"))
        if retention_ms >= 0:
            removed += _delete_by_time(conn, tid, partition, now_ms - retention_ms)
        retention_bytes = int(config.get("retention.bytes", "-1"))
        if retention_bytes >= 0:
            removed += _delete_by_size(conn, tid, partition, retention_bytes)
        conn.execute(
            "UPDATE partitions SET start_offset = max(start_offset, coalesce("
            "(SELECT min(base_offset) FROM batches WHERE topic_id=?1 AND partition=?2), next_offset)) "
            "WHERE topic_id=?1 AND partition=?2",
            (tid, partition),
        )
    return removed


__all__ = ["enforce_partition"]
