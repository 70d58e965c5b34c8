"""A savepoint of a job whose keyed state is in RocksDB (checkpoint attachments are directories) is written
by ``millstream checkpoints savepoint`` and restored by another job."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from millstream import StreamExecutionEnvironment
from millstream.cli import cli
from millstream.state import EmbeddedRocksDBStateBackend
from millstream.testing import CollectingSink

pytest.importorskip("rocksdict")


def _job(chk: Path, items: list[tuple[str, int]]) -> tuple[StreamExecutionEnvironment, CollectingSink]:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.enable_checkpointing(60_000)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(chk))
    env.set_state_backend(EmbeddedRocksDBStateBackend())
    sink = CollectingSink()
    (
        env.from_collection(items)
        .uid("input")
        .key_by(lambda e: e[0])
        .reduce(lambda a, b: (a[0], a[1] + b[1]))
        .uid("sums")
        .sink_to(sink)
    )
    return env, sink


def test_rocksdb_savepoint_is_written_and_restored(tmp_path: Path) -> None:
    items = [("a", 1), ("b", 2), ("a", 3)]
    env, sink = _job(tmp_path / "chk", items)
    env.execute("sums", job_id="sums")
    assert sink.values == [("a", 1), ("b", 2), ("a", 4)]
    target = tmp_path / "savepoints" / "v1"
    result = CliRunner().invoke(
        cli, ["checkpoints", "savepoint", "--dir", str(tmp_path / "chk"), "--job-id", "sums", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert any(p.is_dir() and p.name.startswith("att-") for p in target.iterdir())
    env, sink = _job(tmp_path / "chk", [*items, ("a", 10)])
    env.execute("sums", job_id="sums-v2", from_savepoint=str(target))
    assert sink.values == [("a", 14)]  # the source resumes after 3 elements; a's sum continues from 4
