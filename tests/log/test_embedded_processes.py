"""The embedded log with real processes: kill -9 durability, concurrent writers and reader, deletion races.

Workers live in ``embedded_worker.py`` and run as separate Python processes on one ``file://`` path.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

import millstream
from millstream.core.record import Record, TopicPartition
from millstream.log.embedded import EmbeddedLog

from .contract import read_all

WORKER = Path(__file__).with_name("embedded_worker.py")
SRC = str(Path(millstream.__file__).resolve().parent.parent)


def spawn(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([SRC, *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def complete_lines(text: str) -> list[str]:
    """Lines the worker finished writing (a kill may cut the last one short)."""
    lines = text.split("\n")
    return [line for line in lines[:-1] if line]


def parse(record: Record) -> tuple[str, int, int]:
    tag, i, n, _ = (record.value or b"").decode().split(":")
    return tag, int(i), int(n)


def check_whole_batches(records: list[Record]) -> dict[str, int]:
    """Records form back-to-back whole batches; return each batch tag's base offset."""
    bases: dict[str, int] = {}
    k = 0
    while k < len(records):
        tag, i, n = parse(records[k])
        assert i == 0, f"batch {tag} starts at its record {i} (offset {records[k].offset}): a partial batch"
        batch = records[k : k + n]
        assert [parse(r) for r in batch] == [(tag, j, n) for j in range(n)], f"batch {tag} is not whole"
        assert tag not in bases, f"batch {tag} stored twice"
        bases[tag] = records[k].offset
        k += n
    return bases


@pytest.mark.slow
def test_kill_9_never_loses_acknowledged_batches(tmp_path: Path) -> None:
    path = str(tmp_path / "log")
    rnd = random.Random(20240601)
    acked_appends: list[tuple[int, int, int, str]] = []
    acked_txns: list[tuple[str, int, int, int, int]] = []
    kills = 0
    for run in range(22):
        proc = spawn("writer", path, str(run))
        assert proc.stdout is not None
        acked_text = ""
        if rnd.random() < 0.25:
            time.sleep(rnd.uniform(0.0, 0.3))  # anywhere, even while the process starts or opens the log
        else:  # let it acknowledge a few batches (progress even on a loaded machine), then a random moment
            for _ in range(rnd.randint(1, 20)):
                line = proc.stdout.readline()
                assert line, proc.stderr.read() if proc.stderr else ""
                acked_text += line
            time.sleep(rnd.uniform(0.0, 0.1))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        if proc.returncode != -signal.SIGKILL:
            pytest.fail(f"writer run {run} ended with {proc.returncode} before the kill:\n{err}")
        kills += 1
        for line in complete_lines(acked_text + out):
            kind, *fields = line.split()
            if kind == "A":
                acked_appends.append((int(fields[0]), int(fields[1]), int(fields[2]), fields[3]))
            else:
                acked_txns.append((fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[4])))
    assert kills >= 20
    assert len(acked_appends) > 50 and len(acked_txns) > 10, "the writers got too little done to prove much"

    with EmbeddedLog(path) as log:
        for p in range(3):
            records = read_all(log, "data", p)
            assert [r.offset for r in records] == list(range(log.latest_offset("data", p))), "a gap"
            bases = check_whole_batches(records)
            for ap, base, n, tag in acked_appends:
                if ap == p:
                    assert bases.get(tag) == base, f"acknowledged batch {tag} at {p}/{base} (x{n}) is missing"
        tx0, tx1 = read_all(log, "tx", 0), read_all(log, "tx", 1)
        for records, p in ((tx0, 0), (tx1, 1)):
            assert [r.offset for r in records] == list(range(log.latest_offset("tx", p)))
        bases0, bases1 = check_whole_batches(tx0), check_whole_batches(tx1)
        assert list(bases0) == list(bases1), "a transaction is in one partition but not the other"
        for tag, b0, _, b1, _ in acked_txns:
            assert bases0.get(tag) == b0 and bases1.get(tag) == b1, f"acknowledged transaction {tag} is missing"
        # the offset commit and state blob went in with the last committed transaction, never without it
        assert log.committed_offsets("g") == {TopicPartition("tx", 0): len(tx0)}
        assert log.get_state("last") == list(bases0)[-1].encode()


def test_concurrent_writers_and_reader(tmp_path: Path) -> None:
    path = str(tmp_path / "log")
    with EmbeddedLog(path) as log:
        log.create_topic("c", 2)
    batches = 120
    total = 2 * batches * 10
    reader = spawn("reader", path, str(total))
    writers = [spawn("cwriter", path, wid, str(batches)) for wid in ("w1", "w2")]
    for w in writers:
        out, err = w.communicate(timeout=60)
        assert w.returncode == 0 and out.strip() == "done", err
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    seen = json.loads(out)
    with EmbeddedLog(path) as log:
        for p in (0, 1):
            got = seen[p]
            assert [off for off, _ in got] == list(range(len(got))), "reader saw a gap or a repeat"
            assert [(r.offset, (r.value or b"").decode()) for r in read_all(log, "c", p)] == [tuple(x) for x in got]
            per_writer: dict[str, list[int]] = defaultdict(list)
            for k, (_, v) in enumerate(got):
                wid, vp, s = v.split(":")
                assert int(vp) == p
                per_writer[wid].append(int(s))
                if int(s) % 10 == 0:  # first record of a batch: the batch's ten records follow it
                    assert [x[1] for x in got[k : k + 10]] == [f"{wid}:{p}:{int(s) + j}" for j in range(10)]
            for wid in ("w1", "w2"):
                assert per_writer[wid] == list(range(batches * 10 // 2)), f"{wid} out of order on partition {p}"
    assert sum(len(x) for x in seen) == total


def test_writer_racing_topic_deletion_in_another_process(tmp_path: Path) -> None:
    path = str(tmp_path / "log")
    with EmbeddedLog(path) as log:
        log.create_topic("doomed")
        log.create_topic("keep")
        log.commit_offsets("g", {TopicPartition("keep", 0): 0, TopicPartition("doomed", 0): 0})
        racer = spawn("racer", path)
        assert racer.stdout is not None
        assert racer.stdout.readline().strip() == "ready"
        time.sleep(0.05)
        log.delete_topic("doomed")
        out, err = racer.communicate(timeout=30)
        assert racer.returncode == 0, err
        assert out.startswith("unknown-topic "), out + err
        _, kept, message = out.strip().split(" ", 2)
        assert "'doomed'" in message and "deleted" in message
        keep = read_all(log, "keep")
        assert len(keep) == int(kept) and [r.offset for r in keep] == list(range(int(kept)))
        assert log.committed_offsets("g") == {TopicPartition("keep", 0): 0}
        log.create_topic("doomed")
        assert log.read("doomed", 0, 0) == [] and log.latest_offset("doomed", 0) == 0


def test_processes_creating_one_log_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "fresh" / "log")
    procs = [spawn("opener", path, f"p{i}") for i in range(4)]
    bases = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        bases.append(int(out.split()[1]))
    assert sorted(bases) == [0, 1, 2, 3]
    with EmbeddedLog(path) as log:
        assert log.describe_topic("c").partitions == 2
        assert sorted((r.value or b"").decode() for r in read_all(log, "c", 0)) == ["p0", "p1", "p2", "p3"]


_LOCK_WRITER = r"""
import sys
from millstream.log import open_log
from millstream.core.record import ProducerRecord
url = sys.argv[1]
log = open_log(url)
log.create_topic("t", 1, exist_ok=True)
log.append("t", 0, [ProducerRecord(b"before")])
open_log(url).close()         # another log object opened and closed in this process, as a job does
print("ready", flush=True)
sys.stdin.readline()          # meanwhile the test process opens and closes the log
for i in range(50):
    log.append("t", 0, [ProducerRecord(b"after-%d" % i)])
print("done", flush=True)
sys.stdin.readline()          # the test reads while this writer is still alive
log.close()
"""


def test_reopening_in_a_writer_process_keeps_its_locks_so_other_readers_cannot_drop_its_wal(tmp_path: Path) -> None:
    """Regression: reading the database header with a raw open()/close() dropped the process's POSIX locks
    (SQLite's documented hazard); a reader elsewhere then took itself for the last connection, checkpointed
    and deleted the WAL, and the writer's later commits went to an unlinked file, invisible to every other
    process (and at best copied back, over newer pages, when the writer closed)."""
    path = tmp_path / "log"
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOCK_WRITER, f"file://{path}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([SRC, *filter(None, [os.environ.get("PYTHONPATH")])])},
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        with EmbeddedLog(str(path)) as reader:
            assert reader.latest_offset("t", 0) == 1
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "done"
        with EmbeddedLog(str(path)) as reader:  # while the writer is alive
            values = [r.value for r in reader.read("t", 0, 0)]
        assert values == [b"before"] + [b"after-%d" % i for i in range(50)]
        links = [_readlink(proc.pid, f) for f in os.listdir(f"/proc/{proc.pid}/fd")]
        assert not [link for link in links if "log.db" in link and "(deleted)" in link]
        proc.stdin.write("close\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def _readlink(pid: int, fd: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return ""
