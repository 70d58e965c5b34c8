"""Plans a lateral join with a Python table function (:mod:`.udtf`), Flink's *Correlate*:

- ``FROM t, LATERAL TABLE(fn(args)) [AS T(a, b)]``, ``[INNER|CROSS] JOIN LATERAL TABLE(...) [ON TRUE | ON cond]``:
  each input row joined with every row ``fn`` yields for it (none: the input row is dropped); an ``ON`` condition
  other than ``TRUE`` filters the joined rows;
- ``LEFT JOIN LATERAL TABLE(...) AS T(a, b) ON TRUE``: an input row for which ``fn`` yields nothing is kept once,
  padded with NULLs (Flink accepts only ``ON TRUE`` here, and so does this).

The output columns are the input's, then the function's (named by the alias list, else ``f0``, ``f1``, ...), qualified
by the alias (``T.a``). The function runs in the input's subtasks (no exchange), so it scales with its input's
parallelism. The input may be a changelog: every joined row keeps its input row's kind, as in Flink. Time
attributes of the input stay time attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .expressions import Field, _func_args, fail, row_function
from .udtf import TableInvoker, UserDefinedTableFunction

if TYPE_CHECKING:
    from .planner import Planner, Relation


class Correlate:
    """The flat-map of a lateral join: ``args(row)`` → the function's rows → joined rows (padded when ``left``
    and the function yields nothing). ``width`` is the input's column count; a changelog row's kind (the element
    after its columns) is kept on every joined row."""

    def __init__(self, invoker: TableInvoker, args: Any, width: int, n_out: int, left: bool, changelog: bool) -> None:
        self.invoker = invoker
        self.args = args
        self.width = width
        self.n_out = n_out
        self.left = left
        self.changelog = changelog

    def __call__(self, row: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        produced = self.invoker(*self.args(row))
        if not produced and self.left:
            produced = [(None,) * self.n_out]
        cols, kind = row[: self.width], row[self.width :]
        return [(*cols, *out, *kind) for out in produced]


def is_lateral(item: exp.Expression) -> bool:
    return isinstance(item, exp.Lateral)


def plan_lateral(planner: Planner, rel: Relation, join: exp.Join) -> Relation:
    """``rel`` joined with the table function call of ``join`` (a ``Join`` whose ``this`` is a ``Lateral``)."""
    from .planner import Relation

    lateral = join.this
    side = (join.side or "").upper()
    kind = (join.kind or "").upper()
    if side not in ("", "LEFT") or kind not in ("", "INNER", "CROSS"):
        raise fail(
            join,
            f"{' '.join(p for p in (side, kind) if p)} JOIN LATERAL TABLE is not supported",
            hint="write FROM t, LATERAL TABLE(fn(col)) AS T(a) or FROM t LEFT JOIN LATERAL TABLE(fn(col)) AS T(a) "
            "ON TRUE",
        )
    call = lateral.this.this if isinstance(lateral.this, exp.TableFromRows) else None
    if not isinstance(call, exp.Func):
        raise fail(lateral, f"{lateral.sql()} is not a table function call", hint="LATERAL TABLE(fn(col)) AS T(a)")
    name = (call.name if isinstance(call, exp.Anonymous) else call.sql_name()).upper()
    entry = planner.catalog.functions.get(name)
    if entry is None or not isinstance(entry[0], UserDefinedTableFunction):
        known = sorted(k for k, (f, _) in planner.catalog.functions.items() if isinstance(f, UserDefinedTableFunction))
        raise fail(
            call,
            f"{name} is not a table function" if entry is not None else f"unknown table function {name}",
            hint="register a @udtf(result_types=[...]) function with create_temporary_function or CREATE TEMPORARY "
            "FUNCTION ... LANGUAGE PYTHON" + (f"; your table functions: {', '.join(known)}" if known else ""),
        )
    fn: UserDefinedTableFunction = entry[0]
    on = join.args.get("on")
    condition = None if on is None or (isinstance(on, exp.Boolean) and on.this is True) else on
    left = side == "LEFT"
    if left and condition is not None:
        raise fail(
            condition,
            "LEFT JOIN LATERAL TABLE needs ON TRUE (Flink accepts no other condition there)",
            hint="write ON TRUE and filter in WHERE",
        )
    if left and on is None:
        raise fail(join, "LEFT JOIN LATERAL TABLE needs ON TRUE", hint="append ON TRUE")
    alias = lateral.args.get("alias")
    names = [c.name for c in alias.columns] if alias is not None and alias.columns else []
    n_out = len(fn.result_types)
    if names and len(names) != n_out:
        raise fail(
            alias,
            f"{name} returns {n_out} column(s), the alias names {len(names)}",
            hint=f"name each of its columns: AS T({', '.join(f'c{i}' for i in range(n_out))})",
        )
    names = names or [f"f{i}" for i in range(n_out)]
    table = alias.name if alias is not None and alias.name else None
    comp = planner.compiler([Field(f.name, f.type.plain(), f.table) for f in rel.fields])
    # a name sqlglot knows (REPEAT, SPLIT) parses into its own node with named arguments
    arg_nodes = list(call.expressions) if isinstance(call, exp.Anonymous) else _func_args(call)  # type: ignore[arg-type]
    args = [comp.compile(a) for a in arg_nodes]
    for a, node in zip(args, arg_nodes, strict=True):
        if a.type.is_time:
            raise fail(
                node,
                f"{name}: a timestamp argument to a Python function is not supported yet",
                hint="pass epoch milliseconds (UNIX_TIMESTAMP(CAST(ts AS STRING)) * 1000) or a formatted string",
            )
    arg_fn = row_function([a.src for a in args], comp.ns)
    correlate = Correlate(TableInvoker(fn, name), arg_fn, len(rel.fields), n_out, left, rel.changelog)
    label = f"Correlate({name}{', LEFT' if left else ''})"
    stream = rel.stream.flat_map(correlate).name(label).with_input_parallelism()
    fields = [
        *rel.fields,
        *(Field(n, t.with_nullable(True), table) for n, t in zip(names, fn.result_types, strict=True)),
    ]
    out = Relation(stream, fields, None, rel.changelog)
    if condition is not None:
        plain = planner.compiler([Field(f.name, f.type.plain(), f.table) for f in fields])
        stream = out.stream.filter(plain.predicate(condition)).name("Where").with_input_parallelism()
        out = Relation(stream, fields, None, rel.changelog)
    return out


__all__ = ["Correlate", "is_lateral", "plan_lateral"]
