"""Rescaling keyed state: the snapshots of several subtasks merged into the state of one subtask that owns
some key groups (pure; the runtime decides who owns what with :mod:`millstream.stream.keygroups`).

An operator whose state is keyed implements :class:`RescalableState` next to its ``snapshot``: given the
snapshots of all subtasks of the old parallelism and ``owns(key)`` for the new subtask, it returns a snapshot
with exactly that subtask's keys — table entries, timers, window contents, join buffers — in the layout its
``restore`` takes. ``owns`` is always true when a parallel checkpoint is restored into a single-process job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

Owns = Callable[[Any], bool]


@runtime_checkable
class RescalableState(Protocol):
    """An operator whose snapshots can be merged and split by key (see the module docstring)."""

    @staticmethod
    def merge_snapshots(states: list[Any], owns: Owns) -> Any: ...


@runtime_checkable
class RedistributableState(Protocol):
    """An operator whose state is not keyed but split among subtasks by element (operator list state,
    :mod:`millstream.stream.operator_state`): it redistributes the old subtasks' snapshots itself, given the new
    subtask's ``index`` of ``parallelism``."""

    @staticmethod
    def redistribute_snapshots(states: list[Any], index: int, parallelism: int) -> Any: ...


def merge_tables(
    tables: Iterable[dict[str, dict[Any, Any]]], owns: Owns, key_of: Callable[[str, Any], Any]
) -> dict[str, dict[Any, Any]]:
    """Keyed state backend snapshots (``{table: {entry key: value}}``) merged, keeping the entries whose user
    key (``key_of(table, entry key)``) the new subtask owns. Tables stay even when empty (their names matter)."""
    out: dict[str, dict[Any, Any]] = {}
    for snap in tables:
        for name, entries in snap.items():
            if not isinstance(entries, dict):  # a marker (the RocksDB backend's), not a table
                out[name] = entries
                continue
            table = out.setdefault(name, {})
            for k, v in entries.items():
                if owns(key_of(name, k)):
                    table[k] = v
    return out


def merge_timers(timer_lists: Iterable[list[tuple[int, Any, Any]]], owns: Owns) -> list[tuple[int, Any, Any]]:
    """Timer snapshots ``(timestamp, key, namespace)`` of the owned keys, in firing order (timestamp, then the
    old subtasks' order)."""
    merged = [t for timers in timer_lists for t in timers if owns(t[1])]
    merged.sort(key=lambda t: t[0])
    return merged


def plain_key(_table: str, k: Any) -> Any:
    return k


__all__ = ["Owns", "RedistributableState", "RescalableState", "merge_tables", "merge_timers", "plain_key"]
