"""The lean loop (``runtime.lean_loop``) on the test broker: KafkaSource → map/filter/flat_map → KafkaSink writes
what the general loop writes (values, timestamps, partitions), a failing function names its operator and
element, and cancel/stop end an unbounded job at once."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import KafkaSink, KafkaSource, OffsetsInitializer
from millstream.runtime import job as job_module
from millstream.stream.errors import JobFailedError
from tests.fixtures.job_control import end_and_check

from .conftest import BASE_TS, append_json, read_all, wait_until

pytestmark = pytest.mark.kafka


def source(servers: str, props: dict[str, str], topic: str, *, bounded: bool = True) -> Any:
    b = KafkaSource.builder().set_bootstrap_servers(servers).set_topics(topic).set_value_format("json")
    b.set_starting_offsets(OffsetsInitializer.earliest())
    if bounded:
        b.set_bounded(OffsetsInitializer.latest())
    for k, v in props.items():
        b.set_property(k, v)
    return b.build()


def sink(servers: str, props: dict[str, str], topic: str) -> Any:
    b = KafkaSink.builder().set_bootstrap_servers(servers).set_topic(topic)
    for k, v in props.items():
        b.set_property(k, v)
    return b.build()


CHAINS = {
    "map": lambda s: s.map(lambda e: {**e, "hop": 1}),
    "filter": lambda s: s.filter(lambda e: e["i"] % 3 != 0),
    "flat_map": lambda s: s.flat_map(lambda e: [{**e, "c": c} for c in range(e["i"] % 3)]),
    "map-filter-flat_map": lambda s: (
        s.map(lambda e: {**e, "x": e["i"] * 2}).filter(lambda e: e["x"] % 4).flat_map(lambda e: [e, e])
    ),
}


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_output_equals_the_general_loop(kafka_log, kafka_topic, servers, client_props, chain, monkeypatch):
    src = kafka_topic("lean-in")
    kafka_log.create_topic(src, 2)
    for p in range(2):
        idx = list(range(p, 90, 2))
        append_json(kafka_log, src, p, [{"i": i, "p": p} for i in idx], [BASE_TS + i for i in idx])
    outputs = {}
    for general in (False, True):
        dst = kafka_topic("lean-out")
        kafka_log.create_topic(dst, 2)
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_batch_size(16)
        strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(5))
        CHAINS[chain](env.from_source(source(servers, client_props, src), strategy, "in")).sink_to(
            sink(servers, client_props, dst)
        )
        with monkeypatch.context() as m:
            if general:
                m.setattr(job_module, "lean_chain", lambda runner, checkpointing: None)
            client = env.execute_async(f"lean {chain} {general}")
            result = client.get_job_execution_result(60)
        assert client.runner.lean is not general
        recs = {p: [(r.value, r.timestamp) for r in read_all(kafka_log, dst, p)] for p in range(2)}
        outputs[general] = (recs, result.records_written)
    assert outputs[False] == outputs[True]
    assert sum(len(v) for v in outputs[False][0].values()) > 0


def _in_out(kafka_log: Any, kafka_topic: Any, name: str, n: int) -> tuple[str, str]:
    """A one-partition input topic holding ``{"i": 0..n-1}`` (timestamps from BASE_TS) and an empty output topic."""
    src, dst = kafka_topic(f"{name}-in"), kafka_topic(f"{name}-out")
    kafka_log.create_topic(src, 1)
    kafka_log.create_topic(dst, 1)
    append_json(kafka_log, src, 0, [{"i": i} for i in range(n)], [BASE_TS + i for i in range(n)])
    return src, dst


def _raising_at(at: int, ok: Any = lambda e: e) -> Any:
    """A map function that raises ``ValueError`` on element ``{"i": at}`` and returns ``ok(e)`` otherwise."""

    def fn(e: dict[str, Any]) -> Any:
        if e["i"] == at:
            raise ValueError("bad element")
        return ok(e)

    return fn


def test_a_failing_map_names_its_operator_and_element(kafka_log, kafka_topic, servers, client_props):
    src, dst = _in_out(kafka_log, kafka_topic, "lean-bad", 30)
    env = StreamExecutionEnvironment.get_execution_environment()
    s = env.from_source(source(servers, client_props, src), WatermarkStrategy.no_watermarks(), "in")
    s.map(_raising_at(17)).name("boom-map").sink_to(sink(servers, client_props, dst))
    client = env.execute_async("lean boom")
    with pytest.raises(JobFailedError) as info:
        client.get_job_execution_result(60)
    assert client.runner.lean
    assert info.value.operator == "boom-map" and info.value.position == 17
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize("how", ["cancel", "stop"])
def test_cancel_and_stop_end_an_unbounded_job(kafka_log, kafka_topic, servers, client_props, how):
    src, dst = kafka_topic("lean-stop-in"), kafka_topic("lean-stop-out")
    kafka_log.create_topic(src, 1)
    kafka_log.create_topic(dst, 1)
    append_json(kafka_log, src, 0, [{"i": i} for i in range(20)], [BASE_TS + i for i in range(20)])
    env = StreamExecutionEnvironment.get_execution_environment()
    s = env.from_source(source(servers, client_props, src, bounded=False), WatermarkStrategy.no_watermarks(), "in")
    s.map(lambda e: {**e, "hop": 1}).sink_to(sink(servers, client_props, dst))
    client = env.execute_async("lean unbounded")
    try:
        wait_until(lambda: client.runner.drivers[0].seen >= 20, what="the job to read the 20 records")
        assert client.runner.lean
        end_and_check(client, how, stop_timeout_s=30, within_s=5.0)
    finally:
        client.cancel()
    got = [orjson.loads(r.value)["i"] for r in read_all(kafka_log, dst, 0)]
    assert got == list(range(20))  # written before the sink closed (at least once: each once here)


def _unbounded_map_job(servers: str, props: dict[str, str], src: str, dst: str, fn: Any) -> Any:
    env = StreamExecutionEnvironment.get_execution_environment()
    s = env.from_source(source(servers, props, src, bounded=False), WatermarkStrategy.no_watermarks(), "in")
    s.map(fn).name("the-map").sink_to(sink(servers, props, dst))
    return env


@pytest.mark.parametrize("way", ["pipe", "prepared"])
def test_a_tailing_job_reads_and_writes_through_prepared_calls_as_the_general_loop(
    kafka_log, kafka_topic, servers, client_props, monkeypatch, way
):
    """One partition read to its end and on (unbounded, no watermarks): the plain rounds go through a pipe of the
    partition into the sink's topic (``pipe``), or, without one, read through the reader's prepared read (which
    waits for data itself) and write through the sink's prepared write (``prepared``). The records written
    (values, timestamps, the partition each batch went to) are those of the general loop, also for records that
    arrive while the job waits."""
    from millstream.runtime import lean_loop
    from millstream.runtime.sinks import LogSinkOperator
    from millstream.runtime.sources import LogReader

    src = kafka_topic("prep-in")
    kafka_log.create_topic(src, 1)
    append_json(kafka_log, src, 0, [{"i": i} for i in range(25)], [BASE_TS + i for i in range(25)])
    prepared = {"pipe": 0, "read": 0, "fused": 0, "write": 0}
    read, write, piped_round = LogReader.prepared_read, LogSinkOperator.prepared_write, lean_loop.piped_round

    def counted_read(self: Any, pid: Any, *then: Any) -> Any:
        fn = read(self, pid, *then)
        prepared["read"] += fn is not None
        prepared["fused"] += fn is not None and bool(then)  # the map's function handed to the read
        return fn

    def counted_write(self: Any) -> Any:
        fn = write(self)
        prepared["write"] += fn is not None
        return fn

    def counted_pipe(*args: Any) -> Any:
        fn = piped_round(*args) if way == "pipe" else None
        prepared["pipe"] += fn is not None
        return fn

    monkeypatch.setattr(LogReader, "prepared_read", counted_read)
    monkeypatch.setattr(LogSinkOperator, "prepared_write", counted_write)
    monkeypatch.setattr(lean_loop, "piped_round", counted_pipe)
    outputs = {}
    for general in (False, True):
        dst = kafka_topic("prep-out")
        kafka_log.create_topic(dst, 1)
        env = _unbounded_map_job(servers, client_props, src, dst, lambda e: {**e, "hop": 1})
        with monkeypatch.context() as m:
            if general:
                m.setattr(job_module, "lean_chain", lambda runner, checkpointing: None)
            client = env.execute_async(f"prepared {general}")
            try:
                runner = client.runner
                wait_until(lambda: runner.drivers[0].seen >= 25, what="the job to read the first 25 records")  # noqa: B023
                if not general:
                    later = range(25, 40)
                    append_json(kafka_log, src, 0, [{"i": i} for i in later], [BASE_TS + i for i in later])
                wait_until(lambda: runner.drivers[0].seen >= 40, what="the job to read the records sent later")  # noqa: B023
                assert client.runner.lean is not general
                client.cancel()
                client.get_job_execution_result(30)
            finally:
                client.cancel()
        outputs[general] = [(r.value, r.timestamp) for r in read_all(kafka_log, dst, 0)]
    if way == "pipe":  # (the pipe takes the sink's prepared write, for a batch it does not write itself)
        assert prepared == {"pipe": 1, "read": 0, "fused": 0, "write": 1}
    else:
        assert prepared == {"pipe": 0, "read": 1, "fused": 1, "write": 1}  # taken by the lean loop only
    assert outputs[False] == outputs[True]
    assert [orjson.loads(v)["i"] for v, _ in outputs[False]] == list(range(40))
    assert [t for _, t in outputs[False]] == [BASE_TS + i for i in range(40)]


def test_the_prepared_read_names_a_record_that_is_not_json(kafka_log, kafka_topic, servers, client_props):
    from millstream.core.record import ProducerRecord

    src, dst = kafka_topic("prep-bad-in"), kafka_topic("prep-bad-out")
    kafka_log.create_topic(src, 1)
    kafka_log.create_topic(dst, 1)
    append_json(kafka_log, src, 0, [{"i": 0}], [BASE_TS])
    client = _unbounded_map_job(servers, client_props, src, dst, lambda e: e).execute_async("prepared bad json")
    try:
        wait_until(lambda: client.runner.drivers[0].seen >= 1, what="the job to read the first record")
        kafka_log.append(src, 0, [ProducerRecord(b"not json", None, BASE_TS + 1)])  # read by the prepared read
        with pytest.raises(JobFailedError) as info:
            client.get_job_execution_result(60)
    finally:
        client.cancel()
    assert client.runner.lean
    assert f"{src}[0] offset 1 is not valid JSON" in str(info.value.__cause__)


def test_the_prepared_write_names_an_element_that_fails_to_serialize(kafka_log, kafka_topic, servers, client_props):
    src, dst = kafka_topic("prep-ser-in"), kafka_topic("prep-ser-out")
    kafka_log.create_topic(src, 1)
    kafka_log.create_topic(dst, 1)
    append_json(kafka_log, src, 0, [{"i": i} for i in range(10)], [BASE_TS + i for i in range(10)])
    unserializable = lambda e: {**e, "bad": object()} if e["i"] == 6 else e  # noqa: E731
    client = _unbounded_map_job(servers, client_props, src, dst, unserializable).execute_async("prepared bad value")
    with pytest.raises(JobFailedError) as info:
        client.get_job_execution_result(60)
    assert client.runner.lean
    assert info.value.position == 6  # the sink's sixth element (0-based), as process names it
    got = [orjson.loads(r.value)["i"] for r in read_all(kafka_log, dst, 0)]
    assert got == list(range(6))  # the values before it were queued (at least once)


def _fails(client: Any) -> JobFailedError:
    try:
        with pytest.raises(JobFailedError) as info:
            client.get_job_execution_result(60)
    finally:
        client.cancel()
    assert client.runner.lean
    return info.value


def test_a_map_fused_with_the_prepared_read_names_a_failing_element(kafka_log, kafka_topic, servers, client_props):
    """The first map runs in the prepared read's pass (each record decoded and mapped in turn): a failing
    element is named as the map's stage names it — the operator, the position counted over every batch, the
    element — and the map has counted the elements of the earlier batches."""
    src, dst = _in_out(kafka_log, kafka_topic, "fused-bad", 10)
    boom = _raising_at(13, lambda e: {**e, "ok": True})
    client = _unbounded_map_job(servers, client_props, src, dst, boom).execute_async("fused boom")
    wait_until(lambda: client.runner.drivers[0].seen >= 10, what="the job to read the first 10 records")
    append_json(kafka_log, src, 0, [{"i": i} for i in range(10, 20)], [BASE_TS + i for i in range(10, 20)])
    failure = _fails(client)
    assert (failure.operator, failure.position, failure.element) == ("the-map", 13, {"i": 13})
    assert isinstance(failure.__cause__, ValueError)
    got = [orjson.loads(r.value) for r in read_all(kafka_log, dst, 0)]
    assert got[:10] == [{"i": i, "ok": True} for i in range(10)]


def test_a_record_that_is_not_json_fails_the_fused_read_after_the_elements_before_it_were_mapped(
    kafka_log, kafka_topic, servers, client_props
):
    """A record that does not decode fails the read naming the record, as without the fused map; the map has
    seen the elements before it (as a job that handles one record at a time), and one failing before the bad
    record is the failure named."""
    from millstream.core.record import ProducerRecord

    for bad_map in (False, True):
        src, dst = _in_out(kafka_log, kafka_topic, "fused-json", 1)
        seen: list[int] = []

        def fn(e: dict[str, Any]) -> Any:
            seen.append(e["i"])  # noqa: B023
            if bad_map and e["i"] == 2:  # noqa: B023
                raise ValueError("bad element")
            return e

        client = _unbounded_map_job(servers, client_props, src, dst, fn).execute_async("fused bad json")
        wait_until(lambda: client.runner.drivers[0].seen >= 1, what="the job to read the first record")  # noqa: B023
        records = [ProducerRecord(orjson.dumps({"i": i}), None, BASE_TS + i) for i in (1, 2)]
        kafka_log.append(src, 0, [*records, ProducerRecord(b"not json", None, BASE_TS + 3)])  # one batch
        failure = _fails(client)
        if bad_map:
            assert (failure.operator, failure.position) == ("the-map", 2)
        else:
            assert f"{src}[0] offset 3 is not valid JSON" in str(failure.__cause__)
        assert seen == [0, 1, 2]


def test_a_tombstone_reaches_the_fused_map_as_none(kafka_log, kafka_topic, servers, client_props):
    from millstream.core.record import ProducerRecord

    src, dst = _in_out(kafka_log, kafka_topic, "fused-none", 1)
    fn = lambda e: {"was": e}  # noqa: E731
    client = _unbounded_map_job(servers, client_props, src, dst, fn).execute_async("fused tombstone")
    try:
        wait_until(lambda: client.runner.drivers[0].seen >= 1, what="the job to read the first record")
        later = [ProducerRecord(None, None, BASE_TS + 1), ProducerRecord(orjson.dumps({"i": 2}), None, BASE_TS + 2)]
        kafka_log.append(src, 0, later)
        wait_until(lambda: len(read_all(kafka_log, dst, 0)) >= 3, what="the three records written")
        assert client.runner.lean
    finally:
        client.cancel()
    got = [orjson.loads(r.value) for r in read_all(kafka_log, dst, 0)]
    assert got == [{"was": {"i": 0}}, {"was": None}, {"was": {"i": 2}}]


class _NotSerializable:
    def __repr__(self) -> str:
        return "<not serializable>"


PIPED_CASES = {  # the map's function, and record 13's value
    "map": (_raising_at(13, lambda e: {**e, "ok": True}), None),
    "serializer": (lambda e: {**e, "bad": _NotSerializable()} if e["i"] == 13 else e, None),
    "not-json": (lambda e: e, b"not json"),
    "tombstone": (lambda e: {"was": e}, "tombstone"),
}


@pytest.mark.parametrize("case", sorted(PIPED_CASES))
def test_a_piped_round_names_a_failure_as_the_plain_round_does(
    kafka_log, kafka_topic, servers, client_props, monkeypatch, case
):
    """A batch that arrives while the job tails its partition goes through the pipe; a failure in it is named as the
    plain round names it (the map, the sink's serializer, the record that is not JSON), the records before it
    written; a tombstone is the element ``None`` and the pipe goes on after it."""
    from millstream.core.record import ProducerRecord
    from millstream.log.kafka import KafkaLog

    rounds: list[tuple[str, int]] = []
    values_pipe = KafkaLog.values_pipe

    def recorded_pipe(self: Any, *args: Any) -> Any:
        pipe = values_pipe(self, *args)

        def recorded(*call: Any) -> Any:
            try:
                nxt, n, values, tss = pipe(*call)
            except Exception as exc:
                rounds.append(("raised", type(exc).__name__))
                raise
            if n:
                rounds.append(("written" if values is None else "handed back", n))
            return nxt, n, values, tss

        return recorded

    monkeypatch.setattr(KafkaLog, "values_pipe", recorded_pipe)
    fn, bad = PIPED_CASES[case]
    src, dst = _in_out(kafka_log, kafka_topic, f"piped-{case}", 10)
    client = _unbounded_map_job(servers, client_props, src, dst, fn).execute_async(f"piped {case}")
    try:
        wait_until(lambda: client.runner.drivers[0].seen >= 10, what="the job to read the first 10 records")
        values = [orjson.dumps({"i": i}) for i in range(10, 16)]
        if bad is not None:
            values[3] = None if bad == "tombstone" else bad
        kafka_log.append(src, 0, [ProducerRecord(v, None, BASE_TS + 10 + j) for j, v in enumerate(values)])
        if case == "tombstone":
            wait_until(lambda: len(read_all(kafka_log, dst, 0)) >= 16, what="the 16 records written")
            assert client.runner.lean
            failure = None
        else:
            failure = _fails(client)
    finally:
        client.cancel()
    got = [orjson.loads(r.value) for r in read_all(kafka_log, dst, 0)]
    assert rounds[0] == ("written", 6) if failure is None else rounds == [("raised", type(failure.__cause__).__name__)]
    if case == "tombstone":
        assert got[10:] == [{"was": {"i": i}} if i != 13 else {"was": None} for i in range(10, 16)]
        return
    assert failure is not None
    if case == "map":
        assert (failure.operator, failure.position, failure.element) == ("the-map", 13, {"i": 13})
        assert isinstance(failure.__cause__, ValueError)
    elif case == "serializer":
        assert failure.operator != "the-map" and failure.position == 13
        assert "not serializable" in str(failure)
    else:
        assert f"{src}[0] offset 13 is not valid JSON" in str(failure.__cause__)
    assert [e["i"] for e in got] == list(range(13))  # the records before it were written (at least once)


@pytest.mark.parametrize("chain", ["none", "builtin"])
def test_a_chain_without_a_map_is_piped_and_one_with_a_builtin_map_keeps_the_prepared_round(
    kafka_log, kafka_topic, servers, client_props, monkeypatch, chain
):
    """Source → sink goes through the pipe as well (decode, then serialize); a ``map`` of a builtin (whose failure
    could not be told from the serializer's) keeps the prepared round. Both write every record, later ones too."""
    from millstream.runtime import lean_loop

    piped: list[bool] = []
    piped_round = lean_loop.piped_round

    def counted(*args: Any) -> Any:
        fn = piped_round(*args)
        piped.append(fn is not None)
        return fn

    monkeypatch.setattr(lean_loop, "piped_round", counted)
    src, dst = _in_out(kafka_log, kafka_topic, f"pipe-{chain}", 5)
    env = StreamExecutionEnvironment.get_execution_environment()
    s = env.from_source(source(servers, client_props, src, bounded=False), WatermarkStrategy.no_watermarks(), "in")
    (s if chain == "none" else s.map(str)).sink_to(sink(servers, client_props, dst))
    client = env.execute_async(f"pipe {chain}")
    try:
        wait_until(lambda: client.runner.drivers[0].seen >= 5, what="the job to read the first 5 records")
        append_json(kafka_log, src, 0, [{"i": i} for i in range(5, 9)], [BASE_TS + i for i in range(5, 9)])
        wait_until(lambda: len(read_all(kafka_log, dst, 0)) >= 9, what="the 9 records written")
        assert client.runner.lean
    finally:
        client.cancel()
    got = [orjson.loads(r.value) for r in read_all(kafka_log, dst, 0)]
    expected = [{"i": i} for i in range(9)]
    assert got == (expected if chain == "none" else [str(e) for e in expected])
    assert [r.timestamp for r in read_all(kafka_log, dst, 0)] == [BASE_TS + i for i in range(9)]
    assert piped == [chain == "none"]
