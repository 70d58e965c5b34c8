"""millstream: Kafka + Flink for Python, as one system.

A partitioned log (embedded SQLite by default, or any Kafka cluster), Kafka-Connect-style connectors, and a
stream engine with Flink's event-time semantics.

Importing the package also imports :mod:`millstream.runtime`, which registers the local executor behind
``StreamExecutionEnvironment.execute()``.
"""

__version__ = "0.1.0"

from . import runtime as _runtime  # noqa: F401 - registers the executor
from .common import Types
from .state import EmbeddedRocksDBStateBackend, HashMapStateBackend
from .stream import (
    CheckpointingMode,
    DataStream,
    Duration,
    JobFailedError,
    KeyedStream,
    OutputTag,
    RestartStrategies,
    RuntimeExecutionMode,
    StreamExecutionEnvironment,
    Time,
    WatermarkStrategy,
)
from .stream.time import TimestampAssigner

__all__ = [
    "CheckpointingMode",
    "DataStream",
    "Duration",
    "EmbeddedRocksDBStateBackend",
    "HashMapStateBackend",
    "JobFailedError",
    "KeyedStream",
    "OutputTag",
    "RestartStrategies",
    "RuntimeExecutionMode",
    "StreamExecutionEnvironment",
    "Time",
    "TimestampAssigner",
    "Types",
    "WatermarkStrategy",
    "__version__",
]
