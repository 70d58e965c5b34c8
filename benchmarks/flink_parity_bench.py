"""Every parity case through ``--engine flink``'s translation on PyFlink 2.3's mini-cluster, at parallelism 1 and 2,
against millstream's own engine: a summary of identical / differing / refused runs, with reasons, and the time.

The default test suite (``tests/flink/test_engine_flink.py``) runs a subset; this script runs all of them
(``tests/parity``: the generated cases and the hand-computed ones, 80 in all). Each case is built with
millstream's API exactly as the parity suite builds it, checked (``millstream.flink.check.check_job``, which
names what it refuses), and the translatable ones are run in batches of ``--batch`` cases,
one Flink job per batch (``tests/flink/flink_side.py`` in the PyFlink virtualenv of the parity suite), so a
batch that fails names its cases without losing the others. Every run is then compared with millstream's
engine at the same parallelism:

    identical            the rows (as a multiset; per key in order for count windows) and their record
                         timestamps are millstream's
    timestamps differ    the rows are identical, their record timestamps are not (an example is printed)
    differing            the rows differ (the first missing / extra rows are printed)
    refused              ``check_job`` refuses the case (the reason is printed)
    failed               the batch's Flink job failed (its error is printed)

    PYTHONPATH=src:. python benchmarks/flink_parity_bench.py [--parallelism 1,2] [--batch 10] [--only ID,...]

Needs the PyFlink virtualenv (built on first use by ``tests/parity/pyflink_env.py``) and Java 17. It runs one
Flink job at a time (a mini-cluster JVM and its Python workers); all 150 runs take long on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.parity.cases import Case, all_cases, normalise, per_key_sequences  # noqa: E402
from tests.parity.hand_cases import HAND  # noqa: E402
from tests.parity.millstream_side import _build, run_millstream  # noqa: E402

from millstream import StreamExecutionEnvironment  # noqa: E402
from millstream.flink.check import FlinkTranslationError, check_job  # noqa: E402
from millstream.testing import CollectingSink  # noqa: E402

SIDE = ROOT / "tests" / "flink" / "flink_side.py"


def refusal(case: Case) -> str | None:
    """``check_job``'s refusal of ``case``, or ``None`` when it translates."""
    env = StreamExecutionEnvironment.get_execution_environment()
    for stream in _build(env, case, "process"):
        stream.sink_to(CollectingSink())
    try:
        check_job(env._take_sinks())
    except FlinkTranslationError as exc:
        return exc.message
    return None


def run_batch(python: str, runs: list[tuple[Case, int]], folder: Path) -> tuple[dict[str, Any], float, str]:
    """One Flink job holding ``runs``; returns (results by ``id/process/parallelism``, seconds, error)."""
    cases = [{"case": c.to_json(), "variant": "process", "parallelism": p} for c, p in runs]
    (folder / "cases.json").write_text(json.dumps({"cases": cases}))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH")) if p)
    started = time.monotonic()
    proc = subprocess.run(
        [python, str(SIDE), str(folder / "cases.json"), str(folder / "results.json")],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=folder,
        env=env,
    )
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip() and not ln.startswith("\tat ")]
        return {}, seconds, "\n".join(lines[-12:])
    return json.loads((folder / "results.json").read_text())["results"], seconds, ""


def compare(case: Case, got: dict[str, Any], parallelism: int) -> tuple[str, str]:
    """(verdict, detail) of one Flink run against millstream's engine at the same parallelism."""
    rows, stamps = run_millstream(case, "process", parallelism=parallelism)
    want, have = normalise(rows), normalise(got["rows"])
    if want != have or (case.kind == "count" and per_key_sequences(got["rows"]) != per_key_sequences(rows)):
        missing = list((Counter(want) - Counter(have)).elements())[:3]
        extra = list((Counter(have) - Counter(want)).elements())[:3]
        detail = f"{len(have)} rows vs {len(want)}; missing {missing}, extra {extra}"
        if not missing and not extra:
            detail = "same rows, per-key order differs"
        return "differing", detail
    flink = Counter(normalise(zip(got["rows"], got["stamps"], strict=True)))
    ours = Counter(normalise(zip(rows, stamps, strict=True)))
    if flink != ours:
        (row, ts), *_ = (flink - ours).elements()
        want_ts = sorted(t for r, t in ours.elements() if r == row)
        return "timestamps differ", f"{case.kind}: {row} stamped {ts} on Flink, {want_ts} by millstream"
    return "identical", ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parallelism", default="1,2", help="comma-separated parallelisms (default 1,2)")
    parser.add_argument("--batch", type=int, default=10, help="cases per Flink job (default 10)")
    parser.add_argument("--only", default="", help="comma-separated case ids")
    parser.add_argument("--python", default="", help="a Python with PyFlink 2.3 (default: the parity venv's)")
    args = parser.parse_args()
    parallelisms = [int(p) for p in args.parallelism.split(",")]
    cases = [*all_cases(), *(c for c, _ in HAND)]
    if args.only:
        wanted = set(args.only.split(","))
        cases = [c for c in cases if c.id in wanted]
    python = args.python
    if not python:
        from tests.parity.pyflink_env import provision

        python = str(provision().python)

    verdicts: dict[tuple[str, int], tuple[str, str]] = {}
    runnable: list[Case] = []
    for case in cases:
        reason = refusal(case)
        if reason is None:
            runnable.append(case)
        else:
            for p in parallelisms:
                verdicts[(case.id, p)] = ("refused", reason)
    runs = [(c, p) for p in parallelisms for c in runnable]
    print(
        f"{len(cases)} parity cases: {len(runnable)} translate, {len(cases) - len(runnable)} refused; "
        f"{len(runs)} runs on Flink in batches of {args.batch}",
        flush=True,
    )
    flink_seconds = 0.0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="millstream-flink-parity-") as tmp:
        for start in range(0, len(runs), args.batch):
            batch = runs[start : start + args.batch]
            folder = Path(tmp) / f"batch{start // args.batch}"
            folder.mkdir()
            results, seconds, error = run_batch(python, batch, folder)
            flink_seconds += seconds
            for case, p in batch:
                got = results.get(f"{case.id}/process/{p}")
                verdicts[(case.id, p)] = ("failed", error) if got is None else compare(case, got, p)
            done = Counter(verdicts[(c.id, p)][0] for c, p in batch)
            print(
                f"  batch {start // args.batch + 1}/{(len(runs) + args.batch - 1) // args.batch}: {len(batch)} runs "
                f"in {seconds:.0f}s on Flink: {dict(done)}",
                flush=True,
            )

    print(f"\nsummary ({time.monotonic() - started:.0f}s in all, {flink_seconds:.0f}s in Flink jobs):")
    for p in parallelisms:
        counts = Counter(v for (cid, q), (v, _) in verdicts.items() if q == p)
        print(f"  parallelism {p}: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    for verdict in ("refused", "timestamps differ", "differing", "failed"):
        items = sorted((cid, p, d) for (cid, p), (v, d) in verdicts.items() if v == verdict)
        if items:
            print(f"\n{verdict}:")
            for cid, p, detail in items:
                print(f"  {cid} p{p}: {detail}")


if __name__ == "__main__":
    main()
