"""Streaming SQL joins: the exact changelogs of regular joins for a given arrival order, the interval and window
joins' handling of late rows, column naming and qualification, and the errors for refused shapes.

The join functions are driven here row by row in a chosen interleaving of their two inputs (a job decides the
interleaving itself); the expected changes follow Flink's ``StreamingJoinOperator`` and were observed on Flink 2.3
(``tests/parity/test_sql_join_parity.py`` runs the same joins on Flink and millstream)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

import millstream  # noqa: F401 - registers the executor
from millstream import StreamExecutionEnvironment
from millstream.sql import SqlError, SqlValidationError, StreamTableEnvironment
from millstream.sql.interval_join import IntervalJoin
from millstream.sql.regular_join import RegularJoin
from millstream.sql.window_join import WindowJoin
from millstream.stream.state import KeyedStateBackend
from tests.parity.test_sql_join_parity import materialize


class Harness:
    """Runs a keyed co-process join function the way the keyed co-process operator does: keyed state per key,
    the watermark, event-time timers firing when it passes them."""

    def __init__(self, fn: Any, keys: tuple[Callable[[Any], Any], Callable[[Any], Any]]) -> None:
        self.fn = fn
        self.keys = keys
        self.backend = KeyedStateBackend()
        self.wm = -(2**63)
        self.timers: set[tuple[int, Any]] = set()
        fn.open(self)
        self.out: list[Any] = []

    # the runtime context and ctx the function sees
    def get_map_state(self, descriptor: Any) -> Any:
        return self.backend.get_state(descriptor)

    get_state = get_map_state

    def timer_service(self) -> Harness:
        return self

    def current_watermark(self) -> int:
        return self.wm

    def register_event_time_timer(self, ts: int) -> None:
        self.timers.add((ts, self.backend.current_key))

    # driving it
    def left(self, *rows: tuple[Any, ...]) -> Harness:
        return self._feed(0, rows)

    def right(self, *rows: tuple[Any, ...]) -> Harness:
        return self._feed(1, rows)

    def _feed(self, side: int, rows: Iterable[tuple[Any, ...]]) -> Harness:
        for row in rows:
            self.backend.current_key = self.keys[side](row)
            handler = self.fn.process_element1 if side == 0 else self.fn.process_element2
            self.out.extend(handler(row, self) or ())
        return self

    def watermark(self, wm: int) -> Harness:
        self.wm = wm
        for ts, key in sorted((t for t in self.timers if t[0] <= wm), key=lambda t: (t[0], repr(t[1]))):
            self.timers.discard((ts, key))
            self.backend.current_key = key
            self.out.extend(self.fn.on_timer(ts, self) or ())
        return self

    def take(self) -> list[Any]:
        out, self.out = self.out, []
        return out


def key(row: tuple[Any, ...]) -> Any:
    return row[1]


def null_key(row: tuple[Any, ...]) -> bool:
    return row[1] is None


def regular(left_outer: bool, right_outer: bool, condition: Any = None) -> Harness:
    return Harness(RegularJoin(2, 2, condition, left_outer, right_outer, (null_key, null_key)), (key, key))


L1, L2, L3, LN = (1, "a"), (2, "a"), (3, "b"), (4, None)
R1, R2, R3, RN = (101, "a"), (102, "a"), (103, "c"), (104, None)


def test_full_join_pads_then_retracts_each_padded_row_before_its_first_match() -> None:
    h = regular(True, True)
    assert h.left(L1, L2).take() == [(1, "a", None, None, "+I"), (2, "a", None, None, "+I")]
    # as Flink: per match, -D of its padded row (first association only), then +I of the joined row
    assert h.right(R1).take() == [
        (1, "a", None, None, "-D"),
        (1, "a", 101, "a", "+I"),
        (2, "a", None, None, "-D"),
        (2, "a", 101, "a", "+I"),
    ]
    assert h.right(R2).take() == [(1, "a", 102, "a", "+I"), (2, "a", 102, "a", "+I")]
    assert h.left(L3).right(R3).take() == [(3, "b", None, None, "+I"), (None, None, 103, "c", "+I")]


def test_left_join_row_arriving_after_its_match_is_joined_directly() -> None:
    h = regular(True, False)
    assert h.right(R1).take() == []  # the right side of a LEFT join is not padded
    assert h.left(L1).take() == [(1, "a", 101, "a", "+I")]
    assert h.left(L3).take() == [(3, "b", None, None, "+I")]


def test_right_join_retracts_the_padded_right_row() -> None:
    h = regular(False, True)
    assert h.right(R1).take() == [(None, None, 101, "a", "+I")]
    assert h.left(L1).take() == [(None, None, 101, "a", "-D"), (1, "a", 101, "a", "+I")]
    assert h.left(L2).take() == [(2, "a", 101, "a", "+I")]


def test_duplicate_rows_are_padded_retracted_and_joined_once_each() -> None:
    h = regular(True, False)
    assert h.left(L1, L1).take() == [(1, "a", None, None, "+I")] * 2
    assert h.right(R1).take() == [(1, "a", None, None, "-D"), (1, "a", 101, "a", "+I")] * 2
    assert h.right(R1).take() == [(1, "a", 101, "a", "+I")] * 2


def test_inner_join_is_append_only_and_null_keys_join_nothing() -> None:
    h = regular(False, False)
    assert h.left(L1, LN).right(RN, R1, R3).take() == [(1, "a", 101, "a")]
    full = regular(True, True)
    assert full.left(LN).right(RN).take() == [(4, None, None, None, "+I"), (None, None, 104, None, "+I")]


def test_an_outer_join_condition_decides_what_counts_as_a_match() -> None:
    # LEFT JOIN ... ON l.k = r.k AND r.id > 101: R1 does not match, so L1 stays padded until R2
    h = regular(True, False, condition=lambda row: row[2] > 101)
    assert h.left(L1).right(R1).take() == [(1, "a", None, None, "+I")]
    assert h.right(R2).take() == [(1, "a", None, None, "-D"), (1, "a", 102, "a", "+I")]


def test_a_changelog_input_retracts_its_joined_rows_and_restores_the_padding() -> None:
    # g RIGHT JOIN r, g a changelog (an aggregation's -U/+U): the pattern observed on Flink 2.3
    h = Harness(RegularJoin(2, 2, None, False, True, (null_key, null_key), (True, False)), (key, key))
    assert h.right(R1).take() == [(None, None, 101, "a", "+I")]
    assert h.left((1, "a", "+I")).take() == [(None, None, 101, "a", "-D"), (1, "a", 101, "a", "+I")]
    assert h.left((1, "a", "-U")).take() == [(1, "a", 101, "a", "-U"), (None, None, 101, "a", "+I")]
    assert h.left((2, "a", "+U")).take() == [(None, None, 101, "a", "-D"), (2, "a", 101, "a", "+I")]


def test_an_inner_join_forwards_its_changelog_inputs_kinds_and_an_outer_side_deletes() -> None:
    inner = Harness(RegularJoin(2, 2, None, False, False, (null_key, null_key), (True, False)), (key, key))
    inner.right(R1)
    assert inner.left((1, "a", "+I"), (1, "a", "-U"), (2, "a", "+U")).take() == [
        (1, "a", 101, "a", "+I"),
        (1, "a", 101, "a", "-U"),
        (2, "a", 101, "a", "+U"),
    ]
    left = Harness(RegularJoin(2, 2, None, True, False, (null_key, null_key), (True, False)), (key, key))
    assert left.left((1, "a", "+I"), (1, "a", "-U")).take() == [(1, "a", None, None, "+I"), (1, "a", None, None, "-D")]
    assert left.left((2, "a", "+U")).take() == [(2, "a", None, None, "+I")]
    assert left.right(R1).take() == [(2, "a", None, None, "-D"), (2, "a", 101, "a", "+I")]
    assert left.left((2, "a", "-U")).take() == [(2, "a", 101, "a", "-D")]


def interval(lower: int, upper: int) -> Harness:
    # rows are (id, key, ts)
    fn = IntervalJoin(lower, upper, (2, 2), None, (null_key, null_key))
    return Harness(fn, (key, key))


def test_interval_join_bounds_are_inclusive() -> None:
    # l.ts BETWEEN r.ts - 10 AND r.ts
    h = interval(-10, 0)
    h.right((101, "a", 100))
    assert h.left((1, "a", 89), (2, "a", 90), (3, "a", 100), (4, "a", 101), (5, "b", 95)).take() == [
        (2, "a", 90, 101, "a", 100),
        (3, "a", 100, 101, "a", 100),
    ]
    assert h.right((102, "a", 95)).take() == [(1, "a", 89, 102, "a", 95), (2, "a", 90, 102, "a", 95)]


def test_interval_join_late_row_still_joins_the_rows_not_yet_cleaned_up() -> None:
    # Flink's RowTimeIntervalJoin (unlike the DataStream interval join) joins a late row with the cached rows
    h = interval(-10, 0)
    h.right((101, "a", 100))
    h.watermark(103)  # the right row's cleanup timer (100 + 0 + 5 + 1 = 106) has not fired
    assert h.left((1, "a", 98)).take() == [(1, "a", 98, 101, "a", 100)]
    h.watermark(200)  # now it has: the cached right row expired
    assert h.left((2, "a", 98)).take() == []
    assert h.backend.tables["sql-interval-join-right"] == {}


def test_outer_interval_join_pads_a_row_when_it_leaves_the_cache_without_a_partner() -> None:
    # LEFT JOIN ... ON l.k = r.k AND l.ts BETWEEN r.ts - 10 AND r.ts: rows are (id, key, ts)
    fn = IntervalJoin(-10, 0, (2, 2), None, (null_key, null_key), (True, False), (3, 3))
    h = Harness(fn, (key, key))
    assert h.left((1, "a", 100), (2, "a", 105), (3, None, 100)).take() == []  # cached: partners may still come
    assert h.right((101, "a", 104)).take() == [(1, "a", 100, 101, "a", 104)]
    # the left cache's timer: 100 + 10 + 5 + 1; rows at or before 200 - 10 - 1 expire; 2 and 3 never joined
    assert sorted(h.watermark(200).take(), key=repr) == [
        (2, "a", 105, None, None, None),
        (3, None, 100, None, None, None),
    ]
    assert h.left((4, "a", 150)).take() == [(4, "a", 150, None, None, None)]  # too late to be joined: padded now


def test_window_join_fires_at_the_window_end_and_drops_late_rows() -> None:
    # rows are (id, key, fire time); LEFT window join
    fire = (lambda row: row[2], lambda row: row[2])
    h = Harness(WindowJoin(fire, (3, 3), None, True, False, (null_key, null_key)), (key, key))
    h.left((1, "a", 59_999), (2, "b", 59_999)).right((101, "a", 59_999), (102, "a", 119_999))
    assert h.take() == []  # nothing before the window fires
    out = h.watermark(59_999).take()
    assert sorted(out, key=repr) == sorted(
        [(1, "a", 59_999, 101, "a", 59_999), (2, "b", 59_999, None, None, None)], key=repr
    )
    assert h.left((3, "a", 59_999)).take() == []  # late: its window has fired
    assert h.watermark(200_000).take() == []  # the right row alone: not padded in a LEFT join


# -- SQL --------------------------------------------------------------------------------------------------------
ORDERS = [(1, "a", 1_000, 10), (2, "b", 2_000, 20), (3, "a", 70_000, 30)]
SHIPS = [(101, "a", 1_500, "x"), (102, "c", 3_000, "y")]


@pytest.fixture
def tenv(tmp_path: Path) -> StreamTableEnvironment:
    (tmp_path / "o.json").write_text(
        "".join(json.dumps({"id": i, "k": k, "ms": ms, "v": v}) + "\n" for i, k, ms, v in ORDERS)
    )
    (tmp_path / "s.json").write_text(
        "".join(json.dumps({"id": i, "k": k, "ms": ms, "w": w}) + "\n" for i, k, ms, w in SHIPS)
    )
    t = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
    for name, cols in (("o", "id INT, k STRING, ms BIGINT, v INT"), ("s", "id INT, k STRING, ms BIGINT, w STRING")):
        t.execute_sql(
            f"CREATE TABLE {name} ({cols}, ts AS TO_TIMESTAMP_LTZ(ms, 3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)"
            f" WITH ('connector' = 'filesystem', 'path' = '{tmp_path / (name + '.json')}', 'format' = 'json')"
        )
    return t


def test_star_over_a_join_names_repeated_columns_as_flink_does(tenv: StreamTableEnvironment) -> None:
    table = tenv.sql_query("SELECT * FROM (SELECT id, k FROM o) AS y JOIN (SELECT id, k, w FROM s) AS x ON y.k = x.k")
    assert table.get_schema().get_field_names() == ["id", "k", "id0", "k0", "w"]
    got = sorted((r.id, r.k, r.id0, r.k0, r.w) for r in table.execute().collect())
    assert got == [(1, "a", 101, "a", "x"), (3, "a", 101, "a", "x")]


def test_qualified_star_and_columns(tenv: StreamTableEnvironment) -> None:
    table = tenv.sql_query("SELECT s.*, o.v FROM o, s WHERE o.k = s.k")
    assert table.get_schema().get_field_names() == ["id", "k", "ms", "w", "ts", "v"]
    got = sorted(tuple(r) for r in table.execute().collect())
    ship = (101, "a", 1_500, "x", dt.datetime(1970, 1, 1, 0, 0, 1, 500_000))
    assert got == [(*ship, 10), (*ship, 30)]


def test_outer_join_columns_become_nullable_and_time_attributes_plain(tenv: StreamTableEnvironment) -> None:
    schema = tenv.sql_query("SELECT o.id, s.id AS sid, s.ts FROM o LEFT JOIN s ON o.k = s.k").get_schema()
    assert [str(t) for t in schema.get_field_data_types()] == ["INT", "INT", "TIMESTAMP_LTZ(3)"]


def test_outer_join_goes_to_changelog_stream_and_is_refused_by_append_sinks(
    tenv: StreamTableEnvironment, tmp_path: Path
) -> None:
    table = tenv.sql_query("SELECT o.id, s.id AS sid FROM o LEFT JOIN s ON o.k = s.k")
    changes = [(r.get_row_kind(), *r) for r in tenv.to_changelog_stream(table).execute_and_collect()]
    assert {c[0] for c in changes} <= {"+I", "-D"}
    assert materialize([list(c) for c in changes]) == materialize([["+I", 1, 101], ["+I", 2, None], ["+I", 3, 101]])
    tenv.execute_sql(
        f"CREATE TABLE out_csv (id INT, sid INT) WITH ('connector' = 'filesystem', 'path' = "
        f"'{tmp_path / 'out.csv'}', 'format' = 'csv')"
    )
    with pytest.raises(SqlError):
        tenv.execute_sql("INSERT INTO out_csv SELECT o.id, s.id FROM o LEFT JOIN s ON o.k = s.k")


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("SELECT * FROM o JOIN s ON o.v > s.id", "a regular join needs an equality between the two inputs", 27),
        ("SELECT * FROM o, s", "a join without a condition (a cross join) is not supported", 18),
        ("SELECT * FROM o CROSS JOIN s", "CROSS JOIN is not supported", 28),
        ("SELECT * FROM o JOIN s USING (k)", "JOIN ... USING is not supported yet", 22),
        ("SELECT * FROM o NATURAL JOIN s", "NATURAL JOIN is not supported", 30),
        (
            "SELECT * FROM (SELECT window_start, window_end, k, COUNT(*) AS c FROM (SELECT window_start, window_end, k "
            "FROM TABLE(TUMBLE(TABLE o, DESCRIPTOR(ts), INTERVAL '1' MINUTE))) GROUP BY window_start, window_end, k) g "
            "JOIN TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) x ON g.window_start = x.window_start "
            "AND g.window_end = x.window_end AND g.k = x.k",
            "a window join needs append-only inputs, not a changelog",
            23,
        ),
        ("SELECT * FROM o JOIN s ON o.k = s.id", "the join keys of o.k = s.id have different types", 27),
        ("SELECT k FROM o JOIN s ON o.k = s.k", "column 'k' is ambiguous", 8),
        ("SELECT x.k FROM o JOIN s ON o.k = s.k", "unknown table 'x'", 8),
    ],
)
def test_refused_join_shapes_name_the_construct_and_position(
    tenv: StreamTableEnvironment, query: str, message: str, column: int
) -> None:
    with pytest.raises(SqlValidationError) as info:
        tenv.execute_sql(query)
    assert message in str(info.value)
    assert info.value.hint
    assert (info.value.line, info.value.column) == (1, column)


def test_a_window_over_a_regular_join_result_is_refused(tenv: StreamTableEnvironment) -> None:
    tenv.execute_sql("CREATE VIEW j AS SELECT o.id, o.ts FROM o, s WHERE o.k = s.k")
    assert "ROWTIME" not in str(tenv.sql_query("SELECT * FROM j").get_schema())
    with pytest.raises(SqlValidationError, match="not a time attribute"):
        tenv.execute_sql("SELECT * FROM TABLE(TUMBLE(TABLE j, DESCRIPTOR(ts), INTERVAL '1' MINUTE))")


def test_an_interval_join_keeps_both_time_attributes_and_delays_its_watermark(tenv: StreamTableEnvironment) -> None:
    query = "SELECT o.id, o.ts AS ots, s.ts AS sts FROM o, s WHERE o.k = s.k AND s.ts BETWEEN o.ts - INTERVAL '1' "
    query += "SECOND AND o.ts + INTERVAL '3' SECOND"
    table = tenv.sql_query(query)
    assert [str(t) for t in table.get_schema().get_field_data_types()] == [
        "INT",
        "TIMESTAMP_LTZ(3) *ROWTIME*",
        "TIMESTAMP_LTZ(3) *ROWTIME*",
    ]
    t = table.relation().stream.transformation
    while t.kind != "co_process":
        t = t.inputs[0][0]
    assert t.params["watermark_delay"] == 3_000  # max(-lower, upper): held back by the larger relative size
    tenv.create_temporary_view("shipped", table)
    got = tenv.execute_sql(
        "SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE shipped, DESCRIPTOR(sts), INTERVAL '1' SECOND)) "
        "GROUP BY window_start, window_end"
    )
    assert [tuple(r) for r in got.collect()] == [(dt.datetime(1970, 1, 1, 0, 0, 1), 1)]


def test_the_watermark_delay_holds_back_every_watermark_but_the_last() -> None:
    from millstream.stream.operators.keyed import KeyedProcessOperator
    from millstream.stream.time import MAX_WATERMARK

    emitted: list[tuple[list[Any], list[int], int]] = []

    class Out:
        side_targets: list[Any] = []

        def emit(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int) -> None:
            emitted.append((vals, wmb, tail))

    op = KeyedProcessOperator("join", None, [lambda v, c: [v], lambda v, c: [v]], [key, key], watermark_delay=500)
    op.out = Out()  # type: ignore[assignment]
    op.open()
    op.process([(1, "a")], [1_000], [900], 900, 0)
    op.process([(2, "a")], [2_000], [1_900], 1_900, 1)  # the join's watermark: the minimum of both inputs
    op.process([], [], [], MAX_WATERMARK, 0)
    op.process([], [], [], MAX_WATERMARK, 1)
    assert emitted[1] == ([(2, "a")], [400], 400)
    assert emitted[-1][2] == MAX_WATERMARK


def test_a_left_join_into_a_print_table_prints_its_changes(
    tenv: StreamTableEnvironment, capsys: pytest.CaptureFixture[str]
) -> None:
    tenv.execute_sql("CREATE TABLE p (id INT, sid INT) WITH ('connector' = 'print', 'print-identifier' = 'j')")
    tenv.execute_sql("INSERT INTO p SELECT o.id, s.id FROM o LEFT JOIN s ON o.k = s.k").wait()
    changes = [[line[3:5], *line[6:-1].split(", ")] for line in capsys.readouterr().out.splitlines()]
    assert {c[0] for c in changes} <= {"+I", "-D"}
    assert materialize(changes) == materialize([["+I", "1", "101"], ["+I", "2", "<NULL>"], ["+I", "3", "101"]])
