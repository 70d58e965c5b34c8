"""JDBC tables as stream sources and sinks — as *descriptions* (no I/O, no ``connect`` import), for the SQL
``jdbc`` connector (:mod:`millstream.sql.jdbc`).

:class:`JdbcTableSink` takes elements ``(op, values)``: ``op`` ``"upsert"`` (insert or update by ``key_columns``),
``"insert"`` (a plain insert, for tables without a key) or ``"delete"`` (by the key's values in ``values``), and
``values`` the row's values for ``columns`` as the database driver takes them. :class:`JdbcTableSource` is a
bounded scan of ``columns`` of ``table`` (tuples in column order, as the driver returns them).
:mod:`millstream.runtime` (``runtime.jdbc_table``) registers the binder that runs them with the JDBC dialects of
:mod:`millstream.connect.connectors.jdbc` (PostgreSQL, SQLite, MySQL/MariaDB).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .binders import Binders

_binders = Binders("JDBC")


def register_jdbc_binder(kind: str, factory: Callable[..., Any]) -> None:
    """Install the runtime factory for ``kind`` ``"source"`` (``factory(descriptor, clock) -> reader``) or
    ``"sink"`` (``factory(descriptor, name, uid) -> sink operator``)."""
    _binders.register(kind, factory)


_bound = _binders.bound


@dataclass(frozen=True, eq=False)
class JdbcTableSink:
    """Writes ``(op, values)`` elements to ``table``: buffered, flushed in one transaction every
    ``flush_max_rows`` rows (0: no limit), every ``flush_interval_ms`` (0: no timer), at every checkpoint and at
    the end, in element order."""

    url: str
    table: str
    columns: tuple[str, ...]
    key_columns: tuple[str, ...]
    username: str | None = None
    password: str | None = None
    flush_max_rows: int = 100
    flush_interval_ms: int = 1000
    name: str = "JdbcSink"

    def create_operator(self, name: str, uid: str | None) -> Any:
        return _bound("sink")(self, name, uid)


@dataclass(frozen=True, eq=False)
class JdbcTableSource:
    """A bounded scan: every row of ``table`` (``columns`` in order), then the source ends."""

    url: str
    table: str
    columns: tuple[str, ...]
    username: str | None = None
    password: str | None = None
    name: str = "JdbcSource"

    def create_reader(self, clock: Any) -> Any:
        return _bound("source")(self, clock)


__all__ = ["JdbcTableSink", "JdbcTableSource", "register_jdbc_binder"]
