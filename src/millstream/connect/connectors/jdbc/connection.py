"""Connecting to the database a JDBC-style ``connection.url`` names.

The URL picks the dialect (:func:`.dialects.dialect_for_url`): ``jdbc:sqlite:/path/to/file.db`` is SQLite,
``jdbc:mysql://host:port/db`` and ``jdbc:mariadb://host:port/db`` are MySQL/MariaDB (with ``?user=..&password=..``),
anything else below is PostgreSQL; an unknown ``jdbc:`` subprotocol or URL scheme is a :class:`ConfigError`
naming the supported ones. Parsed parameters of SQLite and MySQL carry ``"dialect"``; PostgreSQL's are libpq's.

Accepted PostgreSQL URL forms (``connection.url``):

- Confluent's JDBC form ``jdbc:postgresql://host[:port][/database][?user=..&password=..&sslmode=..]``;
- libpq URLs ``postgresql://user:password@host:port/db?...`` and ``postgres://...``;
- libpq key/value strings ``host=... port=... dbname=...``.

``connection.user`` / ``connection.password`` override what the URL says, as in Confluent's connector.
Every session runs with ``TimeZone=UTC`` so that ``timestamp`` columns and bound ``datetime`` values
(naive = UTC) compare the same way whatever the server's default zone is.

:func:`connect` turns psycopg's connection failures into :class:`JdbcConnectionError`, whose message names
the server and database (never the password) and says what to check.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ....core.errors import ConfigError, ConnectError

_JDBC_PREFIX = "jdbc:postgresql:"
# JDBC driver properties that have a libpq equivalent under another name.
_JDBC_PARAM_NAMES = {
    "user": "user",
    "password": "password",
    "ssl": None,  # handled below
    "sslmode": "sslmode",
    "sslcert": "sslcert",
    "sslkey": "sslkey",
    "sslrootcert": "sslrootcert",
    "connecttimeout": "connect_timeout",
    "applicationname": "application_name",
    "options": "options",
    "currentschema": None,  # handled below
}


class JdbcConnectionError(ConnectError):
    """The database could not be reached, or refused the login."""


def _redact(conninfo: dict[str, Any]) -> str:
    host = conninfo.get("host") or "localhost"
    port = conninfo.get("port") or 5432
    db = conninfo.get("dbname") or conninfo.get("user") or "(default)"
    return f"{host}:{port}/{db}"


def parse_connection_url(url: str, user: str | None = None, password: str | None = None) -> dict[str, Any]:
    """Connection parameters from ``url``: libpq's (``host``, ``port``, ``dbname``, ``user``, ``password``, ...)
    for PostgreSQL, the dialect's (with ``"dialect"``) for SQLite and MySQL/MariaDB.

    Raises :class:`ConfigError` for URLs of unsupported databases or that cannot be parsed.
    """
    from .dialects import POSTGRES, dialect_for_url

    url = (url or "").strip()
    if not url:
        raise ConfigError(
            "connection.url is empty",
            hint="set it, e.g. connection.url=jdbc:postgresql://localhost:5432/mydb (or jdbc:sqlite:/path/file.db, "
            "jdbc:mysql://host:3306/db)",
        )
    dialect = dialect_for_url(url)
    if dialect is not POSTGRES:
        return dialect.parse_url(url, user, password)
    return _parse_postgres_url(url, user, password)


def _parse_postgres_url(url: str, user: str | None, password: str | None) -> dict[str, Any]:
    """libpq parameters of a PostgreSQL ``connection.url`` (see the module docstring)."""
    params: dict[str, Any] = {}
    if url.startswith("jdbc:"):
        if not url.startswith(_JDBC_PREFIX):
            kind = url.split(":", 2)[1] if url.count(":") >= 2 else url
            raise ConfigError(
                f"connection.url {url!r} is a JDBC URL for {kind!r}; millstream's JDBC connectors speak PostgreSQL",
                hint="use jdbc:postgresql://host:port/database",
            )
        rest = url[len(_JDBC_PREFIX) :]
        if not rest.startswith("//"):  # jdbc:postgresql:database (local server)
            rest = "//localhost/" + rest
        parts = urlsplit("postgresql:" + rest)
        if parts.hostname:
            params["host"] = parts.hostname
        if parts.port:
            params["port"] = parts.port
        if parts.path.strip("/"):
            params["dbname"] = parts.path.strip("/")
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            lk = key.lower()
            if lk == "ssl":
                if value.lower() in ("true", ""):
                    params.setdefault("sslmode", "require")
            elif lk == "currentschema":
                params["options"] = f"-c search_path={value}"
            elif _JDBC_PARAM_NAMES.get(lk):
                params[str(_JDBC_PARAM_NAMES[lk])] = value
            # other JDBC driver properties (prepareThreshold, ...) have no libpq meaning: ignored
    elif re.match(r"^postgres(ql)?://", url) or ("=" in url and "://" not in url):
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = dict(conninfo_to_dict(url))
        except Exception as exc:
            raise ConfigError(f"connection.url {url!r} cannot be parsed: {exc}") from None
    else:
        raise ConfigError(
            f"connection.url {url!r} is not a PostgreSQL URL",
            hint="use jdbc:postgresql://host:port/database or postgresql://user@host:port/database",
        )
    if user:
        params["user"] = user
    if password:
        params["password"] = password
    params.setdefault("connect_timeout", 10)
    return params


def describe(params: dict[str, Any]) -> str:
    """Where connection parameters point (``host:port/database``, or the SQLite file), for messages (no
    credentials)."""
    from .dialects import dialect_of

    return dialect_of(params).describe(params)


def connect(params: dict[str, Any], *, autocommit: bool = False) -> Any:
    """A new connection of the parameters' dialect; :class:`JdbcConnectionError` if it cannot be made.

    PostgreSQL: a ``psycopg.Connection`` with ``TimeZone=UTC`` (``autocommit`` as asked). SQLite: an
    ``sqlite3`` connection in autocommit mode. MySQL/MariaDB: a PyMySQL connection with ``time_zone='+00:00'``
    (``autocommit`` as asked).
    """
    from .dialects import MYSQL, dialect_of

    dialect = dialect_of(params)
    if dialect.name != "postgresql":
        conn = dialect.connect(params)
        if autocommit and dialect is MYSQL:
            conn.autocommit(True)
        return conn
    return _connect_postgres(params, autocommit=autocommit)


def _connect_postgres(params: dict[str, Any], *, autocommit: bool = False) -> Any:
    import psycopg

    try:
        conn = psycopg.connect(**params, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        raise JdbcConnectionError(
            f"cannot connect to PostgreSQL at {describe(params)}: {reason}",
            hint="check connection.url, connection.user/connection.password, and that the server is running "
            "and accepts connections from this host",
        ) from exc
    conn.execute("SET TimeZone TO 'UTC'")
    if not autocommit:
        conn.commit()
    return conn


__all__ = ["JdbcConnectionError", "connect", "describe", "parse_connection_url"]
