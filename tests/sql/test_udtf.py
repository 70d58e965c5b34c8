"""Python table functions in SQL (PyFlink's ``udtf``/``TableFunction``): one input row → zero or more rows, joined
with ``LATERAL TABLE(fn(col))`` (input rows without output dropped) or ``LEFT JOIN LATERAL TABLE(...) ON TRUE``
(kept, padded with NULLs); registered from Python or with ``CREATE TEMPORARY FUNCTION ... LANGUAGE PYTHON``; at
parallelism 1 and 2; over a changelog (kinds kept); with clear errors for misuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment
from millstream.sql import SqlValidationError, StreamTableEnvironment, TableFunction, udf, udtf
from millstream.stream.errors import JobFailedError

LINES = [(1, "a bb"), (2, ""), (3, None), (4, "ccc dd e")]


@udtf(result_types=["STRING", "INT"])
def words(line: str | None) -> Any:
    for w in (line or "").split():
        yield w, len(w)


class Repeat(TableFunction):
    """Class-based: ``n`` copies of ``s``; ``open`` must run before ``eval``."""

    def open(self, function_context: Any) -> None:
        self.suffix = "!"

    def eval(self, s: str | None, n: int | None) -> Any:
        return [s + self.suffix] * (n or 0) if s is not None else None


@pytest.fixture
def t_env(tmp_path: Path) -> StreamTableEnvironment:
    path = tmp_path / "lines.json"
    path.write_text("".join(json.dumps({"id": i, "line": s}) + "\n" for i, s in LINES))
    t = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
    t.execute_sql(
        "CREATE TABLE lines (id INT, line STRING) "
        f"WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"
    )
    t.create_temporary_function("words", words)
    return t


def rows(t_env: StreamTableEnvironment, query: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in t_env.execute_sql(query).collect()]


INNER = [(1, "a", 1), (1, "bb", 2), (4, "ccc", 3), (4, "dd", 2), (4, "e", 1)]
LEFT = [(1, "a", 1), (1, "bb", 2), (2, None, None), (3, None, None), (4, "ccc", 3), (4, "dd", 2), (4, "e", 1)]


def test_lateral_table_joins_each_row_with_its_function_rows(t_env: StreamTableEnvironment) -> None:
    assert rows(t_env, "SELECT id, w, n FROM lines, LATERAL TABLE(words(line)) AS T(w, n)") == INNER
    assert rows(t_env, "SELECT id, T.w, T.n FROM lines JOIN LATERAL TABLE(words(line)) AS T(w, n) ON TRUE") == INNER
    assert rows(t_env, "SELECT id, w, n FROM lines CROSS JOIN LATERAL TABLE(words(line)) AS T(w, n)") == INNER


def test_left_join_lateral_keeps_rows_without_output_padded_with_nulls(t_env: StreamTableEnvironment) -> None:
    assert rows(t_env, "SELECT id, w, n FROM lines LEFT JOIN LATERAL TABLE(words(line)) AS T(w, n) ON TRUE") == LEFT


def test_where_and_on_conditions_filter_the_joined_rows(t_env: StreamTableEnvironment) -> None:
    q = "SELECT id, w FROM lines, LATERAL TABLE(words(line)) AS T(w, n) WHERE n > 1 AND id < 4"
    assert rows(t_env, q) == [(1, "bb")]
    q = "SELECT id, w FROM lines JOIN LATERAL TABLE(words(line)) AS T(w, n) ON n = 2"
    assert rows(t_env, q) == [(1, "bb"), (4, "dd")]


def test_default_column_names_star_and_single_value_results(t_env: StreamTableEnvironment) -> None:
    t_env.create_temporary_function("repeat", udtf(Repeat, result_types="STRING"))
    result = list(t_env.execute_sql("SELECT * FROM lines, LATERAL TABLE(words(line))").collect())
    assert [tuple(r)[2:] for r in result] == [(w, n) for _, w, n in INNER]
    assert [(r.f0, r.f1) for r in result] == [(w, n) for _, w, n in INNER]  # Flink's default names
    q = "SELECT id, r FROM lines, LATERAL TABLE(repeat(line, id)) AS T(r)"
    assert rows(t_env, q) == [(1, "a bb!"), (2, "!"), (2, "!")] + [(4, "ccc dd e!")] * 4


def test_aggregating_the_function_rows_and_a_changelog_input(t_env: StreamTableEnvironment) -> None:
    q = "SELECT n, COUNT(*) AS c FROM lines, LATERAL TABLE(words(line)) AS T(w, n) GROUP BY n"
    final = {}
    for r in t_env.execute_sql(q).collect():
        if r.get_row_kind() in ("+I", "+U"):
            final[r[0]] = r[1]
    assert final == {1: 2, 2: 2, 3: 1}
    # over a changelog every joined row keeps its input's kind
    q = (
        "SELECT c, w FROM (SELECT COUNT(*) AS c FROM lines) AS x, "
        "LATERAL TABLE(words(CAST(c * 11 AS STRING))) AS T(w, n)"
    )
    changes = [(r.get_row_kind(), *r) for r in t_env.execute_sql(q).collect()]
    assert changes[:3] == [("+I", 1, "11"), ("-U", 1, "11"), ("+U", 2, "22")]
    assert changes[-1] == ("+U", 4, "44")


def test_create_temporary_function_in_sql(t_env: StreamTableEnvironment) -> None:
    t_env.execute_sql("CREATE TEMPORARY FUNCTION tokens AS 'tests.sql.udf_module.words' LANGUAGE PYTHON")
    assert rows(t_env, "SELECT id, w FROM lines, LATERAL TABLE(tokens(line)) AS T(w, n) WHERE id = 1") == [
        (1, "a"),
        (1, "bb"),
    ]
    assert "tokens" in [r[0] for r in t_env.execute_sql("SHOW USER FUNCTIONS").collect()]


def test_table_functions_run_in_worker_processes_at_parallelism_2(t_env: StreamTableEnvironment) -> None:
    t_env.env.set_parallelism(2)
    suffix = "?"

    @udtf(result_types=["STRING"])
    def shout(line: str | None) -> Any:  # a closure: pickled to the workers
        return [w + suffix for w in (line or "").split()]

    t_env.create_temporary_function("shout", shout)
    q = "SELECT id, w, n FROM lines LEFT JOIN LATERAL TABLE(words(line)) AS T(w, n) ON TRUE"
    assert sorted(rows(t_env, q), key=repr) == sorted(LEFT, key=repr)
    q = "SELECT id, s FROM lines, LATERAL TABLE(shout(line)) AS T(s)"
    assert sorted(rows(t_env, q)) == [(1, "a?"), (1, "bb?"), (4, "ccc?"), (4, "dd?"), (4, "e?")]


def test_wrong_results_fail_the_job_naming_the_function(t_env: StreamTableEnvironment) -> None:
    t_env.create_temporary_function("bad", udtf(lambda s: [(s, "x")], result_types=["STRING", "INT"]))
    with pytest.raises(JobFailedError, match="the table function BAD yielded 'x'"):
        rows(t_env, "SELECT * FROM lines, LATERAL TABLE(bad(line)) AS T(a, b)")
    t_env.create_temporary_function("short", udtf(lambda s: [(s,)], result_types=["STRING", "INT"]))
    with pytest.raises(JobFailedError, match="yielded a row of 1 values, its result_types has 2"):
        rows(t_env, "SELECT * FROM lines, LATERAL TABLE(short(line)) AS T(a, b)")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT * FROM lines, LATERAL TABLE(words(line)) AS T(w)", "WORDS returns 2 column"),
        ("SELECT * FROM lines LEFT JOIN LATERAL TABLE(words(line)) AS T(w, n) ON n > 1", "needs ON TRUE"),
        ("SELECT * FROM lines, LATERAL TABLE(nope(line)) AS T(w)", "unknown table function NOPE"),
        ("SELECT * FROM lines, LATERAL TABLE(up(line)) AS T(w)", "UP is not a table function"),
        ("SELECT words(line) FROM lines", "WORDS is a table function"),
        ("SELECT * FROM lines RIGHT JOIN LATERAL TABLE(words(line)) AS T(w, n) ON TRUE", "RIGHT JOIN LATERAL"),
    ],
)
def test_misuse_is_refused_with_a_fix(t_env: StreamTableEnvironment, query: str, message: str) -> None:
    t_env.create_temporary_function("up", udf(lambda s: s, result_type="STRING"))
    with pytest.raises(SqlValidationError, match=message) as info:
        t_env.execute_sql(query)
    assert info.value.hint


def test_udtf_needs_result_types() -> None:
    with pytest.raises(SqlValidationError, match="udtf\\(\\) needs result_types"):
        udtf(lambda s: [s])
