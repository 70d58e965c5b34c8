"""Checkpoints, recovery, restart strategies and exactly-once on the embedded log (in process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import crash_job
import pytest

from millstream import CheckpointingMode, StreamExecutionEnvironment
from millstream.connectors import DeliveryGuarantee
from millstream.log import Log, open_log
from millstream.log.memory import MemoryLog
from millstream.runtime.checkpoint_storage import load_checkpoint
from millstream.stream.errors import JobConfigError, JobFailedError
from millstream.stream.restart import RestartStrategies


def make_env(chk: Path, interval: int = 20, batch: int = 500, mode: str = CheckpointingMode.EXACTLY_ONCE) -> Any:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(batch)
    env.enable_checkpointing(interval, mode)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(chk))
    return env


def reference(tmp_path: Path) -> dict[str, dict[int, list[Any]]]:
    """The crash job's output without checkpoints or failures, on a fresh copy of the input."""
    url = f"file://{tmp_path}/ref-log"
    log = open_log(url)
    crash_job.produce(log, 20_000)
    env = make_env(tmp_path / "ref-chk", interval=10_000)
    crash_job.build(env, url)
    env.execute("reference")
    out = {t: crash_job.topic_values(log, t) for t in ("windows", "passthrough")}
    log.close()
    return out


def test_exactly_once_job_output_equals_uninterrupted_run_and_rerun_is_a_no_op(
    tmp_path: Path, events_log: tuple[str, Log]
) -> None:
    url, log = events_log
    env = make_env(tmp_path / "chk")
    crash_job.build(env, url)
    result = env.execute("crash-job")
    summary = result.checkpoints
    assert summary.completed >= 2 and summary.failed == 0
    out = {t: crash_job.topic_values(log, t) for t in ("windows", "passthrough")}
    assert out == reference(tmp_path)
    assert sum(map(len, out["passthrough"].values())) == 20_000
    # the group's offsets were committed in the checkpoint transactions
    assert sum(log.committed_offsets("crash-job", log.describe_topic("events").partitions_list()).values()) == 20_000

    again = make_env(tmp_path / "chk")
    crash_job.build(again, url)
    r2 = again.execute("crash-job")
    assert r2.checkpoints.restored_from == summary.stats[-1].checkpoint_id
    assert {t: crash_job.topic_values(log, t) for t in ("windows", "passthrough")} == out


def test_retains_the_last_n_checkpoints_with_a_verified_manifest(tmp_path: Path, events_log: tuple[str, Log]) -> None:
    url, _log = events_log
    env = make_env(tmp_path / "chk", interval=1)
    env.get_checkpoint_config().set_max_retained_checkpoints(2)
    crash_job.build(env, url)
    result = env.execute("crash-job", job_id="retention")
    (job_dir,) = (tmp_path / "chk").iterdir()
    kept = sorted(p.name for p in job_dir.iterdir())
    last = result.checkpoints.stats[-1].checkpoint_id
    assert kept == [f"chk-{last - 1:09d}", f"chk-{last:09d}"]
    chk = load_checkpoint(job_dir / kept[-1])
    m = chk.manifest
    assert m["job_id"] == "retention" and m["checkpoint_id"] == last and m["format"] == 1
    assert set(m["operators"]) == {"events", "windows"}  # the source and the stateful operator


class FailOnce:
    """Raises once when it sees element ``at`` (a process-wide flag, so the restarted job passes)."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.failed = False

    def __call__(self, e: Any) -> Any:
        if e["i"] == self.at and not self.failed:
            self.failed = True
            raise RuntimeError("injected failure")
        return e


def test_fixed_delay_restart_resumes_from_the_checkpoint_without_loss_or_duplicates(
    tmp_path: Path, events_log: tuple[str, Log]
) -> None:
    url, log = events_log
    env = make_env(tmp_path / "chk")
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(2, 10))
    fail = FailOnce(13_001)
    crash_job.build(env, url, wrap=lambda s: s.map(fail).uid("fail-once"))
    result = env.execute("crash-job")
    assert fail.failed and result.restarts == 1
    assert isinstance(result.checkpoints.restored_from, int)
    assert {t: crash_job.topic_values(log, t) for t in ("windows", "passthrough")} == reference(tmp_path)


def test_no_restart_strategy_fails_the_job_and_commits_nothing_after_the_last_checkpoint(
    tmp_path: Path, events_log: tuple[str, Log]
) -> None:
    url, log = events_log
    env = make_env(tmp_path / "chk", interval=60_000)  # no periodic checkpoint before the failure
    fail = FailOnce(5_000)
    crash_job.build(env, url, wrap=lambda s: s.map(fail))
    with pytest.raises(JobFailedError, match="injected failure"):
        env.execute("crash-job")
    assert crash_job.topic_values(log, "passthrough") == {0: [], 1: []}
    # the source group's offsets are committed with checkpoints only: none ran ahead of the output
    assert log.committed_offsets("crash-job", log.describe_topic("events").partitions_list()) == {}


def test_exponential_delay_gives_growing_delays_up_to_the_max() -> None:
    s = RestartStrategies.exponential_delay_restart(10, 100, 2.0)
    assert [s.next_delay_ms(n) for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]
    f = RestartStrategies.fixed_delay_restart(2, 5)
    assert [f.next_delay_ms(n) for n in (1, 2, 3)] == [5, 5, None]
    assert RestartStrategies.no_restart().next_delay_ms(1) is None


def test_exactly_once_sink_without_checkpointing_is_refused(events_log: tuple[str, Log]) -> None:
    url, _ = events_log
    env = StreamExecutionEnvironment.get_execution_environment()
    crash_job.build(env, url)
    with pytest.raises(JobConfigError, match=r"exactly-once.*needs checkpointing in EXACTLY_ONCE"):
        env.execute("crash-job")


def test_at_least_once_mode_restores_state_and_loses_nothing(tmp_path: Path, events_log: tuple[str, Log]) -> None:
    url, log = events_log
    env = make_env(tmp_path / "chk", mode=CheckpointingMode.AT_LEAST_ONCE)
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(1, 0))
    fail = FailOnce(13_001)
    crash_job.build(env, url, guarantee=DeliveryGuarantee.AT_LEAST_ONCE, wrap=lambda s: s.map(fail).uid("f"))
    result = env.execute("crash-job")
    assert result.restarts == 1
    got = [v["i"] for vs in crash_job.topic_values(log, "passthrough").values() for v in vs]
    assert set(got) == set(range(20_000))  # nothing lost
    assert len(got) > 20_000  # replayed since the checkpoint: duplicates are allowed
    # offsets committed to the group when checkpoints complete (no exactly-once sink: step 5)
    assert sum(log.committed_offsets("crash-job", log.describe_topic("events").partitions_list()).values()) == 20_000


def test_run_options_from_environment_variables(
    tmp_path: Path, events_log: tuple[str, Log], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``millstream run`` sets for a pipeline file: job id and checkpoint directory."""
    url, _log = events_log
    monkeypatch.setenv("MILLSTREAM_JOB_ID", "from-env")
    monkeypatch.setenv("MILLSTREAM_CHECKPOINT_DIR", str(tmp_path / "env-chk"))
    env = StreamExecutionEnvironment.get_execution_environment()
    env.enable_checkpointing(1000, CheckpointingMode.EXACTLY_ONCE)
    crash_job.build(env, url)
    env.execute("some name")
    from millstream.runtime.checkpoint_storage import CheckpointStorage

    assert CheckpointStorage(tmp_path / "env-chk", "from-env").completed_ids()


def test_exponential_delay_reset_threshold(tmp_path: Path, events_log: tuple[str, Log]) -> None:
    url, _log = events_log
    env = make_env(tmp_path / "chk")
    env.set_restart_strategy(RestartStrategies.exponential_delay_restart(1, 4, 2.0, reset_backoff_threshold=0))
    fails = [FailOnce(3_001), FailOnce(9_001), FailOnce(15_001)]

    def wrap(s: Any) -> Any:
        for i, f in enumerate(fails):
            s = s.map(f).uid(f"f{i}")
        return s

    crash_job.build(env, url, wrap=wrap)
    result = env.execute("crash-job")
    assert result.restarts == 3
    assert all(f.failed for f in fails)
    # with a reset threshold of 0 ms every attempt 'ran long enough': each delay is the initial one
    assert sum("in 1 ms" in w for w in result.checkpoints.warnings) == 3


class AckLaterLog(MemoryLog):
    """A log whose sink writes (``append_nowait``) become durable only at ``flush_writes`` — like Kafka's
    asynchronous producer — and which records whether group offsets were ever committed while writes were
    still unacknowledged."""

    def __init__(self) -> None:
        super().__init__()
        self.unacked: list[tuple[str, int, list[Any]]] = []
        self.commits = 0
        self.commits_with_unacked_writes = 0

    def append_nowait(self, topic: str, partition: int, records: Any) -> None:
        self.unacked.append((topic, partition, list(records)))

    def flush_writes(self) -> None:
        for topic, partition, records in self.unacked:
            self.append(topic, partition, records)
        self.unacked.clear()

    def commit_offsets(self, group: str, offsets: Any) -> None:
        self.commits += 1
        if self.unacked:
            self.commits_with_unacked_writes += 1
        super().commit_offsets(group, offsets)


def test_at_least_once_checkpoint_waits_for_unacknowledged_sink_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import millstream.log as logmod

    log = AckLaterLog()
    monkeypatch.setitem(logmod.BACKENDS, "acklater", lambda rest, options: log)
    crash_job.produce(log, 5_000)
    env = make_env(tmp_path / "chk", interval=1, batch=100, mode=CheckpointingMode.AT_LEAST_ONCE)
    crash_job.build(env, "acklater://", guarantee=DeliveryGuarantee.AT_LEAST_ONCE)
    env.execute("crash-job")
    assert log.commits > 1  # offsets were committed at several checkpoints ...
    assert log.commits_with_unacked_writes == 0  # ... never ahead of acknowledged output
    got = [v["i"] for vs in crash_job.topic_values(log, "passthrough").values() for v in vs]
    assert sorted(got) == list(range(5_000))
