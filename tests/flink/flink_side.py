"""Runs parity cases through ``--engine flink``'s translator, inside the PyFlink virtualenv.

Usage: ``python flink_side.py CASES.json RESULTS.json [PARALLELISM]``; an item of ``CASES.json`` may name
its own ``parallelism`` (and ``variant``), so one Flink job can hold a case at parallelism 1 and 2. Every
case is built with millstream's own API exactly as the parity suite builds it
(``tests/parity/millstream_side._build``, collecting sinks); all cases are translated by
:class:`millstream.flink.translate.FlinkJob` into ONE PyFlink environment (the JVM and the mini-cluster start
once), and the rows and record timestamps each case's sinks received are written to ``RESULTS.json`` as
``{"results": {"case_id/variant/parallelism": {"rows": [...], "stamps": [...]}}, "seconds": float}``. An item
``{"pipeline": name, "parallelism": p}`` instead of a case builds ``tests/flink/evicting_pipelines.PIPELINES
[name]`` (key ``name/pipeline/p``).
Needs ``millstream`` (``src``) and the repository root on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from millstream import StreamExecutionEnvironment
from millstream.flink.config import flink_configuration
from millstream.flink.glue import glue_jar
from millstream.flink.translate import FlinkJob
from millstream.testing import CollectingSink
from tests.flink.evicting_pipelines import PIPELINES
from tests.parity.cases import Case
from tests.parity.millstream_side import _build


def load(path: str, default_parallelism: int) -> list[tuple[str, Callable[[Any], list[Any]], int]]:
    """``(result key, builder(env) -> result streams, parallelism)`` of each item of ``path``."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    out: list[tuple[str, Callable[[Any], list[Any]], int]] = []
    for item in data["cases"]:
        parallelism = int(item.get("parallelism", default_parallelism))
        if "pipeline" in item:
            name = item["pipeline"]
            out.append((f"{name}/pipeline/{parallelism}", PIPELINES[name], parallelism))
            continue
        raw = dict(item["case"])
        raw["inputs"] = {name: [tuple(e) for e in rows] for name, rows in raw["inputs"].items()}
        raw["apis"] = tuple(raw["apis"])
        case, variant = Case(**raw), item.get("variant", "process")
        out.append((f"{case.id}/{variant}/{parallelism}", partial(_build, case=case, variant=variant), parallelism))
    return out


def main() -> None:
    cases_path, results_path = sys.argv[1], sys.argv[2]
    cases = load(cases_path, int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    started = time.monotonic()
    job: FlinkJob | None = None
    sinks: dict[str, list[CollectingSink]] = {}
    for key, build, parallelism in cases:
        env = StreamExecutionEnvironment.get_execution_environment()
        sinks[key] = []
        for stream in build(env):
            sink = CollectingSink()
            stream.sink_to(sink)
            sinks[key].append(sink)
        if job is None:
            job = FlinkJob(flink_configuration(env.config), glue_jar=glue_jar())
        job.add(env._take_sinks(), parallelism)
    assert job is not None
    job.execute("millstream parity cases on flink")
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
