"""Checkpoints of parallel jobs: aligned barriers across worker processes, exactly-once output through
failover after kill -9, savepoints restored at another parallelism (rescaling)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from millstream import RestartStrategies, StreamExecutionEnvironment
from millstream.log import open_log
from millstream.runtime.checkpointing import StateRestoreError
from millstream.runtime.job import make_runner
from millstream.runtime.two_phase import committed_lines

from . import crash_job
from .conftest import events_source, write_events

N = 6000


def committed(log_url: str, out_dir: Path) -> tuple[list[Any], list[Any]]:
    """The committed output of the crash job: window rows (log topic) and running counts (file parts), sorted."""
    rows = []
    with open_log(log_url) as log:
        for p in range(log.describe_topic("windows").partitions):
            for r in log.read("windows", p, 0, max_records=1_000_000):
                rows.append(orjson.loads(r.value))
    counts = [orjson.loads(line) for line in committed_lines(out_dir)] if out_dir.exists() else []
    key = orjson.dumps
    return sorted(rows, key=key), sorted(counts, key=key)


def setup(tmp: Path, name: str) -> tuple[str, Path, Path]:
    url = f"file://{tmp}/{name}/log"
    write_events(url, "events", 4, N)
    with open_log(url) as log:
        log.create_topic("windows", 2)
    return url, tmp / name / "counts", tmp / name / "ckpt"


def run(url: str, out: Path, ckpt: Path, parallelism: int, **kw: Any) -> Any:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(ckpt))
    crash_job.build(env, url, str(out), **kw)
    return env.execute("crash job", job_id="crash-job")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], list[Any]]:
    """The uninterrupted parallelism-1 run's committed output."""
    tmp = tmp_path_factory.mktemp("reference")
    url, out, ckpt = setup(tmp, "p1")
    run(url, out, ckpt, 1)
    rows, counts = committed(url, out)
    assert len(rows) > 100 and len(counts) > 50
    return rows, counts


def test_checkpointed_parallel_job_commits_exactly_the_reference_output(
    tmp_path: Path, reference: tuple[list[Any], list[Any]]
) -> None:
    url, out, ckpt = setup(tmp_path, "p3")
    # throttled to last a few intervals: with workers forked in milliseconds the job could end before the first
    # periodic checkpoint, and this test is about periodic ones as much as the final one
    result = run(url, out, ckpt, 3, interval_ms=100, pause_s=0.0003)
    assert result.checkpoints.completed >= 2  # periodic ones and the final one
    assert committed(url, out) == reference


@pytest.mark.parametrize("kills", [4, pytest.param(20, marks=pytest.mark.slow)])
def test_kill_9_of_random_workers_loses_and_duplicates_nothing(
    tmp_path: Path, reference: tuple[list[Any], list[Any]], no_orphans: list[Any], kills: int
) -> None:
    """The issue's bar at parallelism 3 (windows, keyed process state, exactly-once log and file sinks): the
    committed output after ``kills`` kill -9s of random workers equals the uninterrupted parallelism-1 run's."""
    url, out, ckpt = setup(tmp_path, "kills")
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(3)
    env.set_batch_size(100)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(ckpt))
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(100, 50))
    crash_job.build(env, url, str(out), interval_ms=100, pause_s=0.0005)  # ~1 s per attempt: kills land in it
    client = env.execute_async("crash job", job_id="crash-job")
    runner = client.runner
    no_orphans.append(runner)
    rnd = random.Random(kills)
    done = 0
    deadline = time.monotonic() + 240
    while done < kills and not client.wait(0) and time.monotonic() < deadline:
        time.sleep(rnd.uniform(0.3, 0.8))
        pids = list(runner.worker_pids)
        if runner.status == "RUNNING" and pids:
            try:
                os.kill(rnd.choice(pids), signal.SIGKILL)
                done += 1
            except ProcessLookupError:
                pass
    assert client.wait(120)
    result = client.get_job_execution_result()
    print(f"{done} kill -9s, {result.restarts} restarts, {result.checkpoints.completed} checkpoints completed")
    assert result.restarts >= done // 2  # (a kill landing on a worker of a failing attempt adds none)
    assert committed(url, out) == reference


@pytest.mark.parametrize("restore_at", [3, 1])
def test_savepoint_at_parallelism_2_restores_at_another(
    tmp_path: Path, reference: tuple[list[Any], list[Any]], restore_at: int
) -> None:
    """Rescaling: keyed window contents, keyed state, source positions and pre-committed file transactions move
    to the subtasks owning them; the output is the uninterrupted run's."""
    _savepoint_then_restore(tmp_path, reference, f"rescale{restore_at}", restore_at, StreamExecutionEnvironment)


def _savepoint_then_restore(
    tmp_path: Path, reference: tuple[list[Any], list[Any]], name: str, restore_at: int, make_env: Any
) -> set[str]:
    """Run the crash job at parallelism 2 until a savepoint committed part of its output, cancel it, restore
    the savepoint at ``restore_at`` and check the output is the reference; the RocksDB databases seen meanwhile."""
    url, out, ckpt = setup(tmp_path, name)
    env = make_env.get_execution_environment()
    env.set_parallelism(2)
    env.set_batch_size(50)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(ckpt))
    crash_job.build(env, url, str(out), bounded=False, interval_ms=60_000, pause_s=0.0005)
    client = env.execute_async("crash job", job_id="crash-job")
    databases: set[str] = set()
    for attempt in range(100):  # savepoints until one has committed some output (the job started)
        time.sleep(0.2)
        savepoint = client.trigger_savepoint(str(tmp_path / f"savepoint-{attempt}"), timeout=60)
        databases |= {p.parent.parent.parent.name for p in ckpt.glob("*/.work/rocksdb-w*/op-*/db/CURRENT")}
        if committed(url, out)[0]:
            break
    client.cancel()
    first = committed(url, out)
    assert 0 < len(first[0]) < len(reference[0])  # part of the output, committed by the savepoint
    env = make_env.get_execution_environment()
    env.set_parallelism(restore_at)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(ckpt) + "-restored")
    crash_job.build(env, url, str(out))
    env.execute("crash job", job_id="crash-job-restored", from_savepoint=savepoint)
    got = committed(url, out)
    for mine, want in zip(got, reference, strict=True):
        g, w = Counter(map(orjson.dumps, mine)), Counter(map(orjson.dumps, want))
        assert g == w, f"missing {sorted((w - g).elements())[:5]}, extra {sorted((g - w).elements())[:5]}"
    return databases


def test_a_changed_max_parallelism_is_refused_on_restore(tmp_path: Path) -> None:
    url, out, ckpt = setup(tmp_path, "maxp")
    run(url, out, ckpt, 2)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2).set_max_parallelism(64)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(ckpt))
    crash_job.build(env, url, str(out))
    env.config.job_id = "crash-job"
    runner = make_runner(env, env._take_sinks(), "crash job", None)
    with pytest.raises(StateRestoreError, match=r"had max parallelism 128, the job now has 64") as info:
        runner.run()
    assert "set_max_parallelism(128)" in str(info.value)


def test_stop_takes_a_final_checkpoint_and_a_restart_resumes_from_it(
    tmp_path: Path, reference: tuple[list[Any], list[Any]], no_orphans: list[Any]
) -> None:
    """Flink's stop at parallelism 2: sources end where they are, a final checkpoint commits the output so far;
    the job started again with the same id resumes there, and the output is the uninterrupted run's."""
    from millstream.observe import Monitoring

    from ..observe._support import get

    url, out, ckpt = setup(tmp_path, "stop")
    with Monitoring(0) as mon:  # (the workers report records read: the stop comes once the job is under way)
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(2)
        env.get_checkpoint_config().set_checkpoint_storage_dir(str(ckpt))
        crash_job.build(env, url, str(out), bounded=False, interval_ms=60_000, pause_s=0.0005)
        client = env.execute_async("crash job", job_id="crash-job")
        no_orphans.append(client.runner)
        deadline = time.monotonic() + 120
        read = 0
        while read < N // 4:  # a quarter of the input read (the whole takes about 1.5 s per subtask)
            assert time.monotonic() < deadline, f"the job read only {read} records"
            time.sleep(0.1)
            _status, detail = get(f"{mon.url}/jobs/{client.jid}")
            events = [v for v in detail.get("vertices", []) if v["name"] == "events"]
            read = events[0]["metrics"]["write-records"] if events else 0
        assert client.stop(60)
    result = client.get_job_execution_result()
    assert result.checkpoints.completed == 1  # the final one
    first = committed(url, out)
    assert 0 < len(first[0]) < len(reference[0])
    run(url, out, ckpt, 2)  # the same job id: resumes from the final checkpoint
    assert committed(url, out) == reference


# -- PyFlink's checkpoint settings at parallelism > 1 -----------------------------------------------------------


def test_min_pause_spaces_the_checkpoints_of_a_parallel_job(tmp_path: Path, no_orphans: list[Any]) -> None:
    def completed(pause_ms: int) -> int:
        url, out, ckpt = setup(tmp_path, f"pause-{pause_ms}")
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(2)
        env.get_checkpoint_config().set_checkpoint_storage_dir(str(ckpt))
        crash_job.build(env, url, str(out), interval_ms=20, pause_s=0.0003)  # about 2 s of input
        env.set_batch_size(64)  # barriers pass between batches: small ones give them many chances (4096: ~1 s each)
        env.get_checkpoint_config().set_min_pause_between_checkpoints(pause_ms)
        return int(env.execute("crash job", job_id="crash-job").checkpoints.completed)

    assert completed(60_000) <= 2 < completed(0)  # (with the pause: the first and the final one at most)


def test_more_failed_checkpoints_than_tolerable_fail_a_parallel_job(tmp_path: Path, no_orphans: list[Any]) -> None:
    from millstream.stream.errors import JobFailedError

    url, out, ckpt = setup(tmp_path, "tolerable")
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(ckpt))
    crash_job.build(env, url, str(out), bounded=False, interval_ms=50, pause_s=0.0005)
    env.get_checkpoint_config().set_tolerable_checkpoint_failure_number(1)
    client = env.execute_async("crash job", job_id="crash-job")
    no_orphans.append(client.runner)
    deadline = time.monotonic() + 60
    while not list(ckpt.glob("*/chk-*")):
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.05)
    job_dir = next(ckpt.glob("*/chk-*")).parent
    shutil.rmtree(job_dir, ignore_errors=True)  # the job's checkpoint directory becomes a file: every write fails
    job_dir.write_text("not a directory")
    assert client.wait(60)
    with pytest.raises(JobFailedError, match="2 checkpoints in a row failed, more than the tolerable 1"):
        client.get_job_execution_result()


# -- the RocksDB state backend at parallelism > 1 ----------------------------------------------------------------


def _rocksdb(env: StreamExecutionEnvironment) -> StreamExecutionEnvironment:
    from millstream.state import EmbeddedRocksDBStateBackend

    env.set_state_backend(EmbeddedRocksDBStateBackend())
    return env


def test_rocksdb_state_at_parallelism_3_survives_kill_9s_and_lives_beside_the_checkpoints(
    tmp_path: Path, reference: tuple[list[Any], list[Any]], no_orphans: list[Any]
) -> None:
    """Windows and keyed state in RocksDB in every worker, canonical checkpoints, 4 kill -9s: the committed
    output is the reference, and no RocksDB file is left behind."""
    url, out, ckpt = setup(tmp_path, "rocks-kills")
    env = _rocksdb(StreamExecutionEnvironment.get_execution_environment())
    env.set_parallelism(3)
    env.set_batch_size(100)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(ckpt))
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(100, 50))
    crash_job.build(env, url, str(out), interval_ms=100, pause_s=0.0005)
    client = env.execute_async("crash job", job_id="crash-job")
    runner = client.runner
    no_orphans.append(runner)
    rnd = random.Random(3)
    done = 0
    deadline = time.monotonic() + 240
    while done < 4 and not client.wait(0) and time.monotonic() < deadline:
        time.sleep(rnd.uniform(0.3, 0.8))
        pids = list(runner.worker_pids)
        if runner.status == "RUNNING" and pids:
            try:
                os.kill(rnd.choice(pids), signal.SIGKILL)
                done += 1
            except ProcessLookupError:
                pass
    assert client.wait(120)
    result = client.get_job_execution_result()
    assert result.restarts >= 1  # (kills landing while an attempt restarts add none)
    assert committed(url, out) == reference
    left = [p for p in ckpt.glob("*/.work/rocksdb-w*") if p.exists()]
    assert not [p for p in left if any(p.iterdir())], f"RocksDB files left behind: {left}"


@pytest.mark.parametrize("restore_at", [3, 1])
def test_rocksdb_savepoint_at_parallelism_2_restores_at_another(
    tmp_path: Path, reference: tuple[list[Any], list[Any]], restore_at: int
) -> None:
    """RocksDB state (each worker's databases under the job's checkpoint directory while it runs) checkpointed by
    key (canonical format) moves to the subtasks owning its key groups — and to the single-process runtime's
    RocksDB backend at parallelism 1."""

    class RocksEnv:
        @staticmethod
        def get_execution_environment() -> StreamExecutionEnvironment:
            return _rocksdb(StreamExecutionEnvironment.get_execution_environment())

    databases = _savepoint_then_restore(tmp_path, reference, f"rocks-rescale{restore_at}", restore_at, RocksEnv)
    assert len(databases) == 2, databases  # one directory per worker


def test_an_incremental_rocksdb_checkpoint_of_parallelism_1_is_refused_at_parallelism_2(tmp_path: Path) -> None:
    url, out, ckpt = setup(tmp_path, "rocks-p1")
    env = _rocksdb(StreamExecutionEnvironment.get_execution_environment())
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(ckpt))
    crash_job.build(env, url, str(out))
    env.execute("crash job", job_id="crash-job")
    env = _rocksdb(StreamExecutionEnvironment.get_execution_environment())
    env.set_parallelism(2)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(ckpt))
    crash_job.build(env, url, str(out))
    with pytest.raises(Exception, match="checkpointed incrementally by a job running with parallelism 1") as info:
        env.execute("crash job", job_id="crash-job")
    assert "restore it at parallelism 1" in str(info.value)


def test_parallel_state_of_one_backend_is_refused_by_the_other(tmp_path: Path) -> None:
    url, out, ckpt = setup(tmp_path, "switch")
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(ckpt))
    crash_job.build(env, url, str(out))
    env.execute("crash job", job_id="crash-job")
    env = _rocksdb(StreamExecutionEnvironment.get_execution_environment())
    env.set_parallelism(2)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(ckpt))
    crash_job.build(env, url, str(out))
    with pytest.raises(Exception, match=r"checkpointed by the in-memory state backend .* now runs with RocksDB"):
        env.execute("crash job", job_id="crash-job")


def test_a_checkpoint_larger_than_a_socket_buffer_completes_without_other_traffic(
    tmp_path: Path, no_orphans: list[Any]
) -> None:
    """A worker's acknowledgement carries its exactly-once output records; when it is larger than the socket's
    buffer, the rest goes out as the coordinator reads it — not only when the worker next sends something else
    (without metrics or collected results there is nothing else, and the final checkpoint waited forever)."""
    import threading

    from millstream import CheckpointingMode
    from millstream.connectors import DeliveryGuarantee, LogSink

    url = f"file://{tmp_path}/log"
    n = 8000
    write_events(url, "events", 2, n)
    with open_log(url) as log:
        log.create_topic("padded", 2)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(600_000, CheckpointingMode.EXACTLY_ONCE)  # only the final one: all output in it
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "ckpt"))
    source = events_source(url)
    pad = "x" * 2000  # 8000 rows of 2 KB: 8 MB per worker, more than any socket buffer here
    sink = LogSink.builder().set_log(url).set_topic("padded")
    sink = sink.set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
    env.from_source(source, None, "events").map(lambda e: {"i": e["i"], "pad": pad}).sink_to(sink.build())
    runner = make_runner(env, env._take_sinks(), "big checkpoint", None)
    no_orphans.append(runner)
    done: list[Any] = []
    t = threading.Thread(target=lambda: done.append(runner.run()), daemon=True)
    t.start()
    t.join(120)
    if t.is_alive():
        runner.cancel()
        t.join(30)
        pytest.fail("the final checkpoint never completed: the rest of a worker's acknowledgement was never sent")
    with open_log(url) as log:
        got = sorted(orjson.loads(r.value)["i"] for p in range(2) for r in log.read("padded", p, 0, max_records=n + 1))
    assert got == list(range(n))
