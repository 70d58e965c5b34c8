"""The fluent DataStream API (PyFlink names). Every method only adds a node to the job graph; the logic
lives in :mod:`millstream.stream.operators`. Type states guide use: ``DataStream → KeyedStream →
WindowedStream``, ``DataStream.connect → ConnectedStreams``, ``join → JoinedStreams``,
``KeyedStream.interval_join → IntervalJoin``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .connector_descriptors import ConnectorSink, is_sink_connector
from .connectors import FunctionSink, PrintSink
from .errors import JobConfigError
from .functions import (
    OutputTag,
    as_filter,
    as_flat_map,
    as_key_selector,
    as_map,
    as_reduce,
)
from .graph import Transformation
from .keygroups import check_max_parallelism
from .operators.joins import window_join_function
from .operators.keyed import rolling_reducer
from .operators.window import WindowFunctionSpec
from .partitioning import Partitioning
from .time import WatermarkStrategy, to_millis
from .typeinfo import print_formatter
from .windows import (
    CountEvictor,
    CountTrigger,
    Evictor,
    GlobalWindows,
    PurgingTrigger,
    Trigger,
    WindowAssigner,
)

if TYPE_CHECKING:
    from .environment import StreamExecutionEnvironment


_TOLERANT_KINDS = ("map", "filter", "flat_map", "process", "keyed_process", "co_process")


class DataStream:
    """A stream of elements. Transformations return new streams; ``name``/``uid``/``set_parallelism``
    configure the transformation that produced this stream."""

    def __init__(self, env: StreamExecutionEnvironment, transformation: Transformation) -> None:
        self._env = env
        self._t = transformation

    # -- configuration --------------------------------------------------------------------------------
    def name(self, name: str) -> DataStream:
        self._t.name = name
        return self

    def get_name(self) -> str:
        return self._t.name

    def uid(self, uid: str) -> DataStream:
        self._t.uid = uid
        return self

    def set_uid_hash(self, uid_hash: str) -> DataStream:
        return self.uid(uid_hash)

    def set_parallelism(self, parallelism: int) -> DataStream:
        if not isinstance(parallelism, int) or parallelism <= 0:
            raise JobConfigError(f"parallelism must be a positive int, got {parallelism!r}")
        self._t.parallelism = parallelism
        return self

    def set_max_parallelism(self, max_parallelism: int) -> DataStream:
        """The most subtasks this operator may ever run with, and its number of key groups (Flink's
        ``setMaxParallelism``); it must stay the same for the state of a savepoint to restore."""
        self._t.max_parallelism = check_max_parallelism(max_parallelism, f"operator {self._t.name!r}")
        return self

    def with_input_parallelism(self) -> DataStream:
        """Run with the parallelism of this operator's input unless ``set_parallelism`` says otherwise (so it
        chains to it): how a SQL table scan keeps decoding and watermark assignment in its source's subtasks,
        as Flink's planner does. Not a PyFlink method."""
        self._t.follows_input = True
        return self

    def disable_chaining(self) -> DataStream:
        """Run this operator in a task of its own (no chaining with its neighbours)."""
        self._t.chaining = "never"
        return self

    def start_new_chain(self) -> DataStream:
        """Start a new chain at this operator (it is not chained to its input; later operators may be)."""
        self._t.chaining = "head"
        return self

    def slot_sharing_group(self, group: Any) -> DataStream:
        return self

    def get_execution_environment(self) -> StreamExecutionEnvironment:
        return self._env

    def on_error(self, output_tag: OutputTag, max_errors: int | None = None) -> DataStream:
        """Route the elements on which this operator's function raises to the side output ``output_tag``
        (read it with ``get_side_output``) and go on, instead of failing the job; after ``max_errors`` failures
        in one subtask the job fails anyway. For ``map``, ``filter``, ``flat_map`` and ``process``. What the
        side output carries: :mod:`millstream.stream.operators.tolerance`. Not a PyFlink method."""
        from .operators.tolerance import ErrorHandling

        if self._t.kind not in _TOLERANT_KINDS:
            raise JobConfigError(
                f"on_error() applies to map, filter, flat_map and process, not to {self._t.name!r}",
                hint="call it right after the map/filter/flat_map/process whose failures it should route",
            )
        if not isinstance(output_tag, OutputTag):
            raise JobConfigError("on_error() needs an OutputTag", hint='on_error(OutputTag("failed"))')
        if max_errors is not None and (not isinstance(max_errors, int) or max_errors < 0):
            raise JobConfigError(f"max_errors must be a non-negative int or None, got {max_errors!r}")
        self._t.params["on_error"] = ErrorHandling(output_tag, max_errors)
        return self

    # -- physical partitioning (millstream.stream.partitioning): partition nodes of the graph -----------
    def _partition(self, partitioning: Partitioning) -> DataStream:
        t = Transformation("partition", partitioning.strategy, [(self._t, None)], {"partitioning": partitioning})
        self._env._register(t)
        return DataStream(self._env, t)

    def rebalance(self) -> DataStream:
        """Round-robin over all downstream subtasks."""
        return self._partition(Partitioning("REBALANCE"))

    def rescale(self) -> DataStream:
        """Round-robin over a share of the downstream subtasks (pointwise)."""
        return self._partition(Partitioning("RESCALE"))

    def shuffle(self) -> DataStream:
        """Each record to a downstream subtask chosen uniformly at random."""
        return self._partition(Partitioning("SHUFFLE"))

    def forward(self) -> DataStream:
        """Subtask i to subtask i (the downstream operator must have the same parallelism)."""
        return self._partition(Partitioning("FORWARD"))

    def broadcast(self, broadcast_state_descriptor: Any = None, *more_descriptors: Any) -> Any:
        """Every record to every downstream subtask. With ``MapStateDescriptor`` s, a
        :class:`~.broadcast.BroadcastStream` with those broadcast states, to ``connect`` a stream to."""
        if broadcast_state_descriptor is not None:
            from .broadcast import BroadcastStream

            return BroadcastStream(self, [broadcast_state_descriptor, *more_descriptors])
        return self._partition(Partitioning("BROADCAST"))

    def global_(self) -> DataStream:
        """Every record to the first downstream subtask."""
        return self._partition(Partitioning("GLOBAL"))

    def partition_custom(self, partitioner: Any, key_selector: Any) -> DataStream:
        """Each record to subtask ``partitioner(key_selector(value), num_partitions)`` (a ``Partitioner`` with
        ``partition(key, n)`` or a callable)."""
        fn = getattr(partitioner, "partition", partitioner)
        if not callable(fn):
            raise JobConfigError("partition_custom needs a Partitioner or a callable (key, num_partitions) -> int")
        return self._partition(Partitioning("CUSTOM", as_key_selector(key_selector), fn))

    @property
    def transformation(self) -> Transformation:
        return self._t

    def _add(
        self,
        kind: str,
        name: str,
        params: dict[str, Any],
        inputs: list[DataStream] | None = None,
        cls: type[DataStream] | None = None,
    ) -> DataStream:
        ins: list[tuple[Transformation, OutputTag | None]] = [
            (s._t, None) for s in (inputs if inputs is not None else [self])
        ]
        t = Transformation(kind, name, ins, params)
        self._env._register(t)
        return (cls or DataStream)(self._env, t)

    # -- element-wise ---------------------------------------------------------------------------------
    def map(self, func: Any, output_type: Any = None) -> DataStream:
        return self._add("map", "Map", {"fn": as_map(func), "user_fn": func})

    def flat_map(self, func: Any, output_type: Any = None) -> DataStream:
        return self._add("flat_map", "FlatMap", {"fn": as_flat_map(func), "user_fn": func})

    def filter(self, func: Any) -> DataStream:
        return self._add("filter", "Filter", {"fn": as_filter(func), "user_fn": func})

    def process(self, func: Any, output_type: Any = None) -> DataStream:
        fn = getattr(func, "process_element", func)
        if not callable(fn):
            raise JobConfigError("process() needs a ProcessFunction or a callable (value, ctx) -> iterable")
        return self._add("process", "Process", {"fn": fn, "user_fn": func})

    def assign_timestamps_and_watermarks(self, watermark_strategy: WatermarkStrategy) -> DataStream:
        if not isinstance(watermark_strategy, WatermarkStrategy):
            raise JobConfigError("assign_timestamps_and_watermarks needs a WatermarkStrategy")
        return self._add("assign_timestamps", "Timestamps/Watermarks", {"strategy": watermark_strategy})

    def key_by(self, key_selector: Any, key_type: Any = None) -> KeyedStream:
        """Partition by key: every record of a key reaches the same subtask (by key group)."""
        key_fn = as_key_selector(key_selector)
        hashed = self._partition(Partitioning("HASH", key_fn))
        return KeyedStream(self._env, hashed._t, key_fn)

    def union(self, *streams: DataStream) -> DataStream:
        if not streams:
            return self
        return self._add("union", "Union", {}, [self, *streams])

    def connect(self, ds: Any) -> Any:
        """Two streams processed together (:class:`ConnectedStreams`), or with a broadcast stream
        (``ds.broadcast(descriptor)``) a :class:`~.broadcast.BroadcastConnectedStream`."""
        from .broadcast import BroadcastConnectedStream, BroadcastStream

        if isinstance(ds, BroadcastStream):
            return BroadcastConnectedStream(self, ds)
        return ConnectedStreams(self, ds)

    def join(self, other: DataStream) -> JoinedStreams:
        return JoinedStreams(self, other)

    def get_side_output(self, output_tag: OutputTag) -> DataStream:
        if not isinstance(output_tag, OutputTag):
            raise JobConfigError("get_side_output needs an OutputTag")
        t = Transformation("side", f"SideOutput({output_tag.tag_id})", [(self._t, output_tag)], {"tag": output_tag})
        self._env._register(t)
        return DataStream(self._env, t)

    def window_all(self, window_assigner: WindowAssigner) -> AllWindowedStream:
        return AllWindowedStream(self, window_assigner)

    def count_window_all(self, size: int, slide: int = 0) -> AllWindowedStream:
        return _count_windowed(AllWindowedStream(self, GlobalWindows.create()), size, slide)

    # -- sinks ----------------------------------------------------------------------------------------
    def sink_to(self, sink: Any) -> DataSink:
        t = Transformation("sink", getattr(sink, "name", "Sink"), [(self._t, None)], {"sink": sink})
        self._env._register(t, sink=True)
        return DataSink(self._env, t)

    def add_sink(self, sink_func: Any) -> DataSink:
        """A ``SinkFunction``, a callable(value), or a Kafka-Connect ``SinkConnector`` (class or instance)."""
        if is_sink_connector(sink_func):
            return self.sink_to(ConnectorSink.of(sink_func))
        if isinstance(sink_func, ConnectorSink):
            return self.sink_to(sink_func)
        if not (callable(sink_func) or hasattr(sink_func, "invoke")):
            raise JobConfigError("add_sink needs a SinkFunction or a callable(value)")
        return self.sink_to(FunctionSink(sink_func))

    def print(self, sink_identifier: str | None = None) -> DataSink:
        """Print every element on stdout, as Flink's print sink: a stream with a declared type
        (``output_type=Types.TUPLE(...)`` etc.) prints as Flink prints that type (:mod:`.typeinfo`), any
        other with ``str(value)``."""
        formatter = print_formatter(declared_type(self._t))
        stream = self if formatter is None else self.map(formatter).name("Print Format")
        return stream.sink_to(PrintSink(sink_identifier))

    def execute_and_collect(self, job_name: str | None = None, limit: int | None = None) -> Any:
        """Run the job and collect this stream's elements, in order, as PyFlink does: a closeable iterator
        that streams them while the job runs (``with ds.execute_and_collect() as it: ...``; unbounded jobs
        too, ``close()`` cancels the job), or with ``limit`` a list of at most ``limit`` elements (the job is
        cancelled once it has them). See :class:`millstream.stream.environment.CloseableIterator`."""
        return self._env._collect_stream(self._t, job_name, limit)


class DataSink(DataStream):
    """The end of a stream (from ``sink_to``/``add_sink``/``print``); ``name``/``uid`` name the sink."""


class KeyedStream(DataStream):
    """A stream partitioned by key: keyed state, timers, rolling aggregations and windows."""

    def __init__(
        self,
        env: StreamExecutionEnvironment,
        transformation: Transformation,
        key_selector: Callable[[Any], Any],
    ) -> None:
        super().__init__(env, transformation)
        self.key_selector = key_selector

    def process(self, func: Any, output_type: Any = None) -> DataStream:
        pe = getattr(func, "process_element", func)
        if not callable(pe):
            raise JobConfigError("process() needs a KeyedProcessFunction or a callable (value, ctx) -> iterable")
        on_timer = getattr(func, "on_timer", None)
        return self._add(
            "keyed_process",
            "KeyedProcess",
            {"fns": [pe], "key_fns": [self.key_selector], "on_timer": on_timer, "user_fn": func},
        )

    def reduce(self, func: Any) -> DataStream:
        return self._add("rolling", "Keyed Reduce", {"key_fn": self.key_selector, "fn": as_reduce(func)})

    def _rolling(self, kind: str, field: Any) -> DataStream:
        return self._add("rolling", f"Keyed {kind}", {"key_fn": self.key_selector, "fn": rolling_reducer(kind, field)})

    def sum(self, position_to_sum: Any = None) -> DataStream:
        return self._rolling("sum", position_to_sum)

    def min(self, position_to_min: Any = None) -> DataStream:
        return self._rolling("min", position_to_min)

    def max(self, position_to_max: Any = None) -> DataStream:
        return self._rolling("max", position_to_max)

    def min_by(self, position_to_min_by: Any = None) -> DataStream:
        return self._rolling("min_by", position_to_min_by)

    def max_by(self, position_to_max_by: Any = None) -> DataStream:
        return self._rolling("max_by", position_to_max_by)

    def window(self, window_assigner: WindowAssigner) -> WindowedStream:
        if not isinstance(window_assigner, WindowAssigner):
            raise JobConfigError(f"window() needs a WindowAssigner, got {type(window_assigner).__name__}")
        return WindowedStream(self, window_assigner)

    def count_window(self, size: int, slide: int = 0) -> WindowedStream:
        """Java Flink's count windows: every ``size`` elements of a key (tumbling), or every ``slide``
        elements with the last ``size`` (sliding; fewer at first)."""
        return _count_windowed(WindowedStream(self, GlobalWindows.create()), size, slide)

    def interval_join(self, other: KeyedStream) -> IntervalJoin:
        if not isinstance(other, KeyedStream):
            raise JobConfigError("interval_join needs a KeyedStream on the other side: other.key_by(...)")
        return IntervalJoin(self, other)

    def connect(self, ds: Any) -> Any:
        from .broadcast import BroadcastConnectedStream, BroadcastStream

        if isinstance(ds, BroadcastStream):
            return BroadcastConnectedStream(self, ds)
        cs = ConnectedStreams(self, ds)
        if isinstance(ds, KeyedStream):
            cs.key_fns = [self.key_selector, ds.key_selector]
        return cs


def _count_windowed(ws: Any, size: int, slide: int) -> Any:
    if not isinstance(size, int) or size <= 0:
        raise JobConfigError(f"count window size must be a positive int, got {size!r}")
    if slide:
        if not isinstance(slide, int) or slide <= 0:
            raise JobConfigError(f"count window slide must be a positive int, got {slide!r}")
        return ws.evictor(CountEvictor.of(size)).trigger(CountTrigger.of(slide))
    return ws.trigger(PurgingTrigger.of(CountTrigger.of(size)))


class WindowedStream:
    """A keyed stream cut into windows. Configure with ``trigger``, ``evictor``, ``allowed_lateness``,
    ``side_output_late_data``; finish with ``reduce``, ``aggregate``, ``process`` or ``apply``."""

    non_keyed = False

    def __init__(self, stream: DataStream, assigner: WindowAssigner) -> None:
        self._stream = stream
        self._assigner = assigner
        self._trigger: Trigger | None = None
        self._evictor: Evictor | None = None
        self._lateness = 0
        self._late_tag: OutputTag | None = None

    def trigger(self, trigger: Trigger) -> WindowedStream:
        if not isinstance(trigger, Trigger):
            raise JobConfigError(f"trigger() needs a Trigger, got {type(trigger).__name__}")
        self._trigger = trigger
        return self

    def evictor(self, evictor: Evictor) -> WindowedStream:
        self._evictor = evictor
        return self

    def allowed_lateness(self, time_ms: Any) -> WindowedStream:
        ms = to_millis(time_ms, "allowed lateness")
        if ms < 0:
            raise JobConfigError(f"allowed lateness must be >= 0, got {ms} ms")
        self._lateness = ms
        return self

    def side_output_late_data(self, output_tag: OutputTag) -> WindowedStream:
        if not isinstance(output_tag, OutputTag):
            raise JobConfigError("side_output_late_data needs an OutputTag")
        self._late_tag = output_tag
        return self

    def _key_fn(self) -> Callable[[Any], Any] | None:
        return None if self.non_keyed else self._stream.key_selector  # type: ignore[attr-defined]

    def _build(self, fn: WindowFunctionSpec, name: str) -> DataStream:
        if self._evictor is not None and fn.kind != "list":
            fn = WindowFunctionSpec(
                "list", fn.user, fn.window_fn, non_keyed=fn.non_keyed, list_then=fn.kind, style=fn.style
            )
        params = {
            "key_fn": self._key_fn(),
            "assigner": self._assigner,
            "trigger": self._trigger,
            "evictor": self._evictor,
            "lateness": self._lateness,
            "late_tag": self._late_tag,
            "fn": fn,
        }
        return self._stream._add("window", name, params)

    def reduce(self, reduce_function: Any, window_function: Any = None, output_type: Any = None) -> DataStream:
        spec = WindowFunctionSpec("reduce", as_reduce(reduce_function), window_function, non_keyed=self.non_keyed)
        return self._build(spec, "Window(Reduce)")

    def aggregate(
        self,
        aggregate_function: Any,
        window_function: Any = None,
        accumulator_type: Any = None,
        output_type: Any = None,
    ) -> DataStream:
        for m in ("create_accumulator", "add", "get_result"):
            if not hasattr(aggregate_function, m):
                raise JobConfigError(f"aggregate() needs an AggregateFunction (missing {m}())")
        spec = WindowFunctionSpec("aggregate", aggregate_function, window_function, non_keyed=self.non_keyed)
        return self._build(spec, "Window(Aggregate)")

    def process(self, process_window_function: Any, output_type: Any = None) -> DataStream:
        spec = WindowFunctionSpec("list", process_window_function, None, non_keyed=self.non_keyed)
        return self._build(spec, "Window(Process)")

    def apply(self, window_function: Any, output_type: Any = None) -> DataStream:
        spec = WindowFunctionSpec("list", window_function, None, non_keyed=self.non_keyed, style="apply")
        return self._build(spec, "Window(Apply)")

    def _field(self, kind: str, field: Any) -> DataStream:
        spec = WindowFunctionSpec("reduce", rolling_reducer(kind, field), None, non_keyed=self.non_keyed)
        return self._build(spec, f"Window({kind})")

    def sum(self, position_to_sum: Any = None) -> DataStream:
        return self._field("sum", position_to_sum)

    def min(self, position_to_min: Any = None) -> DataStream:
        return self._field("min", position_to_min)

    def max(self, position_to_max: Any = None) -> DataStream:
        return self._field("max", position_to_max)

    def min_by(self, position_to_min_by: Any = None) -> DataStream:
        return self._field("min_by", position_to_min_by)

    def max_by(self, position_to_max_by: Any = None) -> DataStream:
        return self._field("max_by", position_to_max_by)


class AllWindowedStream(WindowedStream):
    """Windows over a non-keyed stream (all elements in one group); ``*AllWindowFunction`` signatures."""

    non_keyed = True


class ConnectedStreams:
    """Two streams processed together by a co-function (``map``, ``flat_map``, ``process``)."""

    def __init__(self, first: DataStream, second: DataStream) -> None:
        self.first = first
        self.second = second
        self.key_fns: list[Callable[[Any], Any]] | None = None

    def key_by(self, key_selector1: Any, key_selector2: Any, key_type: Any = None) -> ConnectedStreams:
        first, second = self.first.key_by(key_selector1), self.second.key_by(key_selector2)
        cs = ConnectedStreams(first, second)
        cs.key_fns = [first.key_selector, second.key_selector]
        return cs

    def _co(self, fns: list[Callable[[Any, Any], Any]], name: str, user_fn: Any, on_timer: Any = None) -> DataStream:
        params = {"fns": fns, "key_fns": self.key_fns, "on_timer": on_timer, "user_fn": user_fn}
        return self.first._add("co_process", name, params, [self.first, self.second])

    def map(self, func: Any, output_type: Any = None) -> DataStream:
        m1, m2 = func.map1, func.map2
        return self._co([lambda v, c: (m1(v),), lambda v, c: (m2(v),)], "Co-Map", func)

    def flat_map(self, func: Any, output_type: Any = None) -> DataStream:
        f1, f2 = func.flat_map1, func.flat_map2
        return self._co([lambda v, c: f1(v), lambda v, c: f2(v)], "Co-Flat Map", func)

    def process(self, func: Any, output_type: Any = None) -> DataStream:
        return self._co(
            [func.process_element1, func.process_element2],
            "Co-Process",
            func,
            getattr(func, "on_timer", None),
        )


class JoinedStreams:
    """``a.join(b).where(ka).equal_to(kb).window(assigner).apply(join_function)`` — an inner join of the
    elements of each key and window, emitted when the window fires."""

    def __init__(self, first: DataStream, second: DataStream) -> None:
        self.first = first
        self.second = second
        self._k1: Callable[[Any], Any] | None = None
        self._k2: Callable[[Any], Any] | None = None
        self._assigner: WindowAssigner | None = None
        self._trigger: Trigger | None = None
        self._evictor: Evictor | None = None
        self._lateness = 0

    def where(self, key_selector: Any, key_type: Any = None) -> JoinedStreams:
        self._k1 = as_key_selector(key_selector)
        return self

    def equal_to(self, key_selector: Any, key_type: Any = None) -> JoinedStreams:
        if self._k1 is None:
            raise JobConfigError("call where(...) before equal_to(...)")
        self._k2 = as_key_selector(key_selector)
        return self

    def window(self, assigner: WindowAssigner) -> JoinedStreams:
        if self._k2 is None:
            raise JobConfigError("call where(...).equal_to(...) before window(...)")
        self._assigner = assigner
        return self

    def trigger(self, trigger: Trigger) -> JoinedStreams:
        self._trigger = trigger
        return self

    def evictor(self, evictor: Evictor) -> JoinedStreams:
        self._evictor = evictor
        return self

    def allowed_lateness(self, time_ms: Any) -> JoinedStreams:
        self._lateness = to_millis(time_ms, "allowed lateness")
        return self

    def _build(self, fn: Any, flat: bool) -> DataStream:
        if self._assigner is None:
            raise JobConfigError("call window(...) before apply(...)")
        spec = WindowFunctionSpec("list", window_join_function(fn, flat))
        params = {
            "key_fn": None,
            "key_fns": [self._k1, self._k2],
            "tag_inputs": True,
            "assigner": self._assigner,
            "trigger": self._trigger,
            "evictor": self._evictor,
            "lateness": self._lateness,
            "late_tag": None,
            "fn": spec,
        }
        inputs: list[DataStream] = [self.first.key_by(self._k1), self.second.key_by(self._k2)]
        return self.first._add("window", "Window Join", params, inputs)

    def apply(self, join_function: Any, output_type: Any = None) -> DataStream:
        return self._build(join_function, flat=False)

    def flat_apply(self, join_function: Any, output_type: Any = None) -> DataStream:
        return self._build(join_function, flat=True)


class IntervalJoin:
    """``a.key_by(k).interval_join(b.key_by(k)).between(lo, hi)``: ``a.ts + lo <= b.ts <= a.ts + hi``."""

    def __init__(self, left: KeyedStream, right: KeyedStream) -> None:
        self.left = left
        self.right = right
        self._lo: int | None = None
        self._hi: int | None = None
        self._lo_ex = False
        self._hi_ex = False
        self._late: list[OutputTag | None] = [None, None]

    def between(self, lower_bound: Any, upper_bound: Any) -> IntervalJoin:
        lo = to_millis(lower_bound, "lower bound")
        hi = to_millis(upper_bound, "upper bound")
        if lo > hi:
            raise JobConfigError(f"interval join lower bound {lo} ms is greater than the upper bound {hi} ms")
        self._lo, self._hi = lo, hi
        return self

    def lower_bound_exclusive(self) -> IntervalJoin:
        self._lo_ex = True
        return self

    def upper_bound_exclusive(self) -> IntervalJoin:
        self._hi_ex = True
        return self

    def side_output_left_late_data(self, output_tag: OutputTag) -> IntervalJoin:
        self._late[0] = output_tag
        return self

    def side_output_right_late_data(self, output_tag: OutputTag) -> IntervalJoin:
        self._late[1] = output_tag
        return self

    def process(self, process_join_function: Any, output_type: Any = None) -> DataStream:
        if self._lo is None or self._hi is None:
            raise JobConfigError("call between(lower, upper) before process(...)")
        fn = getattr(process_join_function, "process_element", process_join_function)
        params = {
            "key_fns": [self.left.key_selector, self.right.key_selector],
            "lower": self._lo,
            "upper": self._hi,
            "lower_exclusive": self._lo_ex,
            "upper_exclusive": self._hi_ex,
            "fn": fn,
            "user_fn": process_join_function,
            "late_tags": tuple(self._late),
        }
        return self.left._add("interval_join", "IntervalJoin", params, [self.left, self.right])


__all__ = [
    "AllWindowedStream",
    "ConnectedStreams",
    "DataSink",
    "DataStream",
    "IntervalJoin",
    "JoinedStreams",
    "KeyedStream",
    "WindowedStream",
]


# -- declared output types (PyFlink's ``output_type``): recorded on the node, used by ``print()`` ------------

_SAME_TYPE_KINDS = frozenset({"filter", "partition", "union", "assign_timestamps", "rolling"})


def declared_type(t: Transformation) -> Any:
    """The element type declared for a node's output: its ``output_type``/``type_info``, or for a node that
    passes its input's elements on (filter, partitioning, union, rolling and window reduce without a window
    function, field aggregations) its input's; a side output has its tag's type. ``None``: none declared."""
    seen = 0
    while seen < 10_000:
        seen += 1
        declared = t.params.get("output_type")
        if declared is not None:
            return declared
        if t.kind == "side":
            return getattr(t.params.get("tag"), "type_info", None)
        if t.kind == "window":
            fn = t.params.get("fn")
            passes = fn is not None and fn.window_fn is None and (fn.kind == "reduce" or fn.list_then == "reduce")
            if not passes:
                return None
        elif t.kind not in _SAME_TYPE_KINDS or not t.inputs:
            return None
        t = t.inputs[0][0]
    return None


def _records_output_type(method: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(method)

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = method(self, *args, **kwargs)
        output_type = signature.bind(self, *args, **kwargs).arguments.get("output_type")
        if output_type is not None and isinstance(out, DataStream):
            out.transformation.params["output_type"] = output_type
        return out

    return wrapper


for _cls in (DataStream, KeyedStream, WindowedStream, ConnectedStreams, JoinedStreams, IntervalJoin):
    for _name, _member in list(vars(_cls).items()):
        if callable(_member) and "output_type" in inspect.signature(_member).parameters:
            setattr(_cls, _name, _records_output_type(_member))
