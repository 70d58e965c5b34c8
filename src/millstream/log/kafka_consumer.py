"""A consumer with real Kafka group membership: ``KafkaLog.consumer(group_id, ...)``.

:class:`KafkaConsumer` implements :class:`millstream.log.consumer.Consumer` on a librdkafka consumer:

- ``subscribe(topics | pattern=regex)`` joins the group with the ``cooperative-sticky`` assignor; partitions
  move between members incrementally. ``on_assign`` / ``on_revoke`` / ``on_lost`` callbacks receive lists of
  :class:`TopicPartition` and run inside ``poll``; before revoked partitions leave, their positions are
  committed (with ``commit_on_close``, the default for a group). A pattern is a Python regex matched in full
  against topic names, re-evaluated every ``pattern_refresh_ms``.
- ``assign`` reads exactly the given partitions without joining (commits still go to the group).
- Starting positions: the group's committed offset, else ``auto_offset_reset`` (``earliest`` / ``latest`` /
  ``none``: poll raises :class:`NoOffsetError`).
- ``isolation_level`` is ``read_committed`` unless told otherwise: records of open or aborted transactions
  are never returned.
- ``poll`` returns as soon as records are there (up to ``max_records``), else after ``timeout_ms``.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer as RdKafkaConsumer
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import OffsetSpec

from ..core.errors import ConfigError, OffsetOutOfRangeError
from ..core.record import Record, TopicPartition
from .consumer import RESET_POLICIES, Consumer, NoOffsetError
from .kafka_config import LOGGER
from .kafka_errors import make_client, translate, unreachable

if TYPE_CHECKING:
    from .kafka import KafkaLog

RebalanceCallback = Callable[[list[TopicPartition]], None]
_new = tuple.__new__
_TOP_UP_S = 0.01  # after the first record of a wait, collect the rest of the fetch for up to this long


class KafkaConsumer(Consumer):
    """A Kafka group consumer over a ``kafka://`` log (see the module docstring)."""

    def __init__(
        self,
        log: KafkaLog,
        group_id: str | None = None,
        *,
        auto_offset_reset: str = "earliest",
        commit_on_close: bool | None = None,
        max_bytes: int | None = None,
        isolation_level: str = "read_committed",
        pattern_refresh_ms: int = 5000,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        if auto_offset_reset not in RESET_POLICIES:
            raise ConfigError(
                f"auto_offset_reset={auto_offset_reset!r} is invalid",
                hint=f"use one of {', '.join(RESET_POLICIES)}",
            )
        if isolation_level not in ("read_committed", "read_uncommitted"):
            raise ConfigError(
                f"isolation_level={isolation_level!r} is invalid",
                hint="use read_committed or read_uncommitted",
            )
        self._log = log
        self.group_id = group_id
        self.auto_offset_reset = auto_offset_reset
        self.commit_on_close = bool(group_id) if commit_on_close is None else commit_on_close
        self.max_bytes = max_bytes
        self._s = log.settings
        conf = self._s.consumer_config(
            **{
                "group.id": group_id or f"millstream-standalone-{uuid.uuid4().hex[:12]}",
                "auto.offset.reset": "error" if auto_offset_reset == "none" else auto_offset_reset,
                "isolation.level": isolation_level,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
            }
        )
        conf.setdefault("partition.assignment.strategy", "cooperative-sticky")
        for key, value in (properties or {}).items():
            conf[key] = str(value).lower() if isinstance(value, bool) else str(value)
        self._cooperative = "cooperative" in str(conf["partition.assignment.strategy"])
        self._read_committed = isolation_level == "read_committed"
        self._c = make_client(RdKafkaConsumer, conf, f"consumer of group {group_id!r}")
        self._assigned: set[TopicPartition] = set()
        self._start: dict[TopicPartition, int] = {}  # where each partition started at its assignment
        self._early: list[Any] = []  # messages polled while subscribe waited for the first assignment
        self._joined = False
        self._subscribed = False
        self._pattern: re.Pattern[str] | None = None
        self._pattern_topics: list[str] = []
        self._pattern_refresh_s = pattern_refresh_ms / 1000.0
        self._pattern_checked = 0.0
        self._on_assign: RebalanceCallback | None = None
        self._on_revoke: RebalanceCallback | None = None
        self._on_lost: RebalanceCallback | None = None
        self._closed = False
        log._register_consumer(group_id, self)

    # -- assignment ---------------------------------------------------------------------------------
    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read exactly ``partitions`` from their committed offsets (or ``auto_offset_reset``), without joining."""
        wanted = [TopicPartition(*tp) for tp in partitions]
        for tp in wanted:
            self._log._admin.check_partition(tp.topic, tp.partition)
        if self._subscribed:
            self._c.unsubscribe()
            self._subscribed = False
        self._pattern = None
        starts = self._starting_offsets(wanted)
        self._c.assign([KafkaTopicPartition(tp.topic, tp.partition, starts[tp]) for tp in wanted])
        self._assigned = set(wanted)
        self._start = dict(starts)

    def subscribe(
        self,
        topics: Iterable[str] | None = None,
        *,
        pattern: str | None = None,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
        on_lost: RebalanceCallback | None = None,
    ) -> None:
        """Join the group for ``topics`` (or topics matching the regex ``pattern``) with rebalance callbacks."""
        if (topics is None) == (pattern is None):
            raise ConfigError("subscribe needs either topics or a pattern")
        if not self.group_id:
            raise ConfigError("subscribe needs a group_id", hint="pass group_id=..., or use assign()")
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        if pattern is not None:
            try:
                self._pattern = re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"invalid topic pattern {pattern!r}: {exc}") from exc
            names = self._matching_topics()
        else:
            self._pattern = None
            names = list(topics or ())
            for t in names:
                self._log._admin.partition_count(t)  # raises UnknownTopicError
        self._subscribe(names)

    def _matching_topics(self) -> list[str]:
        assert self._pattern is not None
        pattern = self._pattern
        self._pattern_checked = time.monotonic()
        return [t for t in self._log._admin.list_topics() if pattern.fullmatch(t)]

    def _subscribe(self, names: list[str]) -> None:
        if self._assigned and not self._subscribed:
            self._c.unassign()
            self._assigned = set()
        self._pattern_topics = names
        if not names:
            if self._subscribed:
                self._c.unsubscribe()
                self._subscribed = False
            return
        self._c.subscribe(names, on_assign=self._assigned_cb, on_revoke=self._revoked_cb, on_lost=self._lost_cb)
        self._subscribed = True
        self._wait_for_assignment()

    def _wait_for_assignment(self) -> None:
        """Poll until the group gave this member its first assignment (maybe empty), as Kafka's poll would."""
        self._joined = False
        deadline = time.monotonic() + self._s.timeout_s
        while not self._joined:
            self._check_wakeup()
            if time.monotonic() > deadline:
                raise unreachable(self._s.bootstrap, f"joining consumer group {self.group_id!r}", self._s.timeout_s)
            m = self._c.poll(0.05)
            if m is not None:
                self._early.append(m)

    def _refresh_pattern(self) -> None:
        if self._pattern is None or time.monotonic() - self._pattern_checked < self._pattern_refresh_s:
            return
        names = self._matching_topics()
        if names != self._pattern_topics:
            self._subscribe(names)

    # rebalance callbacks (run inside poll) -----------------------------------------------------------
    def _assigned_cb(self, _c: Any, partitions: list[KafkaTopicPartition]) -> None:
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        self._joined = True
        try:
            starts = self._starting_offsets(tps)
        except Exception:
            self._c.unsubscribe()  # leave the group rather than hold partitions nobody reads
            self._subscribed = False
            raise
        placed = [KafkaTopicPartition(tp.topic, tp.partition, starts[tp]) for tp in tps]
        if self._cooperative:
            self._c.incremental_assign(placed)
        else:
            self._c.assign(placed)
        self._start.update(starts)
        self._assigned.update(tps)
        if self._on_assign is not None and tps:
            self._on_assign(tps)

    def _revoked_cb(self, _c: Any, partitions: list[KafkaTopicPartition]) -> None:
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        if self._on_revoke is not None and tps:
            self._on_revoke(tps)
        if self.commit_on_close and tps:
            try:
                self._commit_positions(tps)
            except Exception as exc:  # the group may already have moved on; the next owner re-reads
                LOGGER.warning("committing revoked partitions of group %s failed: %s", self.group_id, exc)
        self._assigned.difference_update(tps)

    def _lost_cb(self, _c: Any, partitions: list[KafkaTopicPartition]) -> None:
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        if self._on_lost is not None and tps:
            self._on_lost(tps)
        elif self._on_revoke is not None and tps:
            self._on_revoke(tps)
        self._assigned.difference_update(tps)

    def _starting_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Each partition's start: the group's committed offset, else ``auto_offset_reset`` (resolved now)."""
        if not tps:
            return {}
        committed = self._log.committed_offsets(self.group_id, tps) if self.group_id else {}
        missing = [tp for tp in tps if tp not in committed]
        if missing and self.auto_offset_reset == "none":
            raise NoOffsetError(
                f"no committed offset for {', '.join(map(str, missing))} in group {self.group_id!r}",
                hint="set auto_offset_reset to earliest or latest, or commit an offset first",
            )
        if missing:
            spec = OffsetSpec.earliest() if self.auto_offset_reset == "earliest" else OffsetSpec.latest()
            found = self._log._admin.list_offsets(dict.fromkeys(missing, spec), committed_only=self._read_committed)
            committed.update({tp: max(0, found[tp][0]) for tp in missing})
        return committed

    def assignment(self) -> list[TopicPartition]:
        """The partitions this member reads now."""
        return sorted(TopicPartition(p.topic, p.partition) for p in self._c.assignment())

    # -- reading ------------------------------------------------------------------------------------
    def poll(self, timeout_ms: int = 0, max_records: int = 500) -> list[Record]:
        """Up to ``max_records`` records, waiting up to ``timeout_ms`` for the first."""
        self._refresh_pattern()
        max_records = max(1, max_records)
        c = self._c
        if self._early:
            msgs, self._early = self._early[:max_records], self._early[max_records:]
            if len(msgs) < max_records:
                msgs += c.consume(max_records - len(msgs), 0)
        else:
            msgs = c.consume(max_records, 0)
        deadline = time.monotonic() + max(0, timeout_ms) / 1000.0
        while True:
            out = self._convert(msgs)
            if out:
                return out
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._check_wakeup()
            m = c.poll(min(remaining, 0.1))
            if m is None:
                msgs = []
            elif max_records > 1:
                # records just arrived: take what the same fetch brings for the other partitions too
                msgs = [m, *c.consume(max_records - 1, min(_TOP_UP_S, max(0.0, deadline - time.monotonic())))]
            else:
                msgs = [m]

    def _convert(self, msgs: list[Any]) -> list[Record]:
        out: list[Record] = []
        append = out.append
        limit = self.max_bytes
        size = 0
        for i, m in enumerate(msgs):
            err = m.error()
            if err is None:
                h = m.headers()
                key, value = m.key(), m.value()
                append(
                    _new(
                        Record,
                        (
                            m.topic(),
                            m.partition(),
                            m.offset(),
                            m.timestamp()[1],
                            key,
                            value,
                            tuple(h) if h else (),
                        ),
                    )
                )
                if limit is not None:
                    size += len(key or b"") + len(value or b"")
                    if size >= limit and i + 1 < len(msgs):
                        self._rewind(msgs[i + 1 :])
                        return out
                continue
            self._on_error(m, err)
        return out

    def _rewind(self, unreturned: list[Any]) -> None:
        """Seek partitions back to the first record not returned (``max_bytes`` cut a batch)."""
        first: dict[tuple[str, int], int] = {}
        for m in unreturned:
            if m.error() is None:
                first.setdefault((m.topic(), m.partition()), m.offset())
        for (topic, partition), offset in first.items():
            self._seek_raw(topic, partition, offset)

    def _on_error(self, m: Any, err: KafkaError) -> None:
        code = err.code()
        if code == KafkaError._PARTITION_EOF:
            return
        if code in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
            tp = TopicPartition(m.topic(), m.partition()) if m.topic() else None
            if self.auto_offset_reset == "none":
                raise NoOffsetError(
                    f"no committed offset (or an out-of-range one) for {tp} in group {self.group_id!r}: {err.str()}",
                    hint="set auto_offset_reset to earliest or latest, or commit an offset first",
                )
            if tp is not None:
                lo, hi = self._log._admin.watermarks([tp])[tp]
                raise OffsetOutOfRangeError(tp.topic, tp.partition, m.offset(), lo, hi)
        if err.fatal():
            raise translate(err, self._s.bootstrap, f"consuming in group {self.group_id!r}")
        LOGGER.debug("consumer of group %s: %s", self.group_id, err)

    # -- positions ----------------------------------------------------------------------------------
    def _seek_raw(self, topic: str, partition: int, offset: int) -> None:
        ktp = KafkaTopicPartition(topic, partition, offset)
        try:
            self._c.seek(ktp)
        except KafkaException:
            # the fetcher is not started yet (just assigned): restart the partition at the offset
            if self._subscribed:
                self._c.incremental_unassign([KafkaTopicPartition(topic, partition)])
                self._c.incremental_assign([ktp])
            else:
                others = [p for p in self._c.assignment() if (p.topic, p.partition) != (topic, partition)]
                placed = [
                    KafkaTopicPartition(p.topic, p.partition, self.position(TopicPartition(p.topic, p.partition)))
                    for p in others
                ]
                self._c.assign([*placed, ktp])

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Set the next offset read from an assigned ``partition``."""
        tp = TopicPartition(*partition)
        if tp not in set(self.assignment()):
            raise ConfigError(f"cannot seek {tp}: it is not assigned to this consumer")
        self._early = [m for m in self._early if (m.topic(), m.partition()) != tp]
        self._seek_raw(tp.topic, tp.partition, int(offset))
        self._start[tp] = int(offset)

    def seek_to_beginning(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        """Seek partitions (default: all assigned) to their log start."""
        tps = [TopicPartition(*tp) for tp in (partitions or self.assignment())]
        marks = self._log._admin.watermarks(tps)
        for tp in tps:
            self.seek(tp, marks[tp][0])

    def seek_to_end(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        """Seek partitions (default: all assigned) to their log end."""
        tps = [TopicPartition(*tp) for tp in (partitions or self.assignment())]
        marks = self._log._admin.watermarks(tps)
        for tp in tps:
            self.seek(tp, marks[tp][1])

    def _known_position(self, tp: TopicPartition) -> int | None:
        """The next offset to return from ``tp`` if this consumer knows it without asking the cluster."""
        for m in self._early:  # polled while subscribe waited, not yet returned
            if m.error() is None and (m.topic(), m.partition()) == tp:
                return int(m.offset())
        (kp,) = self._c.position([KafkaTopicPartition(tp.topic, tp.partition)])
        if kp.offset >= 0:
            return int(kp.offset)
        return self._start.get(tp)

    def position(self, partition: TopicPartition) -> int:
        """The next offset this consumer returns from ``partition``."""
        tp = TopicPartition(*partition)
        known = self._known_position(tp)
        if known is not None:
            return known
        committed = self._log.committed_offsets(self.group_id, [tp]) if self.group_id else {}
        if tp in committed:
            return committed[tp]
        if self.auto_offset_reset == "none":
            raise NoOffsetError(f"no committed offset for {tp} in group {self.group_id!r}")
        lo, hi = self._log._admin.watermarks([tp])[tp]
        return lo if self.auto_offset_reset == "earliest" else hi

    def lag(self) -> dict[TopicPartition, int]:
        """Records between each assigned partition's position and its log end (last stable offset)."""
        tps = self.assignment()
        ends = self._log._admin.list_offsets(
            dict.fromkeys(tps, OffsetSpec.latest()), committed_only=self._read_committed
        )
        return {tp: max(0, max(0, ends[tp][0]) - self.position(tp)) for tp in tps}

    def _commit_positions(self, tps: Iterable[TopicPartition]) -> None:
        offsets = []
        for tp in tps:
            pos = self._known_position(TopicPartition(*tp))
            if pos is not None:
                offsets.append(KafkaTopicPartition(tp[0], tp[1], pos))
        if offsets:
            self._c.commit(offsets=offsets, asynchronous=False)

    def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None:
        """Commit ``offsets`` (default: the positions of all assigned partitions) to the group."""
        if not self.group_id:
            raise ConfigError("this consumer has no group_id, so it cannot commit offsets")
        try:
            if offsets is None:
                self._commit_positions(self.assignment())
            elif offsets:
                self._c.commit(
                    offsets=[KafkaTopicPartition(tp[0], tp[1], int(off)) for tp, off in offsets.items()],
                    asynchronous=False,
                )
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError._NO_OFFSET:
                return  # nothing consumed yet
            raise translate(exc, self._s.bootstrap, f"committing offsets of group {self.group_id!r}") from exc

    def consumer_group_metadata(self) -> Any:
        """This member's group metadata, for ``send_offsets_to_transaction``."""
        return self._c.consumer_group_metadata()

    def close(self) -> None:
        """Commit positions (with ``commit_on_close``), leave the group and close."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.commit_on_close and self.group_id and not self._subscribed:
                self._commit_positions(self.assignment())
        finally:
            self._c.close()  # a subscribed member commits revoked partitions in _revoked_cb
            self._log._unregister_consumer(self.group_id, self)


__all__ = ["KafkaConsumer", "RebalanceCallback"]
