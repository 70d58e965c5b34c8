"""Runs Kafka-Connect connectors inside a job: :class:`ConnectorReader` (a source) and
:class:`ConnectorSinkOperator` (a sink), bound to the stream layer's ``ConnectorSource``/``ConnectorSink``.

Source, per reader (the job thread drives it; nothing runs on threads of its own):

  1. instantiate the connector (if given a class), ``initialize(context)``, ``start(config)``;
  2. ``task_configs(max_tasks)`` → one :class:`~millstream.connect.api.SourceTask` per config, each one a
     partition of this source; ``initialize(SourceTaskContext)`` whose offset reader answers from the offsets
     restored from a checkpoint, then ``start(task_config)``;
  3. ``read(pid)`` calls that task's ``poll()``, applies the connector's ``transforms`` (dropped records
     vanish), and hands out each record's value (or, with ``value.converter`` set, the converter's bytes)
     with the record's timestamp as event time. The latest ``source_offset`` per ``source_partition`` is
     kept: :meth:`ConnectorReader.snapshot` returns them for the job's checkpoint and
     :meth:`ConnectorReader.restore` reinstates them (tasks already started are restarted so that they
     read their resume point again);
  4. ``close()`` stops the tasks, then the connector.

A task (or seed-style connector) ends its input by raising ``StopIteration`` from ``poll``; otherwise the
source is unbounded, as connectors are. The seed article's shape — a ``SourceConnector`` subclass with its
own ``start()/poll()/stop()`` and no task class — is run directly: ``poll()`` may return a value, a list of
values (``SourceRecord`` s give their value) or ``None``.

Sink: the connector's one task gets ``open([tp])``, then ``put`` of each batch as ``SinkRecord`` s (topic: the
config's first ``topics`` entry, else the sink's name; partition 0; offsets count elements), after the
connector's ``transforms``; ``flush`` on every checkpoint (``snapshot``) and on close. ``RetriableError``
from ``put`` is retried (after ``context.timeout(ms)`` if the task set one). A seed-style sink connector
with its own ``put(values)`` gets the plain values.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Collection, Mapping
from typing import Any

from ..connect.api import ConnectorContext, OffsetStorageReader, SinkTaskContext, SourceTaskContext
from ..connect.connector_config import TransformationChain, build_chain
from ..connect.data import SinkRecord, SourceRecord
from ..connect.errors import RetriableError
from ..connect.plugins import REGISTRY
from ..connect.storage import partition_key
from ..core.clock import Clock
from ..core.record import TopicPartition
from ..stream.connector_descriptors import ConnectorSink, ConnectorSource
from ..stream.errors import JobConfigError
from ..stream.operators.basic import annotate
from .sinks import SinkOperator
from .sources import SourceReader


class _RestoredOffsets(OffsetStorageReader):
    """Source offsets restored from a checkpoint, for the tasks' ``offset_storage_reader()``."""

    def __init__(self, offsets: Mapping[bytes, Mapping[str, Any]]) -> None:
        self._offsets = dict(offsets)

    def offsets(self, partitions: Collection[Mapping[str, Any]]) -> dict[Any, dict[str, Any]]:
        out: dict[Any, dict[str, Any]] = {}
        for p in partitions:
            key = partition_key(p)
            if key in self._offsets:
                out[key] = dict(self._offsets[key])
        return out


def _str_props(config: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in config.items()}


def _instance(connector: Any) -> Any:
    return connector() if isinstance(connector, type) else connector


def _takes_args(method: Any) -> bool:
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


def _converter(config: Mapping[str, Any], which: str) -> Any:
    key = f"{which}.converter"
    if not config.get(key):
        return None
    conv = REGISTRY.load(str(config[key]), "converter")()
    prefix = key + "."
    conv.configure({k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)}, which == "key")
    return conv


def _is_seed_style_source(conn: Any) -> bool:
    return callable(getattr(conn, "poll", None))


class ConnectorReader(SourceReader):
    """A :class:`SourceReader` that runs a source connector's tasks (see the module docstring)."""

    def __init__(self, source: ConnectorSource, clock: Clock | None = None) -> None:
        self.source = source
        self.name = source.name
        self.props = _str_props(source.config)
        self.conn: Any = None
        self.seed_style = False
        self.tasks: list[Any] = []
        self.task_configs: list[dict[str, str]] = []
        self.offsets: dict[bytes, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
        self.chain: TransformationChain | None = None
        self.value_converter: Any = None
        self._pending: dict[int, tuple[list[Any], list[Any]]] = {}
        self._finished: set[int] = set()
        self._open = False

    # -- lifecycle --------------------------------------------------------------------------------------
    def open(self) -> None:
        """Step 1-2: start the connector and its tasks."""
        self.conn = _instance(self.source.connector)
        self.seed_style = _is_seed_style_source(self.conn)
        self.chain = build_chain(self.props)
        self.value_converter = _converter(self.props, "value")
        if self.seed_style:
            self.conn.start(self.props) if _takes_args(self.conn.start) else self.conn.start()
            self.task_configs = [self.props]
        else:
            self.conn.initialize(ConnectorContext())
            self.conn.start(self.props)
            self.task_configs = [dict(c) for c in self.conn.task_configs(self.source.max_tasks)][
                : self.source.max_tasks
            ]
            if not self.task_configs:
                raise JobConfigError(f"connector {self.name!r} returned no task configs")
            self._start_tasks()
        self._open = True

    def _start_tasks(self) -> None:
        task_cls = self.conn.task_class()
        reader = _RestoredOffsets({k: off for k, (_p, off) in self.offsets.items()})
        self.tasks = []
        for cfg in self.task_configs:
            task = task_cls()
            task.initialize(SourceTaskContext(cfg, reader))
            task.start(cfg)
            self.tasks.append(task)

    def _stop_tasks(self) -> None:
        for task in self.tasks:
            try:
                task.stop()
            except Exception:
                pass
        self.tasks = []

    def close(self) -> None:
        """Step 4: stop the tasks, then the connector (idempotent)."""
        if not self._open:
            return
        self._open = False
        self._stop_tasks()
        if self.conn is not None:
            self.conn.stop()

    # -- reading ----------------------------------------------------------------------------------------
    @property
    def bounded(self) -> bool:  # type: ignore[override]
        """Unbounded, as connectors are — until every task has ended its input (``StopIteration``)."""
        return bool(self.task_configs) and len(self._finished) == len(self.task_configs)

    def partitions(self) -> list[Any]:
        return list(range(len(self.task_configs)))

    def done(self, pid: Any) -> bool:
        return pid in self._finished and not self._pending.get(pid, ([], []))[0]

    def _poll(self, pid: int) -> list[Any]:
        try:
            if self.seed_style:
                got = self.conn.poll()
                if got is None:
                    return []
                return list(got) if isinstance(got, list | tuple) else [got]
            return list(self.tasks[pid].poll() or [])
        except StopIteration:
            self._finished.add(pid)
            return []

    def read(self, pid: Any, max_records: int) -> tuple[list[Any], list[Any]]:
        """Step 3: the next values of task ``pid`` and their timestamps."""
        vals, tss = self._pending.pop(pid, ([], []))
        if not vals and pid not in self._finished:
            chain, conv = self.chain, self.value_converter
            for rec in self._poll(pid):
                if not isinstance(rec, SourceRecord):
                    vals.append(rec)
                    tss.append(None)
                    continue
                if rec.source_partition is not None and rec.source_offset is not None:
                    self.offsets[partition_key(rec.source_partition)] = (
                        dict(rec.source_partition),
                        dict(rec.source_offset),
                    )
                if chain:
                    rec = chain.apply(rec)
                    if rec is None:
                        continue
                value = rec.value
                if conv is not None:
                    value = conv.from_connect_data(rec.topic, rec.value_schema, value)
                vals.append(value)
                tss.append(rec.timestamp)
        if len(vals) > max_records:
            self._pending[pid] = (vals[max_records:], tss[max_records:])
            vals, tss = vals[:max_records], tss[:max_records]
        return vals, tss

    # -- checkpoints ------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The source offsets read so far (``[[partition, offset], ...]``, plain JSON-able data)."""
        if self._pending and any(v for v, _ in self._pending.values()):
            # records handed out later belong after this checkpoint: their offsets must not be in it
            raise JobConfigError(
                f"source {self.name!r} cannot snapshot while records are pending",
                hint="checkpoints are taken between batches; this is a runtime bug",
            )
        return {"offsets": [[p, o] for p, o in self.offsets.values()]}

    def restore(self, snap: Mapping[str, Any]) -> None:
        """Reinstate :meth:`snapshot`; started tasks are restarted to resume from those offsets."""
        self.offsets = {partition_key(p): (dict(p), dict(o)) for p, o in snap.get("offsets", [])}
        self._pending.clear()
        if self._open and not self.seed_style:
            self._stop_tasks()
            self._start_tasks()

    def commit(self) -> None:
        """After a checkpoint completed: the tasks' ``commit()``."""
        for task in self.tasks:
            task.commit()


class ConnectorSinkOperator(SinkOperator):
    """A sink operator that runs a sink connector's task (see the module docstring)."""

    def __init__(self, name: str, uid: str | None, sink: ConnectorSink) -> None:
        super().__init__(name, uid)
        self.sink = sink
        self.props = _str_props(sink.config)
        topics = [t.strip() for t in self.props.get("topics", "").split(",") if t.strip()]
        self.topic = topics[0] if topics else sink.name
        self.tp = TopicPartition(self.topic, 0)
        self.conn: Any = None
        self.task: Any = None
        self.seed_style = False
        self.chain: TransformationChain | None = None
        self.value_converter: Any = None
        self._open = False

    def open(self) -> None:
        self.conn = _instance(self.sink.connector)
        self.chain = build_chain(self.props)
        self.value_converter = _converter(self.props, "value")
        self.seed_style = callable(getattr(self.conn, "put", None))
        if self.seed_style:
            self.conn.start(self.props) if _takes_args(self.conn.start) else self.conn.start()
        else:
            self.conn.initialize(ConnectorContext())
            self.conn.start(self.props)
            cfgs = self.conn.task_configs(1)
            cfg = dict(cfgs[0]) if cfgs else dict(self.props)
            self.task = self.conn.task_class()()
            self.task.initialize(SinkTaskContext(cfg, lambda: [self.tp]))
            self.task.start(cfg)
            self.task.open([self.tp])
        self._open = True

    def _records(self, vals: list[Any], tss: list[Any]) -> list[SinkRecord]:
        out: list[SinkRecord] = []
        conv, chain, topic, base = self.value_converter, self.chain, self.topic, self.seen
        for i, v in enumerate(vals):
            schema = None
            if conv is not None and isinstance(v, bytes | bytearray):
                schema, v = conv.to_connect_data(topic, bytes(v))
            rec = SinkRecord(topic, 0, None, None, schema, v, tss[i], (), base + i)
            if chain:
                rec = chain.apply(rec)
                if rec is None:
                    continue
            out.append(rec)
        return out

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        if not vals:
            return
        try:
            if self.seed_style:
                self.conn.put(list(vals))
            else:
                records = self._records(vals, tss)
                while True:
                    try:
                        self.task.put(records)
                        break
                    except RetriableError:
                        ctx = self.task.context
                        time.sleep((ctx.timeout_ms or 100) / 1000)
                        ctx.timeout_ms = None
        except Exception as exc:
            annotate(exc, self, self.seen, vals[0])
            raise
        self.seen += len(vals)
        self.written += len(vals)

    def _flush(self) -> None:
        if self.task is not None:
            self.task.pre_commit({self.tp: self.seen})
        elif self.seed_style and callable(getattr(self.conn, "flush", None)):
            self.conn.flush()

    def snapshot(self) -> Any:
        """On a checkpoint: flush what was put so far (at-least-once), and record how many elements."""
        if self._open:
            self._flush()
        return {"written": self.seen}

    def restore(self, state: Any) -> None:
        """Resume the element count (record offsets) after a restore."""
        if state:
            self.seen = int(state.get("written", 0))

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            self._flush()
            if self.task is not None:
                self.task.close([self.tp])
        finally:
            if self.task is not None:
                self.task.stop()
            self.conn.stop()


__all__ = ["ConnectorReader", "ConnectorSinkOperator"]
