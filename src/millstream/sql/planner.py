"""Plans a ``SELECT`` into DataStream operators.

A :class:`Relation` is a stream of row tuples with its columns; the event-time attribute (``*ROWTIME*``)
holds every row's stream timestamp, so DataStream event-time windows work on it (a join may keep several: a
window join's equal ``window_time`` columns, or an interval join's two time attributes, which are not the stream
timestamp until a window re-stamps the rows, see ``SqlType.stamped``). Steps, in order: ``FROM`` (a table's
source + computed columns + watermark, a view, a subquery, a window TVF or joins, see :mod:`.joins`),
``WHERE`` (a filter), then either a projection (a map) or a window aggregation (``GROUP BY window_start,
window_end, ...``: ``key_by`` the other keys, a DataStream window with the TVF's assigner, one generated
``AggregateFunction``), ``HAVING`` and the projection over its output. ``UNION ALL`` unions relations with the
same column types.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlglot import exp

from ..stream.datastream import DataStream
from ..stream.environment import StreamExecutionEnvironment
from ..stream.functions import ProcessWindowFunction
from ..stream.time import WatermarkStrategy
from .aggregates import RetractingAggregate, SqlAggregateFunction, agg_call, builtin_aggregate, builtin_result
from .catalog import Catalog, CatalogTable, CatalogView
from .connectors import create_source, is_upsert_table
from .dialect import WindowTVF
from .errors import SqlError, SqlValidationError
from .expressions import ExpressionCompiler, Field, Projection, fail, row_function, value_function
from .group_aggregate import GroupAggregate
from .joins import plan_from
from .over_planning import has_over, plan_over
from .rank_planning import plan_ranked_from
from .types import SqlType
from .windows import LocalTimeWindows, WindowSpec, utc_offset_ms, window_spec

WINDOW_COLUMNS = ("window_start", "window_end", "window_time")


@dataclass
class Relation:
    """A planned relation: a stream of tuples and its columns."""

    stream: DataStream
    fields: list[Field]
    window: WindowSpec | None = field(default=None)
    changelog: bool = False
    """Rows carry their kind (``+I``, ``-U``, ``+U``, ``-D``) as an extra last element."""
    # Every stamped time attribute's value is its row's stream timestamp (see SqlType.stamped).

    @property
    def rowtime(self) -> int | None:
        """The time attribute whose value is every row's stream timestamp."""
        return next((i for i, f in enumerate(self.fields) if f.type.rowtime and f.type.stamped), None)


def watermark_strategy(delay_ms: int, column: int) -> WatermarkStrategy:
    """Flink SQL's watermark ``max(rowtime) - delay`` (the DataStream generator subtracts one more ms, so
    the strategy gets ``delay - 1``), with the rowtime column as each row's timestamp."""
    return WatermarkStrategy(out_of_orderness=delay_ms - 1).with_timestamp_assigner(lambda row, ts: row[column])


_UNSUPPORTED = (
    ("order", "ORDER BY", "a streaming query cannot sort its unbounded result; drop ORDER BY"),
    (
        "limit",
        "LIMIT",
        "drop LIMIT; for the first rows per key write Top-N: SELECT * FROM (SELECT *, ROW_NUMBER() OVER "
        "(PARTITION BY k ORDER BY col DESC) AS rn FROM t) WHERE rn <= N",
    ),
)


class Planner:
    """Plans queries against a catalog onto an environment."""

    def __init__(self, env: StreamExecutionEnvironment, catalog: Catalog, tz: dt.tzinfo) -> None:
        self.env = env
        self.catalog = catalog
        self.tz = tz
        self.ctes: list[dict[str, exp.Expression]] = []  # WITH scopes, innermost last

    def compiler(self, fields: list[Field], **kw: Any) -> ExpressionCompiler:
        return ExpressionCompiler(fields, self.tz, functions=self.catalog.functions, **kw)

    # -- FROM ---------------------------------------------------------------------------------------------
    def table_fields(self, table: CatalogTable) -> list[Field]:
        """All columns of a table (computed ones typed by compiling them over the physical columns)."""
        comp = self.compiler(table.source_fields)
        out = []
        for c in table.columns:
            t = c.type if c.computed is None else comp.compile(c.computed).type
            assert t is not None
            if table.watermark is not None and c.name == table.watermark.column:
                if not t.is_time:
                    raise SqlValidationError(
                        f"the watermark column '{c.name}' of table '{table.name}' is {t}",
                        hint="a time attribute must be TIMESTAMP(3) or TIMESTAMP_LTZ(3), "
                        "e.g. ts AS TO_TIMESTAMP_LTZ(ms, 3)",
                    )
                t = SqlType(t.name, t.nullable, t.precision, t.scale, rowtime=True)
            out.append(Field(c.name, t))
        return out

    def scan(self, table: CatalogTable) -> Relation:
        """The table's source; computed columns and the rowtime's NULL check run in the decoding step. An upsert
        table (:mod:`.upsert`) is a changelog."""
        fields = self.table_fields(table)
        if is_upsert_table(table):
            return Relation(create_source(self.env, table), fields, None, True)
        col = None
        if table.watermark is not None:
            col = next(i for i, f in enumerate(fields) if f.name == table.watermark.column)
        finish = None
        if any(c.computed is not None or c.metadata is not None for c in table.columns) or col is not None:
            comp = self.compiler(table.source_fields)
            parts = []
            n_phys = len(table.physical)
            phys_i = meta_i = 0
            for c in table.columns:
                if c.computed is not None:
                    parts.append(comp.compile(c.computed).src)
                elif c.metadata is not None:
                    parts.append(f"r[{n_phys + meta_i}]")
                    meta_i += 1
                else:
                    parts.append(f"r[{phys_i}]")
                    phys_i += 1
            if col is not None:
                comp.ns["_rowtime_null"] = _rowtime_null(table.name, fields[col].name)
                parts[col] = f"(_rt if (_rt := {parts[col]}) is not None else _rowtime_null())"
            finish = Projection(tuple(parts), comp.ns)
        rel = Relation(_chained_to_source(create_source(self.env, table, finish)), fields)
        if col is not None:
            assert table.watermark is not None
            strategy = watermark_strategy(table.watermark.delay_ms, col)
            rel.stream = rel.stream.assign_timestamps_and_watermarks(strategy)
        return rel

    def from_(self, node: exp.Expression | None) -> Relation:
        if node is None:
            raise SqlValidationError("a query needs FROM", hint="SELECT ... FROM table")
        if isinstance(node, exp.Table):
            for scope in reversed(self.ctes):
                if node.name in scope and not node.args.get("db"):
                    return self.query(scope[node.name])
            entry = self.catalog.lookup(node.name, node)
            if isinstance(entry, CatalogView):
                if entry.plan is not None:
                    rel: Relation = entry.plan()
                    return rel
                assert entry.query is not None
                return self.query(entry.query)
            return self.scan(entry)
        if isinstance(node, exp.Subquery):
            return self.query(node.this)
        if isinstance(node, exp.TableFromRows) and isinstance(node.this, WindowTVF):
            tvf = node.this
            spec = window_spec(tvf)
            inner = self.from_(tvf.args["table"])
            if inner.changelog:
                raise fail(tvf, "window TVFs need an append-only input, not a changelog (a query with updates)")
            rt = inner.rowtime
            names = [f.name for f in inner.fields]
            if spec.time_column not in names:
                raise fail(
                    tvf.args["descriptor"],
                    f"unknown column '{spec.time_column}' in DESCRIPTOR",
                    hint=f"columns are: {', '.join(names)}",
                )
            col = names.index(spec.time_column)
            if inner.fields[col].type.proctime:
                if spec.kind == "CUMULATE":
                    raise fail(
                        tvf,
                        "CUMULATE windows over a processing-time attribute are not supported yet",
                        hint="use TUMBLE or HOP, or an event-time attribute (a column with a WATERMARK)",
                    )
                if self.tz is not dt.UTC:
                    raise fail(
                        tvf,
                        "processing-time windows need table.local-time-zone = 'UTC' for now",
                        hint="SET 'table.local-time-zone' = 'UTC'",
                    )
                for p in spec.partition_by:
                    if p not in names:
                        raise fail(tvf, f"unknown PARTITION BY column '{p}'")
                inner.window = replace(spec, proctime=True)
                return inner
            if not inner.fields[col].type.rowtime:
                raise fail(
                    tvf.args["descriptor"],
                    f"column '{spec.time_column}' is not a time attribute: window TVFs need a column with a watermark",
                    hint=f"declare WATERMARK FOR {spec.time_column} AS {spec.time_column} - INTERVAL '5' SECOND "
                    "in its table (the time columns of regular and interval joins are not time attributes yet)",
                )
            if not inner.fields[col].type.stamped:  # an interval join's time attribute: stamp the rows with it
                stamp = operator.itemgetter(col)
                inner.stream = inner.stream._add("restamp", f"Restamp({spec.time_column})", {"fn": stamp})
                inner.stream = inner.stream.with_input_parallelism()
            if rt != col:  # several time attributes (of a join): window by this one, the others become plain
                inner.fields = [
                    Field(f.name, replace(f.type, stamped=True), f.table)
                    if i == col
                    else Field(f.name, f.type.plain(), f.table)
                    for i, f in enumerate(inner.fields)
                ]
            for p in spec.partition_by:
                if p not in names:
                    raise fail(tvf, f"unknown PARTITION BY column '{p}'")
            inner.window = spec
            return inner
        if isinstance(node, exp.Join) or node.args.get("joins"):
            raise fail(
                node, "a parenthesized join in FROM is not supported", hint="write FROM a JOIN b ON ... JOIN c ON ..."
            )
        raise fail(
            node, f"{node.sql()} is not supported in FROM", hint="use a table, a view, a subquery or a window TVF"
        )

    # -- queries ------------------------------------------------------------------------------------------
    def query(self, node: exp.Expression) -> Relation:
        with_ = node.args.get("with_")
        if with_ is not None:
            if with_.args.get("recursive"):
                raise fail(with_, "WITH RECURSIVE is not supported in streaming", hint="drop RECURSIVE")
            scope: dict[str, exp.Expression] = {}
            self.ctes.append(scope)
            try:
                for cte in with_.expressions:
                    scope[cte.alias] = cte.this  # later CTEs may use earlier ones
                inner = node.copy()
                inner.set("with_", None)
                return self.query(inner)
            finally:
                self.ctes.pop()
        if isinstance(node, exp.Union):
            if node.args.get("distinct"):
                raise fail(node, "UNION (distinct) is not supported in streaming yet", hint="use UNION ALL")
            left, right = self.query(node.this), self.query(node.expression)
            if left.changelog != right.changelog:
                raise fail(node, "UNION ALL of a changelog and an append-only query is not supported yet")
            if [f.type.name for f in left.fields] != [f.type.name for f in right.fields]:
                raise fail(
                    node, "UNION ALL needs the same column types on both sides", hint="CAST the columns to match"
                )
            fields = [
                Field(f.name, f.type.with_nullable(f.type.nullable or g.type.nullable))
                for f, g in zip(left.fields, right.fields, strict=True)
            ]
            return Relation(left.stream.union(right.stream), fields, None, left.changelog)
        if isinstance(node, exp.Subquery):
            return self.query(node.this)
        if not isinstance(node, exp.Select):
            raise fail(node, f"{type(node).__name__.upper()} is not a query", hint="write SELECT ... FROM ...")
        for key, what, hint in _UNSUPPORTED:
            if node.args.get(key):
                target = node.args[key] if not isinstance(node.args[key], list) else node.args[key][0]
                if not isinstance(target, exp.Expr):
                    target = node
                raise fail(target, f"{what} is not supported yet", hint=hint)
        distinct = node.args.get("distinct")
        if distinct is not None:
            if distinct.args.get("on") or node.args.get("group") or any(e.find(exp.AggFunc) for e in node.expressions):
                raise fail(node, "SELECT DISTINCT with ON, GROUP BY or aggregates is not supported yet")
            if any(isinstance(e, exp.Star) for e in node.expressions):
                raise fail(node, "SELECT DISTINCT * is not supported yet", hint="list the columns")
            # Flink plans it as a GroupAggregate over the selected expressions without aggregate functions
            grouped = node.copy()
            grouped.set("distinct", None)
            keys = [e.this.copy() if isinstance(e, exp.Alias) else e.copy() for e in node.expressions]
            grouped.set("group", exp.Group(expressions=keys))
            return self.query(grouped)
        from_ = node.args.get("from_")
        ranked = plan_ranked_from(self, node)  # FROM a query with ROW_NUMBER(): the rank filter leaves WHERE
        if ranked is not None:
            rel, node = ranked
        elif node.args.get("joins") and from_ is not None:
            rel, node = plan_from(self, node)  # the joins' conditions leave WHERE
        else:
            rel = self.from_(from_.this if from_ is not None else None)
        if has_over(node):
            if rel.window is not None:
                rel = self.window_columns(rel)
            return plan_over(self, node, rel)
        group = node.args.get("group")
        has_agg = any(e.find(exp.AggFunc) for e in node.expressions)
        if group is not None or has_agg or node.args.get("having"):
            return self.window_aggregate(node, rel)
        if rel.window is not None:
            rel = self.window_columns(rel)
        where = node.args.get("where")
        if where is not None:
            pred = self.compiler(rel.fields).predicate(where.this)
            rel = Relation(
                rel.stream.filter(pred).name("Where").with_input_parallelism(), rel.fields, None, rel.changelog
            )
        return self.project(rel, node.expressions)

    def expand(self, rel: Relation, items: list[exp.Expression]) -> list[tuple[str, exp.Expression]]:
        out: list[tuple[str, exp.Expression]] = []
        for i, e in enumerate(items):
            if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)):
                table = e.table if isinstance(e, exp.Column) else ""
                picked = [f for f in rel.fields if not table or (f.table or "").lower() == table.lower()]
                if table and not picked:
                    raise fail(e, f"unknown table '{table}' in {e.sql()}")
                out.extend((f.name, exp.column(f.name, table=f.table, quoted=True)) for f in picked)
            elif isinstance(e, exp.Alias):
                out.append((e.alias, e.this))
            elif isinstance(e, exp.Column):
                out.append((e.name, e))
            else:
                out.append((f"EXPR${i}", e))
        return out

    def project(self, rel: Relation, items: list[exp.Expression]) -> Relation:
        named = _unique_names(self.expand(rel, items))
        comp = self.compiler(rel.fields)
        codes = [comp.compile(e) for _, e in named]
        fields = []
        for (name, e), code in zip(named, codes, strict=True):
            t = code.type
            column = isinstance(e, exp.Column) and code.src.startswith("r[")
            picked = rel.fields[int(code.src[2:-1])].type if column else None
            if picked is not None and (picked.rowtime or picked.proctime):
                t = picked  # a projected time attribute stays one
            fields.append(Field(name, t))
        if [c.src for c in codes] == [f"r[{i}]" for i in range(len(rel.fields))]:
            return Relation(rel.stream, fields, None, rel.changelog)
        parts = [c.src for c in codes] + ([f"r[{len(rel.fields)}]"] if rel.changelog else [])
        return Relation(
            rel.stream.map(row_function(parts, comp.ns)).name("Calc").with_input_parallelism(),
            fields,
            None,
            rel.changelog,
        )

    # -- windows ------------------------------------------------------------------------------------------
    def window_columns(self, rel: Relation) -> Relation:
        """A window TVF without aggregation: each row once per window, with window_start/end/time."""
        spec = rel.window
        assert spec is not None
        if spec.proctime:
            raise SqlValidationError(
                "a window TVF over a processing-time attribute is only supported with a window aggregation",
                hint="GROUP BY window_start, window_end, ... over it (or window by an event-time attribute)",
            )
        if spec.kind == "SESSION":
            raise SqlValidationError(
                "SESSION windows are only supported with a window aggregation",
                hint="GROUP BY window_start, window_end, ... over the SESSION TVF",
            )
        rt = rel.rowtime
        assert rt is not None
        rt_type = rel.fields[rt].type
        assigner, wall = self._local(spec.assigner, rt_type)

        def expand(row: tuple[Any, ...]) -> list[tuple[Any, ...]]:
            return [(*row, wall(w.start), wall(w.end), w.end - 1) for w in assigner.assign_windows(row, row[rt], 0)]

        # rows keep their event time (the input's time attribute); window_time is a plain column here
        wtype = SqlType("TIMESTAMP", False, 3)
        fields = [
            *rel.fields,
            Field("window_start", wtype),
            Field("window_end", wtype),
            Field("window_time", SqlType(rt_type.name, False, 3)),
        ]
        stream = rel.stream.flat_map(expand).name(f"WindowTableFunction({spec.kind})").with_input_parallelism()
        return Relation(stream, fields)

    def _local(self, assigner: Any, rt_type: SqlType) -> tuple[Any, Callable[[int], int]]:
        """For a ``TIMESTAMP_LTZ`` time attribute outside UTC: the assigner aligned in the session time zone
        and the conversion of window bounds to local wall-clock ``TIMESTAMP`` values (Flink's rules)."""
        if rt_type.name != "TIMESTAMP_LTZ" or self.tz is dt.UTC:
            return assigner, _identity
        offset = utc_offset_ms(self.tz)
        local = assigner if assigner.is_merging else LocalTimeWindows(assigner, self.tz)
        return local, lambda ms: ms + offset(ms)

    def window_aggregate(self, node: exp.Select, rel: Relation) -> Relation:
        spec = rel.window
        group = node.args.get("group")
        if spec is None:
            return self.group_aggregate(node, rel)
        if rel.changelog:
            raise fail(
                group or node,
                "a window aggregation needs an append-only input, not a changelog (a query with updates)",
                hint="aggregate the changelog with a GROUP BY without a window",
            )
        keys = list(group.expressions) if group is not None else []
        key_names = [k.name for k in keys if isinstance(k, exp.Column)]
        if "window_start" not in key_names or "window_end" not in key_names:
            raise fail(
                keys[0] if keys else node,
                "a window aggregation must GROUP BY window_start and window_end",
                hint="GROUP BY window_start, window_end[, other keys]",
            )
        if spec.proctime:
            rt_type = SqlType("TIMESTAMP_LTZ", False, 3)
        else:
            rt = rel.rowtime
            assert rt is not None
            rt_type = rel.fields[rt].type
        in_fields = [Field(f.name, f.type.plain(), f.table) for f in rel.fields]
        comp = self.compiler(in_fields)
        where = node.args.get("where")
        stream = rel.stream
        if where is not None:
            stream = stream.filter(comp.predicate(where.this)).name("Where").with_input_parallelism()
        other_keys = [k for k in keys if not (isinstance(k, exp.Column) and k.name in WINDOW_COLUMNS)]
        key_codes = [comp.compile(k) for k in other_keys]
        if spec.kind == "SESSION":
            part = set(spec.partition_by)
            grouped = {k.name for k in other_keys if isinstance(k, exp.Column)}
            if part and not part <= grouped:
                raise fail(group or node, "a SESSION window aggregation must GROUP BY its PARTITION BY columns")
        seen, agg_calls = self._agg_calls(node, comp)
        builtin = builtin_aggregate(agg_calls)
        aggregate: Any = builtin if builtin is not None else SqlAggregateFunction(agg_calls, comp.ns)
        to_tuple = builtin_result(agg_calls) if builtin is not None else None
        single = len(key_codes) == 1
        if single:
            key_fn = value_function(key_codes[0].src, comp.ns)
        else:
            key_fn = row_function([c.src for c in key_codes], comp.ns)
        nkeys = len(key_codes)
        assigner: Any
        wall: Callable[[int], int]
        if spec.proctime:
            assigner, wall = spec.processing_time_assigner(), _identity
        else:
            assigner, wall = self._local(spec.assigner, rt_type)

        class Emit(ProcessWindowFunction):
            def process(self, key: Any, context: Any, elements: Any) -> Any:
                w = context.window()
                keyvals = (key,) if single else key
                start, end = wall(w.start), wall(w.end)
                for result in elements:
                    yield (*keyvals, start, end, w.end - 1, *(result if to_tuple is None else to_tuple(result)))

        win = stream.key_by(key_fn).window(assigner).aggregate(aggregate, Emit()).name(f"WindowAggregate({spec.kind})")
        wtype = SqlType("TIMESTAMP", False, 3)
        out_fields = [
            Field(k.name if isinstance(k, exp.Column) else f"$key{i}", c.type)
            for i, (k, c) in enumerate(zip(other_keys, key_codes, strict=True))
        ]
        out_fields += [
            Field("window_start", wtype),
            Field("window_end", wtype),
            Field("window_time", SqlType(rt_type.name, False, 3, rowtime=not spec.proctime)),
        ]
        out_fields += [Field(f"$agg{i}", c.result) for i, c in enumerate(agg_calls)]
        subs = {k.sql(): i for i, k in enumerate(other_keys)}
        subs.update({a: nkeys + 3 + i for a, i in seen.items()})
        rowtime = None if spec.proctime else nkeys + 2
        return self._having_and_select(node, Relation(win, out_fields), subs, rowtime=rowtime)

    def _agg_calls(self, node: exp.Select, comp: ExpressionCompiler) -> tuple[dict[str, int], list[Any]]:
        """The aggregate calls of SELECT and HAVING, in order of appearance (the same call once)."""
        calls: list[exp.AggFunc] = []
        seen: dict[str, int] = {}
        having = node.args.get("having")
        for e in [*node.expressions, *([having.this] if having is not None else [])]:
            for agg in e.find_all(exp.AggFunc):
                if agg.find_ancestor(exp.AggFunc) is not None:
                    raise fail(agg, "aggregates cannot be nested")
                if agg.sql() not in seen:
                    seen[agg.sql()] = len(calls)
                    calls.append(agg)
        return seen, [agg_call(a, comp) for a in calls]

    def _having_and_select(
        self, node: exp.Select, out: Relation, subs: dict[str, int], rowtime: int | None = None
    ) -> Relation:
        """HAVING and the SELECT list over an aggregation's output (keys, window columns, aggregates);
        a changelog's row kind is carried along."""
        out_fields = out.fields
        post = self.compiler(out_fields, substitutions=subs, grouped=True)
        having = node.args.get("having")
        if having is not None:
            out = Relation(
                out.stream.filter(post.predicate(having.this)).name("Having").with_input_parallelism(),
                out_fields,
                None,
                out.changelog,
            )
        named = []
        for i, e in enumerate(node.expressions):
            if isinstance(e, exp.Star):
                raise fail(e, "SELECT * is not allowed with GROUP BY", hint="list the grouped columns and aggregates")
            name = e.alias if isinstance(e, exp.Alias) else e.name if isinstance(e, exp.Column) else f"EXPR${i}"
            named.append((name, e.this if isinstance(e, exp.Alias) else e))
        codes = [post.compile(e) for _, e in named]
        fields = []
        for (name, _), code in zip(named, codes, strict=True):
            keep_rowtime = rowtime is not None and code.src == f"r[{rowtime}]"
            fields.append(Field(name, out_fields[rowtime].type if keep_rowtime and rowtime is not None else code.type))
        parts = [c.src for c in codes] + ([f"r[{len(out_fields)}]"] if out.changelog else [])
        stream = out.stream.map(row_function(parts, post.ns)).name("Calc").with_input_parallelism()
        return Relation(stream, fields, None, out.changelog)

    def group_aggregate(self, node: exp.Select, rel: Relation) -> Relation:
        """A non-windowed GROUP BY (or a global aggregate): a changelog of the per-key results."""
        group = node.args.get("group")
        keys = list(group.expressions) if group is not None else []
        in_fields = [Field(f.name, f.type.plain(), f.table) for f in rel.fields]
        comp = self.compiler(in_fields)
        stream = rel.stream
        where = node.args.get("where")
        if where is not None:
            stream = stream.filter(comp.predicate(where.this)).name("Where").with_input_parallelism()
        key_codes = [comp.compile(k) for k in keys]
        seen, agg_calls = self._agg_calls(node, comp)
        builtin = None if rel.changelog else builtin_aggregate(agg_calls)
        aggregate: Any
        if rel.changelog:
            aggregate = RetractingAggregate(agg_calls, comp.ns)
        else:
            aggregate = builtin if builtin is not None else SqlAggregateFunction(agg_calls, comp.ns)
        to_tuple = builtin_result(agg_calls) if builtin is not None else None
        single = len(key_codes) == 1
        key_fn = (
            value_function(key_codes[0].src, comp.ns) if single else row_function([c.src for c in key_codes], comp.ns)
        )
        process = GroupAggregate(aggregate, to_tuple, single, retracting=rel.changelog)
        changes = stream.key_by(key_fn).process(process).name("GroupAggregate")
        out_fields = [
            Field(k.name if isinstance(k, exp.Column) else f"$key{i}", c.type)
            for i, (k, c) in enumerate(zip(keys, key_codes, strict=True))
        ]
        out_fields += [Field(f"$agg{i}", c.result) for i, c in enumerate(agg_calls)]
        subs = {k.sql(): i for i, k in enumerate(keys)}
        subs.update({a: len(keys) + i for a, i in seen.items()})
        return self._having_and_select(node, Relation(changes, out_fields, None, True), subs)


def _rowtime_null(table: str, column: str) -> Callable[[], Any]:
    def fail_null() -> Any:
        raise SqlError(
            f"the time attribute '{column}' of table '{table}' is NULL in a row",
            hint=f"rows need a value for '{column}' (Flink fails the same way); filter or fix the input",
        )

    return fail_null


def _unique_names(named: list[tuple[str, exp.Expression]]) -> list[tuple[str, exp.Expression]]:
    """Output names made unique as Flink (Calcite) does: a repeated ``k`` becomes ``k0``, ``k1``, ..."""
    used: set[str] = set()
    out = []
    for name, e in named:
        unique, n = name, 0
        while unique.lower() in used:
            unique = f"{name}{n}"
            n += 1
        used.add(unique.lower())
        out.append((unique, e))
    return out


def _identity(ms: int) -> int:
    return ms


def relation_of(stream: DataStream, fields: list[Field], to_row: Callable[[Any], tuple[Any, ...]]) -> Relation:
    """A relation over a DataStream whose elements ``to_row`` turns into tuples."""
    return Relation(stream.map(to_row).name("FromDataStream").with_input_parallelism(), fields)


__all__ = ["WINDOW_COLUMNS", "Planner", "Relation", "relation_of", "watermark_strategy"]


def _chained_to_source(stream: DataStream) -> DataStream:
    """A table scan runs in its source's subtasks, as Flink's planner chains it: every operator between the source
    and ``stream`` (decoding, computed columns) takes the source's parallelism, so watermarks are generated per
    source split, not per subtask of a rebalanced stream."""
    t = stream.transformation
    while t.kind != "source" and t.inputs:
        t.follows_input = True
        t = t.inputs[0][0]
    return stream
