"""Plans ``OVER`` aggregations in a ``SELECT`` list, as Flink SQL supports them on streams:

    SELECT k, v, SUM(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM t
    SELECT k, COUNT(*) OVER w, MAX(v) OVER w FROM t
    WINDOW w AS (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '1' MINUTE PRECEDING AND CURRENT ROW)

Flink's rules: ``ORDER BY`` one time attribute, ascending; the frame ends at ``CURRENT ROW`` and starts
``UNBOUNDED PRECEDING``, ``n PRECEDING`` (``ROWS``) or ``INTERVAL '..' PRECEDING`` (``RANGE``); without a frame it
is ``RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW``; all ``OVER`` calls of one ``SELECT`` share one window.
``WHERE`` filters the rows before; the aggregates are ``COUNT``, ``SUM``, ``AVG``, ``MIN``, ``MAX``. The result
has one row per input row, sent when the watermark passes its time (append-only; see :mod:`.over_aggregate`),
keyed by the partition keys so it runs at any parallelism. The time attribute stays one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .aggregates import SqlAggregateFunction, agg_call
from .expressions import Field, fail, interval_ms, row_function, value_function
from .over_aggregate import RowTimeOverAggregate

if TYPE_CHECKING:
    from .planner import Planner, Relation

SUPPORTED = (
    "supported: agg(x) OVER (PARTITION BY ... ORDER BY <time attribute> [ROWS BETWEEN n PRECEDING | RANGE BETWEEN "
    "INTERVAL '..' PRECEDING | ... UNBOUNDED PRECEDING] AND CURRENT ROW) with COUNT, SUM, AVG, MIN, MAX; "
    "ROW_NUMBER() only as Top-N or deduplication (SELECT ... FROM (SELECT ..., ROW_NUMBER() OVER (...) AS rn "
    "FROM t) WHERE rn <= N)"
)


def has_over(node: exp.Select) -> bool:
    return any(e.find(exp.Window) for e in node.expressions)


def _resolve(node: exp.Select, window: exp.Window) -> exp.Window:
    """The window a call uses: its own ``OVER (...)`` or the ``WINDOW name AS (...)`` it names."""
    if window.args.get("partition_by") or window.args.get("order") or window.args.get("spec"):
        return window
    name = window.args.get("alias")
    if name is None:
        return window
    for named in node.args.get("windows") or []:
        if named.this.name.lower() == name.name.lower():
            return named
    raise fail(window, f"unknown window '{name.name}'", hint="define it: ... FROM t WINDOW w AS (PARTITION BY ...)")


def _frame(window: exp.Window) -> tuple[bool, int | None]:
    """``(rows, preceding)`` of the window's frame; ``preceding`` is ``None`` for ``UNBOUNDED PRECEDING``."""
    spec = window.args.get("spec")
    if spec is None:
        return False, None
    kind = (spec.args.get("kind") or "").upper()
    end = spec.args.get("end")
    end_text = end if isinstance(end, str) else (end.sql() if end is not None else "CURRENT ROW")
    if str(end_text).upper() != "CURRENT ROW":
        raise fail(
            spec, f"a window frame ending at {end_text} {spec.args.get('end_side') or ''} is not supported", SUPPORTED
        )
    start, side = spec.args.get("start"), (spec.args.get("start_side") or "").upper()
    if isinstance(start, str) and start.upper() == "UNBOUNDED" and side == "PRECEDING":
        return kind == "ROWS", None
    if side != "PRECEDING" or start is None or isinstance(start, str):
        raise fail(spec, f"the window frame {spec.sql()} is not supported", SUPPORTED)
    if kind == "ROWS":
        if not (isinstance(start, exp.Literal) and not start.is_string and start.name.isdigit()):
            raise fail(start, "ROWS BETWEEN needs a row count: n PRECEDING", hint="e.g. ROWS BETWEEN 2 PRECEDING ...")
        return True, int(start.name)
    if not isinstance(start, exp.Interval):
        raise fail(
            start,
            "RANGE BETWEEN needs an interval on the time attribute",
            hint="e.g. RANGE BETWEEN INTERVAL '1' MINUTE PRECEDING AND CURRENT ROW, or ROWS BETWEEN n PRECEDING",
        )
    return False, interval_ms(start)


def plan_over(planner: Planner, node: exp.Select, rel: Relation) -> Relation:
    """The ``SELECT`` list of ``node`` with ``OVER`` aggregates, over ``rel`` (its ``WHERE`` applied first)."""
    from .planner import Relation

    if node.args.get("group") or node.args.get("having"):
        raise fail(node.args.get("group") or node, "OVER aggregates with GROUP BY are not supported", SUPPORTED)
    if rel.changelog:
        raise fail(node, "OVER aggregates over a changelog (a query with updates) are not supported", SUPPORTED)
    windows = [w for e in node.expressions for w in e.find_all(exp.Window)]
    resolved = []
    for w in windows:
        func = w.this
        if not isinstance(func, exp.RowNumber) and func.sql_name().upper() in ("RANK", "DENSE_RANK"):
            name = func.sql_name().upper()
            raise fail(
                w,
                f"{name}() on a streaming table is not supported (Flink refuses it too: its Top-N, deduplication "
                "and window Top-N take only ROW_NUMBER())",
                hint="number the rows with ROW_NUMBER() OVER (PARTITION BY k ORDER BY col DESC) AS rn and filter "
                "WHERE rn <= N (ties keep the earlier row)",
            )
        if isinstance(func, exp.RowNumber) or func.sql_name().upper() == "ROW_NUMBER":
            raise fail(w, "ROW_NUMBER() OVER is not supported here", SUPPORTED)
        if not isinstance(func, exp.AggFunc):
            raise fail(w, f"{func.sql()} OVER is not supported", SUPPORTED)
        resolved.append(_resolve(node, w))
    shapes = {_shape(r) for r in resolved}
    if len(shapes) > 1:
        raise fail(
            windows[1], "all OVER aggregates of a SELECT must use the same window", hint="as in Flink; " + SUPPORTED
        )
    window = resolved[0]
    in_fields = [Field(f.name, f.type.plain(), f.table) for f in rel.fields]
    comp = planner.compiler(in_fields)
    stream = rel.stream
    where = node.args.get("where")
    if where is not None:
        stream = stream.filter(comp.predicate(where.this)).name("Where").with_input_parallelism()
    order = window.args.get("order")
    if order is None or len(order.expressions) != 1:
        raise fail(window, "OVER aggregates need ORDER BY one time attribute", SUPPORTED)
    ordered = order.expressions[0]
    time_code = comp.compile(ordered.this)
    time = int(time_code.src[2:-1]) if time_code.src.startswith("r[") and time_code.src[2:-1].isdigit() else None
    if time is None or not rel.fields[time].type.rowtime:
        raise fail(
            ordered,
            f"OVER ... ORDER BY {ordered.this.sql()}: ORDER BY must be a time attribute (a column with a watermark)",
            hint="order by the table's rowtime column, e.g. ORDER BY ts; " + SUPPORTED,
        )
    if ordered.args.get("desc"):
        raise fail(ordered, "OVER aggregates need ORDER BY the time attribute ascending", hint="drop DESC")
    rows, preceding = _frame(window)
    calls = [agg_call(w.this, comp) for w in windows]
    parts = list(window.args.get("partition_by") or [])
    key_codes = [comp.compile(p) for p in parts]
    key_fn: Callable[[Any], Any]
    if not key_codes:
        key_fn = _global_key
    elif len(key_codes) == 1:
        key_fn = value_function(key_codes[0].src, comp.ns)
    else:
        key_fn = row_function([c.src for c in key_codes], comp.ns)
    over = RowTimeOverAggregate(time, SqlAggregateFunction(calls, comp.ns), rows, preceding)
    frame = "ROWS" if rows else "RANGE"
    out = stream.key_by(key_fn).process(over).name(f"OverAggregate({frame})")
    fields = [*rel.fields, *(Field(f"$over{i}", c.result) for i, c in enumerate(calls))]
    # the SELECT list with each OVER call replaced by its column
    items = []
    for i, e in enumerate(node.expressions):
        e = e.copy()
        if isinstance(e, exp.Window):
            e = exp.alias_(e, f"EXPR${i}")
        for j, w in enumerate(list(e.find_all(exp.Window))):
            w.replace(exp.column(f"$over{j + _offset(node, i)}", quoted=True))
        items.append(e)
    return planner.project(Relation(out, fields), items)


def _shape(window: exp.Window) -> tuple[str, ...]:
    """What makes two windows the same: partition, order and frame, as SQL text."""
    parts = window.args.get("partition_by") or []
    order, spec = window.args.get("order"), window.args.get("spec")
    return (
        ", ".join(p.sql() for p in parts),
        order.sql() if order is not None else "",
        spec.sql() if spec is not None else "",
    )


def _offset(node: exp.Select, item: int) -> int:
    """How many OVER calls come before the ``item``-th element of the SELECT list."""
    return sum(len(list(e.find_all(exp.Window))) for e in node.expressions[:item])


def _global_key(row: Any) -> int:
    return 0


__all__ = ["has_over", "plan_over"]
