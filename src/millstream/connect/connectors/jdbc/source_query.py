"""The JDBC source's queries and offsets, exactly as Confluent's JDBC source connector builds them.

Modes (``mode``) and the SQL each runs (``ts`` is the timestamp column, or ``COALESCE(ts1, ts2, ..)`` when
``timestamp.column.name`` lists several; ``end`` is the database's current time minus
``timestamp.delay.interval.ms``):

``bulk``
    ``SELECT * FROM t`` — the whole table every ``poll.interval.ms``; no offsets.
``incrementing``
    ``SELECT * FROM t WHERE inc > ? ORDER BY inc`` — new rows of a strictly increasing column.
``timestamp``
    ``SELECT * FROM t WHERE ts > ? AND ts < end ORDER BY ts`` — new and updated rows.
``timestamp+incrementing``
    ``SELECT * FROM t WHERE ts < end AND ((ts = ? AND inc > ?) OR ts > ?) ORDER BY ts, inc`` — new and updated
    rows, without losing rows that share a timestamp.

With ``query`` instead of a table the user's query is wrapped as a sub-select
(``SELECT * FROM (<query>) AS "millstream_query" WHERE ...``), so it may have its own ``WHERE``.

Offsets are stored as Confluent stores them: ``{"incrementing": n}`` and/or
``{"timestamp": epoch_ms, "timestamp_nanos": nanos_within_the_second}``, under the source partition
``{"table": name}`` or ``{"query": sql}``. Timestamps are handled as naive UTC ``datetime`` values (every
session runs with ``TimeZone=UTC``), which keeps PostgreSQL's microseconds exactly.

Identifiers, placeholders and the timestamp comparison come from :attr:`QuerySpec.dialect`: MySQL quotes with
backticks and compares ``DATETIME`` columns natively (session ``time_zone='+00:00'``); SQLite binds ``?`` and
compares ``strftime('%Y-%m-%d %H:%M:%f', ts)`` text with bounds formatted the same way, i.e. at millisecond
precision.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ....core.errors import ConfigError
from .dialect import TableId
from .dialects import POSTGRES, Dialect

_EPOCH = _dt.datetime(1970, 1, 1)


class Mode(StrEnum):
    """The source's ``mode``."""

    BULK = "bulk"
    INCREMENTING = "incrementing"
    TIMESTAMP = "timestamp"
    TIMESTAMP_INCREMENTING = "timestamp+incrementing"

    @property
    def uses_incrementing(self) -> bool:
        return self in (Mode.INCREMENTING, Mode.TIMESTAMP_INCREMENTING)

    @property
    def uses_timestamp(self) -> bool:
        return self in (Mode.TIMESTAMP, Mode.TIMESTAMP_INCREMENTING)

    @classmethod
    def parse(cls, text: str) -> Mode:
        try:
            return cls(text.strip().lower())
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise ConfigError(f"mode {text!r} is not one of {allowed}") from None


def naive_utc(value: _dt.datetime) -> _dt.datetime:
    """``value`` as a naive UTC datetime (aware values are converted, naive ones are taken as UTC)."""
    if value.tzinfo is not None:
        return value.astimezone(_dt.UTC).replace(tzinfo=None)
    return value


@dataclass(frozen=True)
class SourceOffset:
    """Where a table or query was read up to: the last incrementing value and/or timestamp seen."""

    incrementing: int | None = None
    timestamp: _dt.datetime | None = None  # naive UTC

    def to_map(self) -> dict[str, Any]:
        """The stored form: ``{"incrementing": n, "timestamp": ms, "timestamp_nanos": nanos}`` (set keys only)."""
        out: dict[str, Any] = {}
        if self.incrementing is not None:
            out["incrementing"] = self.incrementing
        if self.timestamp is not None:
            delta = self.timestamp - _EPOCH
            seconds = delta.days * 86_400 + delta.seconds
            out["timestamp"] = seconds * 1000 + delta.microseconds // 1000
            out["timestamp_nanos"] = delta.microseconds * 1000
        return out

    @classmethod
    def from_map(cls, stored: Mapping[str, Any] | None) -> SourceOffset:
        """Read a stored offset (``None`` or ``{}`` = nothing read yet)."""
        if not stored:
            return cls()
        inc = stored.get("incrementing")
        ts: _dt.datetime | None = None
        if stored.get("timestamp") is not None:
            ms = int(stored["timestamp"])
            nanos = stored.get("timestamp_nanos")
            if nanos is None:
                ts = _EPOCH + _dt.timedelta(milliseconds=ms)
            else:
                ts = _EPOCH + _dt.timedelta(seconds=ms // 1000, microseconds=int(nanos) // 1000)
        return cls(int(inc) if inc is not None else None, ts)


@dataclass(frozen=True)
class QuerySpec:
    """What one source task reads: a table or a query, the mode, and its columns.

    ``initial_incrementing`` / ``initial_timestamp`` are where reading starts when no offset is stored
    (Confluent: incrementing ``-1``; timestamp the epoch, or ``timestamp.initial``).
    """

    mode: Mode
    table: TableId | None = None
    query: str | None = None
    incrementing_column: str | None = None
    timestamp_columns: tuple[str, ...] = ()
    initial_incrementing: int = -1
    initial_timestamp: _dt.datetime = _EPOCH
    dialect: Dialect = POSTGRES
    """Quoting, placeholders and timestamp comparison (SQLite compares ``strftime`` text at ms precision)."""

    def __post_init__(self) -> None:
        if (self.table is None) == (self.query is None):
            raise ConfigError("a source query needs exactly one of a table or a query")
        if self.mode.uses_incrementing and not self.incrementing_column:
            raise ConfigError(
                f"mode={self.mode.value} needs incrementing.column.name",
                hint="name a strictly increasing column, e.g. incrementing.column.name=id",
            )
        if self.mode.uses_timestamp and not self.timestamp_columns:
            raise ConfigError(
                f"mode={self.mode.value} needs timestamp.column.name",
                hint="name a column updated on every change, e.g. timestamp.column.name=updated_at",
            )

    @property
    def partition(self) -> dict[str, str]:
        """The source partition: ``{"table": name}`` or ``{"query": sql}``."""
        if self.table is not None:
            return {"table": str(self.table)}
        return {"query": str(self.query)}

    def _source_sql(self) -> str:
        if self.table is not None:
            return f"SELECT * FROM {self.dialect.table_sql(self.table)}"
        assert self.query is not None
        query = self.query.strip().rstrip(";")
        if self.mode is Mode.BULK:
            return query
        return f"SELECT * FROM ({query}) AS {self.dialect.quote('millstream_query')}"

    @property
    def timestamp_expr(self) -> str:
        """The SQL for the row's timestamp (``COALESCE`` over several columns)."""
        d = self.dialect
        cols = [d.timestamp_column_sql(d.quote(c)) for c in self.timestamp_columns]
        return cols[0] if len(cols) == 1 else f"COALESCE({', '.join(cols)})"

    def build(self, offset: SourceOffset, end: _dt.datetime | None) -> tuple[str, tuple[Any, ...]]:
        """The statement and parameters for the next read after ``offset``.

        ``end`` (naive UTC: the database's current time minus the delay) bounds timestamp modes.
        """
        base = self._source_sql()
        if self.mode is Mode.BULK:
            return base, ()
        d = self.dialect
        p = d.placeholder
        bind = d.bind_param
        inc = d.quote(self.incrementing_column) if self.incrementing_column else ""
        last_inc = offset.incrementing if offset.incrementing is not None else self.initial_incrementing
        last_ts = naive_utc(offset.timestamp) if offset.timestamp is not None else self.initial_timestamp
        if self.mode is Mode.INCREMENTING:
            return f"{base} WHERE {inc} > {p} ORDER BY {inc} ASC", (last_inc,)
        if end is None:
            raise ValueError("timestamp modes need the end timestamp")
        ts = self.timestamp_expr
        if self.mode is Mode.TIMESTAMP:
            return f"{base} WHERE {ts} > {p} AND {ts} < {p} ORDER BY {ts} ASC", (bind(last_ts), bind(end))
        return (
            f"{base} WHERE {ts} < {p} AND (({ts} = {p} AND {inc} > {p}) OR {ts} > {p}) ORDER BY {ts}, {inc} ASC",
            (bind(end), bind(last_ts), last_inc, bind(last_ts)),
        )

    def offset_of(self, row: Mapping[str, Any], previous: SourceOffset) -> SourceOffset:
        """The offset after reading ``row`` (a column → value map); ``previous`` for bulk mode."""
        if self.mode is Mode.BULK:
            return previous
        inc: int | None = None
        ts: _dt.datetime | None = None
        if self.mode.uses_incrementing:
            assert self.incrementing_column is not None
            value = row.get(self.incrementing_column)
            if value is None:
                raise ConfigError(
                    f"incrementing column {self.incrementing_column!r} is NULL or missing in a row of {self.partition}",
                    hint="the incrementing column must be NOT NULL and part of the selected columns",
                )
            inc = int(value)
        if self.mode.uses_timestamp:
            for col in self.timestamp_columns:
                value = row.get(col)
                if value is not None:
                    if not isinstance(value, _dt.datetime):
                        raise ConfigError(
                            f"timestamp column {col!r} of {self.partition} holds {type(value).__name__} values",
                            hint="timestamp.column.name must name timestamp or timestamptz columns",
                        )
                    ts = naive_utc(value)
                    break
        return SourceOffset(inc, ts)


def split_columns(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """A comma-separated column list (or a list) as a tuple of trimmed, non-empty names."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(s.strip() for s in items if s and s.strip())


__all__ = ["Mode", "QuerySpec", "SourceOffset", "naive_utc", "split_columns"]
