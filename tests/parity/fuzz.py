"""Hunt for parity mismatches beyond the fixed suite: many random cases, one Flink job, compare.

Not collected by pytest. Run by hand (from the repository root)::

    PYTHONPATH=src:tests python -m parity.fuzz --cases 200 --seed 1000

It draws random case parameters (window type and sizes, offsets, gaps, lateness, delays, key counts,
late-data bursts, join bounds) from ``--seed``, runs them all through Flink in one job and through
millstream (default batch size and batch size 1), and prints every mismatch with the case's
parameters so it can be added to ``cases.all_cases()`` (or ``KNOWN_ENGINE_BUGS``).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from typing import Any

from .cases import Case, count_case, join_case, normalise, session, sliding, tumbling, window_case
from .millstream_side import run_millstream
from .oracle import FlinkOracle
from .pyflink_env import provision


def random_case(rng: random.Random, index: int, base_seed: int) -> Case:
    """One random case; its id names the family and the seed that rebuilds its input."""
    seed = base_seed + index
    family = rng.choice(["tumbling", "sliding", "session", "count", "interval", "window-join"])
    delay = rng.choice([0, 0, 1, 3, 7])
    origin = rng.choice([-500, -37, 0, 1_000])
    gen: dict[str, Any] = {
        "delay": delay,
        "origin": origin,
        "keys": rng.randint(1, 5),
        "grid": rng.choice([1, 1, 2, 5]),
        "max_step": rng.randint(1, 5),
        "late_p": rng.choice([0.0, 0.1, 0.3]),
        "late_span": rng.randint(1, 40),
        "burst": rng.randint(1, 6),
        "n": rng.randint(10, 120),
    }
    cid = f"fuzz-{family}-s{seed}"
    if family in ("tumbling", "sliding", "session"):
        size = rng.randint(1, 30)
        if family == "tumbling":
            spec = tumbling(size, rng.randint(-size + 1, size - 1))
        elif family == "sliding":
            slide = rng.randint(1, 30)
            spec = sliding(size, slide, rng.randint(-slide + 1, slide - 1))
        else:
            spec = session(rng.randint(1, 15))
        return window_case(
            cid,
            "fuzz",
            seed,
            spec,
            lateness=rng.choice([0, 0, 3, 10, 30]),
            late_output=rng.random() < 0.7,
            **gen,
        )
    if family == "count":
        size = rng.randint(1, 8)
        return count_case(cid, seed, size, rng.choice([0, rng.randint(1, 9)]), n=gen["n"], keys=gen["keys"])
    keys = {k: gen[k] for k in ("keys", "delay", "origin", "grid", "max_step")}
    if family == "interval":
        lo = rng.randint(-15, 10)
        hi = lo + rng.randint(0, 15)
        join = {"lo": lo, "hi": hi, "lo_exclusive": rng.random() < 0.3, "hi_exclusive": rng.random() < 0.3}
        if join["lo_exclusive"] and join["hi_exclusive"] and lo == hi:
            join["hi_exclusive"] = False
        return join_case(cid, "fuzz", seed, join=join, n=gen["n"] // 2 + 5, **keys)
    spec = rng.choice([tumbling(rng.randint(1, 20)), sliding(rng.randint(2, 20), rng.randint(1, 10)), session(4)])
    return join_case(cid, "fuzz", seed, window=spec, n=gen["n"] // 2 + 5, **keys)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    cases = [random_case(rng, i, args.seed) for i in range(args.cases)]
    oracle = FlinkOracle(provision())
    started = time.monotonic()
    results = oracle.run(cases)
    print(f"Flink: {len(cases)} cases in {time.monotonic() - started:.1f}s")
    mismatches = 0
    for case in cases:
        expected = normalise(results[case.id][case.judge])
        expected_ts = normalise(zip(results[case.id]["java"], oracle.timestamps[case.id]["java"], strict=True))
        for batch_size in (None, 1):
            try:
                rows, stamps = run_millstream(case, batch_size=batch_size)
            except Exception as exc:  # report every kind of engine failure, keep fuzzing
                print(f"ERROR {case.id} batch={batch_size}: {type(exc).__name__}: {exc}")
                mismatches += 1
                continue
            if normalise(rows) != expected or normalise(zip(rows, stamps, strict=True)) != expected_ts:
                mismatches += 1
                params = {k: v for k, v in case.to_json().items() if k not in ("inputs", "note")}
                print(f"MISMATCH {case.id} batch={batch_size}: {params}")
    print(f"{mismatches} mismatches in {len(cases)} cases")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
