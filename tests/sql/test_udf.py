"""Python scalar functions in SQL (PyFlink's ``udf``/``ScalarFunction``): registered from Python or with
``CREATE TEMPORARY [SYSTEM] FUNCTION ... LANGUAGE PYTHON``, called per row with Python values (``None`` for
NULL), results checked against their type, at parallelism 1 and 2, with clear errors for misuse."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment
from millstream.sql import ScalarFunction, SqlValidationError, StreamTableEnvironment, udf
from millstream.stream.errors import JobFailedError

ROWS = [("home", 5, "10.50"), ("cart", None, "3.25"), ("news", 2, None)]


@pytest.fixture
def t_env(tmp_path: Path) -> StreamTableEnvironment:
    path = tmp_path / "clicks.json"
    path.write_text("".join(json.dumps({"page": p, "n": n, "price": x}) + "\n" for p, n, x in ROWS))
    env = StreamExecutionEnvironment.get_execution_environment()
    t = StreamTableEnvironment.create(env)
    t.execute_sql(
        f"CREATE TABLE clicks (page STRING, n INT, price DECIMAL(10, 2)) "
        f"WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"
    )
    return t


def rows(t_env: StreamTableEnvironment, query: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in t_env.execute_sql(query).collect()]


@udf(result_type="BIGINT")
def add_one(x: int | None) -> int | None:
    return None if x is None else x + 1


class Tax(ScalarFunction):
    def open(self, function_context: Any) -> None:
        self.rate = Decimal("0.2")

    def eval(self, price: Decimal | None) -> Decimal | None:
        return None if price is None else (price * self.rate).quantize(Decimal("0.01"))


def test_functions_from_python_with_nulls_and_a_scalar_function_class(t_env: StreamTableEnvironment) -> None:
    t_env.create_temporary_function("add_one", add_one)
    t_env.create_temporary_function("tax", udf(Tax(), result_type="DECIMAL(10, 2)"))
    t_env.create_temporary_function("label", lambda p, n: f"{p}:{n}", result_type="STRING")
    query = "SELECT page, add_one(n), tax(price), label(page, n) FROM clicks WHERE add_one(n) > 3 OR n IS NULL"
    got = rows(t_env, query)
    assert got == [("home", 6, Decimal("2.10"), "home:5"), ("cart", None, Decimal("0.65"), "cart:None")]


def test_functions_from_ddl_and_system_functions_shadow_built_ins(t_env: StreamTableEnvironment) -> None:
    t_env.execute_sql("CREATE TEMPORARY FUNCTION shout AS 'tests.sql.udf_module.shout' LANGUAGE PYTHON")
    t_env.execute_sql("CREATE TEMPORARY FUNCTION IF NOT EXISTS shout AS 'tests.sql.udf_module.shout'")
    assert rows(t_env, "SELECT shout(page) FROM clicks") == [("HOME!",), ("CART!",), ("NEWS!",)]
    assert ("shout",) in rows(t_env, "SHOW USER FUNCTIONS")
    t_env.create_temporary_function("upper", udf(lambda s: "x", result_type="STRING"))  # a built-in still wins
    assert rows(t_env, "SELECT UPPER(page) FROM clicks")[0] == ("HOME",)
    t_env.execute_sql("DROP TEMPORARY FUNCTION upper")
    t_env.create_temporary_system_function("upper", udf(lambda s: "x", result_type="STRING"))  # shadows it
    assert rows(t_env, "SELECT UPPER(page) FROM clicks")[0] == ("x",)
    t_env.execute_sql("DROP TEMPORARY SYSTEM FUNCTION upper")
    t_env.execute_sql("DROP TEMPORARY FUNCTION shout")
    with pytest.raises(SqlValidationError, match="unknown function SHOUT"):
        t_env.execute_sql("SELECT shout(page) FROM clicks")


@pytest.mark.slow
def test_functions_run_in_worker_processes_at_parallelism_2(t_env: StreamTableEnvironment) -> None:
    t_env.env.set_parallelism(2)
    offset = 100
    t_env.create_temporary_function("plus", lambda x: None if x is None else x + offset, result_type="INT")
    assert sorted(rows(t_env, "SELECT plus(n) FROM clicks"), key=str) == sorted([(105,), (None,), (102,)], key=str)


def test_misuse_is_a_clear_error(t_env: StreamTableEnvironment) -> None:
    with pytest.raises(SqlValidationError, match="its result type is unknown"):
        t_env.create_temporary_function("f", lambda x: x)
    with pytest.raises(SqlValidationError, match="not a SQL type"):
        udf(lambda x: x, result_type="NOT A TYPE(")
    with pytest.raises(SqlValidationError, match="is not a udf or udtf object"):
        t_env.execute_sql("CREATE TEMPORARY FUNCTION g AS 'tests.sql.udf_module.not_a_udf' LANGUAGE PYTHON")
    with pytest.raises(SqlValidationError, match=r"cannot load the function 'no_such_module\.f'"):
        t_env.execute_sql("CREATE TEMPORARY FUNCTION g AS 'no_such_module.f' LANGUAGE PYTHON")
    with pytest.raises(SqlValidationError, match="LANGUAGE JAVA are not supported"):
        t_env.execute_sql("CREATE TEMPORARY FUNCTION g AS 'com.example.G' LANGUAGE JAVA")
    t_env.create_temporary_function("bad", udf(lambda x: "text", result_type="INT"))
    with pytest.raises(JobFailedError, match="the function BAD returned 'text'"):
        t_env.execute_sql("SELECT bad(n) FROM clicks").collect()
    t_env.create_temporary_function("boom", udf(lambda x: 1 // 0, result_type="INT"))
    with pytest.raises(JobFailedError) as info:
        t_env.execute_sql("SELECT boom(n) FROM clicks").collect()
    assert "in the SQL function BOOM(5)" in "\n".join(getattr(info.value.__cause__, "__notes__", []))
