"""examples/connect_cluster run for real: two ``millstream connect distributed worker.properties`` processes
form one cluster, driven as the README shows (writes through either worker, status from either)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ..product.conftest import cli_env
from .conftest import EXAMPLES, wait_for


def _start(work: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "millstream", "connect", "distributed", "worker.properties", "--rest-port", "0"],
        cwd=work,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "REST API at " not in line:
        proc.kill()
        raise AssertionError(line + (proc.stderr.read() if proc.stderr else ""))
    return proc, line.split("REST API at ")[1].split()[0]


@pytest.mark.slow
def test_connect_cluster(tmp_path: Path) -> None:
    work = tmp_path / "cluster"
    shutil.copytree(EXAMPLES / "connect_cluster", work)
    (work / "in.txt").write_text("one\ntwo\nthree\n")
    procs: list[subprocess.Popen[str]] = []
    try:
        p1, url1 = _start(work)
        procs.append(p1)
        p2, url2 = _start(work)
        procs.append(p2)
        source = {"connector.class": "FileStreamSource", "file": "in.txt", "topic": "lines"}
        sink = {"connector.class": "FileStreamSink", "file": "out.txt", "topics": "lines", "tasks.max": "2"}
        assert httpx.post(url2 + "/connectors", json={"name": "in", "config": source}, timeout=30).status_code == 201
        assert httpx.post(url1 + "/connectors", json={"name": "out", "config": sink}, timeout=30).status_code == 201
        ids = {url1.split("//")[1], url2.split("//")[1]}

        def running(url: str) -> bool:
            st = httpx.get(url + "/connectors/out/status", timeout=10).json()
            return len(st.get("tasks", [])) == 2 and all(
                t["state"] == "RUNNING" and t["worker_id"] in ids for t in st["tasks"]
            )

        wait_for(lambda: running(url1) and running(url2), timeout=30)
        assert httpx.get(url1 + "/connectors/out/status").json() == httpx.get(url2 + "/connectors/out/status").json()
        wait_for(
            lambda: (
                (work / "out.txt").exists()
                and sorted((work / "out.txt").read_text().split()) == ["one", "three", "two"]
            ),
            timeout=30,
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
