"""Interval join and window join (SEMANTICS.md, "Joins")."""

from __future__ import annotations

from typing import Any

import pytest

from millstream import Duration, OutputTag, WatermarkStrategy
from millstream.functions import JoinFunction, ProcessJoinFunction
from millstream.stream.errors import JobConfigError
from millstream.testing import timestamped
from millstream.windows import TumblingEventTimeWindows

from .conftest import values

EVENTS = [
    (("L", "k", "L1"), 10),
    (("R", "k", "R1"), 8),
    (("R", "k", "R2"), 13),
    (("L", "k", "L2"), 20),
    (("R", "k", "R3"), 14),
    (("R", "k", "R4"), 23),
    (("R", "k", "R5"), 10),  # wm is 17 here: late for the join
    (("R", "other", "X"), 21),
]


class Pair(ProcessJoinFunction):
    def process_element(self, left: Any, right: Any, ctx: Any) -> Any:
        yield (left[2], right[2], ctx.get_left_timestamp(), ctx.get_right_timestamp())


def sides(env: Any, d: int = 5) -> tuple[Any, Any]:
    # one source split in two keeps both sides on the same watermark, independent of batch size
    s = env.from_source(timestamped(EVENTS), WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(d)))
    return s.filter(lambda e: e[0] == "L"), s.filter(lambda e: e[0] == "R")


@pytest.mark.parametrize(
    ("lower_exclusive", "upper_exclusive", "expected"),
    [
        (False, False, [(("L1", "R1", 10, 8), 10), (("L1", "R2", 10, 13), 13), (("L2", "R4", 20, 23), 23)]),
        (True, False, [(("L1", "R2", 10, 13), 13), (("L2", "R4", 20, 23), 23)]),
        (False, True, [(("L1", "R1", 10, 8), 10)]),
    ],
)
def test_interval_join_bounds_inclusivity_and_timestamps(
    collect: Any, lower_exclusive: bool, upper_exclusive: bool, expected: list[Any]
) -> None:
    late = OutputTag("late-right")

    def build(env: Any) -> Any:
        left, right = sides(env)
        j = left.key_by(lambda e: e[1]).interval_join(right.key_by(lambda e: e[1])).between(Duration.of_millis(-2), 3)
        if lower_exclusive:
            j = j.lower_bound_exclusive()
        if upper_exclusive:
            j = j.upper_bound_exclusive()
        out = j.side_output_right_late_data(late).process(Pair())
        return {"out": out, "late": out.get_side_output(late)}

    # not at parallelism 2: the filters after the one source would run in 2 subtasks fed round-robin, and which
    # of them delivers R5 before the other's watermark decides whether R5 is late (as in Flink)
    out = collect(build, parallel=False)
    assert out["out"] == expected
    assert values(out["late"]) == [("R", "k", "R5")]


def test_interval_join_callable_and_bad_bounds(collect: Any) -> None:
    def build(env: Any) -> Any:
        left, right = sides(env, d=100)
        return (
            left.key_by(lambda e: e[1])
            .interval_join(right.key_by(lambda e: e[1]))
            .between(0, 0)
            .process(lambda lft, rgt, ctx: [(lft[2], rgt[2])])
        )

    assert values(collect(build)["out"]) == [("L1", "R5")]  # equal timestamps only; R5 not late with d=100
    from millstream import StreamExecutionEnvironment

    left, right = sides(StreamExecutionEnvironment.get_execution_environment())
    with pytest.raises(JobConfigError, match="greater than the upper bound"):
        left.key_by(lambda e: e[1]).interval_join(right.key_by(lambda e: e[1])).between(5, 1)


def test_window_join_pairs_per_key_and_window(collect: Any) -> None:
    events = [
        (("L", "k", 1), 1),
        (("R", "k", "x"), 2),
        (("L", "k", 2), 5),
        (("R", "j", "y"), 3),
        (("L", "j", 3), 12),
        (("R", "k", "z"), 11),
        (("R", "j", "w"), 15),
        (("R", "k", "v"), 4),
    ]

    class J(JoinFunction):
        def join(self, a: Any, b: Any) -> Any:
            return (a[2], b[2])

    def build(env: Any) -> Any:
        s = env.from_source(timestamped(events), WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(20)))
        left, right = s.filter(lambda e: e[0] == "L"), s.filter(lambda e: e[0] == "R")
        return (
            left.join(right)
            .where(lambda e: e[1])
            .equal_to(lambda e: e[1])
            .window(TumblingEventTimeWindows.of(10))
            .apply(J())
        )

    assert collect(build)["out"] == [
        ((1, "x"), 9),
        ((1, "v"), 9),
        ((2, "x"), 9),
        ((2, "v"), 9),
        ((3, "w"), 19),
    ]
