"""The broadcast state pattern's API (PyFlink names): ``ds.broadcast(descriptor)`` gives a
:class:`BroadcastStream`; ``stream.connect(broadcast_stream)`` a :class:`BroadcastConnectedStream`, whose
``process(BroadcastProcessFunction | KeyedBroadcastProcessFunction)`` runs
:class:`~.operators.broadcast.BroadcastProcessOperator`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import JobConfigError
from .operators.broadcast import BroadcastState, ReadOnlyBroadcastState
from .state import MapStateDescriptor

if TYPE_CHECKING:
    from .datastream import DataStream


class BroadcastStream:
    """A stream whose elements go to every subtask of the operator it is connected to, with the broadcast
    states named by its ``MapStateDescriptor`` s."""

    def __init__(self, stream: DataStream, descriptors: list[Any]) -> None:
        for d in descriptors:
            if not isinstance(d, MapStateDescriptor):
                raise JobConfigError(
                    f"broadcast state is declared with a MapStateDescriptor, got {type(d).__name__}",
                    hint="ds.broadcast(MapStateDescriptor('rules', Types.STRING(), Types.PICKLED_BYTE_ARRAY()))",
                )
        self.stream = stream
        self.descriptors = list(descriptors)


class BroadcastConnectedStream:
    """A (keyed or non-keyed) stream connected with a :class:`BroadcastStream`."""

    def __init__(self, stream: DataStream, broadcast_stream: BroadcastStream) -> None:
        self.stream = stream
        self.broadcast_stream = broadcast_stream

    def process(self, func: Any, output_type: Any = None) -> DataStream:
        """Run ``func``: a ``KeyedBroadcastProcessFunction`` on a keyed stream, a ``BroadcastProcessFunction``
        on a non-keyed one (both need ``process_element`` and ``process_broadcast_element``)."""
        from .datastream import KeyedStream
        from .functions import BroadcastProcessFunction, KeyedBroadcastProcessFunction

        for m in ("process_element", "process_broadcast_element"):
            if not callable(getattr(func, m, None)):
                raise JobConfigError(f"process() on a broadcast-connected stream needs a function with {m}()")
        keyed = isinstance(self.stream, KeyedStream)
        if keyed and isinstance(func, BroadcastProcessFunction):
            raise JobConfigError(
                "a keyed stream connected with a broadcast stream needs a KeyedBroadcastProcessFunction",
                hint="subclass KeyedBroadcastProcessFunction, or connect the stream before key_by",
            )
        if not keyed and isinstance(func, KeyedBroadcastProcessFunction):
            raise JobConfigError(
                "a non-keyed stream connected with a broadcast stream needs a BroadcastProcessFunction",
                hint="subclass BroadcastProcessFunction, or key_by(...) the stream first",
            )
        broadcast = self.broadcast_stream.stream.broadcast()
        params = {
            "user_fn": func,
            "key_fn": self.stream.key_selector if keyed else None,  # type: ignore[attr-defined]
            "descriptors": self.broadcast_stream.descriptors,
        }
        out = self.stream._add("broadcast_process", "Broadcast Process", params, [self.stream, broadcast])
        if output_type is not None:
            out.transformation.params["output_type"] = output_type
        return out


__all__ = ["BroadcastConnectedStream", "BroadcastState", "BroadcastStream", "ReadOnlyBroadcastState"]
