"""Sequential column reads of one partition: the handle a job's source reads a partition through.

A log whose reads can skip building records (Kafka: ``read_values``) may also hand out a handle on one
partition (:class:`ColumnReads.partition_columns`): the partition is checked once, when the handle is made,
and every later call goes straight to the partition's reader — a job's source with one partition reads and
waits through it (``poll_values``: both in one call), with a few calls less per round of the job loop than
through the log's ``read_values(topic, partition, ...)`` and ``wait_for_records({tp: offset}, ...)``, which
look the partition up each time. The results are those of the log's own calls.

The other way, a log may hand out a prepared writer of one partition (:class:`ValuesWriters`): a sink that
writes one batch a round to the same partition appends through it, the partition checked once.

Both ways at once, a log may pipe a partition handle into one of its topics (:class:`ValuesPipes`): a job that
reads one partition and writes what it maps from each record to a topic does a round in one call, each value
converted as the producer takes it (no list of elements between the read and the write).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..core.record import Record


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


Convert = Sequence[Callable[[Any], Any]]
"""The functions a record's value (bytes or ``None``) goes through in turn to make the value to write (bytes or
``None``): ``decode``, the map's function, ``serialize``. Each is applied by a ``map`` as the producer pulls the
value, so nothing is listed in between."""

PipeFailed = Callable[[Exception, int, Record], Any]
"""``failed(exc, index, record)``: told that pulling the converted value of the batch's record ``index`` raised
``exc``; returns the value (bytes or ``None``) to write for that record instead, or raises."""

ValuesPipe = Callable[[int, int, float, int], tuple[int, int, list[Any] | None, list[int] | None]]
"""``pipe(offset, max_records, timeout_s, partition)`` → ``(next offset, n, values, timestamps)``: see
:meth:`ValuesPipes.values_pipe`."""


@runtime_checkable
class ValuesPipes(Protocol):
    """A log that pipes a partition handle (of itself or of another log) into one of its topics."""

    def values_pipe(
        self, source: PartitionColumns, topic: str, convert: Convert, failed: PipeFailed
    ) -> ValuesPipe | None:
        """The pipe of ``source`` into ``topic`` (the topic checked now); ``None`` where this log cannot read
        ``source`` itself. ``pipe(offset, max_records, timeout_s, partition)`` reads what ``source.poll_values(
        offset, max_records, None, timeout_s)`` reads (``n`` records; ``next offset``), and then:

        * in the common case, writes them to ``topic[partition]`` at once without waiting for acknowledgements
          (as a :data:`ValuesWrite`): keyless, without headers, with the records' timestamps and the values
          the ``convert`` functions make of theirs; it returns ``values`` and ``timestamps`` ``None``. When
          pulling record ``i``'s converted value raises, ``failed(exc, i, record)`` is called, the records before ``i``
          queued: what it raises is raised (the batch counts as read), and what it returns is written for
          record ``i``, and the pipe goes on with the records after it;
        * otherwise it writes nothing and returns the records' ``values`` and ``timestamps`` as ``poll_values``
          does, for the caller to write its own way (which raises what a write of them raises): where a
          timestamp is not one a write takes, the producer might not have room for them all, or the read was
          not a tailing read of records only.

        A failed delivery is raised by a later call, as a ``ValuesWrite``'s is."""
        ...


__all__ = [
    "ColumnReads",
    "Convert",
    "PartitionColumns",
    "PipeFailed",
    "ValuesPipe",
    "ValuesPipes",
    "ValuesWrite",
    "ValuesWriters",
]
