"""Crash test with real processes: the crash job (200,000 events → windowed results + a per-event
pass-through, both exactly-once on the embedded log, and the windowed results also to an exactly-once
file sink) is ``kill -9``ed at ≥ 20 random moments (8 with the window contents in RocksDB) and started
again each time; at the end the committed output equals an uninterrupted run's, partition by partition and
record by record — nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import crash_job
import pytest

from millstream.log import open_log
from millstream.runtime.two_phase import committed_lines

JOB = Path(__file__).parent / "crash_job.py"
EVENTS = 200_000
KILLS = 20


def start(url: str, chk: Path, *extra: str, backend: str = "hashmap") -> subprocess.Popen[str]:
    files = ["--files", str(chk.parent / f"{chk.name}-files")]
    return subprocess.Popen(
        [sys.executable, str(JOB), url, str(chk), "--interval-ms", "30", "--batch", "400", *files, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CRASH_JOB_STATE_BACKEND": backend},
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(("backend", "kills_wanted"), [("hashmap", KILLS), ("rocksdb", 8)])
def test_kill_9_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path, backend: str, kills_wanted: int) -> None:
    rng = random.Random(int(os.environ.get("CRASH_SEED", "0")) or None)
    # the uninterrupted run, in its own process
    ref_url = f"file://{tmp_path}/ref"
    ref_log = open_log(ref_url)
    crash_job.produce(ref_log, EVENTS)
    ref = start(ref_url, tmp_path / "ref-chk", backend=backend)
    _out, err = ref.communicate(timeout=240)
    assert ref.returncode == 0, err
    expected = {t: crash_job.topic_values(ref_log, t) for t in ("windows", "passthrough")}
    expected_files = committed_lines(tmp_path / "ref-chk-files")
    ref_log.close()
    assert sum(map(len, expected["passthrough"].values())) == EVENTS

    url = f"file://{tmp_path}/log"
    log = open_log(url)
    crash_job.produce(log, EVENTS)
    kills = 0
    progress: list[int] = [0]
    hi = 0.5  # upper bound of the random kill delay, adapted so that the kills spread over the whole input
    while kills < kills_wanted:
        proc = start(url, tmp_path / "chk", "--slow-us", "10", backend=backend)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "ready": the job is built and about to run
        assert line.strip() == "ready", proc.stderr.read() if proc.stderr else line
        time.sleep(rng.uniform(0.02, hi))
        if proc.poll() is not None:
            break  # finished before the kill
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        progress.append(sum(log.latest_offset("passthrough", p) for p in range(2)))
        target = (EVENTS - progress[-1]) / (kills_wanted - kills + 4)
        hi = max(0.05, hi * 0.5) if progress[-1] - progress[-2] > target else min(hi * 1.2, 2.0)
    final = start(url, tmp_path / "chk", backend=backend)
    _out, err = final.communicate(timeout=240)
    assert final.returncode == 0, err
    got = {t: crash_job.topic_values(log, t) for t in ("windows", "passthrough")}
    log.close()
    lost = {t: sum(map(len, expected[t].values())) - sum(map(len, got[t].values())) for t in expected}
    assert got == expected, f"output differs from the uninterrupted run (missing/extra counts {lost})"
    # the exactly-once file sink: the committed part files hold exactly the uninterrupted run's lines
    assert committed_lines(tmp_path / "chk-files") == expected_files
    assert len(expected_files) == sum(map(len, expected["windows"].values()))
    assert kills >= kills_wanted, f"the job finished after only {kills} kills (committed progress {progress})"
    assert progress[-1] > 0, "no checkpoint ever committed before a kill"
    print(f"{kills} kills; committed pass-through records after each: {progress}")
