"""Flink parity: every generated case gives identical results in millstream and in Flink 2.3.

The Flink side of all cases runs as one Flink job per session (``flink_results``). Which Flink API
judges a case is ``Case.judge`` (see ``cases.py``): PyFlink's Python DataStream API for time windows,
Flink's **Java** API for count windows (PyFlink 2.3's Python ``count_window(size, slide)`` fires only
full windows, once each, while Java Flink and millstream fire every ``slide`` elements with the last
``min(n, size)``) and for joins (which PyFlink's Python API lacks).

Record timestamps are judged by Flink's Java API for every case: PyFlink's Python window operator
stamps a late firing with the late element's timestamp and a count window's result with its last
element's, where Java Flink uses the window's ``max_timestamp()`` (``end - 1``; ``Long.MAX_VALUE``
for a count window's ``GlobalWindow``), which is what SEMANTICS.md specifies.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

import pytest

from .cases import Case, all_cases, normalise, per_key_sequences
from .hand_cases import HAND
from .millstream_side import WINDOW_VARIANTS, project_builtin, run_millstream
from .oracle import FlinkOracle

# the first flink test also provisions PyFlink (first use: ~30 s plus download) and runs the one Flink job
pytestmark = [pytest.mark.flink, pytest.mark.timeout(1800)]

# the generated cases, plus the hand-computed SEMANTICS.md examples (test_oracle.py pins their Flink results)
CASES = [*all_cases(), *(case for case, _ in HAND)]
BY_ID = {c.id: c for c in CASES}

# Case id -> precise description of a millstream engine bug that makes the case differ from Flink.
# Each is an xfail(strict=True): it must keep failing until the engine is fixed, then be removed here.
KNOWN_ENGINE_BUGS: dict[str, str] = {}
KNOWN_TIMESTAMP_BUGS: dict[str, str] = {}


def _params(bugs: dict[str, str]) -> list[Any]:
    return [
        pytest.param(
            c,
            id=c.id,
            marks=[pytest.mark.xfail(strict=True, reason=bugs[c.id])] if c.id in bugs else [],
        )
        for c in CASES
    ]


@functools.cache
def millstream_result(case_id: str, batch_size: int | None = None) -> tuple[list[Any], list[Any]]:
    return run_millstream(BY_ID[case_id], batch_size=batch_size)


def difference(expected: list[Any], actual: list[Any], limit: int = 12) -> str:
    """A readable multiset difference: what millstream lacks and what it has extra."""
    want, got = Counter(expected), Counter(actual)
    missing = sorted((want - got).elements(), key=repr)
    extra = sorted((got - want).elements(), key=repr)
    lines = [f"{len(missing)} rows only in Flink, {len(extra)} only in millstream"]
    lines += [f"  flink only:      {r}" for r in missing[:limit]]
    lines += [f"  millstream only: {r}" for r in extra[:limit]]
    return "\n".join(lines)


def _skip_unless_supported(oracle: FlinkOracle, case: Case) -> None:
    if (why := oracle.supports(case)) is not None:
        pytest.skip(why)


@pytest.mark.parametrize("batch_size", [None, 1, 7], ids=["default-batches", "batch-1", "batch-7"])
@pytest.mark.parametrize("case", _params(KNOWN_ENGINE_BUGS))
def test_results_identical_to_flink(
    flink_oracle: FlinkOracle,
    flink_results: dict[str, dict[str, list[Any]]],
    case: Case,
    batch_size: int | None,
) -> None:
    """Identical rows to Flink's, whatever the engine's batch size (SEMANTICS.md: results never depend
    on it)."""
    _skip_unless_supported(flink_oracle, case)
    expected = flink_results[case.id][case.judge]
    rows, _ = millstream_result(case.id, batch_size)
    want, got = normalise(expected), normalise(rows)
    assert got == want, f"{case.id} (seed {case.seed}, judged by Flink's {case.judge} API)\n" + difference(want, got)
    if case.kind in ("count", "evict") and case.window is None:  # firing order per key is defined for count windows
        assert per_key_sequences(rows) == per_key_sequences(expected)


@pytest.mark.parametrize("parallelism", [2, 4])
@pytest.mark.parametrize("case", _params(KNOWN_ENGINE_BUGS))
def test_results_identical_to_flink_at_every_parallelism(
    flink_oracle: FlinkOracle,
    flink_results: dict[str, dict[str, list[Any]]],
    case: Case,
    parallelism: int,
) -> None:
    """The same rows and record timestamps at parallelism 2 and 4 (keyed operators on worker processes, the
    one-partition source feeding them through a hash exchange) as Flink's."""
    _skip_unless_supported(flink_oracle, case)
    if parallelism == 4 and CASES.index(case) % 3:
        pytest.skip("parallelism 4 runs every third case (each starts 4 worker processes)")
    expected = flink_results[case.id][case.judge]
    rows, stamps = run_millstream(case, parallelism=parallelism)
    want, got = normalise(expected), normalise(rows)
    assert got == want, f"{case.id} at parallelism {parallelism}\n" + difference(want, got)
    if case.kind in ("count", "evict") and case.window is None:
        assert per_key_sequences(rows) == per_key_sequences(expected)
    want_ts = normalise(zip(flink_results[case.id]["java"], flink_oracle.timestamps[case.id]["java"], strict=True))
    got_ts = normalise(zip(rows, stamps, strict=True))
    assert got_ts == want_ts, f"{case.id} at parallelism {parallelism}: record timestamps\n" + difference(
        want_ts, got_ts
    )


WINDOW_CASES = [c for c in CASES if c.kind == "window"]
OTHER_VARIANTS = [v for v in WINDOW_VARIANTS if v != "process"]


@pytest.mark.parametrize("variant", OTHER_VARIANTS)
@pytest.mark.parametrize("case", WINDOW_CASES, ids=[c.id for c in WINDOW_CASES])
def test_window_function_variants_identical_to_flink(
    flink_oracle: FlinkOracle, flink_results: dict[str, dict[str, list[Any]]], case: Case, variant: str
) -> None:
    """The same time-window case with millstream's incremental window functions (aggregate, reduce,
    built-in aggregates; the tumbling fast path among them) gives Flink's rows too."""
    _skip_unless_supported(flink_oracle, case)
    expected = flink_results[case.id][case.judge]
    if variant == "builtin":
        expected = [project_builtin(r) for r in expected]
    rows, stamps = run_millstream(case, variant)
    want, got = normalise(expected), normalise(rows)
    assert got == want, f"{case.id} (seed {case.seed}), {variant} variant\n" + difference(want, got)
    java = flink_results[case.id]["java"]
    if variant == "builtin":
        java = [project_builtin(r) for r in java]
    want_ts = normalise(zip(java, flink_oracle.timestamps[case.id]["java"], strict=True))
    got_ts = normalise(zip(rows, stamps, strict=True))
    assert got_ts == want_ts, f"{case.id}, {variant} variant: record timestamps\n" + difference(want_ts, got_ts)


@pytest.mark.parametrize("case", _params(KNOWN_TIMESTAMP_BUGS))
def test_record_timestamps_identical_to_flink(
    flink_oracle: FlinkOracle, flink_results: dict[str, dict[str, list[Any]]], case: Case
) -> None:
    _skip_unless_supported(flink_oracle, case)
    expected = normalise(zip(flink_results[case.id]["java"], flink_oracle.timestamps[case.id]["java"], strict=True))
    rows, stamps = millstream_result(case.id)
    got = normalise(zip(rows, stamps, strict=True))
    assert got == expected, f"{case.id} (seed {case.seed}): (row, record timestamp) pairs\n" + difference(expected, got)
