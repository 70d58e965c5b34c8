"""Parity cases: seeded, generated inputs for every case family, and how their results are compared.

A :class:`Case` is plain data (JSON-able) so that the same case runs through millstream (in the test
process) and through Flink (``flink_runner.py`` in the PyFlink virtualenv). Inputs are lists of
``(key, ts, value)`` with ``value`` a unique sequence number, so a window's sorted values name exactly
which elements it held.

Timestamp generation (:func:`gen_stream`): a clock walks forward on a grid (so elements land exactly on
window bounds and exactly ``gap`` apart), each element is out of order by up to the watermark delay
``d`` (never late), and with probability ``late_p`` a *burst* of 1..``burst`` late elements is emitted
with timestamps up to ``late_span`` behind the watermark. ``origin`` places the stream before, across or
after the epoch (negative timestamps).

Which Flink API judges which case (``Case.judge``):

- time windows: PyFlink's Python DataStream API (the oracle also runs Flink's Java API, with a
  ProcessWindowFunction and with an incremental AggregateFunction, and the oracle tests require all
  three to agree);
- count windows: Flink's **Java** API. PyFlink 2.3's Python ``count_window(size, slide)`` fires each
  full window once and never partial ones; Java Flink (and millstream, per SEMANTICS.md) fires every
  ``slide`` elements with the last ``min(n, size)``. Tumbling count windows agree in both APIs (checked);
- interval and window joins: Flink's Java API (PyFlink's Python API has neither);
- evictors (``TimeEvictor``, ``DeltaEvictor`` with ``do_evict_after`` or not): Flink's Java API (PyFlink's
  Python API has no evictors), on ``GlobalWindows`` with ``CountTrigger.of(n)`` (rows as count windows'), or on
  a time window (``Case.window``; rows as time windows').

Join inputs are never late with respect to their own input's watermark (``ts > own watermark``): with
two inputs Flink's join watermark is the minimum of both, and which element arrives when depends on
thread scheduling, so lateness at a join is not reproducible in Flink itself. Under that constraint an
element can never be late at the join whatever the interleaving, and the set of pairs is deterministic
-- except for session windows, where an element at exactly ``own watermark + 1`` can touch a session
that has already fired when the other input is ahead; session-window joins avoid that timestamp too
(found by ``fuzz.py``: Flink itself gave different pairs from run to run on such inputs).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

Element = tuple[str, int, int]


@dataclass(frozen=True)
class Case:
    """One parity case: inputs, watermark delay and the operation, in plain JSON-able data."""

    id: str
    family: str
    kind: str  # window | count | evict | interval_join | window_join
    inputs: dict[str, list[Element]]
    delay: int = 0
    window: dict[str, Any] | None = None
    lateness: int = 0
    late_output: bool = False
    count: dict[str, int] | None = None
    join: dict[str, Any] | None = None
    seed: int = 0
    apis: tuple[str, ...] = ("python", "java")
    judge: str = "python"
    watermarks: str = "element"  # how the Flink side makes watermarks: see flink_runner.Job.source
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["inputs"] = {name: [list(e) for e in rows] for name, rows in self.inputs.items()}
        data["apis"] = list(self.apis)
        return data


def gen_stream(
    rng: random.Random,
    n: int,
    *,
    keys: int = 3,
    origin: int = 0,
    grid: int = 1,
    max_step: int = 3,
    delay: int = 0,
    late_p: float = 0.0,
    late_span: int = 20,
    burst: int = 1,
    first_value: int = 0,
    key_prefix: str = "k",
    ahead: int = 0,
) -> list[Element]:
    """``n`` elements ``(key, ts, value)``: in-bound disorder plus bursts of late data (see module doc).

    On-time elements have ``ts >= max_ts_seen - delay + ahead``: ``ahead=0`` means "not late"
    (``ts > watermark``); ``ahead=1`` also keeps them off ``watermark + 1`` (see :func:`join_case`)."""
    out: list[Element] = []
    clock = origin
    max_ts: int | None = None
    value = first_value
    while len(out) < n:
        clock += grid * rng.randint(0, max_step)
        if max_ts is not None and late_p and rng.random() < late_p:
            watermark = max_ts - delay - 1
            for _ in range(rng.randint(1, burst)):
                if len(out) >= n:
                    break
                # strictly behind the watermark, snapped to the grid
                ts = watermark - rng.randint(0, late_span)
                ts -= (ts - origin) % grid
                out.append((f"{key_prefix}{rng.randrange(keys)}", ts, value))
                value += 1
            continue
        jitter = rng.randint(0, delay) if delay else 0
        ts = clock - jitter
        if max_ts is not None:
            ts = max(ts, max_ts - delay + ahead)  # within the bound: never late
        out.append((f"{key_prefix}{rng.randrange(keys)}", ts, value))
        value += 1
        max_ts = ts if max_ts is None else max(max_ts, ts)
    return out


def window_case(
    cid: str,
    family: str,
    seed: int,
    window: dict[str, Any],
    *,
    n: int = 60,
    lateness: int = 0,
    late_output: bool = False,
    note: str = "",
    **gen: Any,
) -> Case:
    rng = random.Random(seed)
    rows = gen_stream(rng, n, **gen)
    return Case(
        id=cid,
        family=family,
        kind="window",
        inputs={"main": rows},
        delay=gen.get("delay", 0),
        window=window,
        lateness=lateness,
        late_output=late_output,
        seed=seed,
        apis=("python", "java", "java_aggregate"),
        note=note,
    )


def count_case(cid: str, seed: int, size: int, slide: int = 0, *, n: int = 40, keys: int = 3) -> Case:
    rng = random.Random(seed)
    rows = gen_stream(rng, n, keys=keys, origin=-50, max_step=4, delay=5, late_p=0.1, late_span=30)
    sliding = bool(slide)
    return Case(
        id=cid,
        family="count",
        kind="count",
        inputs={"main": rows},
        delay=5,
        count={"size": size, "slide": slide},
        seed=seed,
        apis=("python", "java"),
        judge="java" if sliding else "python",
        note=(
            "judged by Flink's Java countWindow: PyFlink 2.3's Python count_window(size, slide) fires "
            "only full windows, once each; Java Flink (and millstream) fire every `slide` elements "
            "with the last min(n, size)"
            if sliding
            else "tumbling count window: PyFlink's Python and Java APIs agree"
        ),
    )


def evict_case(
    cid: str, seed: int, trigger: int, evictor: dict[str, Any], window: dict[str, Any] | None = None, *, n: int = 40
) -> Case:
    """An evictor case: ``evictor`` is ``{"type": "time", "ms": size}`` or ``{"type": "delta", "threshold": t}``
    (delta = ``|ts_a - ts_b|``), with ``"after": bool`` (``do_evict_after``); on ``GlobalWindows`` fired by
    ``CountTrigger.of(trigger)``, or on ``window`` (its default trigger) when given."""
    rng = random.Random(seed)
    late = window is None  # a GlobalWindow is never late; time-window cases keep off lateness
    rows = gen_stream(
        rng, n, keys=2, origin=-30, max_step=4, delay=6, late_p=0.15 if late else 0.0, late_span=20, burst=3
    )
    return Case(
        id=cid,
        family="evict",
        kind="evict",
        inputs={"main": rows},
        delay=6,
        window=window,
        count={"size": trigger},
        seed=seed,
        apis=("java",),
        judge="java",
        note="judged by Flink's Java API: PyFlink's Python API has no evictors",
        extra={"evictor": evictor},
    )


def join_case(
    cid: str,
    family: str,
    seed: int,
    *,
    join: dict[str, Any] | None = None,
    window: dict[str, Any] | None = None,
    n: int = 40,
    keys: int = 3,
    delay: int = 3,
    origin: int = 0,
    grid: int = 1,
    max_step: int = 3,
) -> Case:
    rng = random.Random(seed)
    # Session windows of a window join: an element at exactly ``watermark + 1`` of its own input may touch
    # a session whose end is ``ts`` and which has fired already if (and only if) the other input is ahead
    # -- thread scheduling in Flink, batch size in millstream -- so such inputs keep off ``watermark + 1``.
    ahead = 1 if window is not None and window["type"] == "session" else 0
    gen = {"keys": keys, "delay": delay, "origin": origin, "grid": grid, "max_step": max_step, "ahead": ahead}
    left = gen_stream(rng, n, first_value=0, **gen)
    right = gen_stream(rng, n, first_value=1000, **gen)
    return Case(
        id=cid,
        family=family,
        kind="interval_join" if join is not None else "window_join",
        inputs={"left": left, "right": right},
        delay=delay,
        window=window,
        join=join,
        seed=seed,
        apis=("java",),
        judge="java",
        note="Flink's Java API (PyFlink's Python API has no joins); inputs never late on their own input",
    )


def tumbling(size: int, offset: int = 0) -> dict[str, Any]:
    return {"type": "tumbling", "size": size, "offset": offset}


def sliding(size: int, slide: int, offset: int = 0) -> dict[str, Any]:
    return {"type": "sliding", "size": size, "slide": slide, "offset": offset}


def session(gap: int) -> dict[str, Any]:
    return {"type": "session", "gap": gap}


def all_cases() -> list[Case]:
    """Every generated parity case, in a fixed order (ids are stable; seeds are in the ids)."""
    late = {"late_p": 0.15, "late_span": 25, "burst": 4}
    cases: list[Case] = []
    # tumbling, with offsets (positive, negative) and disorder
    for seed, size, offset, delay in [(1, 10, 0, 0), (2, 10, 3, 4), (3, 7, -4, 2), (4, 25, 11, 6)]:
        cases.append(
            window_case(
                f"tumbling-s{seed}",
                "tumbling",
                seed,
                tumbling(size, offset),
                delay=delay,
                origin=-20,
                late_output=True,
                **late,
            )
        )
    # sliding: overlapping, with offset, slide > size (gaps), grid-aligned bounds
    for seed, spec, grid in [
        (11, sliding(10, 5), 1),
        (12, sliding(12, 4, 2), 1),
        (13, sliding(4, 10), 1),
        (14, sliding(6, 9, 3), 3),
        (15, sliding(15, 5), 5),
        (16, sliding(10, 4, -3), 1),
        (17, sliding(7, 3, 1), 1),
    ]:
        cases.append(
            window_case(
                f"sliding-s{seed}",
                "sliding",
                seed,
                spec,
                delay=3,
                origin=-30,
                grid=grid,
                late_output=True,
                **late,
            )
        )
    # session: fixed gap; the grid makes elements exactly `gap` apart (touching sessions merge)
    for seed, gap, grid, delay in [(21, 10, 5, 0), (22, 10, 5, 7), (23, 4, 2, 3), (24, 6, 3, 10)]:
        cases.append(
            window_case(
                f"session-s{seed}",
                "session",
                seed,
                session(gap),
                delay=delay,
                origin=-40,
                grid=grid,
                max_step=4,
                keys=2,
                late_output=True,
                **late,
            )
        )
    # count windows: tumbling and sliding (incl. slide > size)
    cases += [
        count_case("count-tumbling-s31", 31, 3),
        count_case("count-tumbling-s32", 32, 5, keys=2),
        count_case("count-sliding-s33", 33, 4, 2),
        count_case("count-sliding-s34", 34, 3, 1),
        count_case("count-sliding-s35", 35, 2, 3),
        count_case("count-sliding-s36", 36, 5, 5, keys=2),
    ]
    # evictors: time and delta, before and after the window function
    cases += [
        evict_case("evict-time-s81", 81, 4, {"type": "time", "ms": 6, "after": False}),
        evict_case("evict-time-after-s82", 82, 3, {"type": "time", "ms": 5, "after": True}),
        evict_case("evict-delta-s83", 83, 4, {"type": "delta", "threshold": 7, "after": False}),
        evict_case("evict-delta-after-s84", 84, 3, {"type": "delta", "threshold": 4, "after": True}),
        evict_case("evict-time-tumbling-s85", 85, 0, {"type": "time", "ms": 4, "after": False}, tumbling(12)),
    ]
    # allowed lateness with late firings (and what is still too late goes to the side output)
    for seed, spec, lateness, late_output in [
        (41, tumbling(10), 15, True),
        (42, tumbling(10, 5), 7, False),
        (43, sliding(10, 5), 12, True),
        (44, session(6), 10, True),
        (45, session(5), 20, False),
        (46, session(4), 15, True),
    ]:
        cases.append(
            window_case(
                f"lateness-s{seed}",
                "lateness",
                seed,
                spec,
                lateness=lateness,
                late_output=late_output,
                delay=2,
                origin=-15,
                grid=1 if spec["type"] != "session" else 3,
                keys=2,
                late_p=0.25,
                late_span=30,
                burst=5,
            )
        )
    # late side output without lateness: bursts of late data, incl. into sliding-window gaps
    for seed, spec in [(51, tumbling(8)), (52, sliding(5, 8)), (53, session(4))]:
        cases.append(
            window_case(
                f"late-output-s{seed}",
                "late-output",
                seed,
                spec,
                late_output=True,
                delay=1,
                origin=-10,
                late_p=0.3,
                late_span=15,
                burst=6,
            )
        )
    # interval join: inclusive / exclusive bounds, windows before, around and after the left element
    for seed, lo, hi, lo_x, hi_x in [
        (61, -3, 2, False, False),
        (62, -3, 2, True, True),
        (63, 0, 5, True, False),
        (64, -6, -1, False, True),
        (65, 0, 0, False, False),
    ]:
        cases.append(
            join_case(
                f"interval-join-s{seed}",
                "interval-join",
                seed,
                origin=-20,
                join={"lo": lo, "hi": hi, "lo_exclusive": lo_x, "hi_exclusive": hi_x},
            )
        )
    # window join: tumbling, sliding, session
    for seed, spec in [(71, tumbling(10)), (72, sliding(10, 4)), (73, session(3)), (74, tumbling(6, -2))]:
        cases.append(join_case(f"window-join-s{seed}", "window-join", seed, window=spec, origin=-25, keys=2))
    # negative timestamps: everything before the epoch, or straddling it
    for seed, spec, origin in [
        (81, tumbling(10), -500),
        (82, tumbling(7, 3), -60),
        (83, sliding(10, 3), -300),
        (84, session(5), -200),
    ]:
        cases.append(
            window_case(
                f"negative-s{seed}",
                "negative",
                seed,
                spec,
                delay=3,
                origin=origin,
                lateness=4,
                late_output=True,
                late_p=0.2,
                late_span=40,
                burst=4,
            )
        )
    cases.append(join_case("negative-interval-join-s85", "negative", 85, origin=-400, join={"lo": -4, "hi": 3}))
    cases.append(join_case("negative-window-join-s86", "negative", 86, origin=-90, window=tumbling(10, -3)))
    cases += large_cases()
    return cases


def large_cases() -> list[Case]:
    """Bigger inputs, more keys, and realistic epoch-millisecond scales (now, and far before 1970)."""
    cases: list[Case] = []
    big = {"n": 400, "keys": 6, "late_p": 0.1, "late_span": 60, "burst": 8, "late_output": True}
    for seed, spec, lateness, delay in [
        (91, tumbling(50, -13), 30, 15),
        (92, sliding(40, 15, 7), 20, 10),
        (93, sliding(10, 25), 0, 5),
        (94, session(12), 25, 8),
    ]:
        cases.append(
            window_case(
                f"large-s{seed}",
                "large",
                seed,
                spec,
                lateness=lateness,
                delay=delay,
                origin=-700,
                max_step=4,
                **big,
            )
        )
    cases.append(count_case("large-count-sliding-s95", 95, 7, 3, n=300, keys=5))
    cases.append(
        join_case("large-interval-join-s96", "large", 96, n=200, keys=5, delay=8, origin=-300,
                  join={"lo": -10, "hi": 10, "lo_exclusive": False, "hi_exclusive": True})
    )  # fmt: skip
    cases.append(join_case("large-window-join-s97", "large", 97, n=150, keys=4, delay=6, window=sliding(30, 10)))
    # epoch scale: 2023-11 in ms with minute windows, and the year 0 (-62.1e12 ms)
    for seed, origin in [(98, 1_700_000_000_000), (99, -62_135_596_800_000)]:
        epoch = {"grid": 1000, "max_step": 7, "keys": 3, "late_p": 0.15, "late_span": 90_000, "burst": 3}
        for spec in (tumbling(60_000, 15_000), sliding(60_000, 15_000), session(30_000)):
            cases.append(
                window_case(
                    f"epoch-{spec['type']}-s{seed}", "epoch", seed, spec, lateness=10_000, late_output=True,
                    delay=5_000, origin=origin, n=150, **epoch,
                )
            )  # fmt: skip
        cases.append(
            join_case(f"epoch-interval-join-s{seed}", "epoch", seed, origin=origin, grid=1000, delay=5_000,
                      max_step=5, join={"lo": -30_000, "hi": 0})
        )  # fmt: skip
    return cases


# -- result normalisation -----------------------------------------------------------------------------


def normalise(rows: Iterable[Any]) -> list[tuple[Any, ...]]:
    """Rows as a sorted list of plain tuples (nested lists become tuples)."""

    def plain(x: Any) -> Any:
        return tuple(plain(v) for v in x) if isinstance(x, list | tuple) else x

    return sorted((plain(r) for r in rows), key=repr)


def per_key_sequences(rows: Iterable[Any]) -> dict[str, list[tuple[int, ...]]]:
    """Count-window firings per key, in firing order (order is defined per key)."""
    out: dict[str, list[tuple[int, ...]]] = {}
    for row in rows:
        out.setdefault(row[1], []).append(tuple(row[2]))
    return out
