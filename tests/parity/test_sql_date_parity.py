"""Flink SQL parity for the ``DATE`` type (issue 15): ``DATE`` columns read from JSON, ``DATE '...'`` literals,
``CAST`` between ``DATE``, ``STRING``, ``TIMESTAMP`` and ``TIMESTAMP_LTZ``, ``EXTRACT`` of date and time fields,
and grouping by a date, run on PyFlink 2.3 and on millstream with identical rows and row kinds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .oracle import FlinkOracle
from .test_sql_join_parity import run_millstream
from .test_sql_parity import run_flink

pytestmark = [pytest.mark.flink, pytest.mark.timeout(900)]

#: (id, d, ms): a leap day, a date before 1970, NULL, days around midnight UTC
ORDERS = [
    (1, "2023-11-14", 1_700_000_000_000),
    (2, "2024-02-29", 1_709_251_199_000),
    (3, None, 1_709_251_200_000),
    (4, "1969-12-31", 1_600_000_000_123),
    (5, "2024-12-30", 1_735_603_200_000),
    (6, "2021-01-03", 1_700_000_100_000),
]
DDL = (
    "CREATE TABLE o (id INT, d DATE, ms BIGINT, ts AS TO_TIMESTAMP_LTZ(ms, 3), "
    "WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) "
    "WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"
)
#: DATE and TIMESTAMP_LTZ results are compared as text: PyFlink 2.3's collect() cannot hand them to Python
#: ("couldn't introspect javabean"), so they go through CAST(... AS STRING), which Flink formats itself
QUERIES = {
    "columns_and_literals": "SELECT id, CAST(d AS STRING), d > DATE '2024-01-01', d = DATE '2023-11-14', "
    "CAST(d AS TIMESTAMP(3)), CAST(CAST(d AS TIMESTAMP_LTZ(3)) AS STRING), d IS NULL FROM o "
    "WHERE d < DATE '2024-12-01' OR d IS NULL",
    "casts": "SELECT id, CAST(CAST(ts AS DATE) AS STRING), CAST(CAST(CAST(ts AS TIMESTAMP(3)) AS DATE) AS STRING), "
    "CAST(CAST('2024-3-5' AS DATE) AS STRING), CAST(CAST(CAST(d AS STRING) AS DATE) AS STRING), "
    "CAST(DATE '2000-01-01' AS STRING) FROM o",
    "extract_date": "SELECT id, EXTRACT(YEAR FROM d), EXTRACT(QUARTER FROM d), EXTRACT(MONTH FROM d), "
    "EXTRACT(WEEK FROM d), EXTRACT(DAY FROM d), EXTRACT(DOY FROM d), EXTRACT(DOW FROM d) FROM o",
    "extract_timestamp": "SELECT id, EXTRACT(YEAR FROM ts), EXTRACT(MONTH FROM ts), EXTRACT(DAY FROM ts), "
    "EXTRACT(HOUR FROM ts), EXTRACT(MINUTE FROM ts), EXTRACT(SECOND FROM ts), "
    "EXTRACT(DOW FROM CAST(ts AS TIMESTAMP(3))) FROM o",
    "group_by_date": "SELECT CAST(CAST(ts AS DATE) AS STRING) AS d_day, COUNT(*), CAST(MAX(d) AS STRING) FROM o "
    "GROUP BY CAST(ts AS DATE)",
    "window_date": "SELECT CAST(CAST(window_start AS DATE) AS STRING), COUNT(*) FROM TABLE(TUMBLE(TABLE o, "
    "DESCRIPTOR(ts), INTERVAL '1' DAY)) GROUP BY window_start, window_end",
}


@pytest.fixture(scope="module")
def ddl(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    path = tmp_path_factory.mktemp("sql-date-parity") / "o.json"
    rows = sorted(ORDERS, key=lambda r: r[2])  # in time order: no row is late
    path.write_text("".join(json.dumps({"id": i, "d": d, "ms": ms}) + "\n" for i, d, ms in rows))
    return [DDL.format(path=path)]


@pytest.fixture(scope="module")
def flink_rows(flink_oracle: FlinkOracle, ddl: list[str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    return run_flink(flink_oracle, tmp_path_factory.mktemp("sql-date-spec"), {"ddl": ddl, "queries": QUERIES})


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_date_query_matches_flink(name: str, ddl: list[str], flink_rows: Any) -> None:
    theirs = flink_rows[name]
    assert theirs, f"{name}: Flink gave no rows, the case tests nothing"
    assert run_millstream(ddl, QUERIES[name]) == theirs
