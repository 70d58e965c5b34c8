"""Source readers: bind source descriptors to real data (collections, the log, files, source functions).

A reader exposes partitions (any hashable ids) and ``read(pid, max_records) -> (values, record_timestamps)``;
``done(pid)`` says a bounded partition has reached its end. Readers never compute watermarks — the
:class:`~millstream.runtime.job.SourceDriver` does that from the descriptors' strategy. A reader whose
``wakes_on_data`` is true can block in ``wait_for_data(timeout_s)`` until it has something to read, so an idle
job waits on its sources instead of sleeping a fixed time (:func:`wait_for_data`).
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from operator import itemgetter
from typing import Any, NamedTuple, Protocol, runtime_checkable

import orjson

from ..core.clock import Clock, ManualClock
from ..core.debezium_json import DebeziumJsonFormat
from ..core.errors import ConfigError, OffsetOutOfRangeError, SerdeError
from ..core.record import Record, TopicPartition
from ..core.serde import get_serde
from ..log import Log, open_log
from ..log.columns import ColumnReads, PartitionColumns
from ..stream.connectors import CollectionSource, FileSource, FunctionSource, LogSource, OffsetsInitializer
from ..stream.errors import JobConfigError
from ..stream.operators.base import failed_index
from .dead_letter import DeadLetterRouter


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode()`` (32-bit, over UTF-16 code units), for Flink's split assignment."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def split_owner(topic: str, partition: int, num_readers: int) -> int:
    """The source subtask that reads ``topic``/``partition``: Flink's Kafka source enumerator's rule
    (``((topic.hashCode() * 31) & 0x7FFFFFFF) % n`` plus the partition, modulo ``n``), so each subtask gets an
    even share of every topic's partitions."""
    start = ((java_string_hash(topic) * 31) & 0x7FFFFFFF) % num_readers
    return (start + partition) % num_readers


ThenFailed = Callable[[Exception, int, Any], None]
"""``then_failed(exc, index, element)``: told that the function a prepared read applies to its elements
(:meth:`PreparedReads.prepared_read`'s ``then``) raised ``exc`` on the batch's element ``index``."""


@runtime_checkable
class PreparedReads(Protocol):
    """A reader (``wakes_on_data``) that can prepare the read of one partition for a loop that reads it alone,
    round after round: one call a round, which also waits for data, instead of ``read`` and ``wait_for_data``."""

    def prepared_read(
        self, pid: Any, then: Callable[[Any], Any] | None = None, then_failed: ThenFailed | None = None
    ) -> Callable[[int, float], tuple[list[Any], list[Any]]] | None:
        """``read(max_records, timeout_s)``: what ``read(pid, max_records)`` returns, having first waited up to
        ``timeout_s`` (as ``wait_for_data``) when there is nothing to read yet; ``None`` where the reader has no
        such read of ``pid``. The reader's other partitions, if any, are not waited on. Only for a partition that
        does not end (``done(pid)`` stays false: an unbounded source) of a reader whose partitions stay as they
        are (no discovery).

        With ``then`` (the job's first ``map``, fused with the decoding), the read returns ``then`` of each
        element instead, each applied as its record is decoded, in the same pass: an element goes from its
        record through ``then`` while it is fresh, and no list of the decoded elements is built. The elements
        and the order of the calls are those of ``read`` followed by ``then`` per element, except when the batch
        fails: ``then`` has seen the elements before a record that fails to decode (as a job that handles one
        record at a time would have). When ``then`` raises, the position moves past the batch (it was handed
        over, as a read's batch is) and ``then_failed(exc, index, element)`` is called before the exception
        propagates; a record that fails to decode fails the read as without ``then``."""
        ...


class PipeSource(NamedTuple):
    """What a pipe of one partition of a reader into a log (:class:`~millstream.log.columns.ValuesPipes`) needs
    of the reader (:meth:`PipeSources.pipe_source`)."""

    handle: PartitionColumns
    """The partition's handle (the pipe reads through it)."""
    decode: Callable[[Any], Any]
    """A record value's element (bytes to element, in C where it can be), the function the read maps over a
    batch's values: deterministic, it raises on every value the read does not decode by it alone."""
    decode_record: Callable[[Record], Any]
    """A record's element as the read makes it when ``decode`` raises on its value: a tombstone's element where
    the format has one (JSON: ``None``), else the read's error, which names the record."""
    elements: Callable[[int, int, list[Any], list[Any]], tuple[list[Any], list[Any]]]
    """``elements(pos, nxt, values, timestamps)``: what ``read`` returns for the values read at ``pos`` (the
    position moved on to ``nxt`` once they are decoded)."""


@runtime_checkable
class PipeSources(Protocol):
    """A reader that lends one partition (its handle and its decoding) to a pipe into a log."""

    positions: dict[Any, int]
    """The next offset to read per partition: the pipe's user moves it on."""

    def pipe_source(self, pid: Any) -> PipeSource | None:
        """The :class:`PipeSource` of ``pid``, under the conditions of :meth:`PreparedReads.prepared_read`, for a
        loop that reads ``pid`` alone, round after round; ``None`` where the reader has none."""
        ...


@runtime_checkable
class SplitReader(Protocol):
    """A reader whose splits (partitions, files) can be spread over the parallel subtasks of its source."""

    def assign_subtask(self, index: int, parallelism: int) -> None:
        """Read only the splits of subtask ``index`` of ``parallelism`` (call before ``open``)."""


class SourceReader:
    """Base reader: one partition ``0`` unless overridden."""

    name = "source"
    bounded = True

    def open(self) -> None:
        """Acquire resources."""

    def partitions(self) -> list[Any]:
        return [0]

    def read(self, pid: Any, max_records: int) -> tuple[list[Any], list[Any]]:
        raise NotImplementedError

    def done(self, pid: Any) -> bool:
        return False

    #: whether :meth:`wait_for_data` blocks until data arrives (``False``: the job sleeps instead)
    wakes_on_data = False

    def wait_for_data(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` until a ``read`` may return elements; ``False`` at the timeout. Readers
        with ``wakes_on_data`` implement it; it must return within ``timeout_s`` (the job's cancel waits)."""
        return False

    def close(self) -> None:
        """Release resources (idempotent)."""


# -- collections -------------------------------------------------------------------------------------


class Fault:
    """A marker in a testing collection: reading it raises ``error`` (fault injection)."""

    def __init__(self, error: BaseException | str = "injected fault") -> None:
        self.error = error if isinstance(error, BaseException) else RuntimeError(error)

    def __repr__(self) -> str:
        return f"Fault({self.error!r})"


class Pause:
    """A marker in a testing collection: when reached, processing time advances by ``ms`` (a
    ``ManualClock`` is advanced; a real clock is slept on) and due processing-time timers fire."""

    def __init__(self, ms: int) -> None:
        self.ms = int(ms)

    def __repr__(self) -> str:
        return f"Pause({self.ms})"


class CollectionReader(SourceReader):
    """Elements of a collection, in order; ``Fault``/``Pause`` markers act as described on them.
    ``(value, timestamp)`` pairs are used when the descriptor has ``timestamps``."""

    def __init__(self, source: CollectionSource, clock: Clock) -> None:
        self.items = list(source.elements)
        self.tss = list(source.timestamps) if source.timestamps is not None else None
        self.clock = clock
        self.pos = 0
        self.name = source.name

    def read(self, pid: Any, max_records: int) -> tuple[list[Any], list[Any]]:
        items, pos = self.items, self.pos
        if pos < len(items):
            item = items[pos]
            if isinstance(item, Fault):
                self.pos += 1
                raise item.error
            if isinstance(item, Pause):
                self.pos += 1
                if isinstance(self.clock, ManualClock):
                    self.clock.advance(item.ms)
                else:
                    time.sleep(item.ms / 1000)
                return [], []
        end = min(len(items), pos + max_records)
        vals = items[pos:end]
        for j, v in enumerate(vals):
            if isinstance(v, Fault | Pause):
                end = pos + j
                vals = vals[:j]
                break
        self.pos = end
        tss = self.tss[pos:end] if self.tss is not None else [None] * len(vals)
        return vals, tss

    def done(self, pid: Any) -> bool:
        return self.pos >= len(self.items)

    def snapshot(self) -> int:
        """The index of the next element (for checkpoints)."""
        return self.pos

    def restore(self, pos: int) -> None:
        self.pos = pos


_TIMESTAMP, _VALUE = itemgetter(3), itemgetter(5)  # Record fields, read in C

# -- the log -----------------------------------------------------------------------------------------


def _json_loads_all(recs: list[Any], where: str) -> list[Any]:
    loads = orjson.loads
    try:
        return list(map(loads, map(_VALUE, recs)))  # in C: no Python frame per record
    except (orjson.JSONDecodeError, TypeError):
        out: list[Any] = []
        for r in recs:
            if r[5] is None:
                out.append(None)
                continue
            try:
                out.append(loads(r[5]))
            except orjson.JSONDecodeError as exc:
                raise SerdeError(
                    f"{where}: record at {r[0]}[{r[1]}] offset {r[2]} is not valid JSON ({exc}): {bytes(r[5])[:60]!r}",
                    hint="fix the producer, or read the topic with set_value_format('string' or 'bytes')",
                ) from exc
        return out


CONNECTOR_PROPERTIES = frozenset(
    {"partition.discovery.interval.ms", "commit.offsets.on.checkpoint", "client.id.prefix", "register.consumer.metrics"}
)
"""Flink source options that configure the connector itself and are not handed to the log's clients."""


class LogReader(SourceReader):
    """Reads a :class:`LogSource` through the ``Log`` API only (``read``, offsets, committed offsets),
    so it works on every backend. Partitions are ``TopicPartition``s; positions start as the starting
    offsets initializer says; bounded mode stops at the stopping offsets taken when the job starts."""

    def __init__(self, source: LogSource, log: Log | None = None) -> None:
        self.source = source
        self.name = source.name
        self._log = log
        self._own_log = log is None
        self.positions: dict[TopicPartition, int] = {}
        self.stops: dict[TopicPartition, int] = {}
        self.bounded = source.is_bounded
        self._last_discovery = 0.0
        self._read_values: Any = None
        self._wait: Any = None
        # handles on the partitions, where the log offers them (values-only reads): read and waited on
        # without a look-up of the partition per call
        self._columns: dict[TopicPartition, PartitionColumns] | None = None
        self._dead_letters: DeadLetterRouter | None = None
        self._subtask = (0, 1)
        fmt = source.value_format
        # debezium-json (Flink's name): each record becomes its changelog rows (+I/-U/+U/-D), or none (tombstone)
        self._changelog = DebeziumJsonFormat() if fmt == "debezium-json" and not source.deserializer else None
        # the function of the whole record that makes an element: the user's, or a schema-registry format's
        self._deserializer: Any = source.deserializer
        if source.value_registry is not None and source.deserializer is None:
            from ..schema_registry import RegistryDeserializer

            self._deserializer = RegistryDeserializer(source.value_registry)
        plain = fmt in ("json", "debezium-json") or self._deserializer
        self._serde = None if plain else get_serde(fmt, schema=source.avro_schema)
        if source.key_registry is not None:
            if self._changelog is not None:
                raise JobConfigError(
                    f"{source.name}: debezium-json values cannot be paired with keys (set_key_format)",
                    hint="drop set_key_format: the change events carry the row's key",
                )
            self._deserializer = self._with_keys(source)

    def _with_keys(self, source: LogSource) -> Any:
        """Elements ``(key, value)``: the key read in its schema-registry format, the value as configured."""
        from ..schema_registry import RegistryDeserializer

        assert source.key_registry is not None
        key = RegistryDeserializer(source.key_registry, is_key=True)
        value = self._deserializer
        if value is None:
            serde = self._serde
            if serde is not None:
                value = lambda r: serde.deserialize(r[5])  # noqa: E731
            else:
                name = source.name
                value = lambda r: _json_loads_all([r], name)[0]  # noqa: E731
        return lambda r: (key(r), value(r))

    def open(self) -> None:
        if self._log is None:
            opts: dict[str, Any] = {}
            props = {k: v for k, v in self.source.properties.items() if k not in CONNECTOR_PROPERTIES}
            if props:
                opts["properties"] = props
            self._log = open_log(self.source.log_url, **opts)
        if self.source.dead_letter_topic:  # routing needs whole records, so no values-only reads
            self._dead_letters = DeadLetterRouter(self._log, self.source.dead_letter_topic, self.source.name)
        elif self._deserializer is None and self._changelog is None:
            # the log may offer a cheaper read of values + timestamps only
            self._read_values = getattr(self._log, "read_values", None)
            if self._read_values is not None and isinstance(self._log, ColumnReads):
                self._columns = {}
        self._wait = getattr(self._log, "wait_for_records", None)  # optional hook: wake on data
        self.wakes_on_data = self._wait is not None
        self._discover()

    @property
    def log(self) -> Log:
        assert self._log is not None
        return self._log

    def _wanted(self) -> list[TopicPartition]:
        s = self.source
        if s.partitions:
            index, n = self._subtask
            return [TopicPartition(t, p) for t, p in s.partitions if n == 1 or split_owner(t, p, n) == index]
        topics: list[str] = list(s.topics)
        if s.topic_pattern:
            try:
                pat = re.compile(s.topic_pattern)
            except re.error as exc:
                raise JobConfigError(f"invalid topic pattern {s.topic_pattern!r}: {exc}") from exc
            topics += [t for t in self.log.list_topics() if pat.fullmatch(t) and t not in topics]
        out = []
        for t in topics:
            out.extend(self.log.describe_topic(t).partitions_list())  # UnknownTopicError names the topic
        index, n = self._subtask
        return out if n == 1 else [tp for tp in out if split_owner(tp.topic, tp.partition, n) == index]

    def assign_subtask(self, index: int, parallelism: int) -> None:
        """Read only the partitions :func:`split_owner` gives subtask ``index`` (also those discovered later)."""
        self._subtask = (index, parallelism)

    def _discover(self) -> None:
        new = [tp for tp in self._wanted() if tp not in self.positions]
        if not new:
            return
        ranges = self.log.offset_ranges(new)  # one round of requests for all of them (Kafka)
        starts = self._initial(self.source.starting_offsets, new, ranges, for_stop=False)
        if self.bounded:
            assert self.source.bounded is not None
            self.stops.update(self._initial(self.source.bounded, new, ranges, for_stop=True))
        for tp in new:
            self.positions[tp] = starts[tp]
            if self._columns is not None:
                assert isinstance(self._log, ColumnReads)
                self._columns[tp] = self._log.partition_columns(tp.topic, tp.partition)
        self._last_discovery = time.monotonic()

    def _initial(
        self,
        init: OffsetsInitializer,
        tps: list[TopicPartition],
        ranges: Mapping[TopicPartition, tuple[int, int]],
        *,
        for_stop: bool,
    ) -> dict[TopicPartition, int]:
        log = self.log
        out: dict[TopicPartition, int] = {}
        committed: dict[TopicPartition, int] = {}
        if init.kind == "committed" and self.source.group_id:
            committed = log.committed_offsets(self.source.group_id, tps)
        for tp in tps:
            earliest, latest = ranges[tp]
            reset = init.reset or "earliest"
            if init.kind == "earliest":
                off = earliest
            elif init.kind == "latest":
                off = latest
            elif init.kind == "timestamp":
                found = log.offset_for_timestamp(tp.topic, tp.partition, init.ts_ms or 0)
                off = latest if found is None else found
            elif init.kind == "committed":
                if tp in committed:
                    off = committed[tp]
                elif reset == "none":
                    raise JobConfigError(
                        f"no committed offset for {tp} in group {self.source.group_id!r}",
                        hint="use committed_offsets('earliest' or 'latest') or commit an offset first",
                    )
                else:
                    off = earliest if reset == "earliest" else latest
            else:  # offsets
                given = (init.offset_map or {}).get((tp.topic, tp.partition))
                fallback = latest if for_stop or reset == "latest" else earliest
                off = fallback if given is None else given
            if not for_stop:
                off = min(max(off, earliest), latest)
            out[tp] = off
        return out

    def partitions(self) -> list[Any]:
        if not self.bounded and self.source.topic_pattern:
            interval = (self.source.partition_discovery_ms or 1000) / 1000
            if time.monotonic() - self._last_discovery >= interval:
                self._discover()
        return list(self.positions)

    def done(self, pid: Any) -> bool:
        return self.bounded and self.positions[pid] >= self.stops.get(pid, 0)

    def wait_for_data(self, timeout_s: float) -> bool:
        """Block on the log's ``wait_for_records`` at the positions of the partitions not done."""
        positions = (
            {tp: off for tp, off in self.positions.items() if not self.done(tp)} if self.bounded else self.positions
        )
        if self._columns and len(positions) == 1:  # one partition: wait on its handle
            ((tp, offset),) = positions.items()
            handle = self._columns.get(tp)
            if handle is not None:
                return handle.wait(offset, max(0.0, timeout_s))
        if self._wait is None or not positions:
            time.sleep(max(0.0, timeout_s))  # nothing to wait on (yet): as long as asked, never a spin
            return False
        return bool(self._wait(positions, timeout_s * 1000))

    def read(self, pid: Any, max_records: int) -> tuple[list[Any], list[Any]]:
        pos = self.positions[pid]
        if self.bounded:
            max_records = min(max_records, self.stops[pid] - pos)
            if max_records <= 0:
                return [], []
        if self._read_values is not None:
            return self._read_columns(pid, pos, max_records)
        try:
            recs = self.log.read(pid.topic, pid.partition, pos, max_records=max_records)
        except OffsetOutOfRangeError as exc:
            # retention removed records ahead of us: continue at the log start, as Kafka's earliest reset
            self.positions[pid] = max(pos, exc.earliest)
            return [], []
        if not recs:
            return [], []
        if self.bounded and recs[-1].offset >= self.stops[pid]:
            recs = [r for r in recs if r.offset < self.stops[pid]]
            if not recs:
                self.positions[pid] = self.stops[pid]
                return [], []
        # the position moves past the records only once they are decoded: a record that fails the job (bad
        # data, an unreachable schema registry) is read again by the restarted job, never skipped
        nxt = recs[-1].offset + 1
        s = self.source
        if self._changelog is not None:
            out = self._changelog_rows(recs)
            self.positions[pid] = nxt
            return out
        try:
            if self._deserializer is not None:
                vals = list(map(self._deserializer, recs))
            elif self._serde is None:
                vals = _json_loads_all(recs, s.name)
            else:
                des = self._serde.deserialize
                vals = [des(r[5]) for r in recs]
        except Exception:
            if self._dead_letters is None:
                raise
            routed = self._dead_letters.decode(recs, self._decode_one)  # record by record, routing the bad ones
            self.positions[pid] = nxt
            return routed
        self.positions[pid] = nxt
        return vals, list(map(_TIMESTAMP, recs))

    def _changelog_rows(self, recs: list[Record]) -> tuple[list[Any], list[Any]]:
        """``debezium-json``: the changelog rows of the records, each with its record's timestamp; a record
        that is no change event fails the job naming it, or goes to the dead-letter topic."""
        fmt = self._changelog
        assert fmt is not None
        if self._dead_letters is not None:
            per, tss = self._dead_letters.decode(recs, lambda r: fmt.decode(r[5]))
        else:
            per = []
            for r in recs:
                try:
                    per.append(fmt.decode(r[5]))
                except SerdeError as exc:
                    raise SerdeError(
                        f"{self.source.name}: record at {r[0]}[{r[1]}] offset {r[2]} is not a Debezium change event: "
                        f"{exc.message}",
                        hint=exc.hint or "read the topic with another value format, or set a dead-letter topic",
                    ) from exc
            tss = list(map(_TIMESTAMP, recs))
        vals = [row for rows in per for row in rows]
        stamps = [ts for rows, ts in zip(per, tss, strict=True) for _ in rows]
        return vals, stamps

    def _decode_one(self, record: Record) -> Any:
        """One record's element (the dead-letter path decodes record by record)."""
        if self._deserializer is not None:
            return self._deserializer(record)
        if self._serde is not None:
            return self._serde.deserialize(record.value)
        return _json_loads_all([record], self.source.name)[0]

    def prepared_read(
        self, pid: Any, then: Callable[[Any], Any] | None = None, then_failed: ThenFailed | None = None
    ) -> Callable[[int, float], tuple[list[Any], list[Any]]] | None:
        """The read of ``pid`` prepared (:class:`PreparedReads`): an unbounded source reading one partition of a
        log with partition handles (Kafka) for values, through the handle's ``poll_values``; ``None`` otherwise
        (bounded, a topic pattern, dead-letter routing, whole-record formats, or a log without handles)."""
        handle = self._tailing_handle(pid)
        if handle is None:
            return None
        poll, positions, values, decode = handle.poll_values, self.positions, self._values, self._value_decoder()

        def read(max_records: int, timeout_s: float) -> tuple[list[Any], list[Any]]:
            pos = positions[pid]
            try:
                nxt, raw, tss = poll(pos, max_records, None, timeout_s)
            except OffsetOutOfRangeError as exc:  # as read: on at the log start
                positions[pid] = max(pos, exc.earliest)
                return [], []
            if not raw:
                return [], []
            if then is None:
                return values(pid, pos, nxt, raw, tss)
            # tombstones: decoded as read decodes them, then mapped; else each record decoded as it is mapped
            items = values(pid, pos, nxt, raw, tss)[0] if None in raw and self._serde is None else raw
            it = iter(items)
            try:
                out = list(map(then, it if items is not raw else map(decode, it)))  # (in C)
            except Exception as exc:
                i = failed_index(items, it)
                if items is raw:
                    try:
                        element = decode(raw[i])
                    except Exception:  # the record does not decode: the read fails on it, the record named
                        values(pid, pos, nxt, raw, tss)
                        raise
                else:
                    element = items[i]
                positions[pid] = nxt
                if then_failed is not None:
                    then_failed(exc, i, element)
                raise
            positions[pid] = nxt
            return out, tss

        return read

    def pipe_source(self, pid: Any) -> PipeSource | None:
        """The :class:`PipeSource` of ``pid`` (:class:`PipeSources`): where :meth:`prepared_read` has a read of
        ``pid``, its handle and decoding."""
        handle = self._tailing_handle(pid)
        if handle is None:
            return None
        values = self._values

        def elements(pos: int, nxt: int, raw: list[Any], tss: list[Any]) -> tuple[list[Any], list[Any]]:
            return values(pid, pos, nxt, raw, tss)

        return PipeSource(handle, self._value_decoder(), self._decode_one, elements)

    def _tailing_handle(self, pid: Any) -> PartitionColumns | None:
        """The handle of ``pid`` for a loop that tails it alone (:meth:`prepared_read`, :meth:`pipe_source`): an
        unbounded source without a topic pattern, reading values through the log's partition handles."""
        if self._columns is None or self.bounded or self.source.topic_pattern:
            return None
        return self._columns.get(pid)

    def _value_decoder(self) -> Callable[[Any], Any]:
        """The function a values-only read maps over a batch's values (JSON in C, else the format's serde)."""
        return orjson.loads if self._serde is None else self._serde.deserialize

    def _read_columns(self, pid: Any, pos: int, max_records: int) -> tuple[list[Any], list[Any]]:
        """``read`` through the log's ``read_values`` hook (values and timestamps only; Kafka)."""
        stop = self.stops[pid] if self.bounded else None
        assert self._read_values is not None
        handle = self._columns.get(pid) if self._columns else None
        try:
            if handle is not None:
                nxt, raw, tss = handle.read_values(pos, max_records, stop)
            else:
                nxt, raw, tss = self._read_values(pid.topic, pid.partition, pos, max_records=max_records, stop=stop)
        except OffsetOutOfRangeError as exc:
            self.positions[pid] = max(pos, exc.earliest)
            return [], []
        if not raw:
            if stop is not None and nxt >= stop:
                self.positions[pid] = stop
            return [], []
        return self._values(pid, pos, nxt, raw, tss)

    def _values(self, pid: Any, pos: int, nxt: int, raw: list[Any], tss: list[Any]) -> tuple[list[Any], list[Any]]:
        """The elements of the values ``raw`` read at ``pos`` (decoded; a value that is not JSON is named through
        its record), the position moved on to ``nxt`` once they are."""
        if self._serde is None:
            try:
                vals = list(map(orjson.loads, raw))
            except (orjson.JSONDecodeError, TypeError):  # tombstones, or bad JSON: say which record
                vals = _json_loads_all(self.log.read(pid.topic, pid.partition, pos, max_records=len(raw)), self.name)
        else:
            vals = list(map(self._serde.deserialize, raw))
        self.positions[pid] = nxt
        return vals, tss

    def snapshot(self) -> dict[tuple[str, int], int]:
        """The next offset to read per partition (for checkpoints)."""
        return {(tp.topic, tp.partition): off for tp, off in self.positions.items()}

    def restore(self, positions: dict[tuple[str, int], int]) -> None:
        """Continue from ``snapshot()`` positions (call after ``open``)."""
        for (topic, partition), off in positions.items():
            self.positions[TopicPartition(topic, partition)] = off

    #: commit the positions to the group when closing; off under checkpointing, where offsets are
    #: committed when a checkpoint completes (so the group never runs ahead of committed output)
    commit_on_close = True

    def commit(self, positions: dict[tuple[str, int], int] | None = None) -> None:
        """Commit ``positions`` (``snapshot()`` form; default: the current ones) to the source's group."""
        if not (self.source.group_id and self.source.commit_offsets and self._log is not None):
            return
        offsets = (
            dict(self.positions)
            if positions is None
            else {TopicPartition(t, p): off for (t, p), off in positions.items()}
        )
        if offsets:
            self.log.commit_offsets(self.source.group_id, offsets)

    def close(self) -> None:
        if self._log is None:
            return
        try:
            if self.commit_on_close:
                self.commit()
        finally:
            if self._own_log:
                self._log.close()
            self._log = None


# -- files -------------------------------------------------------------------------------------------


class FileReader(SourceReader):
    """Lines of the files, one file after another (text: ``str`` without the newline; json: parsed)."""

    def __init__(self, source: FileSource) -> None:
        self.source = source
        self.name = source.name
        self._files = list(source.paths)
        self._fh: Any = None
        self._finished = False
        self._lineno = 0

    def assign_subtask(self, index: int, parallelism: int) -> None:
        """Read every ``parallelism``-th file, starting with file ``index`` (call before ``open``)."""
        self._files = list(self.source.paths)[index::parallelism]
        self._no_split = not self._files

    _no_split = False

    def partitions(self) -> list[Any]:
        """One split (``0``: the files in turn), or none for a subtask that was given no file."""
        return [] if self._no_split else [0]

    def _next_file(self) -> bool:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if not self._files:
            self._finished = True
            return False
        path = self._files.pop(0)
        try:
            self._fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed in close()/_next_file
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        self._path = path
        self._lineno = 0
        return True

    def read(self, pid: Any, max_records: int) -> tuple[list[Any], list[Any]]:
        if self._finished:
            return [], []
        if self._fh is None and not self._next_file():
            return [], []
        lines = []
        for line in self._fh:
            lines.append(line[:-1] if line.endswith("\n") else line)
            if len(lines) >= max_records:
                break
        if not lines:
            self._next_file()
            return [], []
        start = self._lineno
        self._lineno += len(lines)
        if self.source.format == "json":
            out = []
            for j, line in enumerate(lines):
                if not line.strip():
                    continue
                try:
                    out.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    raise SerdeError(f"{self._path} line {start + j + 1} is not valid JSON ({exc})") from exc
            lines = out
        return lines, [None] * len(lines)

    def done(self, pid: Any) -> bool:
        return self._finished

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# -- source functions --------------------------------------------------------------------------------


class _Ctx:
    def __init__(self, q: queue.Queue[Any], stop: threading.Event) -> None:
        self.q = q
        self.stop = stop

    def collect(self, value: Any) -> None:
        self.collect_with_timestamp(value, None)

    def collect_with_timestamp(self, value: Any, timestamp: int | None) -> None:
        while not self.stop.is_set():
            try:
                self.q.put((value, timestamp), timeout=0.05)
                return
            except queue.Full:
                continue

    def emit_watermark(self, watermark: Any) -> None:
        pass

    def mark_as_temporarily_idle(self) -> None:
        pass

    def get_checkpoint_lock(self) -> threading.Lock:
        return threading.Lock()


_END = object()


class FunctionReader(SourceReader):
    """A generator function (pulled in this thread) or a ``SourceFunction`` (its ``run(ctx)`` runs in a
    helper thread feeding a bounded queue; an exception in it fails the job)."""

    def __init__(self, source: FunctionSource) -> None:
        self.fn = source.function
        self.name = source.name
        self._it: Iterator[Any] | None = None
        self._thread: threading.Thread | None = None
        self._q: queue.Queue[Any] = queue.Queue(maxsize=10_000)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._finished = False

    def open(self) -> None:
        if hasattr(self.fn, "run"):
            ctx = _Ctx(self._q, self._stop)

            def run() -> None:
                try:
                    self.fn.run(ctx)
                except BaseException as exc:  # handed to the job thread
                    self._error = exc
                finally:
                    while not self._stop.is_set():
                        try:
                            self._q.put(_END, timeout=0.05)
                            break
                        except queue.Full:
                            continue

            self._thread = threading.Thread(target=run, name=f"source-{self.name}", daemon=True)
            self._thread.start()
        else:
            self._it = iter(self.fn())

    def read(self, pid: Any, max_records: int) -> tuple[list[Any], list[Any]]:
        vals: list[Any] = []
        tss: list[Any] = []
        if self._it is not None:
            for v in self._it:
                vals.append(v)
                tss.append(None)
                if len(vals) >= max_records:
                    return vals, tss
            self._finished = True
            return vals, tss
        try:
            item = self._q.get(timeout=0.01)
        except queue.Empty:
            return vals, tss
        while True:
            if item is _END:
                self._finished = True
                if self._error is not None:
                    raise self._error
                break
            vals.append(item[0])
            tss.append(item[1])
            if len(vals) >= max_records:
                break
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
        return vals, tss

    def done(self, pid: Any) -> bool:
        return self._finished

    def close(self) -> None:
        self._stop.set()
        cancel = getattr(self.fn, "cancel", None)
        if cancel is not None and self._thread is not None:
            cancel()
        if self._thread is not None:
            self._thread.join(timeout=5)


CANCEL_SLICE_S = 0.1
"""The longest a job thread blocks in one reader's ``wait_for_data``: a cancel or stop waits at most this."""
_SLICE_S = 0.001


def wait_for_data(readers: list[SourceReader], timeout_s: float, interrupted: Callable[[], bool]) -> bool:
    """Block up to ``timeout_s`` until one of ``readers`` (each ``wakes_on_data``) may have elements;
    ``False`` at the timeout or once ``interrupted()`` (a cancel or stop). One reader blocks in its own wait
    (in slices of :data:`CANCEL_SLICE_S`, so a cancel is seen); several take turns in blocking waits of
    1 ms each, as no one wait covers them all."""
    if len(readers) == 1 and timeout_s <= CANCEL_SLICE_S:  # one wait covers it (a job's source, waiting idle_s)
        return False if interrupted() else readers[0].wait_for_data(timeout_s)
    deadline = time.monotonic() + timeout_s
    step = CANCEL_SLICE_S if len(readers) == 1 else _SLICE_S
    while not interrupted():
        for reader in readers:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if reader.wait_for_data(min(step, remaining)):
                return True
    return False


def make_reader(descriptor: Any, clock: Clock) -> SourceReader:
    """The reader for a source descriptor."""
    if isinstance(descriptor, SourceReader):
        return descriptor
    if isinstance(descriptor, CollectionSource):
        return CollectionReader(descriptor, clock)
    if isinstance(descriptor, LogSource):
        return LogReader(descriptor)
    if isinstance(descriptor, FileSource):
        return FileReader(descriptor)
    if isinstance(descriptor, FunctionSource):
        return FunctionReader(descriptor)
    reader = getattr(descriptor, "create_reader", None)
    if reader is not None:
        return reader(clock)
    raise JobConfigError(f"don't know how to read from {type(descriptor).__name__}")


__all__ = [
    "CollectionReader",
    "Fault",
    "FileReader",
    "FunctionReader",
    "LogReader",
    "Pause",
    "PipeSource",
    "PipeSources",
    "PreparedReads",
    "SourceReader",
    "SplitReader",
    "make_reader",
    "split_owner",
    "wait_for_data",
]
