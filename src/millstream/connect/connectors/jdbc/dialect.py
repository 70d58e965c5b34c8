"""SQL for the JDBC connectors: identifiers, types, DDL and the sink's write statements, per database dialect.

The module-level functions build PostgreSQL SQL (the original dialect, unchanged); :class:`Dialect` and its
subclasses :class:`PostgresDialect`, :class:`SqliteDialect` and :class:`MySqlDialect` (also MariaDB) wrap the
same operations for each database — see :func:`dialect_for_url` and the tables on each class.

PostgreSQL:

Everything here builds SQL text; :func:`describe_table` is the only function that talks to the database.
Identifiers are always quoted (Confluent's ``quote.sql.identifiers=always``), so column and table names keep
their case and may contain any character. Values are bound as parameters (``%s``), never spliced in.

Connect schema → PostgreSQL column type (what ``auto.create`` / ``auto.evolve`` use):

========================  ==================
int8, int16               SMALLINT
int32                     INTEGER
int64                     BIGINT
float32                   REAL
float64                   DOUBLE PRECISION
boolean                   BOOLEAN
string                    TEXT
bytes                     BYTEA
Decimal (logical)         NUMERIC
Date / Time / Timestamp   DATE / TIME / TIMESTAMP
struct, map, array        JSONB
========================  ==================
"""

from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ....core.errors import ConnectError

TIMESTAMP = "org.apache.kafka.connect.data.Timestamp"
DATE = "org.apache.kafka.connect.data.Date"
TIME = "org.apache.kafka.connect.data.Time"
DECIMAL = "org.apache.kafka.connect.data.Decimal"
_EPOCH = _dt.datetime(1970, 1, 1)


class SchemaLike(Protocol):
    """The parts of a Connect ``Schema`` this module reads (``millstream.connect.data.Schema`` fits)."""

    @property
    def type(self) -> str: ...
    @property
    def optional(self) -> bool: ...
    @property
    def name(self) -> str | None: ...
    @property
    def parameters(self) -> Mapping[str, str] | None: ...


class SqlError(ConnectError):
    """A statement cannot be built or the table does not fit the records (names the table and column)."""


def quote_identifier(name: str) -> str:
    """``name`` as a quoted PostgreSQL identifier (embedded double quotes doubled)."""
    if not name:
        raise SqlError("an empty name cannot be a table or column name")
    if "\x00" in name:
        raise SqlError(f"the name {name!r} contains a NUL character, which PostgreSQL does not allow")
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class TableId:
    """A table, optionally schema-qualified; :meth:`parse` splits ``schema.table`` on the first dot."""

    table: str
    schema: str | None = None

    @classmethod
    def parse(cls, text: str) -> TableId:
        """``"orders"`` → ``TableId("orders")``; ``"sales.orders"`` → ``TableId("orders", "sales")``.

        A name in double quotes is taken literally (``"my.table"`` keeps its dot).
        """
        text = text.strip()
        if text.startswith('"') and text.endswith('"') and len(text) > 1:
            return cls(text[1:-1].replace('""', '"'))
        if "." in text:
            schema, table = text.split(".", 1)
            if schema and table:
                return cls(table, schema)
        return cls(text)

    @property
    def sql(self) -> str:
        """The quoted, possibly qualified name for SQL text."""
        if self.schema:
            return f"{quote_identifier(self.schema)}.{quote_identifier(self.table)}"
        return quote_identifier(self.table)

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table


def column_type(schema: SchemaLike) -> str:
    """The PostgreSQL column type for a Connect field schema (see the module table)."""
    if schema.name == DECIMAL:
        return "NUMERIC"
    if schema.name == TIMESTAMP:
        return "TIMESTAMP"
    if schema.name == DATE:
        return "DATE"
    if schema.name == TIME:
        return "TIME"
    mapping = {
        "int8": "SMALLINT",
        "int16": "SMALLINT",
        "int32": "INTEGER",
        "int64": "BIGINT",
        "float32": "REAL",
        "float64": "DOUBLE PRECISION",
        "boolean": "BOOLEAN",
        "string": "TEXT",
        "bytes": "BYTEA",
        "struct": "JSONB",
        "map": "JSONB",
        "array": "JSONB",
    }
    try:
        return mapping[schema.type]
    except KeyError:
        raise SqlError(f"no PostgreSQL column type for Connect type {schema.type!r}") from None


@dataclass(frozen=True)
class ColumnSpec:
    """A column to create: name, Connect schema, and whether it belongs to the primary key."""

    name: str
    schema: SchemaLike
    primary_key: bool = False

    def ddl(self) -> str:
        nullable = self.schema.optional and not self.primary_key
        return f"{quote_identifier(self.name)} {column_type(self.schema)}{'' if nullable else ' NOT NULL'}"


def create_table_sql(table: TableId, columns: Sequence[ColumnSpec]) -> str:
    """``CREATE TABLE`` with the columns in order and a ``PRIMARY KEY`` over the key columns (if any)."""
    if not columns:
        raise SqlError(f"cannot create table {table}: the records have no fields to make columns of")
    parts = [c.ddl() for c in columns]
    pk = [quote_identifier(c.name) for c in columns if c.primary_key]
    if pk:
        parts.append(f"PRIMARY KEY ({', '.join(pk)})")
    return f"CREATE TABLE {table.sql} (\n  " + ",\n  ".join(parts) + "\n)"


def alter_table_sql(table: TableId, columns: Sequence[ColumnSpec]) -> str:
    """One ``ALTER TABLE`` adding every column in ``columns`` (all must be optional: existing rows get NULL)."""
    for c in columns:
        if not c.schema.optional:
            raise SqlError(
                f"cannot add column {c.name!r} to table {table}: the field is not optional, and existing rows "
                "would have no value for it",
                hint="make the field optional in the record schema, or add the column by hand with a default",
            )
    adds = ", ".join(f"ADD COLUMN {quote_identifier(c.name)} {column_type(c.schema)}" for c in columns)
    return f"ALTER TABLE {table.sql} {adds}"


def _cols(names: Sequence[str]) -> str:
    return ", ".join(quote_identifier(n) for n in names)


def insert_sql(table: TableId, columns: Sequence[str]) -> str:
    """``INSERT INTO t (cols) VALUES (%s, ...)``."""
    return f"INSERT INTO {table.sql} ({_cols(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"


def upsert_sql(
    table: TableId, key_columns: Sequence[str], value_columns: Sequence[str], *, source: str | None = None
) -> str:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET v = EXCLUDED.v`` (``DO NOTHING`` with no value columns).

    Parameters are bound key columns first, then value columns. With ``source`` (a quoted table name) the rows
    come from ``SELECT <columns> FROM source`` instead (whose keys must be distinct).
    """
    if not key_columns:
        raise SqlError(f"an upsert into {table} needs primary key columns", hint="set pk.mode and pk.fields")
    cols = [*key_columns, *value_columns]
    rows = f"VALUES ({', '.join(['%s'] * len(cols))})" if source is None else f"SELECT {_cols(cols)} FROM {source}"
    head = f"INSERT INTO {table.sql} ({_cols(cols)}) {rows}"
    if not value_columns:
        return f"{head} ON CONFLICT ({_cols(key_columns)}) DO NOTHING"
    sets = ", ".join(f"{quote_identifier(c)} = EXCLUDED.{quote_identifier(c)}" for c in value_columns)
    return f"{head} ON CONFLICT ({_cols(key_columns)}) DO UPDATE SET {sets}"


def update_sql(table: TableId, key_columns: Sequence[str], value_columns: Sequence[str]) -> str:
    """``UPDATE t SET v = %s, ... WHERE k = %s AND ...``: parameters are value columns first, then keys."""
    if not key_columns:
        raise SqlError(f"an update of {table} needs primary key columns", hint="set pk.mode and pk.fields")
    if not value_columns:
        raise SqlError(f"an update of {table} needs at least one non-key column to set")
    sets = ", ".join(f"{quote_identifier(c)} = %s" for c in value_columns)
    where = " AND ".join(f"{quote_identifier(c)} = %s" for c in key_columns)
    return f"UPDATE {table.sql} SET {sets} WHERE {where}"


def delete_sql(table: TableId, key_columns: Sequence[str]) -> str:
    """``DELETE FROM t WHERE k = %s AND ...``."""
    if not key_columns:
        raise SqlError(f"a delete from {table} needs primary key columns", hint="use pk.mode=record_key")
    where = " AND ".join(f"{quote_identifier(c)} = %s" for c in key_columns)
    return f"DELETE FROM {table.sql} WHERE {where}"


@dataclass
class TableDefinition:
    """An existing table's columns (name → PostgreSQL type name, nullability) and primary key columns."""

    table: TableId
    columns: dict[str, str] = field(default_factory=dict)
    nullable: dict[str, bool] = field(default_factory=dict)
    primary_key: list[str] = field(default_factory=list)


def describe_table(conn: Any, table: TableId) -> TableDefinition | None:
    """The definition of ``table`` as the connection sees it, or ``None`` if there is no such table.

    An unqualified name is looked up along the session's ``search_path``, as PostgreSQL itself resolves it.
    """
    row = conn.execute("SELECT to_regclass(%s)::oid", (table.sql,)).fetchone()
    if row is None or row[0] is None:
        return None
    oid = row[0]
    definition = TableDefinition(table)
    for name, type_name, notnull in conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute "
        "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (oid,),
    ):
        definition.columns[name] = type_name
        definition.nullable[name] = not notnull
    for (name,) in conn.execute(
        "SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = %s AND i.indisprimary ORDER BY k.n",
        (oid,),
    ):
        definition.primary_key.append(name)
    return definition


def _decimal_from_bytes(raw: bytes, scale: int) -> decimal.Decimal:
    unscaled = int.from_bytes(raw, "big", signed=True)
    return decimal.Decimal(unscaled).scaleb(-scale)


_PLAIN = frozenset((str, bool, float))  # bound as they are whatever the schema (ints may be logical types)


def bind_value(value: Any, schema: SchemaLike | None) -> Any:
    """A Connect field value as a psycopg parameter for a column of the type :func:`column_type` picks.

    Logical types given as numbers are turned into ``datetime``/``date``/``time``/``Decimal``; structs, maps
    and arrays become JSONB; everything else is passed through.
    """
    if value is None or type(value) in _PLAIN:
        return value
    name = schema.name if schema is not None else None
    if name == TIMESTAMP and isinstance(value, int | float):
        return _EPOCH + _dt.timedelta(milliseconds=value)
    if name == DATE and isinstance(value, int):
        return (_EPOCH + _dt.timedelta(days=value)).date()
    if name == TIME and isinstance(value, int | float):
        return (_EPOCH + _dt.timedelta(milliseconds=value)).time()
    if name == DECIMAL and isinstance(value, bytes | bytearray):
        params = schema.parameters if schema is not None else None
        return _decimal_from_bytes(bytes(value), int((params or {}).get("scale", 0)))
    if isinstance(value, _dt.datetime) and value.tzinfo is not None:
        return value.astimezone(_dt.UTC).replace(tzinfo=None)
    if isinstance(value, Mapping | list | tuple):
        from psycopg.types.json import Jsonb

        return Jsonb(value)
    return value


from .dialects import Dialect, MySqlDialect, PostgresDialect, SqliteDialect, dialect_for_url  # noqa: E402

__all__ = [
    "ColumnSpec",
    "Dialect",
    "MySqlDialect",
    "PostgresDialect",
    "SchemaLike",
    "SqlError",
    "SqliteDialect",
    "TableDefinition",
    "TableId",
    "alter_table_sql",
    "bind_value",
    "column_type",
    "create_table_sql",
    "delete_sql",
    "describe_table",
    "dialect_for_url",
    "insert_sql",
    "quote_identifier",
    "update_sql",
    "upsert_sql",
]
