"""Two-phase-commit sinks: the exactly-once file sink (stage, rename on checkpoint completion) across
failures and restarts, and the call sequence a connector author's ``TwoPhaseCommitSink`` sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_checkpoints import FailOnce

from millstream import StreamExecutionEnvironment
from millstream.connectors import FileSink
from millstream.runtime.two_phase import TwoPhaseCommitSink, committed_lines
from millstream.stream.errors import JobConfigError, JobFailedError
from millstream.stream.restart import RestartStrategies


def file_job(tmp_path: Path, out: Path, fail: Any, n: int = 5_000) -> StreamExecutionEnvironment:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(100)
    env.enable_checkpointing(1)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "chk"))
    (
        env.from_collection([{"i": i} for i in range(n)])
        .uid("numbers")
        .map(fail)
        .key_by(lambda e: e["i"] % 7)
        .reduce(lambda a, b: {"i": b["i"], "sum": a.get("sum", a["i"]) + b["i"]})
        .uid("sums")
        .sink_to(FileSink.for_path(str(out), "json", delivery_guarantee="exactly-once"))
        .uid("files")
    )
    return env


def expected_lines(tmp_path: Path, n: int = 5_000) -> list[str]:
    env = file_job(tmp_path / "ref", tmp_path / "ref-out", FailOnce(-1), n)
    env.execute("ref")
    return committed_lines(tmp_path / "ref-out")


def test_file_sink_commits_part_files_exactly_once_across_a_failure_and_a_restart(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = file_job(tmp_path, out, FailOnce(3_001))
    with pytest.raises(JobFailedError):
        env.execute("files")
    before = committed_lines(out)
    assert 0 < len(before) < 5_000  # checkpoints committed part of the output, the rest was staged
    assert not list((out / ".staging").iterdir())  # the open transaction was aborted when the job failed
    (out / ".staging" / "files-00000000000000000001-1.inprogress").write_text("left by a killed run\n")
    env = file_job(tmp_path, out, FailOnce(-1))
    result = env.execute("files")
    assert isinstance(result.checkpoints.restored_from, int)
    assert committed_lines(out) == expected_lines(tmp_path)
    assert not list((out / ".staging").iterdir())  # leftovers of the failed run were discarded


def test_file_sink_with_in_process_restart(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = file_job(tmp_path, out, FailOnce(2_500))
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(1, 0))
    assert env.execute("files").restarts == 1
    assert committed_lines(out) == expected_lines(tmp_path)


def test_exactly_once_file_sink_needs_checkpointing(tmp_path: Path) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection([1]).sink_to(FileSink.for_path(str(tmp_path / "o"), delivery_guarantee="exactly-once"))
    with pytest.raises(JobConfigError, match="needs checkpointing"):
        env.execute()


class Recording(TwoPhaseCommitSink):
    """A connector author's sink that records the protocol calls and 'publishes' on commit."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.published: list[Any] = []
        self.txns: dict[int, list[Any]] = {}
        self.n = 0

    def begin_transaction(self) -> int:
        self.n += 1
        self.txns[self.n] = []
        self.calls.append(("begin", self.n))
        return self.n

    def write(self, txn: int, values: list[Any], timestamps: list[Any]) -> None:
        self.txns[txn].extend(values)

    def pre_commit(self, txn: int) -> None:
        self.calls.append(("pre_commit", txn))

    def commit(self, txn: int) -> None:
        self.calls.append(("commit", txn))
        self.published.extend(self.txns.pop(txn, []))

    def abort(self, txn: int) -> None:
        self.calls.append(("abort", txn))
        self.txns.pop(txn, None)


def test_two_phase_commit_sink_protocol(tmp_path: Path) -> None:
    sink = Recording()
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_batch_size(10)
    env.enable_checkpointing(1)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "chk"))
    env.from_collection(list(range(100))).uid("n").sink_to(sink).uid("recording")
    result = env.execute("2pc")
    assert sink.published == list(range(100))
    # every commit follows its transaction's pre_commit; the transaction open at the end is aborted
    commits = [txn for name, txn in sink.calls if name == "commit"]
    assert commits
    for txn in commits:
        assert sink.calls.index(("pre_commit", txn)) < sink.calls.index(("commit", txn))
    assert sink.calls[-1][0] == "abort"
    assert result.checkpoints.completed >= 1


def test_a_subtask_never_discards_what_another_subtask_of_the_sink_commits(tmp_path: Path) -> None:
    """At parallelism 2 after a rescale, the first subtask holds every pre-committed transaction of the old
    subtasks (to commit at the next completed checkpoint) and the second holds none: the second's recovery must
    not discard the first's staged files (it did, and the committed output lost those lines)."""
    from millstream.runtime.two_phase import ExactlyOnceFileSink, TwoPhaseCommitSinkOperator

    desc = FileSink.for_path(str(tmp_path / "out"), "json", delivery_guarantee="exactly-once")

    def subtask(index: int) -> TwoPhaseCommitSinkOperator:
        op = TwoPhaseCommitSinkOperator("files", "files", ExactlyOnceFileSink(desc, "files"))
        op.subtask_index, op.parallelism = index, 2
        op.open()
        return op

    old = subtask(1)  # the attempt before: a checkpoint completed, its commit never reached this subtask
    old.process([{"i": 1}, {"i": 2}], [None, None], [0, 0], 0)
    old.pre_commit(7)
    merged = TwoPhaseCommitSinkOperator.merge_snapshots([old.snapshot()], None)
    first, second = subtask(0), subtask(1)
    first.restore(merged)
    second.process([{"i": 3}], [None], [0], 0)  # the second subtask starts writing first
    first.process([{"i": 4}], [None], [0], 0)
    for op in (first, second):
        op.pre_commit(8)
        op.notify_checkpoint_complete(8)
    assert sorted(committed_lines(tmp_path / "out")) == ['{"i":1}', '{"i":2}', '{"i":3}', '{"i":4}']
