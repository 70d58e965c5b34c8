"""The crash test on ``kafka://``: the crash job (windowed results + per-event pass-through) reads from and writes
to the session's Kafka-protocol broker, is ``kill -9``ed at ≥ 20 random moments and restarted each time.

- **at-least-once** (runs on Tansu and on a real Kafka): no loss — every record of an uninterrupted run is
  in the output at least as often as there; the duplicates that replaying from the last checkpoint produces
  are counted and printed, never asserted away.
- **exactly-once** (only on a broker that isolates aborted transactions, ``MILLSTREAM_TEST_KAFKA`` = a real
  Apache Kafka): the committed output equals the uninterrupted run's, partition by partition, record by
  record. On Tansu it is skipped: Tansu keeps aborted transactions visible to ``read_committed`` readers, and
  a transactional producer killed mid-transaction blocks ``read_committed`` reads of its partitions for good.

The uninterrupted reference run uses the embedded log (same input, same job, same partitioner: its output is
the same and it is not subject to a broker's limits). 200,000 events, as in the embedded test: on Kafka the
job processes them in a few seconds, so each run is slowed by ``--slow-us`` to spread the kills over the input
(and the kill delay adapts to how much each run committed).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import crash_job
import orjson
import pytest

from millstream.log import Log, open_log
from millstream.log.kafka import KafkaLog
from tests.fixtures.kafka_broker import skip_on_tansu

JOB = Path(__file__).parent / "crash_job.py"
EVENTS = 200_000
KILLS = 20

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _start(
    url: str, chk: Path, guarantee: str, prefix: str, props: dict[str, Any], *extra: str
) -> subprocess.Popen[str]:
    args = [sys.executable, str(JOB), url, str(chk), "--interval-ms", "100", "--batch", "400"]
    args += ["--guarantee", guarantee, "--prefix", prefix]
    for k, v in props.items():
        args += ["--prop", f"{k}={v}"]
    return subprocess.Popen(
        [*args, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )


def _kafka_values(log: Log, topic: str) -> dict[int, list[Any]]:
    """Every committed value of a Kafka topic per partition, up to its end (commit markers take offsets)."""
    out: dict[int, list[Any]] = {}
    for p in range(log.describe_topic(topic).partitions):
        end = log.latest_offset(topic, p)
        vals: list[Any] = []
        off = 0
        while off < end:
            recs = log.read(topic, p, off, max_records=50_000, timeout_ms=500)
            if not recs:
                break
            vals.extend(orjson.loads(r.value) for r in recs)
            off = recs[-1].offset + 1
        out[p] = vals
    return out


def _reference(tmp_path: Path) -> dict[str, dict[int, list[Any]]]:
    """The uninterrupted run's output, on the embedded log."""
    url = f"file://{tmp_path}/ref"
    log = open_log(url)
    try:
        crash_job.produce(log, EVENTS)
        ref = subprocess.run(
            [sys.executable, str(JOB), url, str(tmp_path / "ref-chk"), "--interval-ms", "100", "--batch", "400"],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=240,
        )
        assert ref.returncode == 0, ref.stderr
        return {t: crash_job.topic_values(log, t) for t in ("windows", "passthrough")}
    finally:
        log.close()


def _kill_loop(
    log: KafkaLog, url: str, chk: Path, guarantee: str, prefix: str, props: dict[str, Any]
) -> tuple[int, list[int]]:
    """Start the job and ``kill -9`` it at random moments ≥ KILLS times (or until it finishes first);
    then run it to the end. Returns the kills and the pass-through records visible after each."""
    rng = random.Random(int(os.environ.get("CRASH_SEED", "0")) or None)
    kills = 0
    progress = [0]
    hi = 0.6  # upper bound of the random kill delay, adapted so that the kills spread over the whole input
    while kills < KILLS:
        proc = _start(url, chk, guarantee, prefix, props, "--slow-us", "30")
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "ready": the job is built and about to run
        assert line.strip() == "ready", proc.stderr.read() if proc.stderr else line
        delay = rng.uniform(0.05, hi)
        time.sleep(delay)
        if proc.poll() is not None:
            break  # finished before the kill
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        # committed progress (the group's offsets: cheap, exact, and not subject to Tansu's end-offset limit)
        done = sum(log.committed_offsets(prefix + "crash-job").values())
        progress.append(done)
        target = (EVENTS - done) / (KILLS - kills + 4)
        # a run commits nothing until its first checkpoint, then a lot: past the target, the next kills come
        # sooner than this one did (not merely sooner than the bound), and the bound grows slowly otherwise
        hi = max(0.1, min(hi * 0.6, delay * 0.9)) if done - progress[-2] > target else min(hi * 1.15, 2.5)
    final = _start(url, chk, guarantee, prefix, props)
    _out, err = final.communicate(timeout=240)
    assert final.returncode == 0, err
    return kills, progress


def _freeze(v: Any) -> Any:
    return tuple(sorted(v.items())) if isinstance(v, dict) else v


@pytest.mark.timeout(300)
def test_kill_9_at_least_once_on_kafka_loses_nothing(
    tmp_path: Path, kafka_bootstrap: str, kafka_properties: dict[str, Any], kafka_topic: Any
) -> None:
    expected = _reference(tmp_path)
    prefix = kafka_topic("crash-alo") + "-"
    log = KafkaLog(kafka_bootstrap, properties=kafka_properties, timeout_ms=15_000)
    try:
        crash_job.produce(log, EVENTS, prefix=prefix)
        url = f"kafka://{kafka_bootstrap}"
        kills, progress = _kill_loop(log, url, tmp_path / "chk", "at-least-once", prefix, kafka_properties)
        got = {t: _kafka_values(log, prefix + t) for t in ("windows", "passthrough")}
    finally:
        log.close()
    report = []
    for t in expected:
        for p, want in expected[t].items():
            have = Counter(map(_freeze, got[t][p]))
            need = Counter(map(_freeze, want))
            missing = need - have
            assert not missing, f"{t}[{p}]: {sum(missing.values())} record(s) lost, e.g. {next(iter(missing))}"
            dup = sum((have - need).values())
            assert set(have) == set(need), f"{t}[{p}]: records no uninterrupted run produces"
            report.append(f"{t}[{p}] {len(want)} records + {dup} duplicates")
            # per key, the first occurrences come in the uninterrupted run's order
            assert [v for v in dict.fromkeys(map(_freeze, got[t][p]))] == list(dict.fromkeys(map(_freeze, want)))
    assert kills >= KILLS, f"the job finished after only {kills} kills (committed progress {progress})"
    assert progress[-1] > 0, "no checkpoint ever committed before a kill"
    print(f"{kills} kills; committed source offsets after each: {progress}; " + "; ".join(report))


@pytest.mark.timeout(300)
def test_kill_9_exactly_once_on_kafka_equals_the_uninterrupted_run(
    tmp_path: Path, kafka_bootstrap: str, kafka_properties: dict[str, Any], kafka_topic: Any, kafka_on_tansu: bool
) -> None:
    skip_on_tansu(kafka_on_tansu, "aborted")
    expected = _reference(tmp_path)
    prefix = kafka_topic("crash-eo") + "-"
    log = KafkaLog(kafka_bootstrap, properties=kafka_properties, timeout_ms=15_000)
    try:
        crash_job.produce(log, EVENTS, prefix=prefix)
        url = f"kafka://{kafka_bootstrap}"
        kills, progress = _kill_loop(log, url, tmp_path / "chk", "exactly-once", prefix, kafka_properties)
        got = {t: _kafka_values(log, prefix + t) for t in ("windows", "passthrough")}
    finally:
        log.close()
    lost = {t: sum(map(len, expected[t].values())) - sum(map(len, got[t].values())) for t in expected}
    assert got == expected, f"output differs from the uninterrupted run (missing/extra counts {lost})"
    assert kills >= KILLS, f"the job finished after only {kills} kills (committed progress {progress})"
    print(f"{kills} kills; committed source offsets after each: {progress}")
