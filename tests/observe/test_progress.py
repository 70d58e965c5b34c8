"""The terminal progress table, rendered from the registry of a real job."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from millstream import StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink
from millstream.log import open_log
from millstream.observe import Monitoring
from millstream.observe.progress import COLUMNS, checkpoint_status, render_progress


def test_table_of_a_finished_job(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("out", 1)
    with Monitoring() as mon:
        assert mon.url is None  # no port: nothing served
        env = StreamExecutionEnvironment.get_execution_environment()
        env.enable_checkpointing(10_000)
        env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "cp"))
        (
            env.from_collection([(i, i * 10) for i in range(2000)])
            .assign_timestamps_and_watermarks(
                WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda e, _ts: e[1])
            )
            .filter(lambda e: e[0] % 2 == 0)
            .name("evens")
            .sink_to(LogSink.builder().set_log(url).set_topic("out").build())
        )
        env.execute("table")
        console = Console(record=True, width=160, force_terminal=False)
        console.print(render_progress(mon.registry))
        text = console.export_text()
        console.print(render_progress(mon.registry, only=lambda v: v["name"] == "evens"))
        only_evens = console.export_text()
    assert "evens" in only_evens and "LogSink" not in only_evens and "Collection Source" not in only_evens
    lines = text.splitlines()
    assert lines[0].startswith("table  FINISHED")
    header = next(line for line in lines if "operator" in line)
    for col in COLUMNS:
        assert col in header
    evens = next(line for line in lines if "evens" in line)
    assert "2,000" in evens and "1,000" in evens  # 2000 in, 1000 out
    sink = next(line for line in lines if "LogSink" in line)
    assert "end" in sink  # the final watermark passed
    assert "checkpoints: 1 completed, 0 failed" in text  # the bounded job's final checkpoint


def test_checkpoint_status_line() -> None:
    assert checkpoint_status({}) == "checkpoints: none"
    line = checkpoint_status(
        {
            "totalNumberOfCheckpoints": 3,
            "numberOfCompletedCheckpoints": 2,
            "numberOfFailedCheckpoints": 1,
            "lastCheckpointDuration": 12,
            "lastCheckpointSize": 2048,
        }
    )
    assert line == "checkpoints: 2 completed, 1 failed, last 12 ms, 2.0 KiB"
