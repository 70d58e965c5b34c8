"""The RocksDB state backend in jobs: checkpoints carry RocksDB checkpoint files (hard links: unchanged
SST files are shared between checkpoints), restarts restore from them, results equal the in-memory backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_checkpoints import FailOnce

from millstream import StreamExecutionEnvironment
from millstream.functions import KeyedProcessFunction
from millstream.runtime.checkpoint_storage import CheckpointStorage
from millstream.runtime.checkpointing import StateRestoreError
from millstream.state import EmbeddedRocksDBStateBackend, HashMapStateBackend, ListStateDescriptor, ValueStateDescriptor
from millstream.stream.restart import RestartStrategies
from millstream.testing import CollectingSink


class Stats(KeyedProcessFunction):
    """Per key: a running count (value state) and the last three values (list state)."""

    def open(self, ctx: Any) -> None:
        self.count = ctx.get_state(ValueStateDescriptor("count"))
        self.last = ctx.get_list_state(ListStateDescriptor("last"))

    def process_element(self, value: Any, ctx: Any) -> Any:
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        keep = ([*self.last.get(), value["i"]])[-3:]
        self.last.update(keep)
        yield (value["k"], n, keep)


def job(tmp_path: Path, backend: Any, fail: Any, n: int = 30_000) -> tuple[StreamExecutionEnvironment, CollectingSink]:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(500)
    env.enable_checkpointing(5)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "chk"))
    env.set_state_backend(backend)
    sink = CollectingSink()
    (
        env.from_collection([{"i": i, "k": i % 500} for i in range(n)])
        .uid("numbers")
        .map(fail)
        .uid("fail")
        .key_by(lambda e: e["k"])
        .process(Stats())
        .uid("stats")
        .sink_to(sink)
    )
    return env, sink


def test_rocksdb_job_restarts_from_its_checkpoint_with_the_results_of_the_in_memory_backend(tmp_path: Path) -> None:
    ref_env, ref = job(tmp_path / "ref", HashMapStateBackend(), FailOnce(-1))
    ref_env.execute("stats")
    env, sink = job(tmp_path, EmbeddedRocksDBStateBackend(), FailOnce(20_001))
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(1, 0))
    result = env.execute("stats")
    assert result.restarts == 1 and isinstance(result.checkpoints.restored_from, int)
    # the collecting sink is at-least-once: results replayed after the restore come twice; the last
    # result per key must equal the uninterrupted in-memory run's, and nothing may be missing
    assert set(map(repr, sink.values)) == set(map(repr, ref.values))
    last = {v[0]: v for v in sink.values}
    assert last == {v[0]: v for v in ref.values}


def test_rocksdb_checkpoints_are_stored_with_the_checkpoint(tmp_path: Path) -> None:
    env, _sink = job(tmp_path, EmbeddedRocksDBStateBackend(), FailOnce(-1), n=60_000)
    env.execute("stats")
    storage = CheckpointStorage(tmp_path / "chk", "stats")
    ids = storage.completed_ids()
    assert len(ids) >= 2
    for c in ids:
        assert list(storage.path_of(c).glob("att-*/*.sst")), "each checkpoint holds its RocksDB files"
    assert storage.latest_valid() is not None  # manifest sizes of the RocksDB files verified
    assert not (storage.dir / ".work").exists() or not any((storage.dir / ".work").iterdir())


def test_successive_rocksdb_snapshots_share_unchanged_sst_files(tmp_path: Path) -> None:
    from millstream.runtime.rocksdb_state import RocksDBKeyedStateBackend

    b = RocksDBKeyedStateBackend(tmp_path / "work")
    try:
        b.get_state(ValueStateDescriptor("v"))
        t = b.table("v")
        for i in range(10_000):
            t[i] = "x" * 50
        b.snapshot()
        first = b.attachment
        assert first is not None
        first.rename(tmp_path / "chk-1")
        t[10_001] = "y"
        b.snapshot()
        second = b.attachment
        assert second is not None
        ino1 = {p.stat().st_ino for p in (tmp_path / "chk-1").glob("*.sst")}
        ino2 = {p.stat().st_ino for p in second.glob("*.sst")}
        assert ino1 and ino1 <= ino2  # the second snapshot links the first one's files: no data copied
        assert len(ino2) > len(ino1)  # plus a small file with the change
    finally:
        b.close()


def test_switching_the_state_backend_is_a_clear_error(tmp_path: Path) -> None:
    env, _ = job(tmp_path, HashMapStateBackend(), FailOnce(-1), n=1_000)
    env.execute("stats")
    env, _ = job(tmp_path, EmbeddedRocksDBStateBackend(), FailOnce(-1), n=1_000)
    with pytest.raises(StateRestoreError, match="in-memory state backend, not by RocksDB"):
        env.execute("stats")
