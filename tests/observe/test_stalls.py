"""A partition without data that holds its source's watermark back is named in a log line, counted by the
metric ``watermarkStalledPartitions`` and shown by the progress table; ``with_idleness`` (the fix) silences it."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSource, OffsetsInitializer
from millstream.log import open_log
from millstream.observe import Monitoring
from millstream.observe.progress import render_progress
from millstream.observe.registry import summary
from millstream.testing import CollectingSink


def _job(url: str, strategy: WatermarkStrategy) -> StreamExecutionEnvironment:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.get_config().set_idle_partition_warning(Duration.of_millis(300))
    src = (
        LogSource.builder()
        .set_log(url)
        .set_topics("events")
        .set_value_format("json")
        .set_starting_offsets(OffsetsInitializer.earliest())
        .build()
    )
    env.from_source(src, strategy.with_timestamp_assigner(lambda e, _ts: e["ts"]), "events").sink_to(CollectingSink())
    return env


def _feed(url: str, seconds: float) -> None:
    """Data into partition 0 only, event time moving on; partition 1 stays empty."""
    deadline = time.monotonic() + seconds
    ts = 1_000
    with open_log(url) as log:
        while time.monotonic() < deadline:
            log.append("events", 0, [(orjson.dumps({"ts": ts}), None, ts)])
            ts += 1_000
            time.sleep(0.05)


@pytest.mark.slow
def test_a_silent_partition_holding_the_watermark_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("events", 2)
    caplog.set_level(logging.WARNING, logger="millstream.runtime")
    with Monitoring() as mon:
        client = _job(url, WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(10))).execute_async("s")
        try:
            _feed(url, 2.5)
            deadline = time.monotonic() + 10
            while "events-1" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.2)  # one more metrics report
            jobs = summary(mon.registry).values()
            stalled = [v.get("watermarkStalledPartitions") for j in jobs for v in j["vertices"].values()]
            console = Console(record=True, width=200, force_terminal=False)
            console.print(render_progress(mon.registry))
            table = console.export_text()
        finally:
            client.cancel()
    warnings = [r.getMessage() for r in caplog.records if "holds the watermark back" in r.getMessage()]
    assert len(warnings) == 1  # once per stall, not every second
    assert "source 'events': partition events-1 has had no data" in warnings[0]
    assert "with_idleness" in warnings[0]
    assert 1 in stalled
    assert "events: a partition without data hold(s) the watermark back" in table


@pytest.mark.slow
def test_with_idleness_there_is_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("events", 2)
    caplog.set_level(logging.WARNING, logger="millstream.runtime")
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(10)).with_idleness(
        Duration.of_millis(200)
    )
    client = _job(url, strategy).execute_async("idle")
    try:
        _feed(url, 1.5)
    finally:
        client.cancel()
    assert "holds the watermark back" not in caplog.text
