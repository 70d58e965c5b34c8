"""Consumer group membership on the embedded log: several processes sharing one ``file://`` log form a group,
as Kafka consumers do through a group coordinator — here the coordinator is the log's SQLite database, and
every step is one write transaction of the member that takes it.

Tables (created on first use; logs written before them need no migration)::

    group_members(group_id, member_id, heartbeat_ms, session_timeout_ms, topics JSON, owned JSON)
    group_assignments(group_id, generation, signature, assignment JSON)

A member **syncs** (:func:`sync_member`) when it joins and then at every heartbeat:

1. members whose last heartbeat is older than their session timeout are removed (a process that died or
   hangs: kill -9 leaves its row, which expires);
2. the member's row is written (heartbeat, subscription, the partitions it *owns* — reads now — plus those
   step 4 grants it);
3. when the set of members, their subscriptions or the partition counts changed since the stored assignment
   was computed, a new one is computed (:func:`~millstream.log.assignor.sticky_assign`, sticking to the
   previous one) and the **generation** goes up;
4. the answer is the member's *target* partitions and which of them another live member still owns; the
   others are granted (recorded as owned in the same transaction).

That gives Kafka's incremental cooperative protocol: a member gives up (after committing) the partitions it
owns outside its target at once, but starts a target partition only once no other member owns it — so a
partition is never read by two members of a group at the same time, and moving it costs only its own pause.

**Fencing**: :func:`check_commit` refuses offsets from a member that is no longer in the group (its session
expired: a zombie) or for partitions it neither owns nor is to own, with :class:`CommitFailedError`, as Kafka's
coordinator refuses commits of an unknown member or an old generation.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..core.errors import LogError
from ..core.record import TopicPartition
from .assignor import sticky_assign

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS group_members (group_id TEXT NOT NULL, member_id TEXT NOT NULL, "
    "heartbeat_ms INTEGER NOT NULL, session_timeout_ms INTEGER NOT NULL, topics TEXT NOT NULL, "
    "owned TEXT NOT NULL, PRIMARY KEY (group_id, member_id)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS group_assignments (group_id TEXT PRIMARY KEY, generation INTEGER NOT NULL, "
    "signature TEXT NOT NULL, assignment TEXT NOT NULL) WITHOUT ROWID",
)


class CommitFailedError(LogError):
    """A group member's commit was refused: it is no longer in the group, or the partition is not its own."""


@dataclass(frozen=True)
class MemberState:
    """What a sync tells a member."""

    generation: int
    target: list[TopicPartition]  # the partitions the member is to own
    taken: frozenset[TopicPartition]  # of those, the ones another live member still owns (wait for them)
    members: list[str]  # every live member, sorted
    lost: frozenset[TopicPartition] = frozenset()  # partitions it claimed that another member owns now


def ensure_schema(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)


def _tps(pairs: list[list[object]]) -> list[TopicPartition]:
    return [TopicPartition(str(t), int(p)) for t, p in pairs]  # type: ignore[call-overload]


def sync_member(
    conn: sqlite3.Connection,
    group: str,
    member_id: str,
    topics: Sequence[str],
    session_timeout_ms: int,
    owned: Iterable[TopicPartition],
    now_ms: int,
) -> MemberState:
    """Steps 1-4 of the module docstring, inside the caller's write transaction."""
    ensure_schema(conn)
    conn.execute(
        "DELETE FROM group_members WHERE group_id=? AND member_id<>? AND heartbeat_ms + session_timeout_ms < ?",
        (group, member_id, now_ms),
    )
    conn.execute(
        "INSERT INTO group_members(group_id, member_id, heartbeat_ms, session_timeout_ms, topics, owned) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(group_id, member_id) DO UPDATE SET heartbeat_ms=excluded.heartbeat_ms, "
        "session_timeout_ms=excluded.session_timeout_ms, topics=excluded.topics, owned=excluded.owned",
        (group, member_id, now_ms, session_timeout_ms, json.dumps(sorted(topics)), json.dumps(sorted(owned))),
    )
    rows = conn.execute("SELECT member_id, topics, owned FROM group_members WHERE group_id=?", (group,)).fetchall()
    subscriptions = {m: json.loads(t) for m, t, _o in rows}
    owners = {m: _tps(json.loads(o)) for m, _t, o in rows}
    wanted = sorted({t for ts in subscriptions.values() for t in ts})
    counts: dict[str, int] = {}
    if wanted:
        marks = ",".join("?" * len(wanted))
        counts = dict(conn.execute(f"SELECT name, partitions FROM topics WHERE name IN ({marks})", wanted).fetchall())
    signature = json.dumps([sorted(subscriptions.items()), sorted(counts.items())])
    row = conn.execute(
        "SELECT generation, signature, assignment FROM group_assignments WHERE group_id=?", (group,)
    ).fetchone()
    if row is not None and row[1] == signature:
        generation, assignment = row[0], {m: _tps(a) for m, a in json.loads(row[2]).items()}
    else:
        previous = {m: _tps(a) for m, a in json.loads(row[2]).items()} if row is not None else {}
        assignment = sticky_assign(counts, subscriptions, previous)
        generation = (row[0] if row is not None else 0) + 1
        conn.execute(
            "INSERT INTO group_assignments(group_id, generation, signature, assignment) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(group_id) DO UPDATE SET generation=excluded.generation, signature=excluded.signature, "
            "assignment=excluded.assignment",
            (group, generation, signature, json.dumps({m: [list(tp) for tp in a] for m, a in assignment.items()})),
        )
    target = assignment.get(member_id, [])
    others = {tp for m, tps in owners.items() if m != member_id for tp in tps}
    taken = frozenset(tp for tp in target if tp in others)
    claimed = set(owners.get(member_id, []))
    lost = frozenset(claimed & others)  # a removed member rejoining: another member owns them now
    mine = claimed - lost
    granted = [tp for tp in target if tp not in taken and tp not in mine]
    if granted or lost:  # recorded in this transaction, so no other member can be granted them too
        conn.execute(
            "UPDATE group_members SET owned=? WHERE group_id=? AND member_id=?",
            (json.dumps(sorted(mine | set(granted))), group, member_id),
        )
    return MemberState(generation, target, taken, sorted(subscriptions), lost)


def describe_members(conn: sqlite3.Connection, group: str, now_ms: int) -> list[tuple[str, list[TopicPartition]]]:
    """The group's live members as ``(member id, partitions it owns)``, by member id (Kafka's shape)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name='group_members'").fetchone() is None:
        return []
    rows = conn.execute(
        "SELECT member_id, owned FROM group_members WHERE group_id=? AND heartbeat_ms + session_timeout_ms >= ? "
        "ORDER BY member_id",
        (group, now_ms),
    ).fetchall()
    return [(m, _tps(json.loads(o))) for m, o in rows]


def leave_group(conn: sqlite3.Connection, group: str, member_id: str) -> None:
    """The member leaves (a clean close): the others rebalance at their next heartbeat."""
    ensure_schema(conn)
    conn.execute("DELETE FROM group_members WHERE group_id=? AND member_id=?", (group, member_id))


def check_commit(
    conn: sqlite3.Connection, group: str, member_id: str, partitions: Iterable[TopicPartition], now_ms: int
) -> None:
    """Fencing (see the module docstring), inside the commit's write transaction."""
    ensure_schema(conn)
    row = conn.execute(
        "SELECT heartbeat_ms, session_timeout_ms, owned FROM group_members WHERE group_id=? AND member_id=?",
        (group, member_id),
    ).fetchone()
    if row is None or row[0] + row[1] < now_ms:
        raise CommitFailedError(
            f"member {member_id} of group {group!r} was removed from the group (no heartbeat within its session "
            "timeout), so its commit is refused: its partitions may belong to another member now",
            hint="poll more often than session_timeout_ms, or raise session_timeout_ms; the consumer rejoins on "
            "its next poll",
        )
    got = conn.execute("SELECT assignment FROM group_assignments WHERE group_id=?", (group,)).fetchone()
    assignment = json.loads(got[0]) if got is not None else {}
    # its target, and what it still owns (a partition it gives up is committed before it is released)
    mine = set(_tps(assignment.get(member_id, []))) | set(_tps(json.loads(row[2])))
    foreign = sorted(TopicPartition(*tp) for tp in partitions if TopicPartition(*tp) not in mine)
    if foreign:
        raise CommitFailedError(
            f"member {member_id} of group {group!r} committed offsets of {', '.join(map(str, foreign))}, which the "
            "group's assignment gives to another member (a rebalance moved them)",
            hint="commit only the partitions of the current assignment (on_revoke is the place to commit)",
        )


__all__ = ["CommitFailedError", "MemberState", "check_commit", "describe_members", "leave_group", "sync_member"]
