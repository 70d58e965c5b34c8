"""``Row``: one result row of a SQL query, as PyFlink's ``pyflink.common.Row``.

A tuple of the column values with the column names (``row.name``, ``row["name"]``, ``row[0]``,
``row.as_dict()``) and its kind in a changelog (``row.get_row_kind()``: ``+I`` insert, ``-U``/``+U`` update
before/after, ``-D`` delete). Rows compare equal to plain tuples of the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class RowKind:
    """Flink's row kinds, shown as in the SQL client."""

    INSERT = "+I"
    UPDATE_BEFORE = "-U"
    UPDATE_AFTER = "+U"
    DELETE = "-D"


class Row(tuple):
    """A result row: a tuple with field names and a row kind."""

    _names: tuple[str, ...]
    _kind: str

    def __new__(cls, values: Sequence[Any], names: Sequence[str], kind: str = RowKind.INSERT) -> Row:
        row = super().__new__(cls, values)
        row._names = tuple(names)
        row._kind = kind
        return row

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._names.index(name)]
        except ValueError:
            raise AttributeError(f"row has no field {name!r} (fields: {', '.join(self._names)})") from None

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, str):
            return self.__getattr__(item)
        return super().__getitem__(item)

    def get_row_kind(self) -> str:
        return self._kind

    def get_field_names(self) -> list[str]:
        return list(self._names)

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(self._names, self, strict=True))

    def __repr__(self) -> str:
        return "Row(" + ", ".join(f"{n}={v!r}" for n, v in zip(self._names, self, strict=True)) + ")"

    def __reduce__(self) -> Any:
        return (Row, (tuple(self), self._names, self._kind))


__all__ = ["Row", "RowKind"]
