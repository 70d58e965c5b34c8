"""Connect's three internal, compacted topics, kept in the log exactly as Kafka Connect keys them.

``connect-offsets`` (``offset.storage.topic``)
    key ``["<connector>",{<source partition>}]`` (JSON), value the source offset ``{...}`` (JSON) or a
    tombstone when reset.
``connect-configs`` (``config.storage.topic``)
    ``connector-<name>`` → ``{"properties": {...}}`` (tombstone = deleted); ``target-state-<name>`` →
    ``{"state": "PAUSED", "state.v2": "STOPPED"}``; ``task-<name>-<n>`` → ``{"properties": {...}}``;
    ``commit-<name>`` → ``{"tasks": N}``; ``restart-connector-<name>`` → ``{"include-tasks","only-failed"}``
    and ``restart-task-<name>-<n>`` → ``{"connector","task"}`` (distributed mode: restart requests).
``connect-status`` (``status.storage.topic``)
    ``status-connector-<name>`` / ``status-task-<name>-<n>`` → ``{"state","trace","worker_id","generation"}``;
    ``status-topic-<topic>:connector-<name>`` → ``{"topic":
    {"name","connector","task","discoverTimestamp"}}``.

Each store reads its topic to the end when it starts, keeps the latest value per key in memory and appends
on every change, so a restarted worker finds its connectors, states and offsets again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..core.record import ProducerRecord
from ..log.base import Log, Transaction
from ..log.partitioner import partition_for_key

_COMPACT = {"cleanup.policy": "compact"}


class Guard(Protocol):
    """How a guarded write (:meth:`_TopicStore.write`) is fenced: ``begin`` opens the log transaction the
    write goes in, which commits only while its writer may still write, else raises
    :class:`~millstream.core.errors.FencedError` and writes nothing."""

    def begin(self, log: Log) -> Transaction: ...


@dataclass(frozen=True)
class StateGuard:
    """A compare-and-set in the log's state (logs with ``require_state``: ``file://``): the write commits only
    if ``key`` still holds ``expected``, and moves it to ``new``."""

    key: str
    expected: bytes | None
    new: bytes

    def begin(self, log: Log) -> Transaction:
        txn = log.transaction()
        txn.require_state(self.key, self.expected)
        txn.put_state(self.key, self.new)
        return txn


@dataclass(frozen=True)
class TransactionalGuard:
    """Kafka's fencing (``kafka://``): the write is a transaction of ``transactional_id``; once a newer
    producer of that id has called ``init_transactions`` (a new leader), this writer's commits fail."""

    transactional_id: str

    def begin(self, log: Log) -> Transaction:
        return log.transaction(self.transactional_id)


def partition_key(partition: Mapping[str, Any] | None) -> bytes:
    """A hashable, order-independent form of a source partition map."""
    return orjson.dumps(dict(partition) if partition is not None else None, option=orjson.OPT_SORT_KEYS)


class _TopicStore:
    """Latest value per key of a compacted topic, mirrored in memory."""

    def __init__(self, log: Log, topic: str, partitions: int = 1) -> None:
        self.log = log
        self.topic = topic
        self.partitions = partitions
        self.lock = threading.RLock()
        self.data: dict[bytes, bytes | None] = {}
        self.positions: dict[int, int] = {}

    def start(self) -> None:
        """Create the topic if needed (compacted) and read it to the end."""
        desc = self.log.create_topic(self.topic, self.partitions, _COMPACT, exist_ok=True)
        with self.lock:
            for p in range(desc.partitions):
                self.positions[p] = self.log.earliest_offset(self.topic, p)
            self.refresh()

    def refresh(self) -> None:
        """Read what was appended since the last read (e.g. by task processes), in log order."""
        with self.lock:
            for p, pos in list(self.positions.items()):
                end = self.log.latest_offset(self.topic, p)
                while pos < end:
                    batch = self.log.read(
                        self.topic, p, max(pos, self.log.earliest_offset(self.topic, p)), max_records=10_000
                    )
                    if not batch:
                        break
                    for r in batch:
                        if r.key is not None:
                            self._apply(r.key, r.value)
                    pos = batch[-1].offset + 1
                self.positions[p] = pos

    def _apply(self, key: bytes, value: bytes | None) -> None:
        self.data[key] = value

    def write(self, items: Iterable[tuple[bytes, bytes | None]], guard: Guard | None = None) -> None:
        """Append ``items`` and apply them here. With a ``guard`` the append is one log transaction that
        commits only while the writer may still write (:class:`StateGuard`: a state key still holds what the
        writer read; :class:`TransactionalGuard`: no newer producer fenced it), else it fails with
        :class:`~millstream.core.errors.FencedError` (nothing written): a writer that read the topic and decided
        on that basis cannot overwrite a change made meanwhile."""
        items = list(items)
        if not items:
            return
        with self.lock:
            if guard is None:
                self.log.produce(self.topic, [ProducerRecord(v, k) for k, v in items])
            else:
                n = self.log.describe_topic(self.topic).partitions
                with guard.begin(self.log) as txn:
                    for k, v in items:
                        txn.append(self.topic, 0 if n == 1 else partition_for_key(k, n), [ProducerRecord(v, k)])
            for k, v in items:
                self._apply(k, v)


class OffsetStore(_TopicStore):
    """Source offsets per connector and source partition (see the module docstring)."""

    def __init__(self, log: Log, topic: str = "connect-offsets", partitions: int = 1) -> None:
        super().__init__(log, topic, partitions)
        self.offsets: dict[str, dict[bytes, tuple[dict[str, Any] | None, dict[str, Any]]]] = {}

    def _apply(self, key: bytes, value: bytes | None) -> None:
        try:
            decoded = orjson.loads(key)
            connector, partition = decoded[0], decoded[1]
        except (orjson.JSONDecodeError, IndexError, TypeError, KeyError):
            return  # not a Connect offsets key; ignore as Kafka does
        pk = partition_key(partition)
        per = self.offsets.setdefault(str(connector), {})
        if value is None:
            per.pop(pk, None)
            return
        try:
            per[pk] = (partition, orjson.loads(value))
        except orjson.JSONDecodeError:
            return

    @staticmethod
    def key(connector: str, partition: Mapping[str, Any] | None) -> bytes:
        return orjson.dumps(
            [connector, dict(partition) if partition is not None else None], option=orjson.OPT_SORT_KEYS
        )

    def put(
        self,
        connector: str,
        offsets: Mapping[bytes, tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]],
    ) -> None:
        """Store ``{partition_key: (partition, offset or None)}`` for a connector (``None`` = reset)."""
        self.write(
            (self.key(connector, part), None if off is None else orjson.dumps(off)) for part, off in offsets.values()
        )

    def get(self, connector: str, partition: Mapping[str, Any] | None) -> dict[str, Any] | None:
        with self.lock:
            entry = self.offsets.get(connector, {}).get(partition_key(partition))
        return None if entry is None else entry[1]

    def all(self, connector: str) -> list[tuple[dict[str, Any] | None, dict[str, Any]]]:
        """``(partition, offset)`` of every partition the connector has an offset for."""
        with self.lock:
            return list(self.offsets.get(connector, {}).values())


class ConfigStore(_TopicStore):
    """Connector configs, target states and task configs (see the module docstring)."""

    def __init__(self, log: Log, topic: str = "connect-configs") -> None:
        super().__init__(log, topic, 1)
        self.connectors: dict[str, dict[str, str]] = {}
        self.target_states: dict[str, str] = {}
        self.task_configs: dict[str, dict[int, dict[str, str]]] = {}
        self.task_counts: dict[str, int] = {}
        self.order: list[str] = []
        self.restarts: list[tuple[str, int | None, bool, bool]] = []  # (connector, task, include, only failed)

    def _apply(self, key: bytes, value: bytes | None) -> None:
        k = key.decode("utf-8", "replace")
        body = None
        if value is not None:
            try:
                body = orjson.loads(value)
            except orjson.JSONDecodeError:
                return
        if k.startswith("connector-"):
            name = k[len("connector-") :]
            if body is None:
                self.connectors.pop(name, None)
                self.target_states.pop(name, None)
                if name in self.order:
                    self.order.remove(name)
            else:
                self.connectors[name] = {str(a): str(b) for a, b in body.get("properties", {}).items()}
                if name not in self.order:
                    self.order.append(name)
        elif k.startswith("task-") and body is not None:
            name, _, idx = k[len("task-") :].rpartition("-")
            if idx.isdigit():
                self.task_configs.setdefault(name, {})[int(idx)] = {
                    str(a): str(b) for a, b in body.get("properties", {}).items()
                }
        elif k.startswith("restart-connector-") and body is not None:
            self.restarts.append(
                (k[len("restart-connector-") :], None, bool(body.get("include-tasks")), bool(body.get("only-failed")))
            )
        elif k.startswith("restart-task-") and body is not None:
            self.restarts.append((str(body.get("connector")), int(body.get("task", 0)), False, False))
        elif k.startswith("commit-") and body is not None:
            self.task_counts[k[len("commit-") :]] = int(body.get("tasks", 0))
        elif k.startswith("target-state-"):
            name = k[len("target-state-") :]
            if body is None:
                self.target_states.pop(name, None)
            else:
                self.target_states[name] = body.get("state.v2") or body.get("state") or "STARTED"

    def put_connector(
        self, name: str, config: Mapping[str, str], target_state: str | None = None, guard: Guard | None = None
    ) -> None:
        """Store a connector's config (and target state); ``guard`` as in :meth:`write`."""
        items: list[tuple[bytes, bytes | None]] = [
            (f"connector-{name}".encode(), orjson.dumps({"properties": dict(config)}))
        ]
        if target_state is not None:
            items.append(self._target_item(name, target_state))
        self.write(items, guard)

    def _target_item(self, name: str, state: str) -> tuple[bytes, bytes]:
        legacy = "PAUSED" if state == "STOPPED" else state
        return f"target-state-{name}".encode(), orjson.dumps({"state": legacy, "state.v2": state})

    def put_target_state(self, name: str, state: str, guard: Guard | None = None) -> None:
        """Store a connector's target state; ``guard`` as in :meth:`write`."""
        self.write([self._target_item(name, state)], guard)

    def put_task_configs(self, name: str, configs: Sequence[Mapping[str, str]]) -> None:
        items: list[tuple[bytes, bytes | None]] = [
            (f"task-{name}-{i}".encode(), orjson.dumps({"properties": dict(c)})) for i, c in enumerate(configs)
        ]
        items.append((f"commit-{name}".encode(), orjson.dumps({"tasks": len(configs)})))
        self.write(items)

    def stored_task_configs(self, name: str) -> list[dict[str, str]]:
        """The last committed task configs of a connector (``[]`` if none or incomplete)."""
        with self.lock:
            n = self.task_counts.get(name, 0)
            per = self.task_configs.get(name, {})
            if not n or any(i not in per for i in range(n)):
                return []
            return [dict(per[i]) for i in range(n)]

    def request_restart(
        self, name: str, task: int | None, include_tasks: bool = False, only_failed: bool = False
    ) -> None:
        """Ask the cluster to restart a connector (``task=None``; Kafka's ``restart-connector-<name>`` record)
        or one task; the workers that own them carry it out when they read the request (:meth:`refresh`; not
        applied here, so that each request is seen once)."""
        if task is None:
            key = f"restart-connector-{name}".encode()
            body = orjson.dumps({"include-tasks": include_tasks, "only-failed": only_failed})
        else:
            key, body = f"restart-task-{name}-{task}".encode(), orjson.dumps({"connector": name, "task": task})
        self.log.produce(self.topic, [ProducerRecord(body, key)])

    def remove_connector(self, name: str, guard: Guard | None = None) -> None:
        """Delete a connector's config and target state (tombstones); ``guard`` as in :meth:`write`."""
        self.write([(f"connector-{name}".encode(), None), (f"target-state-{name}".encode(), None)], guard)


class StatusStore(_TopicStore):
    """Connector/task states and active topics (see the module docstring)."""

    def __init__(self, log: Log, topic: str = "connect-status", partitions: int = 1) -> None:
        super().__init__(log, topic, partitions)
        self.topics: dict[str, set[str]] = {}
        self.states: dict[str, dict[str, Any]] = {}  # "status-connector-<n>"/"status-task-<n>-<i>" -> body

    def _apply(self, key: bytes, value: bytes | None) -> None:
        k = key.decode("utf-8", "replace")
        if k.startswith(("status-connector-", "status-task-")):
            if value is None:
                self.states.pop(k, None)
                return
            try:
                body = orjson.loads(value)
            except orjson.JSONDecodeError:
                return
            old = self.states.get(k)
            # as Kafka's status store: a write of an older generation (a revoked or zombie owner) is ignored
            if isinstance(body, dict) and (
                old is None or int(body.get("generation") or 0) >= int(old["generation"] or 0)
            ):
                self.states[k] = body
            return
        if k.startswith("status-topic-") and ":connector-" in k:
            topic, _, connector = k[len("status-topic-") :].partition(":connector-")
            if value is None:
                self.topics.get(connector, set()).discard(topic)
            else:
                self.topics.setdefault(connector, set()).add(topic)

    def put_connector(self, name: str, state: str, trace: str | None, worker_id: str, generation: int = 0) -> None:
        body = {"state": state, "trace": trace, "worker_id": worker_id, "generation": generation}
        self.write([(f"status-connector-{name}".encode(), orjson.dumps(body))])

    def put_task(
        self, name: str, task: int, state: str, trace: str | None, worker_id: str, generation: int = 0
    ) -> None:
        body = {"state": state, "trace": trace, "worker_id": worker_id, "generation": generation}
        self.write([(f"status-task-{name}-{task}".encode(), orjson.dumps(body))])

    def connector_state(self, name: str) -> dict[str, Any] | None:
        """The last ``{"state","trace","worker_id","generation"}`` written for a connector, or ``None``."""
        with self.lock:
            return self.states.get(f"status-connector-{name}")

    def task_state(self, name: str, task: int) -> dict[str, Any] | None:
        """The last ``{"state","trace","worker_id","generation"}`` written for a task, or ``None``."""
        with self.lock:
            return self.states.get(f"status-task-{name}-{task}")

    def add_topic(self, connector: str, topic: str, task: int, now_ms: int) -> None:
        with self.lock:
            if topic in self.topics.get(connector, set()):
                return
        body = {"topic": {"name": topic, "connector": connector, "task": task, "discoverTimestamp": now_ms}}
        self.write([(f"status-topic-{topic}:connector-{connector}".encode(), orjson.dumps(body))])

    def active_topics(self, connector: str) -> list[str]:
        with self.lock:
            return sorted(self.topics.get(connector, set()))

    def reset_topics(self, connector: str) -> None:
        self.write((f"status-topic-{t}:connector-{connector}".encode(), None) for t in self.active_topics(connector))

    def remove(self, connector: str, tasks: int) -> None:
        items: list[tuple[bytes, bytes | None]] = [(f"status-connector-{connector}".encode(), None)]
        items += [(f"status-task-{connector}-{i}".encode(), None) for i in range(tasks)]
        self.write(items)


__all__ = [
    "ConfigStore",
    "Guard",
    "OffsetStore",
    "StateGuard",
    "StatusStore",
    "TransactionalGuard",
    "partition_key",
]
