"""Both surfaces answer every status in their own JSON error shape (Kafka Connect's ``error_code``/``message``,
Flink's ``errors``), handle HEAD and OPTIONS, and serve a valid OpenAPI document whose schemas their answers
match."""

from __future__ import annotations

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

from .conftest import raw


def _connect_error(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == status and body["message"]


def _flink_error(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"errors"} and isinstance(body["errors"], list) and body["errors"][0]


def test_connect_errors_have_connects_shape_for_every_status(connect):
    with httpx.Client(base_url=connect.url) as c:
        _connect_error(c.get("/nope"), 404)
        _connect_error(c.get("/connectors/missing"), 404)
        r = c.delete("/connector-plugins")
        _connect_error(r, 405)
        assert r.headers["allow"] == "GET, HEAD, OPTIONS"
        _connect_error(c.post("/connectors", content=b"<x/>", headers={"Content-Type": "application/xml"}), 415)
        _connect_error(c.request("TRACE", "/connectors"), 501)
        _connect_error(c.request("BREW", "/connectors"), 501)
        _connect_error(c.post("/connectors", content=b"{nope", headers={"Content-Type": "application/json"}), 400)


def test_monitoring_errors_have_flinks_shape_for_every_status(monitoring):
    with httpx.Client(base_url=monitoring.url) as c:
        _flink_error(c.get("/nope"), 404)
        _flink_error(c.get("/jobs/0123"), 404)
        _flink_error(c.post("/jobs", json={}), 405)
        _flink_error(c.request("PATCH", "/metrics"), 405)
        _flink_error(c.request("TRACE", "/jobs"), 501)
        _flink_error(c.request("GET", "/jobs", content=b"x" * 5000), 413)
        r = c.get("/jobs")
        assert r.status_code == 200 and isinstance(r.json()["jobs"], list)


@pytest.mark.parametrize("surface", ["connect", "monitoring"])
def test_head_and_options(surface, request):
    server = request.getfixturevalue(surface)
    path = "/connectors" if surface == "connect" else "/jobs"
    with httpx.Client(base_url=server.url) as c:
        get = c.get(path)
        head = c.head(path)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(get.content))
        r = c.options(path)
        assert r.status_code == 204 and "GET" in r.headers["allow"] and "OPTIONS" in r.headers["allow"]
        assert c.options("/no/such/thing").status_code == 404
    # HEAD's body-less answer also holds on a raw connection (no stray bytes after the headers)
    out = raw(server.port, f"HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"\r\n\r\n")


def _schema(doc: dict, path: str, method: str, status: int) -> dict | None:
    responses = doc["paths"][path][method]["responses"]
    entry = responses.get(str(status), responses["default"])
    content = entry.get("content", {}).get("application/json")
    if content is None:
        return None
    schema = content["schema"]
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_connect_openapi_is_valid_and_answers_match_it(connect, tmp_path):
    with httpx.Client(base_url=connect.url) as c:
        doc = c.get("/openapi.json").json()
        validate(doc)
        served = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
        assert ("POST", "/connectors") in served and ("PUT", "/connector-plugins/{plugin}/config/validate") in served
        assert len(served) == len(connect.api.routes)
        src = tmp_path / "in.txt"
        src.write_text("a\n")
        cfg = {"connector.class": "FileStreamSource", "file": str(src), "topic": "t"}
        calls = [
            ("post", "/connectors", "/connectors", {"name": "s", "config": cfg}),
            ("get", "/connectors", "/connectors", None),
            ("get", "/connectors/s", "/connectors/{name}", None),
            ("get", "/connectors/s/config", "/connectors/{name}/config", None),
            ("get", "/connectors/s/status", "/connectors/{name}/status", None),
            ("get", "/connectors/nope/status", "/connectors/{name}/status", None),
            ("get", "/connector-plugins", "/connector-plugins", None),
            (
                "put",
                "/connector-plugins/FileStreamSource/config/validate",
                "/connector-plugins/{plugin}/config/validate",
                cfg,
            ),
            ("delete", "/connectors/s", "/connectors/{name}", None),
        ]
        for method, url, template, body in calls:
            r = c.request(method.upper(), url, json=body)
            schema = _schema(doc, template, method, r.status_code)
            if schema is not None:
                jsonschema.validate(r.json(), schema)


def test_monitoring_openapi_is_valid_and_answers_match_it(monitoring):
    with httpx.Client(base_url=monitoring.url) as c:
        doc = c.get("/openapi.json").json()
        validate(doc)
        assert "/jobs/{id}/checkpoints" in doc["paths"]
        for url, template in [
            ("/", "/"),
            ("/jobs", "/jobs"),
            ("/jobs/overview", "/jobs/overview"),
            ("/jobs/x", "/jobs/{id}"),
        ]:
            r = c.get(url)
            schema = _schema(doc, template, "get", r.status_code)
            assert schema is not None
            jsonschema.validate(r.json(), schema)
        assert c.get("/metrics").headers["content-type"].startswith("text/plain")
