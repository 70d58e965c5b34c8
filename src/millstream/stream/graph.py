"""The job graph: transformations as plain descriptions, and how each becomes operator logic.

A :class:`Transformation` names its kind (``source``, ``map``, ``window``, ``sink`` ...), its inputs (each an
upstream transformation and the output port read: ``None`` for the main output or an ``OutputTag``) and
its parameters. ``build_operator`` turns a non-source, non-sink transformation into an
:class:`~millstream.stream.operators.base.Operator`; the runtime binds sources and sinks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from .functions import OutputTag, is_checkpointed
from .operators.base import Operator
from .operators.basic import (
    AssignTimestampsOperator,
    CheckpointedFilterOperator,
    CheckpointedFlatMapOperator,
    CheckpointedMapOperator,
    CheckpointedProcessOperator,
    FilterOperator,
    FlatMapOperator,
    MapOperator,
    PassthroughOperator,
    ProcessOperator,
    RestampOperator,
    UnionOperator,
)
from .operators.batched import BatchedWindowOperator, batched_applies
from .operators.joins import IntervalJoinOperator
from .operators.keyed import KeyedProcessOperator, RollingReduceOperator
from .operators.sessions import SessionWindowOperator, sessions_fast_path_applies
from .operators.slicing import SlicingWindowOperator, slicing_applies
from .operators.tolerance import Tolerance
from .operators.tumbling import TumblingWindowOperator, fast_path_applies
from .operators.window import WindowOperator

_ids = itertools.count(1)


@dataclass(eq=False)
class Transformation:
    """One node of the job graph. ``name``/``uid``/``parallelism``/``max_parallelism``/``chaining`` may be set
    after creation (``ds.name(..)``); everything else is fixed. A ``partition`` node (``key_by``,
    ``rebalance``, ...) is no operator: it gives the edge to its consumers a
    :class:`~millstream.stream.partitioning.Partitioning` (``params["partitioning"]``). ``chaining`` is
    ``"always"`` (chain where Flink would), ``"head"`` (start a new chain) or ``"never"``."""

    kind: str
    name: str
    inputs: list[tuple[Transformation, OutputTag | None]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    uid: str | None = None
    parallelism: int | None = None
    max_parallelism: int | None = None
    chaining: str = "always"
    follows_input: bool = False  # unless set, run with the input's parallelism (chained to it)
    id: int = field(default_factory=lambda: next(_ids))

    def __repr__(self) -> str:
        return f"Transformation({self.id}, {self.kind}, {self.name!r})"


def build_operator(t: Transformation, state_backend: str = "hashmap") -> Operator:
    """The operator logic for a transformation (not for sources, sinks and partition nodes). ``state_backend``
    is the job's (``config.state_backend``): with ``"rocksdb"``, tumbling and sliding windows with incremental
    aggregates use the slicing fast path with a bounded write-behind cache in front of the keyed state backend
    (:mod:`.operators.writebehind`), other windows the general operator, whose contents live in its keyed state
    backend (the heap fast paths keep them in plain dicts)."""
    if t.kind not in ("map", "filter", "flat_map", "process") and is_checkpointed(t.params.get("user_fn")):
        from .errors import JobConfigError

        raise JobConfigError(
            f"operator {t.name!r}: operator state (CheckpointedFunction) is provided on map, flat_map, filter "
            "and non-keyed process only",
            hint="keep the state in keyed state (get_runtime_context().get_state(...)) on keyed streams",
        )
    op = _build(t, state_backend)
    if t.kind in ("map", "filter", "flat_map", "process"):
        op.user_fn = t.params.get("user_fn")
    handling = t.params.get("on_error")
    if handling is not None:
        op.tolerance = Tolerance(handling)
    return op


def _build(t: Transformation, state_backend: str) -> Operator:
    p, name, uid = t.params, t.name, t.uid
    kind = t.kind
    checkpointed = is_checkpointed(p.get("user_fn"))  # operator state: CheckpointedFunction
    if kind == "map":
        return (CheckpointedMapOperator if checkpointed else MapOperator)(name, uid, p["fn"])
    if kind == "filter":
        return (CheckpointedFilterOperator if checkpointed else FilterOperator)(name, uid, p["fn"])
    if kind == "flat_map":
        return (CheckpointedFlatMapOperator if checkpointed else FlatMapOperator)(name, uid, p["fn"])
    if kind == "process":
        return (CheckpointedProcessOperator if checkpointed else ProcessOperator)(name, uid, p["fn"])
    if kind in ("keyed_process", "co_process"):
        return KeyedProcessOperator(
            name, uid, p["fns"], p.get("key_fns"), p.get("on_timer"), p.get("user_fn"), p.get("watermark_delay", 0)
        )
    if kind == "restamp":
        return RestampOperator(name, uid, p["fn"])
    if kind == "async_wait":
        from .operators.async_io import AsyncWaitOperator

        return AsyncWaitOperator(name, uid, p["user_fn"], p["timeout_ms"], p["capacity"], p["ordered"], p.get("retry"))
    if kind == "broadcast_process":
        from .operators.broadcast import BroadcastProcessOperator

        return BroadcastProcessOperator(name, uid, p["user_fn"], p.get("key_fn"), p["descriptors"])
    if kind == "rolling":
        if p.get("batch_final"):
            from .operators.batch import FinalRollingReduceOperator

            return FinalRollingReduceOperator(name, uid, p["key_fn"], p["fn"])
        return RollingReduceOperator(name, uid, p["key_fn"], p["fn"])
    if kind == "union":
        return UnionOperator(name, uid, len(t.inputs))
    if kind == "side":
        return PassthroughOperator(name, uid)
    if kind == "assign_timestamps":
        return AssignTimestampsOperator(name, uid, p["strategy"])
    if kind == "window":
        applies = (p["assigner"], p["trigger"], p["evictor"], p["lateness"], p["fn"])
        if state_backend == "rocksdb" and not p.get("key_fns") and slicing_applies(*applies):
            from .operators.writebehind import WriteBehindSlicingOperator

            return WriteBehindSlicingOperator(
                name, uid, p["key_fn"], p["assigner"], p["lateness"], p["late_tag"], p["fn"]
            )
        fast = state_backend != "rocksdb" and not p.get("key_fns")
        if fast and fast_path_applies(p["assigner"], p["trigger"], p["evictor"], p["lateness"], p["fn"]):
            return TumblingWindowOperator(name, uid, p["key_fn"], p["assigner"], p["late_tag"], p["fn"])
        if fast and sessions_fast_path_applies(p["assigner"], p["trigger"], p["evictor"], p["lateness"], p["fn"]):
            return SessionWindowOperator(name, uid, p["key_fn"], p["assigner"], p["late_tag"], p["fn"])
        if fast and slicing_applies(p["assigner"], p["trigger"], p["evictor"], p["lateness"], p["fn"]):
            return SlicingWindowOperator(name, uid, p["key_fn"], p["assigner"], p["lateness"], p["late_tag"], p["fn"])
        tagged = p.get("tag_inputs", False)
        if not p.get("key_fns") and batched_applies(p["assigner"], p["lateness"], len(t.inputs), tagged):
            return BatchedWindowOperator(
                name, uid, p["key_fn"], p["assigner"], p["trigger"], p["evictor"], p["lateness"], p["late_tag"], p["fn"]
            )
        return WindowOperator(
            name,
            uid,
            p["key_fn"],
            p["assigner"],
            p["trigger"],
            p["evictor"],
            p["lateness"],
            p["late_tag"],
            p["fn"],
            n_inputs=len(t.inputs),
            key_fns=p.get("key_fns"),
            tag_inputs=p.get("tag_inputs", False),
        )
    if kind == "interval_join":
        return IntervalJoinOperator(
            name,
            uid,
            p["key_fns"],
            p["lower"],
            p["upper"],
            p["lower_exclusive"],
            p["upper_exclusive"],
            p["fn"],
            p.get("user_fn"),
            p.get("late_tags", (None, None)),
        )
    raise ValueError(f"no operator for transformation kind {kind!r}")


def topological(sinks: list[Transformation]) -> list[Transformation]:
    """All transformations reachable from ``sinks`` (upstream first, stable by creation order)."""
    seen: dict[int, Transformation] = {}
    stack = list(sinks)
    while stack:
        t = stack.pop()
        if t.id in seen:
            continue
        seen[t.id] = t
        stack.extend(u for u, _ in t.inputs)
    return sorted(seen.values(), key=lambda t: t.id)


def operator_uids(nodes: list[Transformation]) -> dict[int, str]:
    """The uid of every operator node (``nodes`` in :func:`topological` order): its ``uid(...)``, else one made
    from its position among the operator nodes and its name — stable while the graph is (partition nodes,
    which hold no state, take no position)."""
    ops = [t for t in nodes if t.kind != "partition"]
    return {t.id: t.uid or f"{t.kind}-{i}-{t.name}" for i, t in enumerate(ops)}


__all__ = ["Transformation", "build_operator", "operator_uids", "topological"]
