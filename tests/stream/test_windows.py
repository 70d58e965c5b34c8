"""Event-time window semantics (SEMANTICS.md), each run with batch sizes 1, 7 and 10,000."""

from __future__ import annotations

from typing import Any

import pytest

from millstream import Duration, OutputTag, Time, WatermarkStrategy
from millstream.functions import Count, ProcessWindowFunction
from millstream.testing import timestamped
from millstream.windows import (
    EventTimeSessionWindows,
    SlidingEventTimeWindows,
    TimeWindow,
    TumblingEventTimeWindows,
)

from .conftest import values


def src(env: Any, pairs: list[tuple[Any, int]], d: int = 0) -> Any:
    """A source of (value, ts) with bounded out-of-orderness d (event time from the record timestamp)."""
    return env.from_source(timestamped(pairs), WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(d)))


class Window(ProcessWindowFunction):
    """Emits (key, start, end, sorted element values)."""

    def process(self, key: Any, context: Any, elements: Any) -> Any:
        w = context.window()
        yield (key, w.start, w.end, sorted(e[1] for e in elements))


def test_tumbling_assignment_formula_negative_and_offset() -> None:
    a = TumblingEventTimeWindows.of(Duration.of_millis(10))
    assert a.assign_windows(None, 0, 0) == [TimeWindow(0, 10)]
    assert a.assign_windows(None, 9, 0) == [TimeWindow(0, 10)]
    assert a.assign_windows(None, -1, 0) == [TimeWindow(-10, 0)]
    assert a.assign_windows(None, -10, 0) == [TimeWindow(-10, 0)]
    assert a.assign_windows(None, -11, 0) == [TimeWindow(-20, -10)]
    b = TumblingEventTimeWindows.of(10, 3)
    assert b.assign_windows(None, 2, 0) == [TimeWindow(-7, 3)]
    assert b.assign_windows(None, 3, 0) == [TimeWindow(3, 13)]
    assert TimeWindow(0, 10).max_timestamp() == 9


def test_sliding_assignment_and_gaps() -> None:
    a = SlidingEventTimeWindows.of(Time.milliseconds(10), Time.milliseconds(3))
    ws = a.assign_windows(None, 5, 0)
    assert ws == [TimeWindow(3, 13), TimeWindow(0, 10), TimeWindow(-3, 7)]  # starts s > ts - size
    assert all(w.start <= 5 < w.end for w in ws)
    gap = SlidingEventTimeWindows.of(5, 10)
    assert gap.assign_windows(None, 7, 0) == []  # in the gap [5, 10)
    assert gap.assign_windows(None, 12, 0) == [TimeWindow(10, 15)]
    neg = SlidingEventTimeWindows.of(10, 5)
    assert neg.assign_windows(None, -1, 0) == [TimeWindow(-5, 5), TimeWindow(-10, 0)]


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: TumblingEventTimeWindows.of(0), "size must be positive"),
        (lambda: TumblingEventTimeWindows.of(-5), "size must be positive"),
        (lambda: TumblingEventTimeWindows.of(10, 10), "offset"),
        (lambda: TumblingEventTimeWindows.of(10, -10), "offset"),
        (lambda: SlidingEventTimeWindows.of(10, 0), "slide must be positive"),
        (lambda: SlidingEventTimeWindows.of(10, 5, 5), "offset"),
        (lambda: EventTimeSessionWindows.with_gap(0), "gap must be positive"),
        (lambda: TumblingEventTimeWindows.of("10"), "Duration"),
    ],
)
def test_bad_assigners_fail_fast(factory: Any, message: str) -> None:
    from millstream.stream.errors import JobConfigError

    with pytest.raises(JobConfigError, match=message):
        factory()


def test_durations_in_every_form() -> None:
    import datetime

    sizes = [Duration.of_seconds(2), Time.seconds(2), datetime.timedelta(seconds=2), 2000]
    assert {TumblingEventTimeWindows.of(s).size for s in sizes} == {2000}
    assert Duration.of_minutes(1).millis == 60_000
    assert Duration.of_hours(1).to_milliseconds() == 3_600_000


def test_tumbling_fires_on_watermark_with_end_minus_one_timestamps(collect: Any) -> None:
    pairs = [(("a", 1), 1), (("a", 2), 5), (("b", 3), 9), (("a", 4), 10), (("a", 5), 25)]

    def build(env: Any) -> Any:
        return src(env, pairs).key_by(lambda e: e[0]).window(TumblingEventTimeWindows.of(10)).process(Window())

    out = collect(build)["out"]
    assert out == [
        (("a", 0, 10, [1, 2]), 9),
        (("b", 0, 10, [3]), 9),
        (("a", 10, 20, [4]), 19),
        (("a", 20, 30, [5]), 29),
    ]


def test_late_elements_go_to_side_output_and_zero_lateness_purges(collect: Any) -> None:
    late = OutputTag("late")
    # d = 0: the element at ts 10 moves the watermark to 9 and closes [0, 10)
    pairs = [(("k", 1), 1), (("k", 2), 10), (("k", 3), 9), (("k", 4), 3), (("k", 5), 19)]

    def build(env: Any) -> Any:
        w = (
            src(env, pairs)
            .key_by(lambda e: e[0])
            .window(TumblingEventTimeWindows.of(10))
            .side_output_late_data(late)
            .process(Window())
        )
        return {"main": w, "late": w.get_side_output(late)}

    out = collect(build)
    assert values(out["main"]) == [("k", 0, 10, [1]), ("k", 10, 20, [2, 5])]
    assert out["late"] == [(("k", 3), 9), (("k", 4), 3)]


def test_allowed_lateness_late_firings_and_purge(collect: Any) -> None:
    late = OutputTag("late")
    pairs = [
        (("k", 1), 1),
        (("k", 2), 12),  # wm 11: [0,10) fires with [1]
        (("k", 3), 5),  # late but within lateness 5 (cleanup at 9+5=14 > 11): fires again at once with [1, 3]
        (("k", 4), 15),  # wm 14: [0,10) expired and purged
        (("k", 5), 6),  # skipped by its only window and 6 + 5 <= 14: late → side output
    ]

    def build(env: Any) -> Any:
        w = (
            src(env, pairs)
            .key_by(lambda e: e[0])
            .window(TumblingEventTimeWindows.of(10))
            .allowed_lateness(5)
            .side_output_late_data(late)
            .process(Window())
        )
        return {"main": w, "late": w.get_side_output(late)}

    out = collect(build)
    assert values(out["main"]) == [("k", 0, 10, [1]), ("k", 0, 10, [1, 3]), ("k", 10, 20, [2, 4])]
    assert values(out["late"]) == [("k", 5)]


def test_fired_window_not_fired_again_at_end_of_input(collect: Any) -> None:
    pairs = [(("k", 1), 1), (("k", 2), 30)]

    def build(env: Any) -> Any:
        return (
            src(env, pairs)
            .key_by(lambda e: e[0])
            .window(TumblingEventTimeWindows.of(10))
            .allowed_lateness(100)
            .process(Window())
        )

    assert values(collect(build)["out"]) == [("k", 0, 10, [1]), ("k", 30, 40, [2])]


def test_out_of_orderness_delays_firing(collect: Any) -> None:
    # d = 5: after ts 12 the watermark is 6; [0,10) is still open for ts 3
    pairs = [(("k", 1), 1), (("k", 2), 12), (("k", 3), 3), (("k", 4), 15)]

    def build(env: Any) -> Any:
        return src(env, pairs, d=5).key_by(lambda e: e[0]).window(TumblingEventTimeWindows.of(10)).process(Window())

    assert values(collect(build)["out"]) == [("k", 0, 10, [1, 3]), ("k", 10, 20, [2, 4])]


def test_sliding_windows_gap_elements_vanish_unless_late(collect: Any) -> None:
    late = OutputTag("late")
    # size 5, slide 10: windows [0,5), [10,15), ... ; ts 7 is in a gap
    pairs = [(("k", 1), 1), (("k", 2), 7), (("k", 3), 12), (("k", 4), 30), (("k", 5), 8)]

    def build(env: Any) -> Any:
        w = (
            src(env, pairs)
            .key_by(lambda e: e[0])
            .window(SlidingEventTimeWindows.of(5, 10))
            .side_output_late_data(late)
            .process(Window())
        )
        return {"main": w, "late": w.get_side_output(late)}

    out = collect(build)
    assert values(out["main"]) == [("k", 0, 5, [1]), ("k", 10, 15, [3]), ("k", 30, 35, [4])]
    assert values(out["late"]) == [("k", 5)]  # ts 8 is in a gap and late (8 <= wm 29)


def test_sliding_windows_overlap(collect: Any) -> None:
    pairs = [(("k", 1), 1), (("k", 2), 6), (("k", 3), 11)]

    def build(env: Any) -> Any:
        return src(env, pairs).key_by(lambda e: e[0]).window(SlidingEventTimeWindows.of(10, 5)).process(Window())

    assert values(collect(build)["out"]) == [
        ("k", -5, 5, [1]),
        ("k", 0, 10, [1, 2]),
        ("k", 5, 15, [2, 3]),
        ("k", 10, 20, [3]),
    ]


def test_session_windows_merge_touching_and_refire_within_lateness(collect: Any) -> None:
    pairs = [
        (("k", 1), 0),
        (("k", 2), 10),  # exactly gap apart: touching → same session [0, 20)
        (("k", 3), 40),  # wm 39: [0,20) fires with [1, 2]
        (
            ("k", 4),
            15,
        ),  # late; its own [15,25) would merge with fired [0,20) (cleanup 19+30 > 39) → refire [0,25)
        (("m", 9), 100),
    ]

    def build(env: Any) -> Any:
        return (
            src(env, pairs)
            .key_by(lambda e: e[0])
            .window(EventTimeSessionWindows.with_gap(10))
            .allowed_lateness(30)
            .process(Window())
        )

    assert values(collect(build)["out"]) == [
        ("k", 0, 20, [1, 2]),
        ("k", 0, 25, [1, 2, 4]),
        ("k", 40, 50, [3]),
        ("m", 100, 110, [9]),
    ]


def test_session_late_element_dropped_when_merge_expired(collect: Any) -> None:
    late = OutputTag("late")
    pairs = [(("k", 1), 0), (("k", 2), 100), (("k", 3), 5)]

    def build(env: Any) -> Any:
        w = (
            src(env, pairs)
            .key_by(lambda e: e[0])
            .window(EventTimeSessionWindows.with_gap(10))
            .side_output_late_data(late)
            .process(Window())
        )
        return {"main": w, "late": w.get_side_output(late)}

    out = collect(build)
    assert values(out["main"]) == [("k", 0, 10, [1]), ("k", 100, 110, [2])]
    assert values(out["late"]) == [("k", 3)]


def test_dynamic_session_gap(collect: Any) -> None:
    pairs = [(("k", 1), 0), (("k", 2), 15), (("k", 3), 100)]

    def build(env: Any) -> Any:
        return (
            src(env, pairs)
            .key_by(lambda e: e[0])
            .window(EventTimeSessionWindows.with_dynamic_gap(lambda e: 20 if e[1] == 1 else 5))
            .process(Window())
        )

    assert values(collect(build)["out"]) == [("k", 0, 20, [1, 2]), ("k", 100, 105, [3])]


def test_count_windows_follow_java_flink(collect: Any) -> None:
    data = [("a", i) for i in range(1, 8)] + [("b", 100)]

    def build(env: Any) -> Any:
        src_ = env.from_collection(data)
        tumbling = src_.key_by(lambda e: e[0]).count_window(3).apply(lambda k, w, es: [(k, [e[1] for e in es])])
        sliding = src_.key_by(lambda e: e[0]).count_window(3, 2).apply(lambda k, w, es: [(k, [e[1] for e in es])])
        return {"tumbling": tumbling, "sliding": sliding}

    out = collect(build)
    assert values(out["tumbling"]) == [("a", [1, 2, 3]), ("a", [4, 5, 6])]
    assert values(out["sliding"]) == [("a", [1, 2]), ("a", [2, 3, 4]), ("a", [4, 5, 6])]


def test_reduce_aggregate_and_builtins_agree(collect: Any) -> None:
    from millstream.functions import Aggregates, Max, Mean, Min, Sum

    pairs = [(("k", v), ts) for v, ts in [(3, 1), (5, 2), (1, 8), (7, 12), (2, 18), (9, 30)]]

    def build(env: Any) -> Any:
        s = src(env, pairs).key_by(lambda e: e[0]).window(TumblingEventTimeWindows.of(10))
        s2 = src(env, pairs).key_by(lambda e: e[0]).window(TumblingEventTimeWindows.of(10))
        s3 = src(env, pairs).key_by(lambda e: e[0]).window(TumblingEventTimeWindows.of(10))
        return {
            "reduce": s.reduce(lambda a, b: (a[0], a[1] + b[1])),
            "agg": s2.aggregate(Aggregates(n=Count(), s=Sum(1), lo=Min(1), hi=Max(1), avg=Mean(1))),
            "sum": s3.sum(1),
        }

    out = collect(build)
    assert out["reduce"] == [(("k", 9), 9), (("k", 9), 19), (("k", 9), 39)]
    assert values(out["agg"]) == [
        {"n": 3, "s": 9, "lo": 1, "hi": 5, "avg": 3.0},
        {"n": 2, "s": 9, "lo": 2, "hi": 7, "avg": 4.5},
        {"n": 1, "s": 9, "lo": 9, "hi": 9, "avg": 9.0},
    ]
    assert values(out["sum"]) == [("k", 9), ("k", 9), ("k", 9)]


def test_generic_and_fast_path_give_identical_results(collect: Any) -> None:
    import random

    rnd = random.Random(7)
    pairs = [((f"k{rnd.randrange(5)}", rnd.randrange(100)), 1000 + i * 3 - rnd.randrange(40)) for i in range(400)]
    late = OutputTag("late")

    def build(env: Any) -> Any:
        base = src(env, pairs, d=15).key_by(lambda e: e[0])
        fast = base.window(TumblingEventTimeWindows.of(50)).side_output_late_data(late).aggregate(Count())
        # sliding with slide == size is tumbling, but takes the generic operator
        generic = (
            src(env, pairs, d=15)
            .key_by(lambda e: e[0])
            .window(SlidingEventTimeWindows.of(50, 50))
            .side_output_late_data(late)
            .aggregate(Count())
        )
        return {
            "fast": fast,
            "generic": generic,
            "fast_late": fast.get_side_output(late),
            "generic_late": generic.get_side_output(late),
        }

    out = collect(build)
    assert out["fast"] == out["generic"]
    assert out["fast_late"] == out["generic_late"]
    assert len(out["fast_late"]) > 0


def test_window_all_and_apply(collect: Any) -> None:
    pairs = [(1, 1), (2, 2), (3, 11)]

    def build(env: Any) -> Any:
        return src(env, pairs).window_all(TumblingEventTimeWindows.of(10)).apply(lambda w, es: [(w.start, sum(es))])

    assert values(collect(build)["out"]) == [(0, 3), (10, 3)]


def test_session_late_element_with_expired_own_window_counts_when_merged(collect: Any) -> None:
    late = OutputTag("late")
    # gap 10, lateness 5: session [20, 46) after 20, 28, 36 (wm 35). The element at 12 alone would be
    # [12, 22), expired (21 + 5 <= 35), but it merges into the live session → [12, 46), not late.
    pairs = [(("k", 20), 20), (("k", 28), 28), (("k", 36), 36), (("k", 12), 12), (("k", 1), 1)]

    def build(env: Any) -> Any:
        w = (
            src(env, pairs)
            .key_by(lambda e: e[0])
            .window(EventTimeSessionWindows.with_gap(10))
            .allowed_lateness(5)
            .side_output_late_data(late)
            .process(Window())
        )
        return {"main": w, "late": w.get_side_output(late)}

    out = collect(build)
    assert values(out["main"]) == [("k", 12, 46, [12, 20, 28, 36])]
    assert values(out["late"]) == [("k", 1)]  # [1, 11) touches nothing live and is expired


def test_a_merging_window_set_merges_as_flinks_merging_window_set() -> None:
    from millstream.stream.windows import TimeWindow, add_to_merging_set

    mapping: dict[Any, Any] = {}
    never_late = lambda w: False  # noqa: E731
    a, b, c = TimeWindow(0, 10), TimeWindow(20, 30), TimeWindow(8, 22)
    assert add_to_merging_set(mapping, a, never_late) == (a, [], a, [], True)
    assert add_to_merging_set(mapping, b, never_late) == (b, [], b, [], True)
    assert add_to_merging_set(mapping, TimeWindow(2, 5), never_late) == (a, [], a, [], False)  # inside a
    # c touches both: their cover, whose state stays with the first window's state window; b's goes into it
    merge = add_to_merging_set(mapping, c, never_late)
    assert merge is not None
    assert (merge.window, sorted(merge.merged), merge.merged_states, merge.changed) == (
        TimeWindow(0, 30),
        [a, b],
        [b],
        True,
    )
    assert mapping == {TimeWindow(0, 30): merge.state_window} and merge.state_window in (a, b)
    before = dict(mapping)
    assert add_to_merging_set(mapping, TimeWindow(25, 40), lambda w: True) is None  # late: nothing changes
    assert mapping == before
