"""Changelog rows: Flink's ``RowKind`` (``+I`` insert, ``-U`` update before, ``+U`` update after, ``-D``
delete) attached to a row, and a materialiser that applies them to a keyed table.

Pure data, no I/O: formats such as ``debezium-json`` (:mod:`millstream.core.debezium_json`) produce these
rows from change events, and a stream job, a SQL table or an upsert sink consumes them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from enum import Enum
from typing import Any, NamedTuple


class RowKind(Enum):
    """The kind of change a row stands for, with Flink's short strings."""

    INSERT = "+I"
    UPDATE_BEFORE = "-U"
    UPDATE_AFTER = "+U"
    DELETE = "-D"

    @property
    def short_string(self) -> str:
        return self.value

    @property
    def is_retraction(self) -> bool:
        """``-U`` and ``-D`` take a row away; ``+I`` and ``+U`` add one."""
        return self in (RowKind.UPDATE_BEFORE, RowKind.DELETE)


class ChangelogRow(NamedTuple):
    """One changelog entry: a :class:`RowKind` and the row (a dict of column → value)."""

    kind: RowKind
    row: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.kind.value}{self.row}"


class Materializer:
    """Applies changelog rows to a table keyed by ``key(row)``: ``+I``/``+U`` upsert, ``-D`` deletes, ``-U``
    is ignored (the ``+U`` that follows replaces the row). The contract of an upsert sink: applying a
    changelog in order leaves exactly the source table's rows."""

    def __init__(self, key: Callable[[Mapping[str, Any]], Hashable]) -> None:
        self.key = key
        self.rows: dict[Hashable, dict[str, Any]] = {}

    def apply(self, changes: Iterable[ChangelogRow]) -> None:
        for change in changes:
            if change.kind is RowKind.DELETE:
                self.rows.pop(self.key(change.row), None)
            elif change.kind is not RowKind.UPDATE_BEFORE:
                self.rows[self.key(change.row)] = change.row


__all__ = ["ChangelogRow", "Materializer", "RowKind"]
