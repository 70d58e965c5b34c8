"""The issue's bar: 10,000 inserts, 3,000 updates and 1,000 deletes from four concurrent sessions while the
CDC connector runs in a worker process that is killed -9 five times at random moments and restarted.

At the end, replaying the topic (upsert on r/c/u, delete on d) gives the table row for row, and per key the
events are the complete committed history in commit order: every row carries a ``version`` bumped by each
update, so a key's events must show versions 0, 1, 2, ... without a gap, then its delete. Duplicates (the same
event — same transaction and LSN — delivered again after a crash, which Debezium's at-least-once delivery
allows) are counted, printed and removed before the check. (A crash *during the initial snapshot* makes
the connector take the snapshot again, as Debezium does, so a key's history restarts at its last snapshot
read. The writers start once the snapshot is in the log, so here every key's history must be complete.)
With the worker's ``exactly.once.source.support=enabled`` (records and offsets in one log transaction) there
must be no duplicates.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from millstream.core.changelog import Materializer
from millstream.core.debezium_json import DebeziumJsonFormat
from millstream.log import open_log

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKER = Path(__file__).with_name("cdc_worker.py")
SESSIONS = 4
INSERTS, UPDATES, DELETES = 10_000, 3_000, 1_000
PRELOADED = 500  # rows present before the connector starts: they come from the snapshot
KILLS = 5


def start_worker(log_url: str, config: dict[str, str], out: Path, exactly_once: str) -> subprocess.Popen[Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), log_url, orjson.dumps(config).decode(), exactly_once],
        stdout=out.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
    )


def writer(dsn: str, session: int, seed: int, errors: list[BaseException]) -> None:
    """One session: insert its keys, then updates and deletes of its own keys, ~5 statements a transaction."""
    rng = random.Random(seed)
    keys = list(range(PRELOADED + session, PRELOADED + INSERTS, SESSIONS))
    ops: list[tuple[str, int]] = [("i", k) for k in keys]
    live = list(keys)
    rng.shuffle(live)
    doomed = live[: DELETES // SESSIONS]
    changed = [rng.choice(keys) for _ in range(UPDATES // SESSIONS)]
    later = [("u", k) for k in changed] + [("d", k) for k in doomed]
    rng.shuffle(later)
    # deletes go after every update of the same key
    last_update = {k: i for i, (op, k) in enumerate(later) if op == "u"}
    later.sort(key=lambda o: o[0] == "d" and last_update.get(o[1], -1) >= 0)
    ops += later
    try:
        with psycopg.connect(dsn, autocommit=False) as conn:
            for start in range(0, len(ops), 5):
                for op, k in ops[start : start + 5]:
                    if op == "i":
                        conn.execute("INSERT INTO acct (id, v, version) VALUES (%s, %s, 0)", (k, k))
                    elif op == "u":
                        conn.execute("UPDATE acct SET v = v + 1, version = version + 1 WHERE id = %s", (k,))
                    else:
                        conn.execute("DELETE FROM acct WHERE id = %s", (k,))
                conn.commit()
                time.sleep(rng.random() * 0.015)
    except BaseException as exc:
        errors.append(exc)


def replay(log_url: str) -> tuple[dict[int, dict[str, Any]], dict[int, list[tuple[str, int]]], int, int]:
    """(materialised table, per-key [(op, version)], events, duplicates) from the topic."""
    log = open_log(log_url)
    try:
        if not log.has_topic("srv.public.acct"):
            return {}, {}, 0, 0
        recs = log.read("srv.public.acct", 0, 0, max_records=10_000_000)
    finally:
        log.close()
    table: dict[int, dict[str, Any]] = {}
    history: dict[int, list[tuple[str, int]]] = {}
    seen: set[tuple[Any, ...]] = set()
    dups = events = 0
    for r in recs:
        if r.value is None:
            continue  # tombstone
        v = orjson.loads(r.value)
        s = v["source"]
        row = v["after"] or v["before"]
        ident = (v["op"], row["id"], s["txId"], s["lsn"], s["snapshot"] != "false")
        events += 1
        if ident in seen:
            dups += 1
            continue
        seen.add(ident)
        key = row["id"]
        if v["op"] == "d":
            table.pop(key, None)
            history.setdefault(key, []).append(("d", -1))
        else:
            table[key] = v["after"]
            history.setdefault(key, []).append((v["op"], v["after"]["version"]))
    return table, history, events, dups


@pytest.mark.parametrize("exactly_once", ["disabled", "enabled"])
def test_cdc_survives_kill9_with_concurrent_writers(
    exactly_once: str, tmp_path: Path, postgres_db: str, cdc_config: Callable[..., dict[str, str]]
) -> None:
    with psycopg.connect(postgres_db, autocommit=True) as pg:
        pg.execute("CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL, version int NOT NULL)")
        pg.execute("INSERT INTO acct SELECT g, g, 0 FROM generate_series(0, %s) g", (PRELOADED - 1,))
    log_url = f"file://{tmp_path / 'log'}"
    config = cdc_config(max_batch_size="500")
    out = tmp_path / "worker.log"
    proc = start_worker(log_url, config, out, exactly_once)
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=writer, args=(postgres_db, s, 1000 + s, errors), daemon=True) for s in range(SESSIONS)
    ]
    rng = random.Random(17)
    # the writers and the kills start once the snapshot is in the log (a crash during the snapshot only makes
    # it start over); from then on every committed change must reach the topic
    deadline = time.monotonic() + 120
    while len(replay(log_url)[0]) < PRELOADED:
        assert proc.poll() is None and time.monotonic() < deadline, out.read_text()[-3000:]
        time.sleep(0.1)
    for t in threads:
        t.start()
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 2.0))
            assert proc.poll() is None, out.read_text()[-3000:]
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            proc = start_worker(log_url, config, out, exactly_once)
        for t in threads:
            t.join(300)
        assert not errors, errors
        with psycopg.connect(postgres_db, autocommit=True) as pg:
            expected = {
                r[0]: {"id": r[0], "v": r[1], "version": r[2]}
                for r in pg.execute("SELECT id, v, version FROM acct").fetchall()
            }
        deadline = time.monotonic() + 180
        while True:
            table, history, events, dups = replay(log_url)
            if table == expected or time.monotonic() > deadline:
                break
            assert proc.poll() is None, out.read_text()[-3000:]
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait(30)
    print(f"\ncdc kill -9 x{KILLS} (exactly.once {exactly_once}): {events} change events, {dups} duplicates")
    if exactly_once == "enabled":
        assert dups == 0
    assert len(expected) == PRELOADED + INSERTS - DELETES
    assert table == expected, f"{len(table)} rows materialised, {len(expected)} in the table"
    resnapshotted = 0
    for key, hist in history.items():
        # a snapshot interrupted by a crash starts over (as Debezium's): a key's history then restarts at
        # its last snapshot read, which holds the row as of the new snapshot; from there on it is complete
        reads = [i for i, (op, _) in enumerate(hist) if op == "r"]
        resnapshotted += len(reads) > 1
        tail = hist[reads[-1] :] if reads else hist
        if key < PRELOADED:
            assert reads, f"key {key} was in the table before the start but has no snapshot read: {hist}"
        else:
            assert tail[0] in (("c", 0),) or tail[0][0] == "r", f"key {key}: {hist}"
        first = tail[0][1]
        versions = [ver for op, ver in tail if op != "d"]
        assert versions == list(range(first, first + len(versions))), f"key {key}: {hist} has a gap or disorder"
        assert all(op == "u" for op, _ in tail[1:-1]), f"key {key}: {hist}"
        assert (key in expected) == (tail[-1][0] != "d"), f"key {key}: {hist}"
    assert resnapshotted == 0  # the kills start once the snapshot is done
    assert len(history) == PRELOADED + INSERTS, "some inserted key never appeared in the topic"
    # the same topic through the debezium-json format and an upsert materialiser
    view = Materializer(lambda row: row["id"])
    log = open_log(log_url)
    try:
        fmt = DebeziumJsonFormat(update_before="skip")
        for r in log.read("srv.public.acct", 0, 0, max_records=10_000_000):
            view.apply(fmt.decode(r.value))
    finally:
        log.close()
    assert view.rows == expected
