"""An idle job waits on its log sources (``wait_for_records``) instead of sleeping ``set_buffer_timeout``:
records wake it at once, while timers, checkpoints, cancel and stop keep their timing.

Every test runs with a buffer timeout of 5 s, far longer than any bound asserted, so a job that slept the
buffer timeout instead of waking on data (or that blocked through a cancel) fails them.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from millstream import StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSource, OffsetsInitializer
from millstream.core.record import ProducerRecord
from millstream.functions import KeyedProcessFunction
from millstream.log import open_log
from millstream.runtime.sources import LogReader
from tests.fixtures.job_control import end_and_check

BUFFER_TIMEOUT_MS = 5000
_n = itertools.count()


@pytest.fixture(params=["memory", "file"])
def log_url(request: Any, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://wake-{next(_n)}"
    return f"file://{tmp_path}/log"


def put(url: str, topic: str, value: Any, partition: int = 0) -> None:
    log = open_log(url)
    if not log.has_topic(topic):
        log.create_topic(topic, 2)
    log.append(topic, partition, [ProducerRecord(orjson.dumps(value), None, 1)])
    log.close()


def source(url: str, topic: str = "in") -> LogSource:
    return (
        LogSource.builder().set_log(url).set_topics(topic).set_starting_offsets(OffsetsInitializer.earliest()).build()
    )


def idle_env() -> StreamExecutionEnvironment:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_buffer_timeout(BUFFER_TIMEOUT_MS)
    return env


class Arrivals:
    """A sink recording when each element arrived."""

    def __init__(self) -> None:
        self.times: list[tuple[Any, float]] = []
        self.cond = threading.Condition()

    def __call__(self, value: Any) -> None:
        with self.cond:
            self.times.append((value, time.monotonic()))
            self.cond.notify_all()

    def wait_for(self, n: int, timeout_s: float = 10.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.times) >= n, timeout_s), f"{len(self.times)} of {n} arrived"


def wait_until_reading(client: Any) -> None:
    reader = client.runner.drivers[0].reader
    deadline = time.monotonic() + 10
    while not reader.positions and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # the job is idle, waiting on its source


def test_an_idle_job_wakes_when_a_record_arrives(log_url: str) -> None:
    put(log_url, "in", {"n": -1})
    env = idle_env()
    got = Arrivals()
    env.from_source(source(log_url), WatermarkStrategy.no_watermarks(), "in").map(lambda e: e["n"]).add_sink(got)
    client = env.execute_async("wake")
    try:
        got.wait_for(1)
        assert isinstance(client.runner.drivers[0].reader, LogReader)
        assert client.runner.drivers[0].reader.wakes_on_data
        for i in range(3):
            time.sleep(0.2)  # idle again, inside a 5 s wait
            sent = time.monotonic()
            put(log_url, "in", {"n": i}, partition=i % 2)
            got.wait_for(2 + i)
            assert got.times[-1][0] == i
            assert got.times[-1][1] - sent < 1.0  # not the 5 s buffer timeout
    finally:
        client.cancel()


def test_a_job_reading_two_sources_wakes_for_either(log_url: str) -> None:
    put(log_url, "a", {"n": 0})
    put(log_url, "b", {"n": 100})
    env = idle_env()
    got = Arrivals()
    a = env.from_source(source(log_url, "a"), WatermarkStrategy.no_watermarks(), "a")
    b = env.from_source(source(log_url, "b"), WatermarkStrategy.no_watermarks(), "b")
    a.union(b).map(lambda e: e["n"]).add_sink(got)
    client = env.execute_async("wake two")
    try:
        got.wait_for(2)
        for i, topic in enumerate(["b", "a", "b"]):
            time.sleep(0.2)
            sent = time.monotonic()
            put(log_url, topic, {"n": i + 1})
            got.wait_for(3 + i)
            assert got.times[-1][1] - sent < 1.0
    finally:
        client.cancel()


@pytest.mark.parametrize("how", ["cancel", "stop"])
def test_cancel_and_stop_end_the_wait_at_once(log_url: str, how: str) -> None:
    put(log_url, "in", {"n": 0})
    env = idle_env()
    env.from_source(source(log_url), WatermarkStrategy.no_watermarks(), "in").add_sink(lambda v: None)
    client = env.execute_async("cancel")
    wait_until_reading(client)
    end_and_check(client, how, stop_timeout_s=10, within_s=1.0)


class TimerAfter(KeyedProcessFunction):
    def process_element(self, value: Any, ctx: Any) -> Any:
        ctx.timer_service().register_processing_time_timer(ctx.timer_service().current_processing_time() + 300)
        return None

    def on_timer(self, timestamp: int, ctx: Any) -> Any:
        yield timestamp


def test_processing_time_timers_fire_on_time_while_waiting(log_url: str) -> None:
    env = idle_env()
    got = Arrivals()
    env.from_source(source(log_url), WatermarkStrategy.no_watermarks(), "in").key_by(lambda e: 0).process(
        TimerAfter()
    ).add_sink(got)
    put(log_url, "in", {"n": 0})
    client = env.execute_async("timers")
    try:
        got.wait_for(1)
        due_ms, fired = got.times[0][0], got.times[0][1]
        late_ms = time.time() * 1000 - due_ms - (time.monotonic() - fired) * 1000
        assert -5 <= late_ms < 250  # the wait on the source ends for the timer, not after 5 s
    finally:
        client.cancel()


def test_checkpoints_trigger_on_time_while_waiting(log_url: str, tmp_path: Path) -> None:
    put(log_url, "in", {"n": 0})
    env = idle_env()
    env.enable_checkpointing(200)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "chk"))
    env.from_source(source(log_url), WatermarkStrategy.no_watermarks(), "in").add_sink(lambda v: None)
    client = env.execute_async("checkpoints")
    try:
        wait_until_reading(client)
        before = client.runner.summary.completed
        time.sleep(1.5)
        assert client.runner.summary.completed - before >= 4  # every ~200 ms, not once per 5 s wait
    finally:
        client.cancel()
