"""Flink SQL parity for ``RANK()`` and ``DENSE_RANK()`` (issue 15): Flink 2.3's streaming planner refuses both in
Top-N, deduplication and window Top-N ("RANK() on streaming table is not supported currently", "only
ROW_NUMBER() is supported"), so there are no streaming semantics to mirror. millstream refuses the same queries,
naming the function, the position and the ``ROW_NUMBER()`` form to write instead; these cases check that both
engines refuse each query (and that the ``ROW_NUMBER()`` form runs on both with identical changelogs)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from millstream.sql import SqlValidationError

from .oracle import FlinkOracle
from .test_sql_join_parity import run_millstream
from .test_sql_parity import BASE, run_flink

pytestmark = [pytest.mark.flink, pytest.mark.timeout(900)]

#: (k, v, ms): ties on v, so RANK and DENSE_RANK would differ from ROW_NUMBER
T = [("a", 1, 1_000), ("a", 3, 2_000), ("a", 3, 3_000), ("b", 2, 4_000), ("a", 2, 5_000), ("b", 2, 6_000)]
DDL = (
    "CREATE TABLE t (k STRING, v INT, ms BIGINT, ts AS TO_TIMESTAMP_LTZ(ms, 3), WATERMARK FOR ts AS ts - "
    "INTERVAL '1' SECOND) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"
)
TUMBLE = "TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND))"


def ranked(fn: str, partition: str = "k", source: str = "t") -> str:
    return f"(SELECT *, {fn}() OVER (PARTITION BY {partition} ORDER BY v DESC) AS r FROM {source})"


REFUSED = {
    f"{fn.lower()}_{shape}": (fn, query)
    for fn in ("RANK", "DENSE_RANK")
    for shape, query in {
        "top_n": f"SELECT k, v, r FROM {ranked(fn)} WHERE r <= 2",
        "top_1": f"SELECT k, v FROM {ranked(fn)} WHERE r = 1",
        "window_top_n": f"SELECT window_start, k, v, r FROM {ranked(fn, 'window_start, window_end', TUMBLE)} "
        "WHERE r <= 2",
    }.items()
}
ROW_NUMBER = {"row_number_top_n": f"SELECT k, v, r FROM {ranked('ROW_NUMBER')} WHERE r <= 2"}


@pytest.fixture(scope="module")
def ddl(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    path = tmp_path_factory.mktemp("sql-rank-parity") / "t.json"
    path.write_text("".join(json.dumps({"k": k, "v": v, "ms": BASE + ms}) + "\n" for k, v, ms in T))
    return [DDL.format(path=path)]


@pytest.fixture(scope="module")
def flink_results(flink_oracle: FlinkOracle, ddl: list[str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    queries = {name: q for name, (_, q) in REFUSED.items()} | ROW_NUMBER
    spec = {"ddl": ddl, "queries": queries, "capture_errors": True}
    return run_flink(flink_oracle, tmp_path_factory.mktemp("sql-rank-spec"), spec)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_rank_and_dense_rank_are_refused_as_flink_refuses_them(name: str, ddl: list[str], flink_results: Any) -> None:
    fn, query = REFUSED[name]
    theirs = flink_results[name]
    assert isinstance(theirs, dict), f"Flink ran {name}: {theirs}"
    assert f"{fn}()" in theirs["error"] and "not supported" in theirs["error"]
    with pytest.raises(SqlValidationError) as info:
        run_millstream(ddl, query)
    assert f"{fn}() on a streaming table is not supported" in info.value.message
    assert "ROW_NUMBER()" in (info.value.hint or "")
    assert info.value.line == 1 and info.value.column > 1  # the position of the OVER call


def test_the_row_number_form_runs_on_both(ddl: list[str], flink_results: Any) -> None:
    ours = run_millstream(ddl, ROW_NUMBER["row_number_top_n"])
    assert ours == flink_results["row_number_top_n"] and len({r[0] for r in ours}) > 1
