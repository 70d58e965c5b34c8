"""Sink operators: the ends of a job graph, bound to real writers (the log, files, stdout, functions,
in-memory collection). Each is an :class:`~millstream.stream.operators.base.Operator` that writes every
batch it gets; ``close()`` flushes and releases."""

from __future__ import annotations

import sys
from collections.abc import Callable
from itertools import repeat
from typing import Any, NamedTuple

import orjson

from ..core.debezium_json import DebeziumJsonFormat
from ..core.record import ProducerRecord
from ..core.serde import get_serde
from ..log import Log, open_log
from ..log.columns import ValuesPipes, ValuesWriters
from ..log.partitioner import partition_for_key
from ..stream.connectors import DeliveryGuarantee, FileSink, FunctionSink, LogSink, PrintSink
from ..stream.errors import JobConfigError
from ..stream.operators.base import Operator, failed_index
from ..stream.operators.basic import annotate

_new = tuple.__new__
ROUND_LIMIT = 50_000  # records a log sink holds back within one round of the job loop
DIRECT_BATCH = 32  # keyless batches at least this long go to a log with append_values_nowait at once (see process)
_PARTITION_CACHE = 100_000  # keys whose partition a log sink remembers (murmur2 in Python costs ~2.5 us a key)


class PipeTarget(NamedTuple):
    """Where a pipe writes a log sink's records (:meth:`LogSinkOperator.pipe_target`)."""

    log: ValuesPipes
    topic: str
    serialize: Callable[[Any], bytes | None]


class SinkOperator(Operator):
    """Base of sinks: counts written elements in ``written``."""

    written = 0


class LogSinkOperator(SinkOperator):
    """Appends elements to the log, one ``append`` per partition and batch (keyed records are placed by
    murmur2 as in Kafka). Record timestamps are the elements' timestamps (``None``: the log's append time).

    With ``DeliveryGuarantee.EXACTLY_ONCE`` the sink is ``transactional``: records are kept in ``pending``
    until the checkpoint coordinator takes them (:meth:`take_pending`) and appends them in the checkpoint's
    log transaction, together with the source offsets and the checkpoint marker (see
    :mod:`millstream.runtime.checkpointing`). Pending records of a failed job are dropped: the restored
    job produces them again. On Kafka the coordinator sets ``txn`` (an open Kafka transaction, see
    :mod:`millstream.runtime.kafka_exactly_once`) and records go into it instead of ``pending``."""

    #: keyless batches at least this long go to a log with ``append_values_nowait`` at once, shorter ones are
    #: gathered until the end of the round (:data:`DIRECT_BATCH`; a loop that hands over one batch per round,
    #: such as the lean loop, sets 1: there is nothing to gather)
    direct_batch = DIRECT_BATCH

    def __init__(self, name: str, uid: str | None, sink: LogSink, log: Log | None = None) -> None:
        super().__init__(name, uid)
        self.transactional = sink.delivery_guarantee == DeliveryGuarantee.EXACTLY_ONCE
        self.pending: dict[tuple[str, int], list[Any]] = {}
        self.sink = sink
        self._log = log
        self._own = log is None
        fmt = sink.value_format
        self._ser: Callable[[Any], bytes | None]
        # schema-registry formats serialize per topic (the subject is named after it): see _registry_serializers
        self._ser_for, self._key_ser_for = _registry_serializers(sink)
        if self._ser_for is not None:
            self._ser = self._ser_for(sink.topic) if sink.topic else _unused
        elif sink.serializer is not None:
            self._ser = sink.serializer
        elif fmt == "json":
            self._ser = orjson.dumps
        elif fmt == "debezium-json":  # changelog rows as Debezium events, as Flink's debezium-json writes them
            self._ser = DebeziumJsonFormat().encode
        else:
            self._ser = get_serde(fmt, schema=sink.avro_schema).serialize
        self._key_ser = (sink.key_serializer or get_serde(sink.key_format).serialize) if sink.key_selector else None
        if self._key_ser_for is not None and sink.key_selector:
            self._key_ser = self._key_ser_for(sink.topic) if sink.topic else _unused
        self._nparts: dict[str, int] = {}
        self._rr = 0
        self._pcache: dict[int, dict[bytes, int]] = {}  # partitions -> {key bytes: partition}
        self._send: Any = None  # the log's append, or its append_nowait where it has one (Kafka)
        self.txn: Any = None  # exactly-once on Kafka: the open transaction the records go into
        # at-least-once: the records of one round of the job loop, per (topic, partition), appended together at
        # its end (end_of_round) — a window firing many times in a round costs one log write, not one each
        self._round: dict[tuple[str, int], list[Any]] = {}
        self._round_size = 0
        # keyless records of the round as columns ``[values, timestamps]`` per (topic, partition), for logs with
        # an ``append_values_nowait`` hook (Kafka): no record tuple is built per element
        self._round_values: dict[tuple[str, int], tuple[list[Any], list[Any]]] = {}
        self._send_values: Any = None

    def open(self) -> None:
        if self._log is None:
            opts: dict[str, Any] = {}
            if self.sink.properties:
                opts["properties"] = dict(self.sink.properties)
            self._log = open_log(self.sink.log_url, **opts)
        if self.sink.topic:
            self._log.describe_topic(self.sink.topic)  # fail fast on a missing topic
            prepare = getattr(self._log, "prepare_writes", None)
            # e.g. Kafka: connect the producer now, not on the first record (exactly-once: a transaction does)
            if prepare is not None and not self.transactional:
                prepare(self.sink.topic)
        # Logs that can (Kafka) take batches without waiting for each acknowledgement; close() waits for all
        self._send = getattr(self._log, "append_nowait", None) or self._log.append
        if not self.transactional:
            self._send_values = getattr(self._log, "append_values_nowait", None)

    @property
    def log(self) -> Log:
        assert self._log is not None, "the sink is not open"
        return self._log

    def take_pending(self) -> dict[tuple[str, int], list[Any]]:
        """The records written since the last call, per (topic, partition), and forget them."""
        out, self.pending = self.pending, {}
        return out

    def _append(self, topic: str, p: int, recs: list[Any]) -> None:
        if self.txn is not None:
            self.txn.append(topic, p, recs)
        elif self.transactional:
            buf = self.pending.get((topic, p))
            if buf is None:
                self.pending[(topic, p)] = recs
            else:
                buf.extend(recs)
        else:
            buf = self._round.get((topic, p))
            if buf is None:
                self._round[(topic, p)] = recs
            else:
                buf.extend(recs)
            self._round_size += len(recs)
            if self._round_size >= ROUND_LIMIT:
                self.end_of_round()

    def end_of_round(self) -> None:
        """Append the records of this round of the job loop (one write per partition)."""
        if self._round:
            rounds, self._round, self._round_size = self._round, {}, 0
            for (topic, p), recs in rounds.items():
                self._send(topic, p, recs)
        if self._round_values:
            columns, self._round_values, self._round_size = self._round_values, {}, 0
            for (topic, p), (values, tss) in columns.items():
                self._send_values(topic, p, values, tss)

    def _partitions(self, topic: str) -> int:
        n = self._nparts.get(topic)
        if n is None:
            assert self._log is not None
            n = self._nparts[topic] = self._log.describe_topic(topic).partitions
        return n

    def _next_partition(self, topic: str) -> int:
        """The partition of the next keyless batch to ``topic`` (Kafka's sticky partitioning: one batch to one
        partition, the next batch to the next)."""
        p = self._rr % (self._nparts.get(topic) or self._partitions(topic))
        self._rr += 1
        return p

    def _write(self, topic: str, values: list[Any], keys: list[Any] | None, tss: list[Any]) -> None:
        """Keyed records go to ``murmur2(key) % partitions``; a keyless batch goes to one partition, the next
        batch to the next (Kafka's sticky partitioning)."""
        assert self._log is not None
        if keys is None:
            p = self._next_partition(topic)
            if self._send_values is not None and self.txn is None:  # at-least-once on Kafka: columns
                cols = self._round_values.get((topic, p))
                if cols is None:
                    self._round_values[(topic, p)] = (values, list(tss))
                else:
                    cols[0].extend(values)
                    cols[1].extend(tss)
                self._round_size += len(values)
                if self._round_size >= ROUND_LIMIT:
                    self.end_of_round()
                return
            m = len(values)  # ProducerRecords built in C: every log takes them as they are
            rows = zip(values, repeat(None, m), tss, repeat((), m), repeat(None, m), strict=True)
            self._append(topic, p, list(map(_new, repeat(ProducerRecord, m), rows)))
            return
        n = self._nparts.get(topic) or self._partitions(topic)
        if n == 1:  # every key lands on partition 0: no hashing
            self._append(topic, 0, list(zip(values, keys, tss)))  # noqa: B905 - same lengths by construction
            return
        cache = self._pcache.get(n)
        if cache is None or len(cache) > _PARTITION_CACHE:
            cache = self._pcache[n] = {}
        groups: dict[int, list[Any]] = {}
        for v, k, t in zip(values, keys, tss):  # noqa: B905 - same lengths by construction
            if k is None:
                p = self._rr % n
            else:
                p = cache.get(k)  # type: ignore[assignment]
                if p is None:
                    p = cache[k] = partition_for_key(k, n)
            g = groups.get(p)
            if g is None:
                g = groups[p] = []
            g.append((v, k, t))
        for p, recs in groups.items():
            self._append(topic, p, recs)

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        if not vals:
            return
        ser, s = self._ser, self.sink
        if s.topic_selector is not None and (self._ser_for or self._key_ser_for):
            self._process_per_topic(vals, tss)
            return
        direct = self._send_values is not None and self.txn is None and self._key_ser is None
        if direct and len(vals) >= self.direct_batch and s.topic is not None and s.topic_selector is None:
            self._send_direct(s.topic, vals, tss)
            self.seen += len(vals)
            self.written += len(vals)
            return
        it = iter(vals)
        try:
            if ser is orjson.dumps:
                # orjson returns bytes with a large spare capacity; copying each into an exact-size object
                # is ~4x cheaper than keeping thousands of those oversized buffers alive until the append
                mv = memoryview
                values: list[bytes | None] = [mv(ser(v)).tobytes() for v in it]
            else:
                values = [ser(v) for v in it]
            keys = None
            if self._key_ser is not None:
                it = iter(vals)
                ks, kser = s.key_selector, self._key_ser
                keys = [kser(ks(v)) for v in it]  # type: ignore[misc]
        except Exception as exc:
            i = failed_index(vals, it)
            annotate(exc, self, self.seen + i, vals[i])
            raise
        if s.topic_selector is None:
            assert s.topic is not None
            self._write(s.topic, values, keys, tss)
        else:
            by_topic: dict[str, list[int]] = {}
            for j, v in enumerate(vals):
                by_topic.setdefault(s.topic_selector(v), []).append(j)
            for topic, idx in by_topic.items():
                sub_keys = None if keys is None else [keys[j] for j in idx]
                self._write(topic, [values[j] for j in idx], sub_keys, [tss[j] for j in idx])
        self.seen += len(vals)
        self.written += len(vals)

    def _send_direct(self, topic: str, vals: list[Any], tss: list[Any]) -> None:
        """A long keyless batch at least-once on a log with ``append_values_nowait`` (Kafka): handed over now,
        each element serialized as the producer takes it, so no serialized value outlives its produce call
        (holding many of them costs more than producing them). What the round held back goes first, so each
        partition keeps the order of the elements. A value that fails to serialize fails the batch naming it
        (the values before it are queued: at least once)."""
        p = self._next_partition(topic)
        if self._round_values:
            self.end_of_round()
        ser = self._ser
        try:
            self._send_values(topic, p, vals, tss, ser)
        except Exception as exc:
            self._name_failed(exc, vals)
            raise

    def prepared_write(self) -> Callable[[list[Any], list[Any]], None] | None:
        """``process(vals, tss, ...)`` prepared for a loop that hands over one batch a round (the lean loop):
        ``write(vals, tss)`` writes the batch as ``process`` writes a keyless batch to a fixed topic at least once
        (the next partition in turn, each element serialized as the producer takes it, a failing element named)
        through the log's prepared writers of the topic's partitions
        (:class:`~millstream.log.columns.ValuesWriters`). ``None`` where that is not how ``process`` writes:
        exactly once, keys, a topic selector, or a log without prepared writers. Call after ``open``, in a job
        without checkpoints (a checkpoint's transaction is not looked for)."""
        log, topic = self._log, self._values_topic()
        if topic is None or not isinstance(log, ValuesWriters):
            return None
        ser = self._ser
        writers = [log.values_writer(topic, p) for p in range(self._partitions(topic))]
        n_writers = len(writers)

        def write(vals: list[Any], tss: list[Any]) -> None:
            if not vals:
                return
            if self._round_values or self._round:  # (held back by an earlier process call: they go first)
                self.end_of_round()
            writer = writers[self._rr % n_writers]  # sticky partitioning, as _next_partition
            self._rr += 1
            try:
                writer(vals, tss, ser)
            except Exception as exc:
                self._name_failed(exc, vals)
                raise
            self.seen += len(vals)
            self.written += len(vals)

        return write

    def _values_topic(self) -> str | None:
        """The topic ``process`` writes every batch to as keyless values at least once, through the log's
        ``append_values_nowait`` (the next partition in turn); ``None`` where it writes otherwise: exactly once,
        keys, a topic selector, or a log without that hook."""
        s = self.sink
        if (
            self.transactional
            or self.txn is not None
            or self._send_values is None
            or self._key_ser is not None
            or s.topic_selector is not None
        ):
            return None
        return s.topic

    def pipe_target(self) -> PipeTarget | None:
        """Where a pipe (:class:`~millstream.log.columns.ValuesPipes`) writes what :meth:`prepared_write` would
        write: the sink's log, topic and serializer (the topic's partition count known); ``None`` where there is
        no prepared write or the log has no pipes. The pipe's user writes each batch to the partition in turn
        (:meth:`partition_in_turn`) and counts its elements (:meth:`piped`). Call after ``open``, in a job without
        checkpoints."""
        log, topic = self._log, self._values_topic()
        if topic is None or not isinstance(log, ValuesPipes):
            return None
        if self._round_values or self._round:  # (held back by an earlier process call: they go first)
            self.end_of_round()
        self._partitions(topic)
        return PipeTarget(log, topic, self._ser)

    def partition_in_turn(self) -> int:
        """The partition of the sink's topic the next keyless batch goes to (sticky partitioning, as ``process``
        takes them; for a pipe's user, see :meth:`pipe_target`)."""
        return self._rr % self._nparts[self.sink.topic]  # type: ignore[index]

    def piped(self, n: int) -> int:
        """Count a batch of ``n`` elements written through a pipe to the partition in turn; returns the next
        partition in turn."""
        self.seen += n
        self.written += n
        self._rr += 1
        return self._rr % self._nparts[self.sink.topic]  # type: ignore[index]

    def _name_failed(self, exc: Exception, vals: list[Any]) -> None:
        """Name the first element of ``vals`` that fails to serialize in ``exc`` (serializers are deterministic;
        none: the failure is not a value's)."""
        ser = self._ser
        for i, v in enumerate(vals):
            try:
                ser(v)
            except Exception:
                annotate(exc, self, self.seen + i, v)
                break

    def _process_per_topic(self, vals: list[Any], tss: list[Any]) -> None:
        """A topic selector with a schema-registry format: each topic's elements with that topic's serializers."""
        s = self.sink
        assert s.topic_selector is not None
        by_topic: dict[str, list[int]] = {}
        for j, v in enumerate(vals):
            by_topic.setdefault(s.topic_selector(v), []).append(j)
        for topic, idx in by_topic.items():
            ser = self._ser_for(topic) if self._ser_for is not None else self._ser
            kser = self._key_ser
            if self._key_ser_for is not None and s.key_selector is not None:
                kser = self._key_ser_for(topic)
            values: list[bytes | None] = []
            keys: list[Any] | None = None if kser is None else []
            for j in idx:
                try:
                    values.append(ser(vals[j]))
                    if keys is not None:
                        keys.append(kser(s.key_selector(vals[j])))  # type: ignore[misc]
                except Exception as exc:
                    annotate(exc, self, self.seen + j, vals[j])
                    raise
            self._write(topic, values, keys, [tss[j] for j in idx])
        self.seen += len(vals)
        self.written += len(vals)

    def flush_writes(self) -> None:
        """Wait until every element written so far is acknowledged by the log (raises a delivery error)."""
        self.end_of_round()
        flush = getattr(self._log, "flush_writes", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        if self._log is None:
            return
        try:
            self.flush_writes()
        finally:
            if self._own:
                self._log.close()
            self._log = None


def _unused(value: Any) -> bytes | None:
    raise AssertionError("a topic selector's records are serialized per topic")


def _registry_serializers(sink: LogSink) -> tuple[Any, Any]:
    """``topic -> serializer`` for the sink's schema-registry value and key formats (``None`` where it has none)."""
    if sink.value_registry is None and sink.key_registry is None:
        return None, None
    from ..schema_registry import RegistrySerializer

    value = RegistrySerializer(sink.value_registry).for_topic if sink.value_registry is not None else None
    key = RegistrySerializer(sink.key_registry, is_key=True).for_topic if sink.key_registry is not None else None
    return value, key


class FileSinkOperator(SinkOperator):
    """Writes one line per element (text: ``str(v)``, json: JSON)."""

    def __init__(self, name: str, uid: str | None, sink: FileSink) -> None:
        super().__init__(name, uid)
        self.sink = sink
        self._fh: Any = None

    def open(self) -> None:
        self._fh = open(self.sink.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        if not vals:
            return
        if self.sink.format == "json":
            lines = [orjson.dumps(v).decode() for v in vals]
        else:
            lines = [str(v) for v in vals]
        self._fh.write("\n".join(lines) + "\n")
        self.written += len(vals)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class PrintSinkOperator(SinkOperator):
    """Prints ``str(value)`` per line (prefixed ``"<identifier>> "`` when an identifier is given)."""

    def __init__(self, name: str, uid: str | None, sink: PrintSink) -> None:
        super().__init__(name, uid)
        self.sink = sink

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        if not vals:
            return
        prefix = f"{self.sink.identifier}> " if self.sink.identifier else ""
        stream = sys.stderr if self.sink.stderr else sys.stdout
        stream.write("".join(f"{prefix}{v}\n" for v in vals))
        self.written += len(vals)


class _SinkContext:
    __slots__ = ("_ts", "_wm")

    def __init__(self) -> None:
        self._ts: Any = None
        self._wm = 0

    def timestamp(self) -> Any:
        return self._ts

    def current_watermark(self) -> int:
        return self._wm


class FunctionSinkOperator(SinkOperator):
    """Calls a ``SinkFunction.invoke(value, context)`` or a plain ``callable(value)`` per element."""

    def __init__(self, name: str, uid: str | None, sink: FunctionSink) -> None:
        super().__init__(name, uid)
        self.fn = sink.function
        self.user_fn = sink.function if hasattr(sink.function, "invoke") else None
        self._ctx = _SinkContext()

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        invoke = getattr(self.fn, "invoke", None)
        i = 0
        try:
            if invoke is not None:
                ctx = self._ctx
                for i, v in enumerate(vals):
                    ctx._ts, ctx._wm = tss[i], wmb[i]
                    invoke(v, ctx)
            else:
                fn = self.fn
                for i, v in enumerate(vals):  # noqa: B007
                    fn(v)
        except Exception as exc:
            annotate(exc, self, self.seen + i, vals[i])
            raise
        self.seen += len(vals)
        self.written += len(vals)


class CollectOperator(SinkOperator):
    """Appends elements (and their timestamps) to in-memory lists (``execute_and_collect``, testing)."""

    def __init__(
        self,
        name: str,
        uid: str | None,
        results: list[Any] | None = None,
        timestamps: list[Any] | None = None,
    ) -> None:
        super().__init__(name, uid)
        self.results: list[Any] = results if results is not None else []
        self.timestamps = timestamps

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        self.results.extend(vals)
        if self.timestamps is not None:
            self.timestamps.extend(tss)
        self.written += len(vals)


def make_sink(name: str, uid: str | None, descriptor: Any) -> SinkOperator:
    """The sink operator for a sink descriptor."""
    if isinstance(descriptor, LogSink):
        return LogSinkOperator(name, uid, descriptor)
    if isinstance(descriptor, FileSink):
        if descriptor.delivery_guarantee == DeliveryGuarantee.EXACTLY_ONCE:
            from .two_phase import ExactlyOnceFileSink, TwoPhaseCommitSinkOperator

            return TwoPhaseCommitSinkOperator(name, uid, ExactlyOnceFileSink(descriptor, uid or name))
        return FileSinkOperator(name, uid, descriptor)
    if isinstance(descriptor, PrintSink):
        return PrintSinkOperator(name, uid, descriptor)
    if isinstance(descriptor, FunctionSink):
        return FunctionSinkOperator(name, uid, descriptor)
    from .two_phase import TwoPhaseCommitSink, TwoPhaseCommitSinkOperator

    if isinstance(descriptor, TwoPhaseCommitSink):
        return TwoPhaseCommitSinkOperator(name, uid, descriptor)
    factory = getattr(descriptor, "create_operator", None)
    if factory is not None:
        return factory(name, uid)
    raise JobConfigError(f"don't know how to write to {type(descriptor).__name__}")


__all__ = [
    "CollectOperator",
    "FileSinkOperator",
    "FunctionSinkOperator",
    "LogSinkOperator",
    "PipeTarget",
    "PrintSinkOperator",
    "SinkOperator",
    "make_sink",
]
