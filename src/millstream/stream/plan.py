"""The planner: from the job graph to parallel tasks, as Flink's ``StreamGraph`` → ``JobGraph`` does (pure).

:func:`plan_job` resolves, for every operator node of the graph (partition nodes are folded into edges):

1. its **parallelism**: ``set_parallelism`` on the operator, else its input's for
   ``assign_timestamps_and_watermarks``, side outputs (as in Flink) and operators marked
   ``with_input_parallelism()``, else the job's default (``env.set_parallelism``,
   else ``millstream run -p N`` / ``MILLSTREAM_PARALLELISM``, else 1). Non-parallel operators run with 1, as in
   Flink: sources that cannot be split (collections, source functions, connectors), non-keyed windows
   (``window_all``) — asking them for more is an error naming the operator;
2. its **max parallelism** (the number of key groups): the operator's ``set_max_parallelism``, else the job's,
   else Flink's default for its parallelism (:func:`~millstream.stream.keygroups.default_max_parallelism`);
   a parallelism above it is an error naming the operator;
3. the **partitioning** of every input edge: the nearest partition node's (``key_by`` → ``HASH``, ...), else
   ``FORWARD`` between equal parallelisms and ``REBALANCE`` otherwise; ``FORWARD`` between different
   parallelisms is an error naming both operators;
4. **chains**: an operator joins its input's chain when the edge is ``FORWARD``, the parallelisms are equal,
   it has that one input, and neither side disabled chaining (``disable_chaining``/``start_new_chain``).
   A chain and a subtask index is one task; subtask *i* of every chain runs in worker *i* (Flink's slot sharing),
   so records cross processes only on non-``FORWARD`` edges.

:meth:`JobPlan.to_json` is Flink's execution plan JSON (``env.get_execution_plan()``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .connectors import FileSink, FileSource, LogSource
from .errors import JobConfigError
from .functions import OutputTag
from .graph import Transformation, operator_uids, topological
from .keygroups import check_max_parallelism, default_max_parallelism, key_group_range
from .partitioning import FORWARD, REBALANCE, Partitioning


def is_parallel_source(descriptor: Any) -> bool:
    """Sources whose splits can be spread over subtasks: log/Kafka partitions and files."""
    return isinstance(descriptor, LogSource | FileSource)


@dataclass(eq=False)
class PlanEdge:
    """A data edge between two operator nodes: ``source`` → input ``input_index`` of ``target``, read from
    ``source``'s output ``tag`` (``None``: main output), routed by ``partitioning``."""

    source: int
    target: int
    input_index: int
    tag: OutputTag | None
    partitioning: Partitioning
    chained: bool = False

    @property
    def local(self) -> bool:
        """Subtask i feeds subtask i only (no exchange between processes)."""
        return self.partitioning.strategy == "FORWARD"


@dataclass(eq=False)
class PlanNode:
    """One operator node with its resolved parallelism, max parallelism, uid and chain (the id of the chain's
    head node)."""

    t: Transformation
    parallelism: int
    max_parallelism: int
    uid: str
    chain: int = 0
    inputs: list[PlanEdge] = field(default_factory=list)
    outputs: list[PlanEdge] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.t.id

    def key_groups(self, index: int) -> range:
        """The key groups of subtask ``index``."""
        return key_group_range(self.max_parallelism, self.parallelism, index)

    def subtask_name(self, index: int) -> str:
        """Flink's name of one subtask: ``Map (2/4)`` (1-based)."""
        return f"{self.t.name} ({index + 1}/{self.parallelism})"


@dataclass
class JobPlan:
    """The planned job: operator ``nodes`` in topological order (by id), ``edges``, and ``chains`` (lists of
    node ids, head first)."""

    nodes: dict[int, PlanNode]
    edges: list[PlanEdge]
    chains: list[list[int]]

    @property
    def parallelism(self) -> int:
        """The number of worker processes the job needs: the largest parallelism of any operator."""
        return max((n.parallelism for n in self.nodes.values()), default=1)

    def to_json(self) -> str:
        """Flink's execution plan JSON: ``{"nodes": [{"id", "type", "pact", "contents", "parallelism",
        "predecessors": [{"id", "ship_strategy", "side"}]}]}`` (plus ``uid``, ``max_parallelism`` and
        ``chain``, the id of the task the operator is chained into)."""
        out = []
        for n in self.nodes.values():
            kind = n.t.kind
            pact = "Data Source" if kind == "source" else "Data Sink" if kind == "sink" else "Operator"
            label = f"Source: {n.t.name}" if kind == "source" else f"Sink: {n.t.name}" if kind == "sink" else n.t.name
            node: dict[str, Any] = {
                "id": n.id,
                "type": label,
                "pact": pact,
                "contents": label,
                "parallelism": n.parallelism,
                "max_parallelism": n.max_parallelism,
                "uid": n.uid,
                "chain": n.chain,
            }
            if n.inputs:
                node["predecessors"] = [
                    {"id": e.source, "ship_strategy": e.partitioning.strategy, "side": "second"} for e in n.inputs
                ]
            out.append(node)
        return json.dumps({"nodes": out}, indent=2)


_FOLLOWS_INPUT = ("assign_timestamps", "side")
"""Kinds that run with their input's parallelism unless set (Flink's timestamps/watermarks operator and side
outputs do), so that they chain to it."""


def _fixed_parallelism(t: Transformation) -> str | None:
    """Why ``t`` must run with parallelism 1, or ``None`` if it may run in parallel."""
    if t.kind == "source" and not is_parallel_source(t.params.get("source")):
        return "its source cannot be split over subtasks (only log/Kafka and file sources can)"
    if t.kind == "window" and t.params.get("key_fn") is None and not t.params.get("key_fns"):
        return "a non-keyed window (window_all) sees every element in one subtask"
    sink = t.params.get("sink") if t.kind == "sink" else None
    if isinstance(sink, FileSink) and sink.delivery_guarantee != "exactly-once":
        return "it writes one file (the exactly-once file sink writes part files and runs in parallel)"
    return None


def plan_job(
    sinks: list[Transformation], default_parallelism: int = 1, default_max_parallelism_: int | None = None
) -> JobPlan:
    """Plan the graph ending at ``sinks`` (see the module docstring)."""
    if not isinstance(default_parallelism, int) or default_parallelism < 1:
        raise JobConfigError(f"parallelism must be a positive int, got {default_parallelism!r}")
    graph = topological(sinks)
    uids = operator_uids(graph)
    nodes: dict[int, PlanNode] = {}
    for t in graph:
        if t.kind == "partition":
            continue
        fixed = _fixed_parallelism(t)
        p = t.parallelism
        if p is not None and (type(p) is not int or p < 1):
            raise JobConfigError(f"operator {t.name!r}: parallelism must be a positive int, got {p!r}")
        if fixed is not None:
            if p is not None and p > 1:
                raise JobConfigError(
                    f"operator {t.name!r} cannot run with parallelism {p}: {fixed}",
                    hint="leave its parallelism unset (it runs with 1) or set it to 1",
                )
            p = 1
        elif p is None and (t.kind in _FOLLOWS_INPUT or t.follows_input):
            feed = t.inputs[0][0]
            while feed.kind == "partition":
                feed = feed.inputs[0][0]
            p = nodes[feed.id].parallelism
        elif p is None:
            p = default_parallelism
        if t.max_parallelism is not None:
            maxp = check_max_parallelism(t.max_parallelism, f"operator {t.name!r}")
        elif default_max_parallelism_ is not None:
            maxp = check_max_parallelism(default_max_parallelism_, "the job")
        else:
            maxp = default_max_parallelism(p)
        if p > maxp:
            raise JobConfigError(
                f"operator {t.name!r}: parallelism {p} is above its max parallelism {maxp}",
                hint="lower the parallelism or raise set_max_parallelism(...)",
            )
        nodes[t.id] = PlanNode(t, p, maxp, uids[t.id])
    edges: list[PlanEdge] = []
    for n in nodes.values():
        for idx, (u, tag) in enumerate(n.t.inputs):
            part: Partitioning | None = None
            src, port = u, tag
            while src.kind == "partition":
                part = part or src.params["partitioning"]
                src, port = src.inputs[0]
            up = nodes[src.id]
            if part is None:
                part = FORWARD if up.parallelism == n.parallelism else REBALANCE
            elif part.strategy == "FORWARD" and up.parallelism != n.parallelism:
                raise JobConfigError(
                    f"forward partitioning cannot change the parallelism: {up.t.name!r} runs with {up.parallelism}, "
                    f"{n.t.name!r} with {n.parallelism}",
                    hint="use another partitioning (rebalance(), shuffle(), broadcast(), global_()) or equal "
                    "parallelism",
                )
            e = PlanEdge(up.id, n.id, idx, port, part)
            edges.append(e)
            n.inputs.append(e)
            up.outputs.append(e)
    chains: dict[int, list[int]] = {}
    for n in nodes.values():  # topological: an input's chain is known before its consumer's
        single = n.inputs[0] if len(n.inputs) == 1 else None
        head = nodes[single.source] if single is not None else None
        if (
            single is not None
            and head is not None
            and single.partitioning.strategy == "FORWARD"
            and head.parallelism == n.parallelism
            and n.t.chaining == "always"
            and head.t.chaining != "never"
        ):
            single.chained = True
            n.chain = head.chain
        else:
            n.chain = n.id
        chains.setdefault(n.chain, []).append(n.id)
    return JobPlan(nodes, edges, list(chains.values()))


__all__ = ["JobPlan", "PlanEdge", "PlanNode", "is_parallel_source", "plan_job"]
