"""SQL sort order of ``ORDER BY`` in ``OVER`` clauses: a comparison of rows by several columns, each ``ASC`` or
``DESC``, with Flink's default placement of ``NULL`` (first for ``ASC``, last for ``DESC``, checked against Flink 2.3
runs) unless ``NULLS FIRST``/``NULLS LAST`` says otherwise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def row_comparator(
    columns: Sequence[int], descending: Sequence[bool], nulls_first: Sequence[bool] | None = None
) -> Callable[[Any, Any], int]:
    """``compare(a, b)`` of two rows by the values at ``columns``: negative when ``a`` sorts first, 0 when they
    tie, positive otherwise. ``nulls_first`` per column (default: Flink's, ``NULL`` first for ``ASC``)."""
    firsts = nulls_first if nulls_first is not None else [not d for d in descending]
    order = list(zip(columns, descending, firsts, strict=True))

    def compare(a: Any, b: Any) -> int:
        for i, desc, null_first in order:
            x, y = a[i], b[i]
            if x == y:
                continue
            if x is None or y is None:
                return (-1 if x is None else 1) * (1 if null_first else -1)
            c = -1 if x < y else 1
            return -c if desc else c
        return 0

    return compare


__all__ = ["row_comparator"]
