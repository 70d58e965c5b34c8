"""The embedded log's on-disk batch format: a batch of records as one msgpack blob.

A stored batch is the msgpack array of its records, each the array ``[offset, timestamp, key, value,
headers]`` with ``headers`` an array of ``[name, value]`` pairs (``key``/``value``/header values are msgpack
``bin`` or nil, names ``str``). Decoding with ``use_list=False`` yields tuples, so a :class:`Record` is built
in C as ``tuple.__new__(Record, (topic, partition) + stored)``. msgpack rather than ``marshal`` because its
format does not change between Python versions: this is a durable file format (see
:data:`millstream.log.sqlite_store.FORMAT_VERSION`).

Large appends are cut into chunks of at most :data:`CHUNK_RECORDS` records and about :data:`CHUNK_BYTES` of
keys + values, so one read never has to decode far more than it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack

from ..core.errors import SerdeError
from ..core.record import ProducerRecord

CHUNK_RECORDS = 4096
CHUNK_BYTES = 1 << 20

StoredBatch = tuple[int, int, int, int, int, bytes]
"""``(base_offset, last_offset, max_timestamp, record_count, byte_size, blob)`` — one ``batches`` row."""

_packb = msgpack.packb
_unpackb = msgpack.unpackb


def _as_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise SerdeError(
        f"a record {what} must be bytes or None, got {type(value).__name__}",
        hint="serialize it first, e.g. with millstream.core.serde.get_serde('json').serialize(...)",
    )


def _as_timestamp(ts: Any) -> int:
    if isinstance(ts, bool) or not isinstance(ts, int | float) or ts != ts or int(ts) != ts:
        raise SerdeError(
            f"a record timestamp must be an integer (epoch milliseconds) or None, got {ts!r}",
            hint="pass int(time.time() * 1000), or None for the append time",
        )
    return int(ts)


def _as_record(rec: Any) -> ProducerRecord:
    try:
        return ProducerRecord(*rec)
    except TypeError:
        raise SerdeError(
            f"cannot append {type(rec).__name__} {rec!r:.80}",
            hint="append ProducerRecord(value, key, timestamp, headers) or a tuple in that order",
        ) from None


def encode_batches(
    records: Sequence[Any],
    base_offset: int,
    now_ms: int,
    *,
    chunk_records: int = CHUNK_RECORDS,
    chunk_bytes: int = CHUNK_BYTES,
) -> tuple[list[StoredBatch], int]:
    """Encode ``records`` (``ProducerRecord`` or tuples in its field order) numbered from ``base_offset``.

    Returns the stored batches (chunked) and the next offset. A record without a timestamp gets ``now_ms``.
    Raises :class:`SerdeError` for a key/value that is not bytes or a timestamp that is not an integer.
    """
    out: list[StoredBatch] = []
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    offset = base_offset
    first = offset
    nbytes = 0
    max_ts = -(1 << 62)
    for rec in records:
        if type(rec) is not ProducerRecord:
            rec = _as_record(rec)
        value, key, ts, headers, _ = rec
        if ts is None:
            ts = now_ms
        elif type(ts) is not int:
            ts = _as_timestamp(ts)
        if value is not None:
            if type(value) is not bytes:
                value = _as_bytes(value, "value")
            nbytes += len(value)
        if key is not None:
            if type(key) is not bytes:
                key = _as_bytes(key, "key")
            nbytes += len(key)
        if ts > max_ts:
            max_ts = ts
        append((offset, ts, key, value, headers or ()))
        offset += 1
        if len(rows) >= chunk_records or nbytes >= chunk_bytes:
            out.append((first, offset - 1, max_ts, len(rows), nbytes, _pack(rows)))
            rows = []
            append = rows.append
            first = offset
            nbytes = 0
            max_ts = -(1 << 62)
    if rows:
        out.append((first, offset - 1, max_ts, len(rows), nbytes, _pack(rows)))
    return out, offset


def _pack(rows: list[tuple[Any, ...]]) -> bytes:
    try:
        return _packb(rows, use_bin_type=True)
    except (TypeError, ValueError) as exc:
        raise SerdeError(
            f"cannot store a record's headers ({exc})",
            hint="headers must be a sequence of (str name, bytes-or-None value) pairs",
        ) from exc


def encode_stored(rows: Sequence[tuple[Any, ...]]) -> StoredBatch:
    """Re-encode already stored record tuples (after compaction or a retention cut) as one batch row."""
    nbytes = 0
    max_ts = -(1 << 62)
    for _, ts, key, value, _h in rows:
        nbytes += (len(key) if key is not None else 0) + (len(value) if value is not None else 0)
        if ts > max_ts:
            max_ts = ts
    return (rows[0][0], rows[-1][0], max_ts, len(rows), nbytes, _packb(list(rows), use_bin_type=True))


def decode_batch(blob: bytes) -> tuple[tuple[Any, ...], ...]:
    """The stored record tuples ``(offset, timestamp, key, value, headers)`` of one batch blob."""
    result: tuple[tuple[Any, ...], ...] = _unpackb(blob, use_list=False, raw=False)
    return result


def record_size(stored: tuple[Any, ...]) -> int:
    """Bytes of key + value of one stored record tuple (what ``max_bytes`` and ``retention.bytes`` count)."""
    key, value = stored[2], stored[3]
    return (len(key) if key is not None else 0) + (len(value) if value is not None else 0)


__all__ = [
    "CHUNK_BYTES",
    "CHUNK_RECORDS",
    "StoredBatch",
    "decode_batch",
    "encode_batches",
    "encode_stored",
    "record_size",
]
