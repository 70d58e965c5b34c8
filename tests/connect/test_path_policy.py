"""File connectors on a worker: ``allowed.paths`` and the log's and checkpoints' own files are enforced at
create/update time, over the REST API too (the exploit from issue 13 replayed: a FileStreamSink appending to
the worker's own ``log.db`` gets a 400 naming the path)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from millstream.connect.errors import ConnectorConfigError
from millstream.connect.herder import Herder
from millstream.connect.rest import RestServer
from millstream.log import open_log


@pytest.fixture
def disk_worker(tmp_path: Path):
    log_dir = tmp_path / "log"
    herder = Herder({"offset.flush.interval.ms": "50"}, open_log(f"file://{log_dir}"), worker_id="t:0")
    herder.start()
    server = RestServer(herder, "127.0.0.1", 0)
    server.start()
    yield herder, server, log_dir
    server.stop()
    herder.stop()


def test_writing_into_the_workers_own_log_is_refused_over_rest(disk_worker):
    herder, server, log_dir = disk_worker
    for target in (log_dir / "log.db", log_dir / "notes.txt", log_dir / ".." / "log" / "log.db-wal"):
        cfg = {"connector.class": "FileStreamSink", "topics": "t", "file": str(target)}
        r = httpx.post(server.url + "/connectors", json={"name": "evil", "config": cfg})
        assert r.status_code == 400, r.text
        assert str(target) in r.json()["message"] and "millstream log" in r.json()["message"]
        r = httpx.put(server.url + "/connectors/evil/config", json=cfg)
        assert r.status_code == 400
    assert herder.connectors() == []
    assert (log_dir / "log.db").stat().st_size > 0


def test_checkpoint_directories_are_refused(tmp_path):
    chk = tmp_path / "cp" / "job" / "chk-000000003"
    chk.mkdir(parents=True)
    (chk / "_metadata").write_text("{}")
    h = Herder({}, open_log("memory://"), worker_id="t:0")
    h.start()
    try:
        for path in (chk / "state.bin", chk / "_metadata"):
            with pytest.raises(ConnectorConfigError, match="checkpoint directory"):
                h.create_connector("c", {"connector.class": "FileStreamSource", "topic": "t", "file": str(path)})
    finally:
        h.stop()


def test_allowed_paths_of_the_worker_and_the_connector(tmp_path):
    inside, outside = tmp_path / "data", tmp_path / "other"
    inside.mkdir()
    outside.mkdir()
    (inside / "in.txt").write_text("a\n")
    (outside / "secret.txt").write_text("s\n")
    (inside / "link.txt").symlink_to(outside / "secret.txt")
    h = Herder({"allowed.paths": str(inside)}, open_log("memory://"), worker_id="t:0")
    h.start()
    try:
        src = {"connector.class": "FileStreamSource", "topic": "t"}
        h.create_connector("ok", {**src, "file": str(inside / "in.txt")})
        for bad in (outside / "secret.txt", inside / ".." / "other" / "secret.txt", inside / "link.txt", "/etc/passwd"):
            with pytest.raises(ConnectorConfigError, match=r"outside the worker's allowed\.paths") as err:
                h.create_connector("bad", {**src, "file": str(bad)})
            assert str(bad) in str(err.value)
        sink = {"connector.class": "FileStreamSink", "topics": "t", "file": str(inside / "out.txt")}
        with pytest.raises(ConnectorConfigError, match=r"outside the connector's allowed\.paths"):
            h.create_connector("narrow", {**sink, "allowed.paths": str(inside / "sub")})
        h.create_connector("sink", sink)
        assert sorted(h.connectors()) == ["ok", "sink"]
    finally:
        h.stop()
