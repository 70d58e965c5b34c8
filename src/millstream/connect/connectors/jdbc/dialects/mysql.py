"""MySQL and MariaDB through PyMySQL (``jdbc:mysql://host:port/db``, ``jdbc:mariadb://host:port/db``)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .....core.errors import ConfigError, ConnectError
from ..dialect import (
    DATE,
    DECIMAL,
    TIME,
    TIMESTAMP,
    SchemaLike,
    SqlError,
    TableDefinition,
    TableId,
)
from .base import Dialect

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
        from ..connection import JdbcConnectionError

        try:
            import pymysql
        except ImportError as exc:
            raise ConnectError(
                f"connection.url names MySQL/MariaDB ({self.describe(params)}), but the PyMySQL driver is missing",
                hint="pip install 'millstream[mysql]' (or pip install PyMySQL)",
            ) from exc

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


__all__ = ["MySqlDialect"]
