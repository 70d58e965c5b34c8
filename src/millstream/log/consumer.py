"""Consumers: read a set of partitions from their positions on, and commit progress to a consumer group.

:class:`Consumer` is the interface (named as in Kafka's consumer). :class:`LogConsumer` implements it over
any :class:`~millstream.log.base.Log` with the log's own ``read``; the Kafka backend has its own with real
group membership. With ``subscribe`` a ``LogConsumer`` takes every partition of the matching topics (topics
created later are picked up on the next poll) — unless the log coordinates groups (:class:`GroupCoordinator`:
the embedded log does, :mod:`millstream.log.embedded_groups`). Then consumers of one group, in any number of
processes, share the partitions: each ``poll`` heartbeats at most every ``heartbeat_interval_ms``; a member
whose heartbeats stop for ``session_timeout_ms`` (a crash, ``kill -9``) leaves the group; partitions move
with an incremental cooperative rebalance (a partition a member gives up is committed and released before
another member starts it; the others keep reading); ``on_assign`` / ``on_revoke`` / ``on_lost`` callbacks
run inside ``poll``; commits of a member that was removed, or of partitions no longer its own, fail with
:class:`~millstream.log.embedded_groups.CommitFailedError`; ``close`` commits and leaves the group.

Starting positions: a partition's committed offset for the group if there is one, else
``auto_offset_reset``: ``earliest`` (default), ``latest``, or ``none`` (raise). A position that falls out
of range (retention removed it) is reset the same way.
"""

from __future__ import annotations

import re
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..core.errors import ConfigError, MillstreamError, OffsetOutOfRangeError, WakeupError
from ..core.record import Record, TopicPartition

if TYPE_CHECKING:
    from .base import Log
    from .batch_codec import ReadColumns
    from .embedded_groups import MemberState

RebalanceCallback = Callable[[list[TopicPartition]], None]


@runtime_checkable
class GroupCoordinator(Protocol):
    """A log that coordinates consumer groups itself (the embedded log; see the module docstring)."""

    def sync_group_member(
        self,
        group: str,
        member_id: str,
        topics: Sequence[str],
        session_timeout_ms: int,
        owned: Iterable[TopicPartition],
    ) -> MemberState: ...

    def leave_group_member(self, group: str, member_id: str) -> None: ...

    def commit_member_offsets(self, group: str, member_id: str, offsets: Mapping[TopicPartition, int]) -> None: ...


RESET_POLICIES = ("earliest", "latest", "none")


class NoOffsetError(MillstreamError):
    """A partition has no committed offset and ``auto_offset_reset`` is ``none``."""


class Consumer(ABC):
    """Reads records from assigned partitions; positions advance as records are returned by ``poll``."""

    group_id: str | None

    @abstractmethod
    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read exactly these partitions (replaces any subscription)."""

    @abstractmethod
    def subscribe(
        self,
        topics: Iterable[str] | None = None,
        *,
        pattern: str | None = None,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
        on_lost: RebalanceCallback | None = None,
    ) -> None:
        """Read the partitions of these topics (or of topics matching a regex), as the group assigns them;
        the callbacks run inside ``poll`` with the partitions gained, given up (committed first) or lost."""

    @abstractmethod
    def assignment(self) -> list[TopicPartition]:
        """The partitions currently read."""

    @abstractmethod
    def poll(self, timeout_ms: int = 0, max_records: int = 500) -> list[Record]:
        """Up to ``max_records`` records, waiting up to ``timeout_ms`` if none are ready."""

    @abstractmethod
    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Set the next offset read from ``partition``."""

    @abstractmethod
    def position(self, partition: TopicPartition) -> int:
        """The next offset that will be read from ``partition``."""

    @abstractmethod
    def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None:
        """Commit offsets (default: the current positions of all assigned partitions) to the group."""

    @abstractmethod
    def close(self) -> None:
        """Stop reading; with ``commit_on_close`` (the default for group consumers) commit positions first."""

    _woken = False

    def wakeup(self) -> None:
        """Kafka's ``Consumer.wakeup()``, safe to call from any thread: a ``poll`` waiting for records, or a
        ``subscribe`` waiting for the group's first assignment, raises :class:`WakeupError` within one wait step
        (at most 0.1 s); when no such call is waiting, the next one raises it. The way to stop a thread that
        reads, before closing its consumer in that thread."""
        self._woken = True

    def _check_wakeup(self) -> None:
        """(In the blocking calls' waits.) Raise :class:`WakeupError` once after :meth:`wakeup`."""
        if self._woken:
            self._woken = False
            raise WakeupError("the consumer's wait was cut short by wakeup()")

    def seek_to_beginning(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        raise NotImplementedError

    def seek_to_end(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        raise NotImplementedError

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterable[Record]:
        while True:
            yield from self.poll(timeout_ms=100)


class LogConsumer(Consumer):
    """A consumer over any ``Log`` (see the module docstring)."""

    def __init__(
        self,
        log: Log,
        group_id: str | None = None,
        *,
        auto_offset_reset: str = "earliest",
        commit_on_close: bool | None = None,
        max_bytes: int | None = None,
        session_timeout_ms: int = 45_000,
        heartbeat_interval_ms: int = 3_000,
        group_instance_id: str | None = None,
    ) -> None:
        if auto_offset_reset not in RESET_POLICIES:
            raise ConfigError(
                f"auto_offset_reset={auto_offset_reset!r} is invalid",
                hint=f"use one of {', '.join(RESET_POLICIES)}",
            )
        self._log = log
        self.group_id = group_id
        self.auto_offset_reset = auto_offset_reset
        self.commit_on_close = bool(group_id) if commit_on_close is None else commit_on_close
        self.max_bytes = max_bytes
        self._positions: dict[TopicPartition, int] = {}
        self._topics: list[str] | None = None
        self._pattern: re.Pattern[str] | None = None
        self._next = 0  # round-robin start among partitions
        self._closed = False
        if heartbeat_interval_ms <= 0 or session_timeout_ms <= heartbeat_interval_ms:
            raise ConfigError(
                f"heartbeat_interval_ms={heartbeat_interval_ms} must be positive and below "
                f"session_timeout_ms={session_timeout_ms}",
                hint="Kafka's defaults are 3000 and 45000; a third of the session timeout or less is usual",
            )
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        # set when this consumer joins a coordinated group; a static member (Kafka's group.instance.id) keeps
        # its id across restarts, so a restart within the session timeout takes its partitions straight back
        self.member_id: str | None = group_instance_id
        self.generation = 0
        self._next_sync = 0.0
        self._on_assign: RebalanceCallback | None = None
        self._on_revoke: RebalanceCallback | None = None
        self._on_lost: RebalanceCallback | None = None

    # -- assignment ---------------------------------------------------------------------------------
    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        self._topics, self._pattern = None, None
        wanted = [TopicPartition(*tp) for tp in partitions]
        for tp in wanted:
            n = self._log.describe_topic(tp.topic).partitions
            if not 0 <= tp.partition < n:
                from ..core.errors import UnknownPartitionError

                raise UnknownPartitionError(tp.topic, tp.partition, n)
        self._set_assignment(wanted)

    def subscribe(
        self,
        topics: Iterable[str] | None = None,
        *,
        pattern: str | None = None,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
        on_lost: RebalanceCallback | None = None,
    ) -> None:
        """Read these topics (or those matching the regex ``pattern``); in a coordinated group, join it."""
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        if (topics is None) == (pattern is None):
            raise ConfigError("subscribe needs either topics or a pattern")
        if pattern is not None:
            try:
                self._pattern = re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"invalid topic pattern {pattern!r}: {exc}") from exc
            self._topics = None
        else:
            self._topics = list(topics or ())
            self._pattern = None
            for t in self._topics:
                self._log.describe_topic(t)  # raises UnknownTopicError
        try:
            self._refresh_subscription()
        except BaseException:
            if self.member_id is not None and self.group_id and isinstance(self._log, GroupCoordinator):
                self._log.leave_group_member(self.group_id, self.member_id)  # (no member that never reads)
            raise

    def _subscribed_topics(self) -> list[str]:
        if self._pattern is not None:
            pattern = self._pattern
            return [t for t in self._log.list_topics() if pattern.fullmatch(t)]
        return list(self._topics or [])

    def _refresh_subscription(self) -> None:
        if self._topics is None and self._pattern is None:
            return
        if self.group_id and isinstance(self._log, GroupCoordinator):
            if time.monotonic() >= self._next_sync:
                self._sync_group(self._log, self.group_id)
            return
        topics = self._subscribed_topics()
        wanted: list[TopicPartition] = []
        for t in topics:
            try:
                wanted.extend(self._log.describe_topic(t).partitions_list())
            except Exception:
                continue  # deleted meanwhile
        if set(wanted) != set(self._positions):
            self._set_assignment(wanted)

    def _sync_group(self, log: GroupCoordinator, group: str) -> None:
        """Heartbeat; give up (commit, then release) the partitions outside this member's target; take those
        of the target no other member owns any more (see the module docstring)."""
        if self.member_id is None:
            self.member_id = f"millstream-{uuid.uuid4().hex[:12]}"
        topics = self._subscribed_topics()
        state = log.sync_group_member(group, self.member_id, topics, self.session_timeout_ms, list(self._positions))
        if state.lost:
            gone = [tp for tp in self._positions if tp in state.lost]
            for tp in gone:
                del self._positions[tp]
            if self._on_lost is not None and gone:
                self._on_lost(gone)
        target = set(state.target)
        revoked = [tp for tp in self._positions if tp not in target]
        if revoked:
            fenced = False
            if self.commit_on_close:
                from .embedded_groups import CommitFailedError

                try:
                    log.commit_member_offsets(group, self.member_id, {tp: self._positions[tp] for tp in revoked})
                except CommitFailedError:
                    fenced = True  # this member was removed and rejoined: the partitions are another's already
            callback = self._on_lost if fenced else self._on_revoke
            if callback is not None:
                callback(revoked)
            for tp in revoked:
                del self._positions[tp]
            # tell the group at once, so that the new owners need not wait for the next heartbeat
            state = log.sync_group_member(group, self.member_id, topics, self.session_timeout_ms, list(self._positions))
            target = set(state.target)
        added = [tp for tp in state.target if tp not in self._positions and tp not in state.taken]
        if added:
            self._set_assignment([*self._positions, *added])
            if self._on_assign is not None:
                self._on_assign(added)
        self.generation = state.generation
        waiting = any(tp not in self._positions for tp in target)
        interval = self.heartbeat_interval_ms / (4 if waiting else 1)
        self._next_sync = time.monotonic() + interval / 1000

    def _set_assignment(self, partitions: list[TopicPartition]) -> None:
        keep = {tp: pos for tp, pos in self._positions.items() if tp in partitions}
        new = [tp for tp in partitions if tp not in keep]
        committed = self._log.committed_offsets(self.group_id, new) if self.group_id and new else {}
        for tp in new:
            keep[tp] = committed[tp] if tp in committed else self._reset_position(tp)
        self._positions = {tp: keep[tp] for tp in partitions}

    def _reset_position(self, tp: TopicPartition) -> int:
        if self.auto_offset_reset == "earliest":
            return self._log.earliest_offset(tp.topic, tp.partition)
        if self.auto_offset_reset == "latest":
            return self._log.latest_offset(tp.topic, tp.partition)
        raise NoOffsetError(
            f"no committed offset for {tp} in group {self.group_id!r}",
            hint="set auto_offset_reset to earliest or latest, or commit an offset first",
        )

    def assignment(self) -> list[TopicPartition]:
        return list(self._positions)

    # -- reading ------------------------------------------------------------------------------------
    WAIT_STEP_S = 0.1
    """A blocking wait is cut at this interval to look for a :meth:`wakeup` and (while subscribed) for new
    topics/partitions."""

    def poll(self, timeout_ms: int = 0, max_records: int = 500) -> list[Record]:
        """Up to ``max_records`` records, waiting up to ``timeout_ms`` if none are ready.

        With one assigned partition the wait happens in the log's blocking ``read``, which wakes as soon as
        an append commits; with several, polls are retried with a short, growing sleep."""
        return self._poll(timeout_ms, max_records, False)

    def poll_columns(self, timeout_ms: int = 0, max_records: int = 500) -> list[tuple[TopicPartition, ReadColumns]]:
        """:meth:`poll` (same records, order, waiting and position updates) with each partition's records as
        columns ``(offsets, timestamps, keys or None, values, headers or None)``, in the order ``poll``
        would return them. Uses the log's ``read_columns`` when it has one (no :class:`Record` is built),
        else the columns of ``read``'s records."""
        return self._poll(timeout_ms, max_records, True)

    def _poll(self, timeout_ms: int, max_records: int, columnar: bool) -> list[Any]:
        deadline = time.monotonic() + max(0, timeout_ms) / 1000.0
        sleep = 0.001
        while True:
            self._check_wakeup()
            self._refresh_subscription()
            out = self._poll_once(max_records, columnar)
            if out:
                return out
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            if len(self._positions) == 1:
                out = self._wait_single(remaining, max_records, columnar)
                if out:
                    return out
                continue
            time.sleep(min(sleep, remaining))
            sleep = min(sleep * 2, 0.02)

    def _read(self, tp: TopicPartition, pos: int, want: int, timeout_ms: int, columnar: bool) -> tuple[list[Any], int]:
        """Read ``tp`` from ``pos``: ``(records, or [(tp, columns)], next position)``; nothing is ``([], pos)``."""
        log_ = self._log
        hook = getattr(log_, "read_columns", None) if columnar and self.max_bytes is None else None
        if hook is not None:
            cols = hook(tp.topic, tp.partition, pos, max_records=want, timeout_ms=timeout_ms)
            return ([(tp, cols)], cols[0][-1] + 1) if cols else ([], pos)
        recs = log_.read(tp.topic, tp.partition, pos, max_records=want, max_bytes=self.max_bytes, timeout_ms=timeout_ms)
        if not recs:
            return [], pos
        nxt = recs[-1].offset + 1
        if not columnar:
            return recs, nxt
        offsets, timestamps, keys, values, headers = (list(c) for c in zip(*(r[2:] for r in recs), strict=True))
        cols = (
            offsets,
            timestamps,
            None if keys.count(None) == len(keys) else keys,
            values,
            headers if any(headers) else None,
        )
        return [(tp, cols)], nxt

    def _wait_single(self, remaining: float, max_records: int, columnar: bool) -> list[Any]:
        """Block in the log's ``read`` of the only assigned partition for up to ``remaining`` seconds."""
        ((tp, pos),) = self._positions.items()
        remaining = min(remaining, self.WAIT_STEP_S)
        try:
            out, nxt = self._read(tp, pos, max_records, max(1, int(remaining * 1000)), columnar)
        except OffsetOutOfRangeError:
            self._positions[tp] = self._reset_position(tp)
            return []
        self._positions[tp] = nxt
        return out

    def _poll_once(self, max_records: int, columnar: bool) -> list[Any]:
        tps = list(self._positions)
        if not tps:
            return []
        out: list[Any] = []
        got = 0
        start = self._next % len(tps)
        for i in range(len(tps)):
            tp = tps[(start + i) % len(tps)]
            want = max_records - got
            if want <= 0:
                break
            pos = self._positions[tp]
            try:
                part, nxt = self._read(tp, pos, want, 0, columnar)
            except OffsetOutOfRangeError:
                self._positions[tp] = self._reset_position(tp)
                continue
            if part:
                out.extend(part)
                got += len(part[0][1][0]) if columnar else len(part)
                self._positions[tp] = nxt
        self._next = start + 1
        return out

    def seek(self, partition: TopicPartition, offset: int) -> None:
        tp = TopicPartition(*partition)
        if tp not in self._positions:
            raise ConfigError(f"cannot seek {tp}: it is not assigned to this consumer")
        self._positions[tp] = offset

    def seek_to_beginning(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        for tp in list(partitions or self._positions):
            self.seek(tp, self._log.earliest_offset(tp[0], tp[1]))

    def seek_to_end(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        for tp in list(partitions or self._positions):
            self.seek(tp, self._log.latest_offset(tp[0], tp[1]))

    def position(self, partition: TopicPartition) -> int:
        return self._positions[TopicPartition(*partition)]

    def lag(self) -> dict[TopicPartition, int]:
        """Records between each position and the partition's log end."""
        return {
            tp: max(0, self._log.latest_offset(tp.topic, tp.partition) - pos) for tp, pos in self._positions.items()
        }

    def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None:
        if not self.group_id:
            raise ConfigError("this consumer has no group_id, so it cannot commit offsets")
        chosen = dict(offsets) if offsets is not None else dict(self._positions)
        if self.member_id is not None and isinstance(self._log, GroupCoordinator):
            self._log.commit_member_offsets(self.group_id, self.member_id, chosen)  # fenced
        else:
            self._log.commit_offsets(self.group_id, chosen)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.commit_on_close and self.group_id and self._positions:
                self.commit()
        finally:
            if self.member_id is not None and self.group_id and isinstance(self._log, GroupCoordinator):
                self._log.leave_group_member(self.group_id, self.member_id)


__all__ = ["RESET_POLICIES", "Consumer", "GroupCoordinator", "LogConsumer", "NoOffsetError", "RebalanceCallback"]
