"""Public façade: durations, time, watermark strategies and type hints accepted for PyFlink compatibility."""

from typing import Any

from .stream.environment import CheckpointingMode, RuntimeExecutionMode
from .stream.time import Duration, Time, TimestampAssigner, WatermarkStrategy


class _TypeInfo:
    def __init__(self, name: str, *args: Any) -> None:
        self.name = name
        self.args = args

    def __repr__(self) -> str:
        return f"Types.{self.name}()"


class Types:
    """PyFlink's ``Types`` factory. millstream is dynamically typed: these are accepted and ignored."""

    @staticmethod
    def _make(name: str) -> Any:
        return staticmethod(lambda *args, **kw: _TypeInfo(name, *args))

    STRING = _make("STRING")
    INT = _make("INT")
    LONG = _make("LONG")
    FLOAT = _make("FLOAT")
    DOUBLE = _make("DOUBLE")
    BOOLEAN = _make("BOOLEAN")
    BYTE = _make("BYTE")
    SHORT = _make("SHORT")
    BIG_INT = _make("BIG_INT")
    BIG_DEC = _make("BIG_DEC")
    SQL_TIMESTAMP = _make("SQL_TIMESTAMP")
    PRIMITIVE_ARRAY = _make("PRIMITIVE_ARRAY")
    BASIC_ARRAY = _make("BASIC_ARRAY")
    OBJECT_ARRAY = _make("OBJECT_ARRAY")
    PICKLED_BYTE_ARRAY = _make("PICKLED_BYTE_ARRAY")
    TUPLE = _make("TUPLE")
    ROW = _make("ROW")
    ROW_NAMED = _make("ROW_NAMED")
    MAP = _make("MAP")
    LIST = _make("LIST")


__all__ = [
    "CheckpointingMode",
    "Duration",
    "RuntimeExecutionMode",
    "Time",
    "TimestampAssigner",
    "Types",
    "WatermarkStrategy",
]
