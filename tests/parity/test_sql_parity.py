"""Flink SQL parity: the same DDL and queries run on PyFlink 2.3's TableEnvironment (streaming mode,
parallelism 1, a JSON file through the filesystem connector) and on millstream, with identical rows and
row kinds. Covers projection and scalar functions, TUMBLE/HOP/CUMULATE/SESSION aggregations with late rows
and NULLs, and HAVING."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment
from millstream.sql import StreamTableEnvironment

from .oracle import FlinkOracle

pytestmark = [pytest.mark.flink, pytest.mark.timeout(900)]

BASE = 1_700_000_000_000
EVENTS = [
    ("home", "u1", 1_000, 5),
    ("home", "u2", 2_500, 7),
    ("cart", "u1", 3_000, 1),
    ("home", "u3", 14_000, None),
    ("cart", "u2", 31_000, 4),
    ("home", "u1", 61_000, 2),
    ("cart", "u3", 65_000, 9),
    ("home", "u2", 30_000, 100),  # late for every window ending at or before 60 s
    ("home", "u1", 66_000, 3),
    ("news", "u4", 125_000, -8),
    ("home", "u3", 128_000, 6),
]

DDL = """CREATE TABLE clicks (
    page STRING, user_id STRING, ms BIGINT, amount INT,
    ts AS TO_TIMESTAMP_LTZ(ms, 3),
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"""

ORDERS_DDL = """CREATE TABLE orders (
    id BIGINT, price DECIMAL(10, 2), ts TIMESTAMP(3),
    WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"""
ORDERS = [
    (1, "10.50", "2023-11-14 22:13:20.5"),
    (2, "3.25", "2023-11-14 22:13:29"),
    (3, None, "2023-11-14 22:13:31.250"),
    (4, "7", "2023-11-14 22:13:27"),  # late: the watermark is at 22:13:29.250
    (5, "99.99", "2023-11-14 22:13:45"),
]

TUMBLE = "TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE))"
QUERIES = {
    "projection": "SELECT page, UPPER(user_id) || '-' || CAST(amount AS STRING), amount * 3 - 1, "
    "CASE WHEN amount > 4 THEN 'big' WHEN amount IS NULL THEN 'none' ELSE 'small' END, COALESCE(amount, 0), "
    "amount / 2, MOD(amount, 3), CHAR_LENGTH(page), SUBSTRING(page, 2, 2), DATE_FORMAT(ts, 'HH:mm:ss') "
    "FROM clicks WHERE page <> 'news' AND (amount IS NULL OR amount > 1)",
    "tumble": f"SELECT window_start, window_end, page, COUNT(*), COUNT(amount), SUM(amount), AVG(amount), "
    f"MIN(amount), MAX(amount), COUNT(DISTINCT user_id) FROM {TUMBLE} GROUP BY window_start, window_end, page",
    "having": f"SELECT page, CAST(window_time AS STRING), COUNT(*) AS c FROM {TUMBLE} "
    "GROUP BY window_start, window_end, window_time, page HAVING SUM(amount) > 5",
    "hop": "SELECT window_start, window_end, COUNT(*), SUM(amount) FROM TABLE(HOP(TABLE clicks, DESCRIPTOR(ts), "
    "INTERVAL '30' SECOND, INTERVAL '1' MINUTE)) GROUP BY window_start, window_end",
    "cumulate": "SELECT window_start, window_end, page, COUNT(*) FROM TABLE(CUMULATE(TABLE clicks, "
    "DESCRIPTOR(ts), INTERVAL '20' SECOND, INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, page",
    "casts": "SELECT CAST(ms AS STRING), CAST(CAST(amount AS DOUBLE) / 4 AS STRING), CAST(amount AS DECIMAL(10, 2)), "
    "CAST('42' AS INT) + amount, CAST(ts AS STRING), CAST(ts AS TIMESTAMP(3)), amount * 1.5, ROUND(amount / 3.0, 2), "
    "ABS(amount - 10), TIMESTAMPDIFF(SECOND, ts, ts + INTERVAL '90' SECOND), amount BETWEEN 2 AND 6, "
    "page IN ('home', 'news'), page LIKE '%a%', CONCAT_WS('/', page, user_id), NULLIF(amount, 4) FROM clicks",
    "regex_and_unix": "SELECT REGEXP_REPLACE(user_id, 'u(\\d)', 'user-$1'), REGEXP_EXTRACT(user_id, '(u)(\\d)', 2), "
    "REGEXP_EXTRACT(page, 'o.'), REGEXP(page, '^h'), SPLIT_INDEX(CONCAT_WS(',', page, user_id), ',', 1), "
    "SPLIT_INDEX(page, ',', 3), FROM_UNIXTIME(ms / 1000), FROM_UNIXTIME(ms / 1000, 'yyyy/MM/dd HH'), "
    "UNIX_TIMESTAMP(CAST(ts AS STRING)), LPAD(page, 6, '*'), RPAD(page, 2, '*'), INITCAP(page), "
    "REPLACE(page, 'o', '0'), "
    "POSITION('o' IN page), LOWER(UPPER(page)), TRIM(CONCAT('  ', page, ' ')) FROM clicks",
    "window_rows": "SELECT user_id, window_start, window_end, amount FROM TABLE(HOP(TABLE clicks, DESCRIPTOR(ts), "
    "INTERVAL '30' SECOND, INTERVAL '1' MINUTE)) WHERE amount > 4",
    "union": "SELECT page, amount FROM clicks WHERE amount > 6 UNION ALL SELECT user_id, -amount FROM clicks "
    "WHERE page = 'cart'",
    "tumble_expr_keys": f"SELECT window_end, UPPER(page) AS p, SUM(amount) * 2, MAX(ms) - MIN(ms), "
    f"COUNT(*) FROM {TUMBLE} GROUP BY window_start, window_end, UPPER(page)",
    "orders": "SELECT window_start, COUNT(*), SUM(price), AVG(price), MAX(price), MIN(ts), MAX(ts), "
    "CAST(SUM(price) * 2 AS STRING) FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '10' SECOND)) "
    "GROUP BY window_start, window_end",
    "orders_rows": "SELECT id, price + 1, CAST(price AS DOUBLE) / 2, CAST(ts AS STRING), ts + INTERVAL '1' HOUR, "
    "DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm:ss.SSS') FROM orders",
    "group_count": "SELECT page, COUNT(*), SUM(amount), MAX(amount), COUNT(DISTINCT user_id) FROM clicks GROUP BY page",
    "group_having": "SELECT page, SUM(amount) AS s FROM clicks GROUP BY page HAVING SUM(amount) > 6",
    "group_global": "SELECT COUNT(*), AVG(amount), MIN(user_id) FROM clicks WHERE page <> 'news'",
    "group_distinct": "SELECT DISTINCT page, amount > 4 FROM clicks",
    "group_expr": "SELECT UPPER(page), COUNT(*) * 10 FROM clicks WHERE amount IS NOT NULL GROUP BY UPPER(page)",
    "session": "SELECT page, window_start, window_end, COUNT(*), MAX(amount) FROM TABLE(SESSION(TABLE clicks "
    "PARTITION BY page, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY page, window_start, window_end",
}


def _norm(v: Any) -> Any:
    import datetime
    import decimal

    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.") + f"{v.microsecond // 1000:03d}"
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    return v


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sql-parity") / "clicks.json"
    path.write_text(
        "".join(json.dumps({"page": p, "user_id": u, "ms": BASE + ms, "amount": a}) + "\n" for p, u, ms, a in EVENTS)
    )
    (path.parent / "orders.json").write_text(
        "".join(json.dumps({"id": i, "price": None if p is None else float(p), "ts": t}) + "\n" for i, p, t in ORDERS)
    )
    return path


def ddls(data_file: Path) -> list[str]:
    return [DDL.format(path=data_file), ORDERS_DDL.format(path=data_file.parent / "orders.json")]


@pytest.fixture(scope="module")
def flink_rows(flink_oracle: FlinkOracle, data_file: Path) -> dict[str, list[list[Any]]]:
    spec = data_file.parent / "spec.json"
    spec.write_text(json.dumps({"ddl": ddls(data_file), "queries": QUERIES}))
    runner = Path(__file__).with_name("sql_flink_runner.py")
    proc = subprocess.run(
        [str(flink_oracle.env.python), str(runner), str(spec)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


TOKYO_QUERIES = {
    "tokyo_hour": "SELECT window_start, window_end, CAST(window_time AS STRING), COUNT(*), SUM(amount) "
    "FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' HOUR)) "
    "GROUP BY window_start, window_end, window_time",
    # 1-day windows align at local midnight (Flink 2.3 drops the result of the first such window here, which
    # looks like a Flink bug: its hour and minute windows over the same rows do emit it; rows are compared)
    "tokyo_day_rows": "SELECT user_id, window_start, window_end, CAST(ts AS STRING) FROM TABLE(TUMBLE(TABLE clicks, "
    "DESCRIPTOR(ts), INTERVAL '1' DAY))",
    "tokyo_hop_rows": "SELECT user_id, window_start, window_end, CAST(ts AS STRING) FROM TABLE(HOP(TABLE clicks, "
    "DESCRIPTOR(ts), INTERVAL '30' SECOND, INTERVAL '1' MINUTE)) WHERE amount > 4",
}
# around local midnight in Tokyo (UTC+9): 14:59:50 and 15:00:10 UTC fall into different Tokyo days
TOKYO_BASE = 1_699_973_990_000  # 2023-11-14 14:59:50 UTC


def run_flink(oracle: FlinkOracle, folder: Path, spec: dict[str, Any]) -> dict[str, list[list[Any]]]:
    path = folder / f"spec-{abs(hash(json.dumps(spec)))}.json"
    path.write_text(json.dumps(spec))
    runner = Path(__file__).with_name("sql_flink_runner.py")
    proc = subprocess.run([str(oracle.env.python), str(runner), str(path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, list[list[Any]]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def tokyo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sql-parity-tokyo") / "clicks.json"
    rows = [("home", "u1", 0, 5), ("home", "u2", 15_000, 7), ("cart", "u1", 20_000, 1), ("home", "u3", 90_000, 9)]
    path.write_text(
        "".join(
            json.dumps({"page": p, "user_id": u, "ms": TOKYO_BASE + ms, "amount": a}) + "\n" for p, u, ms, a in rows
        )
    )
    return path


@pytest.mark.parametrize("name", sorted(TOKYO_QUERIES))
def test_sql_local_time_zone_matches_flink(name: str, tokyo_file: Path, flink_oracle: FlinkOracle) -> None:
    flink = _tokyo_results(flink_oracle, tokyo_file)
    t_env = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
    t_env.execute_sql("SET 'table.local-time-zone' = 'Asia/Tokyo'")
    t_env.execute_sql(DDL.format(path=tokyo_file))
    ours = [[r.get_row_kind(), *(_norm(v) for v in r)] for r in t_env.execute_sql(TOKYO_QUERIES[name]).collect()]
    assert sorted(ours, key=json.dumps) == sorted(flink[name], key=json.dumps)


_TOKYO_CACHE: dict[str, Any] = {}


def _tokyo_results(oracle: FlinkOracle, data: Path) -> dict[str, list[list[Any]]]:
    if "rows" not in _TOKYO_CACHE:
        spec = {"ddl": [DDL.format(path=data)], "queries": TOKYO_QUERIES, "time_zone": "Asia/Tokyo"}
        _TOKYO_CACHE["rows"] = run_flink(oracle, data.parent, spec)
    rows: dict[str, list[list[Any]]] = _TOKYO_CACHE["rows"]
    return rows


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_sql_query_matches_flink(name: str, data_file: Path, flink_rows: dict[str, list[list[Any]]]) -> None:
    t_env = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
    for ddl in ddls(data_file):
        t_env.execute_sql(ddl)
    ours = [[r.get_row_kind(), *(_norm(v) for v in r)] for r in t_env.execute_sql(QUERIES[name]).collect()]
    theirs = flink_rows[name]
    if name.startswith("group"):
        assert ours == theirs  # a changelog: the order of the changes matters
    else:
        key = json.dumps
        assert sorted(ours, key=key) == sorted(theirs, key=key)
