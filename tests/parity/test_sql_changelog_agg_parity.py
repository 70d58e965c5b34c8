"""Flink SQL parity for aggregations over a changelog (issue 15): a non-windowed ``GROUP BY`` whose input has
updates — another ``GROUP BY``, a Top-N, a keep-last deduplication, ``SELECT DISTINCT``, a regular outer join —
runs on PyFlink 2.3's TableEnvironment (streaming mode, parallelism 1) and on millstream from the same text.

The aggregates retract as Flink's do (``COUNT``, ``SUM``, ``AVG``, ``MIN``/``MAX`` over the multiset of values,
``COUNT(DISTINCT)``), a group whose last row is retracted sends ``-D``. With one input file (one source) Flink's
changelog is deterministic, so rows, kinds and their order must be identical. Over a regular outer join of two
sources, the join's own changes depend on which source's row Flink reads first (see
``test_sql_join_parity.py``), so there the materialized results are compared, and each changelog must be valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .oracle import FlinkOracle
from .test_sql_join_parity import materialize, run_millstream
from .test_sql_parity import BASE, run_flink

pytestmark = [pytest.mark.flink, pytest.mark.timeout(900)]

#: (page, user_id, ms, amount): repeated values (MIN/MAX multisets), NULL amounts, groups that move
CLICKS = [
    ("home", "u1", 1_000, 5),
    ("cart", "u1", 2_000, 1),
    ("home", "u2", 3_000, 7),
    ("news", "u3", 4_000, 5),
    ("home", "u1", 5_000, None),
    ("cart", "u3", 6_000, 3),
    ("news", "u1", 7_000, 1),
    ("shop", "u2", 8_000, 5),
    ("home", "u3", 9_000, -2),
    ("cart", "u2", 10_000, 9),
    ("shop", "u4", 11_000, None),
    ("news", "u4", 12_000, 4),
]
#: (id, k, v) and (k, w): the inputs of a regular LEFT join
LEFT = [(1, "a", 10), (2, "b", 20), (3, "a", 30), (4, "c", 5), (5, "b", 1)]
RIGHT = [("a", "x"), ("b", "y"), ("a", "z"), ("d", "q")]

DDL = [
    "CREATE TABLE clicks (page STRING, user_id STRING, ms BIGINT, amount INT, ts AS TO_TIMESTAMP_LTZ(ms, 3), "
    "WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) "
    "WITH ('connector' = 'filesystem', 'path' = '{dir}/clicks.json', 'format' = 'json')",
    "CREATE TABLE l (id INT, k STRING, v INT) WITH ('connector' = 'filesystem', 'path' = '{dir}/l.json', "
    "'format' = 'json')",
    "CREATE TABLE r (k STRING, w STRING) WITH ('connector' = 'filesystem', 'path' = '{dir}/r.json', 'format' = 'json')",
]

PER_PAGE = "(SELECT page, COUNT(*) AS c, SUM(amount) AS s, MAX(user_id) AS u FROM clicks GROUP BY page)"
PER_USER = "(SELECT user_id, COUNT(*) AS c, MIN(amount) AS lo, MAX(page) AS p FROM clicks GROUP BY user_id)"
TOP2 = (
    "(SELECT * FROM (SELECT page, user_id, amount, ROW_NUMBER() OVER (PARTITION BY page ORDER BY amount DESC) "
    "AS rn FROM clicks) WHERE rn <= 2)"
)
LAST = (
    "(SELECT * FROM (SELECT user_id, page, amount, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts DESC) "
    "AS rn FROM clicks) WHERE rn = 1)"
)

#: one source, and every column of the inner query used: the exact changelog
QUERIES = {
    "count_of_counts": f"SELECT c, COUNT(*) AS pages, SUM(s), MIN(s), MAX(s), AVG(s), MIN(u) FROM {PER_PAGE} "
    "GROUP BY c",
    "global": f"SELECT COUNT(*), SUM(c), MIN(c), SUM(s), MIN(s), MAX(s), AVG(s), MIN(u) FROM {PER_PAGE}",
    "regroup_same_key": f"SELECT user_id, COUNT(*), MAX(p), SUM(c), MIN(lo) FROM {PER_USER} GROUP BY user_id",
    "by_max_page": f"SELECT p, COUNT(*) AS users, SUM(c), AVG(CAST(c AS DOUBLE)), MAX(lo), MIN(user_id) "
    f"FROM {PER_USER} GROUP BY p",
    "count_distinct": f"SELECT u, COUNT(DISTINCT c), SUM(DISTINCT c), COUNT(*), MAX(s), MIN(page) FROM {PER_PAGE} "
    "GROUP BY u",
    "having": f"SELECT c, COUNT(*) AS n FROM (SELECT page, c FROM {PER_PAGE} WHERE s > 0 OR s IS NULL OR u > '') "
    "GROUP BY c HAVING COUNT(*) > 1",
    "where": f"SELECT u, SUM(c), MIN(page) FROM {PER_PAGE} WHERE s IS NOT NULL AND c > 1 GROUP BY u",
    "distinct_of_changelog": f"SELECT DISTINCT c, s IS NULL FROM {PER_PAGE}",
    "over_top_n": f"SELECT page, COUNT(*), SUM(amount), MIN(user_id), MAX(user_id), SUM(rn) FROM {TOP2} GROUP BY page",
    "over_keep_last": f"SELECT page, COUNT(*), MAX(amount), MIN(user_id), SUM(rn) FROM {LAST} GROUP BY page",
    "three_levels": f"SELECT n, COUNT(*), MIN(c) FROM (SELECT c, COUNT(*) AS n, MIN(s) AS s, MIN(u) AS u "
    f"FROM (SELECT page, c, s, u FROM {PER_PAGE}) GROUP BY c) GROUP BY n",
}
#: the same final rows, but Flink's changelog has fewer or other steps: its optimizer drops inner columns the outer
#: query does not use (fewer inner changes), removes a DISTINCT over a unique key of its input, and ignores
#: retractions for MAX of a column that only grows (a COUNT of an append-only input, a Top-N's sort column) and MIN
#: of one that only shrinks (Flink's "modified monotonicity": its intermediate results keep a retracted extreme).
#: millstream aggregates every change as it is, so for these the materialized results are compared.
MATERIALIZED_QUERIES = {
    "distinct_over_unique_key": f"SELECT DISTINCT c, u, page FROM {PER_PAGE}",
    "monotonic_max_of_rank_column": f"SELECT page, COUNT(*), MAX(amount) FROM {TOP2} GROUP BY page",
    "pruned_inner_columns": f"SELECT user_id, COUNT(*), MAX(p) FROM {PER_USER} GROUP BY user_id",
    "pruned_rank_number": f"SELECT page, COUNT(*), SUM(amount) FROM {TOP2} GROUP BY page",
    "monotonic_max_of_count": f"SELECT MAX(c), COUNT(*) FROM {PER_USER}",
    "monotonic_min_of_min": f"SELECT MIN(lo), MAX(lo), MIN(c), MAX(c), COUNT(lo), SUM(lo) FROM {PER_USER}",
    "top_n_global": f"SELECT COUNT(*), MIN(amount), MAX(amount), AVG(amount) FROM {TOP2}",
}
#: a regular LEFT join (two sources): the materialized result
JOIN_QUERIES = {
    "over_left_join": "SELECT k, COUNT(*), COUNT(w), SUM(v), MIN(w), MAX(v) FROM "
    "(SELECT l.k, l.v, r.w FROM l LEFT JOIN r ON l.k = r.k) GROUP BY k",
    "over_left_join_by_w": "SELECT w, COUNT(*), SUM(v) FROM (SELECT l.v, r.w FROM l LEFT JOIN r ON l.k = r.k) "
    "GROUP BY w",
}
ALL = {**QUERIES, **MATERIALIZED_QUERIES, **JOIN_QUERIES}


def write_inputs(folder: Path) -> list[str]:
    (folder / "clicks.json").write_text(
        "".join(json.dumps({"page": p, "user_id": u, "ms": BASE + ms, "amount": a}) + "\n" for p, u, ms, a in CLICKS)
    )
    (folder / "l.json").write_text("".join(json.dumps({"id": i, "k": k, "v": v}) + "\n" for i, k, v in LEFT))
    (folder / "r.json").write_text("".join(json.dumps({"k": k, "w": w}) + "\n" for k, w in RIGHT))
    return [d.format(dir=folder) for d in DDL]


@pytest.fixture(scope="module")
def ddl(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return write_inputs(tmp_path_factory.mktemp("sql-changelog-agg"))


@pytest.fixture(scope="module")
def flink_rows(flink_oracle: FlinkOracle, ddl: list[str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    spec = {"ddl": ddl, "queries": ALL}
    return run_flink(flink_oracle, tmp_path_factory.mktemp("sql-changelog-agg-spec"), spec)


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_aggregation_of_a_changelog_matches_flink(name: str, ddl: list[str], flink_rows: Any) -> None:
    ours = run_millstream(ddl, QUERIES[name])
    theirs = flink_rows[name]
    assert theirs, f"{name}: Flink gave no rows, the case tests nothing"
    assert ours == theirs
    assert materialize(ours) == materialize(theirs)  # and a valid changelog


@pytest.mark.parametrize("name", sorted({**MATERIALIZED_QUERIES, **JOIN_QUERIES}))
def test_aggregation_of_a_changelog_materializes_as_flink(name: str, ddl: list[str], flink_rows: Any) -> None:
    ours = run_millstream(ddl, ALL[name])
    theirs = flink_rows[name]
    assert theirs, f"{name}: Flink gave no rows, the case tests nothing"
    assert materialize(ours) == materialize(theirs)


@pytest.mark.parametrize("name", ["count_of_counts", "over_top_n", "over_left_join"])
def test_aggregation_of_a_changelog_at_parallelism_2(name: str, ddl: list[str], flink_rows: Any) -> None:
    ours = run_millstream(ddl, ALL[name], parallelism=2)
    assert materialize(ours) == materialize(flink_rows[name])
