"""SQLite through Python's ``sqlite3`` (``connection.url=jdbc:sqlite:/path/to/file.db``)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from .....core.errors import ConfigError
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
from .base import Dialect

_SQLITE_TS_FORMAT = "%Y-%m-%d %H:%M:%f"


class SqliteDialect(Dialect):
    """SQLite through Python's ``sqlite3``: ``connection.url=jdbc:sqlite:/path/to/file.db``.

    The file is created when missing (as the SQLite JDBC driver does). Connections run in autocommit mode and
    :meth:`transaction` wraps writes in ``BEGIN IMMEDIATE`` / ``COMMIT``, so DDL is part of the sink's transaction
    too and concurrent sink tasks queue for the write lock (up to a 30 s busy timeout) instead of failing.
    ``ALTER TABLE`` adds one column per statement (SQLite's limit). The sink never uses a staging table.
    """

    name = "sqlite"
    product = "SQLite"
    placeholder = "?"

    def column_type(self, schema: SchemaLike, *, primary_key: bool = False) -> str:
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
            "float64": "REAL",
            "boolean": "BOOLEAN",
            "string": "TEXT",
            "bytes": "BLOB",
            "struct": "TEXT",
            "map": "TEXT",
            "array": "TEXT",
        }
        try:
            return mapping[schema.type]
        except KeyError:
            raise SqlError(f"no SQLite column type for Connect type {schema.type!r}") from None

    def alter_table_sqls(self, table: TableId, columns: Sequence[ColumnSpec]) -> list[str]:
        self._check_addable(table, columns)
        return [
            f"ALTER TABLE {self.table_sql(table)} ADD COLUMN {self.quote(c.name)} {self.column_type(c.schema)}"
            for c in columns
        ]

    def upsert_sql(self, table: TableId, key_columns: Sequence[str], value_columns: Sequence[str]) -> str:
        """``INSERT .. ON CONFLICT (keys) DO UPDATE SET v = excluded.v`` (``DO NOTHING`` with no value columns)."""
        if not key_columns:
            raise SqlError(f"an upsert into {table} needs primary key columns", hint="set pk.mode and pk.fields")
        head = self.insert_sql(table, [*key_columns, *value_columns])
        if not value_columns:
            return f"{head} ON CONFLICT ({self._cols(key_columns)}) DO NOTHING"
        sets = ", ".join(f"{self.quote(c)} = excluded.{self.quote(c)}" for c in value_columns)
        return f"{head} ON CONFLICT ({self._cols(key_columns)}) DO UPDATE SET {sets}"

    def bind_value(self, value: Any, schema: SchemaLike | None) -> Any:
        """Dates and times as ISO text (``YYYY-MM-DD HH:MM:SS[.ffffff]``), decimals as text (NUMERIC affinity
        stores them as numbers), JSON for structs/maps/arrays, everything else as ``sqlite3`` takes it."""
        value = super().bind_value(value, schema)
        if isinstance(value, _dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(_dt.UTC).replace(tzinfo=None)
            # as CURRENT_TIMESTAMP / strftime('%f') write them: no fraction, or milliseconds when exact
            exact_ms = value.microsecond % 1000 == 0 and value.microsecond != 0
            return value.isoformat(sep=" ", timespec="milliseconds" if exact_ms else "auto")
        if isinstance(value, _dt.date | _dt.time):
            return value.isoformat()
        if isinstance(value, decimal.Decimal):
            return str(value)
        return value

    def bind_param(self, value: Any) -> Any:
        """``datetime`` bounds as ``strftime('%Y-%m-%d %H:%M:%f')`` text (rounded to the millisecond as SQLite
        rounds), so that they compare with :meth:`timestamp_column_sql` exactly."""
        if isinstance(value, _dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(_dt.UTC).replace(tzinfo=None)
            ms = int(value.microsecond / 1000 + 0.5)
            value = value.replace(microsecond=0) + _dt.timedelta(milliseconds=ms)
            return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
        return value

    def execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        return conn.execute(sql, tuple(params))

    @contextlib.contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")  # take the write lock now (waiting up to the busy timeout), not mid-batch
        try:
            yield
        except BaseException:
            if conn.in_transaction:  # some errors (SQLITE_FULL, ...) have rolled it back already
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def is_closed(self, conn: Any) -> bool:
        try:
            conn.total_changes  # noqa: B018  (raises ProgrammingError once closed)
        except Exception:
            return True
        return False

    def describe_table(self, conn: Any, table: TableId) -> TableDefinition | None:
        pragma = (
            f"PRAGMA {self.quote(table.schema)}.table_info({self.quote(table.table)})"
            if table.schema
            else f"PRAGMA table_info({self.quote(table.table)})"
        )
        rows = conn.execute(pragma).fetchall()
        if not rows:
            return None
        definition = TableDefinition(table)
        pk: list[tuple[int, str]] = []
        for _cid, name, type_name, notnull, _default, pk_pos in rows:
            definition.columns[name] = type_name or ""
            definition.nullable[name] = not notnull and not pk_pos
            if pk_pos:
                pk.append((int(pk_pos), name))
        definition.primary_key = [n for _, n in sorted(pk)]
        return definition

    def list_tables(self, conn: Any, schema_pattern: str) -> list[str]:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY name"
        ).fetchall()
        return [str(r[0]) for r in rows]

    def identity_column(self, conn: Any, table: TableId) -> str | None:
        definition = self.describe_table(conn, table)
        if definition is None or len(definition.primary_key) != 1:
            return None
        col = definition.primary_key[0]
        return col if definition.columns[col].strip().upper() == "INTEGER" else None  # the rowid alias

    def now(self, conn: Any) -> _dt.datetime:
        row = conn.execute(f"SELECT strftime('{_SQLITE_TS_FORMAT}', 'now')").fetchone()
        return _dt.datetime.fromisoformat(row[0])

    def timestamp_column_sql(self, quoted: str) -> str:
        return f"strftime('{_SQLITE_TS_FORMAT}', {quoted})"

    def database_errors(self) -> tuple[type[BaseException], ...]:
        import sqlite3

        return (sqlite3.Error,)

    def parse_url(self, url: str, user: str | None, password: str | None) -> dict[str, Any]:
        path = url[len("jdbc:sqlite:") :]
        if path.startswith("//"):  # jdbc:sqlite:///abs/path (URL style)
            path = path[2:]
        path = path.split("?", 1)[0]
        if not path:
            raise ConfigError(
                f"connection.url {url!r} names no SQLite database file",
                hint="use jdbc:sqlite:/path/to/file.db (or jdbc:sqlite::memory:)",
            )
        return {"dialect": self.name, "database": unquote(path)}

    def connect(self, params: Mapping[str, Any]) -> Any:
        import sqlite3

        from ..connection import JdbcConnectionError

        try:
            conn = sqlite3.connect(params["database"], isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # fails now for a non-database file
        except sqlite3.Error as exc:
            raise JdbcConnectionError(
                f"cannot open SQLite database {self.describe(params)}: {exc}",
                hint="check the path in connection.url (jdbc:sqlite:/path/to/file.db): its directory must exist "
                "and be writable, and the file must be an SQLite database",
            ) from exc
        return conn

    def describe(self, params: Mapping[str, Any]) -> str:
        return str(params.get("database"))


# MySQL result type codes (pymysql.constants.FIELD_TYPE) -> declared type names


__all__ = ["SqliteDialect"]
