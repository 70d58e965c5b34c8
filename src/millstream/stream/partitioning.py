"""How records of one operator reach the parallel subtasks of the next: Flink's stream partitioners.

A :class:`Partitioning` is a plain description on an edge of the job graph (a ``partition`` node made by
``key_by``, ``rebalance``, ``rescale``, ``shuffle``, ``broadcast``, ``forward``, ``global_`` or
``partition_custom``). The planner gives every edge one (``FORWARD`` between equal parallelisms, else
``REBALANCE``, as Flink does); the runtime routes records by it:

- ``HASH``: by key group of the key (:mod:`millstream.stream.keygroups`); all records of a key reach one subtask;
- ``FORWARD``: subtask *i* to subtask *i* (equal parallelism only; such edges are chained);
- ``REBALANCE``: round-robin over all downstream subtasks, ``RESCALE``: round-robin over the downstream subtasks
  of the upstream subtask's share (``p_down / p_up`` of them, pointwise), ``SHUFFLE``: uniformly at random;
- ``BROADCAST``: every record to every subtask; ``GLOBAL``: every record to subtask 0;
- ``CUSTOM``: ``partitioner(key, num_partitions)`` over ``key_selector(value)``.

Watermarks go to every downstream subtask, whatever the partitioning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SHIP_STRATEGIES = ("FORWARD", "REBALANCE", "RESCALE", "SHUFFLE", "BROADCAST", "GLOBAL", "HASH", "CUSTOM")


@dataclass(frozen=True, eq=False)
class Partitioning:
    """One edge's partitioning: ``strategy`` (Flink's ship strategy name, see the module docstring), the
    ``key_fn`` of ``HASH``/``CUSTOM``, and the ``partitioner(key, n) -> int`` of ``CUSTOM``."""

    strategy: str
    key_fn: Callable[[Any], Any] | None = None
    partitioner: Callable[[Any, int], int] | None = None

    def __post_init__(self) -> None:
        if self.strategy not in SHIP_STRATEGIES:
            raise ValueError(f"unknown ship strategy {self.strategy!r}")

    @property
    def keyed(self) -> bool:
        return self.strategy == "HASH"

    @property
    def pointwise(self) -> bool:
        """Each upstream subtask sends to a fixed subset of downstream subtasks (not all of them)."""
        return self.strategy in ("FORWARD", "RESCALE")

    def __repr__(self) -> str:
        return f"Partitioning({self.strategy})"


FORWARD = Partitioning("FORWARD")
REBALANCE = Partitioning("REBALANCE")


def rescale_targets(up_index: int, up_parallelism: int, down_parallelism: int) -> range:
    """The downstream subtasks that upstream subtask ``up_index`` feeds under ``RESCALE`` (Flink's pointwise
    pattern: each upstream subtask a contiguous share; when downstream is smaller, several share one)."""
    if down_parallelism >= up_parallelism:
        start = up_index * down_parallelism // up_parallelism
        end = (up_index + 1) * down_parallelism // up_parallelism
        return range(start, max(end, start + 1))
    target = up_index * down_parallelism // up_parallelism
    return range(target, target + 1)


__all__ = ["FORWARD", "REBALANCE", "SHIP_STRATEGIES", "Partitioning", "rescale_targets"]
