"""Public API surface, operator snapshots, and the benchmark job's results on the embedded log."""

from __future__ import annotations

import importlib.util
import pickle
import sys
from pathlib import Path
from typing import Any

import orjson

import millstream
from millstream.stream.operators.base import Operator
from millstream.stream.operators.window import WindowFunctionSpec, WindowOperator
from millstream.windows import EventTimeSessionWindows


def test_top_level_exports() -> None:
    assert set(millstream.__all__) >= {
        "StreamExecutionEnvironment",
        "WatermarkStrategy",
        "Duration",
        "Time",
        "OutputTag",
        "Types",
        "JobFailedError",
    }
    for name in millstream.__all__:
        assert hasattr(millstream, name), name
    import millstream.connectors as c
    import millstream.functions as f
    import millstream.state as s
    import millstream.windows as w

    for mod in (c, f, s, w):
        for name in mod.__all__:
            assert getattr(mod, name).__doc__, f"{mod.__name__}.{name} has no docstring"


def test_stream_layer_imports_only_core() -> None:
    import ast

    src = Path(millstream.__file__).parent / "stream"
    for path in src.rglob("*.py"):
        depth = len(path.relative_to(src).parts)  # 1 for stream/x.py, 2 for stream/operators/x.py
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > depth:
                assert node.module is not None and node.module.split(".")[0] == "core", (path, node.module)
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert not node.module.startswith("millstream."), (path, node.module)
            if isinstance(node, ast.Import):
                assert all(not a.name.startswith("millstream") for a in node.names), path


class _Sink(Operator):
    def __init__(self) -> None:
        super().__init__("sink")
        self.got: list[Any] = []

    def process(
        self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0
    ) -> None:
        self.got.extend(zip(vals, tss, strict=True))


def _session_op() -> tuple[WindowOperator, _Sink]:
    op = WindowOperator(
        "sessions",
        None,
        lambda e: e[0],
        EventTimeSessionWindows.with_gap(10),
        None,
        None,
        5,
        None,
        WindowFunctionSpec("list", lambda k, ctx, es: [(k, ctx.window().start, ctx.window().end, list(es))]),
    )
    sink = _Sink()
    op.out.targets.append((sink, 0))
    return op, sink


def test_window_operator_snapshot_restore_continues_identically() -> None:
    data = [(("a", i), ts) for i, ts in enumerate([0, 5, 30, 12, 40, 44, 70, 20])]

    def feed(op: WindowOperator, part: list[Any]) -> None:
        wm = op.wm
        for v, ts in part:
            op.process([v], [ts], [wm], max(wm, ts - 3))
            wm = max(wm, ts - 3)

    whole, whole_sink = _session_op()
    feed(whole, data)
    whole.process([], [], [], 2**63 - 1)

    first, first_sink = _session_op()
    feed(first, data[:4])
    snap = pickle.loads(pickle.dumps(first.snapshot()))
    second, second_sink = _session_op()
    second.restore(snap)
    second.wm = snap["wm"]
    feed(second, data[4:])
    second.process([], [], [], 2**63 - 1)
    assert first_sink.got + second_sink.got == whole_sink.got
    assert len(whole_sink.got) >= 3


def test_benchmark_job_results_on_the_embedded_log(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "engine_bench", Path(__file__).parents[2] / "benchmarks" / "engine_bench.py"
    )
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    sys.modules["engine_bench"] = bench
    spec.loader.exec_module(bench)
    url = f"file://{tmp_path}/log"
    from millstream.log import open_log

    log = open_log(url)
    bench.produce(log, 20_000)
    _, _, written = bench.run_job(url, 333)
    recs = log.read("counts", 0, 0, max_records=100_000)
    log.close()
    rows = [orjson.loads(r.value) for r in recs]
    base = 1_700_000_000_000
    expected = {}
    for i in range(20_000):  # the benchmark's data, aggregated the slow way
        ts = base + i - (i % 7) * 10
        k = (f"k{i % 100}", ts - ts % 1000)
        c, t = expected.get(k, (0, 0))
        expected[k] = (c + 1, t + i % 1000)
    assert written == len(rows) == len(expected)
    assert {(r["key"], r["start"]): (r["count"], r["sum"]) for r in rows} == expected
    assert sum(r["count"] for r in rows) == 20_000
    assert sum(r["sum"] for r in rows) == sum(i % 1000 for i in range(20_000))
    assert all(r["start"] % 1000 == 0 for r in rows)
    assert all(rec.timestamp == orjson.loads(rec.value)["start"] + 999 for rec in recs)


def test_metrics_reach_installed_sensors() -> None:
    from millstream import StreamExecutionEnvironment, WatermarkStrategy
    from millstream.core import sensors
    from millstream.testing import timestamped
    from millstream.windows import TumblingEventTimeWindows

    got: dict[tuple[str, str], float] = {}

    class S:
        def __init__(self, key: tuple[str, str]) -> None:
            self.key = key

        def inc(self, n: float = 1) -> None:
            got[self.key] = got.get(self.key, 0) + n

        def set(self, value: float) -> None:
            got[self.key] = value

        def observe(self, value: float) -> None:
            got[self.key] = value

    sensors.install(lambda name, scope, tags: S((scope, name)))
    try:
        env = StreamExecutionEnvironment.get_execution_environment()
        s = env.from_source(
            timestamped([(i, i * 10) for i in range(10)] + [(99, 1)]),
            WatermarkStrategy.for_monotonous_timestamps(),
            "nums",
        )
        s.map(lambda x: x).name("ident").key_by(lambda x: 0).window(TumblingEventTimeWindows.of(50)).reduce(
            lambda a, b: a + b
        ).name("sums").add_sink(lambda v: None)
        env.execute("metered")
    finally:
        sensors.install(None)
    assert got[("metered.nums", "numRecordsOut")] == 11
    assert got[("metered.ident", "numRecordsOut")] == 11
    assert got[("metered.sums", "numRecordsOut")] == 2
    assert got[("metered.sums", "numLateRecordsDropped")] == 1
    assert got[("metered.sums", "currentInputWatermark")] == 2**63 - 1
