"""Async I/O (AsyncDataStream / AsyncFunction): order, capacity, timeouts, throughput, checkpointed
in-flight requests and exactly-once across kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from millstream import StreamExecutionEnvironment
from millstream.functions import AsyncDataStream, AsyncFunction
from millstream.log import open_log
from millstream.stream.errors import JobConfigError

sys.path.insert(0, str(Path(__file__).parent))
import async_crash_job


class Slow(AsyncFunction):
    def __init__(self, delay_s: float = 0.05, uneven: bool = True) -> None:
        self.delay_s = delay_s
        self.uneven = uneven
        self.active = 0
        self.peak = 0

    async def async_invoke(self, value: Any) -> list[Any]:
        self.active += 1
        self.peak = max(self.peak, self.active)
        # later elements finish sooner, so unordered results come out of order
        await asyncio.sleep(self.delay_s * (1 + (self.uneven and value % 7 == 0)))
        self.active -= 1
        return [value * 2]


def env_() -> StreamExecutionEnvironment:
    return StreamExecutionEnvironment.get_execution_environment()


def test_ordered_wait_keeps_input_order_and_capacity() -> None:
    fn = Slow(0.01)
    out = list(AsyncDataStream.ordered_wait(env_().from_collection(range(500)), fn, 5000, 20).execute_and_collect())
    assert out == [2 * i for i in range(500)]
    assert 1 < fn.peak <= 20


def test_unordered_wait_returns_everything() -> None:
    out = list(
        AsyncDataStream.unordered_wait(env_().from_collection(range(300)), Slow(0.01), 5000, 30).execute_and_collect()
    )
    assert sorted(out) == [2 * i for i in range(300)] and out != sorted(out)


def test_timeout_calls_timeout_and_bad_functions_are_rejected() -> None:
    class Stuck(AsyncFunction):
        async def async_invoke(self, value: Any) -> list[Any]:
            await asyncio.sleep(10)
            return [value]

        def timeout(self, value: Any) -> list[Any]:
            return [("timed out", value)]

    out = list(AsyncDataStream.ordered_wait(env_().from_collection([1, 2]), Stuck(), 50, 10).execute_and_collect())
    assert out == [("timed out", 1), ("timed out", 2)]

    class NotAsync(AsyncFunction):
        def async_invoke(self, value: Any) -> list[Any]:  # type: ignore[override]
            return [value]

    with pytest.raises(JobConfigError, match="coroutine"):
        AsyncDataStream.ordered_wait(env_().from_collection([1]), NotAsync(), 50)


def _bare_asyncio_seconds(n: int, delay_s: float, capacity: int) -> float:
    """The same work without millstream: ``n`` coroutines of ``delay_s`` on the runtime's loop, at most
    ``capacity`` in flight, awaited in order (what this machine allows right now)."""
    import concurrent.futures

    from millstream.runtime.async_io import shared_loop

    async def call(v: int) -> int:
        await asyncio.sleep(delay_s)
        return v

    loop = shared_loop()
    t0 = time.monotonic()
    window: list[Any] = []
    for i in range(n):
        if len(window) >= capacity:
            concurrent.futures.wait([window.pop(0)])
        window.append(loop.submit(call(i)))
    concurrent.futures.wait(window)
    return time.monotonic() - t0


def test_10k_records_of_50_ms_at_capacity_100() -> None:
    """The bar: <= 10 s (the floor is 5 s: 10,000 / 100 x 50 ms). On a loaded machine the same work done with
    bare asyncio is measured too, and millstream may take at most 1.5 times that."""
    t0 = time.monotonic()
    out = list(
        AsyncDataStream.ordered_wait(
            env_().from_collection(range(10_000)), Slow(0.05, uneven=False), 10_000, 100
        ).execute_and_collect()
    )
    elapsed = time.monotonic() - t0
    assert out == [2 * i for i in range(10_000)]
    if elapsed <= 10:
        print(f"10,000 records x 50 ms at capacity 100: {elapsed:.2f} s")
        return
    bare = _bare_asyncio_seconds(10_000, 0.05, 100)
    print(f"10,000 records x 50 ms at capacity 100: {elapsed:.2f} s (bare asyncio on this machine now: {bare:.2f} s)")
    assert elapsed <= 1.5 * bare, f"{elapsed:.2f} s, bare asyncio {bare:.2f} s"


def test_in_flight_requests_are_part_of_the_snapshot() -> None:
    from millstream.runtime.async_io import shared_loop  # noqa: F401 - registers the loop
    from millstream.stream.operators.async_io import AsyncWaitOperator

    got: list[Any] = []

    class Collect:
        def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, idx: int = 0) -> None:
            got.extend(vals)

    first = AsyncWaitOperator("async", None, Slow(0.2), 10_000, 10, ordered=True)
    first.open()
    first.out.targets.append((Collect(), 0))
    first.process([1, 2, 3], [None] * 3, [0, 0, 0], 0)
    state = first.snapshot()  # taken while the three requests are in flight
    assert [e[0] for e in state["queue"] if e[2] != "wm"] == [1, 2, 3] and got == []
    second = AsyncWaitOperator("async", None, Slow(0.01), 10_000, 10, ordered=True)
    second.open()  # the runtime opens operators, then restores their state
    second.restore(state)
    second.out.targets.append((Collect(), 0))
    second.process([4], [None], [0], 2**63 - 1)
    assert got == [2, 4, 6, 8]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_exactly_once_across_kill_9_mid_flight(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/log"
    log = open_log(url)
    async_crash_job.produce(log)
    job = Path(async_crash_job.__file__)
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
        # kill once this run has committed output (a checkpoint), while requests are in flight
        deadline = time.monotonic() + 60
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
    out = async_crash_job.values(log, "out")
    log.close()
    assert kills >= 2
    assert out == [{"i": i, "v": i * 3} for i in range(async_crash_job.EVENTS)]


class Flaky(AsyncFunction):
    """Fails (``fail`` mode) or returns an empty list (``empty`` mode) on the first ``bad`` attempts of each
    input; records when each attempt started."""

    def __init__(self, bad: int, mode: str) -> None:
        self.bad = bad
        self.mode = mode
        self.attempts: dict[int, list[float]] = {}

    async def async_invoke(self, value: Any) -> list[Any]:
        times = self.attempts.setdefault(value, [])
        times.append(time.monotonic())
        if len(times) <= self.bad:
            if self.mode == "fail":
                raise ConnectionError(f"attempt {len(times)} of {value}")
            return []
        return [(value, len(times))]


def test_retry_on_exception_with_fixed_delay() -> None:
    from millstream.functions import AsyncRetryStrategy

    fn = Flaky(2, "fail")
    strategy = AsyncRetryStrategy.fixed_delay(3, 30, None, lambda e: isinstance(e, ConnectionError))
    out = list(
        AsyncDataStream.ordered_wait_with_retry(
            env_().from_collection([1, 2, 3]), fn, 5000, strategy, 10
        ).execute_and_collect()
    )
    assert out == [(1, 3), (2, 3), (3, 3)]
    gaps = [b - a for t in fn.attempts.values() for a, b in pairwise(t)]
    assert all(g >= 0.029 for g in gaps)


def test_retry_on_result_stops_after_max_attempts_plus_one_calls() -> None:
    from millstream.stream.async_io import FixedDelayRetryStrategy

    fn = Flaky(10, "empty")  # never gives a result within the attempts allowed
    strategy = FixedDelayRetryStrategy(2, 1, lambda r: r == [], None)
    out = list(
        AsyncDataStream.unordered_wait_with_retry(
            env_().from_collection([5, 6]), fn, 5000, strategy
        ).execute_and_collect()
    )
    assert out == []  # the last (empty) result is final
    assert {v: len(t) for v, t in fn.attempts.items()} == {5: 3, 6: 3}  # can_retry(n) is n <= max_attempts


def test_an_exception_no_predicate_matches_fails_the_job_and_the_timeout_bounds_all_attempts() -> None:
    from millstream.functions import AsyncRetryStrategy

    strategy = AsyncRetryStrategy.fixed_delay(5, 10, lambda r: r == [], None)
    with pytest.raises(Exception, match="attempt 1 of 1"):
        AsyncDataStream.ordered_wait_with_retry(
            env_().from_collection([1]), Flaky(1, "fail"), 5000, strategy
        ).execute_and_collect(limit=1)

    class Patient(Flaky):
        def timeout(self, value: Any) -> list[Any]:
            return [("timed out", value, len(self.attempts[value]))]

    slow = AsyncRetryStrategy.fixed_delay(100, 40, lambda r: r == [], None)
    out = list(
        AsyncDataStream.ordered_wait_with_retry(
            env_().from_collection([1]), Patient(100, "empty"), 150, slow
        ).execute_and_collect()
    )
    assert out[0][:2] == ("timed out", 1) and 2 <= out[0][2] <= 5


def test_exponential_backoff_delays_and_validation() -> None:
    from millstream.functions import AsyncRetryStrategy
    from millstream.stream.async_io import NO_RETRY_STRATEGY, ExponentialBackoffDelayRetryStrategy

    s = ExponentialBackoffDelayRetryStrategy(5, 10, 50, 2.0, None, lambda e: True)
    assert [s.get_backoff_time_millis(n) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 50, 50]
    assert s.can_retry(5) and not s.can_retry(6)
    assert AsyncRetryStrategy.no_restart() is NO_RETRY_STRATEGY and not NO_RETRY_STRATEGY.can_retry(1)
    with pytest.raises(JobConfigError, match="max_attempts"):
        AsyncRetryStrategy.fixed_delay(0, 10, None, None)
    with pytest.raises(JobConfigError, match="None"):
        AsyncDataStream.ordered_wait_with_retry(env_().from_collection([1]), Slow(), 50, None)  # type: ignore[arg-type]
    fn = Flaky(2, "fail")
    strategy = AsyncRetryStrategy.exponential_backoff(3, 10, 100, 2.0, None, lambda e: True)
    out = list(
        AsyncDataStream.ordered_wait_with_retry(env_().from_collection([7]), fn, 5000, strategy).execute_and_collect()
    )
    t = fn.attempts[7]
    assert out == [(7, 3)] and t[1] - t[0] >= 0.009 and t[2] - t[1] >= 0.019
