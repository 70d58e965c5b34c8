"""``memory://``: an in-process log for tests. Same contract as the embedded log, nothing on disk.

``memory://NAME`` logs with the same name share one store within the process (so a job and a test can
meet on ``memory://t1``); a bare ``memory://`` gets a private store each time.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.errors import FencedError, OffsetOutOfRangeError, TopicExistsError, UnknownPartitionError, UnknownTopicError
from ..core.record import ProducerRecord, Record, TopicPartition
from .base import (
    TOPIC_CONFIG_DEFAULTS,
    Log,
    TopicDescription,
    Transaction,
    check_offset_arg,
    check_partition_increase,
    validate_topic_config,
    validate_topic_name,
)
from .retention import apply_retention

_new = tuple.__new__


class _Partition:
    __slots__ = ("next_offset", "offsets", "records", "start")

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.offsets: list[int] = []  # parallel to records, for bisect after compaction
        self.next_offset = 0
        self.start = 0


class _Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.topics: dict[str, tuple[TopicDescription, list[_Partition]]] = {}
        self.groups: dict[str, dict[TopicPartition, int]] = {}
        self.state: dict[str, bytes] = {}


_named: dict[str, _Store] = {}
_named_lock = threading.Lock()


class MemoryLog(Log):
    """An in-memory :class:`Log` (see the module docstring)."""

    def __init__(self, name: str = "", *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.url = f"memory://{name}"
        self.clock = clock
        if name:
            with _named_lock:
                self._s = _named.setdefault(name, _Store())
        else:
            self._s = _Store()

    # -- topics -------------------------------------------------------------------------------------
    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        config: Mapping[str, Any] | None = None,
        *,
        replication_factor: int = 1,
        exist_ok: bool = False,
    ) -> TopicDescription:
        validate_topic_name(name)
        if not isinstance(partitions, int) or partitions < 1:
            from ..core.errors import ConfigError

            raise ConfigError(f"a topic needs at least 1 partition, got {partitions!r}")
        cfg = {**TOPIC_CONFIG_DEFAULTS, **validate_topic_config(config)}
        with self._s.lock:
            if name in self._s.topics:
                if exist_ok:
                    return self._s.topics[name][0]
                raise TopicExistsError(name)
            desc = TopicDescription(name, partitions, cfg, replication_factor)
            self._s.topics[name] = (desc, [_Partition() for _ in range(partitions)])
            return desc

    def create_partitions(self, name: str, total: int) -> TopicDescription:
        """Grow topic ``name`` to ``total`` partitions (see :meth:`Log.create_partitions`)."""
        with self._s.lock:
            if name not in self._s.topics:
                raise UnknownTopicError(name)
            desc, parts = self._s.topics[name]
            check_partition_increase(name, desc.partitions, total)
            desc = TopicDescription(name, total, desc.config, desc.replication_factor)
            self._s.topics[name] = (desc, parts + [_Partition() for _ in range(total - len(parts))])
            return desc

    def delete_topic(self, name: str) -> None:
        with self._s.lock:
            if name not in self._s.topics:
                raise UnknownTopicError(name)
            del self._s.topics[name]
            for offsets in self._s.groups.values():
                for tp in [tp for tp in offsets if tp.topic == name]:
                    del offsets[tp]
            self._s.changed.notify_all()

    def list_topics(self) -> list[str]:
        with self._s.lock:
            return sorted(self._s.topics)

    def describe_topic(self, name: str) -> TopicDescription:
        with self._s.lock:
            try:
                return self._s.topics[name][0]
            except KeyError:
                raise UnknownTopicError(name) from None

    def _partition(self, topic: str, partition: int) -> _Partition:
        try:
            desc, parts = self._s.topics[topic]
        except KeyError:
            raise UnknownTopicError(topic) from None
        if not isinstance(partition, int) or not 0 <= partition < desc.partitions:
            raise UnknownPartitionError(topic, partition, desc.partitions)
        return parts[partition]

    # -- writes -------------------------------------------------------------------------------------
    def append(self, topic: str, partition: int, records: Sequence[ProducerRecord]) -> int:
        with self._s.lock:
            base = self._append_locked(topic, partition, records)
            self._s.changed.notify_all()
            return base

    def _append_locked(self, topic: str, partition: int, records: Sequence[ProducerRecord]) -> int:
        p = self._partition(topic, partition)
        now = self.clock.now_ms()
        base = p.next_offset
        off = base
        for rec in records:
            value, key, ts, headers = (
                rec[0],
                rec[1] if len(rec) > 1 else None,
                rec[2] if len(rec) > 2 else None,
                (rec[3] if len(rec) > 3 else ()),
            )
            p.records.append(
                _new(
                    Record,
                    (topic, partition, off, now if ts is None else int(ts), key, value, tuple(headers or ())),
                )
            )
            p.offsets.append(off)
            off += 1
        p.next_offset = off
        return base

    # -- reads --------------------------------------------------------------------------------------
    def read(
        self,
        topic: str,
        partition: int,
        offset: int,
        *,
        max_records: int = 10_000,
        max_bytes: int | None = None,
        timeout_ms: int = 0,
    ) -> list[Record]:
        check_offset_arg(offset)
        deadline = time.monotonic() + max(0, timeout_ms) / 1000.0
        with self._s.lock:
            while True:
                p = self._partition(topic, partition)
                if offset < p.start or offset > p.next_offset:
                    raise OffsetOutOfRangeError(topic, partition, offset, p.start, p.next_offset)
                if offset < p.next_offset:
                    i = bisect.bisect_left(p.offsets, offset)
                    out = p.records[i : i + max(1, max_records)]
                    if max_bytes is not None:
                        size, n = 0, 0
                        for r in out:
                            size += len(r.value or b"") + len(r.key or b"")
                            n += 1
                            if size >= max_bytes:
                                break
                        out = out[:n]
                    if out:
                        return out
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._s.changed.wait(remaining)

    def wait_for_records(self, positions: Mapping[TopicPartition, int], timeout_ms: float) -> bool:
        """Block up to ``timeout_ms`` until a read at one of ``positions`` (partition → offset) has records (or
        an error) to return; ``False`` at the timeout. Woken by every append (optional hook: a job's idle
        source waits here instead of sleeping)."""
        if not positions:
            return False
        deadline = time.monotonic() + max(0.0, timeout_ms) / 1000.0
        with self._s.lock:
            while True:
                for tp, offset in positions.items():
                    p = self._partition(tp.topic, tp.partition)
                    if offset < p.start or offset != p.next_offset:
                        return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._s.changed.wait(remaining)

    def earliest_offset(self, topic: str, partition: int) -> int:
        with self._s.lock:
            return self._partition(topic, partition).start

    def latest_offset(self, topic: str, partition: int) -> int:
        with self._s.lock:
            return self._partition(topic, partition).next_offset

    def offset_for_timestamp(self, topic: str, partition: int, timestamp: int) -> int | None:
        with self._s.lock:
            for r in self._partition(topic, partition).records:
                if r.timestamp >= timestamp:
                    return r.offset
            return None

    # -- groups -------------------------------------------------------------------------------------
    def commit_offsets(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        with self._s.lock:
            self._commit_locked(group, offsets)

    def _commit_locked(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        for tp, off in offsets.items():
            check_offset_arg(off)
            self._partition(tp[0], tp[1])
        self._s.groups.setdefault(group, {}).update({TopicPartition(*tp): off for tp, off in offsets.items()})

    def committed_offsets(
        self, group: str, partitions: Iterable[TopicPartition] | None = None
    ) -> dict[TopicPartition, int]:
        with self._s.lock:
            offsets = self._s.groups.get(group, {})
            if partitions is None:
                return dict(offsets)
            return {TopicPartition(*tp): offsets[tp] for tp in partitions if tp in offsets}

    def list_groups(self) -> list[str]:
        with self._s.lock:
            return sorted(g for g, o in self._s.groups.items() if o)

    def delete_group(self, group: str) -> None:
        with self._s.lock:
            self._s.groups.pop(group, None)

    # -- transactions -------------------------------------------------------------------------------
    def transaction(self, transactional_id: str | None = None) -> Transaction:
        return _MemoryTransaction(self)

    def get_state(self, key: str) -> bytes | None:
        with self._s.lock:
            return self._s.state.get(key)

    # -- retention ----------------------------------------------------------------------------------
    def enforce_retention(self, now_ms: int | None = None) -> int:
        now = self.clock.now_ms() if now_ms is None else now_ms
        removed = 0
        with self._s.lock:
            for desc, parts in self._s.topics.values():
                for p in parts:
                    kept, start = apply_retention(p.records, p.start, p.next_offset, desc.config, now)
                    removed += len(p.records) - len(kept)
                    p.records = kept
                    p.offsets = [r.offset for r in kept]
                    p.start = start
        return removed


class _MemoryTransaction(Transaction):
    def __init__(self, log: MemoryLog) -> None:
        super().__init__()
        self._log = log
        self._appends: list[tuple[str, int, list[ProducerRecord]]] = []
        self._offsets: list[tuple[str, dict[TopicPartition, int]]] = []
        self._state: dict[str, bytes | None] = {}
        self._required: dict[str, bytes | None] = {}

    def require_state(self, key: str, expected: bytes | None) -> None:
        self._check_open()
        self._required[key] = None if expected is None else bytes(expected)

    def append(self, topic: str, partition: int, records: Sequence[ProducerRecord]) -> None:
        self._check_open()
        self._log._partition(topic, partition)  # validate early
        self._appends.append((topic, partition, list(records)))

    def commit_offsets(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        self._check_open()
        self._offsets.append((group, dict(offsets)))

    def put_state(self, key: str, value: bytes | None) -> None:
        self._check_open()
        self._state[key] = value

    def _commit(self) -> list[int]:
        s = self._log._s
        with s.lock:
            # validate everything first so that a failure leaves nothing behind
            for key, expected in self._required.items():
                if s.state.get(key) != expected:
                    raise FencedError(
                        f"transaction fenced: state {key!r} changed (another writer took over), nothing of it "
                        "was written",
                        hint="the writer was replaced; stop it (a newer instance owns this work now)",
                    )
            for topic, partition, _ in self._appends:
                self._log._partition(topic, partition)
            for _, offsets in self._offsets:
                for tp, off in offsets.items():
                    check_offset_arg(off)
                    self._log._partition(tp[0], tp[1])
            bases = [self._log._append_locked(t, p, recs) for t, p, recs in self._appends]
            for group, offsets in self._offsets:
                self._log._commit_locked(group, offsets)
            for key, value in self._state.items():
                if value is None:
                    s.state.pop(key, None)
                else:
                    s.state[key] = bytes(value)
            s.changed.notify_all()
            return bases

    def _abort(self) -> None:
        self._appends.clear()
        self._offsets.clear()
        self._state.clear()
        self._required.clear()


__all__ = ["MemoryLog"]
