"""Bad input fails fast, naming the operator (name/uid) and the element's position; user errors stop the job
with the original exception as the cause; nothing hangs."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.functions import ProcessWindowFunction, SourceFunction
from millstream.stream.errors import JobFailedError, KeySelectorError, TimestampError
from millstream.testing import CollectionSource, Fault, timestamped
from millstream.windows import TumblingEventTimeWindows


def env_() -> StreamExecutionEnvironment:
    return StreamExecutionEnvironment.get_execution_environment()


def strategy(assigner: Any) -> WatermarkStrategy:
    return WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(assigner)


def run(env: StreamExecutionEnvironment, stream: Any) -> None:
    stream.add_sink(lambda v: None)
    env.execute("bad job")


@pytest.mark.parametrize(
    ("assigner", "problem"),
    [
        (lambda e, ts: 10 // (e - 2), "timestamp assigner raised ZeroDivisionError"),
        (lambda e, ts: "5" if e == 2 else e, "timestamp is str '5'"),
        (lambda e, ts: 1.5 if e == 2 else e, "timestamp is float 1.5"),
        (lambda e, ts: None if e == 2 else e, "timestamp is no timestamp"),
    ],
)
def test_bad_timestamp_assigner_names_source_and_position(assigner: Any, problem: str) -> None:
    env = env_()
    s = env.from_source(CollectionSource([0, 1, 2, 3]), strategy(assigner), "numbers").uid("numbers-uid")
    with pytest.raises(JobFailedError) as info:
        run(env, s)
    err = info.value
    assert isinstance(err.error, TimestampError)
    assert "operator 'numbers' (uid 'numbers-uid')" in str(err)
    assert "element #2" in str(err)
    assert problem in str(err)
    assert err.position == 2


def window_job(env: StreamExecutionEnvironment, key: Any) -> Any:
    s = env.from_source(
        timestamped([(i, i) for i in range(5)]), WatermarkStrategy.for_monotonous_timestamps()
    )
    return (
        s.key_by(key)
        .window(TumblingEventTimeWindows.of(10))
        .reduce(lambda a, b: a + b)
        .name("sums")
        .uid("w1")
    )


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (lambda e: 1 // (e - 3), "key selector raised ZeroDivisionError"),
        (lambda e: [e] if e == 3 else e, "unhashable key of type list"),
        (lambda e: threading.Lock() if e == 3 else e, "cannot be pickled"),
    ],
)
def test_bad_key_selector_names_operator_and_position(key: Any, problem: str) -> None:
    env = env_()
    with pytest.raises(JobFailedError) as info:
        run(env, window_job(env, key))
    assert isinstance(info.value.error, KeySelectorError)
    text = str(info.value)
    assert "operator 'sums' (uid 'w1')" in text
    assert "element #3" in text
    assert problem in text


def test_user_function_error_keeps_original_traceback() -> None:
    env = env_()

    def boom(x: int) -> int:
        if x == 3:
            raise ValueError("bad element")
        return x

    s = env.from_collection(range(10)).map(boom).name("boom-map").uid("m1")
    with pytest.raises(JobFailedError) as info:
        run(env, s)
    err = info.value
    assert isinstance(err.__cause__, ValueError)
    assert err.error is err.__cause__
    assert err.operator == "boom-map" and err.uid == "m1" and err.position == 3
    assert "bad element" in str(err) and "element #3" in str(err)
    frames = []
    tb = err.__cause__.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert frames[-1] == "boom"


def test_window_function_error_stops_job() -> None:
    class Bad(ProcessWindowFunction):
        def process(self, key: Any, context: Any, elements: Any) -> Any:
            raise RuntimeError(f"cannot handle {key}")

    env = env_()
    s = env.from_source(timestamped([(1, 1), (2, 20)]), WatermarkStrategy.for_monotonous_timestamps())
    w = s.key_by(lambda e: e % 2).window(TumblingEventTimeWindows.of(10)).process(Bad())
    with pytest.raises(JobFailedError, match="cannot handle 1") as info:
        run(env, w)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_fault_item_fails_job() -> None:
    env = env_()
    s = env.from_source(CollectionSource([1, 2, Fault(OSError("disk gone")), 3]))
    with pytest.raises(JobFailedError, match="disk gone") as info:
        run(env, s)
    assert isinstance(info.value.__cause__, OSError)


def test_source_function_error_in_its_thread_fails_job_without_hanging() -> None:
    class Src(SourceFunction):
        def run(self, ctx: Any) -> None:
            for i in range(100):
                ctx.collect(i)
            raise ConnectionError("upstream closed")

    env = env_()
    started = time.monotonic()
    with pytest.raises(JobFailedError, match="upstream closed"):
        run(env, env.add_source(Src()))
    assert time.monotonic() - started < 10


def test_unbounded_log_job_with_failing_function_does_not_hang() -> None:
    from millstream.connectors import LogSource
    from millstream.log import open_log

    log = open_log("memory://errors-unbounded")
    log.create_topic("t", 2)
    log.produce("t", [(b'{"n": %d}' % i, str(i).encode()) for i in range(20)])
    env = env_()
    src = LogSource.builder().set_log("memory://errors-unbounded").set_topics("t").build()
    s = env.from_source(src, WatermarkStrategy.no_watermarks(), "log").map(lambda e: 1 // (e["n"] - 7))
    started = time.monotonic()
    with pytest.raises(JobFailedError, match="ZeroDivisionError"):
        run(env, s)
    assert time.monotonic() - started < 10


def test_event_time_window_without_timestamps_explains() -> None:
    env = env_()
    w = (
        env.from_collection([1, 2])
        .key_by(lambda e: e)
        .window(TumblingEventTimeWindows.of(10))
        .reduce(lambda a, b: a)
    )
    with pytest.raises(JobFailedError, match="has no timestamp"):
        run(env, w)


def test_bad_build_time_arguments() -> None:
    from millstream.stream.errors import JobConfigError

    with pytest.raises(JobConfigError):
        WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(-1))
    with pytest.raises(JobConfigError, match="no sinks"):
        env_().execute()
    with pytest.raises(JobConfigError, match="positive"):
        env_().from_collection([1]).key_by(lambda e: e).count_window(0)


def test_bad_dynamic_gap_fails_job_naming_the_operator() -> None:
    from millstream.windows import EventTimeSessionWindows

    env = env_()
    s = env.from_source(timestamped([(1, 1), (2, 2)]), WatermarkStrategy.for_monotonous_timestamps())
    w = (
        s.key_by(lambda e: 0)
        .window(EventTimeSessionWindows.with_dynamic_gap(lambda e: 10 - 10 * e))
        .reduce(lambda a, b: a)
        .name("sessions")
    )
    with pytest.raises(JobFailedError, match="dynamic session gap must be positive") as info:
        run(env, w)
    assert info.value.operator == "sessions" and info.value.position == 0
