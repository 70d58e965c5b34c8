"""The partition assignor of consumer groups on the embedded log: sticky and balanced, as Kafka's
``CooperativeStickyAssignor`` is.

:func:`sticky_assign` is pure: given every partition of the subscribed topics, each member's subscription and
the previous assignment, it returns the new one, in which

* every partition of a subscribed topic has exactly one owner among the members subscribed to its topic;
* the members are balanced: where members share their subscriptions, their partition counts differ by at
  most one;
* as few partitions as possible move: a member keeps what it owned, up to its fair share.

Members and partitions are ordered (by id, by topic and partition) before anything is decided, so every
process computes the same assignment from the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core.record import TopicPartition


def sticky_assign(
    partitions: Mapping[str, int],
    subscriptions: Mapping[str, Sequence[str]],
    previous: Mapping[str, Sequence[TopicPartition]] | None = None,
) -> dict[str, list[TopicPartition]]:
    """``{member: [partitions]}`` for ``partitions`` (topic → partition count) among ``subscriptions``
    (member → topics), sticking to ``previous`` where balance allows (see the module docstring)."""
    members = sorted(subscriptions)
    out: dict[str, list[TopicPartition]] = {m: [] for m in members}
    if not members:
        return out
    eligible: dict[TopicPartition, list[str]] = {}
    for topic in sorted(partitions):
        subscribers = [m for m in members if topic in subscriptions[m]]
        if subscribers:
            for p in range(partitions[topic]):
                eligible[TopicPartition(topic, p)] = subscribers
    # fair share: what an even split of the partitions each member may take would give it
    share = {m: 0.0 for m in members}
    for owners in eligible.values():
        for m in owners:
            share[m] += 1 / len(owners)
    quota = {m: -(-share[m] // 1) for m in members}  # ceiling: a member may keep up to this many
    taken: set[TopicPartition] = set()
    for m in members:  # 1. keep what was owned (still eligible), up to the quota
        for tp in sorted((previous or {}).get(m, ())):
            tp = TopicPartition(*tp)
            if tp in eligible and m in eligible[tp] and tp not in taken and len(out[m]) < quota[m]:
                out[m].append(tp)
                taken.add(tp)
    for tp, owners in eligible.items():  # 2. the rest to the eligible member with the fewest
        if tp not in taken:
            m = min(owners, key=lambda o: (len(out[o]), o))
            out[m].append(tp)
            taken.add(tp)
    moved = True
    while moved:  # 3. balance: move from the fullest to an eligible emptier member while it differs by > 1
        moved = False
        for m in sorted(members, key=lambda o: (-len(out[o]), o)):
            for tp in sorted(out[m], reverse=True):
                target = min(eligible[tp], key=lambda o: (len(out[o]), o))
                if len(out[target]) + 1 < len(out[m]):
                    out[m].remove(tp)
                    out[target].append(tp)
                    moved = True
                    break
            if moved:
                break
    return {m: sorted(tps) for m, tps in out.items()}


__all__ = ["sticky_assign"]
