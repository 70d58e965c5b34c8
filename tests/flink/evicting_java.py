"""Java Flink's own ``EvictingWindowOperator`` on the inputs of ``evicting_pipelines.py``: the judge of what
``millstream.flink.evicting`` (and millstream's engine) compute for windows with evictors beyond the parity
suite's five cases. Runs inside the PyFlink virtualenv with the parity suite's Java glue jar, on the parity
oracle's ``Job`` (``tests/parity/flink_runner.py``: parallelism 1, per-element watermarks, one Flink job).

Usage: ``python evicting_java.py JAR RESULTS.json``; ``RESULTS.json`` gets ``{name: {"rows": [...], "stamps":
[...]}}`` for each pipeline of ``evicting_pipelines.JAVA_TWINS`` (their Java twins).
Needs ``src`` and the repository root on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "parity"))

from flink_runner import Job

from tests.flink.evicting_pipelines import DELAY, JAVA_TWINS, _rows


def _window(job: Job, w: tuple[Any, ...]) -> Any:
    assigners = job.jvm.org.apache.flink.streaming.api.windowing.assigners
    if w[0] == "sliding":
        return assigners.SlidingEventTimeWindows.of(job.duration(w[1]), job.duration(w[2]))
    if w[0] == "session":
        return assigners.EventTimeSessionWindows.withGap(job.duration(w[1]))
    if w[0] == "tumbling":
        return assigners.TumblingEventTimeWindows.of(job.duration(w[1]))
    return assigners.GlobalWindows.create()


def _trigger(job: Job, name: str) -> Any:
    triggers = job.jvm.org.apache.flink.streaming.api.windowing.triggers
    return {
        "count-3": lambda: triggers.CountTrigger.of(3),
        "purging-count-3": lambda: triggers.PurgingTrigger.of(triggers.CountTrigger.of(3)),
        "purging-continuous-5": lambda: triggers.PurgingTrigger.of(
            triggers.ContinuousEventTimeTrigger.of(job.duration(5))
        ),
    }[name]()


def _evictor(job: Job, kind: str, size: int, after: bool) -> Any:
    evictors = job.jvm.org.apache.flink.streaming.api.windowing.evictors
    if kind == "time":
        return evictors.TimeEvictor.of(job.duration(size), after)
    if kind == "delta":  # |ts_a - ts_b|, as evicting_pipelines._ts_delta
        return evictors.DeltaEvictor.of(float(size), job.jvm.millstream.parity.TsDelta(), after)
    return evictors.CountEvictor.of(size, after)


def main() -> None:
    jar, results_path = sys.argv[1], sys.argv[2]
    cases = {
        name: {"id": name, "inputs": {"main": [list(r) for r in _rows(spec[0], late=spec[1])]}, "delay": DELAY}
        for name, spec in JAVA_TWINS.items()
    }
    for case in cases.values():
        case["watermarks"] = "element"
    with tempfile.TemporaryDirectory(prefix="millstream-evicting-java-") as workdir:
        job = Job(workdir, jar)
        job.prepare(list(cases.values()))
        parity = job.jvm.millstream.parity
        for name, (_, _, window, trigger, (kind, size, after), lateness, late_output) in JAVA_TWINS.items():
            src = job.source(cases[name], "main")._j_data_stream
            windowed = src.keyBy(parity.RowKey()).window(_window(job, window))
            if trigger is not None:
                windowed = windowed.trigger(_trigger(job, trigger))
            windowed = windowed.evictor(_evictor(job, kind, size, after))
            if lateness:
                windowed = windowed.allowedLateness(job.duration(lateness))
            tag = None
            if late_output:
                tag = job.jvm.org.apache.flink.util.OutputTag(job.unique("late"), src.getType())
                windowed = windowed.sideOutputLateData(tag)
            result = windowed.process(parity.CountFormat() if window[0] == "global" else parity.WindowFormat())
            job.tagged(name, "java", job.java_stream(result))
            if tag is not None:
                job.tagged(name, "java", job.java_stream(result.getSideOutput(tag).map(parity.LateFormat())))
        results: dict[str, dict[str, list[Any]]] = {name: {"rows": [], "stamps": []} for name in JAVA_TWINS}
        for line in job.collect():
            head, stamp, row = line.split("\t", 2)
            name, _ = json.loads(head)
            results[name]["rows"].append(json.loads(row))
            results[name]["stamps"].append(None if stamp == "null" else int(stamp))
    with open(results_path, "w", encoding="utf-8") as fh:
        json.dump(results, fh)


if __name__ == "__main__":
    main()
