"""Keyed state objects and TTL variants on the state backend (processing time from a manual clock), and
per-window state in ProcessWindowFunction."""

from __future__ import annotations

from typing import Any

import pytest

from millstream import Duration, WatermarkStrategy
from millstream.core.clock import ManualClock
from millstream.functions import AggregateFunction, ProcessWindowFunction
from millstream.state import (
    AggregatingStateDescriptor,
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    StateTtlConfig,
    ValueStateDescriptor,
)
from millstream.stream.errors import JobConfigError
from millstream.stream.state import KeyedStateBackend
from millstream.testing import timestamped
from millstream.windows import TumblingEventTimeWindows

from .conftest import values


@pytest.fixture(params=["hashmap", "rocksdb"])
def backend(request: Any, tmp_path: Any) -> Any:
    """A factory of keyed state backends: the same state tests run on the in-memory and RocksDB backends."""
    made: list[Any] = []

    def make(clock: ManualClock) -> KeyedStateBackend:
        if request.param == "rocksdb":
            pytest.importorskip("rocksdict")
            from millstream.runtime.rocksdb_state import RocksDBKeyedStateBackend

            b: KeyedStateBackend = RocksDBKeyedStateBackend(
                tmp_path / f"rocks-{len(made)}", clock.now_ms, cache_entries=2
            )
        else:
            b = KeyedStateBackend(clock.now_ms)
        b.current_key = "k"
        made.append(b)
        return b

    yield make
    for b in made:
        if hasattr(b, "close"):
            b.close()


def ttl(ms: int, *, read: bool = False, expired: bool = False) -> StateTtlConfig:
    builder = StateTtlConfig.new_builder(Duration.of_millis(ms))
    if read:
        builder = builder.update_ttl_on_read_and_write()
    if expired:
        builder = builder.return_expired_if_not_cleaned_up()
    return builder.build()


def test_states_are_per_key(backend: Any) -> None:
    b = backend(ManualClock(0))
    v = b.get_state(ValueStateDescriptor("v"))
    lst = b.get_state(ListStateDescriptor("l"))
    m = b.get_state(MapStateDescriptor("m"))
    v.update(1)
    lst.add_all([1, 2])
    m.put("x", 1)
    b.current_key = "other"
    assert v.value() is None and lst.get() == [] and m.is_empty()
    v.update(2)
    b.current_key = "k"
    assert v.value() == 1 and lst.get() == [1, 2] and m.items() == [("x", 1)]
    lst.update([9])
    m.remove("x")
    assert lst.get() == [9] and not m.contains("x")
    v.clear()
    assert v.value() is None
    with pytest.raises(JobConfigError, match="already registered as value state"):
        b.get_state(ListStateDescriptor("v"))


def test_value_ttl_on_create_and_write_vs_on_read(backend: Any) -> None:
    clock = ManualClock(0)
    b = backend(clock)
    d1 = ValueStateDescriptor("write")
    d1.enable_time_to_live(ttl(100))
    d2 = ValueStateDescriptor("read")
    d2.enable_time_to_live(ttl(100, read=True))
    w, r = b.get_state(d1), b.get_state(d2)
    w.update("a")
    r.update("a")
    clock.advance(60)
    assert w.value() == "a" and r.value() == "a"  # the read refreshes r's timestamp to 60
    clock.advance(40)  # t = 100: w expired (written at 0), r alive until 160
    assert w.value() is None
    assert r.value() == "a"
    clock.advance(100)  # t = 200 > 100 + 100
    assert r.value() is None


def test_ttl_return_expired_once_and_list_and_map_entries(backend: Any) -> None:
    clock = ManualClock(0)
    b = backend(clock)
    dv = ValueStateDescriptor("v")
    dv.enable_time_to_live(ttl(10, expired=True))
    dl = ListStateDescriptor("l")
    dl.enable_time_to_live(ttl(10))
    dm = MapStateDescriptor("m")
    dm.enable_time_to_live(ttl(10))
    v, lst, m = b.get_state(dv), b.get_state(dl), b.get_state(dm)
    v.update(1)
    lst.add("old")
    m.put("old", 1)
    clock.advance(5)
    lst.add("new")
    m.put("new", 2)
    clock.advance(5)  # t = 10: the entries written at 0 expire, those at 5 live on
    assert v.value() == 1  # expired but not cleaned up: returned once, then gone
    assert v.value() is None
    assert lst.get() == ["new"]
    assert m.items() == [("new", 2)]
    clock.advance(5)
    assert lst.get() == [] and m.is_empty()


def test_reducing_and_aggregating_state(backend: Any) -> None:
    class Avg(AggregateFunction):
        def create_accumulator(self) -> Any:
            return (0, 0)

        def add(self, value: Any, acc: Any) -> Any:
            return (acc[0] + value, acc[1] + 1)

        def get_result(self, acc: Any) -> Any:
            return acc[0] / acc[1]

        def merge(self, a: Any, b: Any) -> Any:
            return (a[0] + b[0], a[1] + b[1])

    b = backend(ManualClock(0))
    r = b.get_state(ReducingStateDescriptor("r", max))
    a = b.get_state(AggregatingStateDescriptor("a", Avg()))
    for x in (3, 9, 6):
        r.add(x)
        a.add(x)
    assert r.get() == 9 and a.get() == 6.0
    snap = b.snapshot()
    b.restore_from = getattr(b, "attachment", None)  # type: ignore[attr-defined]  # RocksDB: its checkpoint files
    r.clear()
    b.restore(snap)
    assert b.get_state(ReducingStateDescriptor("r", max)).get() == 9


def test_window_and_global_state_in_process_window_function(collect: Any) -> None:
    class Firings(ProcessWindowFunction):
        def process(self, key: Any, context: Any, elements: Any) -> Any:
            per_window = context.window_state().get_state(ValueStateDescriptor("n"))
            per_key = context.global_state().get_state(ValueStateDescriptor("total"))
            per_window.update((per_window.value() or 0) + 1)
            per_key.update((per_key.value() or 0) + 1)
            yield (key, context.window().start, per_window.value(), per_key.value())

    pairs = [(("k", 1), 1), (("k", 2), 12), (("k", 3), 5), (("k", 4), 30)]

    def build(env: Any) -> Any:
        s = env.from_source(timestamped(pairs), WatermarkStrategy.for_monotonous_timestamps())
        return s.key_by(lambda e: e[0]).window(TumblingEventTimeWindows.of(10)).allowed_lateness(100).process(Firings())

    # [0,10) fires, then fires again for the late element (its window state counts 2); global state counts all
    assert values(collect(build)["out"]) == [("k", 0, 1, 1), ("k", 0, 2, 2), ("k", 10, 1, 3), ("k", 30, 1, 4)]
