"""The Flink side of the parity suite: runs parity cases through PyFlink 2.3 and prints their results.

This script runs inside the dedicated PyFlink virtualenv (see ``pyflink_env.py``), never in the test
process: it imports only the standard library and ``pyflink``. Usage::

    python flink_runner.py CASES.json RESULTS.json [JAR]

``CASES.json`` holds ``{"cases": [case, ...]}`` in the format of ``cases.Case.to_json()``. Every case
becomes an independent pipeline (its own inputs, watermarks and operators) and all pipelines run as
**one** Flink job, so the JVM and mini-cluster start once. ``RESULTS.json`` receives::

    {"results": {case_id: {api: [row, ...]}}, "timestamps": {case_id: {api: [ts, ...]}},
     "seconds": {...}, "flink_version": "2.3.0"}

``timestamps`` are the record timestamps of the rows, in the same order (``None`` when a row has none);
``api`` is ``"python"`` (PyFlink's Python DataStream API) or ``"java"`` (Flink's Java DataStream
API driven through PyFlink's Java gateway, with the small functions in ``java/`` compiled into ``JAR``).
Rows are JSON arrays:

- ``["w", key, start, end, count, sum, sorted values]`` for each firing of a time window;
- ``["c", key, values in window order]`` for each firing of a count window;
- ``["late", key, ts, v]`` for each element sent to the late-data side output;
- ``["j", key, left ts, left v, right ts, right v(, output ts)]`` for each join pair.

Determinism (SEMANTICS.md, "Flink as an oracle"): parallelism 1, ``table.local-time-zone=UTC``,
``pipeline.auto-watermark-interval=0 ms``, ``python.fn-execution.bundle.size=1``, this interpreter as the
Python worker, inputs read from CSV by the ``filesystem`` connector (one shared file, each input filtered
out of it in order; see ``Job.prepare``), and a bounded-out-of-orderness watermark ``wm = max_ts - d - 1``
emitted after every row. SEMANTICS.md writes that watermark in SQL
(``rt - INTERVAL '<d + 0.001>' SECOND``); that is still available (``"watermarks": "sql"``) but is not
the default, because Flink's SQL watermark operator starts at 0 and never emits a negative watermark,
which silently turns off lateness before the epoch. The default assigns the same watermark in the
DataStream with ``PerElementWatermarks.java`` (see ``Job.source``); the oracle tests check that both
agree wherever timestamps are not negative.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Any

from pyflink.common import Configuration, Time, Types
from pyflink.datastream import DataStream, OutputTag, StreamExecutionEnvironment
from pyflink.datastream.functions import ProcessWindowFunction
from pyflink.datastream.window import (
    EventTimeSessionWindows,
    SlidingEventTimeWindows,
    TumblingEventTimeWindows,
)
from pyflink.java_gateway import get_gateway
from pyflink.table import StreamTableEnvironment


def element_type() -> Any:
    """(key, ts, value) tuples; a fresh instance each time, because PyFlink caches the Java type inside it
    and an OutputTag whose type holds such a cache cannot be pickled."""
    return Types.TUPLE([Types.STRING(), Types.LONG(), Types.LONG()])


class PyWindowFormat(ProcessWindowFunction):
    """Python twin of ``WindowFormat.java``: one JSON row per time-window firing."""

    def process(self, key, context, elements):
        values = sorted(e[2] for e in elements)
        w = context.window()
        yield json.dumps(["w", key, w.start, w.end, len(values), sum(values), values])


class PyCountFormat(ProcessWindowFunction):
    """Python twin of ``CountFormat.java``: one JSON row per count-window firing."""

    def process(self, key, context, elements):
        yield json.dumps(["c", key, [e[2] for e in elements]])


class Job:
    """Builds every case of one run into a single StreamExecutionEnvironment."""

    def __init__(self, workdir: str, jar: str | None) -> None:
        conf = Configuration()
        conf.set_string("pipeline.auto-watermark-interval", "0 ms")
        conf.set_string("python.fn-execution.bundle.size", "1")
        conf.set_string("table.local-time-zone", "UTC")
        # hundreds of small pipelines in one job need many network buffers, not big ones
        conf.set_string("taskmanager.memory.segment-size", "4kb")
        conf.set_string("taskmanager.memory.network.min", "256mb")
        conf.set_string("taskmanager.memory.network.max", "256mb")
        self.env = StreamExecutionEnvironment.get_execution_environment(conf)
        self.env.set_parallelism(1)
        self.env.set_python_executable(sys.executable)
        if jar:
            self.env.add_jars("file://" + os.path.abspath(jar))
        self.t_env = StreamTableEnvironment.create(self.env)
        self.t_env.get_config().set("table.local-time-zone", "UTC")
        self.jvm = get_gateway().jvm
        self.workdir = workdir
        self.outputs: list[DataStream] = []
        self.tables = 0
        self.serial = 0

    # -- sources ---------------------------------------------------------------------------------------

    def prepare(self, cases: list[dict[str, Any]]) -> None:
        """Writes the inputs of all cases with per-element watermarks into ONE shared CSV file, read by
        one ``filesystem`` table: planning a table per input is what makes building a big job slow.
        Each input is numbered (``self.input_ids``) and carries its number as a fourth column."""
        self.input_ids: dict[tuple[str, str], int] = {}
        folder = os.path.join(self.workdir, "shared")
        os.makedirs(folder)
        with open(os.path.join(folder, "data.csv"), "w", encoding="utf-8") as f:
            for case in cases:
                if case["watermarks"] != "element":
                    continue
                for name, rows in case["inputs"].items():
                    number = self.input_ids[(case["id"], name)] = len(self.input_ids)
                    for key, ts, value in rows:
                        f.write(f"{key},{int(ts)},{int(value)},{number}\n")
        self.t_env.execute_sql(
            "CREATE TEMPORARY TABLE shared_inputs (k STRING, ts BIGINT, v BIGINT, i INT) "
            f"WITH ('connector' = 'filesystem', 'path' = 'file://{folder}', 'format' = 'csv')"
        )
        self.shared = self.t_env.to_data_stream(self.t_env.from_path("shared_inputs"))._j_data_stream

    def source(self, case: dict[str, Any], name: str) -> DataStream:
        """The case's input ``name`` as a stream of rows (k, ts, v, ...) with event time ``ts`` and the
        bounded-out-of-orderness watermark ``max_ts - d - 1`` emitted after every row.

        ``watermarks="element"`` (default): the input's rows are filtered out of the shared table, in file
        order, and get their watermarks from ``PerElementWatermarks`` (Java glue). ``"sql"``: the input
        gets a file and table of its own with SEMANTICS.md's SQL clause
        ``WATERMARK FOR rt AS rt - INTERVAL '<d + 0.001>' SECOND``, which is equivalent except that it
        never emits a negative watermark (Flink's SQL watermark operator starts at 0), so only the
        oracle's own tests use it.
        """
        delay_ms = int(case["delay"])
        if case["watermarks"] == "element":
            parity = self.jvm.millstream.parity
            rows = self.shared.filter(parity.InputFilter(self.input_ids[(case["id"], name)]))
            return DataStream(rows.assignTimestampsAndWatermarks(parity.PerElementWatermarks(delay_ms)))
        self.tables += 1
        table = f"src{self.tables}"
        folder = os.path.join(self.workdir, table)
        os.makedirs(folder)
        with open(os.path.join(folder, "data.csv"), "w", encoding="utf-8") as f:
            for key, ts, value in case["inputs"][name]:
                f.write(f"{key},{int(ts)},{int(value)}\n")
        interval = f"{(delay_ms + 1) / 1000:.3f}"
        self.t_env.execute_sql(
            f"CREATE TEMPORARY TABLE {table} (k STRING, ts BIGINT, v BIGINT, rt AS TO_TIMESTAMP_LTZ(ts, 3), "
            f"WATERMARK FOR rt AS rt - INTERVAL '{interval}' SECOND) "
            f"WITH ('connector' = 'filesystem', 'path' = 'file://{folder}', 'format' = 'csv')"
        )
        return self.t_env.to_data_stream(self.t_env.from_path(table))

    def tagged(self, case_id: str, api: str, stream: DataStream) -> None:
        """Prefixes each JSON result row of ``stream`` with its case, API and record timestamp (``Tag.java``)
        so that all pipelines can share one collecting sink."""
        tag = self.jvm.millstream.parity.Tag(json.dumps([case_id, api]))
        self.outputs.append(DataStream(stream._j_data_stream.process(tag)))

    def unique(self, prefix: str) -> str:
        """A name unique within the job (side-output tags)."""
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def java_stream(self, j_stream: Any) -> DataStream:
        return DataStream(j_stream)

    def duration(self, ms: int) -> Any:
        return self.jvm.java.time.Duration.ofMillis(int(ms))

    # -- assigners -------------------------------------------------------------------------------------

    @staticmethod
    def py_assigner(spec: dict[str, Any]) -> Any:
        kind = spec["type"]
        if kind == "tumbling":
            return TumblingEventTimeWindows.of(
                Time.milliseconds(spec["size"]), Time.milliseconds(spec.get("offset", 0))
            )
        if kind == "sliding":
            return SlidingEventTimeWindows.of(
                Time.milliseconds(spec["size"]),
                Time.milliseconds(spec["slide"]),
                Time.milliseconds(spec.get("offset", 0)),
            )
        if kind == "session":
            return EventTimeSessionWindows.with_gap(Time.milliseconds(spec["gap"]))
        raise ValueError(f"unknown window type {kind!r}")

    def java_assigner(self, spec: dict[str, Any]) -> Any:
        assigners = self.jvm.org.apache.flink.streaming.api.windowing.assigners
        kind = spec["type"]
        if kind == "tumbling":
            return assigners.TumblingEventTimeWindows.of(
                self.duration(spec["size"]), self.duration(spec.get("offset", 0))
            )
        if kind == "sliding":
            return assigners.SlidingEventTimeWindows.of(
                self.duration(spec["size"]),
                self.duration(spec["slide"]),
                self.duration(spec.get("offset", 0)),
            )
        if kind == "session":
            return assigners.EventTimeSessionWindows.withGap(self.duration(spec["gap"]))
        raise ValueError(f"unknown window type {kind!r}")

    # -- case kinds ------------------------------------------------------------------------------------

    def add(self, case: dict[str, Any]) -> None:
        for api in case["apis"]:
            getattr(self, f"{case['kind']}_{api}")(case)

    def window_python(self, case: dict[str, Any]) -> None:
        src = self.source(case, "main")
        elements = src.map(lambda r: (r[0], r[1], r[2]), output_type=element_type())
        windowed = elements.key_by(lambda e: e[0], key_type=Types.STRING()).window(self.py_assigner(case["window"]))
        if case.get("lateness"):
            windowed = windowed.allowed_lateness(int(case["lateness"]))
        tag = None
        if case.get("late_output"):
            tag = OutputTag(self.unique("late-py"), element_type())
            windowed = windowed.side_output_late_data(tag)
        result = windowed.process(PyWindowFormat(), Types.STRING())
        self.tagged(case["id"], "python", result)
        if tag is not None:
            late = result.get_side_output(tag).map(
                lambda e: json.dumps(["late", e[0], e[1], e[2]]), output_type=Types.STRING()
            )
            self.tagged(case["id"], "python", late)

    def window_java(self, case: dict[str, Any]) -> None:
        parity = self.jvm.millstream.parity
        src = self.source(case, "main")._j_data_stream
        windowed = src.keyBy(parity.RowKey()).window(self.java_assigner(case["window"]))
        if case.get("lateness"):
            windowed = windowed.allowedLateness(self.duration(case["lateness"]))
        tag = None
        if case.get("late_output"):
            tag = self.jvm.org.apache.flink.util.OutputTag(self.unique("late-java"), src.getType())
            windowed = windowed.sideOutputLateData(tag)
        result = windowed.process(parity.WindowFormat())
        self.tagged(case["id"], "java", self.java_stream(result))
        if tag is not None:
            self.tagged(case["id"], "java", self.java_stream(result.getSideOutput(tag).map(parity.LateFormat())))

    def window_java_aggregate(self, case: dict[str, Any]) -> None:
        """Like ``window_java`` but with an incremental ``aggregate(ValuesAggregate, AggregateWindowFormat)``
        (aggregating window state instead of a list of elements): the oracle tests require the same rows."""
        parity = self.jvm.millstream.parity
        src = self.source(case, "main")._j_data_stream
        windowed = src.keyBy(parity.RowKey()).window(self.java_assigner(case["window"]))
        if case.get("lateness"):
            windowed = windowed.allowedLateness(self.duration(case["lateness"]))
        tag = None
        if case.get("late_output"):
            tag = self.jvm.org.apache.flink.util.OutputTag(self.unique("late-java-agg"), src.getType())
            windowed = windowed.sideOutputLateData(tag)
        result = windowed.aggregate(parity.ValuesAggregate(), parity.AggregateWindowFormat())
        self.tagged(case["id"], "java_aggregate", self.java_stream(result))
        if tag is not None:
            late = result.getSideOutput(tag).map(parity.LateFormat())
            self.tagged(case["id"], "java_aggregate", self.java_stream(late))

    def count_python(self, case: dict[str, Any]) -> None:
        src = self.source(case, "main")
        elements = src.map(lambda r: (r[0], r[1], r[2]), output_type=element_type())
        keyed = elements.key_by(lambda e: e[0], key_type=Types.STRING())
        spec = case["count"]
        windowed = keyed.count_window(int(spec["size"]), int(spec.get("slide", 0)))
        self.tagged(case["id"], "python", windowed.process(PyCountFormat(), Types.STRING()))

    def count_java(self, case: dict[str, Any]) -> None:
        parity = self.jvm.millstream.parity
        src = self.source(case, "main")._j_data_stream
        keyed = src.keyBy(parity.RowKey())
        spec = case["count"]
        if spec.get("slide"):
            windowed = keyed.countWindow(int(spec["size"]), int(spec["slide"]))
        else:
            windowed = keyed.countWindow(int(spec["size"]))
        self.tagged(case["id"], "java", self.java_stream(windowed.process(parity.CountFormat())))

    def evict_java(self, case: dict[str, Any]) -> None:
        parity = self.jvm.millstream.parity
        windowing = self.jvm.org.apache.flink.streaming.api.windowing
        keyed = self.source(case, "main")._j_data_stream.keyBy(parity.RowKey())
        if case.get("window"):
            windowed = keyed.window(self.java_assigner(case["window"]))
        else:
            count = windowing.triggers.CountTrigger.of(int(case["count"]["size"]))
            windowed = keyed.window(windowing.assigners.GlobalWindows.create()).trigger(count)
        spec = case["extra"]["evictor"]
        after = bool(spec["after"])
        if spec["type"] == "time":
            evictor = windowing.evictors.TimeEvictor.of(self.duration(spec["ms"]), after)
        else:
            evictor = windowing.evictors.DeltaEvictor.of(float(spec["threshold"]), parity.TsDelta(), after)
        fmt = parity.WindowFormat() if case.get("window") else parity.CountFormat()
        self.tagged(case["id"], "java", self.java_stream(windowed.evictor(evictor).process(fmt)))

    def interval_join_java(self, case: dict[str, Any]) -> None:
        parity = self.jvm.millstream.parity
        left = self.source(case, "left")._j_data_stream
        right = self.source(case, "right")._j_data_stream
        spec = case["join"]
        joined = left.keyBy(parity.RowKey()).intervalJoin(right.keyBy(parity.RowKey()))
        between = joined.between(self.duration(spec["lo"]), self.duration(spec["hi"]))
        if spec.get("lo_exclusive"):
            between = between.lowerBoundExclusive()
        if spec.get("hi_exclusive"):
            between = between.upperBoundExclusive()
        self.tagged(case["id"], "java", self.java_stream(between.process(parity.IntervalJoinFormat())))

    def window_join_java(self, case: dict[str, Any]) -> None:
        parity = self.jvm.millstream.parity
        left = self.source(case, "left")._j_data_stream
        right = self.source(case, "right")._j_data_stream
        joined = (
            left.join(right)
            .where(parity.RowKey())
            .equalTo(parity.RowKey())
            .window(self.java_assigner(case["window"]))
            .apply(parity.WindowJoinFormat(), self.jvm.org.apache.flink.api.common.typeinfo.Types.STRING)
        )
        self.tagged(case["id"], "java", self.java_stream(joined))

    # -- run -------------------------------------------------------------------------------------------

    def collect(self) -> list[str]:
        if not self.outputs:
            return []
        union = self.outputs[0].union(*self.outputs[1:]) if len(self.outputs) > 1 else self.outputs[0]
        with union.execute_and_collect("millstream parity") as rows:
            return list(rows)


def main(argv: list[str]) -> int:
    cases_path, results_path = argv[1], argv[2]
    jar = argv[3] if len(argv) > 3 and argv[3] else None
    started = time.monotonic()
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    results: dict[str, dict[str, list[Any]]] = {c["id"]: {api: [] for api in c["apis"]} for c in cases}
    stamps: dict[str, dict[str, list[Any]]] = {c["id"]: {api: [] for api in c["apis"]} for c in cases}
    with tempfile.TemporaryDirectory(prefix="millstream-parity-") as workdir:
        job = Job(workdir, jar)
        job.prepare(cases)
        started_jvm = time.monotonic()
        for case in cases:
            job.add(case)
        built = time.monotonic()
        for line in job.collect():
            head, stamp, row = line.split("\t", 2)
            case_id, api = json.loads(head)
            results[case_id][api].append(json.loads(row))
            stamps[case_id][api].append(None if stamp == "null" else int(stamp))
        finished = time.monotonic()
    from pyflink.version import __version__ as flink_version

    with open(results_path, "w", encoding="utf-8") as f:
        json.dump(
            {
                "results": results,
                "timestamps": stamps,
                "flink_version": flink_version,
                "seconds": {
                    "start": started_jvm - started,
                    "build": built - started_jvm,
                    "run": finished - built,
                    "total": finished - started,
                },
            },
            f,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
