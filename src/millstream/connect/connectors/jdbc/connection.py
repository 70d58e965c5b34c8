"""Connecting to PostgreSQL from a JDBC-style ``connection.url``.

Accepted URL forms (``connection.url``):

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
    """libpq connection parameters (``host``, ``port``, ``dbname``, ``user``, ``password``, ...) from ``url``.

    Raises :class:`ConfigError` for URLs of other databases or that cannot be parsed.
    """
    url = (url or "").strip()
    if not url:
        raise ConfigError(
            "connection.url is empty",
            hint="set it, e.g. connection.url=jdbc:postgresql://localhost:5432/mydb",
        )
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
    """``host:port/database`` of connection parameters, for messages (no credentials)."""
    return _redact(params)


def connect(params: dict[str, Any], *, autocommit: bool = False) -> Any:
    """A new ``psycopg.Connection`` with ``TimeZone=UTC``; :class:`JdbcConnectionError` if it cannot be made."""
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
