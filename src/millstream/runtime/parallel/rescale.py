"""Restoring state at another parallelism (Flink's rescaling): the state of one new subtask from the snapshots
of all subtasks of the old parallelism.

- **operators with operator (non-keyed) list state** split it by element themselves
  (:class:`~millstream.stream.operators.rescale.RedistributableState`);
- **keyed operators** keep the keys of the new subtask's key groups (their classes merge their own snapshot
  layouts: :class:`~millstream.stream.operators.rescale.RescalableState`);
- **log sources** keep the positions and watermark generators of the partitions the new subtask reads
  (:func:`~millstream.runtime.sources.split_owner`);
- **two-phase-commit sinks**: the first new subtask commits every old subtask's pre-committed transactions;
- **input gates**: every channel starts at the lowest watermark the old gates had (no channel of the old job
  was behind it, so nothing becomes late that was not).

Watermarks of the merged parts are the minimum over the old subtasks'. A stateful operator that cannot merge
its state fails the restore with :class:`~millstream.runtime.checkpointing.StateRestoreError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...stream.keygroups import key_group_filter, key_group_range
from ...stream.operator_state import broadcast_unions
from ...stream.operators.rescale import RedistributableState, RescalableState
from ...stream.time import MIN_WATERMARK
from ..sources import split_owner
from ..two_phase import TwoPhaseCommitSinkOperator


def merge_source(payloads: list[dict[str, Any]], owns_split: Callable[[Any], bool]) -> dict[str, Any]:
    gens: dict[Any, Any] = {}
    reader: Any = None
    for p in payloads:
        st = p["state"]
        gens.update((pid, g) for pid, g in st["gens"].items() if owns_split(pid))
        r = st.get("reader")
        if isinstance(r, dict):
            reader = reader if isinstance(reader, dict) else {}
            reader.update((tp, off) for tp, off in r.items() if owns_split(tp))
        elif r is not None and len(payloads) == 1:
            reader = r
    combined = min((wm for _ts, wm in gens.values()), default=min(p["state"]["combined"] for p in payloads))
    return {"kind": "source", "state": {"gens": gens, "combined": combined, "seen": 0, "reader": reader}}


def merge_operator(
    thing: Any,
    name: str,
    payloads: list[dict[str, Any]],
    owns: Callable[[Any], bool],
    split: tuple[int, int] | None = None,
) -> dict[str, Any]:
    from ..checkpointing import StateRestoreError

    if split is not None:  # operator (non-keyed) state: the operator splits it by element itself
        state = type(thing).redistribute_snapshots([p["state"] for p in payloads], *split)
    elif not isinstance(thing, RescalableState):
        raise StateRestoreError(
            f"the state of operator {name!r} cannot be restored at another parallelism: "
            f"{type(thing).__name__} does not split its state by key",
            hint="restore with the parallelism the state was taken at",
        )
    else:
        state = type(thing).merge_snapshots([p["state"] for p in payloads], owns)
    input_wms = [min(ws) for ws in zip(*(p["input_wms"] for p in payloads), strict=True)]
    return {
        "kind": "operator",
        "state": state,
        "wm": min(p["wm"] for p in payloads),
        "input_wms": input_wms,
        "last_tail": min(p["last_tail"] for p in payloads),
        "out_wm": min(p["out_wm"] for p in payloads),
        "seen": 0,
    }


def merge_gate(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    low = min((p["combined"] for p in payloads), default=MIN_WATERMARK)
    return {"wms": {}, "idle": set(), "combined": low, "last": min((p["last"] for p in payloads), default=low)}


def rescale_part(
    thing: Any,
    name: str,
    payloads: list[dict[str, Any]],
    index: int,
    parallelism: int,
    max_parallelism: int,
) -> dict[str, Any] | None:
    """The state of subtask ``index`` of ``parallelism`` for ``thing`` (a source driver or an operator) from
    the old subtasks' ``payloads``; ``None`` when it gets nothing (a sink's state goes to subtask 0 only)."""
    if payloads[0].get("kind") == "source":

        def owns_split(pid: Any) -> bool:
            try:
                topic, partition = pid[0], pid[1]
            except (TypeError, IndexError, KeyError):
                return index == 0
            return split_owner(topic, partition, parallelism) == index

        return merge_source(payloads, owns_split)
    if isinstance(thing, RedistributableState):
        return merge_operator(thing, name, payloads, lambda _k: True, (index, parallelism))
    if isinstance(thing, TwoPhaseCommitSinkOperator):
        return merge_operator(thing, name, payloads, lambda _k: True) if index == 0 else None
    owns = key_group_filter(max_parallelism, key_group_range(max_parallelism, parallelism, index))
    return merge_operator(thing, name, payloads, owns)


def with_union_state(subtasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An operator's subtask snapshots for a restore at the same parallelism: unchanged, except that union list
    state (operator state) goes whole to every subtask, as Flink restores it."""
    states = [p.get("state") for p in subtasks]
    if not all(isinstance(st, dict) for st in states):
        return subtasks
    merged = broadcast_unions([st.get("operator_state") for st in states])  # type: ignore[union-attr]
    if merged is None:
        return subtasks
    out = []
    for p, st, ops in zip(subtasks, states, merged, strict=True):
        out.append({**p, "state": {**st, "operator_state": ops}})  # type: ignore[dict-item]
    return out


__all__ = ["merge_gate", "merge_operator", "merge_source", "rescale_part", "with_union_state"]
