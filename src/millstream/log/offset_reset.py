"""Resetting a consumer group's committed offsets, as ``kafka-consumer-groups --reset-offsets`` does.

:func:`plan_reset` computes the new offset of every partition of the topics asked for from one
:class:`ResetSpec` (``--to-earliest``, ``--to-latest``, ``--to-datetime``, ``--shift-by``), always within
``[log start, log end]``; :func:`execute_reset` commits them. Both refuse a group that has live members
(:class:`ActiveGroupError`): the members would overwrite the reset with their next commit, and Kafka's
coordinator refuses offset commits from outside an active group for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..core.errors import ConfigError, MillstreamError
from ..core.record import TopicPartition
from .base import Log


class ActiveGroupError(MillstreamError):
    """The group has live members; its offsets can only be reset while it is empty."""


@dataclass(frozen=True)
class ResetSpec:
    """Exactly one of: ``to`` ``"earliest"``/``"latest"``, ``timestamp_ms`` (the first offset whose record
    timestamp is at or after it; the log end when there is none), or ``shift_by`` (the committed offset plus
    ``shift_by``; the log start for a partition without one)."""

    to: str | None = None
    timestamp_ms: int | None = None
    shift_by: int | None = None

    def __post_init__(self) -> None:
        given = [x for x in (self.to, self.timestamp_ms, self.shift_by) if x is not None]
        if len(given) != 1:
            raise ConfigError(
                "give exactly one of --to-earliest, --to-latest, --to-datetime, --shift-by",
                hint="kafka-consumer-groups asks for one reset scenario too",
            )
        if self.to is not None and self.to not in ("earliest", "latest"):
            raise ConfigError(f"unknown reset target {self.to!r}")


def live_members(log: Log, group: str) -> list[tuple[str, list[TopicPartition]]]:
    """The group's live members (``(member id, owned partitions)``), empty when the backend tracks none."""
    describe = getattr(log, "describe_group_members", None)
    return list(describe(group)) if describe is not None else []


def check_inactive(log: Log, group: str) -> None:
    """:class:`ActiveGroupError` naming the members when ``group`` has live ones."""
    members = live_members(log, group)
    if members:
        names = ", ".join(m for m, _ in members[:5]) + (" ..." if len(members) > 5 else "")
        raise ActiveGroupError(
            f"group {group!r} has {len(members)} live member(s) ({names}): offsets can only be reset while the "
            "group is inactive",
            hint="stop its consumers (or the job reading with it), wait for their session to time out, then retry",
        )


def plan_reset(log: Log, group: str, topics: Iterable[str], spec: ResetSpec) -> dict[TopicPartition, int]:
    """The new committed offset of every partition of ``topics`` for ``group`` (nothing is written)."""
    check_inactive(log, group)
    committed = log.committed_offsets(group)
    plan: dict[TopicPartition, int] = {}
    for topic in topics:
        for p in range(log.describe_topic(topic).partitions):
            tp = TopicPartition(topic, p)
            start, end = log.earliest_offset(topic, p), log.latest_offset(topic, p)
            if spec.to == "earliest":
                new = start
            elif spec.to == "latest":
                new = end
            elif spec.timestamp_ms is not None:
                found = log.offset_for_timestamp(topic, p, spec.timestamp_ms)
                new = end if found is None else found
            else:
                assert spec.shift_by is not None
                new = committed.get(tp, start) + spec.shift_by
            plan[tp] = min(max(new, start), end)
    return plan


def execute_reset(log: Log, group: str, plan: Mapping[TopicPartition, int]) -> None:
    """Commit ``plan`` for ``group`` (checking again that the group is inactive)."""
    check_inactive(log, group)
    log.commit_offsets(group, dict(plan))


__all__ = ["ActiveGroupError", "ResetSpec", "check_inactive", "execute_reset", "live_members", "plan_reset"]
