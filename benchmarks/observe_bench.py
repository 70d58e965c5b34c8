"""Cost of observing a job: the engine benchmark's job (see ``engine_bench.py``) run without an observer and
with :class:`millstream.observe.Monitoring` installed and serving, alternating, in the same process.

    PYTHONPATH=src python benchmarks/observe_bench.py [--events 500000] [--batch 4096] [--repeat 3]

Prints both rates (per CPU second, best of ``--repeat`` runs each) and their ratio; metrics are reported per
batch and sampled at most once a second, so the observed job should run within a few percent of the bare one.
The bar: observed >= 95% of unobserved.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_bench import produce, run_job

from millstream.log import open_log
from millstream.observe import Monitoring

RATIO_BAR = 0.95


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"file://{tmp}/log"
        with open_log(url) as log:
            produce(log, args.events)
        plain, observed = [], []
        for _ in range(max(1, args.repeat)):
            plain.append(run_job(url, args.batch)[0])
            with Monitoring(0):
                observed.append(run_job(url, args.batch)[0])
    p_rate, o_rate = args.events / min(plain), args.events / min(observed)
    ratio = o_rate / p_rate
    print(f"events: {args.events:,}  batch: {args.batch}  best of {len(plain)} runs each")
    print(f"no observer:          {p_rate:12,.0f} events/s")
    print(f"observed (serving):   {o_rate:12,.0f} events/s")
    print(f"ratio observed/plain: {ratio:12.1%}")
    print(f"bar: >= {RATIO_BAR:.0%}: {'PASS' if ratio >= RATIO_BAR else 'FAIL'}")


if __name__ == "__main__":
    main()
