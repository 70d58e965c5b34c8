"""The embedded log's on-disk batch format: a batch of records as one columnar msgpack blob.

A stored batch is the msgpack array ``[offsets, timestamps, keys, values, headers]`` of equal-length
arrays, where

* ``offsets`` is nil when the batch is dense (``base_offset, base_offset + 1, ...``; every appended batch
  is) and the explicit offsets once compaction has left gaps;
* ``keys`` is nil when every key is null; ``headers`` is nil when no record has headers, else one array
  of ``[name, value]`` pairs per record;
* keys, values and header values are msgpack ``bin`` (or nil), names ``str``, timestamps integers.

Columns rather than one array per record because reading is what the log is for: decoding yields a few
tuples per batch, and ``Record`` objects are then built by C code alone —
``map(tuple.__new__, repeat(Record), zip(repeat(topic), repeat(partition), offsets, ...))`` — with no
Python-level work per record. msgpack rather than ``marshal`` because its format does not change between
Python versions: this is a durable file format (see :data:`millstream.log.sqlite_store.FORMAT_VERSION`).

Large appends are cut into chunks of at most :data:`CHUNK_RECORDS` records and about :data:`CHUNK_BYTES` of
keys + values, so that one read never decodes far more than it returns.
"""

from __future__ import annotations

import gc
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import accumulate, repeat
from operator import add, itemgetter
from typing import Any

import msgpack

from ..core.errors import SerdeError
from ..core.record import ProducerRecord, Record

CHUNK_RECORDS = 4096
CHUNK_BYTES = 1 << 20

StoredBatch = tuple[int, int, int, int, int, bytes]
"""``(base_offset, last_offset, max_timestamp, record_count, byte_size, blob)`` — one ``batches`` row."""

StoredRecord = tuple[int, int, bytes | None, bytes | None, tuple[Any, ...]]
"""``(offset, timestamp, key, value, headers)`` of one stored record (used by retention and compaction)."""

_packb = msgpack.packb
_unpackb = msgpack.unpackb
_new = tuple.__new__
_VALUE, _KEY, _TIMESTAMP, _HEADERS = (itemgetter(i) for i in range(4))
_BYTES_OR_NONE = frozenset({bytes, type(None)})
_NONE_TYPE = frozenset({type(None)})
_INT_TYPE = frozenset({int})
_INT_OR_NONE = frozenset({int, type(None)})
_TUPLE_TYPE = frozenset({tuple})
_LEN_3 = frozenset({3})
_PRODUCER_RECORD_TYPE = frozenset({ProducerRecord})


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch of records is built.

    ``Record`` is a tuple subclass, so CPython keeps every one tracked; building thousands per read with
    the collector on runs a generation-0 collection every 700 of them, which costs more than the decoding
    itself. Pausing it for the duration of one batch defers that work to a single collection afterwards.
    The collector is switched back on only if it was on, so a caller's ``gc.disable()`` is respected.
    """
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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


def _pack(columns: list[Any]) -> bytes:
    try:
        return _packb(columns, use_bin_type=True)
    except (TypeError, ValueError) as exc:
        raise SerdeError(
            f"cannot store a record's headers ({exc})",
            hint="headers must be a sequence of (str name, bytes-or-None value) pairs",
        ) from exc


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
    n = len(records)
    if not n:
        return [], base_offset
    columns = _fast_columns(records, now_ms)
    if columns is None:
        columns = _checked_columns(records, now_ms)
    return _encode_columns(columns, n, base_offset, chunk_records, chunk_bytes)


def encode_value_batches(
    values: Sequence[Any],
    timestamps: Sequence[Any],
    base_offset: int,
    now_ms: int,
    *,
    chunk_records: int = CHUNK_RECORDS,
    chunk_bytes: int = CHUNK_BYTES,
) -> tuple[list[StoredBatch], int]:
    """The same as :func:`encode_batches` of ``ProducerRecord(value, None, timestamp)`` for each pair of the
    two equal-length columns, without building those records (same result, same errors)."""
    n = len(values)
    if len(timestamps) != n:
        raise ValueError(f"{n} values but {len(timestamps)} timestamps")
    if not n:
        return [], base_offset
    columns = _typed_columns(list(timestamps), [None] * n, list(values), [()] * n, now_ms)
    if columns is None:
        return encode_batches(
            list(zip(values, repeat(None, n), timestamps, strict=True)),
            base_offset,
            now_ms,
            chunk_records=chunk_records,
            chunk_bytes=chunk_bytes,
        )
    return _encode_columns(columns, n, base_offset, chunk_records, chunk_bytes)


def _encode_columns(
    columns: RecordColumns, n: int, base_offset: int, chunk_records: int, chunk_bytes: int
) -> tuple[list[StoredBatch], int]:
    timestamps, keys, values, headers = columns
    sizes = _sizes(values)
    if keys.count(None) != n:  # some record has a key (counted in C, not with a per-record generator)
        sizes = list(map(add, sizes, _sizes(keys)))
    cumulative = list(accumulate(sizes))
    out: list[StoredBatch] = []
    start = 0
    while start < n:
        before = cumulative[start - 1] if start else 0
        end = min(start + chunk_records, bisect_left(cumulative, before + chunk_bytes, start) + 1, n)
        chunk_keys = keys[start:end]
        chunk_headers = headers[start:end]
        blob = _pack(
            [
                None,
                timestamps[start:end],
                None if chunk_keys.count(None) == len(chunk_keys) else chunk_keys,
                values[start:end],
                chunk_headers if any(chunk_headers) else None,
            ]
        )
        max_ts = max(timestamps[start:end])
        out.append(
            (
                base_offset + start,
                base_offset + end - 1,
                max_ts,
                end - start,
                cumulative[end - 1] - before,
                blob,
            )
        )
        start = end
    return out, base_offset + n


RecordColumns = tuple[Sequence[int], Sequence[bytes | None], Sequence[bytes | None], Sequence[Any]]


def _fast_columns(records: Sequence[Any], now_ms: int) -> RecordColumns | None:
    """Transpose well-formed ``ProducerRecord``s (or plain ``(value, key, timestamp)`` tuples, as sinks
    write) into columns in C; ``None`` when any needs a closer look."""
    types = set(map(type, records))
    if types == _TUPLE_TYPE and set(map(len, records)) == _LEN_3:
        values, keys, timestamps = map(list, zip(*records, strict=True))
        headers: list[Any] = [()] * len(values)
    elif types == _PRODUCER_RECORD_TYPE:
        values = list(map(_VALUE, records))
        keys = list(map(_KEY, records))
        timestamps = list(map(_TIMESTAMP, records))
        headers = list(map(_HEADERS, records))
    else:
        return None
    return _typed_columns(timestamps, keys, values, headers, now_ms)


def _typed_columns(
    timestamps: list[Any], keys: list[Any], values: list[Any], headers: list[Any], now_ms: int
) -> RecordColumns | None:
    """The columns with missing timestamps set to ``now_ms``; ``None`` when a type needs a closer look."""
    if not set(map(type, values)) <= _BYTES_OR_NONE or not set(map(type, keys)) <= _BYTES_OR_NONE:
        return None
    ts_types = set(map(type, timestamps))
    if ts_types == _NONE_TYPE:
        timestamps = [now_ms] * len(timestamps)
    elif ts_types == _INT_OR_NONE:
        timestamps = [now_ms if t is None else t for t in timestamps]
    elif ts_types != _INT_TYPE:
        return None
    if None in headers:
        headers = [h or () for h in headers]
    return timestamps, keys, values, headers


def _checked_columns(records: Sequence[Any], now_ms: int) -> RecordColumns:
    """Columns of arbitrary record-like input, converting or rejecting (:class:`SerdeError`) what is off."""
    timestamps: list[int] = []
    keys: list[bytes | None] = []
    values: list[bytes | None] = []
    headers_col: list[Any] = []
    for rec in records:
        if type(rec) is not ProducerRecord:
            rec = _as_record(rec)
        value, key, ts, headers, _ = rec
        if ts is None:
            ts = now_ms
        elif type(ts) is not int:
            ts = _as_timestamp(ts)
        if value is not None and type(value) is not bytes:
            value = _as_bytes(value, "value")
        if key is not None and type(key) is not bytes:
            key = _as_bytes(key, "key")
        timestamps.append(ts)
        keys.append(key)
        values.append(value)
        headers_col.append(headers or ())
    return timestamps, keys, values, headers_col


def _sizes(column: Sequence[bytes | None]) -> list[int]:
    if None in column:
        return [0 if x is None else len(x) for x in column]
    return list(map(len, column))  # type: ignore[arg-type]


ReadColumns = tuple[list[int], list[int], list[bytes | None] | None, list[bytes | None], list[Any] | None]
"""Records read as columns: ``(offsets, timestamps, keys or None, values, headers or None)`` (``None``: every
key is null / no record has headers); see ``EmbeddedLog.read_columns``."""

Columns = tuple[Sequence[int], Sequence[int], Any, Any, Any, int]
"""A decoded batch: ``(offsets, timestamps, keys or None, values, headers or None, record count)``."""


def decode_columns(blob: bytes, base_offset: int) -> Columns:
    """Decode a stored batch blob into its columns (dense offsets become a ``range``)."""
    offsets, timestamps, keys, values, headers = _unpackb(blob, use_list=False, raw=False)
    n = len(timestamps)
    if offsets is None:
        offsets = range(base_offset, base_offset + n)
    return offsets, timestamps, keys, values, headers, n


_columns = decode_columns


def build_records(topic: str, partition: int, columns: Columns, from_offset: int, limit: int) -> list[Record]:
    """Up to ``limit`` records of a decoded batch with offsets ``>= from_offset``, as ``Record`` objects.

    Call it inside :func:`gc_paused` when building many batches in a row.
    """
    offsets, timestamps, keys, values, headers, n = columns
    i = 0 if from_offset <= offsets[0] else bisect_left(offsets, from_offset)
    j = min(n, i + limit)
    if i or j < n:
        offsets, timestamps, values = offsets[i:j], timestamps[i:j], values[i:j]
        keys = repeat(None) if keys is None else keys[i:j]
        headers = repeat(()) if headers is None else headers[i:j]
    else:
        keys = repeat(None) if keys is None else keys
        headers = repeat(()) if headers is None else headers
    rows = zip(repeat(topic), repeat(partition), offsets, timestamps, keys, values, headers)
    return list(map(_new, repeat(Record), rows))


def decode_rows(blob: bytes, base_offset: int) -> list[StoredRecord]:
    """The stored records ``(offset, timestamp, key, value, headers)`` of one batch blob."""
    offsets, timestamps, keys, values, headers, n = _columns(blob, base_offset)
    return list(
        zip(
            offsets,
            timestamps,
            repeat(None, n) if keys is None else keys,
            values,
            repeat((), n) if headers is None else headers,
            strict=True,
        )
    )


def encode_stored(rows: Sequence[StoredRecord]) -> StoredBatch:
    """Re-encode stored records (after compaction or a retention cut) as one batch row, offsets kept."""
    offsets = [r[0] for r in rows]
    timestamps = [r[1] for r in rows]
    keys = [r[2] for r in rows]
    values = [r[3] for r in rows]
    headers = [r[4] for r in rows]
    dense = offsets[-1] - offsets[0] + 1 == len(offsets)
    blob = _pack(
        [
            None if dense else offsets,
            timestamps,
            keys if any(k is not None for k in keys) else None,
            values,
            headers if any(headers) else None,
        ]
    )
    nbytes = sum(record_size(r) for r in rows)
    return (offsets[0], offsets[-1], max(timestamps), len(rows), nbytes, blob)


def record_size(stored: StoredRecord) -> int:
    """Bytes of key + value of one stored record (what ``max_bytes`` and ``retention.bytes`` count)."""
    key, value = stored[2], stored[3]
    return (len(key) if key is not None else 0) + (len(value) if value is not None else 0)


def first_at_or_after_timestamp(blob: bytes, base_offset: int, timestamp: int) -> int | None:
    """The offset of the first record of a stored batch whose timestamp is ``>= timestamp``."""
    offsets, timestamps, _, _, _, _ = _columns(blob, base_offset)
    for off, ts in zip(offsets, timestamps, strict=True):
        if ts >= timestamp:
            return int(off)
    return None


__all__ = [
    "CHUNK_BYTES",
    "CHUNK_RECORDS",
    "Columns",
    "StoredBatch",
    "StoredRecord",
    "build_records",
    "decode_columns",
    "decode_rows",
    "encode_batches",
    "encode_stored",
    "first_at_or_after_timestamp",
    "gc_paused",
    "record_size",
]
