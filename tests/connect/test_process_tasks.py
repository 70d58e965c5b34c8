"""task.execution.mode=process: tasks in child processes on the embedded log, controlled by the worker."""

from __future__ import annotations

import time

import pytest

from millstream.connect import ConnectorConfigError

from .helpers import wait_until


@pytest.fixture
def log_url(tmp_path):
    return f"file://{tmp_path / 'log'}"


def test_process_tasks_round_trip_pause_and_offsets(make_herder, tmp_path):
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("".join(f"l{i}\n" for i in range(1000)))
    h = make_herder(**{"task.execution.mode": "process"})
    h.create_connector("src", {"connector.class": "FileStreamSource", "file": str(src), "topic": "t"})
    h.create_connector("snk", {"connector.class": "FileStreamSink", "file": str(dst), "topics": "t"})
    h.wait_for_state("src", "RUNNING", tasks=1, timeout=30)
    h.wait_for_state("snk", "RUNNING", tasks=1, timeout=30)
    procs = [t.process for rt in h._connectors.values() for t in rt.tasks.values()]
    assert all(p is not None and p.is_alive() for p in procs)  # really child processes
    wait_until(lambda: dst.exists() and len(dst.read_text().splitlines()) == 1000, timeout=30)
    h.pause_connector("src")
    h.wait_for_state("src", "PAUSED", tasks=1, timeout=30)
    with open(src, "a") as f:
        f.write("more\n")
    time.sleep(0.5)
    assert len(dst.read_text().splitlines()) == 1000
    h.resume_connector("src")
    wait_until(lambda: dst.read_text().splitlines()[-1:] == ["more"], timeout=30)
    # offsets written by the child processes are visible to the worker
    size = src.stat().st_size
    wait_until(
        lambda: h.connector_offsets("src") == [{"partition": {"filename": str(src)}, "offset": {"position": size}}]
    )
    assert h.active_topics("src") == ["t"]
    h.stop_connector("src")
    h.wait_for_state("src", "STOPPED", timeout=30)
    wait_until(lambda: not procs[0].is_alive(), timeout=30, what="the source task process to exit")


def test_process_mode_needs_a_shareable_log(make_herder, tmp_path, monkeypatch):
    from millstream.connect.herder import Herder
    from millstream.log import open_log

    h = Herder({"task.execution.mode": "process"}, open_log("memory://"), worker_id="t:0")
    h.start()
    try:
        with pytest.raises(ConnectorConfigError) as e:
            h.create_connector("x", {"connector.class": "FileStreamSource", "topic": "t", "file": str(tmp_path / "f")})
        assert "file://" in e.value.errors["task.execution.mode"][0]
    finally:
        h.stop()
