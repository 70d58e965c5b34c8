"""Database dialects of the JDBC connectors: PostgreSQL, SQLite and MySQL/MariaDB.

A :class:`Dialect` is everything the source and sink need to know about one database: how ``connection.url``
reads and how to connect, how identifiers are quoted, which column type a Connect schema becomes, the
``CREATE TABLE`` / ``ALTER TABLE`` / insert / upsert / update / delete statements, the parameter placeholder,
how a table is described and listed, how a transaction is run and which driver errors mean "the connection is
gone". :func:`dialect_for_url` picks one from ``connection.url``:

==============================================  ===================  ==========================================
``connection.url``                              dialect              driver
==============================================  ===================  ==========================================
``jdbc:postgresql://host:port/db``, libpq URLs  PostgreSQL           psycopg 3 (the ``postgres`` extra)
``jdbc:sqlite:/path/to/file.db``                SQLite               Python's ``sqlite3`` (no extra)
``jdbc:mysql://host:port/db``                   MySQL / MariaDB      PyMySQL (the ``mysql`` extra)
``jdbc:mariadb://host:port/db``                 MySQL / MariaDB      PyMySQL (the ``mysql`` extra)
==============================================  ===================  ==========================================

The PostgreSQL dialect is the original implementation (the module functions of :mod:`.dialect`, COPY, server-side
cursors) and behaves exactly as before. Upserts are ``INSERT .. ON CONFLICT (k) DO UPDATE`` (PostgreSQL,
SQLite ≥ 3.24) and ``INSERT .. ON DUPLICATE KEY UPDATE`` (MySQL/MariaDB: the conflict is on the primary key *or
any unique key* of the table, as MySQL defines it).

Connect schema → column type (``auto.create`` / ``auto.evolve``):

==================  =============  ================================================
Connect             SQLite         MySQL / MariaDB
==================  =============  ================================================
int8 / int16        SMALLINT       TINYINT / SMALLINT
int32 / int64       INTEGER/BIGINT INT / BIGINT
float32 / float64   REAL           FLOAT / DOUBLE
boolean             BOOLEAN        BOOLEAN (= TINYINT(1))
string              TEXT           LONGTEXT (VARCHAR(255) in a primary key)
bytes               BLOB           LONGBLOB (VARBINARY(255) in a primary key)
Decimal             NUMERIC        DECIMAL(65, scale)
Date / Time         DATE / TIME    DATE / TIME(3)
Timestamp           TIMESTAMP      DATETIME(3)
struct/map/array    TEXT (JSON)    LONGTEXT (JSON text)
==================  =============  ================================================

SQLite stores dates and times as ISO text (``YYYY-MM-DD HH:MM:SS[.ffffff]``, UTC, what ``CURRENT_TIMESTAMP``
writes); the source compares timestamp columns through ``strftime('%Y-%m-%d %H:%M:%f', col)``, i.e. at
millisecond precision. MySQL sessions run with ``time_zone='+00:00'``; note that MySQL commits implicitly
before DDL, so a sink batch that creates or alters a table is not one transaction there (replays with
``insert.mode=upsert`` stay harmless).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from ....core.errors import ConfigError
from . import dialect as _pg
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
)

SUPPORTED_URLS = (
    "jdbc:postgresql://host:port/db, jdbc:sqlite:/path/to/file.db, jdbc:mysql://host:port/db, "
    "jdbc:mariadb://host:port/db"
)


class Dialect:
    """One database's SQL and driver conventions (see the module docstring). Stateless; one instance each."""

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
        """``CREATE TABLE`` with the columns in order and a ``PRIMARY KEY`` over the key columns (if any)."""
        if not columns:
            raise SqlError(f"cannot create table {table}: the records have no fields to make columns of")
        parts = [self.column_ddl(c) for c in columns]
        pk = [self.quote(c.name) for c in columns if c.primary_key]
        if pk:
            parts.append(f"PRIMARY KEY ({', '.join(pk)})")
        return f"CREATE TABLE {self.table_sql(table)} (\n  " + ",\n  ".join(parts) + "\n)"

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
        from .connection import _parse_postgres_url

        return _parse_postgres_url(url, user, password)

    def connect(self, params: Mapping[str, Any]) -> Any:
        from .connection import _connect_postgres

        return _connect_postgres(dict(params))

    def describe(self, params: Mapping[str, Any]) -> str:
        from .connection import _redact

        return _redact(dict(params))


_SQLITE_TS_FORMAT = "%Y-%m-%d %H:%M:%f"


class SqliteDialect(Dialect):
    """SQLite through Python's ``sqlite3``: ``connection.url=jdbc:sqlite:/path/to/file.db``.

    The file is created when missing (as the SQLite JDBC driver does). Connections run in autocommit mode and
    :meth:`transaction` wraps writes in ``BEGIN`` / ``COMMIT``, so DDL is part of the sink's transaction too.
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
        conn.execute("BEGIN")
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

        from .connection import JdbcConnectionError

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
_MYSQL_TYPE_CODES = {
    1: "tinyint",
    2: "smallint",
    3: "int",
    4: "float",
    5: "double",
    7: "timestamp",
    8: "bigint",
    9: "int",
    10: "date",
    11: "time",
    12: "datetime",
    13: "year",
    14: "date",
    16: "bit",
    245: "json",
    247: "text",
    248: "text",
}
_MYSQL_STRINGS = {15, 249, 250, 251, 252, 253, 254}
_MYSQL_LOST = {2006, 2013, 2055, 1927, 4031}  # server gone / lost connection / killed / idle timeout
_MYSQL_CANNOT_CONNECT = {2003, 2005}


class MySqlDialect(Dialect):
    """MySQL and MariaDB through PyMySQL: ``jdbc:mysql://host:port/db`` or ``jdbc:mariadb://host:port/db``.

    Identifiers are quoted with backticks. ``TableId`` schemas are databases (``db.table``). Sessions run with
    ``time_zone='+00:00'`` and ``utf8mb4``. The source streams results with an unbuffered cursor.
    """

    name = "mysql"
    product = "MySQL"
    quote_char = "`"

    def column_type(self, schema: SchemaLike, *, primary_key: bool = False) -> str:
        if schema.name == DECIMAL:
            scale = int((schema.parameters or {}).get("scale", 0))
            return f"DECIMAL(65,{min(max(scale, 0), 30)})"
        if schema.name == TIMESTAMP:
            return "DATETIME(3)"
        if schema.name == DATE:
            return "DATE"
        if schema.name == TIME:
            return "TIME(3)"
        if schema.type == "string":
            return "VARCHAR(255)" if primary_key else "LONGTEXT"
        if schema.type == "bytes":
            return "VARBINARY(255)" if primary_key else "LONGBLOB"
        mapping = {
            "int8": "TINYINT",
            "int16": "SMALLINT",
            "int32": "INT",
            "int64": "BIGINT",
            "float32": "FLOAT",
            "float64": "DOUBLE",
            "boolean": "BOOLEAN",
            "struct": "LONGTEXT",
            "map": "LONGTEXT",
            "array": "LONGTEXT",
        }
        try:
            return mapping[schema.type]
        except KeyError:
            raise SqlError(f"no MySQL column type for Connect type {schema.type!r}") from None

    def upsert_sql(self, table: TableId, key_columns: Sequence[str], value_columns: Sequence[str]) -> str:
        """``INSERT .. ON DUPLICATE KEY UPDATE v = VALUES(v)`` (``k = k`` with no value columns: a no-op)."""
        if not key_columns:
            raise SqlError(f"an upsert into {table} needs primary key columns", hint="set pk.mode and pk.fields")
        head = self.insert_sql(table, [*key_columns, *value_columns])
        targets = value_columns or key_columns[:1]
        if value_columns:
            sets = ", ".join(f"{self.quote(c)} = VALUES({self.quote(c)})" for c in targets)
        else:
            sets = ", ".join(f"{self.quote(c)} = {self.quote(c)}" for c in targets)
        return f"{head} ON DUPLICATE KEY UPDATE {sets}"

    def describe_table(self, conn: Any, table: TableId) -> TableDefinition | None:
        schema_sql = "%s" if table.schema else "DATABASE()"
        params: tuple[Any, ...] = (table.schema, table.table) if table.schema else (table.table,)
        rows = self.execute(
            conn,
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
            f"WHERE TABLE_SCHEMA = {schema_sql} AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            params,
        ).fetchall()
        if not rows:
            return None
        definition = TableDefinition(table)
        for name, type_name, nullable in rows:
            definition.columns[str(name)] = str(type_name)
            definition.nullable[str(name)] = nullable == "YES"
        pk = self.execute(
            conn,
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE CONSTRAINT_NAME = 'PRIMARY' "
            f"AND TABLE_SCHEMA = {schema_sql} AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            params,
        ).fetchall()
        definition.primary_key = [str(r[0]) for r in pk]
        return definition

    def list_tables(self, conn: Any, schema_pattern: str) -> list[str]:
        if schema_pattern:
            rows = self.execute(
                conn,
                "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES "
                "WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA LIKE %s ORDER BY 1",
                (schema_pattern,),
            ).fetchall()
        else:
            rows = self.execute(
                conn,
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' "
                "AND TABLE_SCHEMA = DATABASE() ORDER BY 1",
            ).fetchall()
        return [str(r[0]) for r in rows]

    def identity_column(self, conn: Any, table: TableId) -> str | None:
        schema_sql = "%s" if table.schema else "DATABASE()"
        params: tuple[Any, ...] = (table.schema, table.table) if table.schema else (table.table,)
        row = self.execute(
            conn,
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE EXTRA LIKE '%%auto_increment%%' "
            f"AND TABLE_SCHEMA = {schema_sql} AND TABLE_NAME = %s LIMIT 1",
            params,
        ).fetchone()
        return None if row is None else str(row[0])

    def now(self, conn: Any) -> _dt.datetime:
        row = self.execute(conn, "SELECT UTC_TIMESTAMP(6)").fetchone()
        return row[0]

    def open_cursor(self, conn: Any, batch_max_rows: int) -> Any:
        import pymysql.cursors

        return conn.cursor(pymysql.cursors.SSCursor)

    def result_types(self, cursor: Any) -> list[str | None]:
        fields = getattr(getattr(cursor, "_result", None), "fields", None) or []
        out: list[str | None] = []
        for i, d in enumerate(cursor.description):
            code = d[1]
            if code in (0, 246):  # DECIMAL / NEWDECIMAL: length counts the sign and the point
                scale = int(d[5] or 0)
                precision = max(1, int(d[3] or 0) - (1 if scale else 0) - 1)
                out.append(f"decimal({precision},{scale})")
            elif code in _MYSQL_STRINGS:
                binary = i < len(fields) and getattr(fields[i], "charsetnr", 0) == 63
                out.append("blob" if binary else "text")
            else:
                out.append(_MYSQL_TYPE_CODES.get(code))
        return out

    def is_connection_lost(self, exc: BaseException) -> bool:
        import pymysql

        if isinstance(exc, pymysql.InterfaceError):
            return True
        code = exc.args[0] if isinstance(exc, pymysql.OperationalError) and exc.args else None
        return code in _MYSQL_LOST or code in _MYSQL_CANNOT_CONNECT

    def error_text(self, exc: BaseException) -> str:
        """``message (MySQL error N)`` rather than PyMySQL's ``(N, 'message')``."""
        args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
        if len(args) == 2 and isinstance(args[0], int):
            message = " ".join(str(args[1]).split()) or type(exc).__name__
            return f"{message} (MySQL error {args[0]})" if args[0] else f"{message} (connection lost)"
        return super().error_text(exc)

    def database_errors(self) -> tuple[type[BaseException], ...]:
        import pymysql

        return (pymysql.Error,)

    def parse_url(self, url: str, user: str | None, password: str | None) -> dict[str, Any]:
        rest = url.split(":", 2)[2]  # after jdbc:mysql: / jdbc:mariadb:
        if not rest.startswith("//"):
            raise ConfigError(
                f"connection.url {url!r} cannot be parsed",
                hint="use jdbc:mysql://host:port/database or jdbc:mariadb://host:port/database",
            )
        parts = urlsplit("mysql:" + rest)
        try:
            port = parts.port or 3306
        except ValueError as exc:
            raise ConfigError(f"connection.url {url!r} cannot be parsed: {exc}") from None
        params: dict[str, Any] = {"dialect": self.name, "host": parts.hostname or "localhost", "port": port}
        if parts.path.strip("/"):
            params["database"] = unquote(parts.path.strip("/"))
        if parts.username:
            params["user"] = unquote(parts.username)
        if parts.password:
            params["password"] = unquote(parts.password)
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            lk = key.lower()
            if lk in ("user", "password"):
                params[lk] = value
            elif lk == "connecttimeout" and value.isdigit():  # JDBC: milliseconds
                params["connect_timeout"] = max(1, int(value) // 1000)
            # other JDBC driver properties (useSSL, serverTimezone, ...) have no PyMySQL meaning: ignored
        if user:
            params["user"] = user
        if password:
            params["password"] = password
        params.setdefault("connect_timeout", 10)
        return params

    def connect(self, params: Mapping[str, Any]) -> Any:
        import pymysql

        from .connection import JdbcConnectionError

        kwargs = {k: v for k, v in params.items() if k != "dialect"}
        try:
            return pymysql.connect(
                **kwargs,
                charset="utf8mb4",
                autocommit=False,
                init_command="SET time_zone = '+00:00'",
            )
        except pymysql.Error as exc:
            code = exc.args[0] if exc.args else None
            reason = " ".join(str(exc.args[1] if len(exc.args) > 1 else exc).split())
            hint = (
                "check connection.url, connection.user/connection.password, and that the server is running "
                "and accepts connections from this host"
            )
            if code == 1045:
                hint = (
                    "the user name or password is wrong: check connection.user / connection.password (or the "
                    "URL's user= / password=)"
                )
            elif code == 1049:
                hint = "the database in connection.url does not exist: create it or fix the name"
            raise JdbcConnectionError(
                f"cannot connect to MySQL/MariaDB at {self.describe(params)}: {reason}", hint=hint
            ) from exc

    def describe(self, params: Mapping[str, Any]) -> str:
        return f"{params.get('host', 'localhost')}:{params.get('port', 3306)}/{params.get('database', '')}"

    def is_closed(self, conn: Any) -> bool:
        return not bool(getattr(conn, "open", False))


POSTGRES = PostgresDialect()
SQLITE = SqliteDialect()
MYSQL = MySqlDialect()
_BY_NAME: dict[str, Dialect] = {d.name: d for d in (POSTGRES, SQLITE, MYSQL)}
_JDBC_SUBPROTOCOLS = {"postgresql": POSTGRES, "sqlite": SQLITE, "mysql": MYSQL, "mariadb": MYSQL}


def dialect_for_url(url: str) -> Dialect:
    """The dialect ``connection.url`` names; :class:`ConfigError` naming the supported URLs for others.

    ``jdbc:<subprotocol>:`` picks by subprotocol; ``postgresql://``/``postgres://`` URLs and libpq
    ``key=value`` strings are PostgreSQL.
    """
    text = (url or "").strip()
    if text.startswith("jdbc:"):
        sub = text.split(":", 2)[1].lower() if text.count(":") >= 2 else ""
        found = _JDBC_SUBPROTOCOLS.get(sub)
        if found is None:
            raise ConfigError(
                f"connection.url {url!r} is a JDBC URL for {sub or text!r}, which millstream's JDBC connectors do not "
                "speak; they support PostgreSQL, SQLite and MySQL/MariaDB",
                hint=f"use one of {SUPPORTED_URLS}",
            )
        return found
    if re.match(r"^[a-z][a-z0-9+.-]*://", text) and not re.match(r"^postgres(ql)?://", text):
        scheme = text.split("://", 1)[0]
        raise ConfigError(
            f"connection.url {url!r} has the scheme {scheme!r}, which millstream's JDBC connectors do not speak; "
            "they support PostgreSQL, SQLite and MySQL/MariaDB",
            hint=f"use one of {SUPPORTED_URLS}",
        )
    return POSTGRES


def dialect_of(params: Mapping[str, Any]) -> Dialect:
    """The dialect of parsed connection parameters (those without a ``dialect`` entry are libpq's)."""
    return _BY_NAME.get(str(params.get("dialect") or "postgresql"), POSTGRES)


__all__ = [
    "MYSQL",
    "POSTGRES",
    "SQLITE",
    "SUPPORTED_URLS",
    "Dialect",
    "MySqlDialect",
    "PostgresDialect",
    "SqliteDialect",
    "dialect_for_url",
    "dialect_of",
]
