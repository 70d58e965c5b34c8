"""How the Flink SQL client shows query results, as text (pure: callers print it).

* :func:`render`: the *tableau* form of a finished result (``TableResult.print()``): a boxed table with an
  ``op`` column (the row kind), values right-aligned, ``<NULL>`` for null, then ``N rows in set``.
* :class:`StreamingTableau`: the tableau form of a streaming query, as Flink's client prints it row by row while
  the job runs: column widths come from the column types (capped at ``sql-client.display.max-column-width``,
  longer values end in ``...``), then ``Received a total of N rows``.
* :func:`changelog_line`: one change as the *changelog* mode shows it, ``+U[home, 2]``.
* :class:`Materialized` and :func:`render_table`: the *table* mode: changes applied to a table (``+I``/``+U``
  add a row, ``-U``/``-D`` remove an equal one) and that table without the ``op`` column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from .expressions import Field
from .row import RowKind
from .types import SqlType
from .values import to_display

#: Flink's default of ``sql-client.display.max-column-width``
MAX_COLUMN_WIDTH = 30


def _box(widths: Sequence[int]) -> str:
    return "+" + "+".join("-" * (w + 2) for w in widths) + "+"


def _cells(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "|" + "|".join(" " + c.rjust(w) + " " for c, w in zip(cells, widths, strict=True)) + "|"


def render(fields: Sequence[Field], rows: Iterable[tuple[str, tuple[Any, ...]]], tz: dt.tzinfo) -> str:
    """The table text of ``(row kind, values)`` pairs."""
    body = [[kind, *(to_display(v, f.type, tz) for v, f in zip(values, fields, strict=True))] for kind, values in rows]
    return _render(["op", *(f.name for f in fields)], body)


def render_table(fields: Sequence[Field], rows: Iterable[tuple[Any, ...]], tz: dt.tzinfo) -> str:
    """The table text of materialized rows (no ``op`` column), then ``N rows in result``/``Empty set``."""
    body = [[to_display(v, f.type, tz) for v, f in zip(values, fields, strict=True)] for values in rows]
    return _render([f.name for f in fields], body, "in result")


def _render(header: list[str], body: list[list[str]], suffix: str = "in set") -> str:
    widths = [max([len(header[i]), *(len(r[i]) for r in body)]) for i in range(len(header))]
    line = _box(widths)
    out = [line, _cells(header, widths), line, *(_cells(r, widths) for r in body), line]
    n = len(body)
    out.append(f"{n} row{'s' if n != 1 else ''} {suffix}" if n else "Empty set")
    return "\n".join(out)


def type_width(t: SqlType, max_width: int = MAX_COLUMN_WIDTH) -> int:
    """The width Flink's streaming tableau gives a column of type ``t`` (before the header's name)."""
    fixed = {"BOOLEAN": 5, "TINYINT": 4, "SMALLINT": 6, "INT": 11, "BIGINT": 20, "FLOAT": 12, "DOUBLE": 24}
    if t.name in fixed:
        width = fixed[t.name]
    elif t.name == "DECIMAL":
        width = (t.precision or 10) + 2
    elif t.name in ("TIMESTAMP", "TIMESTAMP_LTZ"):
        p = 3 if t.precision is None else t.precision
        width = 19 + (p + 1 if p > 0 else 0)
    elif t.name in ("CHAR", "VARCHAR") and t.precision:
        width = t.precision
    else:
        width = max_width
    if t.nullable:
        width = max(width, len("<NULL>"))
    return min(width, max_width)


class StreamingTableau:
    """Flink's streaming tableau: :meth:`header` once, :meth:`row` per change as it arrives, :meth:`footer`."""

    def __init__(self, fields: Sequence[Field], tz: dt.tzinfo, max_width: int = MAX_COLUMN_WIDTH) -> None:
        self.fields = list(fields)
        self.tz = tz
        self.widths = [2, *(max(len(f.name), type_width(f.type, max_width)) for f in self.fields)]
        self.count = 0

    def header(self) -> str:
        line = _box(self.widths)
        return "\n".join([line, _cells(["op", *(f.name for f in self.fields)], self.widths), line])

    def row(self, kind: str, values: tuple[Any, ...]) -> str:
        self.count += 1
        cells = [kind]
        for v, f, w in zip(values, self.fields, self.widths[1:], strict=True):
            text = to_display(v, f.type, self.tz)
            cells.append(text if len(text) <= w else text[: max(w - 3, 0)] + "...")
        return _cells(cells, self.widths)

    def footer(self, interrupted: bool = False) -> str:
        n = self.count
        total = f"{n} row{'s' if n != 1 else ''}"
        end = f"Query terminated, received a total of {total}" if interrupted else f"Received a total of {total}"
        return _box(self.widths) + "\n" + end


def changelog_line(kind: str, values: tuple[Any, ...], fields: Sequence[Field], tz: dt.tzinfo) -> str:
    """One change as the changelog mode shows it: ``+I[home, 1]`` (as the ``print`` connector writes rows)."""
    return kind + "[" + ", ".join(to_display(v, f.type, tz) for v, f in zip(values, fields, strict=True)) + "]"


class Materialized:
    """A changelog applied to a table, in arrival order: ``+I``/``+U`` append the row, ``-U``/``-D`` remove the
    earliest equal row (a retraction of a row that is not there is ignored). ``max_rows`` > 0 bounds the
    table: the oldest rows are dropped (Flink's ``sql-client.execution.max-table-result.rows``)."""

    def __init__(self, max_rows: int = 0) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.max_rows = max_rows

    def apply(self, kind: str, values: tuple[Any, ...]) -> None:
        if kind in (RowKind.INSERT, RowKind.UPDATE_AFTER):
            self.rows.append(values)
            if self.max_rows > 0 and len(self.rows) > self.max_rows:
                del self.rows[0]
        else:
            try:
                self.rows.remove(values)
            except ValueError:
                pass


__all__ = [
    "MAX_COLUMN_WIDTH",
    "Materialized",
    "StreamingTableau",
    "changelog_line",
    "render",
    "render_table",
    "type_width",
]
