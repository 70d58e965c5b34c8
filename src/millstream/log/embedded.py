"""``file://PATH``: the embedded log, the default backend. One SQLite database in WAL mode under ``PATH``.

Layout and format: :mod:`millstream.log.sqlite_store` (schema, format version, corruption checks) and
:mod:`millstream.log.batch_codec` (one columnar msgpack blob per stored batch). Each ``append`` stores its
records as one row of ``batches`` (large appends as a few chunks), so writing and reading cost one SQLite
row per batch rather than per record; ``Record`` objects are built by C code alone, with the cyclic GC
paused for the length of one read (see :func:`~millstream.log.batch_codec.gc_paused`), and a read that
stops inside a stored batch leaves it decoded in a small per-thread cache
(:mod:`millstream.log.batch_cache`) for the next read. ``benchmarks/log_bench.py`` compares appends and
reads with raw SQLite.

Guarantees
    * **Atomic, gap-free appends.** Offsets are taken from the partition's ``next_offset`` row inside
      ``BEGIN IMMEDIATE``, and the batch rows and the new ``next_offset`` commit in one SQLite transaction.
      A reader sees a batch entirely or not at all; a ``kill -9`` at any moment leaves no partial batch and
      no gap.
    * **Durability.** With ``synchronous="normal"`` (the default) a commit is in the WAL in the OS page
      cache when ``append`` returns: it survives the death of the process (``kill -9``, a crash) but not a
      power loss or kernel crash, which may lose the last commits (never corrupt the log). With
      ``synchronous="full"`` every commit is fsynced before ``append`` returns: it survives power loss too,
      at the cost of one fsync per append/transaction.
    * **Several processes.** Any number of processes and threads may open the same ``PATH``; writers
      serialise on SQLite's write lock (waiting up to ``busy_timeout_ms``), readers never block writers.
      Topic ids are never reused, so a writer racing a topic deletion in another process gets a clean
      :class:`UnknownTopicError` and nothing else is touched.
    * **Transactions.** :meth:`EmbeddedLog.transaction` buffers appends to any partitions, group offset
      commits and state blobs, and commits them in one SQLite transaction: all-or-nothing, invisible to
      readers until committed, and after a crash either all there or not at all.
    * **Blocking reads.** ``read(..., timeout_ms=N)`` waits on a condition that appends from this process
      signal, and checks ``PRAGMA data_version`` every ``poll_interval_ms`` for commits by other processes;
      ``wait_for_records`` (a job's idle source) waits the same way without reading.

Threads: one ``EmbeddedLog`` may be shared by threads; each thread gets its own SQLite connection.
Retention and compaction run when :meth:`EmbeddedLog.enforce_retention` is called, and by a background
thread every ``retention_check_interval_ms`` (Kafka's ``log.retention.check.interval.ms``, 5 minutes)
once the log object has written something.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.errors import (
    ConfigError,
    FencedError,
    LogError,
    MillstreamError,
    OffsetOutOfRangeError,
    TopicExistsError,
    TransactionError,
    UnknownPartitionError,
    UnknownTopicError,
)
from ..core.record import ProducerRecord, Record, TopicPartition
from .base import (
    TOPIC_CONFIG_DEFAULTS,
    GroupDescription,
    Log,
    PartitionOffsets,
    TopicDescription,
    Transaction,
    check_offset_arg,
    check_partition_increase,
    validate_topic_config,
    validate_topic_name,
)
from .batch_cache import BatchCache
from .batch_codec import (
    CHUNK_BYTES,
    CHUNK_RECORDS,
    ReadColumns,
    build_records,
    decode_columns,
    encode_batches,
    encode_value_batches,
    first_at_or_after_timestamp,
    gc_paused,
)
from .embedded_groups import MemberState, check_commit, describe_members, leave_group, sync_member
from .embedded_retention import enforce_partition
from .sqlite_store import connect, open_database, release_database, translate_error

_new = tuple.__new__
_logger = logging.getLogger("millstream.log")

_INSERT_BATCH = (
    "INSERT INTO batches(topic_id, partition, base_offset, last_offset, max_timestamp, record_count, "
    "byte_size, records) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT_PARTITION = "SELECT start_offset, next_offset FROM partitions WHERE topic_id=? AND partition=?"
_SELECT_BLOB = "SELECT records FROM batches WHERE batch_id=?"
_SELECT_BATCHES = (
    "SELECT base_offset, last_offset, record_count, byte_size, batch_id FROM batches "
    "WHERE topic_id=?1 AND partition=?2 AND base_offset >= coalesce("
    "(SELECT base_offset FROM batches WHERE topic_id=?1 AND partition=?2 AND base_offset <= ?3 "
    "ORDER BY base_offset DESC LIMIT 1), ?3) "
    "ORDER BY base_offset"
)
_DELETED_HINT = "it was deleted (perhaps by another process); create it again before writing to it"


class _Waker:
    """Wakes blocked readers of one database file in this process when a write commits."""

    __slots__ = ("cond", "seq")

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.seq = 0

    def notify(self) -> None:
        with self.cond:
            self.seq += 1
            self.cond.notify_all()


_inherited: list[sqlite3.Connection] = []  # connections a forked child got from its parent; never touched
_wakers: dict[str, _Waker] = {}
_wakers_lock = threading.Lock()


def _waker_for(db_file: Path) -> _Waker:
    key = str(db_file.resolve())
    with _wakers_lock:
        waker = _wakers.get(key)
        if waker is None:
            waker = _wakers[key] = _Waker()
        return waker


def _reset_after_fork() -> None:  # locks may have been held by threads that do not exist in the child
    global _wakers_lock
    _wakers_lock = threading.Lock()
    _wakers.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


class EmbeddedLog(Log):
    """The embedded ``file://PATH`` log (see the module docstring for its guarantees).

    ``path`` is a directory (created with its parents if missing) holding ``log.db``; a ``?key=value``
    query on it sets the options named in :data:`URL_OPTIONS` (so ``MILLSTREAM_LOG`` can carry them).
    Options:
    ``synchronous`` ``"normal"`` (survives process crashes) or ``"full"`` (survives power loss),
    ``busy_timeout_ms`` how long a write waits for another process's write lock, ``poll_interval_ms`` how
    often a blocking read checks for commits by other processes, ``retention_check_interval_ms`` how often
    a background thread applies retention and compaction (``0`` or ``None``: only when
    :meth:`enforce_retention` is called), ``chunk_records`` / ``chunk_bytes`` the size of stored batches.
    Opening a path that holds something other than a millstream log raises :class:`CorruptLogError`
    naming it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock = SYSTEM_CLOCK,
        synchronous: str = "normal",
        busy_timeout_ms: int = 30_000,
        poll_interval_ms: int = 5,
        retention_check_interval_ms: int | None = 300_000,
        chunk_records: int = CHUNK_RECORDS,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        if isinstance(path, str) and "?" in path:  # file://PATH?synchronous=full&busy_timeout_ms=5000
            path, query = path.split("?", 1)
            options = _url_options(query)
            synchronous = str(options.pop("synchronous", synchronous))
            busy_timeout_ms = int(options.pop("busy_timeout_ms", busy_timeout_ms))
            poll_interval_ms = int(options.pop("poll_interval_ms", poll_interval_ms))
            retention_check_interval_ms = int(
                options.pop("retention_check_interval_ms", retention_check_interval_ms or 0)
            )
        if not isinstance(busy_timeout_ms, int) or busy_timeout_ms < 0:
            raise ConfigError(f"busy_timeout_ms={busy_timeout_ms!r} must be a non-negative integer")
        if not isinstance(poll_interval_ms, int | float) or poll_interval_ms <= 0:
            raise ConfigError(f"poll_interval_ms={poll_interval_ms!r} must be a positive number")
        if chunk_records < 1 or chunk_bytes < 1:
            raise ConfigError("chunk_records and chunk_bytes must be positive")
        self.path = Path(path)
        self.url = f"file://{path}"
        self.clock = clock
        self.synchronous = str(synchronous).lower()
        self.busy_timeout_ms = busy_timeout_ms
        self._poll_s = poll_interval_ms / 1000.0
        self._chunk_records = chunk_records
        self._chunk_bytes = chunk_bytes
        self._db, self._file_key = open_database(
            self.path, synchronous=self.synchronous, busy_timeout_ms=busy_timeout_ms
        )
        self._waker = _waker_for(self._db)
        self._local = threading.local()
        self._conns: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._conns_lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self._topics: dict[str, tuple[int, int]] = {}  # name -> (topic_id, partitions); ids are never reused
        self._retention_interval_s = (retention_check_interval_ms or 0) / 1000.0
        self._retention_thread: threading.Thread | None = None
        self._retention_stop = threading.Event()
        self.last_retention_error: BaseException | None = None

    # -- connections and transactions ---------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._pid == os.getpid():
            return conn
        return self._new_conn()

    def _new_conn(self) -> sqlite3.Connection:
        if self._closed:
            raise LogError(f"the log at {self.path} is closed", hint="open it again with open_log(...)")
        if self._pid != os.getpid():  # forked: the parent's connections must not be used (nor closed) here
            _inherited.extend(c for _, c in self._conns)  # kept, so that garbage collection never closes them
            self._pid = os.getpid()
            self._local = threading.local()
            self._conns = []
            self._conns_lock = threading.Lock()
            self._retention_thread = None
            self._retention_stop = threading.Event()
            self._waker = _waker_for(self._db)
        try:
            conn = connect(self._db, synchronous=self.synchronous, busy_timeout_ms=self.busy_timeout_ms)
        except sqlite3.Error as exc:
            raise translate_error(exc, self._db, "connecting") from exc
        with self._conns_lock:
            alive = []
            for ref, c in self._conns:
                thread = ref()
                if thread is None or not thread.is_alive():
                    c.close()
                else:
                    alive.append((ref, c))
            alive.append((weakref.ref(threading.current_thread()), conn))
            self._conns = alive
        self._local.conn = conn
        self._local.cache = BatchCache()
        return conn

    @contextmanager
    def _write(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): commits on success, rolls back on any exception."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise translate_error(exc, self._db, doing) from exc
        self._waker.notify()

    @contextmanager
    def _snapshot(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the same committed state."""
        conn = self._conn()
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise translate_error(exc, self._db, doing) from exc

    def close(self) -> None:
        """Close every connection of this log object. Idempotent; other processes are not affected."""
        if self._closed:
            return
        self._closed = True
        self._retention_stop.set()
        thread = self._retention_thread
        if thread is not None and thread is not threading.current_thread() and self._pid == os.getpid():
            thread.join(timeout=10)
        with self._conns_lock:
            conns, self._conns = self._conns, []
        if self._pid == os.getpid():
            for _, conn in conns:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            release_database(self._file_key)
        self._local = threading.local()

    # -- topic resolution ---------------------------------------------------------------------------
    def _resolve(self, conn: sqlite3.Connection, topic: str, partition: int | None = None) -> int:
        """The topic id of ``topic`` (checking ``partition`` against its partition count)."""
        hit = self._topics.get(topic)
        if hit is None or (partition is not None and not (type(partition) is int and 0 <= partition < hit[1])):
            row = conn.execute("SELECT topic_id, partitions FROM topics WHERE name=?", (topic,)).fetchone()
            if row is None:
                self._topics.pop(topic, None)
                raise UnknownTopicError(topic)
            hit = self._topics[topic] = (row[0], row[1])
            if partition is not None and not (type(partition) is int and 0 <= partition < hit[1]):
                raise UnknownPartitionError(topic, partition, hit[1])
        return hit[0]

    def _partition_row(self, conn: sqlite3.Connection, topic: str, partition: int) -> tuple[int, int, int]:
        """``(topic_id, log start, log end)``, re-resolving once if the cached topic id went away."""
        tid = self._resolve(conn, topic, partition)
        row = conn.execute(_SELECT_PARTITION, (tid, partition)).fetchone()
        if row is None:  # deleted (and maybe re-created) by another process or thread
            self._topics.pop(topic, None)
            try:
                tid = self._resolve(conn, topic, partition)
            except UnknownTopicError:
                raise UnknownTopicError(topic, hint=_DELETED_HINT) from None
            row = conn.execute(_SELECT_PARTITION, (tid, partition)).fetchone()
            if row is None:
                raise UnknownTopicError(topic, hint=_DELETED_HINT)
        return tid, row[0], row[1]

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
        if type(partitions) is not int or partitions < 1:
            raise ConfigError(f"a topic needs at least 1 partition, got {partitions!r}")
        if type(replication_factor) is not int or replication_factor < 1:
            raise ConfigError(f"replication_factor must be >= 1, got {replication_factor!r}")
        cfg = {**TOPIC_CONFIG_DEFAULTS, **validate_topic_config(config)}
        with self._write(f"creating topic {name!r}") as conn:
            row = conn.execute(
                "SELECT partitions, config, replication_factor FROM topics WHERE name=?", (name,)
            ).fetchone()
            if row is not None:
                if exist_ok:
                    return TopicDescription(name, row[0], orjson.loads(row[1]), row[2])
                raise TopicExistsError(name)
            cur = conn.execute(
                "INSERT INTO topics(name, partitions, config, replication_factor) VALUES (?, ?, ?, ?)",
                (name, partitions, orjson.dumps(cfg).decode(), replication_factor),
            )
            tid = cur.lastrowid
            conn.executemany(
                "INSERT INTO partitions(topic_id, partition, start_offset, next_offset) VALUES (?, ?, 0, 0)",
                [(tid, p) for p in range(partitions)],
            )
        return TopicDescription(name, partitions, cfg, replication_factor)

    def create_partitions(self, name: str, total: int) -> TopicDescription:
        """Grow topic ``name`` to ``total`` partitions, in one write transaction (see :meth:`Log.create_partitions`).
        Other processes see the new partitions at their next lookup."""
        with self._write(f"adding partitions to topic {name!r}") as conn:
            row = conn.execute(
                "SELECT topic_id, partitions, config, replication_factor FROM topics WHERE name=?", (name,)
            ).fetchone()
            if row is None:
                raise UnknownTopicError(name)
            tid, current, config, replication = row
            check_partition_increase(name, current, total)
            conn.execute("UPDATE topics SET partitions=? WHERE topic_id=?", (total, tid))
            conn.executemany(
                "INSERT INTO partitions(topic_id, partition, start_offset, next_offset) VALUES (?, ?, 0, 0)",
                [(tid, p) for p in range(current, total)],
            )
        self._topics.pop(name, None)
        return TopicDescription(name, total, orjson.loads(config), replication)

    def delete_topic(self, name: str) -> None:
        with self._write(f"deleting topic {name!r}") as conn:
            row = conn.execute("SELECT topic_id FROM topics WHERE name=?", (name,)).fetchone()
            if row is None:
                raise UnknownTopicError(name)
            tid = row[0]
            conn.execute("DELETE FROM batches WHERE topic_id=?", (tid,))
            conn.execute("DELETE FROM partitions WHERE topic_id=?", (tid,))
            conn.execute("DELETE FROM group_offsets WHERE topic_id=?", (tid,))
            conn.execute("DELETE FROM topics WHERE topic_id=?", (tid,))
        self._topics.pop(name, None)

    def list_topics(self) -> list[str]:
        with self._snapshot("listing topics") as conn:
            return [r[0] for r in conn.execute("SELECT name FROM topics ORDER BY name")]

    def describe_topic(self, name: str) -> TopicDescription:
        with self._snapshot(f"describing topic {name!r}") as conn:
            row = conn.execute(
                "SELECT partitions, config, replication_factor FROM topics WHERE name=?", (name,)
            ).fetchone()
        if row is None:
            raise UnknownTopicError(name)
        return TopicDescription(name, row[0], orjson.loads(row[1]), row[2])

    def has_topic(self, name: str) -> bool:
        with self._snapshot(f"looking up topic {name!r}") as conn:
            return conn.execute("SELECT 1 FROM topics WHERE name=?", (name,)).fetchone() is not None

    # -- writes -------------------------------------------------------------------------------------
    def append(self, topic: str, partition: int, records: Sequence[ProducerRecord]) -> int:
        """Append a batch atomically; once this returns it survives a process crash (see ``synchronous``)."""
        if not isinstance(records, Sequence):
            records = list(records)
        if self._retention_thread is None and self._retention_interval_s:
            self._start_retention_thread()
        now = self.clock.now_ms()
        with self._write(f"appending to {topic}[{partition}]") as conn:
            return self._append_in(conn, topic, partition, records, now)

    def append_values(self, topic: str, partition: int, values: Sequence[Any], timestamps: Sequence[Any]) -> int:
        """:meth:`append` of ``ProducerRecord(value, None, timestamp)`` for each pair of the two equal-length
        columns, without building those records (optional hook, used by Connect's source tasks)."""
        if self._retention_thread is None and self._retention_interval_s:
            self._start_retention_thread()
        now = self.clock.now_ms()
        with self._write(f"appending to {topic}[{partition}]") as conn:
            return self._append_in(conn, topic, partition, values, now, timestamps)

    def _append_in(
        self,
        conn: sqlite3.Connection,
        topic: str,
        partition: int,
        records: Sequence[Any],
        now: int,
        timestamps: Sequence[Any] | None = None,
    ) -> int:
        """Append ``records``; with ``timestamps``, ``records`` are the values of keyless records."""
        tid, _, base = self._partition_row(conn, topic, partition)
        if not records:
            return base
        if timestamps is not None:
            batches, end = encode_value_batches(
                records, timestamps, base, now, chunk_records=self._chunk_records, chunk_bytes=self._chunk_bytes
            )
        else:
            batches, end = encode_batches(
                records, base, now, chunk_records=self._chunk_records, chunk_bytes=self._chunk_bytes
            )
        if len(batches) == 1:
            conn.execute(_INSERT_BATCH, (tid, partition, *batches[0]))
        else:
            conn.executemany(_INSERT_BATCH, [(tid, partition, *b) for b in batches])
        conn.execute("UPDATE partitions SET next_offset=? WHERE topic_id=? AND partition=?", (end, tid, partition))
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
        return self._read(topic, partition, offset, max_records, max_bytes, timeout_ms, False)  # type: ignore[return-value]

    def read_columns(
        self, topic: str, partition: int, offset: int, *, max_records: int = 10_000, timeout_ms: int = 0
    ) -> ReadColumns | None:
        """:meth:`read` (same waiting, same errors) returning the records as columns, without building
        :class:`Record` objects: ``(offsets, timestamps, keys, values, headers)``, each a list; ``keys`` is
        ``None`` when every key is null and ``headers`` when no record has headers. ``None`` when there
        are no records. Optional hook (used by Connect's sink tasks through ``LogConsumer.poll_columns``)."""
        return self._read(topic, partition, offset, max_records, None, timeout_ms, True)  # type: ignore[return-value]

    def _read(
        self,
        topic: str,
        partition: int,
        offset: int,
        max_records: int,
        max_bytes: int | None,
        timeout_ms: int,
        columnar: bool,
    ) -> list[Record] | ReadColumns | None:
        check_offset_arg(offset)
        limit = max(1, max_records)
        deadline: float | None = None
        seq = version = 0
        empty: list[Record] | None = None if columnar else []
        while True:
            conn = self._conn()
            if timeout_ms > 0:  # taken before the snapshot, so no commit after it goes unnoticed
                seq = self._waker.seq
                version = self._data_version(conn)
            with self._snapshot(f"reading {topic}[{partition}]") as conn:
                tid, start, end = self._partition_row(conn, topic, partition)
                if offset < start or offset > end:
                    raise OffsetOutOfRangeError(topic, partition, offset, start, end)
                if offset >= end:
                    out: Any = empty
                elif columnar:
                    out = self._read_columns_in(conn, tid, partition, offset, limit)
                else:
                    out = self._read_in(conn, tid, topic, partition, offset, limit, max_bytes)
            if out or timeout_ms <= 0:
                return out
            if deadline is None:
                deadline = time.monotonic() + timeout_ms / 1000.0
            if not self._wait(conn, seq, version, deadline):
                return empty

    def _read_in(
        self,
        conn: sqlite3.Connection,
        tid: int,
        topic: str,
        partition: int,
        offset: int,
        limit: int,
        max_bytes: int | None,
    ) -> list[Record]:
        out: list[Record] = []
        size = 0
        cache: BatchCache = self._local.cache
        cur = conn.execute(_SELECT_BATCHES, (tid, partition, offset))
        try:
            with gc_paused():
                for base, last, count, nbytes, batch_id in cur:
                    if last < offset:
                        continue
                    key = (tid, partition, base, last, count)
                    columns = cache.get(key)
                    if columns is None:
                        (blob,) = conn.execute(_SELECT_BLOB, (batch_id,)).fetchone()
                        columns = decode_columns(blob, base)
                    room = limit - len(out)
                    batch = build_records(topic, partition, columns, offset, room)
                    done = len(batch) >= room
                    if max_bytes is not None:
                        if len(batch) == count and size + nbytes < max_bytes:
                            size += nbytes
                        else:
                            for j, rec in enumerate(batch):
                                k, v = rec[4], rec[5]
                                size += (len(k) if k is not None else 0) + (len(v) if v else 0)
                                if size >= max_bytes:
                                    del batch[j + 1 :]
                                    done = True
                                    break
                    out += batch
                    if done:
                        if batch and batch[-1].offset < last:  # stopped inside: the next read starts here
                            cache.put(key, columns)
                        break
        finally:
            cur.close()
        return out

    def _read_columns_in(
        self, conn: sqlite3.Connection, tid: int, partition: int, offset: int, limit: int
    ) -> ReadColumns | None:
        """The columns of up to ``limit`` records from ``offset`` on (``None`` if there are none)."""
        offsets: list[int] = []
        timestamps: list[int] = []
        values: list[Any] = []
        keys: list[Any] = []
        headers: list[Any] = []
        any_keys = any_headers = False
        cache: BatchCache = self._local.cache
        cur = conn.execute(_SELECT_BATCHES, (tid, partition, offset))
        try:
            for base, last, count, _nbytes, batch_id in cur:
                if last < offset:
                    continue
                key = (tid, partition, base, last, count)
                columns = cache.get(key)
                if columns is None:
                    (blob,) = conn.execute(_SELECT_BLOB, (batch_id,)).fetchone()
                    columns = decode_columns(blob, base)
                b_offsets, b_tss, b_keys, b_values, b_headers, n = columns
                i = 0 if offset <= b_offsets[0] else bisect_left(b_offsets, offset)
                j = min(n, i + limit - len(offsets))
                offsets += b_offsets[i:j]
                timestamps += b_tss[i:j]
                values += b_values[i:j]
                if b_keys is None:
                    keys += repeat(None, j - i)
                else:
                    keys += b_keys[i:j]
                    any_keys = True
                if b_headers is None:
                    headers += repeat((), j - i)
                else:
                    headers += b_headers[i:j]
                    any_headers = True
                if len(offsets) >= limit:
                    if j < n:  # stopped inside: the next read starts here
                        cache.put(key, columns)
                    break
        finally:
            cur.close()
        if not offsets:
            return None
        if any_keys and keys.count(None) == len(keys):
            any_keys = False  # the keys came from stored batches that have some, but none in the range read
        return (
            offsets,
            timestamps,
            keys if any_keys else None,
            values,
            headers if any_headers and any(headers) else None,
        )

    def wait_for_records(self, positions: Mapping[TopicPartition, int], timeout_ms: float) -> bool:
        """Block up to ``timeout_ms`` until a read at one of ``positions`` (partition → offset) has records (or
        an error) to return; ``False`` at the timeout. Optional hook: a job's idle source waits here instead
        of sleeping. Woken by commits of this process at once (the same condition as blocking reads), and by
        other processes' within ``poll_interval_ms``; a commit that adds nothing at the positions (another
        topic, an offset commit) waits on."""
        if not positions:
            return False
        deadline = time.monotonic() + max(0.0, timeout_ms) / 1000.0
        while True:
            conn = self._conn()
            seq = self._waker.seq  # taken before the snapshot, so no commit after it goes unnoticed
            version = self._data_version(conn)
            with self._snapshot("waiting for records") as conn:
                for tp, offset in positions.items():
                    _, start, end = self._partition_row(conn, tp.topic, tp.partition)
                    if offset < start or offset != end:  # records, or an offset a read would refuse
                        return True
            if not self._wait(conn, seq, version, deadline):
                return False

    def _data_version(self, conn: sqlite3.Connection) -> int:
        try:
            version: int = conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise translate_error(exc, self._db, "waiting for data") from exc
        return version

    def _wait(self, conn: sqlite3.Connection, seq: int, version: int, deadline: float) -> bool:
        """Wait until something may have been committed since ``seq``/``version``; False at the deadline."""
        waker = self._waker
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with waker.cond:
                if waker.seq == seq:
                    waker.cond.wait(min(remaining, self._poll_s))
            if waker.seq != seq or self._data_version(conn) != version:
                return True

    def earliest_offset(self, topic: str, partition: int) -> int:
        with self._snapshot(f"reading the offsets of {topic}[{partition}]") as conn:
            return self._partition_row(conn, topic, partition)[1]

    def latest_offset(self, topic: str, partition: int) -> int:
        with self._snapshot(f"reading the offsets of {topic}[{partition}]") as conn:
            return self._partition_row(conn, topic, partition)[2]

    def offset_for_timestamp(self, topic: str, partition: int, timestamp: int) -> int | None:
        with self._snapshot(f"looking up a timestamp in {topic}[{partition}]") as conn:
            tid = self._partition_row(conn, topic, partition)[0]
            row = conn.execute(
                "SELECT base_offset, records FROM batches "
                "WHERE topic_id=? AND partition=? AND max_timestamp >= ? ORDER BY base_offset LIMIT 1",
                (tid, partition, timestamp),
            ).fetchone()
        return None if row is None else first_at_or_after_timestamp(row[1], row[0], timestamp)

    # -- consumer groups ----------------------------------------------------------------------------
    def sync_group_member(
        self,
        group: str,
        member_id: str,
        topics: Sequence[str],
        session_timeout_ms: int,
        owned: Iterable[TopicPartition],
    ) -> MemberState:
        """Join or heartbeat as ``member_id`` of ``group`` (:mod:`millstream.log.embedded_groups`)."""
        _check_group(group)
        with self._write(f"syncing member {member_id} of group {group!r}") as conn:
            return sync_member(conn, group, member_id, topics, session_timeout_ms, owned, int(time.time() * 1000))

    def describe_group_members(self, group: str) -> list[tuple[str, list[TopicPartition]]]:
        """The group's live members as ``(member id, partitions it owns)`` (empty without members)."""
        with self._snapshot(f"describing the members of group {group!r}") as conn:
            return describe_members(conn, group, int(time.time() * 1000))

    def leave_group_member(self, group: str, member_id: str) -> None:
        """``member_id`` leaves ``group``; the other members rebalance at their next heartbeat."""
        with self._write(f"leaving group {group!r}") as conn:
            leave_group(conn, group, member_id)

    def commit_member_offsets(self, group: str, member_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit as ``member_id``: refused with ``CommitFailedError`` if it left the group or the partitions are
        not its own (fencing of zombie members)."""
        _check_group(group)
        with self._write(f"committing offsets of group {group!r}") as conn:
            check_commit(conn, group, member_id, offsets, int(time.time() * 1000))
            self._commit_in(conn, group, offsets)

    def commit_offsets(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        _check_group(group)
        with self._write(f"committing offsets of group {group!r}") as conn:
            self._commit_in(conn, group, offsets)

    def _commit_in(self, conn: sqlite3.Connection, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        rows = []
        for tp, off in offsets.items():
            check_offset_arg(off)
            tid = self._partition_row(conn, tp[0], tp[1])[0]
            rows.append((group, tid, tp[1], off))
        conn.executemany(
            "INSERT INTO group_offsets(group_id, topic_id, partition, committed_offset) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(group_id, topic_id, partition) "
            "DO UPDATE SET committed_offset=excluded.committed_offset",
            rows,
        )

    def committed_offsets(
        self, group: str, partitions: Iterable[TopicPartition] | None = None
    ) -> dict[TopicPartition, int]:
        with self._snapshot(f"reading offsets of group {group!r}") as conn:
            found = {
                TopicPartition(name, p): off
                for name, p, off in conn.execute(
                    "SELECT t.name, g.partition, g.committed_offset FROM group_offsets g "
                    "JOIN topics t ON t.topic_id = g.topic_id "
                    "WHERE g.group_id=? ORDER BY t.name, g.partition",
                    (group,),
                )
            }
        if partitions is None:
            return found
        return {TopicPartition(*tp): found[tp] for tp in partitions if tp in found}

    def list_groups(self) -> list[str]:
        with self._snapshot("listing groups") as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT group_id FROM group_offsets ORDER BY group_id")]

    def delete_group(self, group: str) -> None:
        with self._write(f"deleting group {group!r}") as conn:
            conn.execute("DELETE FROM group_offsets WHERE group_id=?", (group,))

    def describe_group(self, group: str) -> GroupDescription:
        """Committed offsets, log start/end and lag of every partition the group committed (one snapshot)."""
        with self._snapshot(f"describing group {group!r}") as conn:
            rows = conn.execute(
                "SELECT t.name, g.partition, g.committed_offset, p.start_offset, p.next_offset "
                "FROM group_offsets g JOIN topics t ON t.topic_id = g.topic_id "
                "JOIN partitions p ON p.topic_id = g.topic_id AND p.partition = g.partition "
                "WHERE g.group_id=? ORDER BY t.name, g.partition",
                (group,),
            ).fetchall()
        return GroupDescription(group, tuple(PartitionOffsets(*row) for row in rows))

    # -- transactions and state ---------------------------------------------------------------------
    def transaction(self, transactional_id: str | None = None) -> EmbeddedTransaction:
        """Begin an all-or-nothing transaction of appends, offset commits and state blobs."""
        return EmbeddedTransaction(self, transactional_id)

    def get_state(self, key: str) -> bytes | None:
        with self._snapshot(f"reading state {key!r}") as conn:
            row = conn.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    # -- maintenance --------------------------------------------------------------------------------
    def enforce_retention(self, now_ms: int | None = None) -> int:
        """Apply every topic's retention and compaction now (one write transaction per partition)."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        with self._snapshot("listing topics for retention") as conn:
            topics = conn.execute("SELECT topic_id, partitions, config FROM topics ORDER BY name").fetchall()
        removed = 0
        for tid, partitions, config_json in topics:
            config = orjson.loads(config_json)
            policy = set(config.get("cleanup.policy", "delete").split(","))
            if (
                policy == {"delete"}
                and int(config.get("retention.ms", -1)) < 0
                and int(config.get("retention.bytes", -1)) < 0
            ):
                continue
            for p in range(partitions):
                with self._write("enforcing retention") as conn:
                    removed += enforce_partition(conn, tid, p, config, now)
        return removed

    def _start_retention_thread(self) -> None:
        if self._closed:
            return
        thread = threading.Thread(
            target=_retention_loop,
            args=(weakref.ref(self), self._retention_stop, self._retention_interval_s),
            name=f"millstream-retention:{self.path}",
            daemon=True,
        )
        self._retention_thread = thread
        thread.start()

    def __repr__(self) -> str:
        return f"EmbeddedLog({str(self.path)!r})"


def _retention_loop(ref: weakref.ref[EmbeddedLog], stop: threading.Event, interval_s: float) -> None:
    """Apply retention every interval until the log is closed or collected; errors are logged and kept.

    The thread holds the log only weakly between runs, so a log that is dropped without ``close()`` is
    still garbage-collected (and its thread ends).
    """
    while not stop.wait(interval_s):
        log = ref()
        if log is None or log._closed:
            return
        try:
            log.enforce_retention()
        except Exception as exc:
            if log._closed:
                return
            log.last_retention_error = exc
            _logger.warning("retention on the log at %s failed: %s", log.path, exc)
        del log


URL_OPTIONS = ("synchronous", "busy_timeout_ms", "poll_interval_ms", "retention_check_interval_ms")
"""Options a ``file://`` URL may carry as a query string, e.g. ``file:///data/log?synchronous=full``."""


def _url_options(query: str) -> dict[str, str | int]:
    options: dict[str, str | int] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in URL_OPTIONS:
            raise ConfigError(
                f"unknown option {key!r} in the file:// log URL", hint=f"use one of: {', '.join(URL_OPTIONS)}"
            )
        if key == "synchronous":
            options[key] = value
            continue
        try:
            options[key] = int(value)
        except ValueError:
            raise ConfigError(f"option {key}={value!r} in the file:// log URL must be an integer") from None
    return options


def _check_group(group: str) -> None:
    if not isinstance(group, str) or not group:
        raise ConfigError(f"a consumer group id must be a non-empty string, got {group!r}")


class EmbeddedTransaction(Transaction):
    """A transaction on the embedded log: buffered in memory, committed as one SQLite transaction.

    ``append`` checks the topic and partition at once; ``commit`` re-checks everything inside the write
    transaction, so a topic deleted meanwhile (by any process) aborts the whole transaction with
    :class:`TransactionError` and leaves nothing behind. ``transactional_id`` is kept for reporting only:
    the embedded log needs no fencing because a transaction either commits whole or not at all.
    """

    def __init__(self, log: EmbeddedLog, transactional_id: str | None = None) -> None:
        super().__init__()
        self._log = log
        self.transactional_id = transactional_id
        self._appends: list[tuple[str, int, list[Any]]] = []
        self._offsets: list[tuple[str, dict[TopicPartition, int]]] = []
        self._state: dict[str, bytes | None] = {}
        self._required: dict[str, bytes | None] = {}

    def require_state(self, key: str, expected: bytes | None) -> None:
        self._check_open()
        self._required[key] = None if expected is None else bytes(expected)

    def append(self, topic: str, partition: int, records: Sequence[ProducerRecord]) -> None:
        self._check_open()
        log = self._log
        with log._snapshot(f"checking {topic}[{partition}]") as conn:
            log._partition_row(conn, topic, partition)
        self._appends.append((topic, partition, list(records)))

    def commit_offsets(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        self._check_open()
        _check_group(group)
        for off in offsets.values():
            check_offset_arg(off)
        self._offsets.append((group, {TopicPartition(*tp): off for tp, off in offsets.items()}))

    def put_state(self, key: str, value: bytes | None) -> None:
        self._check_open()
        if not isinstance(key, str) or not key:
            raise ConfigError(f"a state key must be a non-empty string, got {key!r}")
        if value is not None and not isinstance(value, bytes | bytearray | memoryview):
            raise ConfigError(f"a state value must be bytes or None, got {type(value).__name__}")
        self._state[key] = None if value is None else bytes(value)

    def _commit(self) -> list[int]:
        log = self._log
        if log._retention_thread is None and log._retention_interval_s:
            log._start_retention_thread()
        now = log.clock.now_ms()
        try:
            with log._write("committing a transaction") as conn:
                for key, expected in self._required.items():
                    row = conn.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
                    if (None if row is None else bytes(row[0])) != expected:
                        raise FencedError(
                            f"transaction fenced: state {key!r} changed (another writer took over), nothing of "
                            "it was written",
                            hint="the writer was replaced; stop it (a newer instance owns this work now)",
                        )
                bases = [log._append_in(conn, t, p, recs, now) for t, p, recs in self._appends]
                for group, offsets in self._offsets:
                    log._commit_in(conn, group, offsets)
                for key, value in self._state.items():
                    if value is None:
                        conn.execute("DELETE FROM state WHERE key=?", (key,))
                    else:
                        conn.execute(
                            "INSERT INTO state(key, value) VALUES (?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                            (key, value),
                        )
        except MillstreamError as exc:
            if isinstance(exc, TransactionError):
                raise
            raise TransactionError(
                f"transaction aborted, nothing of it was written: {exc.message}", hint=exc.hint
            ) from exc
        finally:
            self._abort()
        return bases

    def _abort(self) -> None:
        self._appends = []
        self._offsets = []
        self._state = {}
        self._required = {}


__all__ = ["URL_OPTIONS", "EmbeddedLog", "EmbeddedTransaction"]
