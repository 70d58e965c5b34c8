"""Savepoints: the CLI (list, describe, savepoint), restoring into a changed job by operator uid, and the
errors for state without an operator and for state that no longer fits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import crash_job
import pytest
from click.testing import CliRunner
from test_checkpoints import FailOnce, make_env, reference

from millstream.cli import cli
from millstream.functions import KeyedProcessFunction
from millstream.log import Log
from millstream.runtime.checkpointing import StateRestoreError
from millstream.stream.errors import JobFailedError
from millstream.testing import CollectingSink


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def midway_savepoint(tmp_path: Path, events_log: tuple[str, Log]) -> Path:
    """A savepoint of the crash job taken from its committed checkpoint after it failed midway."""
    url, _log = events_log
    env = make_env(tmp_path / "chk")
    fail = FailOnce(13_001)
    crash_job.build(env, url, wrap=lambda s: s.map(fail).uid("fail-once"))
    with pytest.raises(JobFailedError):
        env.execute("crash-job", job_id="v1")
    res = run_cli("checkpoints", "savepoint", "--dir", str(tmp_path / "chk"), "--job-id", "v1", str(tmp_path / "sp"))
    assert res.exit_code == 0, res.output
    assert "written to" in res.output
    return tmp_path / "sp"


def test_cli_lists_and_describes_checkpoints_and_savepoints(tmp_path: Path, midway_savepoint: Path) -> None:
    res = run_cli("checkpoints", "list", "--dir", str(tmp_path / "chk"))
    assert res.exit_code == 0 and "v1" in res.output and " ok " in res.output
    res = run_cli("checkpoints", "describe", str(midway_savepoint))
    assert res.exit_code == 0
    assert "kind:        savepoint" in res.output and "job id:      v1" in res.output
    assert "windows" in res.output and "events" in res.output
    res = run_cli("checkpoints", "describe", str(tmp_path))
    assert res.exit_code != 0 and "is not a checkpoint" in res.output


def test_savepoint_restores_into_a_job_with_an_added_operator(
    tmp_path: Path, events_log: tuple[str, Log], midway_savepoint: Path
) -> None:
    url, log = events_log
    added = CollectingSink()

    def wrap(s: Any) -> Any:  # version 2 adds a stateful operator: a running count per key, with its own uid
        s = s.map(lambda e: e).uid("fail-once")
        s.key_by(lambda e: e["key"]).reduce(lambda a, b: {**b, "n": a.get("n", 1) + 1}).uid("added").sink_to(added)
        return s

    env2 = make_env(tmp_path / "chk2")
    crash_job.build(env2, url, wrap=wrap)
    result = env2.execute("crash-job", job_id="v2", from_savepoint=str(midway_savepoint))
    assert result.checkpoints.restored_from == str(midway_savepoint)
    # v1's committed output + v2's continuation = the uninterrupted run, exactly
    assert {t: crash_job.topic_values(log, t) for t in ("windows", "passthrough")} == reference(tmp_path)
    assert 0 < len(added.values) < 20_000  # the added operator saw only the events after the savepoint


def test_state_without_an_operator_is_refused_unless_allowed(
    tmp_path: Path, events_log: tuple[str, Log], midway_savepoint: Path
) -> None:
    url, _log = events_log

    def build(env: Any) -> None:  # the job without the window operator (uid "windows")
        env.from_source(*_source(url)).uid("events").map(lambda e: e).uid("fail-once").sink_to(CollectingSink())

    env = make_env(tmp_path / "chk3")
    build(env)
    with pytest.raises(StateRestoreError, match=r"operator uid\(s\) 'windows'.*allow_non_restored_state"):
        env.execute("v3", from_savepoint=str(midway_savepoint))
    env = make_env(tmp_path / "chk4")
    build(env)
    result = env.execute("v3", from_savepoint=str(midway_savepoint), allow_non_restored_state=True)
    assert result.checkpoints.restored_from == str(midway_savepoint)


def _source(url: str) -> tuple[Any, Any, str]:
    from millstream import Duration, WatermarkStrategy
    from millstream.connectors import LogSource, OffsetsInitializer

    src = (
        LogSource.builder()
        .set_log(url)
        .set_topics("events")
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .build()
    )
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(50)).with_timestamp_assigner(
        lambda e, ts: e["ts"]
    )
    return src, strategy, "events"


def test_incompatible_state_names_the_operator(
    tmp_path: Path, events_log: tuple[str, Log], midway_savepoint: Path
) -> None:
    url, _log = events_log

    class Changed(KeyedProcessFunction):
        def process_element(self, value: Any, ctx: Any) -> Any:
            yield value

    env = make_env(tmp_path / "chk5")
    s = env.from_source(*_source(url)).uid("events").map(lambda e: e).uid("fail-once")
    # uid "windows" is now a keyed process function: the window operator's state does not fit it
    s.key_by(lambda e: e["key"]).process(Changed()).uid("windows").sink_to(CollectingSink())
    with pytest.raises(StateRestoreError, match=r"operator .*\(uid 'windows'\) does not fit"):
        env.execute("v5", from_savepoint=str(midway_savepoint))


def test_trigger_savepoint_on_a_running_job(tmp_path: Path, events_log: tuple[str, Log]) -> None:
    from millstream import StreamExecutionEnvironment
    from millstream.connectors import LogSource, OffsetsInitializer
    from millstream.runtime.checkpoint_storage import load_checkpoint

    url, _log = events_log
    env = make_env(tmp_path / "chk", interval=60_000)
    assert isinstance(env, StreamExecutionEnvironment)
    unbounded = (
        LogSource.builder()
        .set_log(url)
        .set_topics("events")
        .set_starting_offsets(OffsetsInitializer.earliest())
        .build()
    )
    sink = CollectingSink()
    env.from_source(unbounded).uid("events").key_by(lambda e: e["key"]).reduce(lambda a, b: b).uid("last").sink_to(sink)
    client = env.execute_async("running", job_id="running")
    try:
        deadline = time.monotonic() + 30
        while len(sink.values) < 20_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        path = client.trigger_savepoint(str(tmp_path / "sp-running"))
    finally:
        client.cancel()
    chk = load_checkpoint(Path(path))
    assert chk.manifest["kind"] == "savepoint" and chk.job_id == "running"
    assert set(chk.blobs) == {"events", "last"}
    res = run_cli("checkpoints", "describe", path)
    assert res.exit_code == 0 and "savepoint" in res.output
