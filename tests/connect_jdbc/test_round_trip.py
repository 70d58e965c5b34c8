"""The issue's bar: file source → topic (embedded file:// log) → JDBC sink (upsert) with 100,000 rows, the
worker process ``kill -9``-ed twice in the middle and restarted; exactly the 100,000 rows end up in PostgreSQL.

The input file grows between runs (50,000 lines, then 50,000 more), so the file source resumes from its stored
position across a kill, and the sink replays whatever it had written but not committed: upsert makes the
replays harmless.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("millstream.log.embedded") is None,
        reason="needs the embedded file:// log (millstream.log.embedded), which is not on this branch yet",
    ),
]

TOTAL = 100_000
WORKER = Path(__file__).with_name("roundtrip_worker.py")


def line(i: int) -> bytes:
    return orjson.dumps({"id": i, "name": f"row-{i}", "v": (i * 7) % 1000}) + b"\n"


def count(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM rows").fetchone()[0])  # type: ignore[index]
        except psycopg.errors.UndefinedTable:
            return 0


def start_worker(log_url: str, path: Path, dsn: str, out: Path) -> subprocess.Popen[Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), log_url, str(path), dsn],
        stdout=out.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
    )


def run_until(proc: subprocess.Popen[Any], dsn: str, at_least: int, timeout: float, log: Path) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        n = count(dsn)
        if n >= at_least:
            return n
        time.sleep(0.05)
    raise AssertionError(f"only {count(dsn)} rows after {timeout}s (wanted {at_least}):\n{log.read_text()[-3000:]}")


def kill9(proc: subprocess.Popen[Any]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)


def test_file_to_postgres_survives_kill9(tmp_path: Path, postgres_db: str) -> None:
    data = tmp_path / "input.jsonl"
    with data.open("wb") as f:
        f.writelines(line(i) for i in range(TOTAL // 2))
    log_url = f"file://{tmp_path / 'log'}"
    out = tmp_path / "worker.out"
    procs: list[subprocess.Popen[Any]] = []
    try:
        # run 1: killed after some rows landed, while the file source is still reading the first half
        procs.append(start_worker(log_url, data, postgres_db, out))
        first_kill = run_until(procs[-1], postgres_db, 5_000, 120, out)
        kill9(procs[-1])
        # the file grows while no worker runs
        with data.open("ab") as f:
            f.writelines(line(i) for i in range(TOTAL // 2, TOTAL))
        # run 2: killed again in the middle of the second half
        procs.append(start_worker(log_url, data, postgres_db, out))
        second_kill = run_until(procs[-1], postgres_db, max(first_kill + 1, 60_000), 180, out)
        kill9(procs[-1])
        assert first_kill < second_kill < TOTAL, "the kills must land in the middle of the run"
        # run 3: runs to the end
        procs.append(start_worker(log_url, data, postgres_db, out))
        run_until(procs[-1], postgres_db, TOTAL, 300, out)
        time.sleep(1.0)  # anything still replaying must not add or change rows
    finally:
        for p in procs:
            if p.poll() is None:
                kill9(p)
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        n, distinct, lo, hi, id_sum = conn.execute(
            "SELECT count(*), count(DISTINCT id), min(id), max(id), sum(id) FROM rows"
        ).fetchone()  # type: ignore[misc]
        bad = conn.execute("SELECT count(*) FROM rows WHERE name <> 'row-' || id OR v <> (id * 7) % 1000").fetchone()[0]  # type: ignore[index]
    from millstream.log import open_log

    with open_log(log_url) as log:
        topic_records = sum(
            log.latest_offset("rows", p) - log.earliest_offset("rows", p)
            for p in range(log.describe_topic("rows").partitions)
        )
    print(f"kill -9 at {first_kill} and {second_kill} rows in PostgreSQL; topic 'rows' holds {topic_records} records")
    assert topic_records >= TOTAL
    assert (n, distinct, lo, hi, id_sum) == (TOTAL, TOTAL, 0, TOTAL - 1, TOTAL * (TOTAL - 1) // 2)
    assert bad == 0
    assert "READY" in out.read_text()
