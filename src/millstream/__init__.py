"""millstream: Kafka + Flink for Python, as one system.

A partitioned log (embedded SQLite by default, or any Kafka cluster), Kafka-Connect-style connectors, and a
stream engine with Flink's event-time semantics.

Importing the package does not import :mod:`millstream.runtime` (nor :mod:`millstream.connect`): the first
``execute()`` loads it, and it registers the executor behind ``StreamExecutionEnvironment.execute()``. So
``import millstream.core`` or ``millstream.log`` stays light (a worker process starts fast).
"""

__version__ = "0.1.0"

import importlib as _importlib

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
from .stream.environment import register_executor_loader as _register_executor_loader
from .stream.time import TimestampAssigner

_register_executor_loader(lambda: _importlib.import_module("millstream.runtime"))

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
