"""A broker killed and restarted under a running job: the job reconnects, continues, and loses nothing.

The shared test broker keeps its data in memory, so a restart would empty it. This module starts its own
Tansu on S3 storage instead: a local S3 server (``moto``, a real S3-protocol server process) holds the
broker's data, so the broker can be ``kill -9``ed and started again on the same port with its topics,
records and committed offsets intact, as a Kafka broker restarted on its disks would be.

The job reads a topic with ``KafkaSource`` (committed group offsets) and writes every event through a map
to another topic with an at-least-once ``KafkaSink``. Events are produced before, while and after the
broker is down; at the end every produced event is in the output (duplicates would be allowed by
at-least-once; the test reports how many there were).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from millstream import StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import DeliveryGuarantee, KafkaSink, KafkaSource, OffsetsInitializer
from millstream.core.record import ProducerRecord
from millstream.log.kafka import KafkaLog

from ..fixtures.kafka_broker import ENV_VAR, TANSU_TEST_PROPERTIES, TansuBroker, _die_with_parent, _free_port
from .conftest import read_all, wait_until

pytestmark = pytest.mark.kafka

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "millstream-test",
    "AWS_SECRET_ACCESS_KEY": "millstream-test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A local S3 server (moto) with a ``tansu`` bucket; its URL."""
    if os.environ.get(ENV_VAR, "").strip():
        pytest.skip(f"{ENV_VAR} points at an existing cluster: this test kills and restarts its own broker")
    if not os.environ.get("CI"):  # in CI a missing test dependency fails the run instead
        pytest.importorskip("moto.server", reason="moto[server] (a test dependency) is not installed")
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="millstream-s3-"))
    with open(workdir / "moto.log", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from moto.server import main; main()", "-H", "127.0.0.1", "-p", str(port)],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(f"{url}/tansu", method="PUT"), timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the S3 server did not start: {(workdir / 'moto.log').read_text()}") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def durable_broker(s3_endpoint: str) -> Iterator[TansuBroker]:
    """A Tansu broker whose data lives in the S3 server, so it survives a kill and restart."""
    workdir = Path(tempfile.mkdtemp(prefix="millstream-tansu-s3-"))
    broker = TansuBroker(workdir, storage="s3://tansu/", env={**S3_ENV, "AWS_ENDPOINT": s3_endpoint})
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def produce(log: KafkaLog, topic: str, values: range) -> None:
    log.append(topic, 0, [ProducerRecord(orjson.dumps({"i": i})) for i in values])


def test_job_continues_across_a_broker_kill_and_restart(durable_broker: TansuBroker) -> None:
    props: dict[str, Any] = dict(TANSU_TEST_PROPERTIES)
    client_props = {k: str(v) for k, v in props.items()}
    servers = durable_broker.bootstrap
    log = KafkaLog(servers, properties=props, timeout_ms=15_000)
    log.create_topic("in", 1)
    log.create_topic("out", 1)
    produce(log, "in", range(0, 500))

    source = (
        KafkaSource.builder()
        .set_bootstrap_servers(servers)
        .set_properties(client_props)
        .set_topics("in")
        .set_group_id("restart-job")
        .set_starting_offsets(OffsetsInitializer.committed_offsets("earliest"))
        .set_value_format("json")
        .build()
    )
    sink_builder = KafkaSink.builder().set_bootstrap_servers(servers).set_topic("out")
    for k, v in client_props.items():
        sink_builder.set_property(k, v)
    sink = sink_builder.set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build()
    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_source(source, WatermarkStrategy.no_watermarks(), "in").map(lambda v: {"i": v["i"], "seen": True}).sink_to(
        sink
    )
    job = env.execute_async("broker-restart")
    reader = KafkaLog(servers, properties=props, timeout_ms=15_000)

    def output() -> list[int]:
        return [orjson.loads(r.value)["i"] for r in read_all(reader, "out", 0)]

    try:
        wait_until(lambda: len(output()) >= 500, timeout_s=60, what="the first 500 events in the output")
        durable_broker.kill()
        # the job keeps running while the broker is down, and events keep arriving when it is back
        time.sleep(3)
        assert job.get_job_status() not in ("FAILED", "CANCELED"), "the job died while the broker was down"
        durable_broker.start()
        produce(log, "in", range(500, 1000))
        wait_until(lambda: set(output()) >= set(range(1000)), timeout_s=90, what="every event after the restart")
        got = output()
    finally:
        job.cancel()
        try:
            job.get_job_execution_result(60)  # the job ends cleanly: its offset commit at close succeeds too
        finally:
            reader.close()
            log.close()
    missing = set(range(1000)) - set(got)
    assert not missing, f"lost {len(missing)} events across the broker restart"
    print(f"at-least-once across a broker restart: {len(got)} outputs for 1000 events ({len(got) - 1000} duplicates)")
