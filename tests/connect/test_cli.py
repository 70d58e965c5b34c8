"""``millstream connect standalone|worker``: click's CliRunner for help and bad input, and real subprocesses
for a worker that is killed with SIGKILL and restarted on the same embedded log."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from millstream.cli.connect import connect, load_connector_file

from .helpers import wait_until

ENTRY = "from millstream.cli.connect import connect; connect()"


def test_help_everywhere():
    runner = CliRunner()
    for args in ([], ["standalone"], ["worker"]):
        result = runner.invoke(connect, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output
    assert "--rest-port" in runner.invoke(connect, ["worker", "--help"]).output
    assert "--log" in runner.invoke(connect, ["standalone", "--help"]).output


def test_standalone_rejects_bad_connector_configs_naming_the_key(tmp_path):
    worker = tmp_path / "worker.properties"
    worker.write_text("offset.flush.interval.ms=100\n")
    conn = tmp_path / "bad.properties"
    conn.write_text("name=bad\nconnector.class=FileStreamSource\nbatch.size=-1\n")
    result = CliRunner().invoke(
        connect, ["standalone", str(worker), str(conn), "--log", "memory://", "--rest-port", "0"]
    )
    assert result.exit_code == 1, result.output
    assert "batch.size" in result.output and "topic" in result.output
    nameless = tmp_path / "nameless.json"
    nameless.write_text(json.dumps({"connector.class": "FileStreamSource", "topic": "t"}))
    result = CliRunner().invoke(connect, ["standalone", str(worker), str(nameless), "--log", "memory://"])
    assert result.exit_code == 2 and "has no connector name" in result.output
    unknown = tmp_path / "unknown.properties"
    unknown.write_text("name=u\nconnector.class=io.confluent.connect.s3.S3SinkConnector\ntopics=t\n")
    result = CliRunner().invoke(
        connect, ["standalone", str(worker), str(unknown), "--log", "memory://", "--rest-port", "0"]
    )
    assert "S3SinkConnector" in result.output and "FileStreamSink" in result.output


def test_connector_files_in_properties_and_json(tmp_path):
    p = tmp_path / "a.properties"
    p.write_text("name=a\nconnector.class=FileStreamSource\ntopic=t\n")
    assert load_connector_file(str(p)) == (
        "a",
        {"name": "a", "connector.class": "FileStreamSource", "topic": "t"},
        None,
    )
    j = tmp_path / "b.json"
    j.write_text(json.dumps({"name": "b", "config": {"connector.class": "FileStreamSink"}, "initial_state": "PAUSED"}))
    assert load_connector_file(str(j)) == ("b", {"connector.class": "FileStreamSink"}, "PAUSED")


class Worker:
    """A ``millstream connect`` subprocess; reads its stdout to learn the REST URL."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ENTRY, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []  # its stderr (drained: a full pipe would block the worker's logging)
        threading.Thread(target=self._pump, daemon=True).start()
        self._errors_pump = threading.Thread(target=self._pump_errors, daemon=True)
        self._errors_pump.start()
        self.url = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if "REST API at " in line:
                self.url = line.split("REST API at ", 1)[1].split()[0]
                return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        raise AssertionError(f"worker did not start: {self.stderr}")

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _pump_errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.errors.append(line)

    @property
    def stderr(self) -> str:
        """What the worker wrote to stderr so far (all of it once it has exited)."""
        if self.proc.poll() is not None:
            self._errors_pump.join(5)
        return "".join(self.errors)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self, timeout: float = 20) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def test_worker_killed_with_sigkill_resumes_from_stored_offsets(tmp_path):
    log = f"file://{tmp_path / 'log'}"
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("".join(f"row-{i}\n" for i in range(3000)))
    props = tmp_path / "worker.properties"
    props.write_text("offset.flush.interval.ms=200\n")
    w1 = Worker("worker", str(props), "--log", log, "--rest-port", "0")
    try:
        with httpx.Client(base_url=w1.url, timeout=10) as c:
            assert c.get("/connectors").json() == []
            r = c.post(
                "/connectors",
                json={
                    "name": "src",
                    "config": {
                        "connector.class": "FileStreamSource",
                        "file": str(src),
                        "topic": "rows",
                        "batch.size": "100",
                    },
                },
            )
            assert r.status_code == 201, r.text
            r = c.post(
                "/connectors",
                json={
                    "name": "snk",
                    "config": {"connector.class": "FileStreamSink", "file": str(dst), "topics": "rows"},
                },
            )
            assert r.status_code == 201, r.text
            wait_until(lambda: dst.exists() and len(dst.read_text().splitlines()) >= 1500, timeout=30)
    finally:
        w1.kill()  # SIGKILL: no flush, no commit, no goodbye
    with open(src, "a") as f:
        f.write("".join(f"row-{i}\n" for i in range(3000, 4000)))
    w2 = Worker("worker", str(props), "--log", log, "--rest-port", "0")
    try:
        with httpx.Client(base_url=w2.url, timeout=10) as c:
            assert sorted(c.get("/connectors").json()) == ["snk", "src"]
            expected = [f"row-{i}" for i in range(4000)]

            def complete() -> bool:
                lines = dst.read_text().splitlines()
                return set(lines) >= set(expected)

            wait_until(complete, timeout=60, what="every row in the sink file")
            lines = dst.read_text().splitlines()
            deduped = list(dict.fromkeys(lines))
            assert deduped == expected  # nothing lost, order kept; at-least-once may repeat a tail
            status = c.get("/connectors/src/status").json()
            assert status["connector"]["state"] == "RUNNING"
        assert w2.terminate() == 0
    finally:
        if w2.proc.poll() is None:
            w2.kill()


def test_standalone_runs_properties_files_and_shuts_down_on_sigterm(tmp_path):
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("one\ntwo\n")
    worker = tmp_path / "worker.properties"
    worker.write_text(
        "key.converter=org.apache.kafka.connect.storage.StringConverter\n"
        "value.converter=org.apache.kafka.connect.storage.StringConverter\noffset.flush.interval.ms=100\n"
    )
    (tmp_path / "source.properties").write_text(
        f"name=local-file-source\nconnector.class=FileStreamSource\ntasks.max=1\nfile={src}\ntopic=connect-test\n"
    )
    (tmp_path / "sink.json").write_text(
        json.dumps(
            {
                "name": "local-file-sink",
                "config": {
                    "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                    "file": str(dst),
                    "topics": "connect-test",
                },
            }
        )
    )
    w = Worker(
        "standalone",
        str(worker),
        str(tmp_path / "source.properties"),
        str(tmp_path / "sink.json"),
        "--log",
        f"file://{tmp_path / 'log'}",
        "--rest-port",
        "0",
    )
    try:
        wait_until(lambda: dst.exists() and dst.read_text() == "one\ntwo\n", timeout=20)
        with httpx.Client(base_url=w.url, timeout=10) as c:
            assert sorted(c.get("/connectors").json()) == ["local-file-sink", "local-file-source"]
        assert w.terminate() == 0
    finally:
        if w.proc.poll() is None:
            w.kill()


def test_kc_cli_drives_a_worker_process(tmp_path):
    """The `kc` command of kafka-connect-py against `millstream connect worker` in its own process."""
    src = tmp_path / "in.txt"
    src.write_text("a\nb\n")
    w = Worker("worker", "--log", f"file://{tmp_path / 'log'}", "--rest-port", "0")
    env = dict(os.environ, KAFKA_CONNECT_URL=w.url)
    kc_exe = str(Path(sys.executable).parent / "kc")

    def kc(*args: str) -> str:
        out = subprocess.run([kc_exe, *args], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "Error" not in out.stdout, out.stdout + out.stderr
        return out.stdout.strip()

    try:
        cfg = {"name": "f", "config": {"connector.class": "FileStreamSource", "file": str(src), "topic": "t"}}
        assert json.loads(kc("create", "--config-data", json.dumps(cfg)))["name"] == "f"
        wait_until(lambda: json.loads(kc("status", "f"))["connector"]["state"] == "RUNNING", timeout=20)
        assert json.loads(kc("list")) == ["f"]
        assert json.loads(kc("get", "f"))["type"] == "source"
        assert json.loads(kc("config", "f"))["topic"] == "t"
        kc("pause", "f")
        wait_until(lambda: json.loads(kc("status", "f"))["connector"]["state"] == "PAUSED", timeout=20)
        kc("resume", "f")
        wait_until(lambda: json.loads(kc("status", "f"))["connector"]["state"] == "RUNNING", timeout=20)
        assert json.loads(kc("restart", "f", "--include-tasks"))["name"] == "f"
        assert json.loads(kc("list-tasks", "f"))[0]["id"] == {"connector": "f", "task": 0}
        wait_until(lambda: json.loads(kc("task-status", "f", "0"))["state"] == "RUNNING", timeout=20)
        kc("restart-task", "f", "0")
        assert json.loads(kc("list-topics", "f")) == {"f": {"topics": ["t"]}}
        kc("delete", "f")
        assert json.loads(kc("list")) == []
        assert w.terminate() == 0
    finally:
        if w.proc.poll() is None:
            w.kill()
