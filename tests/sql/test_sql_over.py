"""OVER aggregations, Top-N and deduplication: results over rows out of order, the schema of their results, and
the errors for refused shapes (each names the construct, its position and what is supported).

The expected rows were observed on Flink 2.3 (``tests/parity/test_sql_over_parity.py`` runs these queries and more
on Flink and millstream); here they run without Flink."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment
from millstream.sql import SqlError, SqlValidationError, StreamTableEnvironment
from tests.parity.test_sql_join_parity import materialize

BASE = 1_700_000_000_000
#: (k, ms, v): out of order within the 5 s delay, equal times, a late row (a at 2 s)
ROWS = [
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


@pytest.fixture
def tenv(tmp_path: Path) -> StreamTableEnvironment:
    (tmp_path / "t.json").write_text("".join(json.dumps({"k": k, "ms": BASE + ms, "v": v}) + "\n" for k, ms, v in ROWS))
    env = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
    env.execute_sql(
        "CREATE TABLE t (k STRING, ms BIGINT, v INT, ts AS TO_TIMESTAMP_LTZ(ms, 3), "
        "WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) "
        f"WITH ('connector' = 'filesystem', 'path' = '{tmp_path / 't.json'}', 'format' = 'json')"
    )
    return env


def rows(tenv: StreamTableEnvironment, query: str) -> list[list[Any]]:
    return [[r.get_row_kind(), *r] for r in tenv.execute_sql(query).collect()]


def ranked(order: str, partition: str = "PARTITION BY k ") -> str:
    return f"(SELECT *, ROW_NUMBER() OVER ({partition}ORDER BY {order}) AS rn FROM t)"


def test_keep_first_waits_for_the_watermark_and_keeps_the_earliest_row(tenv: StreamTableEnvironment) -> None:
    # a's first row (10 s) loses against a row at 8 s arriving later; the late row at 2 s is dropped; rows are
    # sent in time order when the watermark passes them: append-only
    assert rows(tenv, f"SELECT k, v FROM {ranked('ts')} WHERE rn = 1") == [
        ["+I", "b", 7],
        ["+I", "a", 2],
        ["+I", "c", 9],
    ]


def test_keep_last_is_a_changelog_where_equal_times_replace(tenv: StreamTableEnvironment) -> None:
    got = rows(tenv, f"SELECT * FROM {ranked('ts DESC')} WHERE rn = 1")
    assert [[kind, k, v, rn] for kind, k, _, v, _, rn in got] == [
        ["+I", "a", 1, 1],
        ["+I", "b", 3, 1],
        ["-U", "a", 1, 1],
        ["+U", "a", 4, 1],
        ["-U", "b", 3, 1],
        ["+U", "b", 5, 1],
        ["+I", "c", 9, 1],
        ["-U", "a", 4, 1],
        ["+U", "a", 10, 1],
    ]


def test_top_n_with_and_without_the_row_number(tenv: StreamTableEnvironment) -> None:
    with_rn = rows(tenv, f"SELECT k, v, rn FROM {ranked('ts DESC')} WHERE rn <= 2")
    assert with_rn[:7] == [
        ["+I", "a", 1, 1],
        ["+I", "a", 2, 2],
        ["+I", "b", 3, 1],
        ["-U", "a", 1, 1],
        ["+U", "a", 4, 1],
        ["-U", "a", 2, 2],
        ["+U", "a", 1, 2],
    ]
    assert materialize(with_rn) == sorted(
        json.dumps(r) for r in [["a", 10, 1], ["a", 4, 2], ["b", 3, 1], ["b", 5, 2], ["c", 9, 1]]
    )
    without = rows(tenv, f"SELECT k, v FROM {ranked('k DESC', '')} WHERE rn <= 3")
    assert without == [
        ["+I", "a", 1],
        ["+I", "a", 2],
        ["+I", "b", 3],
        ["-D", "a", 2],
        ["+I", "b", 5],
        ["-D", "a", 1],
        ["+I", "b", 7],
        ["-D", "b", 7],
        ["+I", "c", 9],
    ]


def test_over_frames_and_their_late_rows(tenv: StreamTableEnvironment) -> None:
    frame = "OVER (PARTITION BY k ORDER BY ts {})"
    query = (
        f"SELECT k, v, SUM(v) {frame.format('ROWS BETWEEN 1 PRECEDING AND CURRENT ROW')}, "
        f"COUNT(*) {frame.format('ROWS BETWEEN 1 PRECEDING AND CURRENT ROW')} FROM t"
    )
    # ROWS n PRECEDING keeps the late row at 2 s (its key had not fired yet), in time order
    assert rows(tenv, query)[:3] == [["+I", "a", 6, 6, 1], ["+I", "b", 7, 7, 1], ["+I", "a", 2, 8, 2]]
    unbounded = rows(tenv, "SELECT k, v, SUM(v) OVER w FROM t WINDOW w AS (PARTITION BY k ORDER BY ts)")
    assert ["+I", "a", 6, 6] not in unbounded  # an UNBOUNDED frame drops rows behind the watermark
    assert unbounded[-1] == ["+I", "a", 10, 25]


def test_result_schemas(tenv: StreamTableEnvironment) -> None:
    over = tenv.sql_query("SELECT k, ts, COUNT(*) OVER (PARTITION BY k ORDER BY ts) AS c FROM t")
    assert [str(t) for t in over.get_schema().get_field_data_types()] == [
        "STRING",
        "TIMESTAMP_LTZ(3) *ROWTIME*",
        "BIGINT NOT NULL",
    ]
    top = tenv.sql_query(f"SELECT k, ts, rn FROM {ranked('v DESC')} WHERE rn <= 2")
    assert [str(t) for t in top.get_schema().get_field_data_types()] == [
        "STRING",
        "TIMESTAMP_LTZ(3)",
        "BIGINT NOT NULL",
    ]


def test_a_window_aggregate_over_an_over_aggregate(tenv: StreamTableEnvironment) -> None:
    tenv.execute_sql("CREATE VIEW running AS SELECT k, ts, SUM(v) OVER (PARTITION BY k ORDER BY ts) AS s FROM t")
    got = rows(
        tenv,
        "SELECT window_start, MAX(s) FROM TABLE(TUMBLE(TABLE running, DESCRIPTOR(ts), INTERVAL '10' SECOND)) "
        "GROUP BY window_start, window_end",
    )
    assert [r[2] for r in got] == [15, 15, 25]  # running sums b 15, a 15, a 25 (windows of 10 s)


def test_top_n_results_are_refused_by_append_only_sinks(tenv: StreamTableEnvironment, tmp_path: Path) -> None:
    tenv.execute_sql(
        f"CREATE TABLE out_csv (k STRING, v INT) WITH ('connector' = 'filesystem', 'path' = '{tmp_path / 'o.csv'}', "
        "'format' = 'csv')"
    )
    with pytest.raises(SqlError):
        tenv.execute_sql(f"INSERT INTO out_csv SELECT k, v FROM {ranked('v DESC')} WHERE rn <= 2")


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        (
            "SELECT k, SUM(v) OVER (PARTITION BY k ORDER BY v) FROM t",
            "OVER ... ORDER BY v: ORDER BY must be a time attribute",
            48,
        ),
        ("SELECT k, SUM(v) OVER (PARTITION BY k ORDER BY ts DESC) FROM t", "ORDER BY the time attribute ascending", 48),
        ("SELECT k, RANK() OVER (PARTITION BY k ORDER BY ts) FROM t", "RANK() on a streaming table is not", 11),
        ("SELECT k, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts) AS rn FROM t", "ROW_NUMBER() OVER is not", 11),
        (
            "SELECT k, SUM(v) OVER (PARTITION BY k ORDER BY ts), COUNT(*) OVER (ORDER BY ts) FROM t",
            "all OVER aggregates of a SELECT must use the same window",
            53,
        ),
        (
            "SELECT k, SUM(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING) FROM t",
            "a window frame ending at 2 FOLLOWING is not supported",
            80,
        ),
        (
            "SELECT k, SUM(v) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN 3 PRECEDING AND CURRENT ROW) FROM t",
            "RANGE BETWEEN needs an interval on the time attribute",
            65,
        ),
        ("SELECT k, SUM(v) OVER w FROM t", "unknown window 'w'", 11),
        ("SELECT k, SUM(v) OVER (PARTITION BY k ORDER BY ts) FROM t GROUP BY k", "with GROUP BY are not supported", 68),
        (f"SELECT k FROM {ranked('v DESC')}", "ROW_NUMBER() needs one filter on 'rn'", 8),
        (f"SELECT k FROM {ranked('v DESC')} WHERE rn = 2", "a rank range that does not start at 1", 97),
        (f"SELECT k FROM {ranked('v DESC')} WHERE rn > 2", "the condition rn > 2 on the row number", 97),
        (
            "SELECT * FROM (SELECT k, c, ROW_NUMBER() OVER (ORDER BY c DESC) AS rn FROM "
            "(SELECT k, COUNT(*) AS c FROM t GROUP BY k)) WHERE rn <= 2",
            "ROW_NUMBER() over a changelog",
            29,
        ),
        ("SELECT k FROM t LIMIT 3", "LIMIT is not supported yet", 23),
    ],
)
def test_refused_shapes_name_the_construct_and_position(
    tenv: StreamTableEnvironment, query: str, message: str, column: int
) -> None:
    with pytest.raises(SqlValidationError) as info:
        tenv.execute_sql(query)
    assert message in str(info.value)
    assert info.value.hint
    assert (info.value.line, info.value.column) == (1, column), str(info.value)


def test_ranked_views_and_with_queries(tenv: StreamTableEnvironment) -> None:
    tenv.execute_sql("CREATE VIEW best AS SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) AS rn FROM t")
    expected = materialize([["+I", "a", 10], ["+I", "b", 7], ["+I", "c", 9]])
    assert materialize(rows(tenv, "SELECT k, v FROM best WHERE rn = 1")) == expected
    cte = f"WITH r AS {ranked('v DESC')} SELECT k, v FROM r WHERE rn <= 1"
    assert materialize(rows(tenv, cte)) == expected
    with pytest.raises(SqlValidationError, match="needs one filter"):
        tenv.execute_sql("SELECT k FROM best")
