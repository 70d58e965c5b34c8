"""Kafka Connect's incremental cooperative assignment (KIP-415) of connectors and tasks to the workers of a
distributed cluster, as one pure function.

A *unit* is a connector (``(name, -1)``) or one of its tasks (``(name, i)``). :func:`assign_units` is given
every unit the config topic asks for, the live workers, the previous assignment, what each live worker still
*holds* (runs, or is still stopping) and when each departed worker left, and returns the new assignment:

1. a worker that left (kill -9, session expired, clean shutdown) keeps its units *reserved* for
   ``delay_ms`` (``scheduled.rebalance.max.delay.ms``): if it comes back with the same id within it, it gets
   them back untouched; after it, they are free;
2. live workers keep what they had (units that no longer exist are dropped);
3. while connectors (or tasks) are spread unevenly — more than its even share on one worker (the floor or,
   for the fullest ``total mod workers`` of them, the ceiling) — the extra units are *revoked* from it (they
   stay unassigned this round);
4. free units go to the live worker with the fewest units of their kind, but only once no other live
   worker holds them: a revoked task is stopped by its old owner before its new owner starts it, so no
   unit ever runs on two workers at once (the two-phase move of the cooperative protocol).

Workers and units are ordered before anything is decided, so the result depends only on the inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Unit = tuple[str, int]
"""``(connector, -1)`` for a connector, ``(connector, task id)`` for a task."""

CONNECTOR = -1


@dataclass(frozen=True)
class Assignment:
    """The cluster's assignment: ``workers`` maps each worker id to its units (sorted); ``departed`` maps each
    worker that left while holding units to when it left (epoch ms); ``version`` goes up on every change;
    ``leader`` is the worker that wrote it (it stays the leader while it is in the group)."""

    workers: dict[str, list[Unit]] = field(default_factory=dict)
    departed: dict[str, int] = field(default_factory=dict)
    version: int = 0
    leader: str = ""

    def owner(self, unit: Unit) -> str | None:
        """The worker the unit is assigned (or reserved) to, or ``None``."""
        for w, units in self.workers.items():
            if unit in units:
                return w
        return None

    def to_json(self) -> dict[str, object]:
        """A JSON-able form (:meth:`from_json` reads it back)."""
        return {
            "version": self.version,
            "leader": self.leader,
            "workers": {w: [list(u) for u in us] for w, us in sorted(self.workers.items())},
            "departed": dict(sorted(self.departed.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Assignment:
        """The assignment :meth:`to_json` wrote."""
        workers = data.get("workers") or {}
        departed = data.get("departed") or {}
        assert isinstance(workers, dict) and isinstance(departed, dict)
        return cls(
            {str(w): sorted((str(n), int(i)) for n, i in us) for w, us in workers.items()},
            {str(w): int(t) for w, t in departed.items()},
            int(data.get("version") or 0),  # type: ignore[call-overload]
            str(data.get("leader") or ""),
        )


def _kind(unit: Unit) -> int:
    return 0 if unit[1] == CONNECTOR else 1


def assign_units(
    units: Iterable[Unit],
    live: Iterable[str],
    previous: Assignment,
    held: Mapping[str, Iterable[Unit]],
    now_ms: int,
    delay_ms: int,
) -> Assignment:
    """The next assignment (steps 1-4 of the module docstring); ``version`` is ``previous.version`` + 1 when
    anything changed, else the same."""
    wanted = set(units)
    members = sorted(set(live))
    departed = dict(previous.departed)
    out: dict[str, list[Unit]] = {w: [] for w in members}
    # 1. departed workers: reserve their units until the delay has passed
    for w, had in previous.workers.items():
        if w in out or not had:
            continue
        since = departed.setdefault(w, now_ms)
        if now_ms - since < delay_ms:
            out[w] = sorted(u for u in had if u in wanted)
    for w in list(departed):
        if w in members or w not in out:
            departed.pop(w)  # came back (keeps its units below) or its delay is over (its units are free)
    # 2. live workers keep what they had
    for w in members:
        out[w] = sorted(u for u in previous.workers.get(w, ()) if u in wanted)
    holders: dict[Unit, set[str]] = {}
    for w in members:
        for u in held.get(w, ()):
            holders.setdefault(tuple(u), set()).add(w)  # type: ignore[arg-type]
    assigned = {u for us in out.values() for u in us}
    free = sorted(wanted - assigned)
    if members:
        for kind in (0, 1):
            count = {w: sum(1 for u in out[w] if _kind(u) == kind) for w in members}
            total = sum(count.values()) + sum(1 for u in free if _kind(u) == kind)
            # 3. revoke what is above an even share: the fullest (total mod n) workers may keep the ceiling,
            # the others the floor, so that a quiet cluster ends with counts that differ by at most one
            fullest = sorted(members, key=lambda m: (-count[m], m))
            share = {
                w: total // len(members) + (1 if rank < total % len(members) else 0) for rank, w in enumerate(fullest)
            }
            for w in members:
                extra = count[w] - share[w]
                for u in sorted((u for u in out[w] if _kind(u) == kind), reverse=True):
                    if extra <= 0:
                        break
                    out[w].remove(u)
                    count[w] -= 1
                    extra -= 1
            # 4. free units to the emptiest worker, once nobody else holds them
            for u in (u for u in free if _kind(u) == kind):
                target = min(members, key=lambda m: (count[m], len(out[m]), m))
                if holders.get(u, set()) - {target}:
                    continue  # still running (or stopping) elsewhere: next round
                out[target].append(u)
                count[target] += 1
    workers = {w: sorted(us) for w, us in out.items()}
    changed = workers != {w: us for w, us in previous.workers.items() if us or w in members} or (
        departed != previous.departed
    )
    return Assignment(workers, departed, previous.version + 1 if changed else previous.version, previous.leader)


__all__ = ["CONNECTOR", "Assignment", "Unit", "assign_units"]
