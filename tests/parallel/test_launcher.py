"""Starting workers: forked by the process's fork server (fast, and with the coordinator's environment, working
directory and standard output of the moment), or spawned with ``MILLSTREAM_WORKER_START=spawn``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from millstream import StreamExecutionEnvironment
from millstream.connectors import LogSource, OffsetsInitializer
from millstream.runtime.job import make_runner
from millstream.runtime.parallel import launcher
from millstream.testing import CollectingSink

from .conftest import alive, write_events


class EnvAndCwd:
    """A map function reporting what its worker process sees."""

    def __call__(self, e: dict[str, Any]) -> dict[str, Any]:
        return {"i": e["i"], "env": os.environ.get("MILLSTREAM_LAUNCHER_TEST"), "cwd": os.getcwd(), "pid": os.getpid()}


def _job(log_url: str) -> tuple[Any, CollectingSink]:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    src = (
        LogSource.builder()
        .set_log(log_url)
        .set_topics("events")
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .set_value_format("json")
        .build()
    )
    sink = CollectingSink()
    env.from_source(src, None, "events").rebalance().map(EnvAndCwd()).sink_to(sink)
    return make_runner(env, env._take_sinks(), "launcher", None), sink


def test_workers_are_forked_with_the_coordinators_environment_and_directory_of_the_moment(
    log_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_orphans: list[Any]
) -> None:
    write_events(log_url, "events", 2, 50)
    runs = []
    for n in range(2):  # the second job reuses the fork server started by the first: it must see the new values
        here = tmp_path / f"cwd{n}"
        here.mkdir()
        monkeypatch.chdir(here)
        monkeypatch.setenv("MILLSTREAM_LAUNCHER_TEST", f"value {n}")
        runner, sink = _job(log_url)
        no_orphans.append(runner)
        runner.run()
        rows = list(sink.values)
        assert sorted(r["i"] for r in rows) == list(range(50))
        assert {r["env"] for r in rows} == {f"value {n}"}
        assert {r["cwd"] for r in rows} == {str(here)}
        assert {r["pid"] for r in rows} <= set(runner.worker_pids)
        runs.append(runner)
    server = launcher._server
    assert server is not None and server.alive
    assert all(isinstance(p, int) for r in runs for p in r.worker_pids)


def test_spawn_start_method_starts_fresh_interpreters(
    log_url: str, monkeypatch: pytest.MonkeyPatch, no_orphans: list[Any]
) -> None:
    write_events(log_url, "events", 2, 20)
    monkeypatch.setenv(launcher.START_ENV, "spawn")
    # no coordinator there: it exits at once
    proc = launcher.start_worker("unix:/nonexistent/c.sock", 0, 1, "unix:/nonexistent/w0.sock")
    assert isinstance(proc, subprocess.Popen)
    assert proc.wait(30) != 0
    runner, sink = _job(log_url)
    no_orphans.append(runner)
    runner.run()
    assert sorted(r["i"] for r in sink.values) == list(range(20))


def test_a_forked_worker_reports_its_exit_like_popen(no_orphans: list[Any]) -> None:
    # cannot reach a coordinator: the worker fails
    proc = launcher.start_worker("unix:/nonexistent/c.sock", 0, 1, "unix:/nonexistent/w0.sock")
    assert isinstance(proc, launcher.ForkedWorker)
    assert proc.wait(30) != 0 and proc.poll() == proc.returncode
    assert not alive(proc.pid)
    with pytest.raises(subprocess.TimeoutExpired):
        slow = launcher.ForkedWorker(proc.server, 2**22 + 12345)  # a pid the server never reports
        slow.wait(0.05)


def test_a_forked_workers_output_goes_to_the_coordinators_stdout_of_the_moment(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys
            from millstream import StreamExecutionEnvironment
            from millstream.connectors import LogSource, OffsetsInitializer
            from millstream.log import open_log

            url = "file://{tmp_path}/log"
            with open_log(url) as log:
                log.create_topic("t", 2)
                for p in range(2):
                    log.append("t", p, [(b'{{"n": %d}}' % (p * 10 + i), None, 1000 + i) for i in range(3)])
            env = StreamExecutionEnvironment.get_execution_environment()
            env.set_parallelism(2)
            src = (LogSource.builder().set_log(url).set_topics("t").set_value_format("json")
                   .set_starting_offsets(OffsetsInitializer.earliest())
                   .set_bounded(OffsetsInitializer.latest()).build())
            env.from_source(src, None, "t").map(lambda e: e["n"]).print()
            env.execute("first")
            from millstream.runtime.parallel import launcher
            print("FORKSERVER", launcher._server.proc.pid, flush=True)
            # the second job's stdout is another file: its workers must write there
            fd = os.open("{tmp_path}/second.txt", os.O_WRONLY | os.O_CREAT)
            os.dup2(fd, 1)
            env.from_source(src, None, "t").map(lambda e: e["n"] + 100).print()
            env.execute("second")
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    server_pid = int(next(line for line in lines if line.startswith("FORKSERVER")).split()[1])
    first = [int(line.split()[-1]) for line in lines if not line.startswith("FORKSERVER")]
    assert sorted(first) == [0, 1, 2, 10, 11, 12]
    second = [int(line.split()[-1]) for line in (tmp_path / "second.txt").read_text().splitlines()]
    assert sorted(second) == [100, 101, 102, 110, 111, 112]
    deadline = time.monotonic() + 10  # the fork server ended with the process that started it
    while alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(server_pid)


def test_a_reused_pid_does_not_inherit_an_earlier_workers_exit() -> None:
    """The fork server reports exits by pid, and pids are reused (pid_max is often 32768): a worker forked with the
    pid of an earlier, ended worker must not look ended."""
    import marshal
    import socket
    import threading

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)

    class _Alive:
        def poll(self) -> None:
            return None

    server = object.__new__(launcher.ForkServer)
    server.sock, server.lock, server.exits, server.proc = ours, threading.Lock(), {}, _Alive()  # type: ignore[assignment]
    theirs.send(marshal.dumps(("exit", 4242, 0, 0.01)))  # an earlier worker with pid 4242 ended
    theirs.send(marshal.dumps(("forked", 4242)))  # the new one got the same pid
    worker = server._await_fork()
    assert worker.pid == 4242 and worker.poll() is None  # still running, as far as anyone knows
    theirs.send(marshal.dumps(("exit", 4242, -9, 0.01)))
    assert worker.poll() == -9
    ours.close()
    theirs.close()


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_workers_die_with_the_process_they_were_started_for(tmp_path: Path, start: str) -> None:
    """A worker's coordinator may run in another process (a reactive job's leader places workers on other
    instances): when the process that started it is killed -9, the fork server kills its forked workers, and a
    spawned worker ends itself (its lifeline pipe from that process reads end-of-file), so none keeps working for
    a coordinator on behalf of an instance that is gone."""
    import signal
    import socket

    coordinator = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    coordinator.bind(str(tmp_path / "c.sock"))
    coordinator.listen(4)  # accepts the worker's connection, never answers: the worker waits
    script = tmp_path / "instance.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time
            from millstream.runtime.parallel import launcher
            w = launcher.start_worker("unix:{tmp_path}/c.sock", 0, 1, "unix:{tmp_path}/w0.sock")
            print("WORKER", w.pid, launcher._server.proc.pid if launcher._server else w.pid, flush=True)
            time.sleep(600)
            """
        )
    )
    env = {**os.environ, launcher.START_ENV: start}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        _word, worker_pid, server_pid = proc.stdout.readline().split()
        assert alive(int(worker_pid))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while (alive(int(worker_pid)) or alive(int(server_pid))) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(int(worker_pid)) and not alive(int(server_pid))
    finally:
        proc.kill()
        coordinator.close()


def test_a_fork_server_whose_process_ends_before_it_is_ready_exits_quietly() -> None:
    """An instance may end while its fork server is still importing (it is started in the background when the
    instance joins; a job refused at once ends the instance first): the server finds the socket closed when it
    says it is ready and exits without a traceback on the instance's standard error."""
    import socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen(
        [sys.executable, "-m", "millstream.runtime.parallel.forkserver", str(theirs.fileno())],
        pass_fds=(theirs.fileno(),),
        stderr=subprocess.PIPE,
        text=True,
    )
    theirs.close()
    ours.close()  # before the server's imports are done
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
