"""``millstream run PIPELINE.py`` as a real subprocess, on the embedded log on disk."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from millstream.log import open_log
from millstream.stream.environment import JobConfig

from .conftest import cli_env

SINK_PIPELINE = """
from millstream import StreamExecutionEnvironment
from millstream.connectors import LogSink

env = StreamExecutionEnvironment.get_execution_environment()
env.from_collection(["a", "b", "c"]).map(str.upper).sink_to(
    LogSink.builder().set_topic("out").set_value_format("string").build())
env.execute("upper")
"""


def _values(url: str, topic: str) -> list[str]:
    with open_log(url) as log:
        return [r.value.decode() for r in log.read(topic, 0, 0)]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _make_topic(url: str, name: str) -> None:
    with open_log(url) as log:
        log.create_topic(name, 1)


def test_file_that_executes_uses_the_default_log(tmp_path: Path, cli: Any) -> None:
    url = f"file://{tmp_path / 'log'}"
    _make_topic(url, "out")
    _write(tmp_path, "p.py", SINK_PIPELINE)
    res = cli("run", "p.py", "--log", url)
    assert res.returncode == 0, res.stderr
    assert _values(url, "out") == ["A", "B", "C"]


def test_build_function_is_run_by_millstream(tmp_path: Path, cli: Any) -> None:
    url = f"file://{tmp_path / 'log'}"
    _make_topic(url, "out")
    _write(
        tmp_path,
        "b.py",
        """
        from millstream.connectors import LogSink

        def build(env):
            env.from_collection([1, 2, 3]).map(lambda x: x * 10).sink_to(LogSink.builder().set_topic("out").build())
        """,
    )
    res = cli("run", "b.py", "--log", url)
    assert res.returncode == 0, res.stderr
    assert _values(url, "out") == ["10", "20", "30"]


def test_bad_input_is_one_clear_line_without_traceback(tmp_path: Path, cli: Any) -> None:
    _write(tmp_path, "syntax.py", "x = (1,\n")
    _write(
        tmp_path,
        "nosink.py",
        """
        from millstream import StreamExecutionEnvironment
        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_collection([1]).map(str)
        env.execute("no sink")
        """,
    )
    _write(tmp_path, "nojob.py", "x = 1\n")
    _write(tmp_path, "boom.py", "raise ValueError('bad threshold')\n")
    cases = {
        "syntax.py": (2, "syntax.py, line 1: syntax error"),
        "nosink.py": (2, "the job has no sinks"),
        "nojob.py": (2, "ran no job"),
        "missing.py": (2, "missing.py does not exist"),
        "boom.py": (1, "ValueError: bad threshold"),
    }
    for name, (code, text) in cases.items():
        res = cli("run", name)
        assert res.returncode == code, (name, res.stderr)
        first = res.stderr.splitlines()[0]
        assert first.startswith("error: ") and text in first, (name, res.stderr)
        assert "Traceback" not in res.stderr, name
    verbose = cli("run", "boom.py", "--verbose")
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_metrics_port_in_use(tmp_path: Path, cli: Any) -> None:
    _write(tmp_path, "p.py", SINK_PIPELINE)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = cli("run", "p.py", "--metrics-port", str(port))
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == f"error: --metrics-port {port}: the port is already in use"
    assert "Traceback" not in res.stderr


def test_job_id_and_savepoint_options(tmp_path: Path, cli: Any) -> None:
    url = f"file://{tmp_path / 'log'}"
    _make_topic(url, "out")
    _write(tmp_path, "p.py", SINK_PIPELINE)
    res = cli("run", "p.py", "--log", url, "--job-id", "upper-1")
    if hasattr(JobConfig(), "job_id"):  # the checkpointing runtime is there: the option passes through
        assert res.returncode == 0, res.stderr
    else:
        assert res.returncode == 2
        assert res.stderr.startswith("error: --job-id is not supported by this millstream runtime")


def test_ctrl_c_cancels_the_job_cleanly(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'log'}"
    _make_topic(url, "in")
    _make_topic(url, "out")
    _write(
        tmp_path,
        "follow.py",
        """
        from millstream import StreamExecutionEnvironment
        from millstream.connectors import LogSink, LogSource

        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_source(LogSource.builder().set_topics("in").set_value_format("string").build()).map(
            lambda s: s + "!").sink_to(LogSink.builder().set_topic("out").set_value_format("string").build())
        print("running", flush=True)
        env.execute("follow")
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "millstream", "run", "follow.py", "--log", url],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "running"
        from millstream.core.record import ProducerRecord

        with open_log(url) as log:
            log.append("in", 0, [ProducerRecord(b"hello", None, None)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _values(url, "out") != ["hello!"]:
            time.sleep(0.1)
        assert _values(url, "out") == ["hello!"]
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == "interrupted: job stopped"
