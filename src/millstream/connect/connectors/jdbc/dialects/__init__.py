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

import re
from collections.abc import Mapping
from typing import Any

from .....core.errors import ConfigError
from .base import Dialect
from .mysql import MySqlDialect
from .postgres import PostgresDialect
from .sqlite import SqliteDialect

SUPPORTED_URLS = (
    "jdbc:postgresql://host:port/db, jdbc:sqlite:/path/to/file.db, jdbc:mysql://host:port/db, "
    "jdbc:mariadb://host:port/db"
)


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
