"""``millstream groups list|describe|reset-offsets`` and ``topics alter --partitions`` on a real embedded log,
with a consumer in another process holding the group."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from millstream.core.record import ProducerRecord, TopicPartition
from millstream.log import open_log

from ..observe._support import wait_for
from ..product.conftest import cli_env
from .test_job_control import ms, one_error_line

CONSUMER = """
import sys
from millstream.log import open_log

log = open_log(sys.argv[1])
c = log.consumer("readers", session_timeout_ms=3000, heartbeat_interval_ms=200)
c.subscribe(["t"])
n = 0
while n < 6:
    n += len(c.poll(200))
c.commit()
print("read", n, flush=True)
while True:  # hold the group (heartbeats ride on poll) until killed
    c.poll(50)
"""


def _log(tmp_path: Path) -> str:
    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("t", 2)
        for p in (0, 1):  # timestamps 1000, 2000, 3000 on each partition
            log.append("t", p, [ProducerRecord(b"%d" % i, None, i * 1000) for i in (1, 2, 3)])
    return url


def describe(url: str, cwd: Path) -> dict:
    res = ms("groups", "describe", "readers", "--json", "--log", url, cwd=cwd)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_describe_and_reset_with_a_live_consumer(tmp_path: Path) -> None:
    url = _log(tmp_path)
    (tmp_path / "consumer.py").write_text(textwrap.dedent(CONSUMER))
    proc = subprocess.Popen(
        [sys.executable, "consumer.py", url],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "read 6"
        assert ms("groups", "list", "--log", url, cwd=tmp_path).stdout.split() == ["readers"]
        doc = describe(url, tmp_path)
        assert doc["state"] == "Stable" and len(doc["members"]) == 1
        member = doc["members"][0]["member"]
        assert [
            (p["partition"], p["committed"], p["log_end_offset"], p["lag"], p["member"]) for p in doc["partitions"]
        ] == [
            (0, 3, 3, 0, member),
            (1, 3, 3, 0, member),
        ]
        table = ms("groups", "describe", "readers", "--log", url, cwd=tmp_path).stdout
        assert "CURRENT-OFFSET" in table and "LOG-END-OFFSET" in table and member in table

        refused = ms(
            "groups",
            "reset-offsets",
            "readers",
            "--topic",
            "t",
            "--to-earliest",
            "--execute",
            "--log",
            url,
            cwd=tmp_path,
        )
        one_error_line(refused, "1 live member", member, "inactive")
        assert describe(url, tmp_path)["partitions"][0]["committed"] == 3
    finally:
        proc.kill()
        proc.wait()
    # killed -9: its session times out and the group becomes inactive
    wait_for(lambda: describe(url, tmp_path)["state"] == "Empty", timeout=20, what="the member's session to expire")

    dry = ms("groups", "reset-offsets", "readers", "--topic", "t", "--to-earliest", "--log", url, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and describe(url, tmp_path)["partitions"][0]["committed"] == 3

    def offsets(*args: str) -> dict[int, int]:
        res = ms("groups", "reset-offsets", "readers", "--topic", "t", *args, "--execute", "--log", url, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        with open_log(url) as log:
            got = log.committed_offsets("readers")
        return {tp.partition: off for tp, off in got.items() if tp.topic == "t"}

    assert offsets("--to-earliest") == {0: 0, 1: 0}
    assert offsets("--shift-by", "2") == {0: 2, 1: 2}
    assert offsets("--shift-by", "-5") == {0: 0, 1: 0}  # clamped to the log start
    assert offsets("--to-latest") == {0: 3, 1: 3}
    when = dt.datetime.fromtimestamp(2.5, tz=dt.UTC).isoformat()  # between the records at 2000 and 3000 ms
    assert offsets("--to-datetime", when) == {0: 2, 1: 2}
    assert offsets("--to-datetime", "2100-01-01T00:00:00") == {0: 3, 1: 3}

    one_error_line(ms("groups", "describe", "nobody", "--log", url, cwd=tmp_path), "does not exist")
    one_error_line(
        ms(
            "groups",
            "reset-offsets",
            "readers",
            "--topic",
            "t",
            "--to-datetime",
            "yesterday",
            "--log",
            url,
            cwd=tmp_path,
        ),
        "ISO 8601",
    )
    one_error_line(ms("groups", "reset-offsets", "readers", "--topic", "t", "--log", url, cwd=tmp_path), "exactly one")


def test_topics_alter_adds_partitions_only(tmp_path: Path) -> None:
    url = _log(tmp_path)
    res = ms("topics", "alter", "t", "--partitions", "4", "--log", url, cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == "topic 't' now has 4 partition(s)", res.stderr
    with open_log(url) as log:
        assert log.describe_topic("t").partitions == 4
        assert log.latest_offset("t", 0) == 3 and log.latest_offset("t", 3) == 0  # old records stay
        log.append("t", 3, [ProducerRecord(b"new")])
        assert [r.value for r in log.read("t", 3, 0)] == [b"new"]
        log.commit_offsets("g", {TopicPartition("t", 3): 1})
    one_error_line(ms("topics", "alter", "t", "--partitions", "2", "--log", url, cwd=tmp_path), "can only be added")
    one_error_line(ms("topics", "alter", "t", "--partitions", "4", "--log", url, cwd=tmp_path), "already has 4")
    one_error_line(ms("topics", "alter", "missing", "--partitions", "4", "--log", url, cwd=tmp_path), "missing")
