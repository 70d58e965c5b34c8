"""``StreamTableEnvironment``: Flink SQL on a :class:`~millstream.stream.environment.StreamExecutionEnvironment`.

``execute_sql(statement)`` runs one statement: ``CREATE TABLE``, ``CREATE [TEMPORARY] VIEW``,
``DROP TABLE|VIEW``, ``INSERT INTO`` (submits a job and returns at once; ``.wait()`` blocks), ``SELECT``
(runs it to the end; bounded sources), ``SHOW TABLES|VIEWS|FUNCTIONS``, ``DESCRIBE``, ``EXPLAIN``,
``SET 'key' = 'value'`` and ``RESET``. ``sql_query`` plans a query into a :class:`Table`;
``from_data_stream`` / ``to_data_stream`` / ``create_temporary_view`` connect SQL with DataStream code.

Everything here only builds DataStream operators (pure); the DataStream runtime runs them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlglot import exp

from ..stream.datastream import DataStream
from ..stream.environment import StreamExecutionEnvironment
from .catalog import Catalog, CatalogTable, CatalogView, parse_create_table
from .connectors import SINK_CONNECTORS, SOURCE_CONNECTORS, create_sink, takes_changelog, validate_table
from .errors import SqlValidationError
from .expressions import Field, fail
from .planner import Planner, Relation, relation_of, watermark_strategy
from .rank_planning import ranked_view_probe
from .row import Row, RowKind
from .scalar_functions import SCALAR_FUNCTIONS
from .schema import Schema
from .statements import _SET_START, FUNCTION_DDL, Statement, parse, script
from .table import Table, TableResult
from .types import STRING, SqlType, assignable
from .udf import as_function, load_function
from .values import from_python, to_python, zone

_OK = [Field("result", STRING)]


class StreamTableEnvironment:
    """PyFlink's ``StreamTableEnvironment`` over a millstream ``StreamExecutionEnvironment``."""

    def __init__(self, env: StreamExecutionEnvironment) -> None:
        self.env = env
        self.catalog = Catalog()
        self.config: dict[str, str] = {"table.local-time-zone": "UTC"}
        self.jobs: list[Any] = []

    @staticmethod
    def create(
        stream_execution_environment: StreamExecutionEnvironment | None = None, environment_settings: Any = None
    ) -> StreamTableEnvironment:
        return StreamTableEnvironment(
            stream_execution_environment or StreamExecutionEnvironment.get_execution_environment()
        )

    @property
    def time_zone(self) -> dt.tzinfo:
        return zone(self.config.get("table.local-time-zone", "UTC"))

    def _planner(self) -> Planner:
        return Planner(self.env, self.catalog, self.time_zone)

    def get_config(self) -> dict[str, str]:
        return self.config

    # -- statements ---------------------------------------------------------------------------------------
    def execute_sql(self, statement: str, line: int = 1) -> TableResult:
        """Run one SQL statement (see the module docs); ``line`` = where it starts in a script (errors).
        ``EXECUTE STATEMENT SET BEGIN INSERT ...; INSERT ...; END`` runs its inserts as one job."""
        if _SET_START.match(statement):
            sets = script(statement)
            if len(sets) != 1:
                raise SqlValidationError("expected one statement set", hint="pass one statement to execute_sql")
            return self.execute_statement(sets[0])
        return self.execute_statement(parse(statement, line))

    # -- Python functions (millstream.sql.udf) -------------------------------------------------------------
    def create_temporary_function(self, path: str, function: Any, result_type: Any = None) -> None:
        """Register a Python scalar function (a ``udf(...)`` object, or a callable with ``result_type``) for
        SQL under ``path``; a built-in of the same name still wins (use the system variant to shadow it)."""
        self.catalog.add_function(path, as_function(function, result_type), system=False)

    def create_temporary_system_function(self, name: str, function: Any, result_type: Any = None) -> None:
        """Register a Python scalar function that shadows a built-in of the same name."""
        self.catalog.add_function(name, as_function(function, result_type), system=True)

    def drop_temporary_function(self, path: str) -> bool:
        """Drop a function of :meth:`create_temporary_function`; whether it existed."""
        existed = path.upper() in self.catalog.functions and not self.catalog.functions[path.upper()][1]
        self.catalog.drop_function(path, system=False, if_exists=True)
        return existed

    def drop_temporary_system_function(self, name: str) -> bool:
        existed = name.upper() in self.catalog.functions and self.catalog.functions[name.upper()][1]
        self.catalog.drop_function(name, system=True, if_exists=True)
        return existed

    def _function_ddl(self, m: re.Match[str]) -> TableResult:
        """``CREATE TEMPORARY [SYSTEM] FUNCTION [IF NOT EXISTS] f AS 'module.attr' [LANGUAGE PYTHON]`` and
        ``DROP TEMPORARY [SYSTEM] FUNCTION [IF EXISTS] f``."""
        system = bool(m.group("system"))
        name = m.group("name").strip("`")
        if m.group("verb").upper() == "DROP":
            self.catalog.drop_function(name, system, bool(m.group("if_exists")))
            return TableResult(_OK, [(RowKind.INSERT, ("OK",))])
        if not m.group("temporary"):
            raise SqlValidationError(
                "only temporary functions can be created (there is no persistent catalog)",
                hint=f"CREATE TEMPORARY FUNCTION {name} AS '...' LANGUAGE PYTHON",
            )
        language = (m.group("language") or "PYTHON").upper()
        if language != "PYTHON":
            raise SqlValidationError(
                f"functions in LANGUAGE {language} are not supported", hint="write it in Python: LANGUAGE PYTHON"
            )
        if m.group("path") is None:
            raise SqlValidationError(
                f"CREATE FUNCTION {name} needs AS 'module.attribute'",
                hint=f"CREATE TEMPORARY FUNCTION {name} AS 'my_module.{name}' LANGUAGE PYTHON",
            )
        if m.group("if_not_exists") and name.upper() in self.catalog.functions:
            return TableResult(_OK, [(RowKind.INSERT, ("OK",))])
        self.catalog.add_function(name, load_function(m.group("path")), system)
        return TableResult(_OK, [(RowKind.INSERT, ("OK",))])

    def create_statement_set(self) -> StatementSet:
        """A set of inserts submitted as one job (``add_insert_sql``, ``add_insert``, ``execute``)."""
        return StatementSet(self)

    def execute_statement(self, st: Statement) -> TableResult:
        if st.command == "STATEMENT SET":
            planned = []
            for insert in st.inserts:
                assert isinstance(insert.tree, exp.Insert)
                planned.append(self._plan_insert(insert.tree))
            return self._submit(self._write(planned))
        if st.command is not None:
            return self._command(st)
        tree = st.tree
        assert tree is not None
        if isinstance(tree, exp.Create):
            return self._create(tree, st.text)
        if isinstance(tree, exp.Drop):
            kind = (tree.args.get("kind") or "TABLE").upper()
            if kind not in ("TABLE", "VIEW"):
                raise fail(tree, f"DROP {kind} is not supported", hint="DROP TABLE t or DROP VIEW v")
            target = tree.this if tree.this is not None else (tree.args.get("tables") or [None])[0]
            self.catalog.drop(target.name, kind, bool(tree.args.get("exists")), tree)
            return TableResult(_OK, [(RowKind.INSERT, ("OK",))])
        if isinstance(tree, exp.Insert):
            return self._insert(tree, st.text)
        if isinstance(tree, exp.Select | exp.Union | exp.Subquery):
            return self._query_table(tree, st.text).execute()
        if isinstance(tree, exp.Describe):
            return self._describe(tree.this.name, tree)
        raise fail(
            tree,
            f"{type(tree).__name__.upper()} statements are not supported",
            hint="supported: CREATE TABLE/VIEW, DROP, INSERT INTO, SELECT, SHOW, DESCRIBE, EXPLAIN, SET, RESET",
        )

    def _create(self, tree: exp.Create, text: str) -> TableResult:
        kind = (tree.args.get("kind") or "").upper()
        exists = bool(tree.args.get("exists"))
        if kind == "TABLE":
            table = parse_create_table(tree)
            connector = table.options.get("connector")
            if connector not in {*SOURCE_CONNECTORS, *SINK_CONNECTORS}:
                raise fail(
                    tree,
                    f"table '{table.name}' has "
                    + (f"unknown connector '{connector}'" if connector else "no 'connector' option"),
                    hint="use one of: " + ", ".join(sorted({*SOURCE_CONNECTORS, *SINK_CONNECTORS})),
                )
            self._planner().table_fields(table)  # types computed columns, checks the watermark column
            validate_table(table)
            self.catalog.add_table(table, exists, tree)
        elif kind == "VIEW":
            name = tree.this.name
            if self.catalog.exists(name) and exists:
                return TableResult(_OK, [(RowKind.INSERT, ("OK",))])
            query = tree.expression
            fields = self._planner().query(ranked_view_probe(query)).fields
            self.catalog.add_view(CatalogView(name, query=query, fields=fields), tree)
        else:
            raise fail(tree, f"CREATE {kind} is not supported yet", hint="CREATE TABLE or CREATE TEMPORARY VIEW")
        return TableResult(_OK, [(RowKind.INSERT, ("OK",))])

    def _insert(self, tree: exp.Insert, text: str) -> TableResult:
        return self._submit(self._write([self._plan_insert(tree)]))

    def _write(self, planned: list[tuple[CatalogTable, DataStream, bool]]) -> str:
        """Attach the sinks (one per table: inserts into the same table are unioned into it); the job name."""
        by_table: dict[str, list[DataStream]] = {}
        tables: dict[str, CatalogTable] = {}
        changelog: dict[str, bool] = {}
        for table, stream, is_changelog in planned:
            if by_table.get(table.name) and changelog[table.name] != is_changelog:
                raise SqlValidationError(
                    f"inserts into '{table.name}' mix a changelog with append-only rows",
                    hint="split them into two jobs",
                )
            by_table.setdefault(table.name, []).append(stream)
            tables[table.name] = table
            changelog[table.name] = is_changelog
        for name, streams in by_table.items():
            stream = streams[0] if len(streams) == 1 else streams[0].union(*streams[1:])
            create_sink(stream, tables[name], tables[name].physical, self.time_zone, changelog[name])
        return "insert-into_" + "_".join(by_table)

    def _submit(self, job_name: str) -> TableResult:
        client = self.env.execute_async(job_name)
        self.jobs.append(client)
        return TableResult([Field("job", STRING)], [], self.time_zone, client)

    def _plan_insert(self, tree: exp.Insert) -> tuple[CatalogTable, DataStream, bool]:
        """Plan the insert's query: the sink table and the stream to write to it (validated)."""
        target = tree.this
        columns = None
        if isinstance(target, exp.Schema):
            columns = [c.name for c in target.expressions]
            target = target.this
        if tree.args.get("overwrite"):
            raise fail(tree, "INSERT OVERWRITE is not supported in streaming", hint="use INSERT INTO")
        entry = self.catalog.lookup(target.name, target)
        if not isinstance(entry, CatalogTable):
            raise fail(target, f"'{target.name}' is a view; INSERT INTO needs a table")
        rel = self._planner().query(tree.expression)
        return entry, self._sink(rel, entry, columns, tree), rel.changelog

    def _sink(self, rel: Relation, table: CatalogTable, columns: list[str] | None, node: exp.Expression) -> DataStream:
        """The query's rows checked against and converted to the table's columns."""
        if rel.changelog and not takes_changelog(table):
            raise fail(
                node,
                f"table '{table.name}' (connector '{table.options.get('connector')}') takes only inserts, "
                "but the query produces updates (a non-windowed aggregation)",
                hint="write it to an upsert table (connector 'upsert-kafka' or 'jdbc' with a PRIMARY KEY, or "
                "'millstream' with a PRIMARY KEY), a 'print' or 'blackhole' table, or aggregate per window",
            )
        if rel.changelog and columns is not None:
            raise fail(node, "INSERT INTO t (columns) of a changelog is not supported yet", hint="drop the column list")
        if table.metadata:
            raise fail(
                node,
                f"table '{table.name}' has METADATA columns; writing metadata is not supported yet",
                hint="write through a table without METADATA columns",
            )
        sink_fields = table.physical
        if any(c.computed is not None for c in table.columns):
            raise fail(
                node,
                f"table '{table.name}' has computed columns and cannot be written",
                hint="drop them from the sink table",
            )
        if columns is not None:
            unknown = [c for c in columns if c not in [f.name for f in sink_fields]]
            if unknown:
                raise fail(node, f"table '{table.name}' has no column '{unknown[0]}'")
        want = [f for f in sink_fields if columns is None or f.name in columns]
        if len(rel.fields) != len(want):
            raise fail(
                node,
                f"the query gives {len(rel.fields)} columns but table '{table.name}' takes {len(want)} "
                f"({', '.join(f.name for f in want)})",
                hint="select exactly the sink's columns, in its order",
            )
        for q, s in zip(rel.fields, want, strict=True):
            if not assignable(q.type, s.type):
                raise fail(
                    node,
                    f"column '{s.name}' of table '{table.name}' is {s.type} "
                    f"but the query gives {q.type.plain()} ('{q.name}')",
                    hint=f"CAST it: CAST({q.name} AS {s.type.name})",
                )
        stream = rel.stream
        if columns is not None:
            idx = {f.name: i for i, f in enumerate(want)}
            order = [idx.get(f.name) for f in sink_fields]
            stream = stream.map(lambda r: tuple(None if i is None else r[i] for i in order))
        conv: list[type[float] | None] = []
        for q, s in zip(rel.fields, want, strict=True):
            if s.type.name in ("DOUBLE", "FLOAT") and q.type.name != s.type.name:
                conv.append(float)
            else:
                conv.append(None)
        if rel.changelog:
            conv.append(None)  # the row kind
        if any(conv):
            stream = stream.map(
                lambda r: tuple(v if c is None or v is None else c(v) for v, c in zip(r, conv, strict=True))
            )
        return stream

    # -- client commands ----------------------------------------------------------------------------------
    def _command(self, st: Statement) -> TableResult:
        cmd, arg = st.command, st.argument.strip()
        if cmd == "FUNCTION":
            m = FUNCTION_DDL.match(arg)
            assert m is not None
            return self._function_ddl(m)
        if cmd == "SHOW":
            what = arg.upper()
            if what in ("TABLES", "VIEWS"):
                names = sorted(self.catalog.views) if what == "VIEWS" else self.catalog.names()
                name = "table name" if what == "TABLES" else "view name"
                return TableResult([Field(name, STRING)], [(RowKind.INSERT, (n,)) for n in names])
            if what in ("FUNCTIONS", "USER FUNCTIONS"):
                users = [k.lower() for k in self.catalog.functions]
                builtin = [] if what == "USER FUNCTIONS" else [*SCALAR_FUNCTIONS, "AVG", "COUNT", "MAX", "MIN", "SUM"]
                names = sorted(set(builtin) | set(users))
                return TableResult([Field("function name", STRING)], [(RowKind.INSERT, (n,)) for n in names])
            raise SqlValidationError(
                f"SHOW {arg} is not supported", hint="SHOW TABLES, SHOW VIEWS or SHOW FUNCTIONS", line=st.line, column=1
            )
        if cmd == "DESCRIBE":
            return self._describe(arg.strip("`"), None)
        if cmd == "SET":
            if not arg:
                return TableResult(
                    [Field("key", STRING), Field("value", STRING)],
                    [(RowKind.INSERT, kv) for kv in sorted(self.config.items())],
                )
            key, _, value = arg.partition("=")
            key, value = key.strip().strip("'\""), value.strip().strip("'\"")
            if key == "table.local-time-zone":
                try:
                    zone(value)
                except Exception:
                    raise SqlValidationError(
                        f"unknown time zone {value!r}",
                        hint="e.g. 'UTC', 'Europe/Berlin' or '+02:00'",
                        line=st.line,
                        column=1,
                    ) from None
            if key.startswith("sql-client."):
                value = _client_option(key, value, st.line)
            self.config[key] = value
            return TableResult(_OK, [(RowKind.INSERT, ("OK",))])
        if cmd == "RESET":
            key = arg.strip("'\"")
            if key:
                self.config.pop(key, None)
            else:
                self.config.clear()
            self.config.setdefault("table.local-time-zone", "UTC")
            return TableResult(_OK, [(RowKind.INSERT, ("OK",))])
        if cmd == "EXPLAIN":
            inner = parse(arg, st.line)
            assert inner.tree is not None
            tree = inner.tree.expression if isinstance(inner.tree, exp.Insert) else inner.tree
            rel = self._planner().query(tree)
            return TableResult([Field("plan", STRING)], [(RowKind.INSERT, (_explain(rel),))])
        raise SqlValidationError(
            f"{cmd} is not supported", hint="millstream has one catalog and database", line=st.line, column=1
        )

    def _describe(self, name: str, node: exp.Expression | None) -> TableResult:
        entry = self.catalog.lookup(name, node)
        cols = [
            Field("name", STRING),
            Field("type", STRING),
            Field("null", SqlType("BOOLEAN")),
            Field("key", STRING),
            Field("extras", STRING),
            Field("watermark", STRING),
        ]
        rows = []
        if isinstance(entry, CatalogTable):
            fields = self._planner().table_fields(entry)
            for c, f in zip(entry.columns, fields, strict=True):
                t = f.type
                type_text = str(SqlType(t.name, True, t.precision, t.scale, t.rowtime, proctime=t.proctime))
                extras = None
                if c.computed is not None:
                    extras = f"AS {c.computed.sql()}"
                elif c.metadata is not None:
                    extras = f"METADATA FROM '{c.metadata}'"
                wm = entry.watermark.text if entry.watermark and entry.watermark.column == c.name else None
                key = f"PRI({', '.join(entry.primary_key)})" if c.name in entry.primary_key else None
                rows.append((RowKind.INSERT, (c.name, type_text, t.nullable, key, extras, wm)))
        else:
            for f in entry.fields:
                rows.append(
                    (
                        RowKind.INSERT,
                        (
                            f.name,
                            str(SqlType(f.type.name, True, f.type.precision, f.type.scale, f.type.rowtime)),
                            f.type.nullable,
                            None,
                            None,
                            None,
                        ),
                    )
                )
        return TableResult(cols, rows)

    # -- Table API ----------------------------------------------------------------------------------------
    def _query_table(self, tree: exp.Expression, text: str) -> Table:
        rel = self._planner().query(tree)  # validates now, as Flink does
        return Table(self, lambda: self._planner().query(tree), rel.fields, text, rel.changelog)

    def sql_query_tree(self, tree: exp.Expression, text: str) -> Table:
        """:meth:`sql_query` of a parsed query (a statement of :func:`~millstream.sql.statements.script`)."""
        return self._query_table(tree, text)

    def sql_query(self, query: str) -> Table:
        """Plan a ``SELECT`` (or ``UNION ALL``) into a :class:`Table`."""
        st = parse(query)
        if st.tree is None or not isinstance(st.tree, exp.Select | exp.Union | exp.Subquery):
            raise SqlValidationError(
                "sql_query takes a SELECT", hint="use execute_sql for other statements", line=1, column=1
            )
        return self._query_table(st.tree, query)

    def create_temporary_view(
        self, view_path: str, table_or_stream: Table | DataStream, schema: Schema | None = None
    ) -> None:
        """Register a :class:`Table` or a DataStream (with a :class:`Schema`) under a name usable in SQL."""
        table = (
            table_or_stream if isinstance(table_or_stream, Table) else self.from_data_stream(table_or_stream, schema)
        )
        if self.catalog.exists(view_path):
            raise SqlValidationError(f"'{view_path}' already exists", hint="drop it first or pick another name")
        self.catalog.add_view(CatalogView(view_path, plan=table.relation, fields=table.fields))

    def create_temporary_table(self, path: str, ddl: str) -> None:
        raise SqlValidationError(
            "create_temporary_table(descriptor) is not supported", hint="use execute_sql('CREATE TABLE ...')"
        )

    def from_data_stream(self, data_stream: DataStream, schema: Schema | None = None) -> Table:
        """A table over a DataStream; ``schema`` names and types its columns (required: millstream streams
        are untyped). With a watermark in the schema, event time comes from that column."""
        if schema is None:
            raise SqlValidationError(
                "from_data_stream needs a Schema (DataStream elements carry no types)",
                hint="Schema.new_builder().column('page', 'STRING').column('ts', 'TIMESTAMP_LTZ(3)').build()",
            )
        names = [f.name for f in schema.fields]
        types = [f.type for f in schema.fields]
        fields = list(schema.fields)
        wm = schema.watermark
        if wm is not None:
            fields = [
                Field(
                    f.name,
                    SqlType(f.type.name, f.type.nullable, f.type.precision, f.type.scale, rowtime=f.name == wm.column),
                )
                for f in fields
            ]

        def to_row(value: Any) -> tuple[Any, ...]:
            if isinstance(value, dict):
                return tuple(from_python(value.get(n), t) for n, t in zip(names, types, strict=True))
            return tuple(from_python(v, t) for v, t in zip(value, types, strict=True))

        def plan() -> Relation:
            rel = relation_of(data_stream, fields, to_row)
            if wm is not None:
                col = names.index(wm.column)
                rel.stream = rel.stream.assign_timestamps_and_watermarks(watermark_strategy(wm.delay_ms, col))
            return rel

        return Table(self, plan, fields, "from_data_stream")

    def to_data_stream(self, table: Table) -> DataStream:
        """The table's rows as a DataStream of :class:`Row` (Python values); insert-only tables only."""
        if table.changelog:
            raise SqlValidationError(
                "the table has updates (a non-windowed aggregation), which to_data_stream cannot express",
                hint="use to_changelog_stream(table): rows carry their kind (row.get_row_kind())",
            )
        return self.to_changelog_stream(table)

    def to_changelog_stream(self, table: Table) -> DataStream:
        """The table's changes as a DataStream of :class:`Row` whose ``get_row_kind()`` is ``+I``, ``-U``,
        ``+U`` or ``-D``."""
        rel = table.relation()
        if rel.changelog:
            names = [f.name for f in table.fields]
            types = [f.type for f in table.fields]
            tz = self.time_zone
            return rel.stream.map(
                lambda r: Row([to_python(v, t, tz) for v, t in zip(r[:-1], types, strict=True)], names, r[-1])
            ).name("ToChangelogStream")
        names = [f.name for f in table.fields]
        types = [f.type for f in table.fields]
        tz = self.time_zone
        return rel.stream.map(lambda r: Row([to_python(v, t, tz) for v, t in zip(r, types, strict=True)], names)).name(
            "ToDataStream"
        )

    def insert_into(self, table_name: str, table: Table) -> TableResult:
        return self._submit(self._write([self._plan_insert_table(table_name, table)]))

    def _plan_insert_table(self, table_name: str, table: Table) -> tuple[CatalogTable, DataStream, bool]:
        entry = self.catalog.lookup(table_name)
        if not isinstance(entry, CatalogTable):
            raise SqlValidationError(f"'{table_name}' is a view; inserting needs a table")
        rel = table.relation()
        return entry, self._sink(rel, entry, None, exp.Table(this=exp.to_identifier(table_name))), rel.changelog

    def list_tables(self) -> list[str]:
        return self.catalog.names()


class StatementSet:
    """Inserts that run as one job (Flink's ``StatementSet``); inserts into the same table share its sink."""

    def __init__(self, tenv: StreamTableEnvironment) -> None:
        self._tenv = tenv
        self._pending: list[tuple[str, Any]] = []

    def add_insert_sql(self, statement: str) -> StatementSet:
        st = parse(statement)
        if not isinstance(st.tree, exp.Insert):
            raise SqlValidationError("add_insert_sql takes an INSERT INTO statement", line=1, column=1)
        self._pending.append(("sql", st.tree))
        return self

    def add_insert(self, table_name: str, table: Table) -> StatementSet:
        self._pending.append((table_name, table))
        return self

    def execute(self) -> TableResult:
        if not self._pending:
            raise SqlValidationError("the statement set is empty", hint="add inserts with add_insert_sql(...)")
        planned = [
            self._tenv._plan_insert(item) if kind == "sql" else self._tenv._plan_insert_table(kind, item)
            for kind, item in self._pending
        ]
        self._pending = []
        return self._tenv._submit(self._tenv._write(planned))


#: the SQL client's options (``millstream sql``) and the values each takes (``None``: a positive integer)
CLIENT_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "sql-client.execution.result-mode": ("tableau", "table", "changelog"),
    "sql-client.display.max-column-width": None,
    "sql-client.execution.max-table-result.rows": None,
}


def _client_option(key: str, value: str, line: int) -> str:
    """``value`` of the SQL client option ``key``, checked (``result-mode`` lower-cased, as Flink's enum
    takes any case); an unknown ``sql-client.*`` key or a bad value is an error naming what is taken."""
    if key not in CLIENT_OPTIONS:
        raise SqlValidationError(
            f"unknown SQL client option '{key}'",
            hint="supported: " + ", ".join(f"'{k}'" for k in CLIENT_OPTIONS),
            line=line,
            column=1,
        )
    choices = CLIENT_OPTIONS[key]
    if choices is not None:
        if value.lower() not in choices:
            raise SqlValidationError(
                f"'{key}' cannot be '{value}'",
                hint="one of " + ", ".join(f"'{c}'" for c in choices),
                line=line,
                column=1,
            )
        return value.lower()
    if not value.isdigit() or int(value) < 1:
        raise SqlValidationError(
            f"'{key}' must be a positive integer, not '{value}'", hint=f"SET '{key}' = '30'", line=line, column=1
        )
    return value


def _explain(rel: Relation) -> str:
    lines: list[str] = []

    def walk(t: Any, depth: int) -> None:
        lines.append("  " * depth + f"{t.name}")
        for up, _ in t.inputs:
            walk(up, depth + 1)

    walk(rel.stream.transformation, 0)
    return "== Physical Plan ==\n" + "\n".join(lines)


__all__ = ["StatementSet", "StreamTableEnvironment"]
