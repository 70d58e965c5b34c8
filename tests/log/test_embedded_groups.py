"""Consumer groups on the embedded log: the sticky assignor, members in several processes sharing partitions,
session timeouts after kill -9, cooperative hand-over with commits, and fencing of a removed member."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from millstream.core.record import ProducerRecord, TopicPartition
from millstream.log import open_log
from millstream.log.assignor import sticky_assign
from millstream.log.consumer import LogConsumer
from millstream.log.embedded_groups import CommitFailedError


def tps(topic: str, *ps: int) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in ps]


# -- the assignor (pure) ----------------------------------------------------------------------------------------


def test_assignor_balances_and_covers_every_partition() -> None:
    got = sticky_assign({"a": 5, "b": 2}, {"m1": ["a", "b"], "m2": ["a", "b"], "m3": ["a", "b"]})
    assert sorted(len(v) for v in got.values()) == [2, 2, 3]
    every = [tp for v in got.values() for tp in v]
    assert sorted(every) == sorted(tps("a", 0, 1, 2, 3, 4) + tps("b", 0, 1))


def test_assignor_sticks_to_the_previous_owners_and_moves_only_what_balance_needs() -> None:
    before = sticky_assign({"t": 6}, {"m1": ["t"], "m2": ["t"]})
    after = sticky_assign({"t": 6}, {"m1": ["t"], "m2": ["t"], "m3": ["t"]}, before)
    assert all(len(v) == 2 for v in after.values())
    for m in ("m1", "m2"):
        assert set(after[m]) <= set(before[m])  # each old member only gave partitions up
    gone = sticky_assign({"t": 6}, {"m1": ["t"], "m3": ["t"]}, after)
    assert set(after["m1"]) <= set(gone["m1"]) and set(after["m3"]) <= set(gone["m3"])  # m2's moved, no other


def test_assignor_gives_a_topic_only_to_its_subscribers_and_is_deterministic() -> None:
    subs = {"x": ["a"], "y": ["a", "b"]}
    got = sticky_assign({"a": 2, "b": 3}, subs)
    assert all(tp.topic == "a" for tp in got["x"])
    assert set(tps("b", 0, 1, 2)) <= set(got["y"])
    assert got == sticky_assign({"a": 2, "b": 3}, dict(reversed(list(subs.items()))))


# -- members in one process (separate log objects, as separate processes have) ------------------------------


def _log_with(tmp_path: Path, partitions: int = 4, per: int = 50) -> str:
    url = f"file://{tmp_path}/log"
    with open_log(url) as log:
        log.create_topic("t", partitions)
        for p in range(partitions):
            log.append("t", p, [ProducerRecord(f"{p}-{i}".encode(), None, i) for i in range(per)])
    return url


def _consumer(url: str, **kw: object) -> LogConsumer:
    log = open_log(url)
    c = log.consumer("g", session_timeout_ms=1500, heartbeat_interval_ms=100, **kw)
    assert isinstance(c, LogConsumer)
    return c


def _drain(consumers: list[LogConsumer], seconds: float) -> list[bytes]:
    seen: list[bytes] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for c in consumers:
            seen.extend(r.value for r in c.poll(timeout_ms=10))
    return seen


def test_two_members_share_the_partitions_and_read_every_record_once(tmp_path: Path) -> None:
    url = _log_with(tmp_path)
    a = _consumer(url)
    a.subscribe(["t"])
    assert sorted(a.assignment()) == tps("t", 0, 1, 2, 3)  # alone: everything
    assigned: list[list[TopicPartition]] = []
    b = _consumer(url)
    b.subscribe(["t"], on_assign=assigned.append)
    seen = _drain([a, b], 1.5)
    assert len(set(a.assignment()) | set(b.assignment())) == 4
    assert not set(a.assignment()) & set(b.assignment())
    assert len(a.assignment()) == len(b.assignment()) == 2
    assert sorted(tp for batch in assigned for tp in batch) == sorted(b.assignment())
    assert sorted(seen) == sorted(f"{p}-{i}".encode() for p in range(4) for i in range(50))  # once each
    members = dict(a._log.describe_group_members("g"))  # type: ignore[attr-defined]
    assert members == {a.member_id: sorted(a.assignment()), b.member_id: sorted(b.assignment())}
    b.close()  # leaves the group: a takes everything back at its next heartbeat
    _drain([a], 0.5)
    assert sorted(a.assignment()) == tps("t", 0, 1, 2, 3)
    a.close()


def test_a_member_removed_for_missing_heartbeats_is_fenced(tmp_path: Path) -> None:
    url = _log_with(tmp_path, partitions=2)
    a = _consumer(url)
    a.subscribe(["t"])
    a.poll(timeout_ms=10)
    time.sleep(1.8)  # longer than the session timeout: a is a zombie now
    b = _consumer(url)
    b.subscribe(["t"])
    assert sorted(b.assignment()) == tps("t", 0, 1)  # a was removed: b owns everything
    with pytest.raises(CommitFailedError, match="was removed from the group"):
        a.commit({TopicPartition("t", 0): 5})
    lost: list[list[TopicPartition]] = []
    a._on_lost = lost.append
    a.poll(timeout_ms=10)  # rejoins; its old partitions are b's now: lost (stops reading them, no commit)
    assert sorted(tp for batch in lost for tp in batch) == tps("t", 0, 1)
    assert set(a.assignment()).isdisjoint(b.assignment())
    a.close()
    b.close()


# -- members in several processes ---------------------------------------------------------------------------------

MEMBER = """
import sys, time
from millstream.log import open_log
url, out = sys.argv[1], sys.argv[2]
log = open_log(url)
c = log.consumer("g", session_timeout_ms=1500, heartbeat_interval_ms=100)
c.subscribe(["t"])
with open(out, "a") as f:
    while True:
        for r in c.poll(timeout_ms=50):
            f.write(r.value.decode() + "\\n")
            f.flush()
            time.sleep(0.002)
        c.commit()
"""


@pytest.mark.slow
def test_three_processes_share_a_group_and_a_kill_9_moves_its_partitions(tmp_path: Path) -> None:
    url = _log_with(tmp_path, partitions=6, per=400)
    script = tmp_path / "member.py"
    script.write_text(textwrap.dedent(MEMBER))
    outs = [tmp_path / f"out{i}.txt" for i in range(3)]
    procs = [subprocess.Popen([sys.executable, str(script), url, str(o)]) for o in outs]
    try:
        time.sleep(1.5)
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait()
        deadline = time.monotonic() + 60
        want = {f"{p}-{i}" for p in range(6) for i in range(400)}
        got: set[str] = set()
        while time.monotonic() < deadline:
            got = {line for o in outs if o.exists() for line in o.read_text().split()}
            if got >= want:
                break
            time.sleep(0.3)
        assert got >= want, f"{len(want - got)} records never read after the kill"
        per_member = [set(o.read_text().split()) if o.exists() else set() for o in outs]
        assert per_member[1] and per_member[2]  # the survivors shared the work
        # a partition moving between the survivors is committed before it is released: none read twice
        assert not per_member[1] & per_member[2]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
