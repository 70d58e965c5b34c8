"""A standalone Flink cluster (one JobManager, one TaskManager) started from the Flink distribution that the
PyFlink wheel ships (``<site-packages>/pyflink/bin/jobmanager.sh``, ``taskmanager.sh``), for the tests of
``--flink-address``.

- configuration: a ``config.yaml`` of its own in a temp ``FLINK_CONF_DIR`` (logs and pid files there too):
  everything bound to 127.0.0.1, the REST and JobManager RPC ports free ports, 2 task slots, small memory
  (JobManager 1024 MB, TaskManager 1280 MB);
- the processes: ``jobmanager.sh start-foreground`` and ``taskmanager.sh start-foreground``, each in a session
  of its own; the scripts ``exec`` the JVM, so the PIDs this class holds are the JVMs'. Their environment has
  no ``PYTHONPATH`` (a job must ship what its Python workers import) and the PyFlink virtualenv's ``bin``
  first on ``PATH``;
- ready when ``GET /overview`` shows the TaskManager and its slots;
- :meth:`stop` sends SIGTERM to each JVM, SIGKILL after 30 s, then ends what is left of each process group
  (the TaskManager's Python workers) and raises if any process of the cluster is still alive.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

MEMORY = {"jobmanager.memory.process.size": "1024m", "taskmanager.memory.process.size": "1280m"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def flink_home(python: Path) -> Path:
    """The Flink distribution inside the PyFlink install of ``python``."""
    out = subprocess.run(
        [str(python), "-c", "import os, pyflink; print(os.path.dirname(pyflink.__file__))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return Path(out.stdout.strip())


class StandaloneFlink:
    """One JobManager and one TaskManager on loopback (see the module docstring)."""

    def __init__(self, python: Path, root: Path, slots: int = 2) -> None:
        self.python = python
        self.home = flink_home(python)
        self.root = root
        self.slots = slots
        self.rest_port = free_port()
        self.rpc_port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def address(self) -> str:
        """``host:port`` of the REST endpoint (what ``--flink-address`` takes)."""
        return f"127.0.0.1:{self.rest_port}"

    def _configure(self) -> dict[str, str]:
        conf_dir, log_dir = self.root / "conf", self.root / "log"
        conf_dir.mkdir(parents=True, exist_ok=True)
        log_dir.mkdir(exist_ok=True)
        for name in ("log4j-console.properties", "logback-console.xml"):
            shutil.copy(self.home / "conf" / name, conf_dir / name)
        conf = {
            "jobmanager.rpc.address": "127.0.0.1",
            "jobmanager.bind-host": "127.0.0.1",
            "jobmanager.rpc.port": str(self.rpc_port),
            "taskmanager.bind-host": "127.0.0.1",
            "taskmanager.host": "127.0.0.1",
            "taskmanager.numberOfTaskSlots": str(self.slots),
            "rest.address": "127.0.0.1",
            "rest.bind-address": "127.0.0.1",
            "rest.port": str(self.rest_port),
            **MEMORY,
        }
        (conf_dir / "config.yaml").write_text("".join(f"{k}: {v}\n" for k, v in conf.items()))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("FLINK_")}
        env.update(FLINK_CONF_DIR=str(conf_dir), FLINK_LOG_DIR=str(log_dir), FLINK_PID_DIR=str(self.root))
        env["PATH"] = os.pathsep.join((str(self.python.parent), env.get("PATH", "")))
        return env

    def start(self, timeout: float = 240.0) -> None:
        """Starts both processes and waits until the TaskManager has registered its slots."""
        env = self._configure()
        for role, script in (("jobmanager", "jobmanager.sh"), ("taskmanager", "taskmanager.sh")):
            with open(self.root / f"{role}.console", "wb") as out:
                self.procs[role] = subprocess.Popen(
                    ["bash", str(self.home / "bin" / script), "start-foreground"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.root,
                    start_new_session=True,
                )
        deadline = time.monotonic() + timeout
        while True:
            for role, proc in self.procs.items():
                if proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"the {role} exited with {proc.returncode}: {self.log_tail(role)}")
            try:
                overview = self.rest("/overview")
                if overview.get("taskmanagers", 0) >= 1 and overview.get("slots-total", 0) >= self.slots:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the cluster did not come up in {timeout:.0f}s: {self.log_tail('taskmanager')}")
            time.sleep(1.0)

    def rest(self, path: str) -> Any:
        """``GET`` a REST path of the JobManager, as JSON."""
        with urllib.request.urlopen(f"http://{self.address}{path}", timeout=10) as reply:
            return json.loads(reply.read())

    def log_tail(self, role: str, chars: int = 3000) -> str:
        texts = [p.read_text(errors="replace") for p in sorted((self.root / "log").glob(f"*{role[:4]}*.log"))]
        console = self.root / f"{role}.console"
        if console.exists():
            texts.append(console.read_text(errors="replace"))
        return "\n".join(texts)[-chars:]

    def _group_members(self, pgid: int) -> list[int]:
        members = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getpgid(int(entry)) == pgid:
                        members.append(int(entry))
                except ProcessLookupError:
                    continue
        return members

    def stop(self) -> None:
        """Stops the TaskManager, then the JobManager (see the module docstring); raises if a process of the
        cluster survives."""
        for role in ("taskmanager", "jobmanager"):
            proc = self.procs.get(role)
            if proc is None:
                continue
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)
        survivors: list[int] = []
        for proc in self.procs.values():
            left = self._group_members(proc.pid)  # the session this class started: pgid == the JVM's pid
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5 if left else 0)
            survivors += self._group_members(proc.pid)
        self.procs.clear()
        if survivors:
            raise RuntimeError(f"processes of the Flink cluster survived SIGKILL: {survivors}")

    def alive(self) -> list[int]:
        """PIDs of the cluster's JVMs that are still running."""
        return [p.pid for p in self.procs.values() if p.poll() is None]
