"""millstream.stream: the pure DataStream API (PyFlink names) and the operator logic behind it.

Nothing here does I/O, starts threads or reads a clock: a job is a graph of descriptions
(:mod:`.graph`), operators are deterministic code driven by calls (:mod:`.operators`), and
:mod:`millstream.runtime` binds sources/sinks and runs the graph. ``env.execute()`` reaches the runtime
through :func:`.environment.register_executor` (the runtime registers itself on import).
"""

from .aggregates import Aggregates, Count, Max, Mean, Min, Sum
from .datastream import (
    AllWindowedStream,
    ConnectedStreams,
    DataStream,
    IntervalJoin,
    JoinedStreams,
    KeyedStream,
    WindowedStream,
)
from .environment import (
    CheckpointingMode,
    JobConfig,
    RuntimeExecutionMode,
    StreamExecutionEnvironment,
    register_executor,
)
from .errors import JobConfigError, JobFailedError, KeySelectorError, OperatorError, TimestampError
from .functions import OutputTag
from .restart import RestartStrategies, RestartStrategyConfiguration
from .time import MAX_WATERMARK, MIN_WATERMARK, Duration, Time, TimestampAssigner, WatermarkStrategy

__all__ = [
    "MAX_WATERMARK",
    "MIN_WATERMARK",
    "Aggregates",
    "AllWindowedStream",
    "CheckpointingMode",
    "ConnectedStreams",
    "Count",
    "DataStream",
    "Duration",
    "IntervalJoin",
    "JobConfig",
    "JobConfigError",
    "JobFailedError",
    "JoinedStreams",
    "KeySelectorError",
    "KeyedStream",
    "Max",
    "Mean",
    "Min",
    "OperatorError",
    "OutputTag",
    "RestartStrategies",
    "RestartStrategyConfiguration",
    "RuntimeExecutionMode",
    "StreamExecutionEnvironment",
    "Sum",
    "Time",
    "TimestampAssigner",
    "TimestampError",
    "WatermarkStrategy",
    "WindowedStream",
    "register_executor",
]
