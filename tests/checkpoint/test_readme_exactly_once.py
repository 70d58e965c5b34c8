"""The README's claim, tested on the README's own job: with ``env.enable_checkpointing(...)`` and an
exactly-once ``LogSink`` the job survives ``kill -9`` with exactly-once output on the embedded log — killed at
random moments and started again (it resumes from its last checkpoint), its committed ``page-counts`` are those
of an uninterrupted run, each window once."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from millstream.core import ProducerRecord
from millstream.log import open_log

README = Path(__file__).resolve().parents[2] / "README.md"
SRC = str(Path(__file__).resolve().parents[2] / "src")
EVENTS = 1_000_000
PAGES = 50


def readme_job() -> str:
    """The README's stream job, with the two settings its sentence names."""
    block = next(b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if "env.execute(" in b)
    assert 'LogSink.builder().set_topic("page-counts").build()' in block
    block = block.replace(
        'LogSink.builder().set_topic("page-counts").build()',
        'LogSink.builder().set_topic("page-counts").set_delivery_guarantee("exactly-once").build()',
    )
    block = block.replace(
        "env = StreamExecutionEnvironment.get_execution_environment()",
        "env = StreamExecutionEnvironment.get_execution_environment()\n"
        "env.enable_checkpointing(100)\nenv.set_batch_size(100)",
    )
    assert "enable_checkpointing" in block and "exactly-once" in block
    return block


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_readme_job_survives_kill_9_with_exactly_once_output(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(readme_job())
    with open_log(f"file://{tmp_path}/.millstream") as log:
        log.create_topic("pageviews", 4)
        log.create_topic("page-counts", 1)
        base = 1_700_000_000_000
        per: list[list[ProducerRecord]] = [[] for _ in range(4)]
        expected: Counter[tuple[str, int]] = Counter()
        for i in range(EVENTS):
            ts, page = base + i * 20, f"/p{i % PAGES}"
            per[i % 4].append(ProducerRecord(orjson.dumps({"page": page, "ts": ts}), page.encode(), ts))
            expected[(page, ts - ts % 60_000)] += 1
        for p, recs in enumerate(per):
            log.append("pageviews", p, recs)
    env = {**os.environ, "PYTHONPATH": SRC, "MILLSTREAM_CHECKPOINT_DIR": str(tmp_path / "chk")}
    env.pop("MILLSTREAM_LOG", None)
    rng = random.Random(7)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "job.py"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.4, 1.2))
        if proc.poll() is not None:
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        kills += 1
    final = subprocess.run([sys.executable, "job.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert kills >= 1, "the job finished before the first kill: give it more events"
    with open_log(f"file://{tmp_path}/.millstream") as log:
        rows = [orjson.loads(r.value) for r in log.read("page-counts", 0, 0, max_records=1_000_000)]
    got = Counter({(r["page"], r["minute"]): r["views"] for r in rows})
    assert len(rows) == len(got)  # each (page, minute) once: nothing duplicated
    assert got == expected  # and nothing lost
