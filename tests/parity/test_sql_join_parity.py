"""Flink SQL join parity: regular, interval and window joins run on PyFlink 2.3's TableEnvironment (streaming
mode, parallelism 1) and on millstream from the same script text.

Append-only results (INNER regular joins, interval joins, window joins of any kind) must have identical rows and
row kinds. A regular *outer* join's changelog depends on which input's row reaches the join first; Flink reads its
two sources in separate threads, so its changelog differs from run to run (a LEFT join's ``+I[l, NULL]``, ``-D``,
``+I[l, r]`` when the left row came first, a single ``+I[l, r]`` when the right one did). For those the suite
compares what the changelogs materialize to (identical multisets of rows) and checks that each is a valid
changelog (every ``-D`` retracts a row inserted before); the exact kinds Flink emits for a given arrival order are
checked in ``tests/sql/test_sql_joins.py``. Inputs are in time order per table, so no row is late in any
interleaving (join lateness is not reproducible in Flink)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment
from millstream.sql import StreamTableEnvironment

from .oracle import FlinkOracle
from .test_sql_parity import BASE, _norm, run_flink

pytestmark = [pytest.mark.flink, pytest.mark.timeout(900)]

#: (id, k, ms, v) — orders
LEFT = [
    (1, "a", 1_000, 10),
    (2, "b", 2_000, 20),
    (3, "a", 5_000, 30),
    (4, "c", 7_000, None),
    (5, "d", 62_000, 50),
    (6, "a", 65_000, 60),
    (7, None, 66_000, 70),
    (8, "b", 130_000, 80),
    (9, "a", 131_000, 30),
]
#: (rid, k, ms, w) — shipments
RIGHT = [
    (101, "a", 1_500, "x"),
    (102, "b", 9_000, "y"),
    (103, "e", 10_000, "z"),
    (104, "a", 61_000, "w"),
    (105, "d", 63_000, "u"),
    (106, None, 64_000, "n"),
    (107, "b", 125_000, "t"),
    (108, "a", 131_000, "s"),
    (109, "a", 131_000, "s"),
]

JOIN_DDL = [
    "CREATE TABLE l (id INT, k STRING, ms BIGINT, v INT, ts AS TO_TIMESTAMP_LTZ(ms, 3), "
    "WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) "
    "WITH ('connector' = 'filesystem', 'path' = '{dir}/l.json', 'format' = 'json')",
    "CREATE TABLE r (rid INT, k STRING, ms BIGINT, w STRING, ts AS TO_TIMESTAMP_LTZ(ms, 3), "
    "WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) "
    "WITH ('connector' = 'filesystem', 'path' = '{dir}/r.json', 'format' = 'json')",
]

TL = "TABLE(TUMBLE(TABLE l, DESCRIPTOR(ts), INTERVAL '1' MINUTE))"
TR = "TABLE(TUMBLE(TABLE r, DESCRIPTOR(ts), INTERVAL '1' MINUTE))"
HL = "TABLE(HOP(TABLE l, DESCRIPTOR(ts), INTERVAL '30' SECOND, INTERVAL '1' MINUTE))"
HR = "TABLE(HOP(TABLE r, DESCRIPTOR(ts), INTERVAL '30' SECOND, INTERVAL '1' MINUTE))"
WINDOW_ON = "L.window_start = R.window_start AND L.window_end = R.window_end"

#: a window join keeps both inputs' window_time as time attributes: windows over it work
WINDOW_JOIN_VIEW = (
    f"CREATE VIEW wj AS SELECT L.id, R.rid, L.window_time AS lwt, R.window_time AS rwt FROM {TL} L JOIN {TR} R "
    f"ON {WINDOW_ON} AND L.k = R.k"
)

#: an interval join keeps both inputs' time attributes (and holds its watermark back by 10 s): windows over either
INTERVAL_JOIN_VIEW = (
    "CREATE VIEW ij AS SELECT l.id, r.rid, l.ts AS lts, r.ts AS rts FROM l, r "
    "WHERE l.k = r.k AND l.ts BETWEEN r.ts - INTERVAL '10' SECOND AND r.ts + INTERVAL '2' SECOND"
)

INTERVAL_LEFT_JOIN_VIEW = (
    "CREATE VIEW ilj AS SELECT l.id, r.rid, l.ts AS lts FROM l LEFT JOIN r "
    "ON l.k = r.k AND l.ts BETWEEN r.ts - INTERVAL '10' SECOND AND r.ts"
)

#: append-only results: rows and row kinds compared as multisets
APPEND_QUERIES = {
    "inner": "SELECT l.id, r.rid, l.k, v, w FROM l JOIN r ON l.k = r.k",
    "inner_star": "SELECT * FROM (SELECT id, k, v FROM l) a JOIN (SELECT rid, k, w FROM r) b ON a.k = b.k",
    "inner_where": "SELECT l.id, r.rid FROM l, r WHERE l.k = r.k AND l.v > 20 AND r.w <> 's'",
    "inner_expr_keys": "SELECT l.id, r.rid FROM l INNER JOIN r ON UPPER(l.k) = UPPER(r.k) AND l.v + 70 > r.rid",
    "inner_three_way": "SELECT a.id, b.rid, c.id FROM l a JOIN r b ON a.k = b.k JOIN l c ON b.k = c.k AND c.id > a.id",
    "interval_between": "SELECT l.id, r.rid, CAST(l.ts AS STRING), CAST(r.ts AS STRING) FROM l, r "
    "WHERE l.k = r.k AND l.ts BETWEEN r.ts - INTERVAL '10' SECOND AND r.ts",
    "interval_on": "SELECT l.id, r.rid, l.v FROM l JOIN r ON l.k = r.k AND l.ts >= r.ts - INTERVAL '5' SECOND "
    "AND l.ts < r.ts + INTERVAL '5' SECOND",
    "interval_flipped": "SELECT l.id, r.rid FROM l, r WHERE r.k = l.k AND r.ts > l.ts AND r.ts <= l.ts + INTERVAL "
    "'1' MINUTE AND r.w <> 'y'",
    "interval_left": "SELECT l.id, r.rid, CAST(l.ts AS STRING), CAST(r.ts AS STRING) FROM l LEFT JOIN r "
    "ON l.k = r.k AND l.ts BETWEEN r.ts - INTERVAL '10' SECOND AND r.ts",
    "interval_right": "SELECT l.id, r.rid FROM l RIGHT JOIN r ON l.k = r.k AND r.ts >= l.ts "
    "AND r.ts < l.ts + INTERVAL '5' SECOND AND l.v > 10",
    "interval_full": "SELECT l.id, r.rid FROM l FULL OUTER JOIN r ON l.k = r.k AND l.ts BETWEEN "
    "r.ts - INTERVAL '3' SECOND AND r.ts + INTERVAL '3' SECOND",
    "interval_left_then_tumble": "SELECT window_start, COUNT(*), COUNT(rid) FROM TABLE(TUMBLE(TABLE ilj, "
    "DESCRIPTOR(lts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end",
    "interval_equal": "SELECT l.id, r.rid FROM l, r WHERE l.k = r.k AND l.ts = r.ts",
    "window_inner": f"SELECT L.id, R.rid, L.window_start, L.window_end, R.window_end FROM {TL} L JOIN {TR} R "
    f"ON {WINDOW_ON} AND L.k = R.k",
    "window_left": f"SELECT L.id, R.rid, L.window_start, R.window_start FROM (SELECT * FROM {TL}) L LEFT JOIN "
    f"(SELECT * FROM {TR}) R ON {WINDOW_ON} AND L.k = R.k",
    "window_right": f"SELECT L.id, R.rid, R.window_end FROM {TL} L RIGHT JOIN {TR} R ON {WINDOW_ON} AND L.k = R.k "
    "AND L.v < 60",
    "window_full": f"SELECT L.id, R.rid, COALESCE(L.window_start, R.window_start) FROM (SELECT * FROM {TL}) L "
    f"FULL OUTER JOIN (SELECT * FROM {TR}) R ON {WINDOW_ON} AND L.k = R.k",
    "window_hop": f"SELECT L.id, R.rid, L.window_start FROM {HL} L JOIN {HR} R ON {WINDOW_ON} AND L.k = R.k",
    "interval_then_tumble_left_time": "SELECT window_start, window_end, COUNT(*), SUM(id), MAX(rid) FROM "
    "TABLE(TUMBLE(TABLE ij, DESCRIPTOR(lts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end",
    "interval_then_hop_right_time": "SELECT window_start, COUNT(*), MIN(id) FROM TABLE(HOP(TABLE ij, "
    "DESCRIPTOR(rts), INTERVAL '30' SECOND, INTERVAL '1' MINUTE)) GROUP BY window_start, window_end",
    "interval_then_window_rows": "SELECT id, rid, window_start FROM TABLE(TUMBLE(TABLE ij, DESCRIPTOR(rts), "
    "INTERVAL '1' MINUTE))",
    "window_join_of_aggregates": "SELECT L.k, L.window_start, L.c, R.c FROM (SELECT k, window_start, window_end, "
    f"COUNT(*) AS c FROM {TL} GROUP BY k, window_start, window_end) L JOIN (SELECT k, window_start, window_end, "
    f"COUNT(*) AS c FROM {TR} GROUP BY k, window_start, window_end) R ON {WINDOW_ON} AND L.k = R.k",
    "window_time_kept": "SELECT id, rid, CAST(lwt AS STRING), CAST(rwt AS STRING) FROM wj",
    "window_then_tumble": "SELECT window_start, window_end, COUNT(*), SUM(id) FROM TABLE(TUMBLE(TABLE wj, "
    "DESCRIPTOR(rwt), INTERVAL '2' MINUTE)) GROUP BY window_start, window_end",
    "window_then_tumble_left_time": "SELECT window_start, COUNT(*), MAX(rid) FROM TABLE(TUMBLE(TABLE wj, "
    "DESCRIPTOR(lwt), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end",
}
GROUPED = "(SELECT k, COUNT(*) AS c FROM l GROUP BY k)"

#: changelog results (regular outer joins, joins of changelogs, aggregations over a join): materialized rows compared
CHANGELOG_QUERIES = {
    "left": "SELECT l.id, r.rid, l.k, r.w FROM l LEFT JOIN r ON l.k = r.k",
    "left_on_filter": "SELECT l.id, r.rid FROM l LEFT OUTER JOIN r ON l.k = r.k AND r.w <> 'x' AND l.v > 10",
    "right": "SELECT l.id, r.rid, r.k FROM l RIGHT JOIN r ON l.k = r.k",
    "full": "SELECT l.id, r.rid FROM l FULL OUTER JOIN r ON l.k = r.k",
    "full_where": "SELECT l.id, r.rid FROM l FULL JOIN r ON l.k = r.k WHERE l.id IS NULL OR l.id > 3",
    "group_over_join": "SELECT l.k, COUNT(*), SUM(v) FROM l JOIN r ON l.k = r.k GROUP BY l.k",
    # joins of changelogs: an aggregation's -U/+U, an outer join's -D/+I
    "changelog_inner": f"SELECT g.k, g.c, r.rid FROM {GROUPED} g JOIN r ON g.k = r.k",
    "changelog_left": f"SELECT g.k, g.c, r.rid FROM {GROUPED} g LEFT JOIN r ON g.k = r.k",
    "changelog_right": f"SELECT g.k, g.c, r.rid FROM {GROUPED} g RIGHT JOIN r ON g.k = r.k AND g.c < 3",
    "changelog_full": f"SELECT g.k, g.c, r.rid FROM r FULL JOIN {GROUPED} g ON g.k = r.k",
    "changelog_chain": "SELECT l.id, r.rid, l2.id FROM l LEFT JOIN r ON l.k = r.k LEFT JOIN l l2 "
    "ON r.rid - 100 = l2.id",
    "changelog_both": f"SELECT a.k, a.c, b.c FROM {GROUPED} a FULL JOIN (SELECT k, COUNT(*) AS c FROM r GROUP BY k) b "
    "ON a.k = b.k",
}
JOIN_QUERIES = {**APPEND_QUERIES, **CHANGELOG_QUERIES}


def write_join_inputs(folder: Path) -> list[str]:
    """Writes ``l.json`` and ``r.json`` into ``folder``; returns the DDL of both tables."""
    (folder / "l.json").write_text(
        "".join(json.dumps({"id": i, "k": k, "ms": BASE + ms, "v": v}) + "\n" for i, k, ms, v in LEFT)
    )
    (folder / "r.json").write_text(
        "".join(json.dumps({"rid": i, "k": k, "ms": BASE + ms, "w": w}) + "\n" for i, k, ms, w in RIGHT)
    )
    return [d.format(dir=folder) for d in JOIN_DDL] + [WINDOW_JOIN_VIEW, INTERVAL_JOIN_VIEW, INTERVAL_LEFT_JOIN_VIEW]


def materialize(rows: list[list[Any]]) -> list[str]:
    """The rows a changelog leaves: ``+I``/``+U`` add a row, ``-U``/``-D`` retract one that is there."""
    table: Counter[str] = Counter()
    for kind, *values in rows:
        key = json.dumps(values)
        if kind in ("+I", "+U"):
            table[key] += 1
        else:
            assert table[key] > 0, f"{kind}{values} retracts a row that is not there"
            table[key] -= 1
    return sorted(table.elements())


def run_millstream(ddl: list[str], query: str, parallelism: int = 1) -> list[list[Any]]:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    t_env = StreamTableEnvironment.create(env)
    for d in ddl:
        t_env.execute_sql(d)
    return [[r.get_row_kind(), *(_norm(v) for v in r)] for r in t_env.execute_sql(query).collect()]


@pytest.fixture(scope="module")
def join_ddl(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return write_join_inputs(tmp_path_factory.mktemp("sql-join-parity"))


@pytest.fixture(scope="module")
def flink_join_rows(flink_oracle: FlinkOracle, join_ddl: list[str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    return run_flink(flink_oracle, tmp_path_factory.mktemp("sql-join-spec"), {"ddl": join_ddl, "queries": JOIN_QUERIES})


@pytest.mark.parametrize("name", sorted(APPEND_QUERIES))
def test_append_only_join_matches_flink(name: str, join_ddl: list[str], flink_join_rows: Any) -> None:
    ours = run_millstream(join_ddl, JOIN_QUERIES[name])
    theirs = flink_join_rows[name]
    assert theirs, f"{name}: Flink gave no rows, the case tests nothing"
    assert {row[0] for row in ours} == {"+I"}
    assert sorted(ours, key=json.dumps) == sorted(theirs, key=json.dumps)


@pytest.mark.parametrize("name", sorted(CHANGELOG_QUERIES))
def test_changelog_join_materializes_as_flinks(name: str, join_ddl: list[str], flink_join_rows: Any) -> None:
    ours = run_millstream(join_ddl, JOIN_QUERIES[name])
    theirs = flink_join_rows[name]
    assert theirs, f"{name}: Flink gave no rows, the case tests nothing"
    # Flink's outer joins send +I and -D; an INNER join forwards its changelog input's kinds
    kinds = (
        {"+I", "-D"} if name in ("left", "left_on_filter", "right", "full", "full_where") else {"+I", "-U", "+U", "-D"}
    )
    assert {row[0] for row in ours} <= kinds
    assert {row[0] for row in theirs} <= kinds
    assert materialize(ours) == materialize(theirs)
