"""PostgreSQL through psycopg 3: the original implementation (the functions of :mod:`..dialect`), unchanged."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

from .. import dialect as _pg
from ..dialect import (
    ColumnSpec,
    SchemaLike,
    TableDefinition,
    TableId,
)
from .base import Dialect


class PostgresDialect(Dialect):
    """PostgreSQL through psycopg 3: the module functions of :mod:`.dialect` (unchanged behaviour)."""

    name = "postgresql"
    product = "PostgreSQL"
    supports_copy = True

    def quote(self, name: str) -> str:
        return _pg.quote_identifier(name)

    def table_sql(self, table: TableId) -> str:
        return table.sql

    def column_type(self, schema: SchemaLike, *, primary_key: bool = False) -> str:
        return _pg.column_type(schema)

    def column_ddl(self, spec: ColumnSpec) -> str:
        return spec.ddl()

    def create_table_sql(self, table: TableId, columns: Sequence[ColumnSpec]) -> str:
        return _pg.create_table_sql(table, columns)

    def alter_table_sqls(self, table: TableId, columns: Sequence[ColumnSpec]) -> list[str]:
        return [_pg.alter_table_sql(table, columns)]

    def insert_sql(self, table: TableId, columns: Sequence[str]) -> str:
        return _pg.insert_sql(table, columns)

    def upsert_sql(self, table: TableId, key_columns: Sequence[str], value_columns: Sequence[str]) -> str:
        return _pg.upsert_sql(table, key_columns, value_columns)

    def update_sql(self, table: TableId, key_columns: Sequence[str], value_columns: Sequence[str]) -> str:
        return _pg.update_sql(table, key_columns, value_columns)

    def delete_sql(self, table: TableId, key_columns: Sequence[str]) -> str:
        return _pg.delete_sql(table, key_columns)

    def bind_value(self, value: Any, schema: SchemaLike | None) -> Any:
        return _pg.bind_value(value, schema)

    def execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        return conn.execute(sql, tuple(params))

    def transaction(self, conn: Any) -> Any:
        return conn.transaction()

    def describe_table(self, conn: Any, table: TableId) -> TableDefinition | None:
        return _pg.describe_table(conn, table)

    def list_tables(self, conn: Any, schema_pattern: str) -> list[str]:
        if schema_pattern:
            rows = conn.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' AND table_schema LIKE %s ORDER BY 1",
                (schema_pattern,),
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (current_schemas(false)) ORDER BY 1"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def identity_column(self, conn: Any, table: TableId) -> str | None:
        row = conn.execute(
            "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
            "AND NOT a.attisdropped AND (a.attidentity <> '' OR pg_get_expr("
            "(SELECT d.adbin FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum), a.attrelid) "
            "LIKE 'nextval(%%') ORDER BY a.attnum LIMIT 1",
            (table.sql,),
        ).fetchone()
        return None if row is None else str(row[0])

    def now(self, conn: Any) -> _dt.datetime:
        row = conn.execute("SELECT LOCALTIMESTAMP").fetchone()
        return row[0]

    def is_connection_lost(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

    def database_errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)

    def parse_url(self, url: str, user: str | None, password: str | None) -> dict[str, Any]:
        from ..connection import _parse_postgres_url

        return _parse_postgres_url(url, user, password)

    def connect(self, params: Mapping[str, Any]) -> Any:
        from ..connection import _connect_postgres

        return _connect_postgres(dict(params))

    def describe(self, params: Mapping[str, Any]) -> str:
        from ..connection import _redact

        return _redact(dict(params))


__all__ = ["PostgresDialect"]
