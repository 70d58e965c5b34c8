"""The console's JSON API against a real embedded log on disk: topics, browse, produce, groups."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from millstream.core.record import ProducerRecord, TopicPartition
from millstream.log import open_log


def test_create_list_describe_delete_topic(api: httpx.Client, log_url: str) -> None:
    r = api.post("/topics", json={"name": "orders", "partitions": 3, "config": {"cleanup.policy": "compact"}})
    assert r.status_code == 201, r.text
    assert r.json()["partitions"] == 3
    rows = {t["name"]: t for t in api.get("/topics").json()["topics"]}
    assert rows["orders"]["cleanup_policy"] == "compact"
    assert rows["orders"]["retention_ms"] == 604800000 and rows["orders"]["records"] == 0
    # the CLI sees the topic the console created
    out = subprocess.run(
        [sys.executable, "-m", "millstream", "topics", "list", "--log", log_url], capture_output=True, text=True
    )
    assert "orders" in out.stdout, out.stderr
    dup = api.post("/topics", json={"name": "orders"})
    assert dup.status_code == 409 and "already exists" in dup.json()["error"]
    bad = api.post("/topics", json={"name": "no spaces", "partitions": 1})
    assert bad.status_code == 400 and "illegal character" in bad.json()["error"]
    zero = api.post("/topics", json={"name": "x", "partitions": 0})
    assert zero.status_code == 400 and "at least 1" in zero.json()["error"]
    badcfg = api.post("/topics", json={"name": "y", "config": {"retention.ms": "soon"}})
    assert badcfg.status_code == 400 and "retention.ms" in badcfg.json()["error"]
    detail = api.get("/topics/orders").json()
    assert [p["partition"] for p in detail["partition_offsets"]] == [0, 1, 2]
    assert api.delete("/topics/orders").status_code == 200
    gone = api.get("/topics/orders")
    assert gone.status_code == 404 and "does not exist" in gone.json()["error"]


def test_produce_then_browse_with_key_headers_and_sizes(api: httpx.Client, log_url: str) -> None:
    api.post("/topics", json={"name": "t", "partitions": 2})
    r = api.post("/topics/t/messages", json={"key": "k1", "value": '{"a": 1}', "headers": {"source": "test"}})
    assert r.status_code == 201, r.text
    placed = r.json()
    page = api.get("/topics/t/messages", params={"mode": "beginning"}).json()
    [msg] = page["messages"]
    assert (msg["partition"], msg["offset"]) == (placed["partition"], placed["offset"])
    assert msg["key"] == {"format": "string", "value": "k1"}
    assert msg["value"] == {"format": "json", "value": {"a": 1}}
    assert msg["headers"] == [{"key": "source", "format": "string", "value": "test"}]
    with open_log(log_url) as log:  # the record really is in the log, with its header bytes
        [rec] = log.read("t", placed["partition"], placed["offset"])
        assert rec.key == b"k1" and rec.headers == (("source", b"test"),)
    row = next(t for t in api.get("/topics").json()["topics"] if t["name"] == "t")
    assert row["records"] == 1 and row["bytes"] > 0
    bad = api.post("/topics/t/messages", json={"value": "{nope", "value_is_json": True})
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]
    badp = api.post("/topics/t/messages", json={"value": "v", "partition": 7})
    assert badp.status_code == 400 and "no partition 7" in badp.json()["error"]


def test_paging_reads_every_record_once_without_loading_the_topic(api: httpx.Client, log_url: str) -> None:
    with open_log(log_url) as log:
        log.create_topic("big", 3)
        log.produce("big", [ProducerRecord(f"v{i}".encode(), f"k{i}".encode(), 1_000 + i) for i in range(95)])
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 20, **({"cursor": cursor} if cursor else {})}
        page = api.get("/topics/big/messages", params=params).json()
        pages += 1
        assert len(page["messages"]) <= 20 and page["scanned"] <= 60
        seen += [m["value"]["value"] for m in page["messages"]]
        cursor = page["cursor"]
        if page["end"] and not page["messages"]:
            break
        assert pages < 20
    assert sorted(seen) == sorted(f"v{i}" for i in range(95)) and len(seen) == 95
    newest = api.get("/topics/big/messages", params={"mode": "end", "limit": 5}).json()["messages"]
    assert [m["value"]["value"] for m in newest] == [f"v{i}" for i in range(90, 95)]
    matching = api.get("/topics/big/messages", params={"mode": "end", "limit": 2, "filter": "value:/^v1\\d$/"}).json()
    assert [m["value"]["value"] for m in matching["messages"]] == ["v18", "v19"]
    from_ts = api.get("/topics/big/messages", params={"mode": "timestamp", "at": "1090", "limit": 50}).json()
    assert sorted(m["timestamp"] for m in from_ts["messages"]) == list(range(1090, 1095))
    from_off = api.get("/topics/big/messages", params={"mode": "offset", "at": "10", "partition": 0}).json()
    assert all(m["partition"] == 0 and m["offset"] >= 10 for m in from_off["messages"])
    assert from_off["messages"] and from_off["messages"][0]["offset"] == 10


def test_bad_browse_input_is_a_clear_400(api: httpx.Client, log_url: str) -> None:
    with open_log(log_url) as log:
        log.create_topic("few", 1)
        log.produce("few", [ProducerRecord(b"x"), ProducerRecord(b"error 42")])
    past = api.get("/topics/few/messages", params={"mode": "offset", "at": "999"})
    assert past.status_code == 400
    assert "offset 999 is past the end of few-0 (its next offset is 2" in past.json()["error"]
    regex = api.get("/topics/few/messages", params={"filter": "/err(/"})
    assert regex.status_code == 400 and "not a valid regular expression" in regex.json()["error"]
    mode = api.get("/topics/few/messages", params={"mode": "middle"})
    assert mode.status_code == 400 and "unknown browse mode" in mode.json()["error"]
    ts = api.get("/topics/few/messages", params={"mode": "timestamp", "at": "yesterday"})
    assert ts.status_code == 400 and "ISO date" in ts.json()["error"]
    avro = api.get("/topics/few/messages", params={"value_format": "avro"})
    assert avro.status_code == 400 and "schema" in avro.json()["error"]
    missing = api.get("/topics/nope/messages")
    assert missing.status_code == 404 and "does not exist" in missing.json()["error"]
    found = api.get("/topics/few/messages", params={"filter": "/ERROR \\d+/i"}).json()["messages"]
    assert [m["value"]["value"] for m in found] == ["error 42"]
    scoped = api.get("/topics/few/messages", params={"filter": "key:error"}).json()["messages"]
    assert scoped == []


def test_avro_values_decode_with_a_schema(api: httpx.Client, log_url: str) -> None:
    import io

    import fastavro
    import orjson

    schema = {"type": "record", "name": "r", "fields": [{"name": "n", "type": "int"}]}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), {"n": 7})
    with open_log(log_url) as log:
        log.create_topic("avro", 1)
        log.produce("avro", [ProducerRecord(b"\x00\x00\x00\x00\x01" + buf.getvalue())])
    page = api.get(
        "/topics/avro/messages", params={"value_format": "avro", "avro_schema": orjson.dumps(schema).decode()}
    ).json()
    assert page["messages"][0]["value"] == {"format": "avro", "value": {"n": 7}}


def test_groups_with_committed_offsets_and_lag(api: httpx.Client, log_url: str) -> None:
    with open_log(log_url) as log:
        log.create_topic("g", 2)
        log.produce("g", [ProducerRecord(b"v", partition=i % 2) for i in range(10)])
        log.commit_offsets("readers", {TopicPartition("g", 0): 2, TopicPartition("g", 1): 5})
    [row] = api.get("/groups").json()["groups"]
    assert row == {"group": "readers", "topics": ["g"], "partitions": 2, "lag": 3}
    detail = api.get("/groups/readers").json()
    assert [(p["partition"], p["committed"], p["latest"], p["lag"]) for p in detail["partitions"]] == [
        (0, 2, 5, 3),
        (1, 5, 5, 0),
    ]
    assert api.get("/topics/g").json()["groups"] == ["readers"]
    assert detail["members"] == []  # nobody reads now
    with open_log(log_url) as log:  # a live member of the group: the embedded log reports it
        consumer = log.consumer("readers", session_timeout_ms=30_000, heartbeat_interval_ms=1_000)
        consumer.subscribe(["g"])
        member = api.get("/groups/readers").json()["members"]
        assert member == [{"member_id": consumer.member_id, "assignment": ["g[0]", "g[1]"]}]
        consumer.close()
    unknown = api.get("/groups/nobody")
    assert unknown.status_code == 404 and "no committed offsets" in unknown.json()["error"]


def test_page_and_assets_are_served_small_and_offline(console) -> None:
    base = console.http.url
    with httpx.Client(timeout=10) as c:
        assert c.get(base + "/", follow_redirects=False).headers["location"] == "/console/"
        page = c.get(base + "/console/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        total = len(page.content)
        for asset, ctype in (("app.js", "text/javascript"), ("app.css", "text/css")):
            r = c.get(f"{base}/console/static/{asset}")
            assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
            assert "http://" not in r.text.replace("http://www.w3.org/2000/svg", "") and "https://" not in r.text
            total += len(r.content)
        assert total < 100_000  # small: no framework, no build step
        assert c.get(base + "/console/static/../../etc/passwd").status_code == 404
        assert c.get(base + "/console/static/nope.js").status_code == 404
        assert c.get(base + "/console/api/nothing").status_code == 404


def test_the_console_asks_for_the_same_basic_auth(log_url: str, tmp_path) -> None:
    from millstream.console import ConsoleServer
    from millstream.http import BasicAuth

    server = ConsoleServer(log_url, port=0, auth=BasicAuth({"ops": "s3cret"}))
    try:
        with httpx.Client(base_url=server.http.url, timeout=10) as c:
            r = c.get("/console/api/topics")
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
            assert c.get("/console/", auth=("ops", "s3cret")).status_code == 200
            assert c.get("/console/api/topics", auth=("ops", "wrong")).status_code == 401
    finally:
        server.close()


@pytest.mark.parametrize("body", ["[1, 2]", "{bad json"])
def test_bad_bodies_are_400_not_500(api: httpx.Client, body: str) -> None:
    r = api.post("/topics", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
