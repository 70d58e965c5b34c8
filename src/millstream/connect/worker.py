"""The worker's runtime pieces: one thread per connector (:class:`WorkerConnector`) and per task
(:class:`WorkerSourceTask`, :class:`WorkerSinkTask`). Connector and task code only ever runs on these threads,
so a connector that blocks in ``start``/``poll``/``put`` never blocks the REST API or other connectors.

Source task loop (``WorkerSourceTask``):
  1. ``poll()`` the task (a :class:`RetriableError` is logged and the poll retried);
  2. for each record: transforms, then key/value/header converters (failures go through the
     :class:`ErrorHandler`: retry, then skip or fail);
  3. append the batch to its topics (created if missing); only then remember each record's source offset
     and call ``commit_record``;
  4. every ``offset.flush.interval.ms`` (and on stop) write the remembered offsets to the offsets topic and
     call ``commit()``. A crash before step 4 re-delivers records after restart (at-least-once), never loses
     them.
     With ``exactly.once.source.support=enabled`` steps 3 and 4 are one log transaction per batch.

Sink task loop (``WorkerSinkTask``):
  1. poll the consumer of group ``connect-<name>``; 2. converters then transforms per record (failures →
  error handler → DLQ); 3. ``put(batch)`` — a :class:`RetriableError` redelivers the batch with backoff; any
  other failure with ``errors.tolerance=all`` re-puts the records one by one and sends the failing ones to the
  DLQ; 4. only offsets of records that ``put`` accepted count as consumed; every ``offset.flush.interval.ms``
  (and on stop) ``pre_commit`` → commit the returned offsets to the group.
"""

from __future__ import annotations

import gc
import logging
import queue
import re
import threading
import time
import traceback
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from itertools import repeat
from operator import is_, itemgetter
from typing import Any

import orjson

from ..core.errors import BrokerError, BrokerTimeoutError, WakeupError
from ..core.record import ProducerRecord, Record, TopicPartition
from ..core.sensors import sensor
from ..log.base import Log
from ..log.batch_codec import ReadColumns
from ..log.consumer import Consumer, GroupCoordinator, LogConsumer
from ..log.partitioner import partition_for_key
from .api import (
    Connector,
    ConnectorContext,
    ErrantRecordReporter,
    OffsetStorageReader,
    SinkTaskContext,
    SourceTask,
    SourceTaskContext,
    Task,
)
from .connector_config import build_chain
from .data import Header, SinkRecord, SourceRecord
from .errors import RetriableError, ToleranceExceededError
from .fencing import SourceTaskFencing, is_kafka
from .storage import OffsetStore, StatusStore, partition_key
from .tolerance import FAILED, ErrorHandler, Stage
from .worker_config import WorkerConfig, make_converter, make_header_converter

log = logging.getLogger("millstream.connect.worker")

_tuple_new = tuple.__new__
# column getters over the record tuples (C-level, for the batch fast paths)
_R_TOPIC, _R_PARTITION, _R_OFFSET, _R_TIMESTAMP, _R_KEY, _R_VALUE, _R_HEADERS = (itemgetter(i) for i in range(7))
_P_PARTITION = itemgetter(4)

StatusListener = Callable[[str, str | None], None]
"""Called with ``(state, trace)`` whenever a connector's or task's state changes."""


def trace_of(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def class_name(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


TASK_GC_THRESHOLD = (50_000, 20, 100)
"""Garbage-collector thresholds (at least) while any task runs in this process: the same as a stream job's
(``runtime.job.batch_gc``). A task's batch of thousands of record tuples is gone long before 50,000
allocations, so it is freed by reference counting without any collection walking it; with CPython's default
(700) every batch would set off collections that walk all of it and move it to older generations."""

_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None
_gc_set: tuple[int, int, int] | None = None


def _task_gc_enter() -> None:
    global _gc_users, _gc_saved, _gc_set
    with _gc_lock:
        if _gc_users == 0:
            old = gc.get_threshold()
            _gc_saved = old
            _gc_set = (
                max(old[0], TASK_GC_THRESHOLD[0]),
                max(old[1], TASK_GC_THRESHOLD[1]),
                max(old[2], TASK_GC_THRESHOLD[2]),
            )
            gc.set_threshold(*_gc_set)
        _gc_users += 1


def _task_gc_exit() -> None:
    """The last task to end restores the thresholds, unless someone else changed them meanwhile."""
    global _gc_users
    with _gc_lock:
        _gc_users -= 1
        if _gc_users == 0 and _gc_saved is not None and gc.get_threshold() == _gc_set:
            gc.set_threshold(*_gc_saved)


@contextmanager
def task_gc() -> Iterator[None]:
    """Run the block with the garbage-collector thresholds of :data:`TASK_GC_THRESHOLD` (nests across threads:
    the first to enter raises them, the last to leave restores them). Every task runs inside it; benchmarks run
    their baselines inside it too, so comparisons stay fair."""
    _task_gc_enter()
    try:
        yield
    finally:
        _task_gc_exit()


def notify_status(listener: Callable[[str, str | None], None], state: str, trace: str | None) -> None:
    """Tell a status listener (the herder's status store) about a new state; its failure never stops a task."""
    try:
        listener(state, trace)
    except Exception:
        log.exception("status listener failed")


class WorkerContext:
    """What tasks share from the worker: the log, stores, worker config, id and a clock."""

    def __init__(self, log_: Log, config: WorkerConfig, offsets: OffsetStore, status: StatusStore, worker_id: str):
        self.log = log_
        self.config = config
        self.offsets = offsets
        self.status = status
        self.worker_id = worker_id
        self.fencing: SourceTaskFencing | None = None  # distributed mode: zombie fencing of exactly-once sources


class _Reader(OffsetStorageReader):
    def __init__(self, store: OffsetStore, connector: str) -> None:
        self.store, self.connector = store, connector

    def offsets(self, partitions: Collection[Mapping[str, Any]]) -> dict[Any, dict[str, Any]]:
        out = {}
        for p in partitions:
            off = self.store.get(self.connector, p)
            if off is not None:
                out[partition_key(p)] = off
        return out


class WorkerTask(threading.Thread):
    """A task on its own thread: start, loop (pausable), stop; reports its state through ``listener``."""

    def __init__(
        self,
        ctx: WorkerContext,
        connector: str,
        task_id: int,
        task_cls: type[Task],
        task_config: Mapping[str, str],
        connector_config: Mapping[str, Any],
        listener: StatusListener,
        *,
        paused: bool = False,
        predecessor: threading.Thread | None = None,
    ) -> None:
        super().__init__(name=f"task-{connector}-{task_id}", daemon=True)
        self.ctx = ctx
        self.connector = connector
        self.task_id = task_id
        self.task_cls = task_cls
        self.task_config = dict(task_config)
        self.connector_config = dict(connector_config)
        self.listener = listener
        self.stopping = threading.Event()
        self._unpaused = threading.Event()
        if not paused:
            self._unpaused.set()
        self.predecessor = predecessor
        self.task: Any = None
        self.flush_interval = int(ctx.config.get("offset.flush.interval.ms")) / 1000.0
        self.state = "UNASSIGNED"
        self._stop_called = False
        self._stop_lock = threading.Lock()

    # -- control (called from other threads) ---------------------------------------------------------
    def stop(self) -> None:
        """Ask the task to stop; returns at once."""
        self.stopping.set()
        self._unpaused.set()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._unpaused.clear()
        else:
            self._unpaused.set()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    def _report(self, state: str, trace: str | None = None) -> None:
        self.state = state
        notify_status(self.listener, state, trace)

    def _call_task_stop(self) -> None:
        with self._stop_lock:
            if self._stop_called or self.task is None:
                return
            self._stop_called = True
        try:
            self.task.stop()
        except Exception:
            log.exception("task %s-%d failed to stop", self.connector, self.task_id)

    # -- the thread -----------------------------------------------------------------------------------
    def run(self) -> None:
        if self.predecessor is not None and self.predecessor is not threading.current_thread():
            self.predecessor.join(float(self.ctx.config.get("task.shutdown.graceful.timeout.ms")) / 1000.0)
        if self.stopping.is_set():
            return
        with task_gc():
            self._run()

    def _run(self) -> None:
        started = False
        try:
            self.initialize()
            self.task = self.task_cls()
            self.setup_task()
            if self.stopping.is_set():
                return
            self.task.start(self.task_config)
            started = True
            self._report("PAUSED" if self.paused else "RUNNING")
            while not self.stopping.is_set():
                if not self._unpaused.is_set():
                    self.on_pause()
                    self._report("PAUSED")
                    self._unpaused.wait()
                    if self.stopping.is_set():
                        break
                    self._report("RUNNING")
                    continue
                self.iteration()
            self.on_stop(clean=True)
        except BaseException as exc:
            log.error("task %s-%d failed: %s", self.connector, self.task_id, exc, exc_info=exc)
            try:
                self.on_stop(clean=False)
            except Exception:
                log.exception("task %s-%d failed while stopping", self.connector, self.task_id)
            self._report("FAILED", trace_of(exc))
            return
        finally:
            if started:
                self._call_task_stop()
            self.close()

    def initialize(self) -> None:
        """Build converters, transforms and the error handler (framework side, before task code runs)."""
        cfg = self.connector_config
        self.key_converter = make_converter("key", cfg, self.ctx.config)
        self.value_converter = make_converter("value", cfg, self.ctx.config)
        self.header_converter = make_header_converter(cfg, self.ctx.config)
        self.chain = build_chain(cfg)
        self.errors = ErrorHandler(
            self.connector, self.task_id, _typed_errors(cfg), self.ctx.log, stopping=self.stopping
        )

    def setup_task(self) -> None:
        raise NotImplementedError

    def iteration(self) -> None:
        raise NotImplementedError

    def on_pause(self) -> None:
        """Commit what can be committed before pausing."""

    def on_stop(self, clean: bool) -> None:
        """Commit offsets and release resources (``clean`` = no failure)."""

    def close(self) -> None:
        try:
            self.chain.close()
        except Exception:
            pass


def _typed_errors(cfg: Mapping[str, Any]) -> dict[str, Any]:
    def b(key: str) -> bool:
        return str(cfg.get(key, "false")).strip().lower() == "true"

    return {
        "errors.tolerance": str(cfg.get("errors.tolerance", "none")).strip(),
        "errors.retry.timeout": int(cfg.get("errors.retry.timeout", 0)),
        "errors.retry.delay.max.ms": int(cfg.get("errors.retry.delay.max.ms", 60000)),
        "errors.log.enable": b("errors.log.enable"),
        "errors.log.include.messages": b("errors.log.include.messages"),
        "errors.deadletterqueue.topic.name": str(cfg.get("errors.deadletterqueue.topic.name", "") or "").strip(),
        "errors.deadletterqueue.context.headers.enable": b("errors.deadletterqueue.context.headers.enable"),
    }


class WorkerSourceTask(WorkerTask):
    """Runs a :class:`SourceTask` (see the module docstring)."""

    def setup_task(self) -> None:
        self.task.initialize(SourceTaskContext(self.task_config, _Reader(self.ctx.offsets, self.connector)))
        self.pending: dict[bytes, tuple[Mapping[str, Any] | None, Mapping[str, Any]]] = {}
        self.last_flush = time.monotonic()
        self.known_topics: set[str] = set()
        self.exactly_once = self.ctx.config.get("exactly.once.source.support") == "enabled"
        # distributed mode: fence earlier instances of this task (fencing.py), then read the offsets they stored
        self.fence = None
        if self.exactly_once and self.ctx.fencing is not None:
            self.fence = self.ctx.fencing.claim(self.connector, self.task_id)
        self.ctx.offsets.refresh()
        self.wants_commit_record = type(self.task).commit_record is not SourceTask.commit_record
        partitions = int(self.connector_config.get("topic.creation.default.partitions", -1) or -1)
        self.new_topic_partitions = partitions if partitions > 0 else 1
        self.records_sent = 0
        scope = f"connect.{self.connector}.{self.task_id}"
        self.sensor_polled = sensor("source-record-poll-total", scope)
        self.sensor_written = sensor("source-record-write-total", scope)

    def stop(self) -> None:
        super().stop()
        # unblock a poll() that waits: Kafka calls SourceTask.stop() from another thread
        threading.Thread(target=self._call_task_stop, name=f"stop-{self.name}", daemon=True).start()

    def iteration(self) -> None:
        try:
            records = self.task.poll()
        except RetriableError as exc:
            log.warning("%s failed to poll records; will retry: %s", self.name, exc)
            records = None
        if records:
            self.sensor_polled.inc(len(records))
            self.send(records)
        if time.monotonic() - self.last_flush >= self.flush_interval:
            self.flush_offsets()

    def _ensure_topic(self, topic: str) -> int:
        if topic not in self.known_topics:
            desc = self.ctx.log.create_topic(topic, self.new_topic_partitions, exist_ok=True)
            self.known_topics.add(topic)
            self.ctx.status.add_topic(self.connector, topic, self.task_id, int(time.time() * 1000))
            self._partitions = getattr(self, "_partitions", {})
            self._partitions[topic] = desc.partitions
        return self._partitions[topic]

    def _produce(
        self, topic: str, batch: list[ProducerRecord], placements: bool = False, partitioned: bool = True
    ) -> list[tuple[int, int]]:
        """Append a batch to a topic (one append for a one-partition topic); with ``placements`` return each
        record's ``(partition, offset)``."""
        n = self._ensure_topic(topic)
        if n == 1 and (not partitioned or not any(map(_P_PARTITION, batch))):
            base = self.ctx.log.append(topic, 0, batch)
            return [(0, base + i) for i in range(len(batch))] if placements else []
        return self.ctx.log.produce(topic, batch)

    def _send_fast(self, records: list[SourceRecord]) -> bool:
        """The common case, column-at-a-time in C (``map``/``zip`` over the record tuples): no transforms or
        headers, keys on all records or on none (converted as a batch too), one topic, no explicit partition,
        no ``commit_record``. Returns ``False`` (having
        written nothing) when the batch needs the general path.

        The cyclic GC is paused meanwhile (as :func:`~millstream.log.batch_codec.gc_paused` does, but
        without allocating a context manager: that allocation alone would set off the collection that the
        source task's freshly polled records are due): the batch's thousands of new tuples would otherwise
        set off several collections that each walk the whole live batch. Only framework code and the
        converters run here, never a call that can block."""
        if self.chain or self.wants_commit_record or self.exactly_once:
            return False
        was_enabled = gc.isenabled()
        if was_enabled:
            gc.disable()
        try:
            return self._send_fast_unpaused(records)
        finally:
            if was_enabled:
                gc.enable()

    def _send_fast_unpaused(self, records: list[SourceRecord]) -> bool:
        topic = records[0].topic
        n = len(records)
        # one pass over the records (each touched once) gives every field as a column
        try:
            columns = list(zip(*records, strict=True))
        except (TypeError, ValueError):  # not all records are SourceRecord tuples
            return False
        if len(columns) != len(SourceRecord._fields):
            return False
        topics, kafka_partitions, key_schemas, keys, value_schemas, values_in, stamps, headers, parts, offs = columns
        if topics.count(topic) != n or kafka_partitions.count(None) != n or any(headers):
            return False
        converted_keys: list[bytes | None] | None = None
        # (identity tests: list.count(None) would call Schema.__eq__ for every record)
        no_key_schema = list(map(is_, key_schemas, repeat(None, n))).count(True)
        if keys.count(None) != n or no_key_schema != n:
            if keys.count(None) or no_key_schema:
                return False  # some records with keys, some without: the general path
            try:
                converted_keys = self.key_converter.from_connect_batch(topic, list(key_schemas), list(keys))
            except Exception:
                return False  # let the general path apply the error handler
        try:
            values = self.value_converter.from_connect_batch(topic, list(value_schemas), list(values_in))
        except Exception:
            return False  # let the general path apply the error handler
        offsets: dict[bytes, tuple[Mapping[str, Any] | None, Mapping[str, Any]]] = {}
        if parts.count(parts[0]) == n:  # one source partition (the same or an equal map: the same key)
            for off in reversed(offs):
                if off is not None:
                    offsets[partition_key(parts[0])] = (parts[0], off)
                    break
        else:
            for part, off in zip(parts, offs, strict=True):
                if off is not None:
                    offsets[partition_key(part)] = (part, off)
        timestamps = list(stamps)
        append_values = getattr(self.ctx.log, "append_values", None)
        if converted_keys is None and append_values is not None and self._ensure_topic(topic) == 1:
            append_values(topic, 0, values, timestamps)  # the columns as they are: no record objects
        else:
            batch = list(
                map(
                    _tuple_new,
                    repeat(ProducerRecord, n),
                    zip(
                        values,
                        repeat(None, n) if converted_keys is None else converted_keys,
                        timestamps,
                        repeat((), n),
                        repeat(None, n),
                        strict=True,
                    ),
                )
            )
            # keyed records go to the partitions of their keys (as the general path's append does)
            self._produce(topic, batch, partitioned=converted_keys is not None)
        self.pending.update(offsets)
        self.records_sent += n
        self.sensor_written.inc(n)
        return True

    def send(self, records: list[SourceRecord]) -> None:
        """Transform, convert and append one poll batch; then remember its offsets."""
        if self._send_fast(records):
            return
        chain, errors = self.chain, self.errors
        kc, vc, hc = self.key_converter, self.value_converter, self.header_converter
        kfrom, vfrom = kc.from_connect_data, vc.from_connect_data
        batches: dict[str, list[ProducerRecord]] = {}
        sent: list[tuple[SourceRecord, str | None, int]] = []  # (record, topic, index in batch)
        pending = self.pending
        last_part: Any = None
        last_pk = b""
        for rec in records:
            r: Any = rec
            if chain:
                try:
                    r = chain.apply(rec)
                except Exception:
                    r = errors.execute(Stage.TRANSFORMATION, "transforms", chain.apply, rec, original=rec)
                if r is None or r is FAILED:
                    sent.append((rec, None, -1))
                    continue
            topic = r.topic
            try:
                key = None if r.key is None and r.key_schema is None else kfrom(topic, r.key_schema, r.key)
            except Exception:
                key = errors.execute(
                    Stage.KEY_CONVERTER, class_name(kc), kfrom, topic, r.key_schema, r.key, original=rec
                )
                if key is FAILED:
                    sent.append((rec, None, -1))
                    continue
            try:
                value = vfrom(topic, r.value_schema, r.value)
            except Exception:
                value = errors.execute(
                    Stage.VALUE_CONVERTER, class_name(vc), vfrom, topic, r.value_schema, r.value, original=rec
                )
                if value is FAILED:
                    sent.append((rec, None, -1))
                    continue
            headers: tuple[tuple[str, bytes | None], ...] = ()
            if r.headers:
                try:
                    headers = tuple((h.key, hc.from_connect_header(topic, h.key, h.schema, h.value)) for h in r.headers)
                except Exception as exc:
                    if errors.fail(Stage.HEADER_CONVERTER, class_name(hc), exc, rec) is FAILED:
                        sent.append((rec, None, -1))
                        continue
            batch = batches.get(topic)
            if batch is None:
                batch = batches[topic] = []
            sent.append((rec, topic, len(batch)))
            batch.append(ProducerRecord(value, key, r.timestamp, headers, r.kafka_partition))
        # offsets of this batch (filtered/skipped records advance them too)
        batch_offsets: dict[bytes, tuple[Mapping[str, Any] | None, Mapping[str, Any]]] = {}
        for rec in records:
            part = rec.source_partition
            if rec.source_offset is None:
                continue
            if part is not last_part:
                last_part, last_pk = part, partition_key(part)
            batch_offsets[last_pk] = (part, rec.source_offset)
        placements: dict[str, list[tuple[int, int]]] = {}
        if self.exactly_once:
            placements = self._send_transactional(batches, batch_offsets)
        else:
            for topic, batch in batches.items():
                placements[topic] = self._produce(topic, batch, self.wants_commit_record)
            pending.update(batch_offsets)
        written = sum(len(b) for b in batches.values())
        self.records_sent += written
        self.sensor_written.inc(written)
        if self.wants_commit_record:
            for rec, topic, idx in sent:
                meta = None if topic is None else (topic, *placements[topic][idx])
                try:
                    self.task.commit_record(rec, meta)
                except Exception:
                    log.exception("%s commit_record failed", self.name)

    def _send_transactional(
        self,
        batches: dict[str, list[ProducerRecord]],
        offsets: Mapping[bytes, tuple[Mapping[str, Any] | None, Mapping[str, Any]]],
    ) -> dict[str, list[tuple[int, int]]]:
        store = self.ctx.offsets
        placements: dict[str, list[tuple[int, int]]] = {}
        per_partition: dict[tuple[str, int], list[ProducerRecord]] = {}
        rr = 0
        for topic, batch in batches.items():
            n = self._ensure_topic(topic)
            placed = []
            for rec in batch:
                if rec.partition is not None:
                    p = rec.partition
                elif rec.key is not None:
                    p = partition_for_key(rec.key, n)
                else:
                    p, rr = rr % n, rr + 1
                lst = per_partition.setdefault((topic, p), [])
                placed.append((p, len(lst)))
                lst.append(rec)
            placements[topic] = placed
        n_off = store.log.describe_topic(store.topic).partitions
        items = [(OffsetStore.key(self.connector, part), orjson.dumps(off)) for part, off in offsets.values()]
        fencing = self.ctx.fencing
        begun = self.ctx.log.transaction() if self.fence is None or fencing is None else fencing.transaction(self.fence)
        with begun as txn:
            for (topic, p), recs in per_partition.items():
                txn.append(topic, p, recs)
            for k, v in items:
                txn.append(store.topic, partition_for_key(k, n_off), [ProducerRecord(v, k)])
            bases = txn.commit()
        with store.lock:
            for k, v in items:
                store._apply(k, v)
        base_of = dict(zip(per_partition, bases, strict=False))
        return {t: [(p, base_of[(t, p)] + i) for p, i in placed] for t, placed in placements.items()}

    def flush_offsets(self) -> None:
        """Write remembered offsets to the offsets topic, then call the task's ``commit()``."""
        self.last_flush = time.monotonic()
        if self.pending:
            pending, self.pending = self.pending, {}
            self.ctx.offsets.put(self.connector, pending)
        elif not self.exactly_once:
            return
        try:
            self.task.commit()
        except Exception:
            log.exception("%s commit() failed", self.name)

    def on_pause(self) -> None:
        self.flush_offsets()

    def on_stop(self, clean: bool) -> None:
        # records already appended are safe to account for even when the task failed
        if self.pending:
            self.ctx.offsets.put(self.connector, self.pending)
            self.pending = {}


_REBALANCE_CODES = ("ILLEGAL_GENERATION", "REBALANCE_IN_PROGRESS", "UNKNOWN_MEMBER_ID", "FENCED_INSTANCE_ID")
"""Commit failures of a sink task's consumer that mean its group rebalanced meanwhile (not a task failure)."""


class _Reporter(ErrantRecordReporter):
    def __init__(self, task: WorkerSinkTask) -> None:
        self.task = task

    def report(self, record: SinkRecord, error: BaseException) -> None:
        original = self.task.original(record)
        self.task.errors.fail(Stage.TASK_PUT, class_name(self.task.task), error, original)


class WorkerSinkTask(WorkerTask):
    """Runs a :class:`SinkTask` (see the module docstring)."""

    _reader: Consumer | None = None  # self.consumer, once setup_task made it

    def stop(self) -> None:
        """Ask the task to stop and wake its consumer (as Kafka Connect does): a poll, or a join of the group
        that waits for its first assignment, ends at once instead of holding the task (and the worker's
        shutdown) until the join completes."""
        super().stop()
        reader = self._reader
        if reader is not None:
            reader.wakeup()

    def setup_task(self) -> None:
        cfg = self.connector_config
        auto_reset = str(
            cfg.get("consumer.override.auto.offset.reset") or self.ctx.config.get("consumer.auto.offset.reset")
        )
        self.max_poll = int(
            cfg.get("consumer.override.max.poll.records") or self.ctx.config.get("consumer.max.poll.records")
        )
        self.group = f"connect-{self.connector}"
        topics = [t.strip() for t in str(cfg.get("topics") or "").split(",") if t.strip()]
        regex = str(cfg.get("topics.regex") or "").strip()
        pattern = regex or "^(?:" + "|".join(re.escape(t) for t in topics) + ")$"
        # The tasks of a sink share its group: on kafka:// through Kafka's group protocol, on the embedded log
        # through its group membership (each task a static member, so a restarted task takes its partitions
        # straight back). A LogConsumer over any other log is the group's only member: it assigns the matching
        # partitions itself, re-checking once a second (subscribing would query the metadata on every poll).
        coordinated = isinstance(self.ctx.log, GroupCoordinator)
        options: dict[str, Any] = {"auto_offset_reset": auto_reset, "commit_on_close": False}
        if coordinated:
            options["session_timeout_ms"] = int(self.ctx.config.get("consumer.session.timeout.ms"))
            options["heartbeat_interval_ms"] = int(self.ctx.config.get("consumer.heartbeat.interval.ms"))
            options["group_instance_id"] = f"{self.group}-{self.task_id}"
        elif is_kafka(self.ctx.log):  # Kafka's group protocol, with the worker's consumer timeouts
            options["properties"] = {
                "session.timeout.ms": int(self.ctx.config.get("consumer.session.timeout.ms")),
                "heartbeat.interval.ms": int(self.ctx.config.get("consumer.heartbeat.interval.ms")),
            }
        # (a stop() before this assignment finds no consumer to wake; _run sees it right after setup_task)
        self.consumer = self._reader = self.ctx.log.consumer(self.group, **options)
        self.manual_assign = isinstance(self.consumer, LogConsumer) and not coordinated
        self.topic_pattern = re.compile(pattern)
        self.next_refresh = 0.0
        self.unassigned_wait = self.UNASSIGNED_REFRESH_MIN_S
        self.assigned: set[TopicPartition] = set()
        self.current: dict[TopicPartition, int] = {}  # next offset after records put() accepted
        self.committed: dict[TopicPartition, int] = {}
        if self.manual_assign:
            self._refresh_assignment()
        elif coordinated:
            self.consumer.subscribe(pattern=pattern, on_revoke=self._on_revoked, on_lost=self._on_lost)
        else:  # Kafka: joining the group waits for a rebalance, so it happens in the first poll, as in Kafka
            self.subscribe_pattern = pattern  # Connect (the task is RUNNING meanwhile)
        self.batch_records: list[Record] = []
        self.batch_columns: list[tuple[TopicPartition, ReadColumns]] | None = None  # records not built yet
        self.columnar = callable(getattr(self.consumer, "poll_columns", None))
        self.context = SinkTaskContext(self.task_config, lambda: sorted(self.assigned), _Reporter(self))
        self.task.initialize(self.context)
        self.last_commit = time.monotonic()
        self.records_put = 0
        scope = f"connect.{self.connector}.{self.task_id}"
        self.sensor_read = sensor("sink-record-read-total", scope)
        self.sensor_sent = sensor("sink-record-send-total", scope)

    ASSIGNMENT_REFRESH_S = 1.0
    """How often a manually assigned sink re-lists the topics it has partitions of (new partitions, topics)."""
    UNASSIGNED_REFRESH_MIN_S = 0.005
    """While nothing is assigned (its topics do not exist yet), the first re-check comes after this long and
    the wait doubles up to ``ASSIGNMENT_REFRESH_S``: a sink started before its source sees the topic at once."""

    def _refresh_assignment(self) -> None:
        now = time.monotonic()
        if self.consumer.assignment():
            self.unassigned_wait = self.UNASSIGNED_REFRESH_MIN_S
            self.next_refresh = now + self.ASSIGNMENT_REFRESH_S
        else:
            self.next_refresh = now + self.unassigned_wait
            self.unassigned_wait = min(self.unassigned_wait * 2, self.ASSIGNMENT_REFRESH_S)
        log_ = self.ctx.log
        wanted: list[TopicPartition] = []
        for t in log_.list_topics():
            if self.topic_pattern.fullmatch(t):
                try:
                    wanted.extend(log_.describe_topic(t).partitions_list())
                except Exception:
                    continue  # deleted meanwhile
        if set(wanted) != set(self.consumer.assignment()):
            self.consumer.assign(wanted)
            if wanted:
                self.unassigned_wait = self.UNASSIGNED_REFRESH_MIN_S
                self.next_refresh = time.monotonic() + self.ASSIGNMENT_REFRESH_S

    def _on_revoked(self, partitions: list[TopicPartition]) -> None:
        """Partitions move to another task of the group: commit what was put, then close them (Kafka
        Connect's WorkerSinkTask does the same before it gives partitions up)."""
        self._commit()
        self._on_lost(partitions)

    def _on_lost(self, partitions: list[TopicPartition]) -> None:
        """Partitions another task owns already: close them without committing."""
        gone = set(partitions) & self.assigned
        if gone:
            self.task.close(sorted(gone))
            self.assigned -= gone
            for tp in gone:
                self.current.pop(tp, None)

    def _check_assignment(self) -> None:
        if self.manual_assign and time.monotonic() >= self.next_refresh:
            self._refresh_assignment()
        now = set(self.consumer.assignment())
        if now == self.assigned:
            return
        gone, new = self.assigned - now, now - self.assigned
        if gone:
            self._commit()
            self.task.close(sorted(gone))
            for tp in gone:
                self.current.pop(tp, None)
        self.assigned = now
        if new:
            for tp in new:
                self.ctx.status.add_topic(self.connector, tp.topic, self.task_id, int(time.time() * 1000))
            self.task.open(sorted(new))

    def _apply_context(self) -> None:
        ctx = self.context
        if ctx.pending_offsets:
            pending, ctx.pending_offsets = ctx.pending_offsets, {}
            for tp, off in pending.items():
                try:
                    self.consumer.seek(tp, off)
                except Exception as exc:
                    log.warning("%s cannot rewind %s to %d: %s", self.name, tp, off, exc)

    subscribe_pattern: str | None = None

    def iteration(self) -> None:
        try:
            self._iteration()
        except WakeupError:
            if not self.stopping.is_set():
                raise

    def _iteration(self) -> None:
        if self.subscribe_pattern is not None:
            pattern, self.subscribe_pattern = self.subscribe_pattern, None
            try:
                self.consumer.subscribe(pattern=pattern)
            except BrokerTimeoutError as exc:  # the member stays subscribed: its polls go on joining, as in Kafka
                log.warning("%s: still joining group %s (%s); polling on", self.name, self.group, exc.message)
        self._apply_context()
        self._check_assignment()
        if self.columnar and not self.chain and not self.context.paused:
            parts = self._poll_columns()
            self._check_assignment()
            if parts:
                self.deliver_columns(parts)
            self._maybe_commit()
            return
        recs = self._poll()
        self._check_assignment()
        if recs and self.context.paused:
            keep: list[Record] = []
            first_skipped: dict[TopicPartition, int] = {}
            for r in recs:
                tp = TopicPartition(r.topic, r.partition)
                if tp in self.context.paused:
                    first_skipped.setdefault(tp, r.offset)
                else:
                    keep.append(r)
            for tp, off in first_skipped.items():
                self.consumer.seek(tp, off)
            recs = keep
        if recs:
            self.deliver(recs)
        self._maybe_commit()

    def _maybe_commit(self) -> None:
        if self.context.commit_requested or time.monotonic() - self.last_commit >= self.flush_interval:
            self.context.commit_requested = False
            self._commit()

    POLL_TIMEOUT_MS = 100

    def _poll(self) -> list[Record]:
        """The next records, waiting up to ``POLL_TIMEOUT_MS`` for some (the consumer wakes on appends);
        while partitions are assigned manually the wait ends at the next assignment check."""
        consumer = self.consumer
        if not self.manual_assign:
            return consumer.poll(timeout_ms=self.POLL_TIMEOUT_MS, max_records=self.max_poll)
        wait_ms = min(self.POLL_TIMEOUT_MS, int((self.next_refresh - time.monotonic()) * 1000.0))
        return consumer.poll(timeout_ms=max(0, wait_ms), max_records=self.max_poll)

    def _poll_columns(self) -> list[tuple[TopicPartition, ReadColumns]]:
        """:meth:`_poll` with each partition's records as columns (no :class:`Record` built)."""
        consumer: Any = self.consumer
        if not self.manual_assign:
            return consumer.poll_columns(timeout_ms=self.POLL_TIMEOUT_MS, max_records=self.max_poll)
        wait_ms = min(self.POLL_TIMEOUT_MS, int((self.next_refresh - time.monotonic()) * 1000.0))
        return consumer.poll_columns(timeout_ms=max(0, wait_ms), max_records=self.max_poll)

    def deliver_columns(self, parts: list[tuple[TopicPartition, ReadColumns]]) -> None:
        """:meth:`deliver` of records polled as columns: keyless records without headers whose values the
        converter takes column-wise become :class:`SinkRecord` objects straight from the columns; anything
        else goes through :meth:`deliver` as records."""
        batch = self._sink_records_of(parts)
        if batch is None:
            self.deliver(_records_of(parts))
            return
        self.batch_records, self.batch_columns = [], parts
        self.sensor_read.inc(len(batch))
        if batch:
            self._put(batch)
            self.records_put += len(batch)
            self.sensor_sent.inc(len(batch))
        position = self.consumer.position
        for tp, _cols in parts:
            self.current[tp] = position(tp)

    def _sink_records_of(self, parts: list[tuple[TopicPartition, ReadColumns]]) -> list[SinkRecord] | None:
        to_columns = self.value_converter.to_connect_columns
        converted = []
        for tp, (_offsets, _tss, keys, values, headers) in parts:
            if keys is not None or headers is not None:
                return None
            try:
                converted.append(to_columns(tp.topic, values))
            except Exception:
                return None  # let the general path apply the error handler
        was_enabled = gc.isenabled()  # paused as in WorkerSourceTask._send_fast
        if was_enabled:
            gc.disable()
        try:
            out: list[SinkRecord] = []
            for (tp, (offsets, tss, _k, _v, _h)), (schemas, values) in zip(parts, converted, strict=True):
                n = len(offsets)
                topic, partitions = tp.topic, repeat(tp.partition, n)
                columns = (
                    repeat(topic, n),
                    partitions,
                    repeat(None, n),
                    repeat(None, n),
                    schemas,
                    values,
                    tss,
                    repeat((), n),
                    offsets,
                    repeat("CreateTime", n),
                    repeat(topic, n),
                    repeat(tp.partition, n),
                    offsets,
                )
                out += map(_tuple_new, repeat(SinkRecord, n), zip(*columns, strict=True))
            return out
        finally:
            if was_enabled:
                gc.enable()

    def _convert_fast(self, recs: list[Record]) -> list[SinkRecord] | None:
        """Column-at-a-time conversion in C for the common case (one topic, no transforms, keys or
        headers)."""
        if self.chain:
            return None
        topic = recs[0].topic
        n = len(recs)
        if (
            list(map(_R_TOPIC, recs)).count(topic) != n
            or list(map(_R_KEY, recs)).count(None) != n
            or any(map(_R_HEADERS, recs))
        ):
            return None
        was_enabled = gc.isenabled()  # paused as in WorkerSourceTask._send_fast
        if was_enabled:
            gc.disable()
        try:
            return self._convert_fast_unpaused(recs, topic, n)
        finally:
            if was_enabled:
                gc.enable()

    def _convert_fast_unpaused(self, recs: list[Record], topic: str, n: int) -> list[SinkRecord] | None:
        try:
            schemas, values = self.value_converter.to_connect_columns(topic, list(map(_R_VALUE, recs)))
        except Exception:
            return None
        self.batch_records, self.batch_columns = recs, None
        partitions, offsets = list(map(_R_PARTITION, recs)), list(map(_R_OFFSET, recs))
        columns = (
            repeat(topic, n),
            partitions,
            repeat(None, n),
            repeat(None, n),
            schemas,
            values,
            map(_R_TIMESTAMP, recs),
            repeat((), n),
            offsets,
            repeat("CreateTime", n),
            repeat(topic, n),
            partitions,
            offsets,
        )
        return list(map(_tuple_new, repeat(SinkRecord, n), zip(*columns, strict=True)))

    def convert(self, recs: list[Record]) -> list[SinkRecord]:
        chain, errors = self.chain, self.errors
        kc, vc, hc = self.key_converter, self.value_converter, self.header_converter
        kto, vto = kc.to_connect_data, vc.to_connect_data
        out: list[SinkRecord] = []
        append = out.append
        has_chain = bool(chain)
        self.batch_records, self.batch_columns = recs, None
        for r in recs:
            topic = r.topic
            try:
                ks, k = kto(topic, r.key) if r.key is not None else (None, None)
            except Exception:
                res = errors.execute(Stage.KEY_CONVERTER, class_name(kc), kto, topic, r.key, original=r)
                if res is FAILED:
                    continue
                ks, k = res
            try:
                vs, v = vto(topic, r.value)
            except Exception:
                res = errors.execute(Stage.VALUE_CONVERTER, class_name(vc), vto, topic, r.value, original=r)
                if res is FAILED:
                    continue
                vs, v = res
            headers: list[Header] = []
            if r.headers:
                try:
                    for hk, hv in r.headers:
                        hs, hval = hc.to_connect_header(topic, hk, hv)
                        headers.append(Header(hk, hval, hs))
                except Exception as exc:
                    if errors.fail(Stage.HEADER_CONVERTER, class_name(hc), exc, r) is FAILED:
                        continue
            sr = SinkRecord(
                topic,
                r.partition,
                ks,
                k,
                vs,
                v,
                r.timestamp,
                headers,
                r.offset,
                "CreateTime",
                topic,
                r.partition,
                r.offset,
            )
            if has_chain:
                try:
                    sr = chain.apply(sr)
                except Exception:
                    sr = errors.execute(Stage.TRANSFORMATION, "transforms", chain.apply, sr, original=r)
                if sr is None or sr is FAILED:
                    continue
            append(sr)
        return out

    def original(self, record: SinkRecord) -> Record | None:
        """The raw log record a sink record of the current batch came from (for the DLQ)."""
        topic = record.original_topic or record.topic
        part, off = record.original_kafka_partition, record.original_kafka_offset
        if self.batch_columns is not None:  # polled as columns: build the records when first needed
            self.batch_records, self.batch_columns = _records_of(self.batch_columns), None
        for r in self.batch_records:
            if r.offset == off and r.partition == part and r.topic == topic:
                return r
        return None

    def deliver(self, recs: list[Record]) -> None:
        self.sensor_read.inc(len(recs))
        batch = self._convert_fast(recs)
        if batch is None:
            batch = self.convert(recs)
        if batch:
            self._put(batch)
            self.records_put += len(batch)
            self.sensor_sent.inc(len(batch))
        position = self.consumer.position
        topics = set(map(_R_TOPIC, recs))
        if len(topics) == 1:
            touched = {(recs[0].topic, p) for p in set(map(_R_PARTITION, recs))}
        else:
            touched = set(zip(map(_R_TOPIC, recs), map(_R_PARTITION, recs), strict=True))
        for t, p in touched:
            tp = TopicPartition(t, p)
            self.current[tp] = position(tp)

    def _put(self, batch: list[SinkRecord]) -> None:
        errors = self.errors
        timeout_ms = errors.retry_timeout_ms
        deadline = None if timeout_ms <= 0 else time.monotonic() + timeout_ms / 1000.0
        attempt = 0
        while True:
            try:
                self.task.put(batch)
                return
            except RetriableError as exc:
                attempt += 1
                wait = (self.context.timeout_ms / 1000.0) if self.context.timeout_ms else errors.backoff(attempt)
                self.context.timeout_ms = None
                if self.stopping.is_set():
                    raise ToleranceExceededError(f"task stopped while put() was being retried: {exc}") from exc
                if deadline is not None and time.monotonic() + wait > deadline:
                    self._put_one_by_one(batch, exc)
                    return
                log.info("%s put() failed with a retriable error, redelivering in %.1fs: %s", self.name, wait, exc)
                self.stopping.wait(wait)
            except Exception as exc:
                if not errors.tolerance_all:
                    errors.report(Stage.TASK_PUT, class_name(self.task), exc, None)
                    raise
                self._put_one_by_one(batch, exc)
                return

    def _put_one_by_one(self, batch: list[SinkRecord], batch_error: BaseException) -> None:
        """After a failed batch, find the records ``put`` rejects; report them (DLQ) and keep the rest."""
        log.warning("%s put() of %d records failed (%s); retrying them one by one", self.name, len(batch), batch_error)
        cls = class_name(self.task)
        for sr in batch:
            original = self.original(sr)
            self.errors.execute(Stage.TASK_PUT, cls, self.task.put, [sr], original=original)

    def _commit(self) -> None:
        self.last_commit = time.monotonic()
        if not self.current:
            return
        current = {tp: off for tp, off in self.current.items() if tp in self.assigned}
        try:
            offsets = self.task.pre_commit(dict(current))
        except Exception:
            log.exception("%s pre_commit/flush failed; offsets not committed this time", self.name)
            return
        to_commit = {
            TopicPartition(*tp): int(off)
            for tp, off in (offsets or {}).items()
            if TopicPartition(*tp) in self.assigned and self.committed.get(TopicPartition(*tp)) != off
        }
        if to_commit:
            try:
                self.consumer.commit(to_commit)
            except BrokerError as exc:
                if not any(code in exc.message for code in _REBALANCE_CODES):
                    raise
                # as Kafka Connect's WorkerSinkTask: the group rebalanced under the commit (Kafka's group
                # protocol); the records stay uncommitted and come again to whichever task gets the partition
                log.warning(
                    "%s could not commit offsets during a rebalance; they are committed later: %s", self.name, exc
                )
                return
            self.committed.update(to_commit)

    def on_pause(self) -> None:
        self._commit()

    def on_stop(self, clean: bool) -> None:
        if self._reader is None:
            return
        try:
            if clean:
                self._commit()
            if self.assigned:
                self.task.close(sorted(self.assigned))
        finally:
            self.consumer.close()

    def close(self) -> None:
        """Also close the consumer of a task stopped between its setup and ``SinkTask.start`` (``on_stop`` does
        not run then): it leaves the group at once, as Kafka Connect's ``WorkerSinkTask.close()`` closes it.
        (Closing a consumer twice is a no-op.)"""
        try:
            if self._reader is not None:
                self._reader.close()
        except Exception:
            log.exception("task %s-%d failed to close its consumer", self.connector, self.task_id)
        finally:
            super().close()


def _records_of(parts: list[tuple[TopicPartition, ReadColumns]]) -> list[Record]:
    """The :class:`Record` objects of records polled as columns, in order."""
    out: list[Record] = []
    for tp, (offsets, tss, keys, values, headers) in parts:
        n = len(offsets)
        rows = zip(
            repeat(tp.topic, n),
            repeat(tp.partition, n),
            offsets,
            tss,
            repeat(None, n) if keys is None else keys,
            values,
            repeat((), n) if headers is None else headers,
            strict=True,
        )
        out += map(_tuple_new, repeat(Record, n), rows)
    return out


class _ConnectorContext(ConnectorContext):
    def __init__(self, wc: WorkerConnector) -> None:
        self.wc = wc

    def request_task_reconfiguration(self) -> None:
        self.wc.submit("reconfigure")

    def raise_error(self, exc: BaseException) -> None:
        self.wc.fail(exc)


class WorkerConnector(threading.Thread):
    """A connector on its own thread, driven by commands: start, pause, resume, stop, restart, reconfigure,
    shutdown. ``on_task_configs`` receives the task configs each time the connector (re)generates them."""

    def __init__(
        self,
        name: str,
        connector_cls: type[Connector],
        config: Mapping[str, str],
        listener: StatusListener,
        on_task_configs: Callable[[list[dict[str, str]]], None],
    ) -> None:
        super().__init__(name=f"connector-{name}", daemon=True)
        self.connector_name = name
        self.connector_cls = connector_cls
        self.config = dict(config)
        self.listener = listener
        self.on_task_configs = on_task_configs
        self.commands: queue.Queue[str] = queue.Queue()
        self.connector: Connector | None = None
        self.started = False
        self.state = "UNASSIGNED"

    def submit(self, command: str) -> None:
        self.commands.put(command)

    def fail(self, exc: BaseException) -> None:
        self._report("FAILED", trace_of(exc))

    def _report(self, state: str, trace: str | None = None) -> None:
        self.state = state
        notify_status(self.listener, state, trace)

    def run(self) -> None:
        while True:
            cmd = self.commands.get()
            try:
                if cmd == "shutdown":
                    self._stop_connector()
                    return
                if cmd in ("start", "resume"):
                    self._start()
                elif cmd == "pause":
                    self._stop_connector()
                    self._report("PAUSED")
                elif cmd == "stop":
                    self._stop_connector()
                    self._report("STOPPED")
                elif cmd == "restart":
                    self._stop_connector()
                    self._start()
                elif cmd == "reconfigure" and self.started and self.connector is not None:
                    self.on_task_configs(self._task_configs())
            except BaseException as exc:
                log.error("connector %s failed: %s", self.connector_name, exc, exc_info=exc)
                self._report("FAILED", trace_of(exc))

    def _start(self) -> None:
        if self.started:
            self._report("RUNNING")
            self.on_task_configs(self._task_configs())
            return
        self.connector = self.connector_cls()
        self.connector.initialize(_ConnectorContext(self))
        self.connector.start(self.config)
        self.started = True
        self._report("RUNNING")
        self.on_task_configs(self._task_configs())

    def _task_configs(self) -> list[dict[str, str]]:
        assert self.connector is not None
        max_tasks = int(self.config.get("tasks.max", 1))
        configs = self.connector.task_configs(max_tasks)
        if len(configs) > max_tasks:
            raise ValueError(f"the connector generated {len(configs)} task configs but tasks.max is {max_tasks}")
        task_cls = self.connector.task_class()
        out = []
        for c in configs:
            d = {str(k): str(v) for k, v in c.items()}
            d["task.class"] = class_name(task_cls)
            out.append(d)
        return out

    def _stop_connector(self) -> None:
        if self.started and self.connector is not None:
            self.started = False
            self.connector.stop()


__all__ = [
    "WorkerConnector",
    "WorkerContext",
    "WorkerSinkTask",
    "WorkerSourceTask",
    "WorkerTask",
    "class_name",
    "task_gc",
]
