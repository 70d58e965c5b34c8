"""millstream.testing: a public kit for testing jobs deterministically.

- :class:`CollectionSource` — elements (optionally with timestamps) plus :class:`Fault` (raise here) and
  :class:`Pause` (advance processing time here) items;
- :class:`CollectingSink` — collects elements and their timestamps in memory;
- :class:`ManualClock` — processing time that moves only when told (``millstream.core.clock``);
- :func:`run_job` — runs a job in the calling thread with a given batch size and clock and returns the
  execution result; the same job gives the same output for every batch size.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..core.clock import ManualClock
from ..runtime.job import JobExecutionResult, make_runner
from ..runtime.sinks import CollectOperator
from ..runtime.sources import Fault, Pause
from ..stream.connectors import CollectionSource as _CollectionDescriptor
from ..stream.environment import StreamExecutionEnvironment


def CollectionSource(
    elements: Iterable[Any],
    timestamps: Iterable[int] | None = None,
    name: str = "Collection Source",
) -> _CollectionDescriptor:
    """A bounded source of ``elements`` for ``env.from_source(...)``. ``Fault(exc)`` items raise when
    reached, ``Pause(ms)`` items advance processing time; ``timestamps`` (one per non-marker item) become
    the record timestamps. ``(value, ts)`` pairs can also be given with ``timestamps=None`` via
    :func:`timestamped`."""
    items = list(elements)
    if timestamps is not None:
        ts = list(timestamps)
        real = [x for x in items if not isinstance(x, Fault | Pause)]
        if len(ts) != len(real):
            raise ValueError(f"{len(ts)} timestamps for {len(real)} elements")
        it = iter(ts)
        full = [None if isinstance(x, Fault | Pause) else next(it) for x in items]
        return _CollectionDescriptor(tuple(items), tuple(full), name)  # type: ignore[arg-type]
    return _CollectionDescriptor(tuple(items), None, name)


def timestamped(pairs: Iterable[tuple[Any, int]], name: str = "Collection Source") -> _CollectionDescriptor:
    """A collection source from ``(value, timestamp)`` pairs."""
    pairs = list(pairs)
    return CollectionSource([v for v, _ in pairs], [t for _, t in pairs], name)


class CollectingSink:
    """A sink that keeps every element (``values``) and its timestamp (``timestamps``) in memory."""

    def __init__(self, name: str = "CollectingSink") -> None:
        self.name = name
        self.values: list[Any] = []
        self.timestamps: list[Any] = []

    def create_operator(self, name: str, uid: str | None) -> CollectOperator:
        return CollectOperator(name, uid, self.values, self.timestamps)

    def clear(self) -> None:
        self.values.clear()
        self.timestamps.clear()


def run_job(
    env: StreamExecutionEnvironment,
    *,
    batch_size: int | None = None,
    clock: Any = None,
    job_name: str = "test job",
) -> JobExecutionResult:
    """Run ``env``'s job with ``batch_size`` and processing-time ``clock`` (a :class:`ManualClock` makes
    processing time deterministic) and return its result: in this thread at parallelism 1, else on worker
    processes (each with its own copy of the clock)."""
    if batch_size is not None:
        env.set_batch_size(batch_size)
    if clock is not None:
        env.set_clock(clock)
    return make_runner(env, env._take_sinks(), job_name, None).run()


__all__ = ["CollectingSink", "CollectionSource", "Fault", "ManualClock", "Pause", "run_job", "timestamped"]
