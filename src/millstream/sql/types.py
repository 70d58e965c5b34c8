"""Flink SQL data types as millstream represents them.

A :class:`SqlType` is a Flink logical type (``INT``, ``STRING``, ``DECIMAL(10, 2)``, ``TIMESTAMP(3)``,
``TIMESTAMP_LTZ(3)``, ...) with its nullability and whether it is the table's event-time attribute
(``*ROWTIME*`` in ``DESCRIBE``). Values inside a running SQL job use an *internal* representation, as
Flink's ``RowData`` does: integers and floats as Python numbers, ``DECIMAL`` as :class:`decimal.Decimal`,
strings as ``str``, ``TIMESTAMP``/``TIMESTAMP_LTZ`` as epoch milliseconds (``int``; a ``TIMESTAMP`` is
its wall-clock time read as UTC), and ``DATE`` as days since 1970-01-01 (``int``).
:mod:`millstream.sql.values` converts at the edges (files, print, collect).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlglot import exp

from .errors import SqlValidationError

INTEGER_TYPES = ("TINYINT", "SMALLINT", "INT", "BIGINT")
FLOAT_TYPES = ("FLOAT", "DOUBLE")
NUMERIC_TYPES = (*INTEGER_TYPES, "DECIMAL", *FLOAT_TYPES)
TIME_TYPES = ("TIMESTAMP", "TIMESTAMP_LTZ")
INTEGER_BITS = {"TINYINT": 8, "SMALLINT": 16, "INT": 32, "BIGINT": 64}


@dataclass(frozen=True)
class SqlType:
    """One Flink logical type. ``name`` is the root (``INT``, ``STRING``, ``DECIMAL``, ``TIMESTAMP``, ...)."""

    name: str
    nullable: bool = True
    precision: int | None = None
    scale: int | None = None
    rowtime: bool = False
    stamped: bool = True
    """For a time attribute: whether its value is also its rows' stream timestamp. An interval join keeps both
    inputs' time attributes, so they are not; a window over one re-stamps the rows first."""
    proctime: bool = False
    """A processing-time attribute (``pt AS PROCTIME()``): the wall clock when the row was read."""

    def __str__(self) -> str:
        text = self.name
        if self.name == "DECIMAL":
            text = f"DECIMAL({self.precision}, {self.scale})"
        elif self.name in TIME_TYPES:
            text = f"{self.name}({3 if self.precision is None else self.precision})"
        if not self.nullable:
            text += " NOT NULL"
        if self.rowtime:
            text += " *ROWTIME*"
        if self.proctime:
            text += " *PROCTIME*"
        return text

    @property
    def is_numeric(self) -> bool:
        return self.name in NUMERIC_TYPES

    @property
    def is_integer(self) -> bool:
        return self.name in INTEGER_TYPES

    @property
    def is_time(self) -> bool:
        return self.name in TIME_TYPES

    def with_nullable(self, nullable: bool) -> SqlType:
        return replace(self, nullable=nullable)

    def plain(self) -> SqlType:
        """The same type without the time-attribute mark (what an expression over it yields)."""
        return replace(self, rowtime=False, stamped=True, proctime=False) if self.rowtime or self.proctime else self


BOOLEAN = SqlType("BOOLEAN")
INT = SqlType("INT")
BIGINT = SqlType("BIGINT")
DOUBLE = SqlType("DOUBLE")
STRING = SqlType("STRING")
TIMESTAMP3 = SqlType("TIMESTAMP", precision=3)
TIMESTAMP_LTZ3 = SqlType("TIMESTAMP_LTZ", precision=3)
DATE = SqlType("DATE")
INTERVAL = SqlType("INTERVAL")
NULL = SqlType("NULL")

_SQLGLOT_NAMES = {
    "BOOLEAN": "BOOLEAN",
    "TINYINT": "TINYINT",
    "SMALLINT": "SMALLINT",
    "INT": "INT",
    "BIGINT": "BIGINT",
    "FLOAT": "FLOAT",
    "DOUBLE": "DOUBLE",
    "DECIMAL": "DECIMAL",
    "TEXT": "STRING",
    "VARCHAR": "STRING",
    "CHAR": "STRING",
    "NVARCHAR": "STRING",
    "TIMESTAMP": "TIMESTAMP",
    "DATETIME": "TIMESTAMP",
    "TIMESTAMPLTZ": "TIMESTAMP_LTZ",
    "TIMESTAMPTZ": "TIMESTAMP_LTZ",
    "DATE": "DATE",
}


def from_sqlglot(dt: exp.DataType, nullable: bool = True) -> SqlType:
    """The :class:`SqlType` of a parsed type (``INT``, ``VARCHAR(10)``, ``TIMESTAMP_LTZ(3)``, ...)."""
    raw = dt.this.name if hasattr(dt.this, "name") else str(dt.this)
    name = _SQLGLOT_NAMES.get(raw.upper())
    if name is None:
        line, col = position(dt)
        raise SqlValidationError(
            f"type {dt.sql()} is not supported",
            hint="use BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, DECIMAL(p, s), STRING, VARCHAR(n), "
            "DATE, TIMESTAMP(p) or TIMESTAMP_LTZ(p)",
            line=line,
            column=col,
        )
    params = [int(p.this.this) if isinstance(p.this, exp.Literal) else int(p.name) for p in dt.expressions]
    if name == "DECIMAL":
        precision = params[0] if params else 10
        scale = params[1] if len(params) > 1 else 0
        return SqlType("DECIMAL", nullable, precision, scale)
    if name in TIME_TYPES:
        return SqlType(name, nullable, params[0] if params else 6)
    return SqlType(name, nullable)


def position(node: exp.Expr) -> tuple[int | None, int | None]:
    """1-based (line, column) where ``node`` starts in the statement, when sqlglot recorded it."""
    meta: dict = {}
    for child in node.walk(bfs=False):
        m = child.meta if hasattr(child, "meta") else {}
        if m.get("line") is None:
            continue
        if not meta:
            meta = m
        elif m.get("start") is not None and meta.get("start") is not None and m["start"] < meta["start"]:
            meta = m  # the earliest token of the node (``o`` of ``o.k``, not ``k``)
    line = meta.get("line")
    col = meta.get("col")
    if line is None:
        return None, None
    # sqlglot's column is where the token ends; report where it starts
    start = meta.get("start")
    end = meta.get("end")
    if col is not None and start is not None and end is not None:
        col = col - (end - start)
    return line, col


def common_numeric(a: SqlType, b: SqlType) -> SqlType:
    """The result type of arithmetic between two numeric types (Flink's widening rules)."""
    nullable = a.nullable or b.nullable
    if a.name in FLOAT_TYPES or b.name in FLOAT_TYPES:
        return SqlType("DOUBLE", nullable)
    if a.name == "DECIMAL" or b.name == "DECIMAL":
        scale = max(a.scale or 0, b.scale or 0)
        return SqlType("DECIMAL", nullable, 38 if scale else 19, scale)
    bits = max(INTEGER_BITS.get(a.name, 32), INTEGER_BITS.get(b.name, 32))
    return SqlType(next(n for n, v in INTEGER_BITS.items() if v == bits), nullable)


def comparable(a: SqlType, b: SqlType) -> bool:
    """Whether values of the two types can be compared (or share a CASE/COALESCE result)."""
    if a.name == "NULL" or b.name == "NULL":
        return True
    if a.is_numeric and b.is_numeric:
        return True
    if a.is_time and b.is_time:
        return True
    return a.name == b.name


def assignable(src: SqlType, dst: SqlType) -> bool:
    """Whether a query column of type ``src`` may be written into a sink column of type ``dst``
    (Flink allows implicit widening only)."""
    if src.name == "NULL" or src.name == dst.name:
        return True
    if src.is_integer and dst.is_integer:
        return INTEGER_BITS[src.name] <= INTEGER_BITS[dst.name]
    if src.is_numeric and dst.name in ("DECIMAL", *FLOAT_TYPES):
        return True
    return src.is_time and dst.is_time


__all__ = [
    "BIGINT",
    "BOOLEAN",
    "DATE",
    "DOUBLE",
    "INT",
    "INTERVAL",
    "NULL",
    "STRING",
    "TIMESTAMP3",
    "TIMESTAMP_LTZ3",
    "SqlType",
    "assignable",
    "common_numeric",
    "comparable",
    "from_sqlglot",
    "position",
]
