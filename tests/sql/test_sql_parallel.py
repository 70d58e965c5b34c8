"""Flink SQL at parallelism 2 (worker processes, hash exchanges by group key) gives parallelism 1's results:
the same rows for append queries, and for changelog queries (non-windowed GROUP BY, DISTINCT) the same sequence
of changes per group key — across keys the order may interleave differently, as in Flink at parallelism > 1.
Parallelism 1 itself is checked against Flink by ``tests/parity/test_sql_parity.py``; datagen and statement sets
are checked here too."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment
from millstream.sql import StreamTableEnvironment
from tests.parity.test_sql_join_parity import (
    CHANGELOG_QUERIES,
    JOIN_QUERIES,
    materialize,
    run_millstream,
    write_join_inputs,
)
from tests.parity.test_sql_over_parity import CHANGELOG_KEYS as OVER_CHANGELOG_KEYS
from tests.parity.test_sql_over_parity import QUERIES as OVER_QUERIES
from tests.parity.test_sql_over_parity import write_inputs as write_over_inputs
from tests.parity.test_sql_parity import BASE, EVENTS, ORDERS, QUERIES, _norm, ddls
from tests.parity.test_sql_udtf_parity import LINES
from tests.parity.test_sql_udtf_parity import ORDERED as UDTF_CHANGELOGS
from tests.parity.test_sql_udtf_parity import QUERIES as UDTF_QUERIES
from tests.parity.test_sql_udtf_parity import millstream_env as udtf_env

pytestmark = pytest.mark.slow

#: changelog queries: how many leading columns are the group key (0: one global group; None: the whole row)
CHANGELOG_KEYS: dict[str, int | None] = {
    "group_count": 1,
    "group_having": 1,
    "group_expr": 1,
    "group_global": 0,
    "group_distinct": None,
}


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sql-parallel") / "clicks.json"
    path.write_text(
        "".join(json.dumps({"page": p, "user_id": u, "ms": BASE + ms, "amount": a}) + "\n" for p, u, ms, a in EVENTS)
    )
    (path.parent / "orders.json").write_text(
        "".join(json.dumps({"id": i, "price": None if p is None else float(p), "ts": t}) + "\n" for i, p, t in ORDERS)
    )
    return path


def run(query: str, data_file: Path, parallelism: int) -> list[list[Any]]:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    t_env = StreamTableEnvironment.create(env)
    for ddl in ddls(data_file):
        t_env.execute_sql(ddl)
    return [[r.get_row_kind(), *(_norm(v) for v in r)] for r in t_env.execute_sql(query).collect()]


def per_key(rows: list[list[Any]], width: int | None) -> dict[str, list[list[Any]]]:
    out: dict[str, list[list[Any]]] = {}
    for row in rows:
        key = json.dumps(row[1:] if width is None else row[1 : 1 + width], default=str)
        out.setdefault(key, []).append(row)
    return out


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_sql_at_parallelism_2_gives_parallelism_1s_results(name: str, data_file: Path) -> None:
    one, two = run(QUERIES[name], data_file, 1), run(QUERIES[name], data_file, 2)
    assert one, f"{name}: no rows at parallelism 1"
    if name in CHANGELOG_KEYS:
        width = CHANGELOG_KEYS[name]
        assert per_key(two, width) == per_key(one, width)
    else:
        assert sorted(two, key=json.dumps) == sorted(one, key=json.dumps)


def test_datagen_and_a_statement_set_at_parallelism_2(tmp_path: Path) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(
        "CREATE TABLE g (id BIGINT, v INT) WITH ('connector' = 'datagen', 'number-of-rows' = '100', "
        "'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '100', "
        "'fields.v.min' = '1', 'fields.v.max' = '5')"
    )
    ids = sorted(r[0] for r in t_env.execute_sql("SELECT id FROM g").collect())
    assert ids == list(range(1, 101))  # each row once, not once per subtask
    for name in ("evens", "odds"):
        t_env.execute_sql(
            f"CREATE TABLE {name} (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{tmp_path / name}', "
            "'format' = 'json')"
        )
    ss = t_env.create_statement_set()
    ss.add_insert_sql("INSERT INTO evens SELECT id FROM g WHERE MOD(id, 2) = 0")
    ss.add_insert_sql("INSERT INTO odds SELECT id FROM g WHERE MOD(id, 2) = 1")
    ss.execute().wait()

    def read(name: str) -> list[int]:  # the filesystem sink's 'path' is a file
        return sorted(json.loads(line)["id"] for line in (tmp_path / name).read_text().splitlines() if line.strip())

    assert read("evens") == list(range(2, 101, 2))
    assert read("odds") == list(range(1, 101, 2))


@pytest.fixture(scope="module")
def join_ddl(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return write_join_inputs(tmp_path_factory.mktemp("sql-join-parallel"))


@pytest.mark.parametrize("name", sorted(JOIN_QUERIES))
def test_join_at_parallelism_2_gives_parallelism_1s_results(name: str, join_ddl: list[str]) -> None:
    """Joins run keyed by their join keys behind hash exchanges: the rows of parallelism 1; a changelog (outer
    joins, aggregations over joins) materializes to the same rows (which input's row arrives first may differ)."""
    one, two = run_millstream(join_ddl, JOIN_QUERIES[name], 1), run_millstream(join_ddl, JOIN_QUERIES[name], 2)
    assert one, f"{name}: no rows at parallelism 1"
    if name in CHANGELOG_QUERIES:
        assert materialize(two) == materialize(one)
    else:
        assert sorted(two, key=json.dumps) == sorted(one, key=json.dumps)


def test_joins_of_many_keys_at_parallelism_2_match_a_nested_loop(tmp_path: Path) -> None:
    rng = random.Random(7)
    base = 1_700_000_000_000
    left = [(i, f"k{rng.randrange(25)}", base + i * 1_000) for i in range(300)]
    right = [(1000 + i, f"k{rng.randrange(30)}", base + i * 1_500 + rng.randrange(1_000)) for i in range(200)]
    right.sort(key=lambda r: r[2])
    for name, rows in (("a", left), ("b", right)):
        (tmp_path / f"{name}.json").write_text(
            "".join(json.dumps({"id": i, "k": k, "ms": ms}) + "\n" for i, k, ms in rows)
        )
    ddl = [
        f"CREATE TABLE {name} (id INT, k STRING, ms BIGINT, ts AS TO_TIMESTAMP_LTZ(ms, 3), "
        f"WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) "
        f"WITH ('connector' = 'filesystem', 'path' = '{tmp_path / name}.json', 'format' = 'json')"
        for name in ("a", "b")
    ]
    inner = sorted([x[0], y[0]] for x in left for y in right if x[1] == y[1])
    assert len(inner) > 1000
    got = run_millstream(ddl, "SELECT a.id, b.id FROM a JOIN b ON a.k = b.k", 2)
    assert sorted(row[1:] for row in got) == inner
    left_join = inner + [[x[0], None] for x in left if all(x[1] != y[1] for y in right)]
    got = run_millstream(ddl, "SELECT a.id, b.id FROM a LEFT JOIN b ON a.k = b.k", 2)
    assert materialize(got) == sorted(json.dumps(r) for r in left_join)
    within = sorted([x[0], y[0]] for x in left for y in right if x[1] == y[1] and 0 <= y[2] - x[2] <= 20_000)
    got = run_millstream(
        ddl, "SELECT a.id, b.id FROM a, b WHERE a.k = b.k AND b.ts BETWEEN a.ts AND a.ts + INTERVAL '20' SECOND", 2
    )
    assert within and sorted(row[1:] for row in got) == within


@pytest.fixture(scope="module")
def over_ddl(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return write_over_inputs(tmp_path_factory.mktemp("sql-over-parallel"))


#: RANGE with an interval drops late rows by the last time its operator instance fired (for any key), as Flink
#: does: at parallelism 2 the late row of ``clicks`` may meet another instance's history (as in Flink)
INSTANCE_DEPENDENT = {"over_range"}


@pytest.mark.parametrize("name", sorted(set(OVER_QUERIES) - INSTANCE_DEPENDENT))
def test_over_top_n_and_dedup_at_parallelism_2_give_parallelism_1s_results(name: str, over_ddl: list[str]) -> None:
    """Keyed by their partition keys behind hash exchanges: the rows of parallelism 1; a changelog (Top-N, keep-last
    deduplication) has the same changes per partition key."""
    one, two = run_millstream(over_ddl, OVER_QUERIES[name], 1), run_millstream(over_ddl, OVER_QUERIES[name], 2)
    assert one, f"{name}: no rows at parallelism 1"
    if name in OVER_CHANGELOG_KEYS:
        width = OVER_CHANGELOG_KEYS[name]
        assert per_key(two, width) == per_key(one, width)
    else:
        assert sorted(two, key=json.dumps) == sorted(one, key=json.dumps)


def test_over_top_n_and_dedup_of_many_keys_at_parallelism_2_match_a_reference(tmp_path: Path) -> None:
    rng = random.Random(11)
    base = 1_700_000_000_000
    data = [(f"k{rng.randrange(20)}", base + i * 700, rng.randrange(100)) for i in range(400)]
    (tmp_path / "e.json").write_text("".join(json.dumps({"k": k, "ms": ms, "v": v}) + "\n" for k, ms, v in data))
    ddl = [
        "CREATE TABLE e (k STRING, ms BIGINT, v INT, ts AS TO_TIMESTAMP_LTZ(ms, 3), WATERMARK FOR ts AS ts - "
        f"INTERVAL '1' SECOND) WITH ('connector' = 'filesystem', 'path' = '{tmp_path / 'e.json'}', 'format' = 'json')"
    ]
    keys = sorted({k for k, _, _ in data})
    per: dict[str, list[tuple[str, int, int]]] = {k: [r for r in data if r[0] == k] for k in keys}
    # keep first: each key's first row
    got = run_millstream(
        ddl, "SELECT k, v FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts) AS rn FROM e) WHERE rn = 1", 2
    )
    assert sorted(got) == sorted(["+I", k, per[k][0][2]] for k in keys)
    # top 3 by v (ties: the earlier row stays): what the changelog adds up to
    got = run_millstream(
        ddl,
        "SELECT k, v, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) "
        "AS rn FROM e) WHERE rn <= 3",
        2,
    )
    top = []
    for k in keys:
        best = sorted(range(len(per[k])), key=lambda i: (-per[k][i][2], i))[:3]
        top += [[k, per[k][i][2], rank] for rank, i in enumerate(best, start=1)]
    assert materialize(got) == sorted(json.dumps(r) for r in top)
    # running sums and counts over the last 3 rows, then sums over the last 5 seconds
    got = run_millstream(
        ddl,
        "SELECT k, ms, SUM(v) OVER w, COUNT(*) OVER w FROM e "
        "WINDOW w AS (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)",
        2,
    )
    expect = [
        ["+I", k, ms, sum(r[2] for r in per[k][max(0, i - 2) : i + 1]), min(i + 1, 3)]
        for k in keys
        for i, (_, ms, _) in enumerate(per[k])
    ]
    assert sorted(got) == sorted(expect)
    got = run_millstream(
        ddl,
        "SELECT k, ms, SUM(v) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '5' "
        "SECOND PRECEDING AND CURRENT ROW) FROM e",
        2,
    )
    expect = [["+I", k, ms, sum(r[2] for r in per[k] if ms - 5_000 <= r[1] <= ms)] for k in keys for _, ms, _ in per[k]]
    assert sorted(got) == sorted(expect)


@pytest.mark.parametrize("name", sorted(UDTF_QUERIES))
def test_table_functions_at_parallelism_2_give_parallelism_1s_results(name: str, tmp_path: Path) -> None:
    """Python table functions (LATERAL TABLE joins) run in worker processes in their input's subtasks: the rows of
    parallelism 1 (checked against Flink by tests/parity/test_sql_udtf_parity.py); changelogs per key in order."""
    path = tmp_path / "lines.json"
    path.write_text("".join(json.dumps({"id": i, "line": s, "k": k}) + "\n" for i, s, k in LINES))

    def run_udtf(parallelism: int) -> list[list[Any]]:
        t_env = udtf_env(path, parallelism)
        return [[r.get_row_kind(), *r] for r in t_env.execute_sql(UDTF_QUERIES[name]).collect()]

    one, two = run_udtf(1), run_udtf(2)
    assert one, f"{name}: no rows at parallelism 1"
    if name in UDTF_CHANGELOGS:
        assert per_key(two, 1) == per_key(one, 1)
    else:
        assert sorted(two, key=json.dumps) == sorted(one, key=json.dumps)
