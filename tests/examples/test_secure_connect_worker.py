"""examples/secure_connect_worker run for real: ``millstream connect worker worker.properties`` over HTTPS with
basic authentication and ``allowed.paths``, driven with httpx (a certificate made here stands in for the
README's openssl command)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx

from ..http.conftest import self_signed
from ..product.conftest import cli_env
from .conftest import EXAMPLES, wait_for


def test_secure_connect_worker(tmp_path: Path) -> None:
    work = tmp_path / "worker"
    shutil.copytree(EXAMPLES / "secure_connect_worker", work)
    keystore, ca = self_signed(tmp_path)
    shutil.copy(keystore, work / "connect.pem")
    (work / "data").mkdir()
    (work / "data" / "in.txt").write_text("hello\nworld\n")
    (tmp_path / "secret.txt").write_text("top secret\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "millstream",
            "connect",
            "worker",
            "worker.properties",
            "--rest-port",
            "0",
            "--rest-host",
            "127.0.0.1",
        ],
        cwd=work,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "REST API at https://127.0.0.1:" in line, line + proc.stderr.read() if proc.poll() is not None else line
        url = line.split("REST API at ")[1].split()[0]
        tls = ssl.create_default_context(cafile=str(ca))
        with httpx.Client(base_url=url, verify=tls, auth=("admin", "change-me"), timeout=10) as c:
            assert httpx.get(url + "/connectors", verify=tls).status_code == 401
            cfg = {"connector.class": "FileStreamSource", "file": "data/in.txt", "topic": "lines"}
            assert c.post("/connectors", json={"name": "in", "config": cfg}).status_code == 201
            wait_for(
                lambda: (
                    c.get("/connectors/in/status").json()["tasks"][:1] != []
                    and c.get("/connectors/in/status").json()["tasks"][0]["state"] == "RUNNING"
                )
            )
            for bad in (str(tmp_path / "secret.txt"), "data/../../secret.txt", ".millstream/log.db"):
                r = c.post("/connectors", json={"name": "bad", "config": {**cfg, "file": bad}})
                assert r.status_code == 400 and bad in r.json()["message"], r.text
    finally:
        proc.terminate()
        proc.wait(20)
