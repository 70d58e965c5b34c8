"""millstream's user functions inside PyFlink functions (imported only where PyFlink is installed).

Each class here is a PyFlink ``Function`` that carries millstream's function objects as they are (PyFlink
pickles it with cloudpickle) and calls them with millstream's signatures and contexts:

- results may be yielded or returned; ``(OutputTag, value)`` pairs and ``ctx.output(tag, value)`` go to the
  side output of that tag id (a PyFlink ``OutputTag`` made in the worker: PyFlink caches a Java type inside an
  ``OutputTag`` once used, and such a tag cannot be pickled);
- ``open(runtime_context)`` gets a context whose ``get_state`` & co take millstream's state descriptors and
  return PyFlink's keyed state (stored and checkpointed by Flink's state backend);
- windows handed to window functions are millstream's ``TimeWindow`` / ``GlobalWindow``.

The joins PyFlink lacks in Python are keyed co-process functions with Flink state here:
:class:`IntervalJoinFunction` (Flink's ``IntervalJoinOperator``); window joins are a union of the tagged
inputs into an ordinary window (Flink's own ``coGroup`` lowering, see ``translate.py``). Count windows
with evictors (PyFlink's Python API has no evictors) are :class:`CountWindowFunction`; other windows with an
evictor are :class:`~millstream.flink.evicting.EvictingWindow`.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pyflink.common import Types
from pyflink.datastream import OutputTag as PyOutputTag
from pyflink.datastream.functions import (
    AggregateFunction,
    CoProcessFunction,
    FlatMapFunction,
    KeyedCoProcessFunction,
    KeyedProcessFunction,
    KeySelector,
    MapFunction,
    ProcessAllWindowFunction,
    ProcessFunction,
    ProcessWindowFunction,
    ReduceFunction,
)
from pyflink.datastream.state import (
    AggregatingStateDescriptor,
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    StateTtlConfig,
    ValueStateDescriptor,
)
from pyflink.datastream.window import SessionWindowTimeGapExtractor
from pyflink.datastream.window import TimeWindow as PyTimeWindow

from ..stream.functions import OutputTag, TimeDomain
from ..stream.windows import GlobalWindow, TimeWindow

PICKLED = Types.PICKLED_BYTE_ARRAY


def py_output_tag(tag_id: str) -> PyOutputTag:
    """A fresh PyFlink tag for a millstream tag id (values travel pickled)."""
    return PyOutputTag(tag_id, PICKLED())


class _Sides:
    """Side-output plumbing shared by the wrappers: maps millstream tags to PyFlink tags made in the worker."""

    def __init__(self) -> None:
        self._tags: dict[str, PyOutputTag] = {}
        self.pending: list[tuple[PyOutputTag, Any]] = []

    def tag(self, tag: OutputTag) -> PyOutputTag:
        py = self._tags.get(tag.tag_id)
        if py is None:
            py = self._tags[tag.tag_id] = py_output_tag(tag.tag_id)
        return py

    def output(self, tag: OutputTag, value: Any) -> None:
        self.pending.append((self.tag(tag), value))

    def results(self, res: Any, stamp: int | None = None) -> Iterator[Any]:
        """Yields the main results of ``res`` and every side output (PyFlink's ``(tag, value)`` convention);
        with ``stamp``, main results as ``(stamp, value)`` for the Java ``Restamp`` operator that follows."""
        if res is not None and not isinstance(res, Iterable | Iterator):
            res = (res,)
        if res is not None:
            for r in res:
                if self.pending:
                    yield from self._drain()
                if type(r) is tuple and len(r) == 2 and isinstance(r[0], OutputTag):
                    yield self.tag(r[0]), r[1]
                else:
                    yield r if stamp is None else (stamp, r)
        if self.pending:
            yield from self._drain()

    def _drain(self) -> Iterator[Any]:
        pending, self.pending = self.pending, []
        yield from pending

    def __getstate__(self) -> dict[str, Any]:
        return {"fresh": True}  # tags are made again in the worker

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]


# -- state -------------------------------------------------------------------------------------------------


def _ttl(config: Any) -> Any:
    from ..stream.state import StateTtlConfig as MsTtl

    builder = StateTtlConfig.new_builder(_PyTime(config.get_ttl()))
    update = {
        MsTtl.UpdateType.OnCreateAndWrite: StateTtlConfig.UpdateType.OnCreateAndWrite,
        MsTtl.UpdateType.OnReadAndWrite: StateTtlConfig.UpdateType.OnReadAndWrite,
    }.get(config.update_type)
    if update is not None:
        builder = builder.set_update_type(update)
    if config.visibility == MsTtl.StateVisibility.ReturnExpiredIfNotCleanedUp:
        builder = builder.set_state_visibility(StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)
    else:
        builder = builder.set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
    return builder.build()


class _PyTime:
    """The ``Time``-like object PyFlink's TTL builder wants (``to_milliseconds()``)."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def to_milliseconds(self) -> int:
        return self.ms


class _Aggregate(AggregateFunction):
    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def create_accumulator(self) -> Any:
        return self.fn.create_accumulator()

    def add(self, value: Any, accumulator: Any) -> Any:
        return self.fn.add(value, accumulator)

    def get_result(self, accumulator: Any) -> Any:
        return self.fn.get_result(accumulator)

    def merge(self, acc_a: Any, acc_b: Any) -> Any:
        return self.fn.merge(acc_a, acc_b)


class _Reduce(ReduceFunction):
    def __init__(self, fn: Callable[[Any, Any], Any]) -> None:
        self.fn = fn

    def reduce(self, value1: Any, value2: Any) -> Any:
        return self.fn(value1, value2)


def py_descriptor(d: Any) -> Any:
    """PyFlink's state descriptor for a millstream one (values pickled; TTL carried over)."""
    kind = d.kind
    if kind == "value":
        out: Any = ValueStateDescriptor(d.name, PICKLED())
    elif kind == "list":
        out = ListStateDescriptor(d.name, PICKLED())
    elif kind == "map":
        out = MapStateDescriptor(d.name, PICKLED(), PICKLED())
    elif kind == "reducing":
        out = ReducingStateDescriptor(d.name, _Reduce(d.reduce_function), PICKLED())
    elif kind == "aggregating":
        out = AggregatingStateDescriptor(d.name, _Aggregate(d.agg_function), PICKLED())
    else:
        raise ValueError(f"unknown state kind {kind!r} of state {d.name!r}")
    if getattr(d, "ttl_config", None) is not None:
        out.enable_time_to_live(_ttl(d.ttl_config))
    return out


class StateStore:
    """``get_state``/``get_list_state``/... over a PyFlink state store, taking millstream descriptors."""

    def __init__(self, store: Any) -> None:
        self._s = store

    def get_state(self, descriptor: Any) -> Any:
        return self._get(descriptor)

    def _get(self, d: Any) -> Any:
        py = py_descriptor(d)
        getter = {
            "value": self._s.get_state,
            "list": self._s.get_list_state,
            "map": self._s.get_map_state,
            "reducing": self._s.get_reducing_state,
            "aggregating": self._s.get_aggregating_state,
        }[d.kind]
        return getter(py)

    get_list_state = _get
    get_map_state = _get
    get_reducing_state = _get
    get_aggregating_state = _get


class RuntimeContextAdapter(StateStore):
    """millstream's ``RuntimeContext`` over PyFlink's."""

    def __init__(self, rc: Any) -> None:
        super().__init__(rc)
        self._rc = rc

    def get_task_name(self) -> str:
        return str(self._rc.get_task_name())

    def get_index_of_this_subtask(self) -> int:
        return int(self._rc.get_index_of_this_subtask())

    def get_number_of_parallel_subtasks(self) -> int:
        return int(self._rc.get_number_of_parallel_subtasks())

    def get_job_parameter(self, key: str, default_value: str | None = None) -> str | None:
        return self._rc.get_job_parameter(key, default_value)


def _open(fn: Any, rc: Any) -> None:
    hook = getattr(fn, "open", None)
    if hook is not None and callable(hook) and not isinstance(fn, type):
        hook(RuntimeContextAdapter(rc))


def _close(fn: Any) -> None:
    hook = getattr(fn, "close", None)
    if hook is not None and callable(hook) and not isinstance(fn, type):
        hook()


# -- element-wise ------------------------------------------------------------------------------------------


class Map(MapFunction):
    """``map``: ``fn(value)``."""

    def __init__(self, fn: Callable[[Any], Any], user: Any) -> None:
        self.fn, self.user = fn, user

    def open(self, runtime_context: Any) -> None:
        _open(self.user, runtime_context)

    def close(self) -> None:
        _close(self.user)

    def map(self, value: Any) -> Any:
        return self.fn(value)


class FlatMap(FlatMapFunction):
    """``flat_map``: the iterable ``fn(value)`` (``None``: nothing)."""

    def __init__(self, fn: Callable[[Any], Any], user: Any) -> None:
        self.fn, self.user = fn, user

    def open(self, runtime_context: Any) -> None:
        _open(self.user, runtime_context)

    def close(self) -> None:
        _close(self.user)

    def flat_map(self, value: Any) -> Any:
        res = self.fn(value)
        if res is not None:
            yield from res


class Filter(FlatMapFunction):
    """``filter`` as a flat map (keeps the function's open/close and the record's timestamp)."""

    def __init__(self, fn: Callable[[Any], bool], user: Any) -> None:
        self.fn, self.user = fn, user

    def open(self, runtime_context: Any) -> None:
        _open(self.user, runtime_context)

    def close(self) -> None:
        _close(self.user)

    def flat_map(self, value: Any) -> Any:
        if self.fn(value):
            yield value


class Keys(KeySelector):
    """A key selector; ``fns`` by input index when the stream is a tagged union (window joins)."""

    def __init__(self, fn: Callable[[Any], Any] | None, fns: list[Callable[[Any], Any]] | None = None) -> None:
        self.fn, self.fns = fn, fns

    def get_key(self, value: Any) -> Any:
        if self.fns is not None:
            return self.fns[value[0]](value[1])
        assert self.fn is not None
        return self.fn(value)


class Tag(MapFunction):
    """Tags the elements of input ``index`` of a window join: ``(index, value)``."""

    def __init__(self, index: int) -> None:
        self.index = index

    def map(self, value: Any) -> Any:
        return (self.index, value)


class Reduce(ReduceFunction):
    """A rolling or window ``reduce``."""

    def __init__(self, fn: Callable[[Any, Any], Any]) -> None:
        self.fn = fn

    def reduce(self, value1: Any, value2: Any) -> Any:
        return self.fn(value1, value2)


class Aggregate(_Aggregate):
    """A window ``aggregate`` with millstream's ``AggregateFunction`` (``merge`` for merging windows)."""

    def open(self, runtime_context: Any) -> None:
        _open(self.fn, runtime_context)


# -- contexts ----------------------------------------------------------------------------------------------


class _TimerService:
    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def _ts(self) -> Any:
        return self._ctx.ctx.timer_service()

    def current_watermark(self) -> int:
        return int(self._ts().current_watermark())

    def current_processing_time(self) -> int:
        return int(self._ts().current_processing_time())

    def register_event_time_timer(self, t: int) -> None:
        self._ts().register_event_time_timer(int(t))

    def register_processing_time_timer(self, t: int) -> None:
        self._ts().register_processing_time_timer(int(t))

    def delete_event_time_timer(self, t: int) -> None:
        self._ts().delete_event_time_timer(int(t))

    def delete_processing_time_timer(self, t: int) -> None:
        self._ts().delete_processing_time_timer(int(t))


class Context(_TimerService):
    """millstream's process-function context (``timestamp``, ``timer_service``, ``output``, ``get_current_key``,
    ``time_domain``) over PyFlink's."""

    def __init__(self, sides: _Sides) -> None:
        super().__init__(self)
        self.sides = sides
        self.ctx: Any = None
        self.domain: str | None = None

    def timestamp(self) -> int | None:
        return self.ctx.timestamp()

    def timer_service(self) -> Context:
        return self

    def get_current_key(self) -> Any:
        return self.ctx.get_current_key()

    def time_domain(self) -> str | None:
        return self.domain

    def output(self, output_tag: OutputTag, value: Any) -> None:
        self.sides.output(output_tag, value)


class Process(ProcessFunction):
    """A non-keyed ``process``: ``fn(value, ctx)``."""

    def __init__(self, fn: Callable[[Any, Any], Any], user: Any) -> None:
        self.fn, self.user = fn, user
        self.sides = _Sides()
        self.ctx = Context(self.sides)

    def open(self, runtime_context: Any) -> None:
        _open(self.user, runtime_context)

    def close(self) -> None:
        _close(self.user)

    def process_element(self, value: Any, ctx: Any) -> Any:
        self.ctx.ctx = ctx
        yield from self.sides.results(self.fn(value, self.ctx))

    def __getstate__(self) -> dict[str, Any]:
        return {"fn": self.fn, "user": self.user}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["fn"], state["user"])  # type: ignore[misc]


class Tolerant(ProcessFunction):
    """``map``/``filter``/``flat_map``/``process`` with ``on_error(tag, max_errors)``: an element on which the
    function raises is handed to millstream's own :class:`~millstream.stream.operators.tolerance.Tolerance`,
    which makes the failed-element record (``element``, ``error``, ``operator``, ``position``, ``traceback``) or
    re-raises past ``max_errors`` failures in this subtask; the record goes to the side output of ``tag`` with
    the element's timestamp, and what the function output for that element is dropped. ``operator`` is the
    subtask's name as millstream's plan gives it (``name (i/parallelism)``, ``i`` Flink's subtask index), or
    the plain ``name`` with ``parallelism`` ``None`` (a job of parallelism 1, as millstream names it there)."""

    def __init__(self, kind: str, fn: Any, user: Any, handling: Any, name: str, parallelism: int | None) -> None:
        self.kind, self.fn, self.user, self.handling = kind, fn, user, handling
        self.name, self.parallelism = name, parallelism
        self.sides = _Sides()
        self.ctx = Context(self.sides)
        self.tolerance: Any = None
        self.seen = 0
        self.failed: tuple[list[Any], list[Any], list[Any]] = ([], [], [])

    def open(self, runtime_context: Any) -> None:
        from ..stream.operators.tolerance import Tolerance

        self.tolerance = Tolerance(self.handling)
        if self.parallelism is not None:
            index = runtime_context.get_index_of_this_subtask()
            self.name = f"{self.name} ({index + 1}/{self.parallelism})"
        _open(self.user, runtime_context)

    def close(self) -> None:
        _close(self.user)

    def side(self, tag: OutputTag) -> tuple[list[Any], list[Any], list[Any]]:
        """Where ``Tolerance.handle`` puts the failed-element record (values, timestamps, watermarks)."""
        return self.failed

    def _outputs(self, value: Any, ctx: Any) -> list[Any]:
        if self.kind == "map":
            return [self.fn(value)]
        if self.kind == "filter":
            return [value] if self.fn(value) else []
        if self.kind == "flat_map":
            res = self.fn(value)
            return [] if res is None else list(res)
        self.ctx.ctx = ctx
        return list(self.sides.results(self.fn(value, self.ctx)))

    def process_element(self, value: Any, ctx: Any) -> Any:
        position, self.seen = self.seen, self.seen + 1
        try:
            out = self._outputs(value, ctx)
        except Exception as exc:
            self.sides.pending.clear()
            self.tolerance.handle(self, exc, position, value, ctx.timestamp(), 0)
            records = self.failed[0][:]
            for buf in self.failed:
                buf.clear()
            tag = self.sides.tag(self.handling.tag)
            return [(tag, r) for r in records]
        return out

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("kind", "fn", "user", "handling", "name", "parallelism")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]


class KeyedProcess(KeyedProcessFunction):
    """``key_by(..).process(KeyedProcessFunction)``: state through PyFlink, timers on Flink's timer service."""

    def __init__(self, fn: Callable[[Any, Any], Any], on_timer: Any, user: Any) -> None:
        self.fn, self.on_timer_fn, self.user = fn, on_timer, user
        self.sides = _Sides()
        self.ctx = Context(self.sides)

    def open(self, runtime_context: Any) -> None:
        _open(self.user, runtime_context)

    def close(self) -> None:
        _close(self.user)

    def process_element(self, value: Any, ctx: Any) -> Any:
        self.ctx.ctx, self.ctx.domain = ctx, None
        yield from self.sides.results(self.fn(value, self.ctx))

    def on_timer(self, timestamp: int, ctx: Any) -> Any:
        if self.on_timer_fn is None:
            return
        self.ctx.ctx = ctx
        self.ctx.domain = TimeDomain.EVENT_TIME if "EVENT" in str(ctx.time_domain()) else TimeDomain.PROCESSING_TIME
        yield from self.sides.results(self.on_timer_fn(timestamp, self.ctx))

    def __getstate__(self) -> dict[str, Any]:
        return {"fn": self.fn, "on_timer": self.on_timer_fn, "user": self.user}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["fn"], state["on_timer"], state["user"])  # type: ignore[misc]


class KeyedCoProcess(KeyedCoProcessFunction):
    """``connect(..).key_by(..).process(..)`` (and co-map / co-flat-map): ``fns[i](value, ctx)``."""

    def __init__(self, fns: list[Any], on_timer: Any, user: Any) -> None:
        self.fns, self.on_timer_fn, self.user = fns, on_timer, user
        self.sides = _Sides()
        self.ctx = Context(self.sides)

    def open(self, runtime_context: Any) -> None:
        _open(self.user, runtime_context)

    def close(self) -> None:
        _close(self.user)

    def process_element1(self, value: Any, ctx: Any) -> Any:
        self.ctx.ctx, self.ctx.domain = ctx, None
        yield from self.sides.results(self.fns[0](value, self.ctx))

    def process_element2(self, value: Any, ctx: Any) -> Any:
        self.ctx.ctx, self.ctx.domain = ctx, None
        yield from self.sides.results(self.fns[1](value, self.ctx))

    def on_timer(self, timestamp: int, ctx: Any) -> Any:
        if self.on_timer_fn is None:
            return
        self.ctx.ctx = ctx
        self.ctx.domain = TimeDomain.EVENT_TIME if "EVENT" in str(ctx.time_domain()) else TimeDomain.PROCESSING_TIME
        yield from self.sides.results(self.on_timer_fn(timestamp, self.ctx))

    def __getstate__(self) -> dict[str, Any]:
        return {"fns": self.fns, "on_timer": self.on_timer_fn, "user": self.user}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["fns"], state["on_timer"], state["user"])  # type: ignore[misc]


class CoProcess(CoProcessFunction):
    """A non-keyed ``connect(..).process(..)`` (and co-map / co-flat-map): ``fns[i](value, ctx)``."""

    def __init__(self, fns: list[Any], user: Any) -> None:
        self.fns, self.user = fns, user
        self.sides = _Sides()
        self.ctx = Context(self.sides)

    def open(self, runtime_context: Any) -> None:
        _open(self.user, runtime_context)

    def close(self) -> None:
        _close(self.user)

    def process_element1(self, value: Any, ctx: Any) -> Any:
        self.ctx.ctx = ctx
        yield from self.sides.results(self.fns[0](value, self.ctx))

    def process_element2(self, value: Any, ctx: Any) -> Any:
        self.ctx.ctx = ctx
        yield from self.sides.results(self.fns[1](value, self.ctx))

    def __getstate__(self) -> dict[str, Any]:
        return {"fns": self.fns, "user": self.user}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["fns"], state["user"])  # type: ignore[misc]


# -- windows -----------------------------------------------------------------------------------------------


def ms_window(w: Any) -> Any:
    """millstream's window object for a PyFlink one."""
    if isinstance(w, PyTimeWindow):
        return TimeWindow(int(w.start), int(w.end))
    return GlobalWindow.get()


class WindowContext:
    """millstream's ``ProcessWindowFunction`` context over PyFlink's."""

    def __init__(self, sides: _Sides) -> None:
        self.sides = sides
        self.ctx: Any = None
        self._window: Any = None

    def window(self) -> Any:
        return self._window

    def current_watermark(self) -> int:
        return int(self.ctx.current_watermark())

    def current_processing_time(self) -> int:
        return int(self.ctx.current_processing_time())

    def window_state(self) -> StateStore:
        return StateStore(self.ctx.window_state())

    def global_state(self) -> StateStore:
        return StateStore(self.ctx.global_state())

    def output(self, output_tag: OutputTag, value: Any) -> None:
        self.sides.output(output_tag, value)


def window_results(spec: Any, key: Any, ctx: Any, window: Any, elements: list[Any]) -> Any:
    """What millstream's window operator computes from a window's (already evicted) contents: the reduce or
    aggregate over the list when an evictor forced list contents, then the window function
    (mirrors ``WindowOperator._results``)."""
    if spec.kind == "list":
        if spec.list_then is None:
            return apply_window_fn(spec, spec.user, key, ctx, window, elements)
        values = spec.fold(elements)
    else:
        values = elements
    if spec.window_fn is None:
        return values
    return apply_window_fn(spec, spec.window_fn, key, ctx, window, values)


def apply_window_fn(spec: Any, wf: Any, key: Any, ctx: Any, window: Any, values: list[Any]) -> Any:
    """Calls a window function with millstream's signatures (``process``, ``apply`` or a plain callable)."""
    proc = getattr(wf, "process", None)
    if proc is not None:
        return proc(ctx, values) if spec.non_keyed else proc(key, ctx, values)
    app = getattr(wf, "apply", None)
    if app is not None:
        return app(window, values) if spec.non_keyed else app(key, window, values)
    first = window if spec.style == "apply" else ctx
    return wf(first, values) if spec.non_keyed else wf(key, first, values)


class _WindowFunctionBase:
    def __init__(self, spec: Any, restamp: bool = False) -> None:
        self.spec = spec
        self.restamp = restamp  # outputs as (window end - 1, value): see Restamp.java
        self.sides = _Sides()
        self.wctx = WindowContext(self.sides)

    def open(self, runtime_context: Any) -> None:
        for f in (self.spec.user, self.spec.window_fn):
            if f is not None:
                _open(f, runtime_context)

    def close(self) -> None:
        for f in (self.spec.user, self.spec.window_fn):
            if f is not None and hasattr(f, "close"):
                _close(f)

    def _run(self, key: Any, context: Any, elements: Iterable[Any]) -> Any:
        self.wctx.ctx = context
        window = self.wctx._window = ms_window(context.window())
        stamp = window.max_timestamp() if self.restamp else None
        return self.sides.results(window_results(self.spec, key, self.wctx, window, list(elements)), stamp)

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "restamp": self.restamp}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"], state.get("restamp", False))  # type: ignore[misc]


class WindowProcess(_WindowFunctionBase, ProcessWindowFunction):
    """A keyed window's function (after PyFlink's reduce/aggregate, or over the list of elements)."""

    def process(self, key: Any, context: Any, elements: Iterable[Any]) -> Any:
        yield from self._run(key, context, elements)

    def clear(self, context: Any) -> None:
        return None


class AllWindowProcess(_WindowFunctionBase, ProcessAllWindowFunction):
    """A non-keyed (``window_all``) window's function."""

    def process(self, context: Any, elements: Iterable[Any]) -> Any:
        yield from self._run(None, context, elements)

    def clear(self, context: Any) -> None:
        return None


class GapExtractor(SessionWindowTimeGapExtractor):
    """A dynamic session gap: millstream's extractor (``extract(element)`` or a callable)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def extract(self, element: Any) -> int:
        f = getattr(self.fn, "extract", self.fn)
        return int(f(element))


class CountWindowFunction(KeyedProcessFunction):
    """Count windows as Java Flink runs them (``GlobalWindows`` + ``CountTrigger(n)`` [+ ``PurgingTrigger``]
    [+ ``CountEvictor(size)``]): every ``n`` elements of a key, the window function gets the key's kept
    elements (the last ``size`` with the evictor); a purging trigger empties the window after each firing.
    PyFlink's Python API has no evictors, so this keyed process function with list state does it."""

    def __init__(
        self, spec: Any, every: int, purge: bool, keep: int | None, keep_after: bool, restamp: bool = False
    ) -> None:
        self.spec, self.every, self.purge, self.keep, self.keep_after = spec, every, purge, keep, keep_after
        self.restamp = restamp  # outputs as (the global window's max timestamp, value): see Restamp.java
        self.sides = _Sides()
        self.wctx = WindowContext(self.sides)

    def open(self, runtime_context: Any) -> None:
        self.buffer = runtime_context.get_list_state(ListStateDescriptor("count-window-contents", PICKLED()))
        self.count = runtime_context.get_state(ValueStateDescriptor("count-window-count", Types.LONG()))
        for f in (self.spec.user, self.spec.window_fn):
            if f is not None and hasattr(f, "open"):
                _open(f, runtime_context)

    def process_element(self, value: Any, ctx: Any) -> Any:
        self.buffer.add(value)
        n = (self.count.value() or 0) + 1
        if n < self.every:
            self.count.update(n)
            return
        self.count.update(0)
        elements = list(self.buffer.get() or [])
        if self.keep is not None and not self.keep_after and len(elements) > self.keep:
            elements = elements[len(elements) - self.keep :]
            self.buffer.update(elements)
        self.wctx.ctx = _CountCtx(ctx)
        window = self.wctx._window = GlobalWindow.get()
        stamp = window.max_timestamp() if self.restamp else None
        results = window_results(self.spec, ctx.get_current_key(), self.wctx, window, elements)
        yield from self.sides.results(results, stamp)
        if self.purge:
            self.buffer.clear()
        elif self.keep is not None and self.keep_after and len(elements) > self.keep:
            self.buffer.update(elements[len(elements) - self.keep :])

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("spec", "every", "purge", "keep", "keep_after", "restamp")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]


class _CountCtx:
    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def current_watermark(self) -> int:
        return int(self._ctx.timer_service().current_watermark())

    def current_processing_time(self) -> int:
        return int(self._ctx.timer_service().current_processing_time())

    def window_state(self) -> Any:
        raise NotImplementedError("window_state() in a count window is not available on Flink (PyFlink 2.3)")

    def global_state(self) -> Any:
        raise NotImplementedError("global_state() in a count window is not available on Flink (PyFlink 2.3)")


# -- interval join -----------------------------------------------------------------------------------------


class JoinContext:
    """``ctx`` of a ``ProcessJoinFunction``: ``get_left_timestamp``, ``get_right_timestamp``,
    ``get_timestamp`` (the larger), ``output``."""

    def __init__(self, sides: _Sides) -> None:
        self.sides = sides
        self.left_ts = 0
        self.right_ts = 0

    def get_left_timestamp(self) -> int:
        return self.left_ts

    def get_right_timestamp(self) -> int:
        return self.right_ts

    def get_timestamp(self) -> int:
        return max(self.left_ts, self.right_ts)

    def output(self, output_tag: OutputTag, value: Any) -> None:
        self.sides.output(output_tag, value)


class IntervalJoinFunction(KeyedCoProcessFunction):
    """Flink's ``IntervalJoinOperator`` as a keyed co-process function with Flink state (PyFlink's Python API
    has no interval join). Per key, each side keeps a map state ``timestamp -> [elements]``. An element:

    1. is late when the watermark is set and ``ts < watermark``: side output (when tagged) or dropped;
    2. is added to its side's buffer, then joined with every buffered element of the other side that is
       within the bounds (``left.ts + lower <= right.ts <= left.ts + upper``, bounds made inclusive first);
    3. registers a cleanup timer: left at ``ts + upper`` (``ts`` when ``upper <= 0``), right at ``ts - lower``
       (``ts`` when ``lower >= 0``); the timer removes that bucket.
    """

    def __init__(
        self,
        fn: Any,
        user: Any,
        lower: int,
        upper: int,
        lower_ex: bool,
        upper_ex: bool,
        late: Any,
        restamp: bool = False,
    ) -> None:
        self.fn, self.user = fn, user
        self.lower = lower + 1 if lower_ex else lower
        self.upper = upper - 1 if upper_ex else upper
        self.late = late
        self.restamp = restamp  # outputs as (max(left, right), value): see Restamp.java
        self.args = (fn, user, lower, upper, lower_ex, upper_ex, late, restamp)
        self.sides = _Sides()
        self.jctx = JoinContext(self.sides)

    def open(self, runtime_context: Any) -> None:
        self.buffers = [
            runtime_context.get_map_state(MapStateDescriptor(f"interval-join-{s}", Types.LONG(), PICKLED()))
            for s in ("left", "right")
        ]
        self.cleanups = runtime_context.get_map_state(
            MapStateDescriptor("interval-join-cleanup", Types.LONG(), PICKLED())
        )
        _open(self.user, runtime_context)

    def close(self) -> None:
        _close(self.user)

    def _element(self, side: int, value: Any, ctx: Any) -> Any:
        ts = ctx.timestamp()
        if ts is None:
            raise ValueError(
                "interval join: an element has no timestamp; assign event time first "
                "(assign_timestamps_and_watermarks / a source watermark strategy)"
            )
        wm = ctx.timer_service().current_watermark()
        if wm is not None and wm > -(2**63) and ts < wm:
            tag = self.late[side]
            if tag is not None:
                yield self.sides.tag(tag), value
            return
        own, other = self.buffers[side], self.buffers[1 - side]
        bucket = own.get(ts) or []
        own.put(ts, [*bucket, value])
        for other_ts, values in list(other.items()):
            if side == 0:
                lo, hi, left_ts, right_ts = ts + self.lower, ts + self.upper, ts, other_ts
                ok = lo <= other_ts <= hi
            else:
                lo, hi, left_ts, right_ts = other_ts + self.lower, other_ts + self.upper, other_ts, ts
                ok = lo <= ts <= hi
            if not ok:
                continue
            for v in values:
                left, right = (value, v) if side == 0 else (v, value)
                self.jctx.left_ts, self.jctx.right_ts = left_ts, right_ts
                stamp = max(left_ts, right_ts) if self.restamp else None
                yield from self.sides.results(self.fn(left, right, self.jctx), stamp)
        if side == 0:
            cleanup = ts + self.upper if self.upper > 0 else ts
        else:
            cleanup = ts - self.lower if self.lower < 0 else ts
        pending = self.cleanups.get(cleanup) or []
        self.cleanups.put(cleanup, [*pending, (side, ts)])
        ctx.timer_service().register_event_time_timer(cleanup)

    def process_element1(self, value: Any, ctx: Any) -> Any:
        yield from self._element(0, value, ctx)

    def process_element2(self, value: Any, ctx: Any) -> Any:
        yield from self._element(1, value, ctx)

    def on_timer(self, timestamp: int, ctx: Any) -> Any:
        for side, ts in self.cleanups.get(timestamp) or []:
            self.buffers[side].remove(ts)
        self.cleanups.remove(timestamp)
        return iter(())

    def __getstate__(self) -> dict[str, Any]:
        return {"args": self.args}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(*state["args"])  # type: ignore[misc]


# -- sinks and collection ----------------------------------------------------------------------------------


class Stamp(ProcessFunction):
    """``(index, record timestamp, pickled value)`` for the collecting stream of the client."""

    def __init__(self, index: int) -> None:
        self.index = index

    def process_element(self, value: Any, ctx: Any) -> Any:
        yield (self.index, ctx.timestamp(), pickle.dumps(value))


class CallSink(ProcessFunction):
    """A ``SinkFunction`` or callable sink, called in the worker (``invoke(value, context)`` or ``fn(value)``)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def open(self, runtime_context: Any) -> None:
        _open(self.fn, runtime_context)

    def close(self) -> None:
        _close(self.fn)

    def process_element(self, value: Any, ctx: Any) -> Any:
        invoke = getattr(self.fn, "invoke", None)
        if invoke is not None:
            invoke(value, _SinkContext(ctx))
        else:
            self.fn(value)
        return iter(())


class _SinkContext:
    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def timestamp(self) -> int | None:
        return self._ctx.timestamp()

    def current_watermark(self) -> int:
        return int(self._ctx.timer_service().current_watermark())

    def current_processing_time(self) -> int:
        return int(self._ctx.timer_service().current_processing_time())


class WriteLines(ProcessFunction):
    """millstream's one-file ``FileSink``: one line per element (``str(v)`` or JSON) to ``path``."""

    def __init__(self, path: str, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self.fh: Any = None

    def open(self, runtime_context: Any) -> None:
        self.fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None

    def process_element(self, value: Any, ctx: Any) -> Any:
        self.fh.write(format_line(value, self.fmt) + "\n")
        self.fh.flush()
        return iter(())

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "fmt": self.fmt}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["fmt"])  # type: ignore[misc]


class AppendToLog(ProcessFunction):
    """millstream's ``LogSink`` to the embedded ``file://`` log, in Flink's Python workers (a local Flink only:
    see ``check.py``). Each subtask opens the log (``sink.log_url``, an absolute ``file://`` URL) and hands the
    elements to millstream's own :class:`~millstream.runtime.sinks.LogSinkOperator`, so values, keys, topics
    and partitions are exactly millstream's (value format or serializer, key selector and format, murmur2
    partitioning, topic selector); a record's timestamp is the element's. Elements are appended ``batch`` at a
    time and the rest when the operator closes at the end of input; with ``batch`` 1 each element is in the log
    before the worker acknowledges it, hence before a checkpoint barrier passes. At-least-once: after a failure
    Flink replays from the last checkpoint (or the beginning), and records written since are written again."""

    def __init__(self, sink: Any, batch: int) -> None:
        self.sink, self.batch = sink, max(1, int(batch))
        self.op: Any = None
        self.values: list[Any] = []
        self.stamps: list[int | None] = []

    def open(self, runtime_context: Any) -> None:
        from ..runtime.sinks import LogSinkOperator

        self.op = LogSinkOperator(self.sink.name, None, self.sink)
        self.op.open()

    def process_element(self, value: Any, ctx: Any) -> Any:
        ts = ctx.timestamp()
        self.values.append(value)
        self.stamps.append(None if ts is None or ts <= NO_TIMESTAMP else int(ts))
        if len(self.values) >= self.batch:
            self.flush()
        return iter(())

    def flush(self) -> None:
        """Append the elements held so far (one ``append`` per topic and partition)."""
        if self.values:
            values, stamps, self.values, self.stamps = self.values, self.stamps, [], []
            self.op.process(values, stamps, [], 0)
            self.op.end_of_round()

    def close(self) -> None:
        if self.op is not None:
            try:
                self.flush()
            finally:
                self.op.close()
                self.op = None

    def __getstate__(self) -> dict[str, Any]:
        return {"sink": self.sink, "batch": self.batch}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["sink"], state["batch"])  # type: ignore[misc]


NO_TIMESTAMP = -(2**63)  # Flink's Long.MIN_VALUE: a record without a timestamp


def format_line(value: Any, fmt: str) -> str:
    """A sink line as millstream writes it: ``str(value)``, or compact JSON (orjson) for ``json``."""
    if fmt == "json":
        import orjson

        return orjson.dumps(value).decode()
    return str(value)


def parse_json_line(line: str) -> Any:
    """A line of a JSON-lines file as millstream's ``FileSource`` parses it."""
    import orjson

    return orjson.loads(line)


class ParseJson(FlatMapFunction):
    """The ``json`` format of a ``FileSource``: one parsed value per non-blank line."""

    def flat_map(self, value: Any) -> Any:
        if value.strip():
            yield parse_json_line(value)


class ExtractTimestamp(ProcessFunction):
    """Step 1 of timestamp assignment: ``(value, ts)`` with ``ts`` from the strategy's assigner (or the
    collection's own timestamps); Flink's ``CustomTimestampAssigner`` then takes ``ts``."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def process_element(self, value: Any, ctx: Any) -> Any:
        if self.fn is None:
            yield value[0], int(value[1])
            return
        ts = self.fn(value, ctx.timestamp())
        yield value, int(ts)


__all__ = [
    "AllWindowProcess",
    "CallSink",
    "CoProcess",
    "CountWindowFunction",
    "ExtractTimestamp",
    "FlatMap",
    "GapExtractor",
    "IntervalJoinFunction",
    "KeyedCoProcess",
    "KeyedProcess",
    "Map",
    "ParseJson",
    "Process",
    "Reduce",
    "Stamp",
    "Tag",
    "WindowProcess",
    "WriteLines",
    "py_output_tag",
]
