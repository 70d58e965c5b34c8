"""Evictors with Flink's semantics: ``TimeEvictor`` keeps the elements newer than the window's largest
timestamp minus its size (before or after the window function), and what an evictor keeps stays in the
window for the next firing."""

from __future__ import annotations

from typing import Any

import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.stream.errors import JobConfigError
from millstream.windows import (
    CountTrigger,
    GlobalWindows,
    TimeEvictor,
    TimestampedValue,
    TumblingEventTimeWindows,
)


def stamped(env: Any, values: list[int]) -> Any:
    """Elements ``("k", v)`` with timestamp ``v``; watermarks far behind (nothing is late)."""
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(1000)).with_timestamp_assigner(
        lambda e, _ts: e[1]
    )
    return env.from_collection([("k", v) for v in values]).assign_timestamps_and_watermarks(strategy)


def fired(stream: Any, evictor: Any, count: int = 3) -> list[Any]:
    return list(
        stream.key_by(lambda e: e[0])
        .window(GlobalWindows.create())
        .trigger(CountTrigger.of(count))
        .evictor(evictor)
        .process(lambda key, ctx, els: [[v for _, v in els]])
        .execute_and_collect()
    )


@pytest.mark.parametrize("batch", [1, 1000])
def test_time_evictor_keeps_the_last_size_of_event_time_before_the_function(batch: int) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(batch)
    out = fired(stamped(env, [1, 5, 20, 22, 31, 25]), TimeEvictor.of(Duration.of_millis(10)))
    # firing 1: (1, 5, 20), max 20, cutoff 10: 1 and 5 go; firing 2: (20, 22, 31, 25), cutoff 21: 20 goes
    assert out == [[20], [22, 31, 25]]


def test_time_evictor_after_the_function_evicts_for_the_next_firing() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    out = fired(stamped(env, [1, 5, 20, 22, 31, 25]), TimeEvictor.of(10, do_evict_after=True))
    assert out == [[1, 5, 20], [20, 22, 31, 25]]


def test_time_evictor_cutoff_is_inclusive() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    # max 20, size 10: an element at exactly 10 is evicted (ts <= max - size), 11 is kept
    assert fired(stamped(env, [10, 11, 20]), TimeEvictor.of(10)) == [[11, 20]]


def test_time_evictor_on_a_time_window_with_reduce() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    out = list(
        stamped(env, [1, 50, 95, 91, 150])
        .key_by(lambda e: e[0])
        .window(TumblingEventTimeWindows.of(Duration.of_millis(100)))
        .evictor(TimeEvictor.of(Duration.of_millis(10)))
        .reduce(lambda a, b: (a[0], a[1] + b[1]))
        .execute_and_collect()
    )
    assert out == [("k", 95 + 91), ("k", 150)]


def test_a_reduce_over_a_window_its_evictor_emptied_emits_nothing() -> None:
    """``TimeEvictor.of(0)`` evicts every element (``ts <= max_ts - 0``): a reduce has nothing to reduce and
    the window emits nothing (Flink reduces to null); a process function sees no elements."""
    env = StreamExecutionEnvironment.get_execution_environment()
    windows = (
        stamped(env, [1, 50, 150])
        .key_by(lambda e: e[0])
        .window(TumblingEventTimeWindows.of(Duration.of_millis(100)))
        .evictor(TimeEvictor.of(Duration.of_millis(0)))
    )
    assert list(windows.reduce(lambda a, b: (a[0], a[1] + b[1])).execute_and_collect()) == []
    env = StreamExecutionEnvironment.get_execution_environment()
    counted = (
        stamped(env, [1, 50, 150])
        .key_by(lambda e: e[0])
        .window(TumblingEventTimeWindows.of(Duration.of_millis(100)))
        .evictor(TimeEvictor.of(Duration.of_millis(0)))
        .process(lambda key, ctx, els: [len(list(els))])
    )
    assert list(counted.execute_and_collect()) == [0, 0]


def test_time_evictor_leaves_elements_without_timestamps_alone() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    out = fired(env.from_collection([("k", 1), ("k", 500), ("k", 1000)]), TimeEvictor.of(10))
    assert out == [[1, 500, 1000]]


def test_time_evictor_contract() -> None:
    ev = TimeEvictor.of(Duration.of_millis(5))
    els = [TimestampedValue("a", 1), TimestampedValue("b", 7), TimestampedValue("c", 3)]
    assert ev.evict_before(els, 3, None, None) == [TimestampedValue("b", 7), TimestampedValue("c", 3)]
    assert ev.evict_after(els, 3, None, None) == els
    assert TimestampedValue("a", None).has_timestamp() is False
    with pytest.raises(JobConfigError):
        TimeEvictor.of(-1)
