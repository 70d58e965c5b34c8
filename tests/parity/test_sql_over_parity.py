"""Flink SQL parity for OVER aggregations, Top-N and deduplication (issue 15): the same scripts run on PyFlink
2.3's TableEnvironment (streaming mode, parallelism 1) and on millstream.

Each input is one file read by one source, so Flink's output order is deterministic at parallelism 1: rows, row
kinds and their order must be identical, for the append-only results (keep-first deduplication, window Top-N
and deduplication, OVER aggregations) and for the changelogs (keep-last deduplication, Top-N with and without
the row number); changelogs must also be valid (each retraction retracts a row that is there).

``clicks`` has a late row (``home``/``u2`` at 30 s after the watermark passed 60 s) and two rows of one key at
the same time; ``t`` has rows out of order within the watermark delay, rows at equal times and a late row
for a key that has not fired yet: they pin down Flink's lateness and tie rules per operator (see
``src/millstream/sql/deduplicate.py``, ``rank.py``, ``window_rank.py``, ``over_aggregate.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .oracle import FlinkOracle
from .test_sql_join_parity import materialize, run_millstream
from .test_sql_parity import BASE, run_flink

pytestmark = [pytest.mark.flink, pytest.mark.timeout(900)]

#: (page, user_id, ms, amount)
CLICKS = [
    ("home", "u1", 1_000, 5),
    ("home", "u2", 2_500, 7),
    ("cart", "u1", 3_000, 1),
    ("home", "u3", 14_000, None),
    ("cart", "u2", 31_000, 4),
    ("home", "u1", 61_000, 2),
    ("cart", "u3", 65_000, 9),
    ("home", "u2", 30_000, 100),  # late: the watermark is at 60 s
    ("home", "u1", 66_000, 3),
    ("news", "u4", 125_000, -8),
    ("home", "u3", 128_000, 6),
    ("home", "u3", 128_000, 8),  # the same time as the row before
]
#: (k, ms, v): out of order within the 5 s delay, equal times, a late row (a@2 s) for a key not fired yet
T = [
    ("a", 10_000, 1),
    ("a", 8_000, 2),
    ("b", 9_000, 3),
    ("a", 12_000, 4),
    ("b", 9_000, 5),
    ("a", 2_000, 6),
    ("b", 7_500, 7),
    ("a", 11_000, 8),
    ("c", 20_000, 9),
    ("a", 20_000, 10),
]

DDL = [
    "CREATE TABLE clicks (page STRING, user_id STRING, ms BIGINT, amount INT, ts AS TO_TIMESTAMP_LTZ(ms, 3), "
    "WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) "
    "WITH ('connector' = 'filesystem', 'path' = '{dir}/clicks.json', 'format' = 'json')",
    "CREATE TABLE t (k STRING, ms BIGINT, v INT, ts AS TO_TIMESTAMP_LTZ(ms, 3), "
    "WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) "
    "WITH ('connector' = 'filesystem', 'path' = '{dir}/t.json', 'format' = 'json')",
]

TUMBLE = "TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE))"


def ranked(order: str, partition: str = "page", table: str = "clicks") -> str:
    over = f"PARTITION BY {partition} ORDER BY {order}" if partition else f"ORDER BY {order}"
    return f"(SELECT *, ROW_NUMBER() OVER ({over}) AS rn FROM {table})"


#: append-only results
APPEND_QUERIES = {
    "dedup_first": f"SELECT page, user_id, amount FROM {ranked('ts ASC')} WHERE rn = 1",
    "dedup_first_by_user": f"SELECT user_id, page, ms FROM {ranked('ts', 'user_id')} WHERE rn = 1",
    "dedup_first_out_of_order": f"SELECT k, v FROM {ranked('ts', 'k', 't')} WHERE rn = 1",
    "dedup_first_le": f"SELECT k, v FROM {ranked('ts ASC', 'k', 't')} WHERE rn <= 1",
    "window_top_n": "SELECT * FROM (SELECT window_start, window_end, page, user_id, amount, ROW_NUMBER() OVER "
    f"(PARTITION BY window_start, window_end ORDER BY amount DESC) AS rn FROM {TUMBLE}) WHERE rn <= 2",
    "window_top_n_of_aggregate": "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, "
    "window_end ORDER BY c DESC) AS rn FROM (SELECT window_start, window_end, page, COUNT(*) AS c FROM "
    f"{TUMBLE} GROUP BY window_start, window_end, page)) WHERE rn <= 1",
    "window_dedup_first": "SELECT window_start, page, user_id FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY "
    f"window_start, window_end, page ORDER BY ts ASC) AS rn FROM {TUMBLE}) WHERE rn <= 1",
    "window_dedup_last": "SELECT window_start, page, user_id FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY "
    f"window_start, window_end, page ORDER BY ts DESC) AS rn FROM {TUMBLE}) WHERE rn = 1",
    "over_rows": "SELECT page, user_id, amount, SUM(amount) OVER (PARTITION BY page ORDER BY ts ROWS BETWEEN 1 "
    "PRECEDING AND CURRENT ROW), COUNT(*) OVER (PARTITION BY page ORDER BY ts ROWS BETWEEN 1 PRECEDING AND "
    "CURRENT ROW) FROM clicks",
    "over_range": "SELECT page, user_id, amount, SUM(amount) OVER (PARTITION BY page ORDER BY ts RANGE BETWEEN "
    "INTERVAL '30' SECOND PRECEDING AND CURRENT ROW), MAX(amount) OVER (PARTITION BY page ORDER BY ts RANGE "
    "BETWEEN INTERVAL '30' SECOND PRECEDING AND CURRENT ROW) FROM clicks",
    "over_named_window": "SELECT page, user_id, amount, CAST(ts AS STRING), COUNT(amount) OVER w, AVG(amount) "
    "OVER w, MIN(user_id) OVER w FROM clicks "
    "WINDOW w AS (PARTITION BY page ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)",
    "over_range_unbounded": "SELECT page, amount, SUM(amount) OVER (PARTITION BY page ORDER BY ts RANGE BETWEEN "
    "UNBOUNDED PRECEDING AND CURRENT ROW) FROM clicks",
    "over_default_frame": "SELECT page, amount, SUM(amount) OVER (PARTITION BY page ORDER BY ts) * 2 AS s2 "
    "FROM clicks WHERE amount IS NULL OR amount > 1",
    "over_global": "SELECT amount, COUNT(*) OVER (ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM clicks",
    "over_rows_out_of_order": "SELECT k, v, SUM(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 1 PRECEDING AND "
    "CURRENT ROW) FROM t",
    "over_range_out_of_order": "SELECT k, v, SUM(v) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '2' "
    "SECOND PRECEDING AND CURRENT ROW) FROM t",
    "over_unbounded_out_of_order": "SELECT k, v, SUM(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN UNBOUNDED "
    "PRECEDING AND CURRENT ROW) FROM t",
}
#: changelogs: name -> how many leading output columns are the partition key (0: one global partition)
CHANGELOG_QUERIES = {
    "dedup_last": f"SELECT page, user_id, amount FROM {ranked('ts DESC')} WHERE rn = 1",
    "dedup_last_with_rn": f"SELECT page, amount, rn, CAST(ts AS STRING) FROM {ranked('ts DESC')} WHERE rn = 1",
    "dedup_last_out_of_order": f"SELECT k, v FROM {ranked('ts DESC', 'k', 't')} WHERE rn = 1",
    "top_n": f"SELECT page, user_id, amount, rn FROM {ranked('amount DESC')} WHERE rn <= 2",
    "top_n_without_rn": f"SELECT page, user_id, amount FROM {ranked('amount DESC')} WHERE rn <= 2",
    "top_n_lt_two_keys": f"SELECT page, user_id, amount FROM {ranked('amount DESC, ms ASC')} WHERE rn < 3",
    "top_n_global_asc": f"SELECT user_id, amount, rn FROM {ranked('amount ASC', '')} WHERE rn <= 3",
    "top_n_on_time": f"SELECT k, v, rn FROM {ranked('ts DESC', 'k', 't')} WHERE rn <= 2",
    "top_n_ties": f"SELECT k, v FROM {ranked('k DESC', '', 't')} WHERE 3 >= rn",
}
CHANGELOG_KEYS = {
    "dedup_last": 1,
    "dedup_last_with_rn": 1,
    "dedup_last_out_of_order": 1,
    "top_n": 1,
    "top_n_without_rn": 1,
    "top_n_lt_two_keys": 1,
    "top_n_global_asc": 0,
    "top_n_on_time": 1,
    "top_n_ties": 0,
}
QUERIES = {**APPEND_QUERIES, **CHANGELOG_QUERIES}


def write_inputs(folder: Path) -> list[str]:
    """Writes ``clicks.json`` and ``t.json`` into ``folder``; returns the DDL of both tables."""
    (folder / "clicks.json").write_text(
        "".join(json.dumps({"page": p, "user_id": u, "ms": BASE + ms, "amount": a}) + "\n" for p, u, ms, a in CLICKS)
    )
    (folder / "t.json").write_text("".join(json.dumps({"k": k, "ms": BASE + ms, "v": v}) + "\n" for k, ms, v in T))
    return [d.format(dir=folder) for d in DDL]


@pytest.fixture(scope="module")
def over_ddl(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return write_inputs(tmp_path_factory.mktemp("sql-over-parity"))


@pytest.fixture(scope="module")
def flink_over_rows(flink_oracle: FlinkOracle, over_ddl: list[str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    return run_flink(flink_oracle, tmp_path_factory.mktemp("sql-over-spec"), {"ddl": over_ddl, "queries": QUERIES})


@pytest.mark.parametrize("name", sorted(APPEND_QUERIES))
def test_append_only_result_matches_flink(name: str, over_ddl: list[str], flink_over_rows: Any) -> None:
    ours = run_millstream(over_ddl, QUERIES[name])
    theirs = flink_over_rows[name]
    assert theirs, f"{name}: Flink gave no rows, the case tests nothing"
    assert {row[0] for row in theirs} == {"+I"}
    assert ours == theirs


@pytest.mark.parametrize("name", sorted(CHANGELOG_QUERIES))
def test_changelog_matches_flink(name: str, over_ddl: list[str], flink_over_rows: Any) -> None:
    ours = run_millstream(over_ddl, QUERIES[name])
    theirs = flink_over_rows[name]
    assert theirs, f"{name}: Flink gave no rows, the case tests nothing"
    assert len({row[0] for row in theirs}) > 1, f"{name}: not a changelog in Flink"
    assert ours == theirs
    assert materialize(ours) == materialize(theirs)  # and a valid changelog
