"""Job registry, offset resets and job control on the test broker (the same code as on ``file://``; partition
growth is in the log contract suite)."""

from __future__ import annotations

import time
import uuid

import pytest

from millstream.core.record import ProducerRecord, TopicPartition
from millstream.log.offset_reset import ResetSpec, execute_reset, plan_reset
from millstream.runtime.job_registry import JOBS_TOPIC, JobEntry, JobRegistry

pytestmark = pytest.mark.kafka


def test_job_registry_on_kafka(kafka_log):
    reg = JobRegistry(kafka_log)
    jid = uuid.uuid4().hex
    now = int(time.time() * 1000)
    entry = JobEntry(jid, "on-kafka", "on-kafka", "RUNNING", "http://h:1", "h", 1, now, now)
    reg.announce(entry)
    reg.announce(entry.with_status("FINISHED", now + 1))
    assert JOBS_TOPIC not in kafka_log.list_topics()  # internal, as Kafka's own __ topics
    mine = [e for e in reg.entries() if e.jid == jid]
    assert [(e.status, e.end_time) for e in mine] == [("FINISHED", now + 1)]
    assert reg.find(jid, running_only=False).name == "on-kafka"


def test_offsets_reset_on_kafka(kafka_log, kafka_topic, kafka_on_tansu):
    name, group = kafka_topic("reset"), kafka_topic("grp")
    kafka_log.create_topic(name, 2)
    for p in (0, 1):
        for i in (1, 2, 3):  # one record per append: Tansu's high watermark is exact then
            kafka_log.append(name, p, [ProducerRecord(b"%d" % i, None, i * 1000)])
    kafka_log.commit_offsets(group, {TopicPartition(name, 0): 3, TopicPartition(name, 1): 3})
    plan = plan_reset(kafka_log, group, [name], ResetSpec(shift_by=-2))
    assert plan == {TopicPartition(name, 0): 1, TopicPartition(name, 1): 1}
    execute_reset(kafka_log, group, plan)
    assert kafka_log.committed_offsets(group) == plan
    assert plan_reset(kafka_log, group, [name], ResetSpec(to="latest")) == {
        TopicPartition(name, 0): 3,
        TopicPartition(name, 1): 3,
    }
    if not kafka_on_tansu:  # Tansu answers ListOffsets by timestamp with 0
        assert plan_reset(kafka_log, group, [name], ResetSpec(timestamp_ms=2500))[TopicPartition(name, 1)] == 2


def test_detached_run_listed_and_cancelled_through_kafka(kafka_bootstrap, kafka_topic, tmp_path):
    """The whole path on ``kafka://``: a detached ``millstream run`` registers in the cluster's job registry, and
    ``millstream jobs`` in another process finds and cancels it."""
    import json
    import textwrap

    from millstream.log import open_log
    from tests.cli.test_job_control import PIPELINE, ms

    url = f"kafka://{kafka_bootstrap}"
    src, out = kafka_topic("jin"), kafka_topic("jout")
    with open_log(url) as log:
        log.create_topic(src, 1)
        log.create_topic(out, 1)
    text = PIPELINE.format(checkpointing="", name="on-kafka").replace('"in"', repr(src)).replace('"out"', repr(out))
    (tmp_path / "p.py").write_text(textwrap.dedent(text))
    started = ms("run", "--detached", "p.py", "--log", url, cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    jid = started.stdout.strip()
    try:
        res = ms("jobs", "list", "--json", "--log", url, cwd=tmp_path)
        assert jid in [json.loads(line)["jid"] for line in res.stdout.splitlines()], res.stderr
    finally:
        cancelled = ms("jobs", "cancel", jid, "--log", url, cwd=tmp_path)
    assert cancelled.returncode == 0 and f"cancelled job {jid}" in cancelled.stdout, cancelled.stderr
