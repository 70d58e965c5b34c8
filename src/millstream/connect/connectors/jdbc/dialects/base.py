"""The :class:`Dialect` base: what the JDBC source and sink need to know about one database (see the package
docstring of :mod:`..dialects`); the default implementations are DB-API 2.0 and ANSI SQL."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from .. import dialect as _pg
from ..dialect import (
    DATE,
    DECIMAL,
    TIME,
    TIMESTAMP,
    ColumnSpec,
    SchemaLike,
    SqlError,
    TableDefinition,
    TableId,
)


class Dialect:
    """One database's SQL and driver conventions (see the package docstring). Stateless: one shared instance per
    dialect (``POSTGRES``, ``SQLITE``, ``MYSQL``); subclasses implement every method that raises
    ``NotImplementedError`` here."""

    name: ClassVar[str] = ""
    product: ClassVar[str] = ""
    placeholder: ClassVar[str] = "%s"
    supports_copy: ClassVar[bool] = False
    quote_char: ClassVar[str] = '"'

    # ---- identifiers
    def quote(self, name: str) -> str:
        """``name`` as a quoted identifier (embedded quote characters doubled)."""
        if not name:
            raise SqlError("an empty name cannot be a table or column name")
        if "\x00" in name:
            raise SqlError(f"the name {name!r} contains a NUL character, which {self.product} does not allow")
        q = self.quote_char
        return q + name.replace(q, q + q) + q

    def table_sql(self, table: TableId) -> str:
        """The quoted, possibly qualified name of ``table``."""
        if table.schema:
            return f"{self.quote(table.schema)}.{self.quote(table.table)}"
        return self.quote(table.table)

    def _cols(self, names: Sequence[str]) -> str:
        return ", ".join(self.quote(n) for n in names)

    def _ph(self, n: int) -> str:
        return ", ".join([self.placeholder] * n)

    # ---- types and DDL
    def column_type(self, schema: SchemaLike, *, primary_key: bool = False) -> str:
        """The column type for a Connect field schema (see the module table)."""
        raise NotImplementedError

    def column_ddl(self, spec: ColumnSpec) -> str:
        nullable = spec.schema.optional and not spec.primary_key
        kind = self.column_type(spec.schema, primary_key=spec.primary_key)
        return f"{self.quote(spec.name)} {kind}{'' if nullable else ' NOT NULL'}"

    def create_table_sql(self, table: TableId, columns: Sequence[ColumnSpec]) -> str:
        """``CREATE TABLE IF NOT EXISTS`` with the columns in order and a ``PRIMARY KEY`` over the key columns (if
        any); ``IF NOT EXISTS`` so that sink tasks racing to create the same table do not fail (the loser then
        finds the table and evolves it if needed)."""
        if not columns:
            raise SqlError(f"cannot create table {table}: the records have no fields to make columns of")
        parts = [self.column_ddl(c) for c in columns]
        pk = [self.quote(c.name) for c in columns if c.primary_key]
        if pk:
            parts.append(f"PRIMARY KEY ({', '.join(pk)})")
        return f"CREATE TABLE IF NOT EXISTS {self.table_sql(table)} (\n  " + ",\n  ".join(parts) + "\n)"

    def _check_addable(self, table: TableId, columns: Sequence[ColumnSpec]) -> None:
        for c in columns:
            if not c.schema.optional:
                raise SqlError(
                    f"cannot add column {c.name!r} to table {table}: the field is not optional, and existing rows "
                    "would have no value for it",
                    hint="make the field optional in the record schema, or add the column by hand with a default",
                )

    def alter_table_sqls(self, table: TableId, columns: Sequence[ColumnSpec]) -> list[str]:
        """Statements adding every column in ``columns`` (all must be optional: existing rows get NULL)."""
        self._check_addable(table, columns)
        adds = ", ".join(f"ADD COLUMN {self.quote(c.name)} {self.column_type(c.schema)}" for c in columns)
        return [f"ALTER TABLE {self.table_sql(table)} {adds}"]

    # ---- writes (parameters: see each method)
    def insert_sql(self, table: TableId, columns: Sequence[str]) -> str:
        """``INSERT INTO t (cols) VALUES (?, ...)``."""
        return f"INSERT INTO {self.table_sql(table)} ({self._cols(columns)}) VALUES ({self._ph(len(columns))})"

    def upsert_sql(self, table: TableId, key_columns: Sequence[str], value_columns: Sequence[str]) -> str:
        """Insert-or-update by the key columns; parameters are key columns first, then value columns."""
        raise NotImplementedError

    def update_sql(self, table: TableId, key_columns: Sequence[str], value_columns: Sequence[str]) -> str:
        """``UPDATE t SET v = ?, ... WHERE k = ? AND ...``: parameters are value columns first, then keys."""
        if not key_columns:
            raise SqlError(f"an update of {table} needs primary key columns", hint="set pk.mode and pk.fields")
        if not value_columns:
            raise SqlError(f"an update of {table} needs at least one non-key column to set")
        sets = ", ".join(f"{self.quote(c)} = {self.placeholder}" for c in value_columns)
        where = " AND ".join(f"{self.quote(c)} = {self.placeholder}" for c in key_columns)
        return f"UPDATE {self.table_sql(table)} SET {sets} WHERE {where}"

    def delete_sql(self, table: TableId, key_columns: Sequence[str]) -> str:
        """``DELETE FROM t WHERE k = ? AND ...``."""
        if not key_columns:
            raise SqlError(f"a delete from {table} needs primary key columns", hint="use pk.mode=record_key")
        where = " AND ".join(f"{self.quote(c)} = {self.placeholder}" for c in key_columns)
        return f"DELETE FROM {self.table_sql(table)} WHERE {where}"

    def bind_value(self, value: Any, schema: SchemaLike | None) -> Any:
        """A Connect field value as a driver parameter for a column of the type :meth:`column_type` picks."""
        if value is None or type(value) in (str, bool, float):
            return value
        name = schema.name if schema is not None else None
        if name == TIMESTAMP and isinstance(value, int | float):
            return _pg._EPOCH + _dt.timedelta(milliseconds=value)
        if name == DATE and isinstance(value, int):
            return (_pg._EPOCH + _dt.timedelta(days=value)).date()
        if name == TIME and isinstance(value, int | float):
            return (_pg._EPOCH + _dt.timedelta(milliseconds=value)).time()
        if name == DECIMAL and isinstance(value, bytes | bytearray):
            params = schema.parameters if schema is not None else None
            return _pg._decimal_from_bytes(bytes(value), int((params or {}).get("scale", 0)))
        if isinstance(value, _dt.datetime) and value.tzinfo is not None:
            return value.astimezone(_dt.UTC).replace(tzinfo=None)
        if isinstance(value, Mapping | list | tuple):
            return json.dumps(value, separators=(",", ":"), default=str)
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        return value

    # ---- talking to the database
    def execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns a cursor to fetch from."""
        cur = conn.cursor()
        cur.execute(sql, tuple(params))
        return cur

    @contextlib.contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        """Commit what the block did, or roll it back if it raised (the block's error is what propagates, even
        when the rollback fails on a dead connection)."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        conn.commit()

    def error_text(self, exc: BaseException) -> str:
        """A driver error as one line for messages."""
        return " ".join(str(exc).split())

    def is_closed(self, conn: Any) -> bool:
        return bool(getattr(conn, "closed", False))

    def describe_table(self, conn: Any, table: TableId) -> TableDefinition | None:
        """The definition of ``table``, or ``None`` if there is no such table."""
        raise NotImplementedError

    def list_tables(self, conn: Any, schema_pattern: str) -> list[str]:
        """Names of the ordinary tables the source may copy (qualified when ``schema_pattern`` is given)."""
        raise NotImplementedError

    def identity_column(self, conn: Any, table: TableId) -> str | None:
        """The table's auto-increment column, if it has one."""
        raise NotImplementedError

    def now(self, conn: Any) -> _dt.datetime:
        """The database's current time, naive UTC."""
        raise NotImplementedError

    def timestamp_column_sql(self, quoted: str) -> str:
        """SQL comparing a timestamp column with a bound :meth:`bind_param` value."""
        return quoted

    def bind_param(self, value: Any) -> Any:
        """A source query parameter (int offsets, naive UTC ``datetime`` bounds) as the driver takes it."""
        return value

    def open_cursor(self, conn: Any, batch_max_rows: int) -> Any:
        """A cursor that streams a big result rather than loading it whole."""
        return conn.cursor()

    def result_types(self, cursor: Any) -> list[str | None]:
        """Declared-type names of a query result's columns as far as the driver says (``None``: unknown)."""
        return [None for _ in cursor.description]

    def is_connection_lost(self, exc: BaseException) -> bool:
        """Whether a driver error means the connection is gone (reconnect and retry) rather than bad SQL/data."""
        return False

    def database_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's base error classes."""
        raise NotImplementedError

    # ---- connection.url
    def parse_url(self, url: str, user: str | None, password: str | None) -> dict[str, Any]:
        """Connection parameters from ``url`` (with ``"dialect": name``); ``user``/``password`` override."""
        raise NotImplementedError

    def connect(self, params: Mapping[str, Any]) -> Any:
        """A new DB-API connection; :class:`~.connection.JdbcConnectionError` if it cannot be made."""
        raise NotImplementedError

    def describe(self, params: Mapping[str, Any]) -> str:
        """Where ``params`` point, for messages (never credentials)."""
        raise NotImplementedError


__all__ = ["Dialect"]
