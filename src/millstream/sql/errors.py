"""Errors of the SQL layer: every one names the statement position (line, column) when it has one, says
what is wrong, and what to write instead (``hint``)."""

from __future__ import annotations

from ..core.errors import MillstreamError


class SqlError(MillstreamError, ValueError):
    """A SQL statement cannot be parsed, validated or planned.

    ``line``/``column`` (1-based, in the text given to ``execute_sql``/``sql_query`` or the script file) point
    at the offending construct when known; ``str(error)`` reads ``line 3, column 8: unknown column 'x' ...``.
    """

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None, line: int | None = None, column: int | None = None):
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line is not None and column is not None else ""
        super().__init__(where + message, hint=hint)


class SqlParseError(SqlError):
    """The text is not valid Flink SQL."""


class SqlValidationError(SqlError):
    """The statement parses but names an unknown table, column or function, mixes types, or uses a construct
    millstream does not support yet."""


__all__ = ["SqlError", "SqlParseError", "SqlValidationError"]
