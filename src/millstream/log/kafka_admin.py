"""Cluster administration for the ``kafka://`` log: topics, offsets and consumer groups via the AdminClient.

:class:`KafkaAdmin` wraps librdkafka's ``AdminClient``. Every call waits at most the log's ``timeout_ms``
and turns librdkafka errors into millstream's (an unreachable cluster becomes a :class:`BrokerError` naming
the bootstrap servers). It keeps a cache of partition counts, which producers and readers consult before
touching a topic: a Kafka cluster may auto-create unknown topics, and the ``Log`` contract wants
:class:`UnknownTopicError` instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaError,
    KafkaException,
)
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic, OffsetSpec, ResourceType

from ..core.errors import BrokerError, ConfigError, TopicExistsError, UnknownPartitionError, UnknownTopicError
from ..core.record import TopicPartition
from .base import TOPIC_CONFIG_DEFAULTS, TopicDescription
from .kafka_config import KafkaSettings
from .kafka_errors import kafka_error_of, make_client, translate, unreachable

_GROUP_FIRST_TRY_S = 5.0  # see KafkaAdmin._group_call
_DYNAMIC_TOPIC_CONFIG = 1  # ConfigSource.DYNAMIC_TOPIC_CONFIG: set on the topic itself


def is_internal_topic(name: str) -> bool:
    """Kafka's internal topics (``__consumer_offsets``, ``__transaction_state``, ...) start with ``__``."""
    return name.startswith("__")


class KafkaAdmin:
    """Topic, offset and group administration against one cluster (see the module docstring)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._s = settings
        conf = settings.admin_config()
        conf.setdefault("allow.auto.create.topics", "false")
        self._conf = conf
        self._admin = make_client(AdminClient, conf, "admin client")
        self._lock = threading.Lock()
        self._partitions: dict[str, int] = {}

    # -- helpers ------------------------------------------------------------------------------------
    def _result(self, future: Future[Any], what: str, topic: str | None = None) -> Any:
        try:
            return future.result(timeout=self._s.timeout_s + 1.0)
        except FutureTimeout:
            raise unreachable(self._s.bootstrap, what, self._s.timeout_s) from None
        except KafkaException as exc:
            raise translate(exc, self._s.bootstrap, what, topic=topic) from exc

    def _group_call(self, request: Any, what: str) -> Any:
        """Issue a group request (``request(admin, timeout_s)`` → a one-future dict) and wait for its result.

        After a broker restart, librdkafka's admin client can keep a group-coordinator connection on which a
        request is sent but never answered (``_TIMED_OUT`` "waiting for response from broker"), while a new
        client is answered at once. Group offset reads and commits are idempotent, so a timed-out one is
        issued once more on a renewed client before the error is raised. The first try waits at most
        :data:`_GROUP_FIRST_TRY_S` (a coordinator answers these in milliseconds), the second the full timeout.
        """
        for attempt in (1, 2):
            timeout = min(self._s.timeout_s, _GROUP_FIRST_TRY_S) if attempt == 1 else self._s.timeout_s
            (future,) = request(self._admin, timeout).values()
            try:
                return self._result(future, what)
            except BrokerError as exc:
                err = kafka_error_of(exc.__cause__) if exc.__cause__ is not None else None
                timed_out = err is not None and err.code() == KafkaError._TIMED_OUT
                if attempt == 2 or not timed_out:
                    raise
                self._admin = make_client(AdminClient, self._conf, "admin client")
        raise AssertionError("unreachable")  # pragma: no cover

    def metadata(self) -> Any:
        """The cluster's full metadata (all topics), refreshing the partition-count cache."""
        try:
            md = self._admin.list_topics(timeout=self._s.timeout_s)
        except KafkaException as exc:
            err = kafka_error_of(exc)
            if err is not None and err.code() in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT):
                raise unreachable(self._s.bootstrap, "reading cluster metadata", self._s.timeout_s) from exc
            raise translate(exc, self._s.bootstrap, "reading cluster metadata") from exc
        counts = {name: len(t.partitions) for name, t in md.topics.items() if t.error is None and len(t.partitions) > 0}
        with self._lock:
            self._partitions = counts
        return md

    def partition_count(self, topic: str, *, refresh: bool = False) -> int:
        """The number of partitions of ``topic`` (cached); :class:`UnknownTopicError` if it does not exist."""
        if not refresh:
            n = self._partitions.get(topic)
            if n is not None:
                return n
        self.metadata()
        n = self._partitions.get(topic)
        if n is None:
            raise UnknownTopicError(topic)
        return n

    def check_partition(self, topic: str, partition: int) -> int:
        """Raise unless ``topic`` exists and has ``partition``; return the partition count."""
        n = self._partitions.get(topic)
        if n is not None and type(partition) is int and 0 <= partition < n:  # the common case: a dict look-up
            return n
        n = self.partition_count(topic)
        if not isinstance(partition, int) or isinstance(partition, bool) or not 0 <= partition < n:
            n = self.partition_count(topic, refresh=True)  # partitions may have been added meanwhile
            if not isinstance(partition, int) or isinstance(partition, bool) or not 0 <= partition < n:
                raise UnknownPartitionError(topic, partition, n)
        return n

    def forget(self, topic: str) -> None:
        """Drop ``topic`` from the partition-count cache."""
        with self._lock:
            self._partitions.pop(topic, None)

    # -- topics -------------------------------------------------------------------------------------
    def list_topics(self) -> list[str]:
        """All topic names except Kafka's internal ``__`` topics, sorted."""
        md = self.metadata()
        return sorted(name for name in md.topics if not is_internal_topic(name))

    def create_topic(self, name: str, partitions: int, config: Mapping[str, str], replication_factor: int) -> None:
        """Create a topic and wait until the cluster's metadata shows all its partitions."""
        what = f"creating topic {name!r}"
        new = NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=dict(config))
        deadline = time.monotonic() + self._s.timeout_s
        while True:
            futures = self._admin.create_topics(
                [new], operation_timeout=self._s.timeout_s, request_timeout=self._s.timeout_s
            )
            try:
                self._result(futures[name], what, topic=name)
                break
            except TopicExistsError:
                raise
            except BrokerError as exc:
                # a topic being deleted cannot be re-created for a moment; retry until the deadline
                if "marked for deletion" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        while time.monotonic() < deadline:
            md = self.metadata()
            t = md.topics.get(name)
            if t is not None and t.error is None and len(t.partitions) == partitions:
                return
            time.sleep(0.05)
        raise unreachable(self._s.bootstrap, f"{what} (waiting for its metadata)", self._s.timeout_s)

    def create_partitions(self, name: str, total: int) -> None:
        """Grow a topic to ``total`` partitions and wait until the cluster's metadata shows them."""
        futures = self._admin.create_partitions(
            [NewPartitions(name, total)], operation_timeout=self._s.timeout_s, request_timeout=self._s.timeout_s
        )
        self._result(futures[name], f"adding partitions to topic {name!r}", topic=name)
        deadline = time.monotonic() + self._s.timeout_s
        while self.partition_count(name, refresh=True) < total and time.monotonic() < deadline:
            time.sleep(0.05)

    def delete_topic(self, name: str) -> None:
        """Delete a topic and wait until it is gone from the cluster's metadata."""
        what = f"deleting topic {name!r}"
        futures = self._admin.delete_topics(
            [name], operation_timeout=self._s.timeout_s, request_timeout=self._s.timeout_s
        )
        self._result(futures[name], what, topic=name)
        self.forget(name)
        deadline = time.monotonic() + self._s.timeout_s
        while time.monotonic() < deadline:
            if name not in self.metadata().topics:
                return
            time.sleep(0.05)
        raise unreachable(self._s.bootstrap, f"{what} (waiting for it to disappear)", self._s.timeout_s)

    def describe_topic(self, name: str) -> TopicDescription:
        """Partition count, replication factor and config: the topic's own settings over Kafka's defaults."""
        md = self.metadata()
        t = md.topics.get(name)
        if t is None:
            raise UnknownTopicError(name)
        if t.error is not None:
            raise translate(t.error, self._s.bootstrap, f"describing topic {name!r}", topic=name)
        parts = t.partitions
        replication = len(parts[0].replicas) if 0 in parts else 1
        futures = self._admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, name)], request_timeout=self._s.timeout_s
        )
        (future,) = futures.values()
        entries = self._result(future, f"describing topic {name!r}", topic=name)
        # like kafka-topics --describe: the topic's own settings, plus the effective values of the configs
        # every millstream backend knows (retention and cleanup policy)
        config = dict(TOPIC_CONFIG_DEFAULTS)
        for key, entry in entries.items():
            if entry.value is None or entry.is_sensitive:
                continue
            source = getattr(entry.source, "value", entry.source)
            if key in TOPIC_CONFIG_DEFAULTS or source == _DYNAMIC_TOPIC_CONFIG or not entry.is_default:
                config[key] = entry.value
        return TopicDescription(name, len(parts), config, replication)

    # -- offsets ------------------------------------------------------------------------------------
    def list_offsets(
        self, specs: Mapping[TopicPartition, Any], *, committed_only: bool = False
    ) -> dict[TopicPartition, tuple[int, int]]:
        """``ListOffsets`` for many partitions at once: ``{tp: (offset, timestamp)}``; offset -1 means none.

        ``specs`` maps partitions to ``OffsetSpec``s (earliest, latest, for_timestamp). With
        ``committed_only`` the "latest" of a partition is its last stable offset (read_committed).
        """
        if not specs:
            return {}
        request = {KafkaTopicPartition(tp.topic, tp.partition): spec for tp, spec in specs.items()}
        level = IsolationLevel.READ_COMMITTED if committed_only else IsolationLevel.READ_UNCOMMITTED
        futures = self._admin.list_offsets(request, isolation_level=level, request_timeout=self._s.timeout_s)
        out: dict[TopicPartition, tuple[int, int]] = {}
        for ktp, future in futures.items():
            tp = TopicPartition(ktp.topic, ktp.partition)
            info = self._result(future, f"listing offsets of {tp}", topic=tp.topic)
            out[tp] = (info.offset, info.timestamp)
        return out

    def watermarks(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, tuple[int, int]]:
        """``{tp: (earliest, latest)}`` (log start and log end) for many partitions with two requests."""
        tps = [TopicPartition(*tp) for tp in partitions]
        lo = self.list_offsets({tp: OffsetSpec.earliest() for tp in tps})
        hi = self.list_offsets({tp: OffsetSpec.latest() for tp in tps})
        return {tp: (max(0, lo[tp][0]), max(0, hi[tp][0])) for tp in tps}

    # -- consumer groups ----------------------------------------------------------------------------
    def committed(self, group: str, partitions: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """A group's committed offsets (all, or for ``partitions``); partitions without a commit are left out."""
        tps = None if partitions is None else [KafkaTopicPartition(tp[0], tp[1]) for tp in partitions]
        if tps is not None and not tps:
            return {}
        request = ConsumerGroupTopicPartitions(group, tps)
        result = self._group_call(
            lambda admin, timeout: admin.list_consumer_group_offsets([request], request_timeout=timeout),
            f"reading committed offsets of group {group!r}",
        )
        out: dict[TopicPartition, int] = {}
        for ktp in result.topic_partitions or ():
            if ktp.error is None and ktp.offset >= 0:
                out[TopicPartition(ktp.topic, ktp.partition)] = ktp.offset
        return out

    def alter_offsets(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Set a group's committed offsets from outside the group (Kafka needs the group to have no members)."""
        if not offsets:
            return
        tps = [KafkaTopicPartition(tp[0], tp[1], int(off)) for tp, off in offsets.items()]
        what = f"committing offsets of group {group!r}"
        try:
            result = self._group_call(
                lambda admin, timeout: admin.alter_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group, tps)], request_timeout=timeout
                ),
                what,
            )
        except BrokerError as exc:
            if "UNKNOWN_MEMBER_ID" in str(exc) or "REBALANCE" in str(exc) or "NOT_EMPTY" in str(exc):
                raise BrokerError(
                    f"{what}: the group has active members, so only they may commit",
                    hint="commit through the group's consumer, or stop its consumers first",
                ) from exc
            raise
        for ktp in result.topic_partitions or ():
            if ktp.error is not None:
                raise translate(ktp.error, self._s.bootstrap, what, topic=ktp.topic)

    def list_groups(self) -> list[str]:
        """Ids of all consumer groups the cluster knows, sorted."""
        future = self._admin.list_consumer_groups(request_timeout=self._s.timeout_s)
        result = self._result(future, "listing consumer groups")
        return sorted({g.group_id for g in result.valid})

    def describe_group_members(self, group: str) -> list[tuple[str, list[TopicPartition]]]:
        """The group's members as ``(member id, assigned partitions)`` (empty for a group without members)."""
        futures = self._admin.describe_consumer_groups([group], request_timeout=self._s.timeout_s)
        (future,) = futures.values()
        desc = self._result(future, f"describing group {group!r}")
        members = []
        for m in desc.members or ():
            tps = [TopicPartition(t.topic, t.partition) for t in (m.assignment.topic_partitions or ())]
            members.append((m.member_id, tps))
        return members

    def delete_group(self, group: str) -> None:
        """Delete a group and its committed offsets; a group that does not exist is ignored."""
        futures = self._admin.delete_consumer_groups([group], request_timeout=self._s.timeout_s)
        (future,) = futures.values()
        what = f"deleting group {group!r}"
        try:
            future.result(timeout=self._s.timeout_s + 1.0)
        except FutureTimeout:
            raise unreachable(self._s.bootstrap, what, self._s.timeout_s) from None
        except KafkaException as exc:
            err = kafka_error_of(exc)
            if err is not None and err.code() == KafkaError.GROUP_ID_NOT_FOUND:
                return
            if err is not None and err.code() == KafkaError.NON_EMPTY_GROUP:
                raise BrokerError(
                    f"{what}: the group still has active members", hint="close its consumers first"
                ) from exc
            raise translate(exc, self._s.bootstrap, what) from exc


def validate_partitions_arg(partitions: Any) -> None:
    """Reject a partition count that is not a positive int."""
    if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
        raise ConfigError(f"a topic needs at least 1 partition, got {partitions!r}")


__all__ = ["KafkaAdmin", "is_internal_topic", "validate_partitions_arg"]
