"""Hand-computed SEMANTICS.md examples with their expected Flink results (used by ``test_oracle.py``).

Each entry of :data:`ALL_HAND` is ``(case, {api: expected rows})`` (``"*"`` = every API of the case).
They run in the same Flink job as the generated cases (see ``conftest.flink_results``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .cases import Case, session, sliding, tumbling


def hand(cid: str, kind: str, inputs: dict[str, list[tuple[str, int, int]]], **kw: Any) -> Case:
    """A hand-written case; judged like generated ones (Python API for time windows, Java otherwise)."""
    apis = {"window": ("python", "java", "java_aggregate"), "count": ("python", "java")}.get(kind, ("java",))
    return Case(
        id=cid,
        family="hand",
        kind=kind,
        inputs=inputs,
        apis=apis,
        judge="python" if kind == "window" else "java",
        **kw,
    )


def seq(*items: tuple[str, int]) -> list[tuple[str, int, int]]:
    """Elements (key, ts) numbered 0, 1, 2, ... as their values."""
    return [(k, ts, i) for i, (k, ts) in enumerate(items)]


# Each entry: case, {api: expected rows}. Expected rows are computed by hand from SEMANTICS.md.
HAND: list[tuple[Case, dict[str, list[list[Any]]]]] = [
    (  # tumbling, zero disorder: b@-3 arrives after the watermark passed its window [-10, 0)
        hand(
            "tumbling-basic",
            "window",
            {"main": seq(("a", 1), ("a", 5), ("b", -3), ("a", 12), ("a", 3), ("b", 25))},
            window=tumbling(10),
            late_output=True,
        ),
        {
            "*": [
                ["w", "a", 0, 10, 2, 1, [0, 1]],
                ["w", "a", 10, 20, 1, 3, [3]],
                ["w", "b", 20, 30, 1, 5, [5]],
                ["late", "b", -3, 2],
                ["late", "a", 3, 4],
            ]
        },
    ),
    (  # an element exactly at a window's end moves the watermark to end - 1 and closes that window
        hand(
            "end-closes",
            "window",
            {"main": seq(("a", 2), ("a", 10), ("a", 9))},
            window=tumbling(10),
            late_output=True,
        ),
        {"*": [["w", "a", 0, 10, 1, 0, [0]], ["w", "a", 10, 20, 1, 1, [1]], ["late", "a", 9, 2]]},
    ),
    (  # bounded out-of-orderness 3: wm = max - 4, so a@7 after a@10 is still on time
        hand(
            "delay",
            "window",
            {"main": seq(("a", 1), ("a", 10), ("a", 7), ("a", 14), ("a", 8))},
            window=tumbling(10),
            delay=3,
            late_output=True,
        ),
        {"*": [["w", "a", 0, 10, 2, 2, [0, 2]], ["w", "a", 10, 20, 2, 4, [1, 3]], ["late", "a", 8, 4]]},
    ),
    (  # sliding with slide > size: a@5 falls in a gap and vanishes; a@7 in a gap *and* late -> side output
        hand(
            "sliding-gaps",
            "window",
            {"main": seq(("a", 1), ("a", 5), ("a", 12), ("a", 15), ("a", 3), ("a", 7))},
            window=sliding(4, 10),
            late_output=True,
        ),
        {
            "*": [
                ["w", "a", 0, 4, 1, 0, [0]],
                ["w", "a", 10, 14, 1, 2, [2]],
                ["late", "a", 3, 4],
                ["late", "a", 7, 5],
            ]
        },
    ),
    (  # sessions: elements exactly `gap` apart share a session
        hand("session-touching", "window", {"main": seq(("a", 0), ("a", 5), ("a", 20))}, window=session(5)),
        {"*": [["w", "a", 0, 10, 2, 1, [0, 1]], ["w", "a", 20, 25, 1, 2, [2]]]},
    ),
    (  # a late element whose own [ts, ts+gap) is expired still counts when it merges into a live session
        hand(
            "session-late-merge",
            "window",
            {"main": seq(("a", 26), ("b", 28), ("a", 22))},
            window=session(5),
            late_output=True,
        ),
        {"*": [["w", "a", 22, 31, 2, 2, [0, 2]], ["w", "b", 28, 33, 1, 1, [1]]]},
    ),
    (  # a late element bridging two sessions that already fired (lateness 20) merges them and re-fires
        hand(
            "session-late-bridge",
            "window",
            {"main": seq(("a", 0), ("a", 9), ("a", 20), ("a", 4))},
            window=session(5),
            lateness=20,
            late_output=True,
        ),
        {
            "*": [
                ["w", "a", 0, 5, 1, 0, [0]],
                ["w", "a", 9, 14, 1, 1, [1]],
                ["w", "a", 0, 14, 3, 4, [0, 1, 3]],
                ["w", "a", 20, 25, 1, 2, [2]],
            ]
        },
    ),
    (  # the same with lateness 10: [0, 5) is purged at wm 19, so a@4 only merges with [9, 14)
        hand(
            "session-late-bridge-purged",
            "window",
            {"main": seq(("a", 0), ("a", 9), ("a", 20), ("a", 4))},
            window=session(5),
            lateness=10,
            late_output=True,
        ),
        {
            "*": [
                ["w", "a", 0, 5, 1, 0, [0]],
                ["w", "a", 9, 14, 1, 1, [1]],
                ["w", "a", 4, 14, 2, 4, [1, 3]],
                ["w", "a", 20, 25, 1, 2, [2]],
            ]
        },
    ),
    (  # allowed lateness 5: a late firing with the full contents, then too late -> side output
        hand(
            "lateness",
            "window",
            {"main": seq(("a", 1), ("a", 5), ("a", 12), ("a", 3), ("a", 16), ("a", 4))},
            window=tumbling(10),
            lateness=5,
            late_output=True,
        ),
        {
            "*": [
                ["w", "a", 0, 10, 2, 1, [0, 1]],
                ["w", "a", 0, 10, 3, 4, [0, 1, 3]],
                ["w", "a", 10, 20, 2, 6, [2, 4]],
                ["late", "a", 4, 5],
            ]
        },
    ),
    (  # negative timestamps with an offset: start = ts - (ts - offset) % size (floor modulo)
        hand(
            "negative-offset",
            "window",
            {"main": seq(("a", -8), ("a", -7), ("a", 2), ("a", 3))},
            window=tumbling(10, 3),
        ),
        {
            "*": [
                ["w", "a", -17, -7, 1, 0, [0]],
                ["w", "a", -7, 3, 2, 3, [1, 2]],
                ["w", "a", 3, 13, 1, 3, [3]],
            ]
        },
    ),
    (  # sliding count window (3, 2): Java fires every 2 elements with the last min(n, 3);
        # PyFlink's Python API fires full windows only
        hand(
            "count-sliding",
            "count",
            {"main": seq(*[("a", t) for t in range(1, 8)])},
            count={"size": 3, "slide": 2},
        ),
        {
            "java": [["c", "a", [0, 1]], ["c", "a", [1, 2, 3]], ["c", "a", [3, 4, 5]]],
            "python": [["c", "a", [0, 1, 2]], ["c", "a", [2, 3, 4]], ["c", "a", [4, 5, 6]]],
        },
    ),
    (  # tumbling count window: both APIs agree; the incomplete last window never fires
        hand(
            "count-tumbling",
            "count",
            {"main": seq(*[("a", t) for t in range(1, 8)])},
            count={"size": 3, "slide": 0},
        ),
        {"*": [["c", "a", [0, 1, 2]], ["c", "a", [3, 4, 5]]]},
    ),
    (  # interval join [-2, 1], both bounds inclusive; output timestamp max(a.ts, b.ts)
        hand(
            "interval-join",
            "interval_join",
            {
                "left": [("a", 1, 0), ("a", 5, 1), ("b", 7, 2)],
                "right": [("a", 0, 10), ("a", 3, 11), ("a", 6, 12), ("b", 9, 13)],
            },
            join={"lo": -2, "hi": 1},
        ),
        {"java": [["j", "a", 1, 0, 0, 10, 1], ["j", "a", 5, 1, 3, 11, 5], ["j", "a", 5, 1, 6, 12, 6]]},
    ),
    (  # the same with both bounds exclusive
        hand(
            "interval-join-exclusive",
            "interval_join",
            {
                "left": [("a", 1, 0), ("a", 5, 1), ("b", 7, 2)],
                "right": [("a", 0, 10), ("a", 3, 11), ("a", 6, 12), ("b", 9, 13)],
            },
            join={"lo": -2, "hi": 1, "lo_exclusive": True, "hi_exclusive": True},
        ),
        {"java": [["j", "a", 1, 0, 0, 10, 1]]},
    ),
    (  # window join: every (left, right) pair of a key's window
        hand(
            "window-join",
            "window_join",
            {
                "left": [("a", 1, 0), ("a", 5, 1), ("b", 7, 2)],
                "right": [("a", 0, 10), ("b", 9, 11), ("a", 13, 12)],
            },
            window=tumbling(10),
        ),
        {"java": [["j", "a", 1, 0, 0, 10], ["j", "a", 5, 1, 0, 10], ["j", "b", 7, 2, 9, 11]]},
    ),
]


# The same cases with SEMANTICS.md's SQL watermark clause instead of per-element DataStream watermarks:
# identical while watermarks are not negative.
HAND_SQL = [(replace(case, id=f"{case.id}@sqlwm", watermarks="sql"), want) for case, want in HAND]

# Before the epoch they differ: Flink's SQL watermark operator starts at 0 and never emits a negative
# watermark, so with SQL watermarks a@-45 is not late after a@-30 (which is why the oracle does not use them).
NEGATIVE_LATE = [("a", -50, 0), ("a", -30, 1), ("a", -45, 2)]
HAND_SQL_QUIRK = [
    (
        hand("negative-late", "window", {"main": NEGATIVE_LATE}, window=tumbling(10), late_output=True),
        {"*": [["w", "a", -50, -40, 1, 0, [0]], ["w", "a", -30, -20, 1, 1, [1]], ["late", "a", -45, 2]]},
    ),
    (
        hand(
            "negative-late@sqlwm",
            "window",
            {"main": NEGATIVE_LATE},
            window=tumbling(10),
            late_output=True,
            watermarks="sql",
        ),
        {"*": [["w", "a", -50, -40, 2, 2, [0, 2]], ["w", "a", -30, -20, 1, 1, [1]]]},
    ),
]

ALL_HAND = HAND + HAND_SQL + HAND_SQL_QUIRK
