"""Runs parity cases through ``--engine flink``'s translator, inside the PyFlink virtualenv.

Usage: ``python flink_side.py CASES.json RESULTS.json PARALLELISM``. Every case is built with millstream's own
API exactly as the parity suite builds it (``tests/parity/millstream_side._build``, collecting sinks), all
cases are translated by :class:`millstream.flink.translate.FlinkJob` into ONE PyFlink environment (the JVM
and the mini-cluster start once) at ``PARALLELISM``, and the rows and record timestamps each case's sinks
received are written to ``RESULTS.json`` as ``{"results": {case_id: {"rows": [...], "stamps": [...]}},
"seconds": float}``. Needs ``millstream`` (``src``) and the repository root on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import sys
import time

from tests.parity.cases import Case
from tests.parity.millstream_side import _build

from millstream import StreamExecutionEnvironment
from millstream.flink.config import flink_configuration
from millstream.flink.glue import glue_jar
from millstream.flink.translate import FlinkJob
from millstream.testing import CollectingSink


def load(path: str) -> list[tuple[Case, str]]:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    out = []
    for item in data["cases"]:
        raw = dict(item["case"])
        raw["inputs"] = {name: [tuple(e) for e in rows] for name, rows in raw["inputs"].items()}
        raw["apis"] = tuple(raw["apis"])
        out.append((Case(**raw), item.get("variant", "process")))
    return out


def main() -> None:
    cases_path, results_path, parallelism = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cases = load(cases_path)
    started = time.monotonic()
    job: FlinkJob | None = None
    sinks: dict[str, list[CollectingSink]] = {}
    for case, variant in cases:
        env = StreamExecutionEnvironment.get_execution_environment()
        key = f"{case.id}/{variant}"
        sinks[key] = []
        for stream in _build(env, case, variant):
            sink = CollectingSink()
            stream.sink_to(sink)
            sinks[key].append(sink)
        if job is None:
            job = FlinkJob(flink_configuration(env.config), glue_jar=glue_jar())
        job.add(env._take_sinks(), parallelism)
    assert job is not None
    job.execute(f"millstream parity on flink, parallelism {parallelism}")
    results = {
        key: {
            "rows": [row for s in group for row in s.values],
            "stamps": [ts for s in group for ts in s.timestamps],
        }
        for key, group in sinks.items()
    }
    with open(results_path, "w", encoding="utf-8") as fh:
        json.dump({"results": results, "seconds": time.monotonic() - started}, fh)


if __name__ == "__main__":
    main()
