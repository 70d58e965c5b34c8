"""What the CDC source asks PostgreSQL's catalog, on an ordinary (non-replication) psycopg connection:
server settings, the captured tables with their columns and primary keys, the publication and the slot.

Each check that can fail because of the database's setup raises a :class:`~.replication.CdcError` saying
how to fix it: ``wal_level`` not ``logical``, a captured table that has neither a primary key nor
``REPLICA IDENTITY FULL`` (its updates and deletes could not be captured — PostgreSQL even refuses them once
the table is in a publication), a missing publication when ``publication.autocreate.mode=disabled``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .envelope import ColumnDef
from .replication import CdcError, explain

_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


@dataclass(frozen=True)
class TableInfo:
    oid: int
    namespace: str
    name: str
    columns: tuple[ColumnDef, ...]
    key_columns: tuple[str, ...]
    replica_identity: str  # d default, n nothing, f full, i index

    @property
    def full_name(self) -> str:
        return f"{self.namespace}.{self.name}"

    @property
    def sql_name(self) -> str:
        return f'"{self.namespace}"."{self.name}"'


def connect(params: dict[str, Any]) -> Any:
    """An autocommit psycopg connection in UTC; login problems become :class:`CdcError`."""
    import psycopg

    from .replication import conninfo

    try:
        return psycopg.connect(conninfo(params, replication=False), autocommit=True)
    except psycopg.OperationalError as exc:
        raise explain(str(exc), params) from exc


def check_wal_level(conn: Any, params: dict[str, Any]) -> None:
    level = conn.execute("SHOW wal_level").fetchone()[0]
    if level != "logical":
        where = f"{params.get('host')}:{params.get('port')}"
        raise CdcError(
            f"PostgreSQL at {where} runs with wal_level = {level}; change data capture needs wal_level = logical",
            hint="run ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL",
        )


def _matches(patterns: Sequence[str], text: str) -> bool:
    return any(re.fullmatch(p, text) for p in patterns)


def select_tables(conn: Any, values: dict[str, Any]) -> list[TableInfo]:
    """The captured tables (ordinary and partitioned tables filtered by the include/exclude lists)."""
    rows = conn.execute(
        "SELECT c.oid, n.nspname, c.relname, c.relreplident FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname <> ALL(%s) "
        "AND n.nspname NOT LIKE 'pg_temp%%' AND n.nspname NOT LIKE 'pg_toast%%' ORDER BY 2, 3",
        (list(_SYSTEM_SCHEMAS),),
    ).fetchall()
    return [
        describe_table(conn, int(oid), ns, name, str(ident))
        for oid, ns, name, ident in rows
        if is_captured(values, ns, name)
    ]


def is_captured(values: dict[str, Any], namespace: str, name: str) -> bool:
    """Whether table ``namespace.name`` passes the schema and table include/exclude lists."""
    full = f"{namespace}.{name}"
    if namespace in _SYSTEM_SCHEMAS:
        return False
    if values["schema.include.list"] and not _matches(values["schema.include.list"], namespace):
        return False
    if values["schema.exclude.list"] and _matches(values["schema.exclude.list"], namespace):
        return False
    if values["table.include.list"] and not _matches(values["table.include.list"], full):
        return False
    return not (values["table.exclude.list"] and _matches(values["table.exclude.list"], full))


def describe_table(conn: Any, oid: int, namespace: str, name: str, identity: str | None = None) -> TableInfo:
    """Columns (in order, with type OIDs) and primary key of one table."""
    if identity is None:
        row = conn.execute("SELECT relreplident FROM pg_class WHERE oid = %s", (oid,)).fetchone()
        identity = str(row[0]) if row else "d"
    cols = conn.execute(
        "SELECT attname, atttypid, atttypmod FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum",
        (oid,),
    ).fetchall()
    key = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = %s AND i.indisprimary ORDER BY k.ord",
        (oid,),
    ).fetchall()
    return TableInfo(
        oid,
        namespace,
        name,
        tuple(ColumnDef(str(c), int(t), int(m)) for c, t, m in cols),
        tuple(str(k[0]) for k in key),
        identity,
    )


def check_keys(tables: Sequence[TableInfo]) -> None:
    """Fail on tables whose updates and deletes cannot be captured (no primary key, identity not FULL)."""
    bad = [t for t in tables if not t.key_columns and t.replica_identity not in ("f", "i")]
    if bad:
        names = ", ".join(t.full_name for t in bad)
        first = bad[0].sql_name
        raise CdcError(
            f"table(s) {names} have no primary key: their updates and deletes cannot be captured "
            "(and PostgreSQL rejects them once the table is published)",
            hint=f"add a primary key, or run ALTER TABLE {first} REPLICA IDENTITY FULL; (changes then carry the "
            "whole old row and records have no key), or leave the table out with table.exclude.list",
        )


def ensure_publication(conn: Any, values: dict[str, Any], tables: Sequence[TableInfo]) -> None:
    """Make sure ``publication.name`` exists (and, for ``filtered``, publishes exactly ``tables``)."""
    import psycopg

    pub = values["publication.name"]
    mode = values["publication.autocreate.mode"]
    row = conn.execute("SELECT puballtables FROM pg_publication WHERE pubname = %s", (pub,)).fetchone()
    listed = ", ".join(t.sql_name for t in tables)
    try:
        if mode == "disabled":
            if row is None:
                raise CdcError(
                    f"publication {pub!r} does not exist and publication.autocreate.mode is disabled",
                    hint=f'create it (CREATE PUBLICATION "{pub}" FOR TABLE ...;) or set '
                    "publication.autocreate.mode=filtered",
                )
        elif mode == "all_tables":
            if row is None:
                conn.execute(f'CREATE PUBLICATION "{pub}" FOR ALL TABLES')
        elif mode == "filtered":
            if not tables:
                raise CdcError(
                    "no table matches the include/exclude lists, so there is nothing to publish",
                    hint="check table.include.list / schema.include.list",
                )
            if row is None:
                conn.execute(f'CREATE PUBLICATION "{pub}" FOR TABLE {listed}')
            elif not row[0]:
                conn.execute(f'ALTER PUBLICATION "{pub}" SET TABLE {listed}')
    except psycopg.errors.InsufficientPrivilege as exc:
        raise CdcError(
            f"cannot create publication {pub!r}: {' '.join(str(exc).split())}",
            hint="FOR ALL TABLES needs a superuser: create the publication as one, or use "
            "publication.autocreate.mode=filtered with a user owning the tables",
        ) from exc


def published_oids(conn: Any, publication: str) -> set[int]:
    rows = conn.execute(
        "SELECT (quote_ident(schemaname) || '.' || quote_ident(tablename))::regclass::oid "
        "FROM pg_publication_tables WHERE pubname = %s",
        (publication,),
    ).fetchall()
    return {int(r[0]) for r in rows}


@dataclass(frozen=True)
class SlotInfo:
    exists: bool
    active_pid: int | None = None
    plugin: str | None = None
    database: str | None = None
    confirmed_flush_lsn: int | None = None


def slot_info(conn: Any, slot: str) -> SlotInfo:
    row = conn.execute(
        "SELECT active_pid, plugin, database, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
        (slot,),
    ).fetchone()
    if row is None:
        return SlotInfo(False)
    from .lsn import parse_lsn

    return SlotInfo(True, row[0], row[1], row[2], parse_lsn(row[3]) if row[3] else None)


def drop_slot(conn: Any, slot: str) -> None:
    conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))


__all__ = [
    "SlotInfo",
    "TableInfo",
    "check_keys",
    "check_wal_level",
    "connect",
    "describe_table",
    "drop_slot",
    "ensure_publication",
    "is_captured",
    "published_oids",
    "select_tables",
    "slot_info",
]
