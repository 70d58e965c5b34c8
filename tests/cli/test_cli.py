"""The millstream CLI: topics, produce, consume — behaviour, output and error messages.

Runs against a named ``memory://`` log shared by invocations in this process, and (with the embedded
backend) against ``file://`` in real subprocesses, the way a shell user runs it.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest
from click.testing import CliRunner

from millstream.cli import cli
from millstream.log import open_log
from millstream.log.partitioner import partition_for_key

_ids = itertools.count()


@pytest.fixture
def url() -> str:
    return f"memory://cli-{next(_ids)}"


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)


def test_help_everywhere() -> None:
    for args in ([], ["topics"], ["topics", "create"], ["produce"], ["consume"], ["demo"]):
        res = run(*args, "--help")
        assert res.exit_code == 0, res.output
        assert "Usage:" in res.output


def test_topics_lifecycle(url: str) -> None:
    res = run("topics", "create", "orders", "--partitions", "3", "-c", "retention.ms=1000", "--log", url)
    assert res.exit_code == 0 and "3 partition" in res.output
    assert run("topics", "list", "--log", url).output.split() == ["orders"]
    res = run("topics", "describe", "orders", "--json", "--log", url)
    doc = json.loads(res.output)
    assert [p["partition"] for p in doc["partitions"]] == [0, 1, 2]
    assert doc["config"]["retention.ms"] == "1000"
    res = run("topics", "create", "orders", "--log", url)
    assert res.exit_code == 1
    assert "already exists" in res.stderr
    assert run("topics", "create", "orders", "--if-not-exists", "--log", url).exit_code == 0
    assert run("topics", "delete", "orders", "--log", url).exit_code == 0
    assert run("topics", "list", "--log", url).output == ""


def test_log_url_from_env(url: str) -> None:
    assert run("topics", "create", "t", env={"MILLSTREAM_LOG": url}).exit_code == 0
    assert open_log(url).list_topics() == ["t"]


def test_produce_json_with_key_field_partitions_by_murmur2(url: str) -> None:
    run("topics", "create", "views", "-p", "4", "--log", url)
    lines = "".join(json.dumps({"user": f"u{i % 7}", "n": i, "ts": 1000 + i}) + "\n" for i in range(50))
    res = run("produce", "views", "--key-field", "user", "--timestamp-field", "ts", "--log", url, input=lines)
    assert res.exit_code == 0, res.output
    assert "produced 50 record(s)" in res.stderr
    log = open_log(url)
    seen = 0
    for p in range(4):
        for rec in log.read("views", p, 0):
            assert rec.key is not None
            assert partition_for_key(rec.key, 4) == p
            doc = json.loads(rec.value)
            assert rec.key.decode() == doc["user"] and rec.timestamp == doc["ts"]
            seen += 1
    assert seen == 50


def test_produce_malformed_json_line_names_it_and_keeps_earlier_records(url: str) -> None:
    run("topics", "create", "t", "--log", url)
    res = run("produce", "t", "--log", url, input='{"a": 1}\n{"a": 2}\n{"a": \n{"a": 4}\n')
    assert res.exit_code == 1
    assert "line 3" in res.stderr and "malformed JSON" in res.stderr
    assert "2 record(s) before it were written" in res.stderr
    assert "Traceback" not in res.stderr
    values = [json.loads(r.value) for r in open_log(url).read("t", 0, 0)]
    assert values == [{"a": 1}, {"a": 2}]


def test_produce_skip_invalid(url: str) -> None:
    run("topics", "create", "t", "--log", url)
    res = run("produce", "t", "--skip-invalid", "--log", url, input='{"a": 1}\nnot json\n{"a": 3}\n')
    assert res.exit_code == 0
    assert "skipped line 2" in res.stderr
    assert [json.loads(r.value)["a"] for r in open_log(url).read("t", 0, 0)] == [1, 3]


def test_produce_string_with_key_separator(url: str) -> None:
    run("topics", "create", "t", "--log", url)
    res = run(
        "produce",
        "t",
        "--format",
        "string",
        "--key-separator",
        ":",
        "--log",
        url,
        input="k1:hello\nk2:world\n",
    )
    assert res.exit_code == 0
    recs = open_log(url).read("t", 0, 0)
    assert [(r.key, r.value) for r in recs] == [(b"k1", b"hello"), (b"k2", b"world")]


def test_consume_outputs_json_lines(url: str) -> None:
    run("topics", "create", "t", "-p", "2", "--log", url)
    run("produce", "t", "--header", "source=test", "--log", url, input='{"x": 1}\n{"x": 2}\n{"x": 3}\n')
    res = run("consume", "t", "--from-beginning", "--log", url)
    assert res.exit_code == 0
    docs = [json.loads(line) for line in res.output.splitlines()]
    assert sorted(d["value"]["x"] for d in docs) == [1, 2, 3]
    for d in docs:
        assert set(d) >= {"topic", "partition", "offset", "timestamp", "key", "value", "headers"}
        assert d["headers"] == [["source", "test"]]
    # without --from-beginning and no group: starts at the end, prints nothing
    assert run("consume", "t", "--log", url).output == ""


def test_consume_group_resumes_and_max_messages(url: str) -> None:
    run("topics", "create", "t", "--log", url)
    run("produce", "t", "--log", url, input="".join(f'{{"i": {i}}}\n' for i in range(10)))
    first = run("consume", "t", "-g", "g1", "--from-beginning", "-n", "4", "--log", url)
    assert [json.loads(x)["value"]["i"] for x in first.output.splitlines()] == [0, 1, 2, 3]
    rest = run("consume", "t", "-g", "g1", "--log", url)
    assert [json.loads(x)["value"]["i"] for x in rest.output.splitlines()] == list(range(4, 10))
    assert run("consume", "t", "-g", "g1", "--log", url).output == ""


def test_consume_partition_offset_and_formats(url: str) -> None:
    run("topics", "create", "t", "--log", url)
    run("produce", "t", "--format", "string", "--log", url, input="a\nb\nnot-json\n")
    res = run("consume", "t", "--partition", "0", "--offset", "1", "--log", url)
    docs = [json.loads(x) for x in res.output.splitlines()]
    assert [d["offset"] for d in docs] == [1, 2]
    assert docs[1]["value"] == "not-json" and "malformed JSON" in docs[1]["value_error"]
    res = run("consume", "t", "--from-beginning", "--format", "bytes", "--log", url)
    assert json.loads(res.output.splitlines()[0])["value_encoding"] == "base64"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("consume", "nope", "--from-beginning"), "unknown topic 'nope'"),
        (("produce", "nope"), "unknown topic 'nope'"),
        (("topics", "describe", "nope"), "unknown topic 'nope'"),
        (("topics", "delete", "nope"), "unknown topic 'nope'"),
        (("consume", "t", "--partition", "5"), "partition 5 out of range"),
        (("consume", "t", "--partition", "0", "--offset", "99"), "outside"),
        (("topics", "create", "bad/name"), "illegal character"),
        (("topics", "create", "x", "-c", "cleanup.policy=shred"), "cleanup.policy"),
    ],
)
def test_user_errors_are_one_clear_line(url: str, args: tuple[str, ...], needle: str) -> None:
    run("topics", "create", "t", "--log", url)
    res = run(*args, "--log", url)
    assert res.exit_code != 0
    assert needle in res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.startswith("error: ")


def test_bad_log_url() -> None:
    res = run("topics", "list", "--log", "ftp://x")
    assert res.exit_code == 2
    assert "unknown log URL scheme 'ftp'" in res.stderr
    res = run("topics", "list", "--log", "nowhere")
    assert "has no scheme" in res.stderr


def test_demo_runs_on_memory_log() -> None:
    res = run("demo", "--log", "memory://demo-test", "--duration", "4", "--quiet")
    assert res.exit_code == 0, res.output
    assert "data:    memory://demo-test" in res.output
    assert re.search(r"stopped after [\d.]+ s: pageviews [1-9]\d*, page-counts [1-9]", res.output), res.output
