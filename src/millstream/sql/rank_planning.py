"""Plans ``ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)`` filtered by the enclosing query, as Flink's planner
recognises it:

    SELECT ... FROM (SELECT ..., ROW_NUMBER() OVER (PARTITION BY p ORDER BY o) AS rn FROM t ...) WHERE rn <= N

(the inner query may also be a ``WITH`` query or a view). The filter on ``rn`` (``rn = 1``, ``rn <= N``,
``rn < N``, one conjunct of ``WHERE``) bounds the rank; the rest of ``WHERE`` and the projection run over the
ranked rows. Which operator runs it:

- **window Top-N / window deduplication** (:mod:`.window_rank`): ``PARTITION BY`` names ``window_start`` and
  ``window_end`` (of a window TVF or a window aggregation): append-only, each window's top N when it ends;
- **deduplication** (:mod:`.deduplicate`): ``rn = 1`` (or ``<= 1``) ordered by one time attribute: ``ASC``
  keeps the first row (append-only), ``DESC`` the last (a changelog); ``rn`` is the constant 1;
- **Top-N** (:mod:`.rank`): otherwise, over an append-only input: a changelog, ``-U``/``+U``/``+I`` when ``rn``
  is selected, ``-D``/``+I`` when it is not.

Every one is keyed by the partition keys (a global Top-N by one constant key), so it runs at any parallelism
behind a hash exchange. Time attributes of the result are plain timestamps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .catalog import CatalogView
from .deduplicate import ProcTimeKeepFirst, ProcTimeKeepLast, RowTimeKeepFirst, RowTimeKeepLast
from .errors import SqlError
from .expressions import Field, fail, row_function
from .rank import AppendOnlyTopN
from .sort_keys import row_comparator
from .window_rank import WindowRank

if TYPE_CHECKING:
    from .planner import Planner, Relation

SUPPORTED = (
    "supported: SELECT ... FROM (SELECT ..., ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...) AS rn FROM t) "
    "WHERE rn <= N (Top-N), WHERE rn = 1 ordered by a time attribute (deduplication), and PARTITION BY "
    "window_start, window_end, ... over a window TVF (window Top-N)"
)


def _inner_query(planner: Planner, node: exp.Expression) -> exp.Expression | None:
    """The query AST a ``FROM`` item stands for: a subquery, a ``WITH`` query or a view defined by SQL."""
    if isinstance(node, exp.Subquery):
        return node.this
    if isinstance(node, exp.Table) and not node.args.get("db"):
        for scope in reversed(planner.ctes):
            if node.name in scope:
                return scope[node.name]
        try:
            entry = planner.catalog.lookup(node.name, node)
        except SqlError:
            return None
        if isinstance(entry, CatalogView) and entry.plan is None:
            return entry.query
    return None


def ranked_view_probe(query: exp.Expression) -> exp.Expression:
    """What to plan to validate ``CREATE VIEW v AS query`` and learn its columns: a query with ``ROW_NUMBER()``
    is only planned with a rank filter (Flink's views of ranked queries are filtered where they are used), so
    it is probed as ``SELECT * FROM (query) WHERE rn <= 1``; any other query as it is."""
    found = _row_number(query) if isinstance(query, exp.Select) else None
    if found is None:
        return query
    rn = exp.column(found[1].alias, quoted=True)
    probe = exp.select("*").from_(exp.Subquery(this=query.copy()))
    return probe.where(exp.LTE(this=rn, expression=exp.Literal.number(1)))


def _row_number(select: exp.Select) -> tuple[int, exp.Alias] | None:
    for i, e in enumerate(select.expressions):
        if isinstance(e, exp.Alias) and isinstance(e.this, exp.Window) and isinstance(e.this.this, exp.RowNumber):
            return i, e
    return None


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    return [node]


def _rank_bound(cond: exp.Expression, rn: str) -> int | None:
    """N of ``rn = 1``, ``rn <= N``, ``rn < N + 1`` (or written the other way round); ``None`` if ``cond`` is no
    upper bound of ``rn``."""
    flipped: dict[type[exp.Expression], type[exp.Expression]] = {
        exp.EQ: exp.EQ,
        exp.LT: exp.GT,
        exp.GT: exp.LT,
        exp.LTE: exp.GTE,
        exp.GTE: exp.LTE,
    }
    kind: type[exp.Expression] = type(cond)
    if kind not in flipped:
        return None
    a, b = cond.this, cond.expression

    def is_rn(e: exp.Expression) -> bool:
        return isinstance(e, exp.Column) and e.name.lower() == rn

    if is_rn(b) and not is_rn(a):
        a, b, kind = b, a, flipped[kind]
    if not is_rn(a) or kind not in (exp.EQ, exp.LTE, exp.LT):
        return None
    if not (isinstance(b, exp.Literal) and not b.is_string and b.name.isdigit()):
        raise fail(cond, f"the rank filter {cond.sql()} needs an integer literal", hint="e.g. WHERE rn <= 3")
    n = int(b.name)
    if kind is exp.EQ and n != 1:
        raise fail(
            cond,
            f"{cond.sql()}: a rank range that does not start at 1 is not supported yet",
            hint="use rn = 1 or rn <= N",
        )
    return n - 1 if kind is exp.LT else n


def plan_ranked_from(planner: Planner, node: exp.Select) -> tuple[Relation, exp.Select] | None:
    """If ``node`` selects from a query with ``ROW_NUMBER() OVER``: the ranked relation and ``node`` without the
    rank filter; otherwise ``None``."""
    from .planner import Relation

    from_ = node.args.get("from_")
    if from_ is None or node.args.get("joins"):
        return None
    inner = _inner_query(planner, from_.this)
    if not isinstance(inner, exp.Select):
        return None
    found = _row_number(inner)
    if found is None:
        return None
    rn_pos, rn_alias = found
    window: exp.Window = rn_alias.this
    rn = rn_alias.alias.lower()
    # the rank filter: one conjunct of the enclosing WHERE
    where = node.args.get("where")
    conjuncts = _conjuncts(where.this) if where is not None else []
    bounds = [(c, _rank_bound(c, rn)) for c in conjuncts]
    rank_filters = [(c, n) for c, n in bounds if n is not None]
    rest = [c for c, n in bounds if n is None]
    for c in rest:
        if any(col.name.lower() == rn for col in c.find_all(exp.Column)):
            raise fail(c, f"the condition {c.sql()} on the row number '{rn_alias.alias}' is not supported", SUPPORTED)
    if len(rank_filters) != 1:
        raise fail(
            where or node,
            f"ROW_NUMBER() needs one filter on '{rn_alias.alias}' in the enclosing query (found {len(rank_filters)})",
            hint="add WHERE rn <= N (Top-N) or WHERE rn = 1 (deduplication); " + SUPPORTED,
        )
    n = rank_filters[0][1]
    assert n is not None
    if n < 1:
        raise fail(rank_filters[0][0], "the rank filter selects no rows", hint="use rn <= N with N >= 1")
    order = window.args.get("order")
    if order is None or not order.expressions:
        raise fail(window, "ROW_NUMBER() OVER needs ORDER BY", hint=SUPPORTED)
    if window.args.get("spec") is not None:
        raise fail(window, "ROW_NUMBER() takes no window frame (ROWS/RANGE)", hint="drop the frame")
    for other in inner.expressions:
        if other is not rn_alias and other.find(exp.Window):
            raise fail(other, "other OVER functions next to ROW_NUMBER() are not supported", hint=SUPPORTED)
    parts = list(window.args.get("partition_by") or [])
    orders = list(order.expressions)
    # plan the inner query with rn as a placeholder and the partition and order expressions as hidden columns
    planned = inner.copy()
    items = list(planned.expressions)
    items[rn_pos] = exp.alias_(exp.Cast(this=exp.Literal.number(1), to=exp.DataType.build("BIGINT")), rn_alias.alias)
    hidden = [exp.alias_(p.copy(), f"$part{i}", quoted=True) for i, p in enumerate(parts)]
    hidden += [exp.alias_(o.this.copy(), f"$order{i}", quoted=True) for i, o in enumerate(orders)]
    planned.set("expressions", items + hidden)
    rel = planner.query(planned)
    width = len(rel.fields) - len(hidden)
    rn_index = next(i for i, f in enumerate(rel.fields[:width]) if f.name == rn_alias.alias)
    if rel.changelog:
        raise fail(
            window,
            "ROW_NUMBER() over a changelog (a query with updates, such as a GROUP BY or an outer join) is not "
            "supported yet",
            hint="rank an append-only query (a table, a window TVF or a window aggregation)",
        )
    part_idx = [width + i for i in range(len(parts))]
    order_idx = [width + len(parts) + i for i in range(len(orders))]
    descending = [bool(o.args.get("desc")) for o in orders]
    nulls_first = [bool(o.args.get("nulls_first")) for o in orders]
    key_fn: Callable[[Any], Any] = (
        row_function([f"r[{i}]" for i in part_idx], {}) if len(part_idx) > 1 else _key(part_idx)
    )
    visible = [
        Field(f.name, f.type.plain(), None) if i != rn_index else Field(f.name, f.type.with_nullable(False))
        for i, f in enumerate(rel.fields[:width])
    ]

    def numbered(row: tuple[Any, ...], r: int, _w: int = width, _i: int = rn_index) -> tuple[Any, ...]:
        return (*row[:_i], r, *row[_i + 1 : _w])

    part_names = {p.name.lower() for p in parts if isinstance(p, exp.Column)}
    compare = row_comparator(order_idx, descending, nulls_first)
    stream = rel.stream.key_by(key_fn)
    if {"window_start", "window_end"} <= part_names:
        if planner.tz is not dt.UTC:
            raise fail(
                window,
                "window Top-N and window deduplication need table.local-time-zone = 'UTC' for now",
                hint="SET 'table.local-time-zone' = 'UTC'",
            )
        end = next(width + i for i, p in enumerate(parts) if isinstance(p, exp.Column) and p.name == "window_end")
        time_order = len(orders) == 1 and rel.fields[order_idx[0]].type.rowtime
        latest_ties_first = n == 1 and bool(time_order) and descending[0]
        ranked = stream.process(WindowRank(end, compare, n, numbered, latest_ties_first))
        return Relation(ranked.name("WindowRank"), visible), _without(node, rank_filters[0][0])
    order_type = rel.fields[order_idx[0]].type
    if n == 1 and len(orders) == 1 and (order_type.rowtime or order_type.proctime):
        ordered = order_idx[0]
        proc = order_type.proctime

        def first(row: tuple[Any, ...]) -> tuple[Any, ...]:
            return numbered(row, 1)

        def changed(row: tuple[Any, ...]) -> tuple[Any, ...]:
            return (*numbered(row[:-1], 1), row[-1])

        if descending[0]:
            last = ProcTimeKeepLast() if proc else RowTimeKeepLast(ordered)
            changes = stream.process(last).name("Deduplicate(keep last)")
            out = Relation(changes.map(changed).name("Calc").with_input_parallelism(), visible, None, True)
        else:
            keep = ProcTimeKeepFirst() if proc else RowTimeKeepFirst(ordered)
            firsts = stream.process(keep).name("Deduplicate(keep first)")
            out = Relation(firsts.map(first).name("Calc").with_input_parallelism(), visible)
        return out, _without(node, rank_filters[0][0])
    selected = _selects(node, rn)

    def sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return row

    def strip(row: tuple[Any, ...], _w: int = width) -> tuple[Any, ...]:
        return (*row[:_w], row[-1])

    top = AppendOnlyTopN(sort_key, compare, n, numbered if selected else None)
    changes = stream.process(top).name("Rank")
    if not selected:
        changes = changes.map(strip).name("Calc").with_input_parallelism()
    return Relation(changes, visible, None, True), _without(node, rank_filters[0][0])


def _key(part_idx: list[int]) -> Callable[[Any], Any]:
    if not part_idx:
        return _global_key
    i = part_idx[0]
    return lambda r: r[i]


def _global_key(row: Any) -> int:
    return 0


def _selects(node: exp.Select, rn: str) -> bool:
    """Whether the enclosing query uses the row number (``*`` or the column)."""
    for e in node.expressions:
        if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)):
            return True
        if any(c.name.lower() == rn for c in e.find_all(exp.Column)):
            return True
    return False


def _without(node: exp.Select, cond: exp.Expression) -> exp.Select:
    rest = node.copy()
    where = node.args["where"]
    kept = [c for c in _conjuncts(where.this) if c is not cond]
    rest.set("where", exp.Where(this=exp.and_(*[c.copy() for c in kept])) if kept else None)
    return rest


__all__ = ["plan_ranked_from", "ranked_view_probe"]
