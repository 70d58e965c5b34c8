"""``Schema``: the columns of a DataStream turned into a table (``from_data_stream``), PyFlink's builder
with types as Flink SQL type strings::

    Schema.new_builder().column("page", "STRING").column("ts", "TIMESTAMP_LTZ(3)")
          .watermark("ts", "ts - INTERVAL '5' SECOND").build()

Elements may be dicts (read by column name) or tuples/lists/``Row`` s (read by position); ``datetime``
values of timestamp columns are converted, ints are taken as epoch milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from .catalog import WatermarkSpec, _watermark
from .dialect import Flink
from .errors import SqlValidationError
from .expressions import Field
from .types import from_sqlglot


@dataclass(frozen=True)
class Schema:
    fields: tuple[Field, ...]
    watermark: WatermarkSpec | None = None

    @staticmethod
    def new_builder() -> SchemaBuilder:
        return SchemaBuilder()


class SchemaBuilder:
    def __init__(self) -> None:
        self._fields: list[Field] = []
        self._watermark: WatermarkSpec | None = None

    def column(self, name: str, data_type: str) -> SchemaBuilder:
        try:
            dt = exp.DataType.build(str(data_type), dialect=Flink)
        except Exception as exc:
            raise SqlValidationError(
                f"column '{name}': cannot read type {data_type!r}", hint="e.g. 'INT', 'STRING', 'TIMESTAMP_LTZ(3)'"
            ) from exc
        self._fields.append(Field(name, from_sqlglot(dt)))
        return self

    def watermark(self, column: str, expression: str) -> SchemaBuilder:
        tree = sqlglot.parse_one(f"CREATE TABLE t (WATERMARK FOR {column} AS {expression})", read=Flink)
        wm = next(tree.find_all(exp.WatermarkColumnConstraint))
        self._watermark = _watermark(wm)
        return self

    def build(self) -> Schema:
        if not self._fields:
            raise SqlValidationError("a schema needs columns", hint="Schema.new_builder().column('a', 'INT').build()")
        if self._watermark and self._watermark.column not in [f.name for f in self._fields]:
            raise SqlValidationError(f"the watermark is on unknown column '{self._watermark.column}'")
        return Schema(tuple(self._fields), self._watermark)


__all__ = ["Schema", "SchemaBuilder"]
