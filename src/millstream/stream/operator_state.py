"""Non-keyed operator state (Flink's ``CheckpointedFunction`` and ``OperatorStateStore``).

A function of ``map``, ``flat_map``, ``filter`` or a non-keyed ``process`` that implements
:class:`~millstream.stream.functions.CheckpointedFunction` gets, once per operator instance and before its
first element (or first checkpoint, or ``close``), ``initialize_state(context)``; ``context`` is a
:class:`FunctionInitializationContext` whose :meth:`~FunctionInitializationContext.get_operator_state_store`
hands out list states that are not scoped to a key:

- ``get_list_state(ListStateDescriptor(...))`` — **split-distribute** state: on a restore at another
  parallelism, the elements of all old subtasks are concatenated (subtask order) and handed out in contiguous,
  even ranges (the first ``n % p`` new subtasks get one more), as Flink's round-robin repartitioner does for
  a state (with several list states Flink starts each next state's odd elements where the last one's ended,
  in its hash-map order of the names; millstream starts every state at subtask 0);
- ``get_union_list_state(ListStateDescriptor(...))`` — **union** state: on every restore, every new subtask
  gets all elements of all old subtasks, as in Flink — at another parallelism (:func:`redistribute`) and at the
  same one, where list states stay with their subtask (:func:`broadcast_unions`).

Before every checkpoint (and savepoint) the engine calls ``snapshot_state(context)`` (a
:class:`FunctionSnapshotContext`), then stores the lists. The stored lists are plain picklable data; this
module does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .errors import JobConfigError
from .state import ListStateDescriptor

SPLIT = "split"
UNION = "union"

OperatorStateSnapshot = dict[str, tuple[str, list[Any]]]
"""``{state name: (mode, elements)}`` with mode :data:`SPLIT` or :data:`UNION`."""


class OperatorListState:
    """A list of elements held by one operator instance (not per key): ``get()`` (a list), iteration,
    ``add(v)``, ``add_all(vs)``, ``update(vs)``, ``clear()``. ``None`` cannot be added (as in Flink)."""

    def __init__(self, name: str, mode: str, elements: list[Any]) -> None:
        self.name = name
        self.mode = mode
        self._elements = elements

    def get(self) -> list[Any]:
        return list(self._elements)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._elements))

    def add(self, value: Any) -> None:
        if value is None:
            raise JobConfigError(f"cannot add None to operator list state {self.name!r}")
        self._elements.append(value)

    def add_all(self, values: Iterable[Any]) -> None:
        values = list(values)
        if any(v is None for v in values):
            raise JobConfigError(f"cannot add None to operator list state {self.name!r}")
        self._elements.extend(values)

    def update(self, values: Iterable[Any]) -> None:
        values = list(values)
        if any(v is None for v in values):
            raise JobConfigError(f"cannot add None to operator list state {self.name!r}")
        self._elements[:] = values

    def clear(self) -> None:
        self._elements.clear()


class OperatorStateStore:
    """The operator state of one operator instance, by name. Asking twice for a name returns the same state;
    asking for it with the other distribution mode (list vs union list) fails, as in Flink."""

    def __init__(self, restored: OperatorStateSnapshot | None = None) -> None:
        self._restored: OperatorStateSnapshot = dict(restored or {})
        self._states: dict[str, OperatorListState] = {}

    def _get(self, descriptor: Any, mode: str) -> OperatorListState:
        if not isinstance(descriptor, ListStateDescriptor):
            raise JobConfigError(
                f"operator state needs a ListStateDescriptor, got {type(descriptor).__name__}",
                hint="operator (non-keyed) state is list state: get_list_state / get_union_list_state",
            )
        name = descriptor.name
        state = self._states.get(name)
        if state is None:
            old_mode, elements = self._restored.pop(name, (mode, []))
            if old_mode != mode:
                raise JobConfigError(
                    f"operator state {name!r} was checkpointed as {_what(old_mode)} and is now asked for as "
                    f"{_what(mode)}",
                    hint="keep the distribution mode of a state while its checkpoints live on",
                )
            state = self._states[name] = OperatorListState(name, mode, list(elements))
        elif state.mode != mode:
            raise JobConfigError(f"operator state {name!r} is already registered as {_what(state.mode)}")
        return state

    def get_list_state(self, state_descriptor: ListStateDescriptor) -> OperatorListState:
        """Split-distribute list state (redistributed in even ranges when the parallelism changes)."""
        return self._get(state_descriptor, SPLIT)

    def get_union_list_state(self, state_descriptor: ListStateDescriptor) -> OperatorListState:
        """Union list state (every subtask gets all elements on a restore at another parallelism)."""
        return self._get(state_descriptor, UNION)

    def get_registered_state_names(self) -> set[str]:
        return set(self._states)

    def snapshot(self) -> OperatorStateSnapshot:
        """The registered states, plus restored states not asked for again (kept, as Flink keeps every restored
        operator state in later checkpoints)."""
        out: OperatorStateSnapshot = {n: (m, list(e)) for n, (m, e) in self._restored.items()}
        out.update((n, (s.mode, list(s._elements))) for n, s in self._states.items())
        return out


def _what(mode: str) -> str:
    return "union list state" if mode == UNION else "list state"


class FunctionInitializationContext:
    """What ``initialize_state`` gets: the operator state store and whether state was restored."""

    def __init__(self, store: OperatorStateStore, restored: bool) -> None:
        self._store = store
        self._restored = restored

    def get_operator_state_store(self) -> OperatorStateStore:
        return self._store

    def is_restored(self) -> bool:
        """True when the job was restored from a checkpoint or savepoint that held this operator's state."""
        return self._restored

    def get_keyed_state_store(self) -> None:
        raise JobConfigError(
            "this operator is not keyed, so it has no keyed state store",
            hint="call key_by(...) first for keyed state, or use the operator state store",
        )


class FunctionSnapshotContext:
    """What ``snapshot_state`` gets: the processing time the checkpoint is taken at."""

    def __init__(self, timestamp: int) -> None:
        self._timestamp = timestamp

    def get_checkpoint_timestamp(self) -> int:
        return self._timestamp


def redistribute(states: list[OperatorStateSnapshot | None], index: int, parallelism: int) -> OperatorStateSnapshot:
    """The operator state of new subtask ``index`` of ``parallelism`` from the snapshots of all old subtasks
    (in subtask order): split-distribute states in even contiguous ranges of their concatenation, union states
    whole (see the module docstring)."""
    modes: dict[str, str] = {}
    joined: dict[str, list[Any]] = {}
    for snap in states:
        for name, (mode, elements) in (snap or {}).items():
            if modes.setdefault(name, mode) != mode:
                raise JobConfigError(f"operator state {name!r} has both list and union list snapshots")
            joined.setdefault(name, []).extend(elements)
    out: OperatorStateSnapshot = {}
    for name, elements in joined.items():
        if modes[name] == UNION:
            out[name] = (UNION, list(elements))
            continue
        base, extra = divmod(len(elements), parallelism)
        start = index * base + min(index, extra)
        end = start + base + (1 if index < extra else 0)
        out[name] = (SPLIT, elements[start:end])
    return out


def broadcast_unions(states: list[OperatorStateSnapshot | None]) -> list[OperatorStateSnapshot | None] | None:
    """At the same parallelism: every subtask keeps its own list states, and its union states hold the
    elements of every subtask (in subtask order); ``None`` when there is no union state (nothing changes)."""
    unions: dict[str, list[Any]] = {}
    for snap in states:
        for name, (mode, elements) in (snap or {}).items():
            if mode == UNION:
                unions.setdefault(name, []).extend(elements)
    if not unions:
        return None
    out: list[OperatorStateSnapshot | None] = []
    for snap in states:
        own = dict(snap or {})
        own.update((name, (UNION, list(elements))) for name, elements in unions.items())
        out.append(own)
    return out


__all__ = [
    "FunctionInitializationContext",
    "FunctionSnapshotContext",
    "OperatorListState",
    "OperatorStateSnapshot",
    "OperatorStateStore",
    "broadcast_unions",
    "redistribute",
]
