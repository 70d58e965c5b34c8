"""Flink's SQL dialect as a `sqlglot <https://sqlglot.com>`_ dialect.

sqlglot's default dialect parses most of Flink SQL (Calcite's grammar); this dialect adds what Flink has on
top: backtick-quoted identifiers, ``WATERMARK FOR col AS expr`` inside ``CREATE TABLE``, Flink's type names
(``STRING``, ``BYTES``, ``TIMESTAMP_LTZ(p)``) and the window table-valued functions
``TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE))`` (also ``HOP``, ``CUMULATE`` and
``SESSION(TABLE t PARTITION BY k, ...)``), parsed into :class:`WindowTVF` nodes.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp, parser, tokens
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import TokenType

WINDOW_TVFS = ("TUMBLE", "HOP", "CUMULATE", "SESSION")


class WindowTVF(exp.Expression, exp.Func):
    """``TUMBLE|HOP|CUMULATE|SESSION(TABLE t [PARTITION BY ...], DESCRIPTOR(col), INTERVAL ...[, ...])``:
    ``this`` = the function name, ``table`` = the input table, ``partition_by`` = session keys,
    ``descriptor`` = the time column, ``expressions`` = the interval arguments."""

    arg_types = {"this": True, "table": True, "partition_by": False, "descriptor": True, "expressions": True}


class MetadataColumnConstraint(exp.Expression, exp.ColumnConstraintKind):
    """``METADATA [FROM 'key'] [VIRTUAL]`` of a column: ``this`` = the key (``None``: the column name)."""

    arg_types = {"this": False, "virtual": False}


def _parse_metadata(self: FlinkParser) -> exp.Expression:
    key = self._parse_string() if self._match(TokenType.FROM) else None
    virtual = self._match_text_seq("VIRTUAL")
    return self.expression(MetadataColumnConstraint(this=key, virtual=virtual))


def _parse_window_tvf(name: str) -> Any:
    def parse(self: FlinkParser) -> exp.Expression:
        if not self._match(TokenType.TABLE):
            self.raise_error(f"{name} expects TABLE <name> as its first argument")
        table = self._parse_table_parts()
        partition_by = None
        if self._match(TokenType.PARTITION_BY):
            if self._match(TokenType.L_PAREN):
                partition_by = self._parse_csv(self._parse_column)
                self._match_r_paren()
            else:
                column = self._parse_column()
                partition_by = [column] if column is not None else []
        self._match(TokenType.COMMA)
        if not self._match_text_seq("DESCRIPTOR"):
            self.raise_error(f"{name} expects DESCRIPTOR(<time column>) as its second argument")
        self._match_l_paren()
        descriptor = self._parse_column()
        self._match_r_paren()
        args = []
        while self._match(TokenType.COMMA):
            args.append(self._parse_assignment())
        return self.expression(
            WindowTVF(
                this=exp.Var(this=name),
                table=table,
                partition_by=partition_by,
                descriptor=descriptor,
                expressions=args,
            )
        )

    return parse


class FlinkTokenizer(tokens.Tokenizer):
    IDENTIFIERS = ["`"]
    QUOTES = ["'"]
    STRING_ESCAPES = ["'"]
    KEYWORDS = {
        **tokens.Tokenizer.KEYWORDS,
        "STRING": TokenType.TEXT,
        "BYTES": TokenType.VARBINARY,
        "TIMESTAMP_LTZ": TokenType.TIMESTAMPLTZ,
    }


class FlinkParser(parser.Parser):
    CONSTRAINT_PARSERS = {
        **parser.Parser.CONSTRAINT_PARSERS,
        "METADATA": _parse_metadata,
        "WATERMARK": lambda self: self.expression(
            exp.WatermarkColumnConstraint(
                this=self._match(TokenType.FOR) and self._parse_column(),
                expression=self._match(TokenType.ALIAS) and self._parse_disjunction(),
            )
        ),
    }
    SCHEMA_UNNAMED_CONSTRAINTS = {*parser.Parser.SCHEMA_UNNAMED_CONSTRAINTS, "WATERMARK"}
    FUNC_TOKENS = {*parser.Parser.FUNC_TOKENS, TokenType.SESSION}
    FUNCTIONS = {
        **parser.Parser.FUNCTIONS,
        "TABLE": lambda args: exp.TableFromRows(this=args[0] if args else None),
        # Flink: TIMESTAMPDIFF(unit, start, end)
        "TIMESTAMPDIFF": lambda args: exp.TimestampDiff(
            this=args[2] if len(args) > 2 else None,
            expression=args[1] if len(args) > 1 else None,
            unit=exp.var(args[0].name.upper()) if args else None,
        ),
    }
    FUNCTION_PARSERS = {
        **parser.Parser.FUNCTION_PARSERS,
        **{name: _parse_window_tvf(name) for name in WINDOW_TVFS},
    }


class Flink(Dialect):
    """The dialect: ``sqlglot.parse(text, read=Flink)``."""

    class Tokenizer(FlinkTokenizer):
        pass

    class Parser(FlinkParser):
        pass


__all__ = ["WINDOW_TVFS", "Flink", "MetadataColumnConstraint", "WindowTVF"]
