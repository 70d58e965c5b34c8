"""Bad input and faults: corrupt or truncated checkpoints, a checkpoint directory of another job, a full
disk while checkpointing, and state whose schema changed between versions."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import crash_job
import pytest
from test_checkpoints import FailOnce, make_env

from millstream import StreamExecutionEnvironment
from millstream.core.errors import CheckpointError
from millstream.functions import KeyedProcessFunction
from millstream.log import Log
from millstream.runtime.checkpoint_storage import CheckpointStorage, ForeignCheckpointError, job_dir_name
from millstream.runtime.checkpointing import StateRestoreError
from millstream.state import ListStateDescriptor, ValueStateDescriptor
from millstream.stream.errors import JobFailedError
from millstream.testing import CollectingSink


class FailAfterCheckpoints:
    """Raises once, at the first element from ``at`` on that comes after ``n`` completed checkpoints of the
    job (until then it slows down, 2 ms an element, so that they complete): a failure with at least ``n``
    checkpoints to fall back on, however fast the job runs."""

    def __init__(self, storage: CheckpointStorage, at: int, n: int = 2) -> None:
        self.storage, self.at, self.n = storage, at, n
        self.failed = False

    def __call__(self, e: Any) -> Any:
        if e["i"] >= self.at and not self.failed:
            if len(self.storage.completed_ids()) < self.n:
                time.sleep(0.002)
                return e
            self.failed = True
            raise RuntimeError("injected failure")
        return e


def fail_midway(tmp_path: Path, url: str, job_id: str = "crash-job") -> list[int]:
    env = make_env(tmp_path / "chk")
    fail = FailAfterCheckpoints(CheckpointStorage(tmp_path / "chk", job_id), 15_001)
    crash_job.build(env, url, wrap=lambda s: s.map(fail).uid("fail-once"))
    with pytest.raises(JobFailedError):
        env.execute("crash-job", job_id=job_id)
    return CheckpointStorage(tmp_path / "chk", job_id).completed_ids()


@pytest.mark.parametrize("damage", ["truncate-state", "corrupt-state", "truncate-manifest", "delete-state"])
def test_a_corrupt_or_truncated_checkpoint_falls_back_to_the_previous_one(
    tmp_path: Path, events_log: tuple[str, Log], damage: str
) -> None:
    url, log = events_log
    ids = fail_midway(tmp_path, url)
    assert len(ids) >= 2
    newest = CheckpointStorage(tmp_path / "chk", "crash-job").path_of(ids[-1])
    state, manifest = newest / "state.bin", newest / "_metadata"
    if damage == "truncate-state":
        state.write_bytes(state.read_bytes()[:-10])
    elif damage == "corrupt-state":
        data = bytearray(state.read_bytes())
        data[len(data) // 2] ^= 0xFF
        state.write_bytes(bytes(data))
    elif damage == "truncate-manifest":
        manifest.write_bytes(manifest.read_bytes()[:40])
    else:
        state.unlink()
    env = make_env(tmp_path / "chk")
    fail = FailOnce(-1)
    crash_job.build(env, url, wrap=lambda s: s.map(fail).uid("fail-once"))
    result = env.execute("crash-job")
    summary = result.checkpoints
    assert summary.restored_from == ids[-2]
    text = " ".join(summary.warnings)
    assert f"checkpoint {ids[-1]} is unusable" in text and "falling back" in text
    assert "produced again" in text  # the committed checkpoint was lost: says that output repeats
    got = [v["i"] for vs in crash_job.topic_values(log, "passthrough").values() for v in vs]
    assert set(got) == set(range(20_000))  # nothing lost (duplicates are expected and announced)


def test_a_checkpoint_directory_of_another_job_is_refused(tmp_path: Path, events_log: tuple[str, Log]) -> None:
    url, _log = events_log
    fail_midway(tmp_path, url, job_id="job-a")
    job_a_dir = tmp_path / "chk" / job_dir_name("job-a")

    # the storage pointed at job A's own directory
    env = make_env(job_a_dir)
    crash_job.build(env, url)
    with pytest.raises(ForeignCheckpointError, match=r"checkpoint directory of job 'job-a'"):
        env.execute("crash-job", job_id="job-b")

    # job A's directory copied to where job B's checkpoints go
    os.rename(job_a_dir, tmp_path / "chk" / job_dir_name("job-b"))
    env = make_env(tmp_path / "chk")
    crash_job.build(env, url)
    with pytest.raises(ForeignCheckpointError, match=r"holds checkpoints of job 'job-a', not of 'job-b'"):
        env.execute("crash-job", job_id="job-b")


@contextlib.contextmanager
def tiny_disk(path: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` at ``path`` (needs root); skips the test when it cannot be mounted."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {res.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


class Remember(KeyedProcessFunction):
    """Keeps every element of its key in list state (state that grows until the disk is full)."""

    def open(self, ctx: Any) -> None:
        self.seen = ctx.get_list_state(ListStateDescriptor("seen"))

    def process_element(self, value: Any, ctx: Any) -> Any:
        self.seen.add(value)
        yield value


def growing_job(chk: Path, n: int) -> tuple[StreamExecutionEnvironment, CollectingSink]:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(200)
    env.enable_checkpointing(1)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(chk))
    env.get_checkpoint_config().set_max_retained_checkpoints(1)
    sink = CollectingSink()
    (
        env.from_collection([(i, f"{i:0100d}") for i in range(n)])
        .uid("numbers")
        .key_by(lambda e: e[0] % 10)
        .process(Remember())
        .uid("remember")
        .sink_to(sink)
    )
    return env, sink


def test_disk_full_fails_the_checkpoint_and_the_job_keeps_running(tmp_path: Path) -> None:
    with tiny_disk(tmp_path / "disk", "400k") as disk:
        env, sink = growing_job(disk, 6_000)
        with pytest.raises(JobFailedError, match=r"final checkpoint failed.*disk is full"):
            env.execute("growing")
        # the job ran to its end although checkpoints failed: every element went through
        assert len(sink.values) == 6_000
        storage = CheckpointStorage(disk, "growing")
        ids = storage.completed_ids()
        assert ids, "the early, small checkpoints fitted"
        assert storage.latest_valid() is not None  # the last good checkpoint is intact
        assert not [p for p in storage.dir.iterdir() if p.name.startswith(".tmp-")]  # no half-written leftovers


def test_disk_full_summary_reports_failed_checkpoints(tmp_path: Path) -> None:
    with tiny_disk(tmp_path / "disk", "400k") as disk:
        env, _sink = growing_job(disk, 6_000)
        client = env.execute_async("growing")
        client.wait(60)
        summary = client.runner.summary
        assert summary.completed >= 1 and summary.failed >= 1
        failed = [s for s in summary.stats if s.status == "FAILED"]
        assert all("disk is full" in (s.error or "") for s in failed)
        assert any("continuing on the previous checkpoint" in w for w in summary.warnings)


class Counter(KeyedProcessFunction):
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def open(self, ctx: Any) -> None:
        d = ValueStateDescriptor("n") if self.kind == "value" else ListStateDescriptor("n")
        self.n = ctx.get_state(d) if self.kind == "value" else ctx.get_list_state(d)

    def process_element(self, value: Any, ctx: Any) -> Any:
        if self.kind == "value":
            self.n.update((self.n.value() or 0) + 1)
        else:
            self.n.add(value)
        yield value


def test_a_changed_state_schema_names_the_operator_and_the_state(tmp_path: Path) -> None:
    def job(kind: str) -> StreamExecutionEnvironment:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.enable_checkpointing(1000)
        env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "chk"))
        (
            env.from_collection(list(range(100)))
            .uid("numbers")
            .key_by(lambda x: x % 3)
            .process(Counter(kind))
            .uid("counter")
            .name("count per key")
            .sink_to(CollectingSink())
        )
        return env

    job("value").execute("schema")
    with pytest.raises(StateRestoreError) as info:
        job("list").execute("schema")
    msg = str(info.value)
    assert "'count per key' (uid 'counter')" in msg
    assert "state 'n' was value state in the restored checkpoint but is now declared as list state" in msg


def test_checkpoint_errors_are_millstream_errors() -> None:
    assert issubclass(StateRestoreError, CheckpointError) and issubclass(ForeignCheckpointError, CheckpointError)


def test_a_source_without_positions_says_it_starts_again(tmp_path: Path) -> None:
    data = tmp_path / "in.txt"
    data.write_text("a\nb\nc\n")
    for _ in range(2):
        env = StreamExecutionEnvironment.get_execution_environment()
        env.enable_checkpointing(1000)
        env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "chk"))
        sink = CollectingSink()
        env.read_text_file(str(data)).uid("lines").sink_to(sink)
        result = env.execute("files-in")
    assert sink.values == ["a", "b", "c"]
    assert any("cannot resume from a position" in w for w in result.checkpoints.warnings)
