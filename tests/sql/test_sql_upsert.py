"""Upsert log tables (``upsert-kafka`` on the test Kafka-protocol broker, ``millstream`` with a PRIMARY KEY on the
embedded log), checked against Flink's documented semantics: as a sink, ``+I``/``+U`` write the row under its key,
``-D`` writes a tombstone, ``-U`` is dropped; as a source, a record is an upsert of its key (``+I`` for a new key,
``-U``/``+U`` after, nothing when unchanged) and a tombstone is ``-D`` of the key's last row (ChangelogNormalize)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment
from millstream.core.record import ProducerRecord
from millstream.log import open_log
from millstream.sql import SqlValidationError, StreamTableEnvironment

CLICKS = ["a", "b", "a", "c", "a", "b"]


def _env(parallelism: int = 1) -> StreamTableEnvironment:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    return StreamTableEnvironment.create(env)


def _clicks(t: StreamTableEnvironment, folder: Path) -> None:
    path = folder / "clicks.json"
    path.write_text("".join(json.dumps({"u": u}) + "\n" for u in CLICKS))
    t.execute_sql(
        f"CREATE TABLE clicks (u STRING) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"
    )


def _changes(t: StreamTableEnvironment, query: str) -> list[tuple[Any, ...]]:
    return [(r.get_row_kind(), *r) for r in t.execute_sql(query).collect()]


# -- upsert-kafka ---------------------------------------------------------------------------------------------
@pytest.mark.kafka
def test_upsert_kafka_sink_writes_the_changelog_per_key_and_tombstones(
    kafka_log: Any, kafka_bootstrap: str, kafka_properties: dict[str, Any], kafka_topic: Callable[[str], str],
    tmp_path: Path,
) -> None:  # fmt: skip
    counts, copy = kafka_topic("upsert-counts"), kafka_topic("upsert-copy")
    kafka_log.create_topic(counts, 2)
    kafka_log.create_topic(copy, 1)
    props = "".join(f", 'properties.{k}' = '{v}'" for k, v in kafka_properties.items())
    t = _env()
    _clicks(t, tmp_path)
    common = f"'connector' = 'upsert-kafka', 'properties.bootstrap.servers' = '{kafka_bootstrap}'{props}"
    t.execute_sql(
        f"CREATE TABLE counts (u STRING, n BIGINT, PRIMARY KEY (u) NOT ENFORCED) WITH ({common}, 'topic' = '{counts}', "
        "'key.format' = 'json', 'value.format' = 'json', 'scan.bounded.mode' = 'latest-offset')"
    )
    t.execute_sql("INSERT INTO counts SELECT u, COUNT(*) FROM clicks GROUP BY u").wait()
    written = []
    for p in range(2):
        written += [(r.key, r.value) for r in kafka_log.read(counts, p, 0, timeout_ms=5000)]
    # +I and +U of every key, in order per key; the -U rows are not written
    per_key: dict[str, list[int]] = {}
    for k, v in written:
        assert json.loads(k) == {"u": json.loads(v)["u"]}
        per_key.setdefault(json.loads(k)["u"], []).append(json.loads(v)["n"])
    assert per_key == {"a": [1, 2, 3], "b": [1, 2], "c": [1]}

    # a tombstone for c, a repeated value for b (no change), then read the topic back as a changelog
    p_c = next(p for p in range(2) for r in kafka_log.read(counts, p, 0, timeout_ms=5000) if r.key == b'{"u":"c"}')
    kafka_log.append(counts, p_c, [ProducerRecord(None, b'{"u":"c"}')])
    p_b = next(p for p in range(2) for r in kafka_log.read(counts, p, 0, timeout_ms=5000) if r.key == b'{"u":"b"}')
    kafka_log.append(counts, p_b, [ProducerRecord(b'{"u":"b","n":2}', b'{"u":"b"}')])
    changes = _changes(t, "SELECT * FROM counts")
    for key, expected in {
        "a": [("+I", "a", 1), ("-U", "a", 1), ("+U", "a", 2), ("-U", "a", 2), ("+U", "a", 3)],
        "b": [("+I", "b", 1), ("-U", "b", 1), ("+U", "b", 2)],
        "c": [("+I", "c", 1), ("-D", "c", 1)],
    }.items():
        assert [c for c in changes if c[1] == key] == expected

    # the changelog with its delete written to another upsert table: the delete becomes a tombstone
    t.execute_sql(
        f"CREATE TABLE copy (u STRING, n BIGINT, PRIMARY KEY (u) NOT ENFORCED) WITH ({common}, 'topic' = '{copy}', "
        "'key.format' = 'csv', 'value.format' = 'json', 'value.fields-include' = 'EXCEPT_KEY')"
    )
    t.execute_sql("INSERT INTO copy SELECT u, n FROM counts WHERE u <> 'a'").wait()
    out = [(r.key, r.value) for r in kafka_log.read(copy, 0, 0, timeout_ms=5000)]
    # per key in order (the two keys' records may interleave either way: the source reads two partitions)
    assert [v for k, v in out if k == b"b"] == [b'{"n":1}', b'{"n":2}']
    assert [v for k, v in out if k == b"c"] == [b'{"n":1}', None]  # per key in order


# -- millstream tables with a primary key (the embedded log) --------------------------------------------------
def _log_tables(t: StreamTableEnvironment, url: str, extra: str = "") -> None:
    t.execute_sql(
        "CREATE TABLE counts (u STRING, n BIGINT, PRIMARY KEY (u) NOT ENFORCED) WITH ('connector' = 'millstream', "
        f"'log' = '{url}', 'topic' = 'counts', 'scan.bounded.mode' = 'latest-offset'{extra})"
    )


@pytest.mark.parametrize("parallelism", [1, 2])
def test_millstream_table_with_primary_key_is_an_upsert_table(tmp_path: Path, parallelism: int) -> None:
    url = f"file://{tmp_path}/log"
    log = open_log(url)
    log.create_topic("counts", 2)
    t = _env(parallelism)
    _clicks(t, tmp_path)
    _log_tables(t, url)
    t.execute_sql("INSERT INTO counts SELECT u, COUNT(*) FROM clicks GROUP BY u").wait()
    written = [(r.key, r.value) for p in range(2) for r in log.read("counts", p, 0)]
    assert sorted(json.loads(v)["n"] for k, v in written if k == b'{"u":"a"}') == [1, 2, 3]
    assert all(v is not None for _, v in written)
    p_c = next(p for p in range(2) for r in log.read("counts", p, 0) if r.key == b'{"u":"c"}')
    log.append("counts", p_c, [ProducerRecord(None, b'{"u":"c"}'), ProducerRecord(None, b'{"u":"zz"}')])
    changes = _changes(t, "SELECT u, n FROM counts")
    assert [c for c in changes if c[1] == "c"] == [("+I", "c", 1), ("-D", "c", 1)]
    assert not [c for c in changes if c[1] == "zz"]  # a tombstone of an unknown key: nothing
    # the table's final contents, as an aggregation over the changelog would see them
    final: dict[str, int] = {}
    for kind, u, n in changes:
        if kind in ("+I", "+U"):
            final[u] = n
        elif kind == "-D":
            del final[u]
    assert final == {"a": 3, "b": 2}


def test_sink_parallelism_and_csv_formats(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/log"
    log = open_log(url)
    log.create_topic("counts", 3)
    t = _env()
    _clicks(t, tmp_path)
    _log_tables(t, url, ", 'key.format' = 'csv', 'value.format' = 'csv', 'sink.parallelism' = '2'")
    t.execute_sql("INSERT INTO counts SELECT u, COUNT(*) FROM clicks GROUP BY u").wait()
    written = [(r.key, r.value) for p in range(3) for r in log.read("counts", p, 0)]
    assert [v for k, v in written if k == b"a"] == [b"a,1", b"a,2", b"a,3"]
    assert sorted(_changes(t, "SELECT * FROM counts"))[-3:] == [("-U", "a", 1), ("-U", "a", 2), ("-U", "b", 1)]


@pytest.mark.parametrize(
    ("ddl", "message", "hint"),
    [
        (
            "CREATE TABLE u (a INT, b STRING) WITH ('connector' = 'upsert-kafka', 'topic' = 't', "
            "'properties.bootstrap.servers' = 'h:9092', 'key.format' = 'json', 'value.format' = 'json')",
            "needs a primary key",
            "PRIMARY KEY",
        ),
        (
            "CREATE TABLE u (a INT, b STRING, PRIMARY KEY (a) NOT ENFORCED) WITH ('connector' = 'upsert-kafka', "
            "'topic' = 't', 'properties.bootstrap.servers' = 'h:9092', 'key.format' = 'json', 'value.format' = 'json', "
            "'sink.buffer-flush.max-rows' = '10')",
            "unknown option 'sink.buffer-flush.max-rows'",
            "remove it",
        ),
        (
            "CREATE TABLE u (a INT, b STRING, PRIMARY KEY (a) NOT ENFORCED) WITH ('connector' = 'upsert-kafka', "
            "'topic' = 't', 'properties.bootstrap.servers' = 'h:9092', 'value.format' = 'json')",
            "needs the option 'key.format'",
            "'key.format' = 'json'",
        ),
        (
            "CREATE TABLE u (a INT, b STRING, PRIMARY KEY (a) NOT ENFORCED) WITH ('connector' = 'upsert-kafka', "
            "'topic' = 't', 'key.format' = 'json', 'value.format' = 'json')",
            "needs the option 'properties.bootstrap.servers'",
            "localhost:9092",
        ),
        (
            "CREATE TABLE u (a INT, b STRING, PRIMARY KEY (a) NOT ENFORCED) WITH ('connector' = 'upsert-kafka', "
            "'topic' = 't', 'properties.bootstrap.servers' = 'h:9092', 'key.format' = 'json', 'value.format' = 'json', "
            "'sink.parallelism' = 'two')",
            "'sink.parallelism' of table 'u' must be a positive integer, got 'two'",
            "'sink.parallelism' = '2'",
        ),
        (
            "CREATE TABLE u (a INT, b STRING, PRIMARY KEY (a) NOT ENFORCED) WITH ('connector' = 'upsert-kafka', "
            "'topic' = 't', 'properties.bootstrap.servers' = 'h:9092', 'key.format' = 'avro', 'value.format' = 'json')",
            "'key.format' = 'avro' of table 'u' is not supported",
            "json, csv",
        ),
        (
            "CREATE TABLE u (a INT, b STRING, PRIMARY KEY (a) NOT ENFORCED) WITH ('connector' = 'upsert-kafka', "
            "'topic' = 't', 'properties.bootstrap.servers' = 'h:9092', 'key.format' = 'json', 'value.format' = 'json', "
            "'value.fields-include' = 'SOME')",
            "'value.fields-include' = 'SOME'",
            "EXCEPT_KEY",
        ),
        (
            "CREATE TABLE u (a INT, b STRING, PRIMARY KEY (a) NOT ENFORCED) WITH ('connector' = 'millstream', "
            "'topic' = 't', 'key.fields' = 'b')",
            "differs from its primary key",
            "drop 'key.fields'",
        ),
    ],
)
def test_bad_upsert_options_are_refused_naming_the_option(ddl: str, message: str, hint: str) -> None:
    with pytest.raises(SqlValidationError, match=message) as info:
        _env().execute_sql(ddl)
    assert hint in (info.value.hint or "")


def test_a_changelog_into_an_append_only_table_names_the_upsert_tables(tmp_path: Path) -> None:
    t = _env()
    _clicks(t, tmp_path)
    t.execute_sql(
        f"CREATE TABLE out (u STRING, n BIGINT) WITH ('connector' = 'millstream', 'topic' = 'x', 'log' = 'file://{tmp_path}/l')"
    )
    with pytest.raises(SqlValidationError, match="takes only inserts") as info:
        t.execute_sql("INSERT INTO out SELECT u, COUNT(*) FROM clicks GROUP BY u")
    assert "upsert-kafka" in (info.value.hint or "")


def test_group_by_over_an_upsert_table_retracts_updates_and_deletes(tmp_path: Path) -> None:
    """An aggregation over an upsert table sees its changelog: an update moves the key's row between groups
    (``-U``/``+U`` of both groups), a tombstone retracts it, and a group whose last row goes sends ``-D``."""
    url = f"file://{tmp_path}/log"
    log = open_log(url)
    log.create_topic("accounts", 1)
    records = [
        ("a", {"id": "a", "tier": "gold", "balance": 10}),
        ("b", {"id": "b", "tier": "gold", "balance": 5}),
        ("c", {"id": "c", "tier": "free", "balance": 1}),
        ("a", {"id": "a", "tier": "free", "balance": 10}),  # a moves from gold to free
        ("b", None),  # b is deleted: gold is empty
        ("c", {"id": "c", "tier": "free", "balance": 7}),
    ]
    log.append(
        "accounts",
        0,
        [
            ProducerRecord(None if v is None else json.dumps(v).encode(), json.dumps({"id": k}).encode())
            for k, v in records
        ],
    )
    t = _env()
    t.execute_sql(
        "CREATE TABLE accounts (id STRING, tier STRING, balance INT, PRIMARY KEY (id) NOT ENFORCED) WITH "
        f"('connector' = 'millstream', 'log' = '{url}', 'topic' = 'accounts', 'scan.bounded.mode' = 'latest-offset')"
    )
    assert _changes(t, "SELECT tier, COUNT(*), SUM(balance), MAX(balance) FROM accounts GROUP BY tier") == [
        ("+I", "gold", 1, 10, 10),
        ("-U", "gold", 1, 10, 10),
        ("+U", "gold", 2, 15, 10),
        ("+I", "free", 1, 1, 1),
        ("-U", "gold", 2, 15, 10),  # a leaves gold: MAX goes back to 5
        ("+U", "gold", 1, 5, 5),
        ("-U", "free", 1, 1, 1),
        ("+U", "free", 2, 11, 10),
        ("-D", "gold", 1, 5, 5),  # b's tombstone empties gold
        ("-U", "free", 2, 11, 10),  # c's update: -U then +U of c's row
        ("+U", "free", 1, 10, 10),
        ("-U", "free", 1, 10, 10),
        ("+U", "free", 2, 17, 10),
    ]
