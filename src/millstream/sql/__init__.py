"""Flink SQL on millstream: parse → validate → plan → a DataStream graph (pure: no I/O here).

Entry point: :class:`StreamTableEnvironment` (``StreamTableEnvironment.create(env)``). Needs the ``sql``
extra (``pip install millstream[sql]``, for sqlglot). See docs/sql.md for what is supported.
"""

from .errors import SqlError, SqlParseError, SqlValidationError

try:
    import sqlglot  # noqa: F401 - the parser; an optional dependency
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise SqlError("millstream's SQL layer needs the sqlglot package", hint='pip install "millstream[sql]"') from exc

from .environment import StreamTableEnvironment
from .row import Row, RowKind
from .schema import Schema
from .table import Table, TableResult
from .udf import ScalarFunction, udf
from .udtf import TableFunction, udtf

__all__ = [
    "Row",
    "RowKind",
    "ScalarFunction",
    "Schema",
    "SqlError",
    "SqlParseError",
    "SqlValidationError",
    "StreamTableEnvironment",
    "Table",
    "TableFunction",
    "TableResult",
    "udf",
    "udtf",
]
