"""BATCH execution (``env.set_runtime_mode(RuntimeExecutionMode.BATCH)``), as Flink's batch execution of a
DataStream program gives it:

- every source must be bounded (a log or Kafka source needs ``set_bounded(...)``), else the job is rejected;
- no watermarks flow until the end of the input: event time is "complete" only then, so every window fires
  once with all its elements, nothing is late, and event-time timers fire at the end;
- keyed rolling aggregations (``reduce``, ``sum``, ``min``, ``max``, ``min_by``, ``max_by``) emit one final
  result per key, keys in Flink's batch order (string keys: shorter first, then by character; others
  sorted), instead of every update.

``AUTOMATIC`` is BATCH when every source is bounded, else STREAMING. Applied to the job graph when the job
starts (:func:`apply_runtime_mode`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .connector_descriptors import ConnectorSource
from .errors import JobConfigError
from .graph import Transformation, topological


def _unbounded(source: Any) -> str | None:
    """Why a source descriptor is unbounded, or ``None`` if it is bounded."""
    is_bounded = getattr(source, "is_bounded", None)
    if callable(is_bounded) and not is_bounded():
        return "a log/Kafka source without set_bounded(...)"
    if isinstance(source, ConnectorSource):
        return "a Kafka-Connect source connector"
    return None


def apply_runtime_mode(mode: str, sinks: list[Transformation], collect: list[Transformation]) -> None:
    """Rewrite the job graph reachable from ``sinks``/``collect`` for ``mode`` (see the module docstring)."""
    if mode not in ("BATCH", "AUTOMATIC"):
        return
    nodes = topological(sinks + collect)
    reasons = [(t.name, why) for t in nodes if t.kind == "source" and (why := _unbounded(t.params["source"]))]
    if reasons:
        if mode == "AUTOMATIC":
            return
        name, why = reasons[0]
        raise JobConfigError(
            f"BATCH execution needs bounded sources, but {name!r} is unbounded ({why})",
            hint="bound the source (e.g. set_bounded(OffsetsInitializer.latest())) or run in STREAMING mode",
        )
    for t in nodes:
        strategy = t.params.get("strategy")
        if t.kind in ("source", "assign_timestamps") and strategy is not None:
            t.params["strategy"] = replace(strategy, out_of_orderness=None, generator_supplier=None, idleness=None)
        if t.kind == "rolling":
            t.params["batch_final"] = True


__all__ = ["apply_runtime_mode"]
