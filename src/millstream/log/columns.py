"""Sequential column reads of one partition: the handle a job's source reads a partition through.

A log whose reads can skip building records (Kafka: ``read_values``) may also hand out a handle on one
partition (:class:`ColumnReads.partition_columns`): the partition is checked once, when the handle is made,
and every later call goes straight to the partition's reader — a job's source with one partition reads and
waits through it (``poll_values``: both in one call), with a few calls less per round of the job loop than
through the log's ``read_values(topic, partition, ...)`` and ``wait_for_records({tp: offset}, ...)``, which
look the partition up each time. The results are those of the log's own calls.

The other way, a log may hand out a prepared writer of one partition (:class:`ValuesWriters`): a sink that
writes one batch a round to the same partition appends through it, the partition checked once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


class PartitionColumns(Protocol):
    """One partition of a log, read in sequence."""

    def read_values(self, offset: int, max_records: int, stop: int | None) -> tuple[int, list[Any], list[int]]:
        """``(next offset, values (bytes or None), timestamps)`` of the records from ``offset`` on, at most
        ``max_records``, before offset ``stop`` (``None``: no stop), without waiting — the log's ``read_values``."""
        ...

    def wait(self, offset: int, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` until a read at ``offset`` has records (or an error) to return; ``False``
        at the timeout — the log's ``wait_for_records`` for this one partition."""
        ...

    def poll_values(
        self, offset: int, max_records: int, stop: int | None, timeout_s: float
    ) -> tuple[int, list[Any], list[int]]:
        """:meth:`wait` up to ``timeout_s``, then :meth:`read_values`, in one call: what the two calls in turn
        return (an idle reader's round of a job loop is one call instead of two)."""
        ...


@runtime_checkable
class ColumnReads(Protocol):
    """A log that hands out :class:`PartitionColumns` handles."""

    def partition_columns(self, topic: str, partition: int) -> PartitionColumns:
        """A handle on ``topic[partition]`` (raises as a read would for an unknown topic or partition)."""
        ...


ValuesWrite = Callable[[list[Any], list[Any], Callable[[Any], "bytes | None"] | None], None]
"""``write(values, timestamps, serialize)``: keyless records without headers appended to one partition without
waiting, as the log's ``append_values_nowait(topic, partition, values, timestamps, serialize)``."""


@runtime_checkable
class ValuesWriters(Protocol):
    """A log that hands out prepared writers of one partition (:data:`ValuesWrite`)."""

    def values_writer(self, topic: str, partition: int) -> ValuesWrite:
        """The writer of ``topic[partition]`` (raises as an append would for an unknown topic or partition)."""
        ...


__all__ = ["ColumnReads", "PartitionColumns", "ValuesWrite", "ValuesWriters"]
