"""The project's examples with file or collection sources on a real PyFlink 2.3 mini-cluster: the same output
as millstream's own engine.

- ``examples/recommendations`` (a JSON ``FileSource``, session windows, a keyed reduce, a ``LogSink`` to the
  embedded log): the ``co-views`` topic;
- ``examples/dead_letters`` (a text ``FileSource``, ``map(...).on_error(tag)``, the failed-element records of
  the side output and the parsed orders to two ``LogSink`` topics): ``orders-priced`` and
  ``orders-dead-letters``;

each through ``millstream run --engine flink`` at parallelism 1 and 2, and its exported program run with the
PyFlink virtualenv's plain ``python job.py``, compared with what millstream's engine writes per partition as
multisets of (key, value) and, where elements carry event time, of (key, record timestamp) (the order in which
a partition's records arrive may differ between engines and parallelisms; records without an event time get
the log's append time). Also: a job that checkpoints, with keyed records on 3 partitions and ``on_error`` on a
``process`` (the per-record append path of the embedded-log sink, millstream's partitioning, dropped outputs
of failing elements), gives millstream's records, partitions and timestamps.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from millstream.log import open_log
from tests.flink.conftest import ROOT, flink_test_env

pytestmark = [pytest.mark.flink, pytest.mark.timeout(3600)]

EXAMPLES = ROOT / "examples"
# example -> (its topics, whether its records carry event time)
CASES = {
    "recommendations": (("co-views",), True),
    "dead_letters": (("orders-priced", "orders-dead-letters"), False),
}
Records = list[tuple[int, bytes | None, bytes | None, int | None]]


def topic_records(url: str, topic: str) -> Records:
    """Every record of ``topic`` in the log at ``url``: ``(partition, key, value, timestamp)``."""
    out: Records = []
    with open_log(url) as log:
        for p in range(log.describe_topic(topic).partitions):
            pos, end = log.earliest_offset(topic, p), log.latest_offset(topic, p)
            while pos < end:
                recs = log.read(topic, p, pos)
                out.extend((p, r.key, r.value, r.timestamp) for r in recs)
                pos = recs[-1].offset + 1
    return out


def example_records(example: str, url: str) -> dict[str, Records]:
    return {topic: topic_records(url, topic) for topic in CASES[example][0]}


def assert_same_records(example: str, got: dict[str, Records], want: dict[str, Records]) -> None:
    for topic in CASES[example][0]:
        g, w = got[topic], want[topic]
        assert len(g) == len(w), topic
        assert Counter((p, k, v) for p, k, v, _ in g) == Counter((p, k, v) for p, k, v, _ in w), topic
        if CASES[example][1]:
            assert Counter((p, k, t) for p, k, _, t in g) == Counter((p, k, t) for p, k, _, t in w), topic


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 1800) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


@pytest.fixture(scope="module")
def millstream_records(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], dict[str, Records]]:
    """What ``millstream run examples/NAME/pipeline.py -p N`` (millstream's engine) writes, by (NAME, N)."""
    runs: dict[tuple[str, int], dict[str, Records]] = {}
    for example in CASES:
        for parallelism in (1, 2):
            tmp = tmp_path_factory.mktemp(f"{example}-millstream-p{parallelism}")
            url = f"file://{tmp / 'log'}"
            args = [sys.executable, "-m", "millstream", "run", str(EXAMPLES / example / "pipeline.py"), "-q"]
            _run([*args, "-p", str(parallelism), "--log", url], tmp, flink_test_env())
            runs[(example, parallelism)] = example_records(example, url)
            assert all(runs[(example, parallelism)].values()), f"{example}: a topic is empty"
    return runs


@pytest.mark.parametrize("parallelism", [1, 2])
@pytest.mark.parametrize("example", list(CASES))
def test_example_on_flink(
    pyflink_python: Path,
    millstream_records: dict[tuple[str, int], dict[str, Records]],
    tmp_path: Path,
    example: str,
    parallelism: int,
) -> None:
    url = f"file://{tmp_path / 'log'}"
    args = [sys.executable, "-m", "millstream", "run", str(EXAMPLES / example / "pipeline.py"), "-q", "--log", url]
    args += ["--engine", "flink", "--flink-python", str(pyflink_python), "-p", str(parallelism)]
    _run(args, tmp_path, flink_test_env())
    assert_same_records(example, example_records(example, url), millstream_records[(example, parallelism)])


@pytest.mark.parametrize("example", list(CASES))
def test_example_exported_program(
    pyflink_python: Path,
    millstream_records: dict[tuple[str, int], dict[str, Records]],
    tmp_path: Path,
    example: str,
) -> None:
    """``python job.py`` in the PyFlink virtualenv, without ``PYTHONPATH`` or ``--log``: the job writes the
    default log ``./.millstream`` of its working directory (the path is resolved before Flink's workers,
    whose working directory is another, open it)."""
    job = tmp_path / "job.py"
    pipeline = EXAMPLES / example / "pipeline.py"
    export = [sys.executable, "-m", "millstream", "flink", "export", str(pipeline), "-o", str(job)]
    _run(export, tmp_path, flink_test_env(), timeout=300)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MILLSTREAM_LOG")}
    _run([str(pyflink_python), str(job)], run_dir, env)
    got = example_records(example, f"file://{run_dir / '.millstream'}")
    assert_same_records(example, got, millstream_records[(example, 1)])


KEYED_PIPELINE = """
from millstream import OutputTag, WatermarkStrategy
from millstream.connectors import LogSink
from millstream.log import open_log

FAILED = OutputTag("failed")
EXTRA = OutputTag("extra")


def explode(value, ctx):
    yield value * 10  # dropped when the element fails below
    if value % 7 == 0:
        raise ValueError(f"no multiples of 7: {value}")
    yield EXTRA, value  # a side output of its own, also dropped on failure
    yield value * 10 + 1


def build(env):
    env.enable_checkpointing(200)
    with open_log() as log:
        for topic in ("numbers", "failures"):
            log.create_topic(topic, 3, {"retention.ms": "-1"}, exist_ok=True)
    numbers = env.from_collection(list(range(60))).assign_timestamps_and_watermarks(
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda v, ts: 1_000 + v)
    )
    out = numbers.rebalance().process(explode).name("explode").on_error(FAILED, max_errors=20)
    out.sink_to(LogSink.builder().set_topic("numbers").set_key_selector(lambda v: str(v % 11)).build())
    failures = out.get_side_output(FAILED).map(lambda f: {"element": f["element"], "error": f["error"]})
    failures.sink_to(LogSink.builder().set_topic("failures").set_key_selector(lambda f: str(f["element"])).build())
"""


def test_checkpointed_keyed_log_sink_and_on_error_on_flink(pyflink_python: Path, tmp_path: Path) -> None:
    """A job that checkpoints (each record appended before Flink's worker acknowledges it), keyed records on 3
    partitions (millstream's murmur2 placement), and ``on_error`` on a ``process`` whose failing elements'
    outputs are dropped: the same records, partitions and timestamps as millstream's engine at parallelism 2."""
    pipe = tmp_path / "keyed.py"
    pipe.write_text(KEYED_PIPELINE)
    got: dict[str, dict[str, Records]] = {}
    for engine in ("millstream", "flink"):
        folder = tmp_path / engine
        folder.mkdir()
        url = f"file://{folder / 'log'}"
        args = [sys.executable, "-m", "millstream", "run", str(pipe), "-q", "-p", "2", "--log", url]
        if engine == "flink":
            args += ["--engine", "flink", "--flink-python", str(pyflink_python)]
        _run(args, folder, flink_test_env())
        got[engine] = {topic: topic_records(url, topic) for topic in ("numbers", "failures")}
    for topic in ("numbers", "failures"):
        want = got["millstream"][topic]
        assert Counter(got["flink"][topic]) == Counter(want), topic
    assert len(got["millstream"]["numbers"]) == 2 * 51 and len(got["millstream"]["failures"]) == 9
    assert {p for p, *_ in got["millstream"]["numbers"]} == {0, 1, 2}
