"""The project's examples with file or collection sources on a real PyFlink 2.3 mini-cluster: the same output
as millstream's own engine.

``examples/recommendations`` (a JSON ``FileSource``, session windows, a keyed reduce, a ``LogSink`` to the
embedded log) through ``millstream run --engine flink`` at parallelism 1 and 2, and its exported program run
with the PyFlink virtualenv's plain ``python job.py``: the ``co-views`` topic holds the records millstream's
engine writes, compared per partition as multisets of (key, value) and of (key, record timestamp) (the order
in which a partition's records arrive may differ between engines and parallelisms).
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

RECOMMENDATIONS = ROOT / "examples" / "recommendations" / "pipeline.py"
TOPIC = "co-views"
Records = list[tuple[int, bytes | None, bytes | None, int | None]]


def topic_records(url: str, topic: str = TOPIC) -> Records:
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


def assert_same_records(got: Records, want: Records) -> None:
    assert len(got) == len(want)
    assert Counter((p, k, v) for p, k, v, _ in got) == Counter((p, k, v) for p, k, v, _ in want)
    assert Counter((p, k, t) for p, k, _, t in got) == Counter((p, k, t) for p, k, _, t in want)


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 1800) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


@pytest.fixture(scope="module")
def millstream_records(tmp_path_factory: pytest.TempPathFactory) -> Records:
    """What ``millstream run examples/recommendations/pipeline.py`` (millstream's engine) writes."""
    tmp = tmp_path_factory.mktemp("recommendations-millstream")
    url = f"file://{tmp / 'log'}"
    _run([sys.executable, "-m", "millstream", "run", str(RECOMMENDATIONS), "-q", "--log", url], tmp, flink_test_env())
    records = topic_records(url)
    assert len(records) > 1000
    return records


@pytest.mark.parametrize("parallelism", [1, 2])
def test_recommendations_on_flink(
    pyflink_python: Path, millstream_records: Records, tmp_path: Path, parallelism: int
) -> None:
    url = f"file://{tmp_path / 'log'}"
    args = [sys.executable, "-m", "millstream", "run", str(RECOMMENDATIONS), "-q", "--log", url]
    args += ["--engine", "flink", "--flink-python", str(pyflink_python), "-p", str(parallelism)]
    _run(args, tmp_path, flink_test_env())
    assert_same_records(topic_records(url), millstream_records)


def test_recommendations_exported_program(pyflink_python: Path, millstream_records: Records, tmp_path: Path) -> None:
    """``python job.py`` in the PyFlink virtualenv, without ``PYTHONPATH`` or ``--log``: the job writes the
    default log ``./.millstream`` of its working directory (the path is resolved before Flink's workers,
    whose working directory is another, open it)."""
    job = tmp_path / "job.py"
    _run(
        [sys.executable, "-m", "millstream", "flink", "export", str(RECOMMENDATIONS), "-o", str(job)],
        tmp_path,
        flink_test_env(),
        timeout=300,
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MILLSTREAM_LOG")}
    _run([str(pyflink_python), str(job)], run_dir, env)
    assert_same_records(topic_records(f"file://{run_dir / '.millstream'}"), millstream_records)
