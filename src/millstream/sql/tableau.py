"""Flink SQL client's *tableau* form for ``TableResult.print()``: a boxed table with an ``op`` column
(the row kind), values right-aligned, ``<NULL>`` for null, then ``N rows in set`` / the count of rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from .expressions import Field
from .values import to_display


def render(fields: Sequence[Field], rows: Iterable[tuple[str, tuple[Any, ...]]], tz: dt.tzinfo) -> str:
    """The table text of ``(row kind, values)`` pairs."""
    body = [[kind, *(to_display(v, f.type, tz) for v, f in zip(values, fields, strict=True))] for kind, values in rows]
    header = ["op", *(f.name for f in fields)]
    widths = [max([len(header[i]), *(len(r[i]) for r in body)]) for i in range(len(header))]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def fmt(cells: list[str]) -> str:
        return "|" + "|".join(" " + c.rjust(w) + " " for c, w in zip(cells, widths, strict=True)) + "|"

    out = [line, fmt(header), line, *(fmt(r) for r in body), line]
    n = len(body)
    out.append(f"{n} row{'s' if n != 1 else ''} in set" if n else "Empty set")
    return "\n".join(out)


__all__ = ["render"]
