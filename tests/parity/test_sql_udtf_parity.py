"""Flink SQL parity of Python table functions (PyFlink's ``udtf``): the same table functions, DDL and queries run
on PyFlink 2.3 (streaming mode, parallelism 1, a JSON file through the filesystem connector) and on millstream,
with identical rows and row kinds. Covers ``, LATERAL TABLE``, ``JOIN LATERAL ... ON TRUE``, ``LEFT JOIN LATERAL
... ON TRUE`` (NULL padding), functions yielding nothing, NULL arguments and results, default column names,
filters on the function's columns, an aggregation over the joined rows and a changelog input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment
from millstream.sql import StreamTableEnvironment, udtf

from .oracle import FlinkOracle

pytestmark = [pytest.mark.flink, pytest.mark.timeout(900)]

LINES = [(1, "a bb", 2), (2, "", 0), (3, None, 1), (4, "ccc dd e", 3), (5, "ff", None), (6, "a a", 1)]
DDL = """CREATE TABLE lines (id INT, line STRING, k INT)
WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"""

#: table functions: Python source defining a generator named as the function, and its result types
FUNCTIONS: dict[str, dict[str, Any]] = {
    "words": {
        "source": "def words(line):\n    for w in (line or '').split():\n        yield w, len(w)\n",
        "result_types": ["STRING", "INT"],
    },
    "upto": {  # a single result type: bare values; NULL argument -> no rows
        "source": "def upto(n):\n    if n is not None:\n        yield from range(n)\n",
        "result_types": ["INT"],
    },
    "maybe": {  # NULL results
        "source": "def maybe(s):\n    yield (None if s is None or s == '' else s.upper()), None\n",
        "result_types": ["STRING", "BIGINT"],
    },
}

QUERIES = {
    "comma": "SELECT id, w, n FROM lines, LATERAL TABLE(words(line)) AS T(w, n)",
    "join_on_true": "SELECT id, T.w FROM lines JOIN LATERAL TABLE(words(line)) AS T(w, n) ON TRUE",
    "left": "SELECT id, w, n FROM lines LEFT JOIN LATERAL TABLE(words(line)) AS T(w, n) ON TRUE",
    "left_single": "SELECT id, k, i FROM lines LEFT JOIN LATERAL TABLE(upto(k)) AS T(i) ON TRUE",
    "default_names": "SELECT id, f0, f1 FROM lines, LATERAL TABLE(words(line))",
    "nulls": "SELECT id, s, b FROM lines, LATERAL TABLE(maybe(line)) AS T(s, b)",
    "filtered": "SELECT id, w FROM lines, LATERAL TABLE(words(line)) AS T(w, n) WHERE n > 1 AND id <> 4",
    "expr_args": "SELECT id, i * 10 FROM lines, LATERAL TABLE(upto(k + 1)) AS T(i) WHERE id < 4",
    "two": "SELECT id, w, i FROM lines, LATERAL TABLE(words(line)) AS T(w, n), LATERAL TABLE(upto(n)) AS U(i)",
    "aggregate": "SELECT w, COUNT(*) AS c, SUM(n) AS s FROM lines, LATERAL TABLE(words(line)) AS T(w, n) GROUP BY w",
    "changelog": "SELECT k, c, i FROM (SELECT k, COUNT(*) AS c FROM lines GROUP BY k) AS g, "
    "LATERAL TABLE(upto(c)) AS T(i)",
}
ORDERED = ("aggregate", "changelog")  # changelogs: the order of the changes matters (their key: the first column)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sql-udtf-parity") / "lines.json"
    path.write_text("".join(json.dumps({"id": i, "line": s, "k": k}) + "\n" for i, s, k in LINES))
    return path


@pytest.fixture(scope="module")
def flink_rows(flink_oracle: FlinkOracle, data_file: Path) -> dict[str, list[list[Any]]]:
    spec = data_file.parent / "spec.json"
    spec.write_text(json.dumps({"ddl": [DDL.format(path=data_file)], "functions": FUNCTIONS, "queries": QUERIES}))
    runner = Path(__file__).with_name("sql_udtf_flink_runner.py")
    proc = subprocess.run(
        [str(flink_oracle.env.python), str(runner), str(spec)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, list[list[Any]]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def millstream_env(data_file: Path, parallelism: int = 1) -> StreamTableEnvironment:
    """A SQL environment with the ``lines`` table and the table functions of :data:`FUNCTIONS`."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(DDL.format(path=data_file))
    for name, fn in FUNCTIONS.items():
        namespace: dict[str, Any] = {}
        exec(fn["source"], namespace)
        t_env.create_temporary_function(name, udtf(namespace[name], result_types=fn["result_types"]))
    return t_env


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_sql_udtf_query_matches_flink(name: str, data_file: Path, flink_rows: dict[str, list[list[Any]]]) -> None:
    t_env = millstream_env(data_file)
    ours = [[r.get_row_kind(), *r] for r in t_env.execute_sql(QUERIES[name]).collect()]
    theirs = flink_rows[name]
    if name in ORDERED:
        assert ours == theirs
    else:
        assert sorted(ours, key=json.dumps) == sorted(theirs, key=json.dumps)
