"""User function interfaces, named as in PyFlink. Plain callables are accepted wherever a function is.

Each class states the method the engine calls. ``open(runtime_context)`` runs once before the first
element and ``close()`` once after the last; both are optional. Functions that ``yield`` may also yield
``(output_tag, value)`` pairs to emit to a side output, as in PyFlink.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from .errors import JobConfigError

IN = TypeVar("IN")
IN1 = TypeVar("IN1")
IN2 = TypeVar("IN2")
OUT = TypeVar("OUT")
ACC = TypeVar("ACC")
KEY = TypeVar("KEY")
W = TypeVar("W")


@dataclass(frozen=True)
class OutputTag:
    """Names a side output. ``type_info`` is accepted for PyFlink compatibility and not checked."""

    tag_id: str
    type_info: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.tag_id, str) or not self.tag_id:
            raise JobConfigError("an OutputTag needs a non-empty string id")

    def __hash__(self) -> int:
        return hash(("OutputTag", self.tag_id))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutputTag) and other.tag_id == self.tag_id


class Function:
    """Base of all user functions: optional ``open(runtime_context)`` and ``close()``."""

    def open(self, runtime_context: Any) -> None:
        """Called once before the first element, with the operator's :class:`RuntimeContext`."""

    def close(self) -> None:
        """Called once after the last element (also when the job fails)."""


class MapFunction(Function):
    """``map(value) -> value``."""

    def map(self, value: Any) -> Any:
        raise NotImplementedError


class FlatMapFunction(Function):
    """``flat_map(value) -> iterable`` (usually a generator)."""

    def flat_map(self, value: Any) -> Iterable[Any]:
        raise NotImplementedError


class FilterFunction(Function):
    """``filter(value) -> bool``: keep the element when true."""

    def filter(self, value: Any) -> bool:
        raise NotImplementedError


class KeySelector(Function):
    """``get_key(value) -> key``: the key must be hashable and picklable."""

    def get_key(self, value: Any) -> Any:
        raise NotImplementedError


class ReduceFunction(Function):
    """``reduce(a, b) -> value`` combining two values of the same type."""

    def reduce(self, value1: Any, value2: Any) -> Any:
        raise NotImplementedError


class AggregateFunction(Function, Generic[IN, ACC, OUT]):
    """Incremental aggregation: ``create_accumulator()``, ``add(value, acc) -> acc``, ``get_result(acc)``,
    ``merge(a, b) -> acc`` (needed for session windows)."""

    def create_accumulator(self) -> Any:
        raise NotImplementedError

    def add(self, value: Any, accumulator: Any) -> Any:
        raise NotImplementedError

    def get_result(self, accumulator: Any) -> Any:
        raise NotImplementedError

    def merge(self, acc_a: Any, acc_b: Any) -> Any:
        raise NotImplementedError


class ProcessFunction(Function):
    """``process_element(value, ctx)`` yields outputs. ``ctx.timestamp()``, ``ctx.timer_service()``
    (current watermark / processing time only), ``ctx.output(tag, value)``."""

    class Context:
        """What ``process_element`` gets (PyFlink's ``ProcessFunction.Context``, usable as an annotation)."""

        def timestamp(self) -> int | None:
            raise NotImplementedError

        def timer_service(self) -> Any:
            raise NotImplementedError

        def output(self, output_tag: OutputTag, value: Any) -> None:
            raise NotImplementedError

    def process_element(self, value: Any, ctx: Any) -> Iterable[Any] | None:
        raise NotImplementedError


class _KeyedContext(ProcessFunction.Context):
    """A keyed context: also ``get_current_key()``."""

    def get_current_key(self) -> Any:
        raise NotImplementedError


class _OnTimerContext(_KeyedContext):
    """An ``on_timer`` context: also ``time_domain()``."""

    def time_domain(self) -> str:
        raise NotImplementedError


class _WindowContext(Generic[W]):
    """What a process window function gets: ``window()``, ``current_processing_time()``,
    ``current_watermark()``, ``window_state()``, ``global_state()`` and ``output(tag, value)``."""

    def window(self) -> W:
        raise NotImplementedError

    def current_processing_time(self) -> int:
        raise NotImplementedError

    def current_watermark(self) -> int:
        raise NotImplementedError

    def window_state(self) -> Any:
        raise NotImplementedError

    def global_state(self) -> Any:
        raise NotImplementedError

    def output(self, output_tag: OutputTag, value: Any) -> None:
        raise NotImplementedError


class KeyedProcessFunction(Function):
    """Keyed: ``process_element(value, ctx)`` and ``on_timer(timestamp, ctx)`` yield outputs.

    ``ctx.get_current_key()``, ``ctx.timestamp()``, ``ctx.timer_service()`` with
    ``register_event_time_timer(ts)``, ``register_processing_time_timer(ts)``, ``delete_*``,
    ``current_watermark()``, ``current_processing_time()``; in ``on_timer`` also ``ctx.time_domain()``.
    Keyed state comes from ``open(runtime_context)``: ``runtime_context.get_state(descriptor)``.
    ``KeyedProcessFunction.Context`` / ``OnTimerContext`` name the context types (for annotations).
    """

    Context = _KeyedContext
    OnTimerContext = _OnTimerContext

    def process_element(self, value: Any, ctx: Any) -> Iterable[Any] | None:
        raise NotImplementedError

    def on_timer(self, timestamp: int, ctx: Any) -> Iterable[Any] | None:
        return None


class ProcessWindowFunction(Function, Generic[IN, OUT, KEY, W]):
    """``process(key, context, elements)`` yields the window's results; ``context.window()`` has
    ``start``/``end``/``max_timestamp()``; ``clear(context)`` runs when the window is purged.
    Subscriptable as in PyFlink (``ProcessWindowFunction[tuple, tuple, str, TimeWindow]``)."""

    Context = _WindowContext

    def process(self, key: Any, context: Any, elements: Iterable[Any]) -> Iterable[Any]:
        raise NotImplementedError

    def clear(self, context: Any) -> None:
        """Called when the window's state is purged."""


class ProcessAllWindowFunction(Function, Generic[IN, OUT, W]):
    """Non-keyed: ``process(context, elements)`` yields results."""

    Context = _WindowContext

    def process(self, context: Any, elements: Iterable[Any]) -> Iterable[Any]:
        raise NotImplementedError

    def clear(self, context: Any) -> None:
        """Called when the window's state is purged."""


class WindowFunction(Function, Generic[IN, OUT, KEY, W]):
    """``apply(key, window, inputs)`` yields results (the legacy form of ProcessWindowFunction)."""

    def apply(self, key: Any, window: Any, inputs: Iterable[Any]) -> Iterable[Any]:
        raise NotImplementedError


class AllWindowFunction(Function, Generic[IN, OUT, W]):
    """``apply(window, inputs)`` yields results."""

    def apply(self, window: Any, inputs: Iterable[Any]) -> Iterable[Any]:
        raise NotImplementedError


class CoMapFunction(Function):
    """Two inputs: ``map1(value)`` for the first, ``map2(value)`` for the second."""

    def map1(self, value: Any) -> Any:
        raise NotImplementedError

    def map2(self, value: Any) -> Any:
        raise NotImplementedError


class CoFlatMapFunction(Function):
    """Two inputs: ``flat_map1(value)`` / ``flat_map2(value)`` yield outputs."""

    def flat_map1(self, value: Any) -> Iterable[Any]:
        raise NotImplementedError

    def flat_map2(self, value: Any) -> Iterable[Any]:
        raise NotImplementedError


class CoProcessFunction(Function):
    """Two inputs: ``process_element1(value, ctx)`` / ``process_element2(value, ctx)`` yield outputs."""

    Context = ProcessFunction.Context

    def process_element1(self, value: Any, ctx: Any) -> Iterable[Any] | None:
        raise NotImplementedError

    def process_element2(self, value: Any, ctx: Any) -> Iterable[Any] | None:
        raise NotImplementedError


class KeyedCoProcessFunction(CoProcessFunction):
    """Keyed two-input process function with timers: also ``on_timer(timestamp, ctx)``."""

    Context = _KeyedContext
    OnTimerContext = _OnTimerContext

    def on_timer(self, timestamp: int, ctx: Any) -> Iterable[Any] | None:
        return None


class BaseBroadcastProcessFunction(Function):
    """Base of the functions of a stream connected with a broadcast stream (``ds.connect(bs)``)."""

    class ReadOnlyContext(ProcessFunction.Context):
        """What ``process_element`` gets: ``get_broadcast_state(descriptor)`` is read-only."""

        def get_broadcast_state(self, state_descriptor: Any) -> Any:
            raise NotImplementedError

        def current_processing_time(self) -> int:
            raise NotImplementedError

        def current_watermark(self) -> int:
            raise NotImplementedError

    class Context(ReadOnlyContext):
        """What ``process_broadcast_element`` gets: ``get_broadcast_state(descriptor)`` is writable."""


class BroadcastProcessFunction(BaseBroadcastProcessFunction, Generic[IN1, IN2, OUT]):
    """Non-keyed stream + broadcast stream: ``process_element(value, ctx)`` (broadcast state read-only)
    and ``process_broadcast_element(value, ctx)`` (read-write) yield outputs."""

    def process_element(self, value: Any, ctx: Any) -> Iterable[Any] | None:
        raise NotImplementedError

    def process_broadcast_element(self, value: Any, ctx: Any) -> Iterable[Any] | None:
        raise NotImplementedError


class KeyedBroadcastProcessFunction(BaseBroadcastProcessFunction, Generic[KEY, IN1, IN2, OUT]):
    """Keyed stream + broadcast stream: as :class:`BroadcastProcessFunction`, with keyed state and timers
    on the keyed side (``ctx.get_current_key()``, ``ctx.timer_service()``) and ``on_timer(ts, ctx)``."""

    class ReadOnlyContext(BaseBroadcastProcessFunction.ReadOnlyContext):
        def get_current_key(self) -> Any:
            raise NotImplementedError

    class Context(BaseBroadcastProcessFunction.Context):
        pass

    class OnTimerContext(ReadOnlyContext):
        def time_domain(self) -> str:
            raise NotImplementedError

    def process_element(self, value: Any, ctx: Any) -> Iterable[Any] | None:
        raise NotImplementedError

    def process_broadcast_element(self, value: Any, ctx: Any) -> Iterable[Any] | None:
        raise NotImplementedError

    def on_timer(self, timestamp: int, ctx: Any) -> Iterable[Any] | None:
        return None


class JoinFunction(Function):
    """Window join: ``join(left, right) -> value`` for each pair."""

    def join(self, value1: Any, value2: Any) -> Any:
        raise NotImplementedError


class FlatJoinFunction(Function):
    """Window join: ``join(left, right)`` yields any number of values for each pair."""

    def join(self, value1: Any, value2: Any) -> Iterable[Any]:
        raise NotImplementedError


class ProcessJoinFunction(Function):
    """Interval join: ``process_element(left, right, ctx)`` yields outputs; ``ctx.get_left_timestamp()``,
    ``ctx.get_right_timestamp()``, ``ctx.get_timestamp()``, ``ctx.output(tag, value)``."""

    def process_element(self, left: Any, right: Any, ctx: Any) -> Iterable[Any] | None:
        raise NotImplementedError


class SinkFunction(Function):
    """Legacy sink: ``invoke(value, context)`` per element (``add_sink``)."""

    def invoke(self, value: Any, context: Any) -> None:
        raise NotImplementedError


class SourceFunction(Function):
    """Legacy source: ``run(ctx)`` calls ``ctx.collect(value)`` / ``ctx.collect_with_timestamp(value, ts)``;
    a finite ``run`` makes a bounded source. ``cancel()`` is called to stop it."""

    def run(self, ctx: Any) -> None:
        raise NotImplementedError

    def cancel(self) -> None:
        """Stop ``run`` soon."""


class RuntimeContext:
    """What ``open(runtime_context)`` gets: task info and (on keyed streams) keyed state."""

    def get_task_name(self) -> str:
        raise NotImplementedError

    def get_index_of_this_subtask(self) -> int:
        return 0

    def get_number_of_parallel_subtasks(self) -> int:
        return 1

    def get_job_parameter(self, key: str, default_value: str | None = None) -> str | None:
        return default_value

    def get_state(self, state_descriptor: Any) -> Any:
        raise NotImplementedError

    def get_list_state(self, state_descriptor: Any) -> Any:
        raise NotImplementedError

    def get_map_state(self, state_descriptor: Any) -> Any:
        raise NotImplementedError

    def get_reducing_state(self, state_descriptor: Any) -> Any:
        raise NotImplementedError

    def get_aggregating_state(self, state_descriptor: Any) -> Any:
        raise NotImplementedError


class CheckpointedFunction:
    """Flink's ``CheckpointedFunction`` (PyFlink has none; millstream provides it with Flink's Java API in
    snake case): mix it into the function of a ``map``, ``flat_map``, ``filter`` or non-keyed ``process``.

    ``initialize_state(context)`` is called once per operator instance, before ``open`` and with any restored
    state in place; ``context.get_operator_state_store()`` gives ``get_list_state(ListStateDescriptor)`` /
    ``get_union_list_state(ListStateDescriptor)`` (:mod:`millstream.stream.operator_state`).
    ``snapshot_state(context)`` is called before every checkpoint and savepoint: bring the states up to date
    there. The states' contents are checkpointed and restored, redistributed as Flink redistributes them when
    the parallelism changes.
    """

    def snapshot_state(self, context: Any) -> None:
        """Called before each checkpoint; ``context.get_checkpoint_timestamp()`` is its processing time."""
        raise NotImplementedError

    def initialize_state(self, context: Any) -> None:
        """Called once before the first element, ``open`` and the first checkpoint (see the class)."""
        raise NotImplementedError


def is_checkpointed(fn: Any) -> bool:
    """Whether ``fn`` is a :class:`CheckpointedFunction` (by class, or by having both methods)."""
    if fn is None or isinstance(fn, type):
        return False
    if isinstance(fn, CheckpointedFunction):
        return True
    return callable(getattr(fn, "initialize_state", None)) and callable(getattr(fn, "snapshot_state", None))


class TimeDomain:
    """Which clock fired a timer (``ctx.time_domain()`` in ``on_timer``)."""

    EVENT_TIME = "EVENT_TIME"
    PROCESSING_TIME = "PROCESSING_TIME"


# -- normalising user functions to plain callables ----------------------------------------------------


@runtime_checkable
class BatchMapFunction(Protocol):
    """A ``map`` function that can also map a whole batch in one call (``map_batch(values)`` returns exactly
    ``[f(v) for v in values]``): the engine hands it each batch instead of calling it per element — a library's
    generated row builders use it to do the work in C. When ``map_batch`` raises, the engine calls the function
    per element, so an error still names the element that failed."""

    def __call__(self, value: Any) -> Any: ...

    def map_batch(self, values: list[Any]) -> list[Any]: ...


def _pick(fn: Any, method: str, kind: str) -> Callable[..., Any]:
    bound = getattr(fn, method, None)
    if bound is not None and callable(bound) and not isinstance(fn, type):
        return bound
    if callable(fn) and not isinstance(fn, Function):
        return fn
    raise JobConfigError(
        f"{kind} must be a callable or an object with a {method}() method, got {type(fn).__name__}",
    )


def as_map(fn: Any) -> Callable[[Any], Any]:
    return _pick(fn, "map", "a map function")


def as_flat_map(fn: Any) -> Callable[[Any], Iterable[Any]]:
    return _pick(fn, "flat_map", "a flat_map function")


def as_filter(fn: Any) -> Callable[[Any], bool]:
    return _pick(fn, "filter", "a filter function")


def as_key_selector(fn: Any) -> Callable[[Any], Any]:
    return _pick(fn, "get_key", "a key selector")


def as_reduce(fn: Any) -> Callable[[Any, Any], Any]:
    return _pick(fn, "reduce", "a reduce function")


def lifecycle(fn: Any) -> tuple[Callable[[Any], None] | None, Callable[[], None] | None]:
    """The ``open``/``close`` hooks of a user function object, if it has them."""
    if isinstance(fn, Function) or (hasattr(fn, "open") and hasattr(fn, "close") and not callable(fn)):
        return getattr(fn, "open", None), getattr(fn, "close", None)
    return None, None


__all__ = [
    "AggregateFunction",
    "AllWindowFunction",
    "BaseBroadcastProcessFunction",
    "BatchMapFunction",
    "BroadcastProcessFunction",
    "CheckpointedFunction",
    "CoFlatMapFunction",
    "CoMapFunction",
    "CoProcessFunction",
    "FilterFunction",
    "FlatJoinFunction",
    "FlatMapFunction",
    "Function",
    "JoinFunction",
    "KeySelector",
    "KeyedBroadcastProcessFunction",
    "KeyedCoProcessFunction",
    "KeyedProcessFunction",
    "MapFunction",
    "OutputTag",
    "ProcessAllWindowFunction",
    "ProcessFunction",
    "ProcessJoinFunction",
    "ProcessWindowFunction",
    "ReduceFunction",
    "RuntimeContext",
    "SinkFunction",
    "SourceFunction",
    "TimeDomain",
    "WindowFunction",
    "as_filter",
    "as_flat_map",
    "as_key_selector",
    "as_map",
    "as_reduce",
    "is_checkpointed",
    "lifecycle",
]
