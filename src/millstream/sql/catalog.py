"""The catalog of a :class:`~millstream.sql.environment.StreamTableEnvironment`: tables created with
``CREATE TABLE`` (a schema, an optional watermark, connector options) and temporary views (a query, or a
DataStream registered with ``create_temporary_view``). In memory, per environment, as Flink's default
in-memory catalog; names are case-sensitive as in Flink."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from .dialect import MetadataColumnConstraint
from .errors import SqlValidationError
from .expressions import Field, fail, interval_ms
from .types import SqlType, from_sqlglot


@dataclass(frozen=True)
class Column:
    """A column of a table: physical (read from the connector) or computed (``name AS expr``)."""

    name: str
    type: SqlType | None
    computed: exp.Expression | None = None
    metadata: str | None = None
    """The connector metadata key the column reads (``METADATA FROM 'timestamp'``), if any."""


@dataclass(frozen=True)
class WatermarkSpec:
    """``WATERMARK FOR column AS column - INTERVAL 'd' unit``: ``delay_ms`` = d (0 for ``AS column``)."""

    column: str
    delay_ms: int
    text: str


@dataclass
class CatalogTable:
    """A table of ``CREATE TABLE``; ``options`` are its ``WITH (...)`` pairs."""

    name: str
    columns: list[Column]
    watermark: WatermarkSpec | None
    primary_key: list[str]
    options: dict[str, str]

    @property
    def physical(self) -> list[Field]:
        """The columns the format reads (neither computed nor metadata)."""
        return [
            Field(c.name, c.type)
            for c in self.columns
            if c.computed is None and c.metadata is None and c.type is not None
        ]

    @property
    def metadata(self) -> list[Column]:
        return [c for c in self.columns if c.metadata is not None]

    @property
    def source_fields(self) -> list[Field]:
        """What the connector produces per row: the physical columns, then the metadata columns."""
        return self.physical + [Field(c.name, c.type) for c in self.metadata if c.type is not None]


@dataclass
class CatalogView:
    """A temporary view: a query (``CREATE TEMPORARY VIEW v AS SELECT ...``) planned anew at each use, or a
    ``plan()`` callable returning a relation (views over DataStreams and ``Table`` objects)."""

    name: str
    query: exp.Expression | None = None
    plan: Callable[[], Any] | None = None
    fields: list[Field] = field(default_factory=list)


def parse_create_table(node: exp.Create) -> CatalogTable:
    """A :class:`CatalogTable` of a parsed ``CREATE TABLE``; computed columns' types are filled in later by
    the planner (they depend on expressions)."""
    schema = node.this
    if not isinstance(schema, exp.Schema):
        raise fail(node, "CREATE TABLE needs a column list", hint="CREATE TABLE t (a INT, ...) WITH (...)")
    if node.expression is not None:
        raise fail(node, "CREATE TABLE ... AS SELECT is not supported yet", hint="CREATE TABLE, then INSERT INTO")
    name = schema.this.name
    columns: list[Column] = []
    watermark: WatermarkSpec | None = None
    pk: list[str] = []
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            computed = None
            metadata = None
            not_null = False
            for cons in item.args.get("constraints") or []:
                kind = cons.args.get("kind")
                if isinstance(kind, MetadataColumnConstraint):
                    metadata = kind.this.name if kind.this is not None else item.name
                elif isinstance(kind, exp.ComputedColumnConstraint):
                    computed = kind.this
                elif isinstance(kind, exp.NotNullColumnConstraint):
                    not_null = not kind.args.get("allow_null")
                elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
                    pk.append(item.name)
                else:
                    raise fail(
                        cons,
                        f"column constraint {cons.sql()} is not supported",
                        hint="use NOT NULL or PRIMARY KEY ... NOT ENFORCED",
                    )
            kind_t = item.args.get("kind")
            if computed is None and kind_t is None:
                raise fail(item, f"column '{item.name}' needs a type", hint=f"e.g. {item.name} INT")
            t = from_sqlglot(kind_t, nullable=not not_null) if kind_t is not None else None
            columns.append(Column(item.name, t, computed, metadata))
        elif isinstance(item, exp.WatermarkColumnConstraint):
            watermark = _watermark(item)
        elif isinstance(item, exp.PrimaryKey):
            pk = [e.name for e in item.expressions]
        else:
            raise fail(item, f"{item.sql()} is not supported in CREATE TABLE")
    names = [c.name for c in columns]
    for n in names:
        if names.count(n) > 1:
            raise fail(node, f"column '{n}' is defined twice in table '{name}'")
    if watermark is not None and watermark.column not in names:
        raise fail(
            node, f"the watermark is on unknown column '{watermark.column}'", hint=f"columns are: {', '.join(names)}"
        )
    for k in pk:
        if k not in names:
            raise fail(node, f"the primary key names unknown column '{k}'")
    return CatalogTable(name, columns, watermark, pk, _options(node))


def _watermark(item: exp.WatermarkColumnConstraint) -> WatermarkSpec:
    col = item.this.name
    e = item.expression
    if isinstance(e, exp.Column) and e.name == col:
        return WatermarkSpec(col, 0, e.sql())
    if isinstance(e, exp.Sub) and isinstance(e.this, exp.Column) and e.this.name == col:
        return WatermarkSpec(col, interval_ms(e.expression), e.sql())
    raise fail(
        item,
        f"watermark expression {e.sql()} is not supported",
        hint=f"write WATERMARK FOR {col} AS {col} - INTERVAL '5' SECOND (bounded out-of-orderness) or AS {col}",
    )


def _options(node: exp.Create) -> dict[str, str]:
    props = node.args.get("properties")
    out: dict[str, str] = {}
    if props is None:
        return out
    for p in props.expressions:
        if not isinstance(p, exp.Property):
            raise fail(p, f"{p.sql()} is not a table option", hint="WITH ('connector' = '...', 'key' = 'value')")
        key = p.this.name if isinstance(p.this, exp.Expression) else str(p.this)
        value = p.args.get("value")
        out[key] = value.name if isinstance(value, exp.Expression) else str(value)
    return out


class Catalog:
    """Tables and temporary views by name."""

    def __init__(self) -> None:
        self.tables: dict[str, CatalogTable] = {}
        self.views: dict[str, CatalogView] = {}
        # user functions by upper-case name: (function, system?) — a system one shadows a built-in
        self.functions: dict[str, tuple[Any, bool]] = {}

    def add_function(self, name: str, fn: Any, system: bool, if_not_exists: bool = False) -> None:
        """Register a Python scalar function (:mod:`millstream.sql.udf`) under ``name`` (case-insensitive)."""
        key = name.upper()
        if key in self.functions:
            if if_not_exists:
                return
            raise _error(None, f"function '{name}' already exists", "drop it first (DROP TEMPORARY FUNCTION)")
        self.functions[key] = (fn, system)

    def drop_function(self, name: str, system: bool, if_exists: bool = False) -> None:
        key = name.upper()
        entry = self.functions.get(key)
        if entry is None or entry[1] != system:
            if if_exists:
                return
            kind = "temporary system function" if system else "temporary function"
            raise _error(None, f"{kind} '{name}' does not exist", "SHOW USER FUNCTIONS lists them")
        del self.functions[key]

    def names(self) -> list[str]:
        return sorted([*self.tables, *self.views])

    def exists(self, name: str) -> bool:
        return name in self.tables or name in self.views

    def add_table(self, table: CatalogTable, if_not_exists: bool = False, node: exp.Expression | None = None) -> None:
        if self.exists(table.name):
            if if_not_exists:
                return
            raise _error(
                node, f"table '{table.name}' already exists", "DROP it first or write CREATE TABLE IF NOT EXISTS"
            )
        self.tables[table.name] = table

    def add_view(self, view: CatalogView, node: exp.Expression | None = None) -> None:
        if view.name in self.tables:
            raise _error(node, f"a table named '{view.name}' already exists", "pick another view name")
        self.views[view.name] = view

    def drop(self, name: str, kind: str, if_exists: bool, node: exp.Expression | None = None) -> None:
        store: Mapping[str, Any] = self.views if kind == "VIEW" else self.tables
        if name not in store:
            if if_exists:
                return
            raise _error(node, f"{kind.lower()} '{name}' does not exist", f"known: {', '.join(self.names()) or 'none'}")
        del store[name]  # type: ignore[attr-defined]

    def lookup(self, name: str, node: exp.Expression | None = None) -> CatalogTable | CatalogView:
        if name in self.views:
            return self.views[name]
        if name in self.tables:
            return self.tables[name]
        raise _error(
            node,
            f"unknown table '{name}'",
            f"create it with CREATE TABLE {name} (...) WITH (...); known: {', '.join(self.names()) or 'none'}",
        )


def _error(node: exp.Expression | None, message: str, hint: str) -> SqlValidationError:
    if node is None:
        return SqlValidationError(message, hint=hint)
    return fail(node, message, hint)


__all__ = ["Catalog", "CatalogTable", "CatalogView", "Column", "WatermarkSpec", "parse_create_table"]
