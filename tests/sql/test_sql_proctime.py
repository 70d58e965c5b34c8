"""Processing time in Flink SQL (issue 15): ``pt AS PROCTIME()`` computed columns, processing-time window
aggregations over the window TVFs and processing-time deduplication. Results depend on the wall clock, so the tests
check semantics — each row counted once, in the window of the instant it was processed, windows fired by the clock
after their end, the first/last row per key — not values."""

from __future__ import annotations

import datetime as dt
import time

import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment
from millstream.sql import SqlValidationError, StreamTableEnvironment

ROWS = 60
RATE = 20  # rows per second: the rows span 3 s


@pytest.fixture
def tenv() -> StreamTableEnvironment:
    t = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
    t.execute_sql(
        "CREATE TABLE g (id BIGINT, pt AS PROCTIME()) WITH ('connector' = 'datagen', "
        f"'rows-per-second' = '{RATE}', 'number-of-rows' = '{ROWS}', "
        f"'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{ROWS}')"
    )
    return t


def test_proctime_column_is_the_wall_clock_when_the_row_is_read(tenv: StreamTableEnvironment) -> None:
    described = {r[0]: r for r in tenv.execute_sql("DESCRIBE g").collect()}
    assert described["pt"][1] == "TIMESTAMP_LTZ(3) *PROCTIME*"
    assert described["pt"][2] is False  # NOT NULL
    assert described["pt"][4] == "AS PROCTIME()"
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    got = [(r.id, r.pt) for r in tenv.execute_sql("SELECT id, pt FROM g WHERE id <= 30").collect()]
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert [i for i, _ in got] == list(range(1, 31))
    times = [t for _, t in got]
    assert before - dt.timedelta(milliseconds=1) <= times[0] and times[-1] <= after
    assert times == sorted(times)
    assert times[-1] - times[0] >= dt.timedelta(milliseconds=1000)  # read at 20 rows/s: over a second


@pytest.mark.parametrize("tvf", ["TUMBLE(TABLE g, DESCRIPTOR(pt), INTERVAL '1' SECOND)"])
def test_processing_time_windows_fire_by_the_clock_and_count_each_row_once(
    tenv: StreamTableEnvironment, tvf: str
) -> None:
    table = tenv.sql_query(
        "SELECT window_start, window_end, COUNT(*) AS n, MIN(id) AS lo, MAX(id) AS hi "
        f"FROM TABLE({tvf}) GROUP BY window_start, window_end"
    )
    arrivals = []
    with table.changes() as changes:
        for kind, (start, end, n, lo, hi) in changes:
            arrivals.append((time.time_ns() // 1_000_000, kind, start, end, n, lo, hi))
    assert len(arrivals) >= 2, arrivals
    for i, (arrived, kind, start, end, n, lo, hi) in enumerate(arrivals):
        assert kind == "+I"
        assert end - start == 1000 and start % 1000 == 0  # aligned 1-second windows of the clock
        assert arrived >= end - 1  # fired when the clock passed the window's end, not before
        assert n == hi - lo + 1  # the rows of one stretch of processing time, each once
        if i:
            assert start >= arrivals[i - 1][3]  # later windows
            assert lo == arrivals[i - 1][6] + 1  # no row in two windows, none skipped between them
    # the window still open when the bounded input ends does not fire (as processing-time windows in Flink)
    assert sum(a[4] for a in arrivals) <= ROWS


def test_processing_time_hop_and_session_windows(tenv: StreamTableEnvironment) -> None:
    hop = [
        tuple(r)
        for r in tenv.execute_sql(
            "SELECT window_start, window_end, COUNT(*) FROM TABLE(HOP(TABLE g, DESCRIPTOR(pt), INTERVAL '1' SECOND, "
            "INTERVAL '2' SECOND)) GROUP BY window_start, window_end"
        ).collect()
    ]
    assert len(hop) >= 2
    assert all(end - start == dt.timedelta(seconds=2) for start, end, _ in hop)
    assert [s for s, _, _ in hop] == sorted({s for s, _, _ in hop})
    # a 10 s gap: every row read so far is in one session, which has not ended when the input does
    session = tenv.execute_sql(
        "SELECT COUNT(*) FROM TABLE(SESSION(TABLE g, DESCRIPTOR(pt), INTERVAL '10' SECOND)) "
        "GROUP BY window_start, window_end"
    )
    assert list(session.collect()) == []


def test_processing_time_deduplication_keeps_the_first_or_last_row(tenv: StreamTableEnvironment) -> None:
    def dedup(order: str) -> str:
        return (
            "SELECT k, id FROM (SELECT MOD(id, 3) AS k, id, ROW_NUMBER() OVER (PARTITION BY MOD(id, 3) "
            f"ORDER BY pt {order}) AS rn FROM g) WHERE rn = 1"
        )

    first = [(r.get_row_kind(), *r) for r in tenv.execute_sql(dedup("ASC")).collect()]
    assert first == [("+I", 1, 1), ("+I", 2, 2), ("+I", 0, 3)]  # append-only, at once
    last = [(r.get_row_kind(), *r) for r in tenv.execute_sql(dedup("DESC")).collect()]
    assert last[:5] == [("+I", 1, 1), ("+I", 2, 2), ("+I", 0, 3), ("-U", 1, 1), ("+U", 1, 4)]
    assert len(last) == 3 + 2 * (ROWS - 3)  # every later row replaces its key's row
    final: dict[int, int] = {}
    for kind, k, i in last:
        if kind in ("+I", "+U"):
            final[k] = i
    assert final == {0: ROWS, 1: ROWS - 2, 2: ROWS - 1}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "SELECT window_start, COUNT(*) FROM TABLE(CUMULATE(TABLE g, DESCRIPTOR(pt), INTERVAL '1' SECOND, "
            "INTERVAL '2' SECOND)) GROUP BY window_start, window_end",
            "CUMULATE windows over a processing-time attribute",
        ),
        (
            "SELECT id, window_start FROM TABLE(TUMBLE(TABLE g, DESCRIPTOR(pt), INTERVAL '1' SECOND))",
            "only supported with a window aggregation",
        ),
    ],
)
def test_unsupported_processing_time_queries_are_named(tenv: StreamTableEnvironment, query: str, message: str) -> None:
    with pytest.raises(SqlValidationError, match=message) as info:
        tenv.sql_query(query)
    assert info.value.hint


def test_processing_time_windows_outside_utc_are_refused(tenv: StreamTableEnvironment) -> None:
    tenv.execute_sql("SET 'table.local-time-zone' = 'Europe/Berlin'")
    with pytest.raises(SqlValidationError, match="local-time-zone"):
        tenv.sql_query(
            "SELECT COUNT(*) FROM TABLE(TUMBLE(TABLE g, DESCRIPTOR(pt), INTERVAL '1' SECOND)) "
            "GROUP BY window_start, window_end"
        )
