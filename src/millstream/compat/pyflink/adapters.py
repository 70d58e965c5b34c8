"""PyFlink names that millstream has no class of the same name for, built from millstream's parts."""

from __future__ import annotations

from enum import Enum
from typing import Any

from ...stream.connectors import CollectionSource
from ...stream.datastream import DataSink
from ...stream.errors import JobConfigError
from ...stream.windows import EventTimeSessionWindows, ProcessingTimeSessionWindows, WindowAssigner

DataStreamSink = DataSink


class ExternalizedCheckpointRetention(Enum):
    """PyFlink's retention of checkpoints when a job is cancelled (see ``CheckpointConfig``)."""

    DELETE_ON_CANCELLATION = 0
    RETAIN_ON_CANCELLATION = 1
    NO_EXTERNALIZED_CHECKPOINTS = 2


class Encoder:
    """PyFlink's ``Encoder.simple_string_encoder()``: one ``str(value)`` line per element."""

    def __init__(self, charset: str = "UTF-8") -> None:
        self.charset = charset

    @staticmethod
    def simple_string_encoder(charset_name: str = "UTF-8") -> Encoder:
        return Encoder(charset_name)


class StreamFormat:
    """PyFlink's ``StreamFormat.text_line_format()`` for ``FileSource.for_record_stream_format``."""

    @staticmethod
    def text_line_format(charset_name: str = "UTF-8") -> StreamFormat:
        return StreamFormat()


def NumberSequenceSource(start: int, end: int) -> CollectionSource:
    """PyFlink's ``NumberSequenceSource(start, end)``: the numbers ``start`` to ``end`` inclusive, bounded."""
    if type(start) is not int or type(end) is not int or end < start:
        raise JobConfigError(f"NumberSequenceSource needs ints start <= end, got {start!r}, {end!r}")
    return CollectionSource(tuple(range(start, end + 1)), name="Sequence Source")


class SessionWindowTimeGapExtractor:
    """PyFlink's dynamic session gap: ``extract(element) -> gap in ms``."""

    def extract(self, element: Any) -> int:
        raise NotImplementedError


class DynamicEventTimeSessionWindows:
    """PyFlink's ``DynamicEventTimeSessionWindows.with_dynamic_gap(extractor)``."""

    @staticmethod
    def with_dynamic_gap(extractor: Any) -> WindowAssigner[Any, Any]:
        return EventTimeSessionWindows.with_dynamic_gap(extractor)


class DynamicProcessingTimeSessionWindows:
    """PyFlink's ``DynamicProcessingTimeSessionWindows.with_dynamic_gap(extractor)``."""

    @staticmethod
    def with_dynamic_gap(extractor: Any) -> WindowAssigner[Any, Any]:
        return ProcessingTimeSessionWindows.with_dynamic_gap(extractor)


MergingWindowAssigner = WindowAssigner

__all__ = [
    "DataStreamSink",
    "DynamicEventTimeSessionWindows",
    "DynamicProcessingTimeSessionWindows",
    "Encoder",
    "ExternalizedCheckpointRetention",
    "MergingWindowAssigner",
    "NumberSequenceSource",
    "SessionWindowTimeGapExtractor",
    "StreamFormat",
]
