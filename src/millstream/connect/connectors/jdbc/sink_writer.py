"""Turning sink records into rows and writing them to the database (the database half of the JDBC sink).

Records → rows (:class:`RowMapper`), following Confluent's ``pk.mode``:

``none``
    no key columns; every value field is a column (only ``insert.mode=insert`` makes sense).
``kafka``
    key columns ``pk.fields`` (default ``__connect_topic,__connect_partition,__connect_offset``) hold the
    record's topic, partition and offset.
``record_key``
    a primitive key goes into the one column named by ``pk.fields``; a struct/map key gives the key columns
    ``pk.fields`` (default: all its fields).
``record_value``
    the key columns are the value fields ``pk.fields`` (default: all of them).

Values may carry a Connect schema (JsonConverter ``schemas.enable=true``) or be plain dicts, whose column
types are inferred from the values. A tombstone (``value=None``) becomes a ``DELETE`` by key when
``delete.enabled=true`` and is skipped otherwise.

Rows → SQL (:class:`TableWriter`): a batch is written in **one transaction**, in record order. Consecutive
rows for the same table, operation and column set form a run (at most ``batch.size`` rows). Insert runs of 16
rows or more are loaded with ``COPY``; upsert runs are collapsed to the last write per key, copied into a
temporary staging table and merged with one ``INSERT .. SELECT .. ON CONFLICT DO UPDATE``; smaller runs,
updates and deletes are sent as pipelined single-row statements (``executemany``). COPY and the staging
table are PostgreSQL's; SQLite and MySQL/MariaDB always use ``executemany`` of the dialect's statements
(PyMySQL sends an insert/upsert run as multi-row ``INSERT``s). Either way the table ends
up as if every record had been applied one by one. Before a table is first written the writer looks it up; a
missing table is
created when ``auto.create=true`` and missing columns are added when ``auto.evolve=true`` — otherwise the
error names the table, the columns and the option to set.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal
import logging
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from ....core.errors import ConfigError, ConnectError
from .dialect import (
    DATE,
    DECIMAL,
    TIME,
    TIMESTAMP,
    ColumnSpec,
    SchemaLike,
    SqlError,
    TableDefinition,
    TableId,
    quote_identifier,
    upsert_sql,
)
from .dialects import POSTGRES, Dialect

log = logging.getLogger(__name__)

KAFKA_PK_FIELDS = ("__connect_topic", "__connect_partition", "__connect_offset")


class InsertMode(StrEnum):
    """The sink's ``insert.mode``."""

    INSERT = "insert"
    UPSERT = "upsert"
    UPDATE = "update"


class PkMode(StrEnum):
    """The sink's ``pk.mode``."""

    NONE = "none"
    KAFKA = "kafka"
    RECORD_KEY = "record_key"
    RECORD_VALUE = "record_value"


class RecordLike(Protocol):
    """The parts of a Connect ``SinkRecord`` the mapper reads."""

    @property
    def topic(self) -> str: ...
    @property
    def kafka_partition(self) -> int | None: ...
    @property
    def kafka_offset(self) -> int: ...
    @property
    def key(self) -> Any: ...
    @property
    def key_schema(self) -> Any: ...
    @property
    def value(self) -> Any: ...
    @property
    def value_schema(self) -> Any: ...


@dataclass(frozen=True)
class ColumnSchema:
    """A minimal Connect-style schema for a column (used for inferred and kafka-coordinate columns)."""

    type: str
    optional: bool = True
    name: str | None = None
    parameters: Mapping[str, str] | None = None


def infer_column_schema(value: Any) -> ColumnSchema:
    """The column schema for a schemaless value (``None`` gives an optional string column)."""
    if isinstance(value, bool):
        return ColumnSchema("boolean")
    if isinstance(value, int):
        return ColumnSchema("int64")
    if isinstance(value, float):
        return ColumnSchema("float64")
    if isinstance(value, decimal.Decimal):
        return ColumnSchema("bytes", name=DECIMAL, parameters={"scale": "0"})
    if isinstance(value, bytes | bytearray | memoryview):
        return ColumnSchema("bytes")
    if isinstance(value, _dt.datetime):
        return ColumnSchema("int64", name=TIMESTAMP)
    if isinstance(value, _dt.date):
        return ColumnSchema("int32", name=DATE)
    if isinstance(value, _dt.time):
        return ColumnSchema("int32", name=TIME)
    if isinstance(value, Mapping):
        return ColumnSchema("map")
    if isinstance(value, list | tuple):
        return ColumnSchema("array")
    return ColumnSchema("string")


class Row(NamedTuple):
    """One write: table, operation, key columns/values, other columns/values, and every column's schema."""

    table: TableId
    op: str  # "insert" | "upsert" | "update" | "delete"
    key_columns: tuple[str, ...]
    key_values: tuple[Any, ...]
    columns: tuple[str, ...]
    values: tuple[Any, ...]
    schemas: tuple[SchemaLike, ...]  # key columns first, then columns

    @property
    def shape(self) -> tuple[Any, ...]:
        return (self.table, self.op, self.key_columns, self.columns)


def _is_struct(value: Any) -> bool:
    return isinstance(value, Mapping)


_INFERRED_BY_TYPE: dict[type, ColumnSchema] = {
    bool: ColumnSchema("boolean"),
    int: ColumnSchema("int64"),
    float: ColumnSchema("float64"),
    str: ColumnSchema("string"),
    bytes: ColumnSchema("bytes"),
    type(None): ColumnSchema("string"),
}
_schema_fields_cache: dict[int, tuple[Any, dict[str, Any]]] = {}


def _struct_fields(schema: Any) -> dict[str, Any]:
    """``{field name: field schema}`` of a struct schema, cached per schema object (converters reuse them)."""
    hit = _schema_fields_cache.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    fields = {f.name: f.schema for f in getattr(schema, "fields", ()) or ()}
    if len(_schema_fields_cache) > 1000:
        _schema_fields_cache.clear()
    _schema_fields_cache[id(schema)] = (schema, fields)
    return fields


def _field_schemas(value: Mapping[str, Any], schema: Any) -> dict[str, SchemaLike]:
    """Schema of each field of a struct/map value (from its Connect schema, else inferred from the value)."""
    fields = _struct_fields(schema) if schema is not None else {}
    by_type = _INFERRED_BY_TYPE
    out: dict[str, SchemaLike] = {}
    for name, v in value.items():
        s = fields.get(name)
        if s is None:
            s = by_type.get(type(v)) or infer_column_schema(v)
        out[name if type(name) is str else str(name)] = s
    return out


class RowMapper:
    """Maps sink records to :class:`Row` writes according to the sink's options (see the module docstring)."""

    def __init__(
        self,
        *,
        insert_mode: InsertMode,
        pk_mode: PkMode,
        pk_fields: Sequence[str] = (),
        fields_whitelist: Sequence[str] = (),
        table_name_format: str = "${topic}",
        delete_enabled: bool = False,
        dialect: Dialect = POSTGRES,
    ) -> None:
        """``dialect`` decides how values are bound (:meth:`.Dialect.bind_value`); PostgreSQL by default."""
        self.bind_value = dialect.bind_value
        self.insert_mode = insert_mode
        self.pk_mode = pk_mode
        self.pk_fields = tuple(pk_fields)
        self.fields_whitelist = set(fields_whitelist)
        self.table_name_format = table_name_format
        self.delete_enabled = delete_enabled
        self._tables: dict[str, TableId] = {}
        self._plans: dict[tuple[Any, ...], _Plan] = {}
        self.op = insert_mode.value
        check_sink_options(insert_mode, pk_mode, self.pk_fields, delete_enabled)

    def table_for(self, topic: str) -> TableId:
        """The destination table of a topic (``table.name.format`` with ``${topic}`` replaced)."""
        table = self._tables.get(topic)
        if table is None:
            table = self._tables[topic] = TableId.parse(self.table_name_format.replace("${topic}", topic))
        return table

    def _where(self, record: RecordLike) -> str:
        return f"{record.topic}[{record.kafka_partition}]@{record.kafka_offset}"

    def _keys(
        self, record: RecordLike, value: Mapping[str, Any] | None, value_schemas: dict[str, SchemaLike] | None = None
    ) -> tuple[list[str], list[Any], list[Any]]:
        mode = self.pk_mode
        if mode is PkMode.NONE:
            return [], [], []
        if mode is PkMode.KAFKA:
            names = list(self.pk_fields or KAFKA_PK_FIELDS)
            if len(names) != 3:
                raise ConfigError(
                    f"pk.mode=kafka needs exactly three pk.fields (topic, partition, offset columns), got {names}"
                )
            schemas = [ColumnSchema("string", False), ColumnSchema("int32", False), ColumnSchema("int64", False)]
            return names, [record.topic, record.kafka_partition, record.kafka_offset], schemas
        if mode is PkMode.RECORD_KEY:
            key = record.key
            if key is None:
                raise DataShapeError(f"record {self._where(record)} has no key, but pk.mode=record_key needs one")
            if _is_struct(key):
                fschemas = _field_schemas(key, record.key_schema)
                names = list(self.pk_fields or fschemas)
                missing = [n for n in names if n not in key]
                if missing:
                    raise DataShapeError(
                        f"record {self._where(record)}: the key has no field(s) {missing} named in pk.fields "
                        f"(key fields: {sorted(fschemas)})"
                    )
                return names, [key[n] for n in names], [fschemas[n] for n in names]
            if len(self.pk_fields) != 1:
                raise ConfigError(
                    f"the record keys are primitive values ({type(key).__name__}), so pk.fields must name exactly "
                    f"one column for them, got {list(self.pk_fields)}",
                    hint="set pk.fields=<column name>, e.g. pk.fields=id",
                )
            kschema = record.key_schema if record.key_schema is not None else infer_column_schema(key)
            if isinstance(key, bytes | bytearray):
                key = bytes(key)
            return [self.pk_fields[0]], [key], [kschema]
        # record_value
        if value is None:
            raise DataShapeError(
                f"record {self._where(record)} is a tombstone, but pk.mode=record_value takes the key from the value",
                hint="use pk.mode=record_key to delete on tombstones",
            )
        fschemas = value_schemas if value_schemas is not None else _field_schemas(value, record.value_schema)
        names = list(self.pk_fields or fschemas)
        missing = [n for n in names if n not in value]
        if missing:
            raise DataShapeError(
                f"record {self._where(record)}: the value has no field(s) {missing} named in pk.fields "
                f"(value fields: {sorted(fschemas)})"
            )
        return names, [value[n] for n in names], [fschemas[n] for n in names]

    def map(self, record: RecordLike) -> Row | None:
        """The write for one record, or ``None`` for a tombstone that is skipped (``delete.enabled=false``)."""
        table = self.table_for(record.topic)
        value = record.value
        if value is None:
            if not self.delete_enabled:
                return None
            dnames, dvalues, dschemas = self._keys(record, None)
            return Row(table, "delete", tuple(dnames), tuple(dvalues), (), (), tuple(dschemas))
        if not _is_struct(value):
            raise DataShapeError(
                f"record {self._where(record)} has a {type(value).__name__} value; the JDBC sink writes struct or "
                "map values (one field per column)",
                hint="use a JSON/Avro converter whose values are objects, or wrap the value with the HoistField "
                "transform",
            )
        vs = record.value_schema
        by_value = self.pk_mode is PkMode.RECORD_VALUE
        names: Any = None
        kvalues: Any = None
        kschemas: Any = None
        if not by_value:
            names, kvalues, kschemas = self._keys(record, value)
        shape = (
            record.topic,
            vs is None,
            tuple(value),
            tuple(map(type, value.values())) if vs is None else None,
            None if by_value else tuple(names),
        )
        plan = self._plans.get(shape)
        if plan is None or (plan.schema is not vs and plan.schema != vs):  # converters may build equal schemas
            plan = self._plan(record, value, names)
            if len(self._plans) > 10_000:
                self._plans.clear()
            self._plans[shape] = plan
        if by_value:
            names, kschemas = plan.key_columns, plan.key_schemas
            kvalues = [value[n] for n in names]
        bind_value = self.bind_value
        kbound = tuple(bind_value(v, s) for v, s in zip(kvalues, kschemas, strict=True))
        if plan.plain:
            vbound = plan.getter(value) if plan.getter is not None else ()
        else:
            vbound = tuple(
                bind_value(value[c], s) if need else value[c]
                for c, s, need in zip(plan.columns, plan.value_schemas, plan.needs_binding, strict=True)
            )
        return Row(table, self.op, tuple(names), kbound, plan.columns, vbound, (*kschemas, *plan.value_schemas))

    def _plan(self, record: RecordLike, value: Mapping[str, Any], key_names: list[str] | None) -> _Plan:
        """How records of one value shape become columns (computed once per shape, see :meth:`map`)."""
        fschemas = _field_schemas(value, record.value_schema)
        key_schemas: tuple[Any, ...] = ()
        if key_names is None:  # record_value: the key columns are value fields
            names, _, kschemas = self._keys(record, value, fschemas)
            key_names, key_schemas = names, tuple(kschemas)
        key_set = set(key_names)
        wl = self.fields_whitelist
        cols = tuple(c for c in fschemas if c not in key_set and (not wl or c in wl))
        vschemas = tuple(fschemas[c] for c in cols)
        needs = tuple(sch.name is not None or sch.type in ("struct", "map", "array") for sch in vschemas)
        getter: Any = None
        if cols:
            g = operator.itemgetter(*cols)
            getter = g if len(cols) > 1 else (lambda v, g=g: (g(v),))
        return _Plan(record.value_schema, tuple(key_names), key_schemas, cols, vschemas, needs, not any(needs), getter)


class _Plan(NamedTuple):
    """Columns of one record shape: key columns (record_value), value columns, their schemas, binding needs."""

    schema: Any
    key_columns: tuple[str, ...]
    key_schemas: tuple[Any, ...]
    columns: tuple[str, ...]
    value_schemas: tuple[Any, ...]
    needs_binding: tuple[bool, ...]
    plain: bool
    getter: Any


class DataShapeError(ConnectError):
    """A record does not fit the sink's options (no key, wrong value type, missing pk field)."""


class TableMismatchError(ConnectError):
    """The destination table is missing, or lacks columns, and the options say not to change it."""


def check_sink_options(
    insert_mode: InsertMode, pk_mode: PkMode, pk_fields: Sequence[str], delete_enabled: bool
) -> None:
    """Raise :class:`ConfigError` for option combinations Confluent's sink rejects."""
    if insert_mode in (InsertMode.UPSERT, InsertMode.UPDATE) and pk_mode is PkMode.NONE:
        raise ConfigError(
            f"insert.mode={insert_mode.value} needs primary key columns, but pk.mode=none",
            hint="set pk.mode=record_key (with pk.fields for primitive keys), record_value with pk.fields, or kafka",
        )
    if delete_enabled and pk_mode is not PkMode.RECORD_KEY:
        raise ConfigError(
            f"delete.enabled=true needs pk.mode=record_key (deletes are keyed by the record key), got "
            f"pk.mode={pk_mode.value}",
            hint="set pk.mode=record_key, or delete.enabled=false",
        )
    if pk_mode is PkMode.KAFKA and pk_fields and len(pk_fields) != 3:
        raise ConfigError(
            f"pk.mode=kafka takes three pk.fields (topic, partition, offset column names), got {list(pk_fields)}",
            hint="leave pk.fields empty for __connect_topic,__connect_partition,__connect_offset",
        )


_COPY_MIN_ROWS = 16  # smaller runs go faster as pipelined single-row statements


class TableWriter:
    """Writes :class:`Row` batches to the database in one transaction each (see the module docstring).

    ``dialect`` (PostgreSQL by default) builds the statements; ``use_copy`` only matters for PostgreSQL.
    """

    def __init__(
        self,
        *,
        auto_create: bool = False,
        auto_evolve: bool = False,
        batch_size: int = 3000,
        use_copy: bool = True,
        dialect: Dialect = POSTGRES,
    ) -> None:
        self.auto_create = auto_create
        self.auto_evolve = auto_evolve
        self.batch_size = max(1, batch_size)
        self.dialect = dialect
        self.use_copy = use_copy and dialect.supports_copy
        self._tables: dict[TableId, TableDefinition] = {}
        self._stages: dict[tuple[TableId, tuple[str, ...]], str] = {}

    def forget_tables(self) -> None:
        """Drop cached table definitions and staging tables (after a reconnect or a failed transaction)."""
        self._tables.clear()
        self._stages.clear()

    def _copy_rows(self, cur: Any, target_sql: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        with cur.copy(f"COPY {target_sql} ({', '.join(quote_identifier(c) for c in columns)}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row((*r.key_values, *r.values))

    def _copy_run(self, cur: Any, run: list[Row]) -> bool:
        """Write an insert/upsert run with ``COPY`` (upserts: into a staging table, then one
        ``INSERT .. SELECT .. ON CONFLICT``); ``False`` if the run is not suited (then nothing was written).

        Upserts of one key within the run collapse to the last one first: consecutive upserts of a key leave its
        row as the last of them, and one statement may not update a row twice.
        """
        first = run[0]
        columns = (*first.key_columns, *first.columns)
        if first.op == "insert":
            self._copy_rows(cur, first.table.sql, columns, run)
            return True
        try:
            latest: dict[tuple[Any, ...], Row] = {}
            for r in run:
                latest.pop(r.key_values, None)
                latest[r.key_values] = r
        except TypeError:  # unhashable key values
            return False
        stage_key = (first.table, columns)
        stage = self._stages.get(stage_key)
        if stage is None:
            stage = f"millstream_stage_{len(self._stages)}"
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {quote_identifier(stage)} ON COMMIT DELETE ROWS AS "
                f"SELECT {', '.join(quote_identifier(c) for c in columns)} FROM {first.table.sql} WITH NO DATA"
            )
            self._stages[stage_key] = stage
        self._copy_rows(cur, quote_identifier(stage), columns, latest.values())
        cur.execute(upsert_sql(first.table, first.key_columns, first.columns, source=quote_identifier(stage)))
        cur.execute(f"TRUNCATE {quote_identifier(stage)}")
        return True

    def _ensure_table(self, conn: Any, row: Row) -> None:
        table = row.table
        all_cols = (*row.key_columns, *row.columns)
        definition = self._tables.get(table)
        if definition is not None and all(c in definition.columns for c in all_cols):
            return
        dialect = self.dialect
        definition = dialect.describe_table(conn, table)
        if definition is None:
            if not self.auto_create:
                raise TableMismatchError(
                    f"table {table} does not exist",
                    hint="create it, or set auto.create=true to have the sink create it from the record schema",
                )
            key_set = set(row.key_columns)
            specs = [
                ColumnSpec(c, s, c in key_set) for c, s in zip(all_cols, row.schemas, strict=True) if c in all_cols
            ]
            if row.op == "delete":
                raise TableMismatchError(
                    f"table {table} does not exist and the first record for it is a delete; there is nothing to "
                    "create it from"
                )
            dialect.execute(conn, dialect.create_table_sql(table, specs))
            log.info("created table %s with columns %s", table, list(all_cols))
            definition = dialect.describe_table(conn, table)
            assert definition is not None
        missing = [c for c in all_cols if c not in definition.columns]
        if missing:
            if not self.auto_evolve:
                raise TableMismatchError(
                    f"table {table} has no column(s) {missing} for fields of the records "
                    f"(it has {list(definition.columns)})",
                    hint="add the columns, set auto.evolve=true, or drop the fields with a ReplaceField transform",
                )
            schemas = dict(zip(all_cols, row.schemas, strict=True))
            for statement in dialect.alter_table_sqls(table, [ColumnSpec(c, schemas[c]) for c in missing]):
                dialect.execute(conn, statement)
            log.info("added column(s) %s to table %s", missing, table)
            definition = dialect.describe_table(conn, table)
            assert definition is not None
        self._tables[table] = definition

    def _statement(self, row: Row) -> tuple[str, Any]:
        """The SQL for a row shape and a function giving a row's parameters."""
        d = self.dialect
        if row.op == "insert":
            return d.insert_sql(row.table, (*row.key_columns, *row.columns)), lambda r: (*r.key_values, *r.values)
        if row.op == "upsert":
            return d.upsert_sql(row.table, row.key_columns, row.columns), lambda r: (*r.key_values, *r.values)
        if row.op == "update":
            return d.update_sql(row.table, row.key_columns, row.columns), lambda r: (*r.values, *r.key_values)
        if row.op == "delete":
            return d.delete_sql(row.table, row.key_columns), lambda r: r.key_values
        raise SqlError(f"unknown write operation {row.op!r}")

    def write(self, conn: Any, rows: Iterable[Row]) -> int:
        """Write ``rows`` in order in one transaction and commit; return the number of rows written.

        On any error the transaction is rolled back (nothing of the batch is visible) and the error raised.
        """
        runs: list[list[Row]] = []
        for row in rows:
            if runs and runs[-1][0].shape == row.shape and len(runs[-1]) < self.batch_size:
                runs[-1].append(row)
            else:
                runs.append([row])
        if not runs:
            return 0
        count = 0
        try:
            with self.dialect.transaction(conn):
                for run in runs:
                    first = run[0]
                    self._ensure_table(conn, first)
                    with contextlib.closing(conn.cursor()) as cur:
                        copied = (
                            self.use_copy
                            and len(run) >= _COPY_MIN_ROWS
                            and first.op in ("insert", "upsert")
                            and self._copy_run(cur, run)
                        )
                        if not copied:
                            sql, params = self._statement(first)
                            cur.executemany(sql, [params(r) for r in run])
                    count += len(run)
        except Exception:
            self.forget_tables()
            raise
        return count


__all__ = [
    "KAFKA_PK_FIELDS",
    "ColumnSchema",
    "DataShapeError",
    "InsertMode",
    "PkMode",
    "Row",
    "RowMapper",
    "TableMismatchError",
    "TableWriter",
    "check_sink_options",
    "infer_column_schema",
]
