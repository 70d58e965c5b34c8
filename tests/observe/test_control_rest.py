"""Flink's job control endpoints over real HTTP on jobs running in this process (``env.execute_async``) on an
embedded log on disk: cancel, savepoints with trigger status, stop with a savepoint, and the refusals (404
unknown job / trigger, 400 no checkpointing / drain / bad body, 409 ended job) in Flink's error shape."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from millstream import StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink, LogSource
from millstream.log import open_log
from millstream.observe import Monitoring
from millstream.runtime.checkpoint_storage import load_checkpoint

from ._support import Producer, get, wait_for


def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """One request with a JSON body; (status, parsed JSON or None)."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw, status = resp.read(), resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    return status, (json.loads(raw) if raw.strip() else None)


def _job(tmp_path: Path, url: str, name: str, checkpointing: bool, parallelism: int) -> Any:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    if checkpointing:
        env.enable_checkpointing(100)
        env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "cp"))
    source = LogSource.builder().set_log(url).set_topics("in").set_group_id(name).build()
    env.from_source(source, WatermarkStrategy.for_monotonous_timestamps(), "events").key_by(lambda e: e["k"]).map(
        lambda e: e
    ).name("copy").sink_to(LogSink.builder().set_log(url).set_topic("out").build())
    return env.execute_async(name)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    url = f"file://{tmp_path / 'log'}"
    with open_log(url) as log:
        log.create_topic("in", 2)
        log.create_topic("out", 1)
    producer = Producer(url).start()
    clients: list[Any] = []
    with Monitoring(0) as mon:

        def start(name: str, checkpointing: bool = True, parallelism: int = 1) -> Any:
            client = _job(tmp_path, url, name, checkpointing, parallelism)
            clients.append(client)
            wait_for(lambda: client.runner.status == "RUNNING", what=f"{name} to run")
            return client

        try:
            yield {"url": mon.url, "start": start}
        finally:
            producer.stop()
            for c in clients:
                c.cancel()


def _await(base: str, jid: str, trigger: str) -> dict[str, Any]:
    def done() -> Any:
        status, answer = get(f"{base}/jobs/{jid}/savepoints/{trigger}")
        assert status == 200, answer
        return answer["status"]["id"] == "COMPLETED" and answer

    return dict(wait_for(done, timeout=60, what="the savepoint"))


@pytest.mark.parametrize("parallelism", [1, 2])
def test_savepoint_then_stop_with_savepoint(server: dict[str, Any], tmp_path: Path, parallelism: int) -> None:
    """On the single-threaded runner and on worker processes (the parallel runner) alike."""
    base, client = server["url"], server["start"]("sp", parallelism=parallelism)
    assert type(client.runner).__name__ == ("JobRunner" if parallelism == 1 else "ParallelJobRunner")
    wait_for(lambda: client.runner.summary.stats, what="a first checkpoint")
    status, answer = call("POST", f"{base}/jobs/{client.jid}/savepoints", {"target-directory": str(tmp_path / "sps")})
    assert status == 202 and set(answer) == {"request-id"}
    done = _await(base, client.jid, answer["request-id"])
    location = Path(done["operation"]["location"])
    assert location.parent == tmp_path / "sps" and location.name.startswith(f"savepoint-{client.jid[:6]}-")
    assert load_checkpoint(location).manifest["kind"] == "savepoint"
    assert client.get_job_status() == "RUNNING"
    latest = get(f"{base}/jobs/{client.jid}/checkpoints")[1]["latest"]["savepoint"]
    assert latest["is_savepoint"] and latest["external_path"] == str(location)
    assert latest["id"] == load_checkpoint(location).checkpoint_id

    status, answer = call("POST", f"{base}/jobs/{client.jid}/stop", {"targetDirectory": str(tmp_path / "stop")})
    assert status == 202
    done = _await(base, client.jid, answer["request-id"])
    stopped = Path(done["operation"]["location"])
    assert client.wait(30) and client.get_job_status() == "FINISHED"
    last = [s for s in client.runner.summary.stats if s.status == "COMPLETED"][-1]
    assert load_checkpoint(stopped).checkpoint_id == last.checkpoint_id  # the final checkpoint, nothing after

    status, answer = call("POST", f"{base}/jobs/{client.jid}/savepoints", {"target-directory": str(tmp_path)})
    assert status == 409 and "FINISHED" in answer["errors"][0]


def test_savepoint_with_cancel_job_and_patch_cancel(server: dict[str, Any], tmp_path: Path) -> None:
    base = server["url"]
    first = server["start"]("cancel-after")
    wait_for(lambda: first.runner.summary.stats, what="a first checkpoint")
    status, answer = call(
        "POST", f"{base}/jobs/{first.jid}/savepoints", {"target-directory": str(tmp_path / "sp"), "cancel-job": True}
    )
    assert status == 202
    assert Path(_await(base, first.jid, answer["request-id"])["operation"]["location"]).is_dir()
    assert first.wait(30) and first.get_job_status() == "CANCELED"

    second = server["start"]("patched")
    status, answer = call("PATCH", f"{base}/jobs/{second.jid}?mode=cancel")
    assert (status, answer) == (202, {})
    assert second.wait(30) and second.get_job_status() == "CANCELED"
    assert get(f"{base}/jobs/{second.jid}")[1]["state"] == "CANCELED"
    status, answer = call("PATCH", f"{base}/jobs/{second.jid}?mode=cancel")
    assert status == 409 and answer["errors"][0].startswith(f"Job {second.jid} is CANCELED")


def test_refusals_in_flinks_error_shape(server: dict[str, Any], tmp_path: Path) -> None:
    base = server["url"]
    unknown = "0" * 32
    for method, path, body in (
        ("PATCH", f"/jobs/{unknown}?mode=cancel", None),
        ("POST", f"/jobs/{unknown}/stop", {"targetDirectory": str(tmp_path)}),
        ("POST", f"/jobs/{unknown}/savepoints", {"target-directory": str(tmp_path)}),
        ("GET", f"/jobs/{unknown}/savepoints/abc", None),
    ):
        status, answer = call(method, base + path, body)
        assert status == 404 and "not found" in answer["errors"][0], (method, path, answer)

    plain = server["start"]("no-checkpoints", checkpointing=False)
    status, answer = call("POST", f"{base}/jobs/{plain.jid}/savepoints", {"target-directory": str(tmp_path)})
    assert status == 400
    assert "without checkpointing" in answer["errors"][0] and "env.enable_checkpointing" in answer["errors"][0]

    job = server["start"]("checked")
    for path, body, words in (
        ("stop", {"targetDirectory": str(tmp_path), "drain": True}, "drain"),
        ("savepoints", {}, "target directory"),
        ("savepoints", {"target-directory": 5}, "must be a str"),
        ("savepoints", b"{not json", "not valid JSON"),
        ("savepoints", [1], "JSON object"),
    ):
        status, answer = call("POST", f"{base}/jobs/{job.jid}/{path}", body)
        assert status == 400 and words in answer["errors"][0], (path, body, answer)
    status, answer = call("PATCH", f"{base}/jobs/{job.jid}?mode=stop")
    assert status == 400 and "mode=cancel" in answer["errors"][0]
    assert job.get_job_status() == "RUNNING"  # none of the refusals touched it
    status, answer = call("GET", f"{base}/jobs/{job.jid}/savepoints/{'f' * 32}")
    assert status == 404 and "Savepoint operation" in answer["errors"][0]
