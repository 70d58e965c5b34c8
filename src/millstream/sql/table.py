"""``Table`` (a planned query) and ``TableResult`` (what ``execute_sql`` returns), PyFlink's names.

``Table.execute()`` runs the query's job and returns a :class:`TableResult`; ``collect()`` gives its rows
(:class:`~millstream.sql.row.Row`) and ``print()`` writes them in the tableau form. These run the query to
the end, so its sources must be bounded (a file, a log table with ``'scan.bounded.mode' = 'latest-offset'``,
``datagen`` with ``number-of-rows``); on an unbounded source they do not return, as in Flink.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .expressions import Field
from .row import Row, RowKind
from .tableau import render
from .values import to_python

if TYPE_CHECKING:
    from .environment import StreamTableEnvironment
    from .planner import Relation


class ResultKind:
    SUCCESS = "SUCCESS"
    SUCCESS_WITH_CONTENT = "SUCCESS_WITH_CONTENT"


class TableSchema:
    """Column names and types of a table or result (``get_field_names()``, ``get_field_data_types()``)."""

    def __init__(self, fields: Sequence[Field]) -> None:
        self.fields = list(fields)

    def get_field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def get_field_data_types(self) -> list[str]:
        return [str(f.type) for f in self.fields]

    def __str__(self) -> str:
        return "(\n" + ",\n".join(f"  `{f.name}` {f.type}" for f in self.fields) + "\n)"


class Table:
    """The result of ``sql_query``: a relation not yet running. Use it in ``create_temporary_view``,
    ``execute()``, ``to_data_stream`` or ``execute_insert``."""

    def __init__(
        self,
        tenv: StreamTableEnvironment,
        relation_factory: Any,
        fields: list[Field],
        text: str,
        changelog: bool = False,
    ) -> None:
        self._tenv = tenv
        self._factory = relation_factory
        self.fields = fields
        self.text = text
        self.changelog = changelog
        """Whether the rows are a changelog (updates and deletes), not only inserts."""

    def relation(self) -> Relation:
        """Plan a fresh copy of the query's operators."""
        rel: Relation = self._factory()
        return rel

    def get_schema(self) -> TableSchema:
        return TableSchema(self.fields)

    def get_resolved_schema(self) -> TableSchema:
        return TableSchema(self.fields)

    def print_schema(self) -> None:
        print(self.get_schema())

    def execute(self) -> TableResult:
        """Run the query to its end and return its rows as a result (``collect()``/``print()``)."""
        with self.changes() as changes:
            return TableResult(self.fields, list(changes), self._tenv.time_zone)

    def changes(self) -> Changes:
        """Start the query's job and stream its changes while it runs: an iterator of ``(row kind, values)``
        (internal values, see :mod:`millstream.sql.values`) that ends when the job does; ``close()`` (or the
        end of a ``with`` block) cancels a job still running. Unbounded queries stream for ever."""
        rel = self.relation()
        return Changes(rel.stream.execute_and_collect(f"collect: {self.text[:60]}"), rel.changelog)

    def execute_insert(self, table_name: str) -> TableResult:
        return self._tenv.insert_into(table_name, self)

    def __str__(self) -> str:
        return f"Table({self.text})"


class Changes:
    """The changes of a running query (:meth:`Table.changes`): ``(row kind, values)`` pairs, closeable."""

    def __init__(self, collected: Any, changelog: bool) -> None:
        self._it = collected
        self._changelog = changelog

    def __iter__(self) -> Iterator[tuple[str, tuple[Any, ...]]]:
        for r in self._it:
            yield (r[-1], tuple(r[:-1])) if self._changelog else (RowKind.INSERT, tuple(r))

    def __enter__(self) -> Changes:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Cancel the job if it still runs (idempotent)."""
        self._it.close()


class TableResult:
    """A statement's result: rows (queries, ``SHOW``, ``DESCRIBE``), ``OK``, or a submitted job (``INSERT``,
    ``wait()`` to block until it ends)."""

    def __init__(
        self,
        fields: Sequence[Field],
        rows: list[tuple[str, tuple[Any, ...]]] | None = None,
        tz: dt.tzinfo = dt.UTC,
        job_client: Any = None,
    ) -> None:
        self.fields = list(fields)
        self._rows = rows if rows is not None else []
        self._tz = tz
        self._job_client = job_client

    def get_result_kind(self) -> str:
        return (
            ResultKind.SUCCESS_WITH_CONTENT if self.fields and self.fields[0].name != "result" else ResultKind.SUCCESS
        )

    def get_job_client(self) -> Any:
        return self._job_client

    def get_table_schema(self) -> TableSchema:
        return TableSchema(self.fields)

    def get_resolved_schema(self) -> TableSchema:
        return TableSchema(self.fields)

    def wait(self, timeout_ms: int | None = None) -> None:
        """Block until the statement's job (``INSERT INTO``) has finished; a failure raises ``JobFailedError``."""
        if self._job_client is not None:
            self._job_client.get_job_execution_result(None if timeout_ms is None else timeout_ms / 1000)

    def collect(self) -> Iterator[Row]:
        """The rows, with Python values (``datetime`` for timestamps, ``Decimal``, ...)."""
        names = [f.name for f in self.fields]
        types = [f.type for f in self.fields]
        for kind, values in self._rows:
            yield Row([to_python(v, t, self._tz) for v, t in zip(values, types, strict=True)], names, kind)

    def print(self) -> None:
        """Print the rows in the SQL client's tableau form."""
        print(self.to_tableau())

    def to_tableau(self) -> str:
        return render(self.fields, self._rows, self._tz)


__all__ = ["Changes", "ResultKind", "Table", "TableResult", "TableSchema"]
