"""The initial snapshot: every captured table read in one ``REPEATABLE READ`` transaction that imports the
snapshot exported when the replication slot was created.

That snapshot is exactly the database as of the slot's consistent point, so the snapshot's rows plus the
changes the slot streams afterwards are the whole history with neither gap nor overlap. Rows are read with
a server-side cursor (``snapshot.fetch.size`` per round trip) and every column as text, the same text
form pgoutput streams (the
types' output functions), so both phases convert values identically.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .envelope import TableSchema
from .replication import explain


class SnapshotReader:
    """Yields ``(table, text values)`` for every row of ``tables`` as of ``snapshot_name``."""

    def __init__(
        self, params: dict[str, Any], snapshot_name: str | None, tables: Sequence[TableSchema], fetch_size: int
    ):
        import psycopg

        from .replication import conninfo

        try:
            self.conn = psycopg.connect(conninfo(params, replication=False), autocommit=False)
        except psycopg.OperationalError as exc:
            raise explain(str(exc), params) from exc
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.conn.read_only = True
        if snapshot_name:
            self.conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_name}'")
        self.tables = list(tables)
        self.fetch_size = fetch_size
        self._rows = self._iterate()

    def _iterate(self) -> Iterator[tuple[TableSchema, tuple[str | None, ...]]]:
        for n, table in enumerate(self.tables):
            # concat() applies the type's output function, as pgoutput does (a ::text cast would differ for
            # boolean, 'true' not 't', and char(n), whose padding it trims)
            cols = (
                ", ".join(f'CASE WHEN "{c.name}" IS NULL THEN NULL ELSE concat("{c.name}") END' for c in table.columns)
                or "NULL"
            )
            cur = self.conn.cursor(name=f"millstream_snapshot_{n}")
            cur.itersize = self.fetch_size
            cur.execute(f'SELECT {cols} FROM ONLY "{table.namespace}"."{table.name}"')
            for row in cur:
                yield table, tuple(row)
            cur.close()

    def read(self, max_rows: int) -> list[tuple[TableSchema, tuple[str | None, ...]]]:
        """Up to ``max_rows`` further rows; fewer (maybe none) only at the end."""
        out = []
        for item in self._rows:
            out.append(item)
            if len(out) >= max_rows:
                break
        return out

    def close(self) -> None:
        try:
            self.conn.rollback()
            self.conn.close()
        except Exception:
            pass


__all__ = ["SnapshotReader"]
