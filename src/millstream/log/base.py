"""The ``Log`` contract: a partitioned, append-only log of records, as Kafka defines one.

Every backend (``memory://``, ``file://``, ``kafka://``) implements :class:`Log`; the contract test suite
(``tests/log/contract``) runs against all of them. The semantics, stated once here:

Topics
    A topic has ``partitions`` numbered ``0..N-1`` and a config map (Kafka's names: ``retention.ms``,
    ``retention.bytes``, ``cleanup.policy`` = ``delete`` | ``compact`` | ``compact,delete``). Creating an
    existing topic raises :class:`TopicExistsError` (unless ``exist_ok``); using a missing one raises
    :class:`UnknownTopicError`; a partition outside ``0..N-1`` raises :class:`UnknownPartitionError`.

Offsets
    Each partition numbers its records ``0, 1, 2, ...`` in append order and never reuses a number.
    ``earliest_offset`` is the first retained offset (log start), ``latest_offset`` the next offset to be
    written (log end). Retention moves the start forward; compaction leaves gaps inside the range.

Appends
    ``append(topic, partition, records)`` writes a batch atomically and durably (once it returns, the batch
    survives a crash of the process) and returns the offset of its first record; the batch's records get
    consecutive offsets. A record without a timestamp gets the log's clock time. Readers never see part
    of a batch.

Reads
    ``read(topic, partition, offset)`` returns records with offsets ``>= offset`` in offset order, at most
    ``max_records`` of them and, past the first record, at most about ``max_bytes`` of keys + values. An
    offset equal to the log end returns ``[]`` (after waiting up to ``timeout_ms`` for data to arrive). An
    offset before the log start or after the log end raises :class:`OffsetOutOfRangeError`; a negative one
    :class:`InvalidOffsetError`. Optional hook: ``wait_for_records(positions, timeout_ms) -> bool`` blocks
    until a read at one of the ``{TopicPartition: offset}`` positions has records (or an error) to return,
    ``False`` at the timeout; every backend here has it, and a job's idle source waits on it (wakes on data)
    where a log offers it, instead of sleeping. Optional hook (Kafka): ``partition_columns(topic, partition)``,
    a handle on one partition read in sequence (:mod:`millstream.log.columns`).

Consumer groups
    A group stores one committed offset per partition: the offset of the *next* record to read, as in
    Kafka. Commits overwrite. ``committed_offsets`` returns only partitions that have a commit.

Transactions
    ``with log.transaction() as txn:`` buffers appends to any partitions, offset commits and state blobs;
    leaving the block commits them all-or-nothing (an exception aborts). Nothing of a transaction is
    visible to readers before it commits, and after a crash either all of it is there or none.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.errors import ConfigError, InvalidOffsetError, TransactionError, UnknownPartitionError
from ..core.record import ProducerRecord, Record, TopicPartition
from .partitioner import partition_for_key

if TYPE_CHECKING:
    from .consumer import Consumer

TOPIC_CONFIG_DEFAULTS: dict[str, str] = {
    "retention.ms": "604800000",  # 7 days, Kafka's default
    "retention.bytes": "-1",
    "cleanup.policy": "delete",
}
"""Topic configs every backend understands, with Kafka's defaults."""

_LEGAL_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def validate_topic_name(name: str) -> None:
    """Apply Kafka's topic name rules: 1-249 characters of ``[a-zA-Z0-9._-]``, not ``.`` or ``..``."""
    if not isinstance(name, str) or not name:
        raise ConfigError("a topic name must be a non-empty string")
    if len(name) > 249:
        raise ConfigError(f"topic name is {len(name)} characters long; the limit is 249")
    if name in (".", ".."):
        raise ConfigError(f"{name!r} is not a legal topic name")
    bad = sorted(set(name) - _LEGAL_TOPIC_CHARS)
    if bad:
        raise ConfigError(
            f"topic name {name!r} contains illegal character(s) {''.join(bad)!r}",
            hint="use only letters, digits, '.', '_' and '-'",
        )


def check_partition_increase(name: str, current: int, total: int) -> None:
    """Refuse a partition count that does not grow topic ``name`` (Kafka's rule: partitions are never removed)."""
    if type(total) is not int or total < 1:
        raise ConfigError(f"a topic needs at least 1 partition, got {total!r}")
    if total < current:
        raise ConfigError(
            f"topic {name!r} has {current} partitions, more than the {total} asked for: partitions can only be added",
            hint="to have fewer partitions, create a new topic and copy the records over",
        )
    if total == current:
        raise ConfigError(f"topic {name!r} already has {current} partitions", hint="ask for more to add some")


def validate_topic_config(config: Mapping[str, Any] | None) -> dict[str, str]:
    """Check and normalise a topic config map (values become strings, as in Kafka)."""
    out: dict[str, str] = {}
    for key, value in (config or {}).items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if key in ("retention.ms", "retention.bytes", "segment.ms", "segment.bytes", "min.compaction.lag.ms"):
            try:
                number = int(text)
            except ValueError:
                raise ConfigError(f"topic config {key}={text!r} is not an integer") from None
            if number < -1:
                raise ConfigError(f"topic config {key}={number} must be -1 (unlimited) or >= 0")
        elif key == "cleanup.policy":
            parts = [p.strip() for p in text.split(",") if p.strip()]
            if not parts or any(p not in ("delete", "compact") for p in parts):
                raise ConfigError(
                    f"topic config cleanup.policy={text!r} is invalid",
                    hint="use delete, compact or compact,delete",
                )
            text = ",".join(sorted(set(parts)))
        out[key] = text
    return out


@dataclass(frozen=True)
class TopicDescription:
    """A topic's name, partition count and config (explicit settings merged over the defaults)."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)
    replication_factor: int = 1

    def partitions_list(self) -> list[TopicPartition]:
        return [TopicPartition(self.name, p) for p in range(self.partitions)]


@dataclass(frozen=True)
class PartitionOffsets:
    """Offsets of one partition as a group sees it: committed position, log start/end, and lag."""

    topic: str
    partition: int
    committed: int | None
    earliest: int
    latest: int

    @property
    def lag(self) -> int:
        """Records between the committed offset (or the log start without one) and the log end."""
        position = self.committed if self.committed is not None else self.earliest
        return max(0, self.latest - max(position, self.earliest))


@dataclass(frozen=True)
class GroupDescription:
    """A consumer group's committed offsets with log-start/log-end and lag per partition."""

    group: str
    partitions: tuple[PartitionOffsets, ...]

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions)


class Transaction(ABC):
    """An all-or-nothing unit of appends, offset commits and state writes. Use as a context manager.

    Protocol:
      1. ``append`` / ``commit_offsets`` / ``put_state`` buffer their work; nothing is visible yet;
         ``require_state`` adds a precondition.
      2. ``commit()`` checks the preconditions and makes all of it visible at once, returning the base offset
         of each append (in call order); a failure (a precondition that does not hold included) raises
         :class:`TransactionError` and nothing is visible.
      3. ``abort()`` discards everything. A transaction is used once.
    """

    def __init__(self) -> None:
        self._done = False

    @abstractmethod
    def append(self, topic: str, partition: int, records: Sequence[ProducerRecord]) -> None: ...

    @abstractmethod
    def commit_offsets(self, group: str, offsets: Mapping[TopicPartition, int]) -> None: ...

    def put_state(self, key: str, value: bytes | None) -> None:
        """Store (or with ``None`` delete) an opaque state blob under ``key`` as part of the transaction."""
        raise TransactionError(
            f"{type(self).__name__} cannot store state in the log",
            hint="keep state in the checkpoint storage instead",
        )

    def require_state(self, key: str, expected: bytes | None) -> None:
        """Commit only if the state blob under ``key`` is ``expected`` (``None``: absent) when the transaction
        commits; otherwise the commit raises :class:`FencedError` and writes nothing. This is how a writer that
        was replaced by another (a zombie) is fenced: the new writer changes the key, the old one's commits fail.
        """
        raise TransactionError(
            f"{type(self).__name__} cannot check state preconditions",
            hint="use the embedded (file://) or memory:// log for conditional commits",
        )

    @abstractmethod
    def _commit(self) -> list[int]: ...

    @abstractmethod
    def _abort(self) -> None: ...

    def commit(self) -> list[int]:
        self._check_open()
        self._done = True
        return self._commit()

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._abort()

    def _check_open(self) -> None:
        if self._done:
            raise TransactionError("this transaction has already been committed or aborted")

    def __enter__(self) -> Transaction:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            if not self._done:
                self.commit()
        else:
            self.abort()


class Log(ABC):
    """A partitioned, append-only log. See the module docstring for the full contract."""

    url: str
    clock: Clock = SYSTEM_CLOCK

    # -- lifecycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Release files, connections and threads. Idempotent."""

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- topics -------------------------------------------------------------------------------------
    @abstractmethod
    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        config: Mapping[str, Any] | None = None,
        *,
        replication_factor: int = 1,
        exist_ok: bool = False,
    ) -> TopicDescription:
        """Create a topic. With ``exist_ok`` an existing topic is returned as it is."""

    @abstractmethod
    def delete_topic(self, name: str) -> None:
        """Delete a topic with all its records and its groups' offsets for it."""

    @abstractmethod
    def list_topics(self) -> list[str]:
        """Names of all topics, sorted."""

    @abstractmethod
    def describe_topic(self, name: str) -> TopicDescription:
        """Partition count and config of a topic."""

    def has_topic(self, name: str) -> bool:
        return name in self.list_topics()

    def create_partitions(self, name: str, total: int) -> TopicDescription:
        """Grow topic ``name`` to ``total`` partitions (Kafka's ``CreatePartitions``: increase only, existing
        records stay where they are, keyed records produced from now on may map to another partition).
        :class:`ConfigError` when ``total`` is not more than the topic has; backends that cannot grow topics
        raise :class:`ConfigError` saying so."""
        raise ConfigError(f"the {type(self).__name__} backend cannot add partitions to a topic")

    # -- writes -------------------------------------------------------------------------------------
    @abstractmethod
    def append(self, topic: str, partition: int, records: Sequence[ProducerRecord]) -> int:
        """Append a batch to one partition atomically and durably; return the first record's offset."""

    def produce(self, topic: str, records: Iterable[ProducerRecord]) -> list[tuple[int, int]]:
        """Append records to a topic, partitioned as a Kafka producer would, and return (partition, offset) each.

        A record's explicit ``partition`` wins; otherwise a keyed record goes to
        ``murmur2(key) % partitions`` and keyless records are spread round-robin. Each partition's share
        is appended as one batch, in order.
        """
        n = self.describe_topic(topic).partitions
        groups: dict[int, list[ProducerRecord]] = {}
        placement: list[tuple[int, int]] = []
        rr = itertools.cycle(range(n))
        for rec in records:
            if not isinstance(rec, ProducerRecord):
                rec = ProducerRecord(*rec)
            if rec.partition is not None:
                p = rec.partition
                if not 0 <= p < n:
                    raise UnknownPartitionError(topic, p, n)
            elif rec.key is not None:
                p = partition_for_key(rec.key, n)
            else:
                p = next(rr)
            batch = groups.setdefault(p, [])
            placement.append((p, len(batch)))
            batch.append(rec)
        bases = {p: self.append(topic, p, batch) for p, batch in groups.items()}
        return [(p, bases[p] + i) for p, i in placement]

    # -- reads --------------------------------------------------------------------------------------
    @abstractmethod
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
        """Records from ``offset`` on, in order (see the module docstring for bounds and blocking)."""

    @abstractmethod
    def earliest_offset(self, topic: str, partition: int) -> int:
        """The log start offset: the first retained record's offset (== latest when empty)."""

    @abstractmethod
    def latest_offset(self, topic: str, partition: int) -> int:
        """The log end offset: the offset the next appended record will get."""

    def offset_ranges(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, tuple[int, int]]:
        """``{tp: (earliest, latest)}`` of many partitions at once: what :meth:`earliest_offset` and
        :meth:`latest_offset` say of each. Backends that ask a cluster (Kafka) answer with one round of
        requests for all of them instead of one per partition."""
        return {
            tp: (self.earliest_offset(tp.topic, tp.partition), self.latest_offset(tp.topic, tp.partition))
            for tp in partitions
        }

    @abstractmethod
    def offset_for_timestamp(self, topic: str, partition: int, timestamp: int) -> int | None:
        """The earliest offset whose record timestamp is ``>= timestamp``, or ``None`` if there is none."""

    # -- consumer groups ----------------------------------------------------------------------------
    @abstractmethod
    def commit_offsets(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Store committed offsets (next offset to read) for a group; overwrites earlier commits."""

    @abstractmethod
    def committed_offsets(
        self, group: str, partitions: Iterable[TopicPartition] | None = None
    ) -> dict[TopicPartition, int]:
        """A group's committed offsets, for the given partitions or all it has; missing ones are left out."""

    @abstractmethod
    def list_groups(self) -> list[str]:
        """Names of all groups with committed offsets, sorted."""

    @abstractmethod
    def delete_group(self, group: str) -> None:
        """Forget a group and its committed offsets."""

    def describe_group(self, group: str) -> GroupDescription:
        """Committed offsets, log start/end and lag of every partition the group has committed."""
        committed = self.committed_offsets(group)
        rows = []
        for tp in sorted(committed):
            try:
                earliest = self.earliest_offset(tp.topic, tp.partition)
                latest = self.latest_offset(tp.topic, tp.partition)
            except Exception:
                continue
            rows.append(PartitionOffsets(tp.topic, tp.partition, committed[tp], earliest, latest))
        return GroupDescription(group, tuple(rows))

    # -- transactions and state ---------------------------------------------------------------------
    @abstractmethod
    def transaction(self, transactional_id: str | None = None) -> Transaction:
        """Begin an all-or-nothing transaction (see :class:`Transaction`)."""

    def get_state(self, key: str) -> bytes | None:
        """The state blob last committed under ``key`` by a transaction, or ``None``."""
        return None

    # -- maintenance --------------------------------------------------------------------------------
    def enforce_retention(self, now_ms: int | None = None) -> int:
        """Apply ``retention.ms`` / ``retention.bytes`` and compaction now; return how many records went."""
        return 0

    # -- consumers ----------------------------------------------------------------------------------
    def consumer(self, group_id: str | None = None, **options: Any) -> Consumer:
        """A consumer over this log (see :class:`millstream.log.consumer.Consumer`)."""
        from .consumer import LogConsumer

        return LogConsumer(self, group_id=group_id, **options)


def check_offset_arg(offset: int) -> None:
    """Reject offsets that are not non-negative integers with :class:`InvalidOffsetError`."""
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise InvalidOffsetError(f"offset must be an integer, got {type(offset).__name__}")
    if offset < 0:
        raise InvalidOffsetError(
            f"offset {offset} is negative", hint="offsets start at 0; use earliest/latest to seek to the ends"
        )


__all__ = [
    "TOPIC_CONFIG_DEFAULTS",
    "GroupDescription",
    "Log",
    "PartitionOffsets",
    "TopicDescription",
    "Transaction",
    "check_offset_arg",
    "validate_topic_config",
    "validate_topic_name",
]
