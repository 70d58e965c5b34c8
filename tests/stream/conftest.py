"""Helpers for engine tests: run a job built by a function with several batch sizes, and at parallelism 1 and 2
(on worker processes), and compare: the same output for every batch size, and the same output (as a multiset:
subtasks interleave) at parallelism 2 as at 1."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

import millstream  # noqa: F401 - registers the runtime
from millstream import StreamExecutionEnvironment
from millstream.core.clock import ManualClock
from millstream.testing import CollectingSink, run_job

BATCH_SIZES = (1, 7, 10_000)


def run_collect(
    build: Callable[[StreamExecutionEnvironment], Any],
    batch_size: int = 10_000,
    clock: Any = None,
    parallelism: int = 1,
) -> dict[str, list[Any]]:
    """Build a job with ``build(env)`` returning a stream or a dict name->stream; collect each."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    streams = build(env)
    if not isinstance(streams, dict):
        streams = {"out": streams}
    sinks = {}
    for name, s in streams.items():
        sink = CollectingSink()
        s.sink_to(sink)
        sinks[name] = sink
    run_job(env, batch_size=batch_size, clock=clock or ManualClock(0))
    return {name: list(zip(s.values, s.timestamps, strict=True)) for name, s in sinks.items()}


def run_all_batch_sizes(
    build: Callable[[StreamExecutionEnvironment], Any], clock_factory: Any = None, parallel: bool = True
) -> dict[str, list[Any]]:
    """Run with batch sizes 1, 7 and 10,000; assert identical output; return it (values with timestamps).
    Unless the job uses processing time (``clock_factory``: each worker process has its own clock) or
    ``parallel=False``, run it at parallelism 2 too and assert the same output as a multiset."""
    results = [run_collect(build, b, clock_factory() if clock_factory else None) for b in BATCH_SIZES]
    for b, r in zip(BATCH_SIZES[1:], results[1:], strict=True):
        assert r == results[0], f"batch size {b} gave different output than batch size 1"
    if parallel and clock_factory is None:
        par = run_collect(build, 7, parallelism=2)
        for name, rows in results[0].items():
            assert Counter(map(repr, par[name])) == Counter(map(repr, rows)), f"{name}: parallelism 2 differs from 1"
    return results[0]


@pytest.fixture
def collect() -> Callable[..., dict[str, list[Any]]]:
    return run_all_batch_sizes


def values(pairs: list[Any]) -> list[Any]:
    return [v for v, _ in pairs]
