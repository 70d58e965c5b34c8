"""The connector and task API, as Kafka Connect defines it (``SourceConnector``/``SourceTask``,
``SinkConnector``/``SinkTask``).

Lifecycle, driven by the worker on threads of its own (never on a REST request thread):

Connector
  1. ``initialize(context)``; 2. ``start(props)`` with the connector config (strings); 3.
  ``task_configs(max)``
  returns at most ``max`` task configs; 4. ``stop()``. ``validate(props)`` may be called on a fresh
  instance at any time (default: check the connector's :meth:`Connector.config` ``ConfigDef``).
  A connector may call ``context.request_task_reconfiguration()`` when its inputs change, or
  ``context.raise_error(exc)`` to fail.

SourceTask
  ``initialize(context)``, ``start(props)``, then ``poll()`` in a loop (return a list of
  :class:`~millstream.connect.data.SourceRecord`, or ``None``/``[]`` when there is nothing; block at most
  briefly), ``commit_record(record, metadata)`` after each record is written, ``commit()`` after offsets are
  flushed, ``stop()`` (may be called from another thread while ``poll`` blocks: make ``poll`` return soon).
  On start, read where to resume from ``context.offset_storage_reader().offset(partition)``.

SinkTask
  ``initialize(context)``, ``start(props)``, ``open(partitions)``, then ``put(records)`` per batch;
  ``pre_commit(offsets)`` (default calls ``flush(offsets)`` and returns them) before the consumer group
  commits; ``close(partitions)``; ``stop()``. Offsets passed are the *next* offsets to read per partition.
  Raise :class:`~millstream.connect.errors.RetriableError` for a transient failure to have the batch retried.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar

from ..core.record import TopicPartition
from .config import ConfigDef, ConfigValue
from .data import SinkRecord, SourceRecord


def _version() -> str:
    from .. import __version__

    return __version__


class Versioned:
    """Something with a ``version()`` (connectors, tasks, transforms, converters)."""

    def version(self) -> str:
        return _version()


class ConnectorContext:
    """What a connector may ask of the framework."""

    def request_task_reconfiguration(self) -> None:
        """Ask the worker to call ``task_configs`` again and restart the tasks if their configs changed."""

    def raise_error(self, exc: BaseException) -> None:
        """Fail the connector with ``exc`` (its status becomes FAILED with the trace)."""


class Connector(Versioned, ABC):
    """Base of source and sink connectors (see the module docstring for the lifecycle)."""

    CONFIG_DEF: ClassVar[ConfigDef] = ConfigDef()
    """The connector's own options; :meth:`config` returns it unless overridden."""

    context: ConnectorContext

    def initialize(self, context: ConnectorContext, task_configs: Sequence[Mapping[str, str]] = ()) -> None:
        self.context = context

    @abstractmethod
    def start(self, props: Mapping[str, str]) -> None:
        """Start with the connector config; raise to fail (the message shows in the status trace)."""

    def task_class(self) -> type[Task]:
        """The task class this connector's tasks run. (Not abstract so that a connector that does its own
        ``start/poll/stop`` — the seed article's shape — can be used as a stream source or sink; the worker
        needs a task class and says so.)"""
        raise NotImplementedError(
            f"connector {type(self).__name__} has no task class: override task_class() "
            "(the worker runs connectors only through their tasks)"
        )

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        """At most ``max_tasks`` task configs (string maps); one task is started per config. Default: one
        task with no config of its own."""
        return [{}]

    @abstractmethod
    def stop(self) -> None:
        """Release what ``start`` acquired. Called once; may be called while ``start`` is still running."""

    def config(self) -> ConfigDef:
        """The connector's declared options."""
        return self.CONFIG_DEF

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        """Validate the connector's own options; override to add cross-option checks."""
        return self.config().validate(props)

    @classmethod
    def connector_type(cls) -> str:
        """``"source"`` or ``"sink"``."""
        raise NotImplementedError


class SourceConnector(Connector):
    """A connector that reads from an external system into topics."""

    @classmethod
    def connector_type(cls) -> str:
        return "source"

    def alter_offsets(self, connector_config: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        """Called before the framework alters/resets this connector's offsets (``None`` values = reset).

        Return ``True`` if the connector has checked/applied the change (default ``False``: it manages no
        offsets of its own). Raise to refuse the change.
        """
        return False


class SinkConnector(Connector):
    """A connector that writes records from topics to an external system."""

    @classmethod
    def connector_type(cls) -> str:
        return "sink"

    def alter_offsets(self, connector_config: Mapping[str, str], offsets: Mapping[TopicPartition, int | None]) -> bool:
        """As :meth:`SourceConnector.alter_offsets`, with consumer-group offsets (``None`` = reset)."""
        return False


class OffsetStorageReader(ABC):
    """Reads a connector's committed source offsets (Kafka's ``OffsetStorageReader``)."""

    @abstractmethod
    def offsets(self, partitions: Collection[Mapping[str, Any]]) -> dict[Any, dict[str, Any]]:
        """Offsets of the given source partitions, keyed by a hashable form of each partition (missing ones
        left out)."""

    def offset(self, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        """The last committed offset of one source partition, or ``None``."""
        from .storage import partition_key

        return self.offsets([partition]).get(partition_key(partition))


class TaskContext:
    """Common to source and sink task contexts."""

    def __init__(self, config: Mapping[str, str]) -> None:
        self._config = dict(config)

    def configs(self) -> dict[str, str]:
        """The task's config."""
        return dict(self._config)


class SourceTaskContext(TaskContext):
    """What a source task may ask of the framework."""

    def __init__(self, config: Mapping[str, str], reader: OffsetStorageReader) -> None:
        super().__init__(config)
        self._reader = reader

    def offset_storage_reader(self) -> OffsetStorageReader:
        return self._reader


class ErrantRecordReporter(ABC):
    """Lets a sink task send a record it cannot write to the dead-letter topic / error log (``errors.*``)."""

    @abstractmethod
    def report(self, record: SinkRecord, error: BaseException) -> None:
        """Report ``record`` as failed; raises if ``errors.tolerance=none``."""


class SinkTaskContext(TaskContext):
    """What a sink task may ask of the framework: rewinds, pauses, commit requests, error reporting."""

    def __init__(
        self,
        config: Mapping[str, str],
        assignment: Callable[[], list[TopicPartition]],
        reporter: ErrantRecordReporter | None = None,
    ) -> None:
        super().__init__(config)
        self._assignment = assignment
        self._reporter = reporter
        self.pending_offsets: dict[TopicPartition, int] = {}
        self.paused: set[TopicPartition] = set()
        self.timeout_ms: int | None = None
        self.commit_requested = False

    def offset(self, partition: TopicPartition, offset: int) -> None:
        """Rewind/advance ``partition`` so the next record delivered has ``offset``."""
        self.pending_offsets[TopicPartition(*partition)] = int(offset)

    def offsets(self, offsets: Mapping[TopicPartition, int]) -> None:
        for tp, off in offsets.items():
            self.offset(tp, off)

    def timeout(self, ms: int) -> None:
        """After a :class:`RetriableError` from ``put``, wait ``ms`` before redelivering the batch."""
        self.timeout_ms = int(ms)

    def assignment(self) -> list[TopicPartition]:
        return self._assignment()

    def pause(self, *partitions: TopicPartition) -> None:
        """Stop delivering records from these partitions until :meth:`resume`."""
        self.paused.update(TopicPartition(*p) for p in partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(TopicPartition(*p) for p in partitions)

    def request_commit(self) -> None:
        """Ask for an offset commit as soon as possible."""
        self.commit_requested = True

    def errant_record_reporter(self) -> ErrantRecordReporter | None:
        return self._reporter


class Task(Versioned, ABC):
    """Base of source and sink tasks."""

    @abstractmethod
    def start(self, props: Mapping[str, str]) -> None:
        """Start with the task config (one of the connector's ``task_configs``)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop; may be called from another thread while ``poll``/``put`` runs."""


class SourceTask(Task):
    """Reads records from the external system (see the module docstring)."""

    context: SourceTaskContext

    def initialize(self, context: SourceTaskContext) -> None:
        self.context = context

    @abstractmethod
    def poll(self) -> list[SourceRecord] | None:
        """New records, or ``None``/``[]`` if none arrived within a short wait."""

    def commit(self) -> None:
        """Called after the framework stored offsets of the records returned so far."""

    def commit_record(self, record: SourceRecord, metadata: Any) -> None:
        """Called after ``record`` was written; ``metadata`` is ``(topic, partition, offset)`` or ``None`` if
        it
        was filtered out by a transform."""


class SinkTask(Task):
    """Writes records to the external system (see the module docstring)."""

    context: SinkTaskContext

    def initialize(self, context: SinkTaskContext) -> None:
        self.context = context

    @abstractmethod
    def put(self, records: list[SinkRecord]) -> None:
        """Write (or buffer) a batch of records."""

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        """Make everything passed to ``put`` so far durable."""

    def pre_commit(self, current_offsets: Mapping[TopicPartition, int]) -> Mapping[TopicPartition, int]:
        """Offsets that are safe to commit; the default flushes and returns ``current_offsets``."""
        self.flush(current_offsets)
        return current_offsets

    def open(self, partitions: Collection[TopicPartition]) -> None:
        """Partitions newly assigned to this task."""

    def close(self, partitions: Collection[TopicPartition]) -> None:
        """Partitions taken away from this task (flush what belongs to them)."""


__all__ = [
    "Connector",
    "ConnectorContext",
    "ErrantRecordReporter",
    "OffsetStorageReader",
    "SinkConnector",
    "SinkTask",
    "SinkTaskContext",
    "SourceConnector",
    "SourceTask",
    "SourceTaskContext",
    "Task",
    "TaskContext",
    "Versioned",
]
