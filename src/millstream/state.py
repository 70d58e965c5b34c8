"""Public façade: keyed state descriptors, state types and TTL (see :mod:`millstream.stream.state`)."""

from .stream.broadcast import BroadcastState, ReadOnlyBroadcastState
from .stream.operator_state import (
    FunctionInitializationContext,
    FunctionSnapshotContext,
    OperatorListState,
    OperatorStateStore,
)
from .stream.state import (
    AggregatingState,
    AggregatingStateDescriptor,
    EmbeddedRocksDBStateBackend,
    HashMapStateBackend,
    ListState,
    ListStateDescriptor,
    MapState,
    MapStateDescriptor,
    ReducingState,
    ReducingStateDescriptor,
    StateTtlConfig,
    ValueState,
    ValueStateDescriptor,
)

__all__ = [
    "AggregatingState",
    "AggregatingStateDescriptor",
    "BroadcastState",
    "EmbeddedRocksDBStateBackend",
    "FunctionInitializationContext",
    "FunctionSnapshotContext",
    "HashMapStateBackend",
    "ListState",
    "ListStateDescriptor",
    "MapState",
    "MapStateDescriptor",
    "OperatorListState",
    "OperatorStateStore",
    "ReadOnlyBroadcastState",
    "ReducingState",
    "ReducingStateDescriptor",
    "StateTtlConfig",
    "ValueState",
    "ValueStateDescriptor",
]
