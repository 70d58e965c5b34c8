"""Sequential column reads of one partition: the handle a job's source reads a partition through.

A log whose reads can skip building records (Kafka: ``read_values``) may also hand out a handle on one
partition (:class:`ColumnReads.partition_columns`): the partition is checked once, when the handle is made,
and every later call goes straight to the partition's reader — a job's source with one partition reads and
waits through it, with a few calls less per round of the job loop than through the log's
``read_values(topic, partition, ...)`` and ``wait_for_records({tp: offset}, ...)``, which look the partition
up each time. The results are those of the log's own calls.
"""

from __future__ import annotations

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


@runtime_checkable
class ColumnReads(Protocol):
    """A log that hands out :class:`PartitionColumns` handles."""

    def partition_columns(self, topic: str, partition: int) -> PartitionColumns:
        """A handle on ``topic[partition]`` (raises as a read would for an unknown topic or partition)."""
        ...


__all__ = ["ColumnReads", "PartitionColumns"]
