"""The translatability check and the errors of ``--engine flink`` that come before anything is submitted
(pure: no PyFlink, no JVM)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import zipfile
from pathlib import Path

import pytest

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import FileSink, KafkaSink, KafkaSource, LogSink, LogSource
from millstream.flink.check import (
    KAFKA_SOURCE_CLASS,
    FlinkTranslationError,
    check_job,
    check_jobmanager,
    is_builtin_trigger,
    parse_address,
)
from millstream.flink.config import flink_configuration
from millstream.flink.runner import (
    FlinkEngineError,
    FlinkOptions,
    check_pipeline,
    flink_python,
    folder_modules_zip,
    millstream_zip,
)
from millstream.stream.restart import RestartStrategies
from millstream.windows import (
    CountEvictor,
    CountTrigger,
    DeltaEvictor,
    EventTimeSessionWindows,
    EventTimeTrigger,
    Evictor,
    GlobalWindows,
    PurgingTrigger,
    SlidingEventTimeWindows,
    TimeEvictor,
    Trigger,
    TumblingEventTimeWindows,
)

ROOT = Path(__file__).resolve().parents[2]


def _sinks(env: StreamExecutionEnvironment) -> list:
    return env._take_sinks()


def test_translatable_job_passes() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    s = env.from_collection([("a", 1)]).assign_timestamps_and_watermarks(
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda e, ts: e[1])
    )
    s.key_by(lambda e: e[0]).window(TumblingEventTimeWindows.of(Duration.of_millis(5))).reduce(lambda a, b: a).print()
    s.key_by(lambda e: e[0]).count_window(3, 1).apply(lambda k, w, es: [k]).print()
    nodes = check_job(_sinks(env))
    assert nodes[0].kind == "source"


@pytest.mark.parametrize(
    "source, needle",
    [
        (LogSource.builder().set_topics("t").build(), "embedded default log"),
        (LogSource.builder().set_log("file:///tmp/x").set_topics("t").build(), "file:///tmp/x"),
        (LogSource.builder().set_log("memory://").set_topics("t").build(), "memory://"),
    ],
)
def test_embedded_log_source_is_refused(source: object, needle: str) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_source(source, None, "clicks").print()
    with pytest.raises(FlinkTranslationError) as err:
        check_job(_sinks(env))
    assert "operator 'clicks' (source)" in err.value.message
    assert needle in err.value.message
    assert "KafkaSource" in (err.value.hint or "")


def _log_sink_job(sink: LogSink) -> list:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection([1]).sink_to(sink)
    return _sinks(env)


@pytest.mark.parametrize("url", [None, "file:///tmp/x", "file://./rel?synchronous=full"])
def test_embedded_file_log_sink_translates_on_a_local_flink(url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MILLSTREAM_LOG", raising=False)
    b = LogSink.builder().set_topic("out").set_key_selector(str)
    check_job(_log_sink_job((b.set_log(url) if url else b).build()))


def test_embedded_log_sink_on_a_remote_cluster_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MILLSTREAM_LOG", raising=False)
    with pytest.raises(FlinkTranslationError) as err:
        check_job(_log_sink_job(LogSink.builder().set_topic("out").build()), remote=True)
    assert "embedded default log" in err.value.message and "remote Flink cluster (--flink-address)" in err.value.message
    assert "cannot reach a file of this one" in err.value.message
    assert "KafkaSink" in (err.value.hint or "") and "without --flink-address" in (err.value.hint or "")


def test_exactly_once_and_memory_log_sinks_are_refused() -> None:
    from millstream.connectors import DeliveryGuarantee

    eo = LogSink.builder().set_log("file:///tmp/x").set_topic("out")
    with pytest.raises(FlinkTranslationError) as err:
        check_job(_log_sink_job(eo.set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE).build()))
    assert "exactly-once sink to the embedded log file:///tmp/x" in err.value.message
    assert "at-least-once only" in err.value.message and "AT_LEAST_ONCE" in (err.value.hint or "")
    with pytest.raises(FlinkTranslationError, match=r"memory://m, which Apache Flink cannot write \(an in-memory"):
        check_job(_log_sink_job(LogSink.builder().set_log("memory://m").set_topic("out").build()))


def test_check_pipeline_refuses_the_embedded_log_sink_with_an_address(tmp_path: Path) -> None:
    pipe = tmp_path / "p.py"
    pipe.write_text(
        "from millstream.connectors import LogSink\n"
        "def build(env):\n"
        "    env.from_collection([1]).sink_to(LogSink.builder().set_topic('out').build())\n"
    )
    url = f"file://{tmp_path / 'log'}"
    assert check_pipeline(str(pipe), FlinkOptions(default_log=url)) == 1
    with pytest.raises(FlinkTranslationError, match="remote Flink cluster"):
        check_pipeline(str(pipe), FlinkOptions(default_log=url, address="127.0.0.1:1"))


def test_on_error_translates_element_wise_and_is_refused_on_keyed_process() -> None:
    from millstream.functions import KeyedProcessFunction
    from millstream.stream.functions import OutputTag

    env = StreamExecutionEnvironment.get_execution_environment()
    s = env.from_collection(["1"])
    s.map(int).on_error(OutputTag("failed")).print()
    s.filter(int).on_error(OutputTag("failed")).print()
    s.flat_map(list).on_error(OutputTag("failed")).print()
    check_job(_sinks(env))

    class Echo(KeyedProcessFunction):
        def process_element(self, value, ctx):
            yield value

    env.from_collection(["1"]).key_by(str).process(Echo()).name("echo").on_error(OutputTag("failed")).print()
    with pytest.raises(FlinkTranslationError) as err:
        check_job(_sinks(env))
    assert "operator 'echo' (keyed_process): on_error()" in err.value.message
    assert "keyed or connected process function has no Flink translation" in err.value.message


def test_connector_inside_a_job_is_refused() -> None:
    from millstream.connect.connectors.file import FileStreamSourceConnector

    env = StreamExecutionEnvironment.get_execution_environment()
    env.add_source(FileStreamSourceConnector, "lines").print()
    with pytest.raises(FlinkTranslationError) as err:
        check_job(_sinks(env))
    assert "Kafka Connect connector" in err.value.message and "'lines'" in err.value.message
    assert "millstream connect standalone" in (err.value.hint or "")


def test_source_function_is_refused() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()

    def numbers():
        yield from range(3)

    env.add_source(numbers, "numbers").print()
    with pytest.raises(FlinkTranslationError, match=r"'numbers'.*source function"):
        check_job(_sinks(env))


def test_user_triggers_translate_with_or_without_an_evictor() -> None:
    """A user-written trigger passes the check on any window (it runs in EvictingWindow on Flink): without
    and with an evictor, inside a PurgingTrigger, on sessions when it can merge, on window_all."""

    class Mine(EventTimeTrigger):
        pass

    env = StreamExecutionEnvironment.get_execution_environment()
    s = env.from_collection([1])
    keyed = s.key_by(lambda v: v)
    keyed.window(TumblingEventTimeWindows.of(5)).trigger(Mine()).reduce(lambda a, b: a).print()
    keyed.window(TumblingEventTimeWindows.of(5)).trigger(Mine()).evictor(CountEvictor.of(2)).process(
        lambda k, c, es: es
    ).print()
    keyed.window(SlidingEventTimeWindows.of(10, 5)).trigger(PurgingTrigger.of(Mine())).process(
        lambda k, c, es: es
    ).print()
    keyed.window(EventTimeSessionWindows.with_gap(3)).trigger(Mine()).process(lambda k, c, es: es).print()
    s.window_all(TumblingEventTimeWindows.of(5)).trigger(Mine()).process(lambda c, es: es).print()
    nodes = check_job(_sinks(env))
    assert sum(1 for t in nodes if t.kind == "window") == 5
    assert not is_builtin_trigger(Mine()) and not is_builtin_trigger(PurgingTrigger.of(Mine()))
    assert is_builtin_trigger(None) and is_builtin_trigger(PurgingTrigger.of(CountTrigger.of(2)))


def test_user_trigger_that_cannot_merge_is_refused_on_sessions() -> None:
    class NoMerge(Trigger):
        pass

    env = StreamExecutionEnvironment.get_execution_environment()
    keyed = env.from_collection([1]).key_by(lambda v: v)
    keyed.window(EventTimeSessionWindows.with_gap(3)).trigger(NoMerge()).process(lambda k, c, es: es).print()
    with pytest.raises(FlinkTranslationError, match="trigger NoMerge cannot be used with merging") as err:
        check_job(_sinks(env))
    assert "can_merge" in (err.value.hint or "")


def test_evictors_translate_on_every_window() -> None:
    """Evictors outside count windows (time, session and global windows, window_all, window joins, a
    user-written evictor) and non-keyed count windows pass the check: they run as a keyed process function
    on Flink."""

    class Mine(Evictor):
        pass

    env = StreamExecutionEnvironment.get_execution_environment()
    s = env.from_collection([("a", 1)]).assign_timestamps_and_watermarks(
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda e, ts: e[1])
    )
    keyed = s.key_by(lambda e: e[0])
    keyed.window(TumblingEventTimeWindows.of(5)).evictor(CountEvictor.of(2)).reduce(lambda a, b: a).print()
    keyed.window(SlidingEventTimeWindows.of(10, 5)).evictor(TimeEvictor.of(3, True)).allowed_lateness(4).process(
        lambda k, c, es: es
    ).print()
    keyed.window(EventTimeSessionWindows.with_gap(3)).evictor(DeltaEvictor.of(2, lambda a, b: 0)).process(
        lambda k, c, es: es
    ).print()
    keyed.window(GlobalWindows.create()).trigger(CountTrigger.of(2)).evictor(Mine()).process(
        lambda k, c, es: es
    ).print()
    s.window_all(TumblingEventTimeWindows.of(5)).evictor(CountEvictor.of(1)).process(lambda c, es: es).print()
    joined = s.join(s).where(lambda e: e[0]).equal_to(lambda e: e[0]).window(TumblingEventTimeWindows.of(5))
    joined.evictor(TimeEvictor.of(2)).apply(lambda a, b: (a, b)).print()
    s.count_window_all(3, 1).process(lambda c, es: es).print()  # a non-keyed count window
    nodes = check_job(_sinks(env))
    assert sum(1 for t in nodes if t.kind == "window") == 7


def _kafka_job() -> list:
    env = StreamExecutionEnvironment.get_execution_environment()
    src = KafkaSource.builder().set_bootstrap_servers("localhost:9092").set_topics("clicks").build()
    env.from_source(src, None, "clicks").sink_to(
        KafkaSink.builder().set_bootstrap_servers("localhost:9092").set_topic("out").build()
    )
    return _sinks(env)


def test_kafka_source_without_the_connector_jar_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FlinkTranslationError) as err:
        check_job(_kafka_job())
    assert "Kafka source on Flink needs Flink's Kafka connector jar (no --flink-jars given" in err.value.message
    assert "--flink-jars" in (err.value.hint or "")
    other = tmp_path / "other.jar"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("org/example/Nothing.class", b"")
    with pytest.raises(
        FlinkTranslationError, match=r"none holds org\.apache\.flink\.connector\.kafka\.source\.KafkaSource"
    ):
        check_job(_kafka_job(), [str(other)])
    good = tmp_path / "kafka.jar"
    with zipfile.ZipFile(good, "w") as zf:  # a jar holding the connector's classes passes the check
        zf.writestr(KAFKA_SOURCE_CLASS, b"")
        zf.writestr("org/apache/flink/connector/kafka/sink/KafkaSink.class", b"")
    check_job(_kafka_job(), [str(good)])


def test_missing_jar_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FlinkTranslationError, match="does not exist"):
        check_job(_kafka_job(), [str(tmp_path / "nope.jar")])


def test_unreachable_jobmanager() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FlinkTranslationError) as err:
        check_jobmanager(f"127.0.0.1:{port}", timeout=2)
    assert f"JobManager at 127.0.0.1:{port} is unreachable" in err.value.message
    assert "start-cluster.sh" in (err.value.hint or "")
    with pytest.raises(FlinkTranslationError, match="not host:port"):
        parse_address("localhost")


def test_an_http_server_that_is_not_flink() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        with pytest.raises(FlinkTranslationError, match="not as a Flink JobManager"):
            check_jobmanager(f"127.0.0.1:{port}", timeout=5)
    finally:
        server.close()


def test_flink_configuration_carries_the_job_config_over() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(3).set_max_parallelism(64).enable_checkpointing(500)
    env.get_checkpoint_config().set_checkpoint_storage_dir("/tmp/ckpt")
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(4, Duration.of_seconds(2)))
    conf = flink_configuration(env.config, address="jm:8081")
    assert conf["parallelism.default"] == "3"
    assert conf["pipeline.max-parallelism"] == "64"
    assert conf["execution.checkpointing.interval"] == "500 ms"
    assert conf["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert conf["execution.checkpointing.dir"] == "file:///tmp/ckpt"
    assert conf["restart-strategy.type"] == "fixed-delay"
    assert conf["restart-strategy.fixed-delay.attempts"] == "4"
    assert conf["restart-strategy.fixed-delay.delay"] == "2000 ms"
    assert (conf["execution.target"], conf["rest.address"], conf["rest.port"]) == ("remote", "jm", "8081")
    assert conf["execution.attached"] == "true"  # the run waits for the job, as `flink run` does
    assert (
        flink_configuration(StreamExecutionEnvironment.get_execution_environment().config)["restart-strategy.type"]
        == "none"
    )


PIPELINE_EMBEDDED = """
from millstream.connectors import LogSource
def build(env):
    env.from_source(LogSource.builder().set_topics("clicks").build(), None, "clicks").print()
"""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "millstream", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_cli_refuses_before_submitting(tmp_path: Path) -> None:
    """Each bad input is one clear error and exit code 2; nothing reaches Flink (the named "Flink Python" is
    this interpreter, which has no PyFlink: any attempt to run would fail differently)."""
    pipe = tmp_path / "p.py"
    pipe.write_text(textwrap.dedent(PIPELINE_EMBEDDED))
    res = _cli("run", str(pipe), "--engine", "flink", "--flink-python", sys.executable, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert "error: operator 'clicks' (source): its source is the embedded default log" in res.stderr
    assert "hint: on Flink use Kafka" in res.stderr
    kafka = tmp_path / "k.py"
    kafka.write_text(
        "from millstream.connectors import KafkaSource\n"
        "def build(env):\n"
        "    src = KafkaSource.builder().set_bootstrap_servers('h:9092').set_topics('t').build()\n"
        "    env.from_source(src, None, 'clicks').print()\n"
    )
    res = _cli("run", str(kafka), "--engine", "flink", "--flink-python", sys.executable, cwd=tmp_path)
    assert res.returncode == 2 and "needs Flink's Kafka connector jar" in res.stderr, res.stderr
    ok = tmp_path / "ok.py"
    ok.write_text("def build(env):\n    env.from_collection([1, 2]).print()\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = _cli(
        "run",
        str(ok),
        "--engine",
        "flink",
        "--flink-python",
        sys.executable,
        "--flink-address",
        f"127.0.0.1:{port}",
        cwd=tmp_path,
    )
    assert res.returncode == 2 and f"the Flink JobManager at 127.0.0.1:{port} is unreachable" in res.stderr
    res = _cli("flink", "export", str(pipe), "-o", str(tmp_path / "job.py"), cwd=tmp_path)
    assert res.returncode == 2 and "embedded default log" in res.stderr
    assert not (tmp_path / "job.py").exists()
    res = _cli("flink", "check", str(ok), cwd=tmp_path)
    assert res.returncode == 0 and "ok: 1 job(s)" in res.stdout


def test_no_pyflink_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MILLSTREAM_FLINK_PYTHON", raising=False)
    monkeypatch.setattr("millstream.flink.runner.pyflink_here", lambda: False)
    with pytest.raises(FlinkEngineError) as err:
        flink_python(FlinkOptions())
    assert "PyFlink is not installed" in err.value.message and "--flink-python" in (err.value.hint or "")
    with pytest.raises(FlinkEngineError, match="not an executable file"):
        flink_python(FlinkOptions(python=str(tmp_path / "python")))


def test_check_pipeline_counts_jobs(tmp_path: Path) -> None:
    pipe = tmp_path / "two.py"
    pipe.write_text(
        "from millstream import StreamExecutionEnvironment\n"
        "for name in ('a', 'b'):\n"
        "    env = StreamExecutionEnvironment.get_execution_environment()\n"
        "    env.from_collection([1]).sink_to(__import__('millstream.connectors').connectors.FileSink.for_path("
        f"{str(tmp_path / 'x.txt')!r}))\n"
        "    env.execute(name)\n"
    )
    assert check_pipeline(str(pipe), FlinkOptions()) == 2
    assert not (tmp_path / "x.txt").exists()  # checked, not run


def test_file_sink_is_accepted() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection([1]).sink_to(FileSink.for_path("/tmp/never-written.txt"))
    check_job(_sinks(env))


def test_operator_state_is_refused() -> None:
    from millstream.functions import CheckpointedFunction, MapFunction

    class Counting(MapFunction, CheckpointedFunction):
        def initialize_state(self, context: object) -> None:
            pass

        def snapshot_state(self, context: object) -> None:
            pass

        def map(self, value: object) -> object:
            return value

    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection([1]).map(Counting()).print()
    with pytest.raises(FlinkTranslationError, match=r"operator 'Map' \(map\): operator state"):
        check_job(_sinks(env))


def test_what_a_remote_job_ships(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Submitted to a JobManager, a job carries millstream (a zip whose root holds ``millstream/``) and the
    modules of the pipeline's folder that the file imported (not the folder's other files)."""
    folder = tmp_path / "pipelines"
    (folder / "helpers").mkdir(parents=True)
    (folder / "helpers" / "__init__.py").write_text("from .more import TWO\n")
    (folder / "helpers" / "more.py").write_text("TWO = 2\n")
    (folder / "helpers" / "data.csv").write_text("a,b\n")
    (folder / "util.py").write_text("ONE = 1\n")
    (folder / "unused.py").write_text("raise SystemExit('not imported')\n")
    into = tmp_path / "ship"
    into.mkdir()
    assert folder_modules_zip(str(folder), str(into)) is None
    monkeypatch.syspath_prepend(str(folder))
    for name in ("util", "helpers", "helpers.more"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    __import__("util")
    __import__("helpers")
    shipped = folder_modules_zip(str(folder), str(into))
    assert shipped is not None and shipped.endswith("pipelines-modules.zip")
    with zipfile.ZipFile(shipped) as zf:
        assert sorted(zf.namelist()) == ["helpers/__init__.py", "helpers/more.py", "util.py"]
    with zipfile.ZipFile(millstream_zip(str(into))) as zf:
        names = zf.namelist()
    assert "millstream/__init__.py" in names
    assert "millstream/flink/java/millstream/flink/PerElementWatermarks.java" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    for name in ("util", "helpers", "helpers.more"):
        sys.modules.pop(name, None)


def test_modules_below_the_folder_but_not_imported_from_it_are_not_shipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A virtualenv inside the pipeline's folder: its packages are below the folder, but not the folder's."""
    site = tmp_path / "venv" / "lib" / "site-packages"
    (site / "somepkg").mkdir(parents=True)
    (site / "somepkg" / "__init__.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "somepkg", raising=False)
    __import__("somepkg")
    try:
        assert folder_modules_zip(str(tmp_path), str(tmp_path)) is None
    finally:
        sys.modules.pop("somepkg", None)
