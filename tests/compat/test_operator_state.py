"""Non-keyed operator state (``CheckpointedFunction``): the store's contract, checkpoint/restore across
kill -9, and redistribution when the parallelism changes (list state in even ranges, union state to all)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from millstream import StreamExecutionEnvironment
from millstream.functions import CheckpointedFunction, MapFunction
from millstream.log import open_log
from millstream.state import ListStateDescriptor, OperatorStateStore, ValueStateDescriptor
from millstream.stream.errors import JobConfigError
from millstream.stream.operator_state import SPLIT, UNION, redistribute

sys.path.insert(0, str(Path(__file__).parent))
import operator_state_job


def test_store_hands_out_list_and_union_state_and_snapshots_them() -> None:
    store = OperatorStateStore()
    seen = store.get_list_state(ListStateDescriptor("seen"))
    union = store.get_union_list_state(ListStateDescriptor("all"))
    seen.add(1)
    seen.add_all([2, 3])
    union.update(["a"])
    assert store.get_list_state(ListStateDescriptor("seen")) is seen
    assert list(seen) == [1, 2, 3] and seen.get() == [1, 2, 3]
    assert store.snapshot() == {"seen": (SPLIT, [1, 2, 3]), "all": (UNION, ["a"])}
    with pytest.raises(JobConfigError, match="already registered as list state"):
        store.get_union_list_state(ListStateDescriptor("seen"))
    with pytest.raises(JobConfigError, match="ListStateDescriptor"):
        store.get_list_state(ValueStateDescriptor("v"))  # type: ignore[arg-type]
    with pytest.raises(JobConfigError, match="None"):
        seen.add(None)
    seen.clear()
    assert seen.get() == []


def test_restored_state_is_kept_until_asked_for_and_its_mode_must_match() -> None:
    store = OperatorStateStore({"old": (SPLIT, [1]), "u": (UNION, [2])})
    assert store.snapshot() == {"old": (SPLIT, [1]), "u": (UNION, [2])}
    with pytest.raises(JobConfigError, match="checkpointed as union list state"):
        store.get_list_state(ListStateDescriptor("u"))


def test_redistribution_splits_list_state_in_even_ranges_and_gives_union_state_to_all() -> None:
    old = [{"l": (SPLIT, [0, 1, 2, 3]), "u": (UNION, ["a"])}, {"l": (SPLIT, [4, 5, 6]), "u": (UNION, ["b"])}]
    parts = [redistribute(old, i, 3) for i in range(3)]
    assert [p["l"] for p in parts] == [(SPLIT, [0, 1, 2]), (SPLIT, [3, 4]), (SPLIT, [5, 6])]
    assert all(p["u"] == (UNION, ["a", "b"]) for p in parts)
    assert redistribute(old, 0, 1) == {"l": (SPLIT, list(range(7))), "u": (UNION, ["a", "b"])}
    assert redistribute([None, old[1]], 1, 2) == {"l": (SPLIT, [6]), "u": (UNION, ["b"])}


class Lifecycle(MapFunction, CheckpointedFunction):
    calls: list[str] = []

    def initialize_state(self, context: Any) -> None:
        Lifecycle.calls.append(f"initialize restored={context.is_restored()}")
        self.state = context.get_operator_state_store().get_list_state(ListStateDescriptor("n"))

    def open(self, runtime_context: Any) -> None:
        Lifecycle.calls.append("open")

    def snapshot_state(self, context: Any) -> None:
        Lifecycle.calls.append("snapshot")
        assert isinstance(context.get_checkpoint_timestamp(), int)

    def map(self, value: Any) -> Any:
        self.state.add(value)
        return value

    def close(self) -> None:
        Lifecycle.calls.append("close")


def test_initialize_state_runs_before_open_and_snapshot_state_before_each_checkpoint(tmp_path: Path) -> None:
    Lifecycle.calls = []
    env = StreamExecutionEnvironment.get_execution_environment()
    env.enable_checkpointing(60_000)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "chk"))
    out = env.from_collection([1, 2, 3]).map(Lifecycle()).uid("life").execute_and_collect()
    assert list(out) == [1, 2, 3]
    assert Lifecycle.calls == ["initialize restored=False", "open", "snapshot", "close"]


def test_keyed_state_on_a_non_keyed_map_points_to_operator_state() -> None:
    class AsksForState(MapFunction):
        def open(self, runtime_context: Any) -> None:
            runtime_context.get_list_state(ListStateDescriptor("x"))

        def map(self, value: Any) -> Any:
            return value

    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection([1]).map(AsksForState()).print()
    with pytest.raises(Exception, match="CheckpointedFunction"):
        env.execute()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_operator_state_is_exactly_once_across_kill_9(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/log"
    log = open_log(url)
    operator_state_job.produce(log)
    job = Path(operator_state_job.__file__)
    kills = 0
    committed = 0
    for delay in (0.05, 0.15, 0.1):
        proc = subprocess.Popen(
            [sys.executable, str(job), url, str(tmp_path / "chk")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60  # kill once this run has committed output (a checkpoint)
        while proc.poll() is None and log.latest_offset("out", 0) <= committed and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        if proc.poll() is not None:
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        committed = log.latest_offset("out", 0)
    final = subprocess.run(
        [sys.executable, str(job), url, str(tmp_path / "chk")], capture_output=True, text=True, timeout=240
    )
    assert final.returncode == 0, final.stderr
    out = operator_state_job.values(log, "out")
    log.close()
    assert kills >= 2
    assert out == [{"i": i, "n": i + 1} for i in range(operator_state_job.EVENTS)]


def _record(tmp_path: Path, parallelism: int, run: str) -> dict[int, Any]:
    out_dir = tmp_path / run
    out_dir.mkdir()
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    env.enable_checkpointing(60_000)
    env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "chk"))
    elements = env.from_collection(list(range(40))).uid("numbers").rebalance()
    elements.map(operator_state_job.Recorder(str(out_dir))).uid("recorder").filter(lambda _v: False).print()
    env.execute("recorder", job_id="recorder")
    return {int(p.stem.split("-")[1]): json.loads(p.read_text()) for p in out_dir.glob("restored-*.json")}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_rescaling_splits_list_state_and_unions_union_state(tmp_path: Path) -> None:
    assert _record(tmp_path, 2, "first") == {}  # nothing restored
    restored = _record(tmp_path, 3, "second")  # the final checkpoint of the first run, at parallelism 3
    assert sorted(restored) == [0, 1, 2]
    sizes = [len(restored[i]["seen"]) for i in range(3)]
    assert sizes == [14, 13, 13]  # 40 elements in even ranges
    assert sorted(e for i in range(3) for e in restored[i]["seen"]) == list(range(40))
    assert all(sorted(restored[i]["subtasks"]) == [0, 1] for i in range(3))  # every old subtask's index
    # the second run's state (its source resumed at its end: no new elements) restored into one process
    restored = _record(tmp_path, 1, "third")
    assert sorted(restored[0]["seen"]) == list(range(40))
    assert sorted(restored[0]["subtasks"]) == [0, 1, 2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_at_the_same_parallelism_list_state_stays_and_union_state_goes_to_all(tmp_path: Path) -> None:
    """As Flink restores it: each subtask gets its own list state back, and every subtask the whole union."""
    assert _record(tmp_path, 2, "first") == {}
    restored = _record(tmp_path, 2, "second")
    assert sorted(restored) == [0, 1]
    assert sorted(e for i in range(2) for e in restored[i]["seen"]) == list(range(40))
    assert [len(restored[i]["seen"]) for i in range(2)] == [20, 20]  # rebalance: each kept its own 20
    assert all(sorted(restored[i]["subtasks"]) == [0, 1] for i in range(2))


def test_broadcast_unions_keeps_list_state_and_unions_union_state() -> None:
    from millstream.stream.operator_state import broadcast_unions

    old = [{"l": (SPLIT, [0, 1]), "u": (UNION, ["a"])}, {"l": (SPLIT, [2]), "u": (UNION, ["b"])}]
    assert broadcast_unions(old) == [
        {"l": (SPLIT, [0, 1]), "u": (UNION, ["a", "b"])},
        {"l": (SPLIT, [2]), "u": (UNION, ["a", "b"])},
    ]
    assert broadcast_unions([{"l": (SPLIT, [1])}, None]) is None  # no union state: nothing changes


def test_operator_state_on_a_keyed_operator_is_refused() -> None:
    from millstream.functions import KeyedProcessFunction

    class KeyedCheckpointed(KeyedProcessFunction, CheckpointedFunction):
        def initialize_state(self, context: Any) -> None:
            pass

        def snapshot_state(self, context: Any) -> None:
            pass

        def process_element(self, value: Any, ctx: Any) -> Any:
            yield value

    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection([1]).key_by(lambda v: v).process(KeyedCheckpointed()).print()
    with pytest.raises(JobConfigError, match="non-keyed process only"):
        env.execute()
