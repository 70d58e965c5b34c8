"""Plans ``FROM`` with joins: ``FROM a, b WHERE ...`` and ``FROM a [INNER|LEFT|RIGHT|FULL [OUTER]] JOIN b ON ...``.

Each join of the ``FROM`` list (left-deep, in the written order) is one of Flink SQL's streaming joins, chosen by
its condition, as Flink's planner chooses:

- **window join**: both inputs are window TVF relations (they have ``window_start``/``window_end``) and ``ON``
  equates both inputs' ``window_start`` and ``window_end`` (:mod:`.window_join`; INNER/LEFT/RIGHT/FULL;
  append-only output, once per window);
- **interval join**: both inputs have a time attribute and the condition bounds one by the other from both
  sides (``l.ts BETWEEN r.ts - INTERVAL '1' HOUR AND r.ts``, ``l.ts >= r.ts AND l.ts < r.ts + ...``,
  ``l.ts = r.ts``) (:mod:`.interval_join`; INNER/LEFT/RIGHT/FULL; append-only output);
- **regular join**: otherwise (:mod:`.regular_join`; INNER of append-only inputs gives an append-only result,
  LEFT/RIGHT/FULL or a changelog input a changelog).

Every join needs an equality between the two inputs (``l.k = r.k``, expressions allowed): its operator is keyed by
those keys, so it runs at any parallelism behind hash exchanges. For ``,`` and INNER joins the ``WHERE``
conjuncts over both inputs join the condition (Flink pushes them into the join); for outer joins only ``ON`` is the
join condition. Window and interval joins need append-only inputs; regular joins also join changelogs. As in
Flink, a window join keeps its inputs' ``window_time`` and an interval join its inputs' time attributes as time
attributes (the interval join holding its watermark back); a regular join turns them into plain timestamps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .expressions import Code, ExpressionCompiler, Field, fail, interval_ms, row_function, value_function
from .interval_join import IntervalJoin
from .lateral import is_lateral, plan_lateral
from .regular_join import RegularJoin
from .types import INTEGER_TYPES, SqlType
from .window_join import WindowJoin

if TYPE_CHECKING:
    from .planner import Planner, Relation

_REF = re.compile(r"r\[(\d+)\]")

SUPPORTED = (
    "supported: equi-joins 'a JOIN b ON a.k = b.k' (INNER, LEFT, RIGHT, FULL OUTER), interval joins "
    "'a.ts BETWEEN b.ts - INTERVAL ... AND b.ts' (the same four) and window joins of window TVFs on window_start, "
    "window_end and a key"
)


_KINDS = {
    (False, False): "InnerJoin",
    (True, False): "LeftOuterJoin",
    (False, True): "RightOuterJoin",
    (True, True): "FullOuterJoin",
}


@dataclass
class _Side:
    """One input of a join, with its fields qualified by its name or alias."""

    rel: Relation
    node: exp.Expression


def plan_from(planner: Planner, node: exp.Select) -> tuple[Relation, exp.Select]:
    """The relation of ``node``'s ``FROM`` with its joins, and ``node`` without the joins and with the ``WHERE``
    conjuncts that became join conditions removed."""
    from_ = node.args["from_"]
    left = _side(planner, from_.this)
    where = node.args.get("where")
    pending = _conjuncts(where.this) if where is not None else []
    for join in node.args.get("joins") or []:
        if is_lateral(join.this):  # a Python table function: a Correlate, no second input (see .lateral)
            left = _Side(plan_lateral(planner, left.rel, join), join)
            continue
        right = _side(planner, join.this)
        left, pending = _join(planner, join, left, right, pending)
    rest = node.copy()
    rest.set("joins", None)
    rest.set("where", exp.Where(this=exp.and_(*pending)) if pending else None)
    return left.rel, rest


# -- inputs ---------------------------------------------------------------------------------------------------
def _side(planner: Planner, item: exp.Expression) -> _Side:
    from .planner import Relation

    if isinstance(item, exp.Lateral | exp.Unnest) or (isinstance(item, exp.Table) and item.args.get("joins")):
        raise fail(item, f"{item.sql()} is not supported in a join", hint=SUPPORTED)
    alias = item.alias or (item.name if isinstance(item, exp.Table) else "") or None
    rel = planner.from_(item)
    if rel.window is not None:
        rel = planner.window_columns(rel)  # a window TVF input: its rows with window_start/end/time
    fields = [Field(f.name, f.type, alias if alias is not None else f.table) for f in rel.fields]
    return _Side(Relation(rel.stream, fields, None, rel.changelog), item)


def _conjuncts(node: exp.Expression | None) -> list[exp.Expression]:
    if node is None:
        return []
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


# -- one join -------------------------------------------------------------------------------------------------
@dataclass
class _Condition:
    """A join condition split into equalities between the inputs, time bounds and the rest."""

    keys: list[tuple[Code, Code, exp.Expression]]
    """(left expression, right expression, the conjunct) per equality ``left = right``."""
    rest: list[exp.Expression]


def _join(
    planner: Planner, join: exp.Join, left: _Side, right: _Side, pending: list[exp.Expression]
) -> tuple[_Side, list[exp.Expression]]:
    side = (join.side or "").upper()
    kind = (join.kind or "").upper()
    if join.args.get("using"):
        raise fail(join, "JOIN ... USING is not supported yet", hint="write the condition with ON a.k = b.k")
    if join.args.get("method") or kind in ("CROSS", "SEMI", "ANTI") or side not in ("", "LEFT", "RIGHT", "FULL"):
        what = " ".join(p for p in (join.args.get("method") or "", side, kind) if p).upper() or "this"
        raise fail(join, f"{what} JOIN is not supported", hint=SUPPORTED)
    left_outer, right_outer = side in ("LEFT", "FULL"), side in ("RIGHT", "FULL")
    on = join.args.get("on")
    conjuncts = _conjuncts(on)
    n_left = len(left.rel.fields)
    joined = [*left.rel.fields, *right.rel.fields]
    comp = planner.compiler([Field(f.name, f.type.plain(), f.table) for f in joined])
    if not (left_outer or right_outer):
        # a ',' or INNER join: WHERE conjuncts over both inputs (and nothing else) are join conditions
        keep = []
        for c in pending:
            refs = _sides_of(_compile_quietly(comp, c), n_left)
            if refs == {0, 1}:
                conjuncts.append(c)
            else:
                keep.append(c)
        pending = keep
    if not conjuncts:
        raise fail(
            join,
            "a join without a condition (a cross join) is not supported",
            hint="join on an equality between the inputs, ON a.k = b.k; " + SUPPORTED,
        )
    cond = _split(comp, conjuncts, n_left)
    where = on if on is not None else join
    window = _window_keys(cond, left, right, n_left)
    bounds = _time_bounds(comp, cond, left, right) if window is None else None
    if window is not None or bounds is not None:
        _need_append_only(left, right, "a window join" if window is not None else "an interval join")
    if window is not None:
        out = _window_join(planner, comp, cond, left, right, window, (left_outer, right_outer), where)
    elif bounds is not None:
        out = _interval_join(planner, comp, cond, left, right, bounds, (left_outer, right_outer), where)
    else:
        out = _regular_join(planner, comp, cond, left, right, (left_outer, right_outer), where)
    return out, pending


def _need_append_only(left: _Side, right: _Side, what: str) -> None:
    for s in (left, right):
        if s.rel.changelog:
            raise fail(
                s.node,
                f"{what} needs append-only inputs, not a changelog (a query with updates: a GROUP BY, a regular "
                "outer join)",
                hint="join the append-only inputs first, or use a regular join (without time bounds or windows), "
                "which joins changelogs",
            )


def _compile_quietly(comp: ExpressionCompiler, node: exp.Expression) -> Code | None:
    try:
        return comp.compile(node)
    except Exception:
        return None  # refers to a later input of the FROM list: not a condition of this join


def _sides_of(code: Code | None, n_left: int) -> set[int]:
    if code is None:
        return set()
    return {0 if int(i) < n_left else 1 for i in _REF.findall(code.src)}


def _split(comp: ExpressionCompiler, conjuncts: list[exp.Expression], n_left: int) -> _Condition:
    keys: list[tuple[Code, Code, exp.Expression]] = []
    rest: list[exp.Expression] = []
    for c in conjuncts:
        if isinstance(c, exp.EQ):
            a, b = comp.compile(c.this), comp.compile(c.expression)
            sa, sb = _sides_of(a, n_left), _sides_of(b, n_left)
            if sa == {0} and sb == {1}:
                keys.append((a, b, c))
                continue
            if sa == {1} and sb == {0}:
                keys.append((b, a, c))
                continue
        comp.compile(c)  # validates names and types
        rest.append(c)
    return _Condition(keys, rest)


def _shift(code: Code, n_left: int) -> str:
    """A right-side expression compiled over the joined row, rewritten over the right row alone."""
    return _REF.sub(lambda m: f"r[{int(m.group(1)) - n_left}]", code.src)


def _key_functions(
    comp: ExpressionCompiler, keys: list[tuple[Code, Code, exp.Expression]], n_left: int
) -> tuple[tuple[Callable[[Any], Any], Callable[[Any], Any]], tuple[Callable[[Any], bool], Callable[[Any], bool]]]:
    """The key selectors of both inputs and, per input, whether a row's key has a NULL."""
    for a, b, c in keys:
        if not _same_key_type(a.type, b.type):
            raise fail(
                c,
                f"the join keys of {c.sql()} have different types ({a.type.plain()} and {b.type.plain()})",
                hint=f"CAST one side, e.g. CAST({c.expression.sql()} AS {a.type.name})",
            )
    left_src = [a.src for a, _, _ in keys]
    right_src = [_shift(b, n_left) for _, b, _ in keys]
    if not keys:
        return (_no_key, _no_key), (_never_null, _never_null)
    if len(keys) == 1:
        selectors = (value_function(left_src[0], comp.ns), value_function(right_src[0], comp.ns))
        nulls = (_is_none(selectors[0]), _is_none(selectors[1]))
    else:
        selectors = (row_function(left_src, comp.ns), row_function(right_src, comp.ns))
        nulls = (_has_none(selectors[0]), _has_none(selectors[1]))
    return selectors, nulls


def _same_key_type(a: SqlType, b: SqlType) -> bool:
    if a.name in INTEGER_TYPES and b.name in INTEGER_TYPES:
        return True
    if a.name == "DECIMAL" and b.name == "DECIMAL":
        return a.scale == b.scale
    return a.name == b.name or "NULL" in (a.name, b.name)


def _no_key(row: Any) -> Any:
    return 0


def _never_null(row: Any) -> bool:
    return False


def _is_none(selector: Callable[[Any], Any]) -> Callable[[Any], bool]:
    return lambda row: selector(row) is None


def _has_none(selector: Callable[[Any], Any]) -> Callable[[Any], bool]:
    return lambda row: any(v is None for v in selector(row))


def _residual(comp: ExpressionCompiler, rest: list[exp.Expression]) -> Callable[[Any], bool] | None:
    if not rest:
        return None
    cond: exp.Expression = rest[0]
    for c in rest[1:]:
        cond = exp.And(this=cond, expression=c)
    return comp.predicate(cond)


def _output(left: _Side, right: _Side, outer: tuple[bool, bool]) -> list[Field]:
    """The joined columns: time attributes become plain timestamps; a side padded with NULLs becomes nullable."""
    out = []
    for i, s in enumerate((left, right)):
        padded = outer[1 - i]
        for f in s.rel.fields:
            t = f.type.plain()
            out.append(Field(f.name, t.with_nullable(True) if padded else t, f.table))
    return out


def _connect(left: _Side, right: _Side, selectors: tuple[Callable[[Any], Any], Callable[[Any], Any]]) -> Any:
    return left.rel.stream.connect(right.rel.stream).key_by(selectors[0], selectors[1])


def _need_keys(cond: _Condition, where: exp.Expression, what: str) -> None:
    if not cond.keys:
        raise fail(
            where,
            f"a {what} needs an equality between the two inputs (non-equi joins are not supported)",
            hint="add ON a.k = b.k; " + SUPPORTED,
        )


# -- regular joins --------------------------------------------------------------------------------------------
def _regular_join(
    planner: Planner,
    comp: ExpressionCompiler,
    cond: _Condition,
    left: _Side,
    right: _Side,
    outer: tuple[bool, bool],
    where: exp.Expression,
) -> _Side:
    from .planner import Relation

    _need_keys(cond, where, "regular join")
    n_left = len(left.rel.fields)
    selectors, nulls = _key_functions(comp, cond.keys, n_left)
    # the key equalities are enforced by the keyed exchange plus the NULL check; the rest runs per pair
    changelogs = (left.rel.changelog, right.rel.changelog)
    fn = RegularJoin(n_left, len(right.rel.fields), _residual(comp, cond.rest), outer[0], outer[1], nulls, changelogs)
    stream = _connect(left, right, selectors).process(fn).name(f"Join({_KINDS[outer]})")
    rel = Relation(stream, _output(left, right, outer), None, changelog=fn.changelog)
    return _Side(rel, where)


# -- interval joins -------------------------------------------------------------------------------------------
def _time_bounds(
    comp: ExpressionCompiler, cond: _Condition, left: _Side, right: _Side
) -> tuple[int, int, int, int] | None:
    """``(left time, right time, lower, upper)``: the time attributes (column indexes in each input) and bounds
    ``right.ts + lower <= left.ts <= right.ts + upper`` of the conjuncts that compare them (taken out of ``cond``),
    or ``None`` when no pair of time attributes is bounded from both sides."""
    n_left = len(left.rel.fields)
    left_times = [i for i, f in enumerate(left.rel.fields) if f.type.rowtime]
    right_times = [i for i, f in enumerate(right.rel.fields) if f.type.rowtime]
    for lt in left_times:
        for rt in right_times:
            lower: int | None = None
            upper: int | None = None
            used = []
            for c in cond.rest:
                parts = _bounds_of(c, lt, n_left + rt, comp)
                if parts is None:
                    continue
                used.append(c)
                for lo, hi in parts:
                    if lo is not None:
                        lower = lo if lower is None else max(lower, lo)
                    if hi is not None:
                        upper = hi if upper is None else min(upper, hi)
            # l.ts = r.ts is an equality of times: a bound, not a key
            equal = [k for k in cond.keys if k[0].src == f"r[{lt}]" and k[1].src == f"r[{n_left + rt}]"]
            if equal:
                lower = 0 if lower is None else max(lower, 0)
                upper = 0 if upper is None else min(upper, 0)
            if lower is None or upper is None:
                continue
            cond.rest = [c for c in cond.rest if c not in used]
            cond.keys = [k for k in cond.keys if k not in equal]
            return lt, rt, lower, upper
    return None


_FLIP: dict[type, type] = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ}


def _bounds_of(
    c: exp.Expression, lt: int, rt: int, comp: ExpressionCompiler
) -> list[tuple[int | None, int | None]] | None:
    """The bounds on ``left.ts - right.ts`` a conjunct states (``None``: it does not compare the two times)."""
    if isinstance(c, exp.Between):
        lo = _bounds_of(exp.GTE(this=c.this, expression=c.args["low"]), lt, rt, comp)
        hi = _bounds_of(exp.LTE(this=c.this, expression=c.args["high"]), lt, rt, comp)
        return None if lo is None or hi is None else lo + hi
    if type(c) not in _FLIP:
        return None
    a, b = _time_offset(c.this, comp), _time_offset(c.expression, comp)
    if a is None or b is None:
        return None
    op: type = type(c)
    if a[0] == rt and b[0] == lt:
        a, b, op = b, a, _FLIP[op]
    if not (a[0] == lt and b[0] == rt):
        return None
    # left.ts + a_off OP right.ts + b_off  <=>  left.ts - right.ts OP b_off - a_off
    d = b[1] - a[1]
    if op is exp.EQ:
        return [(d, d)]
    if op is exp.GTE:
        return [(d, None)]
    if op is exp.GT:
        return [(d + 1, None)]
    if op is exp.LTE:
        return [(None, d)]
    return [(None, d - 1)]


def _time_offset(node: exp.Expression, comp: ExpressionCompiler) -> tuple[int, int] | None:
    """``(column index, offset ms)`` for ``col``, ``col + INTERVAL ...`` or ``col - INTERVAL ...``."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Add | exp.Sub) and isinstance(node.expression, exp.Interval):
        inner = _time_offset(node.this, comp)
        if inner is None:
            return None
        ms = interval_ms(node.expression)
        return inner[0], inner[1] + (ms if isinstance(node, exp.Add) else -ms)
    if isinstance(node, exp.Column):
        m = _REF.fullmatch(comp.compile(node).src)
        return (int(m.group(1)), 0) if m else None
    return None


def _interval_join(
    planner: Planner,
    comp: ExpressionCompiler,
    cond: _Condition,
    left: _Side,
    right: _Side,
    bounds: tuple[int, int, int, int],
    outer: tuple[bool, bool],
    where: exp.Expression,
) -> _Side:
    from .planner import Relation

    _need_keys(cond, where, "interval join")
    lt, rt, lower, upper = bounds
    if lower > upper:
        raise fail(where, f"the interval join's time bounds are empty (lower {lower} ms > upper {upper} ms)")
    n_left = len(left.rel.fields)
    selectors, nulls = _key_functions(comp, cond.keys, n_left)
    widths = (n_left, len(right.rel.fields))
    fn = IntervalJoin(lower, upper, (lt, rt), _residual(comp, cond.rest), nulls, outer, widths)
    stream = _connect(left, right, selectors).process(fn).name(f"IntervalJoin({_KINDS[outer]})")
    # Flink's rule: both time attributes survive, and the watermark is held back by the larger relative size (a
    # result row may be that much older than the input watermark), so neither is late downstream. The rows'
    # stream timestamps are those of whichever input row produced them: a window re-stamps them (SqlType.stamped).
    stream.transformation.params["watermark_delay"] = max(-lower, upper)
    fields = _output(left, right, outer)
    for at, padded in ((lt, outer[1]), (n_left + rt, outer[0])):  # a side padded with NULLs loses it
        if not padded:
            f = fields[at]
            fields[at] = Field(f.name, replace(f.type, rowtime=True, stamped=False), f.table)
    return _Side(Relation(stream, fields), where)


# -- window joins ---------------------------------------------------------------------------------------------
def _window_keys(cond: _Condition, left: _Side, right: _Side, n_left: int) -> tuple[int, int] | None:
    """When ``cond`` equates both inputs' ``window_start`` and ``window_end``: those equalities are taken out of
    the keys and the indexes of the inputs' ``window_end`` are returned."""
    found: dict[str, tuple[int, int, Any]] = {}
    for a, b, c in cond.keys:
        ma, mb = _REF.fullmatch(a.src), _REF.fullmatch(b.src)
        if not (ma and mb):
            continue
        i, j = int(ma.group(1)), int(mb.group(1)) - n_left
        name = left.rel.fields[i].name.lower()
        if name in ("window_start", "window_end") and right.rel.fields[j].name.lower() == name:
            found[name] = (i, j, (a, b, c))
    if set(found) != {"window_start", "window_end"}:
        return None
    for name in found:
        cond.keys.remove(found[name][2])
    return found["window_end"][0], found["window_end"][1]


def _fire_time(planner: Planner, side: _Side, end: int) -> Callable[[Any], int]:
    """A row's window firing time in UTC ms: its ``window_time`` (``window_end - 1`` in UTC) when it has one,
    else ``window_end - 1`` (the same in UTC; other session time zones need ``window_time``)."""
    import datetime as dt

    names = [f.name.lower() for f in side.rel.fields]
    if "window_time" in names:
        i = names.index("window_time")
        return lambda row: row[i]
    if planner.tz is not dt.UTC:
        raise fail(
            side.node,
            "a window join input needs its window_time column outside UTC",
            hint="select window_time in the input's subquery as well",
        )
    return lambda row: row[end] - 1


def _window_join(
    planner: Planner,
    comp: ExpressionCompiler,
    cond: _Condition,
    left: _Side,
    right: _Side,
    ends: tuple[int, int],
    outer: tuple[bool, bool],
    where: exp.Expression,
) -> _Side:
    from .planner import Relation

    n_left = len(left.rel.fields)
    selectors, nulls = _key_functions(comp, cond.keys, n_left)
    fire = (_fire_time(planner, left, ends[0]), _fire_time(planner, right, ends[1]))
    fn = WindowJoin(fire, (n_left, len(right.rel.fields)), _residual(comp, cond.rest), outer[0], outer[1], nulls)
    stream = _connect(left, right, selectors).process(fn).name(f"WindowJoin({_KINDS[outer]})")
    fields = _output(left, right, outer)
    # Flink keeps the inputs' window_time as time attributes: rows are emitted when their window fires, stamped
    # with its window_end - 1, which is every window_time of the row (a side padded with NULLs loses it)
    for i, (s, padded) in enumerate(((left, outer[1]), (right, outer[0]))):
        names = [f.name.lower() for f in s.rel.fields]
        if "window_time" in names and not padded:
            at = names.index("window_time") + (n_left if i else 0)
            f = fields[at]
            fields[at] = Field(
                f.name, SqlType(f.type.name, False, f.type.precision, f.type.scale, rowtime=True), f.table
            )
    return _Side(Relation(stream, fields), where)


__all__ = ["SUPPORTED", "plan_from"]
