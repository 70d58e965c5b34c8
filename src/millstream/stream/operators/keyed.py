"""Keyed operators: ``KeyedProcessFunction`` (and two-input co-process/co-map/co-flat-map, keyed or not)
with keyed state and event-/processing-time timers, and rolling aggregations (``reduce``, ``sum``,
``min``, ``max``, ``min_by``, ``max_by``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..functions import OutputTag, RuntimeContext, TimeDomain
from ..state import KeyedStateBackend
from ..time import MAX_WATERMARK, MIN_WATERMARK
from .base import Operator, compute_keys, split_outputs
from .basic import annotate, tolerating
from .rescale import Owns, merge_tables, merge_timers, plain_key
from .timers import TimerQueue


class StreamRuntimeContext(RuntimeContext):
    """The ``RuntimeContext`` given to ``open()``: task name and, on keyed streams, keyed state."""

    def __init__(self, op: Operator, backend: KeyedStateBackend | None) -> None:
        self._op = op
        self._backend = backend

    def get_task_name(self) -> str:
        return self._op.name

    def get_index_of_this_subtask(self) -> int:
        return self._op.subtask_index

    def get_number_of_parallel_subtasks(self) -> int:
        return self._op.parallelism

    def get_job_parameter(self, key: str, default_value: str | None = None) -> str | None:
        return self._op.ctx.params.get(key, default_value)

    def _state(self, state_descriptor: Any) -> Any:
        if self._backend is None:
            from ..errors import JobConfigError

            raise JobConfigError(
                f"operator {self._op.name!r} is not keyed, so it has no keyed state",
                hint="call key_by(...) first to use keyed state; for state of a non-keyed operator implement "
                "CheckpointedFunction and use the operator state store in initialize_state",
            )
        return self._backend.get_state(state_descriptor)

    get_state = _state
    get_list_state = _state
    get_map_state = _state
    get_reducing_state = _state
    get_aggregating_state = _state


class KeyedContext:
    """``ctx`` of keyed process functions (also the timer service and the on_timer context)."""

    __slots__ = ("_domain", "_op", "_out_ts", "_ts")

    def __init__(self, op: KeyedProcessOperator) -> None:
        self._op = op
        self._ts: Any = None
        self._out_ts: Any = None  # timestamp of what is emitted now (None from processing-time timers)
        self._domain: str | None = None

    def timestamp(self) -> int | None:
        return self._ts

    def get_current_key(self) -> Any:
        return self._op.backend.current_key

    def time_domain(self) -> str | None:
        return self._domain

    def timer_service(self) -> KeyedContext:
        return self

    def current_watermark(self) -> int:
        return self._op.wm

    def current_processing_time(self) -> int:
        return self._op.ctx.now()

    def _need_key(self) -> Any:
        if not self._op.keyed:
            raise TypeError("timers need a keyed stream: call key_by(...) first")
        return self._op.backend.current_key

    def register_event_time_timer(self, timestamp: int) -> None:
        self._op.event_timers.register(int(timestamp), self._need_key())

    def register_processing_time_timer(self, timestamp: int) -> None:
        self._op.proc_timers.register(int(timestamp), self._need_key())

    def delete_event_time_timer(self, timestamp: int) -> None:
        self._op.event_timers.delete(int(timestamp), self._need_key())

    def delete_processing_time_timer(self, timestamp: int) -> None:
        self._op.proc_timers.delete(int(timestamp), self._need_key())

    def output(self, output_tag: OutputTag, value: Any) -> None:
        sv, st, sw = self._op.side(output_tag)
        sv.append(value)
        st.append(self._out_ts)
        sw.append(self._op.emit_wm)


class KeyedProcessOperator(Operator):
    """One- or two-input process operator. ``fns[i](value, ctx)`` handles input ``i``; with ``key_fns``
    the operator is keyed (state, timers, ``on_timer(ts, ctx)``). ``watermark_delay`` (ms, default 0) holds the
    watermarks it emits back by that much (the final watermark excepted), as Flink's
    ``KeyedCoProcessOperatorWithWatermarkDelay`` does for SQL interval joins, whose results may be that much
    older than the input watermark."""

    def __init__(
        self,
        name: str,
        uid: str | None,
        fns: list[Callable[[Any, Any], Any]],
        key_fns: list[Callable[[Any], Any]] | None,
        on_timer: Callable[[int, Any], Any] | None = None,
        user_fn: Any = None,
        watermark_delay: int = 0,
    ) -> None:
        self.n_inputs = len(fns)
        super().__init__(name, uid)
        self.watermark_delay = watermark_delay
        self.fns = fns
        self.key_fns = key_fns
        self.keyed = key_fns is not None
        self.on_timer = on_timer
        self.user_fn = user_fn
        self.backend = KeyedStateBackend(lambda: self.ctx.now())
        self.event_timers = TimerQueue()
        self.proc_timers = TimerQueue()
        self.pctx = KeyedContext(self)
        self.known_keys: set[Any] = set()
        self.emit_wm = self.wm
        self._ov: list[Any] = []
        self._ot: list[Any] = []
        self._ow: list[int] = []

    def open(self) -> None:
        hook = getattr(self.user_fn, "open", None)
        if hook is not None:
            hook(StreamRuntimeContext(self, self.backend if self.keyed else None))

    def close(self) -> None:
        hook = getattr(self.user_fn, "close", None)
        if hook is not None:
            hook()

    def _fire_timer(self, ts: int, key: Any, domain: str) -> None:
        ctx = self.pctx
        self.backend.current_key = key
        ctx._ts = ts  # ctx.timestamp() is the timer's time in both domains, as in Flink
        ctx._domain = domain
        # outputs of an event-time timer carry its time; those of a processing-time timer none
        out_ts = ctx._out_ts = ts if domain == TimeDomain.EVENT_TIME else None
        try:
            res = self.on_timer(ts, ctx) if self.on_timer is not None else None
            split_outputs(res, self._ov, self, out_ts, self._ot, self._ow, self.emit_wm)
        except Exception as exc:
            annotate(exc, self, None, f"timer {ts} for key {key!r}")
            raise
        finally:
            ctx._domain = None

    def _advance(self, wm: int) -> None:
        self.emit_wm = self.wm
        self.wm = wm
        pop = self.event_timers.pop_due
        while (t := pop(wm)) is not None:
            self._fire_timer(t[0], t[1], TimeDomain.EVENT_TIME)
        self.emit_wm = wm

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        if self.n_inputs > 1:
            wmb, tail = self.combine_watermarks(wmb, tail, input_index)
        fn = self.fns[input_index]
        keys = compute_keys(self, self.key_fns[input_index], vals, self.known_keys) if self.key_fns else None
        ctx, backend = self.pctx, self.backend
        ov, ot, ow = self._ov, self._ot, self._ow
        i = 0
        if self.tolerance is not None:
            for i, v in enumerate(vals):
                w = wmb[i]
                if w > self.wm:
                    self._advance(w)
                if keys is not None:
                    backend.current_key = keys[i]
                t = ctx._ts = ctx._out_ts = tss[i]
                with tolerating(self, i, vals, tss, wmb, ov, ot, ow):
                    split_outputs(fn(v, ctx), ov, self, t, ot, ow, self.wm)
            self.seen += len(vals)
            if tail > self.wm:
                self._advance(tail)
            self._flush_out(tail)
            return
        try:
            for i, v in enumerate(vals):
                w = wmb[i]
                if w > self.wm:
                    self._advance(w)
                if keys is not None:
                    backend.current_key = keys[i]
                t = ctx._ts = ctx._out_ts = tss[i]
                split_outputs(fn(v, ctx), ov, self, t, ot, ow, self.wm)
        except Exception as exc:
            annotate(exc, self, self.seen + i, vals[i] if vals else None)
            raise
        self.seen += len(vals)
        if tail > self.wm:
            self._advance(tail)
        self._flush_out(tail)

    def _flush_out(self, tail: int) -> None:
        ov, ot, ow = self._ov, self._ot, self._ow
        self._ov, self._ot, self._ow = [], [], []
        if self.watermark_delay:
            ow, tail = [self._delayed(w) for w in ow], self._delayed(tail)
            for _, _, side_wms in self._sides.values():
                side_wms[:] = [self._delayed(w) for w in side_wms]
        self.flush(ov, ot, ow, tail)

    def _delayed(self, wm: int) -> int:
        if wm in (MAX_WATERMARK, MIN_WATERMARK):
            return wm
        return max(wm - self.watermark_delay, MIN_WATERMARK)

    def on_processing_time(self, now: int) -> None:
        pop = self.proc_timers.pop_due
        fired = False
        while (t := pop(now)) is not None:
            fired = True
            self._fire_timer(t[0], t[1], TimeDomain.PROCESSING_TIME)
        if fired:
            self._flush_out(self.wm)

    def next_processing_time(self) -> int | None:
        return self.proc_timers.peek()

    def snapshot(self) -> Any:
        return {
            "state": self.backend.snapshot(),
            "event_timers": self.event_timers.snapshot(),
            "proc_timers": self.proc_timers.snapshot(),
            "wm": self.wm,
            "kinds": self.backend.kinds(),
        }

    @staticmethod
    def merge_snapshots(states: list[Any], owns: Owns) -> Any:
        """Rescaling (:mod:`.rescale`): the owned keys' state and timers of several subtasks' snapshots."""
        kinds: dict[str, str] = {}
        for s in states:
            kinds.update(s.get("kinds", {}))
        return {
            "state": merge_tables((s["state"] for s in states), owns, plain_key),
            "event_timers": merge_timers((s["event_timers"] for s in states), owns),
            "proc_timers": merge_timers((s["proc_timers"] for s in states), owns),
            "wm": min(s["wm"] for s in states),
            "kinds": kinds,
        }

    def restore(self, state: Any) -> None:
        self.backend.restore(state["state"])
        self.backend.expect_kinds(state.get("kinds", {}))
        self.event_timers.restore(state["event_timers"])
        self.proc_timers.restore(state["proc_timers"])


# -- rolling aggregations -------------------------------------------------------------------------------


def _field_get(value: Any, field: Any) -> Any:
    if isinstance(value, dict):
        return value[field]
    if isinstance(field, str) and not isinstance(value, list | tuple):
        return getattr(value, field)
    if isinstance(value, list | tuple) and isinstance(field, str) and hasattr(value, field):
        return getattr(value, field)
    return value[field]


def _field_set(value: Any, field: Any, new: Any) -> Any:
    if isinstance(value, dict):
        out = dict(value)
        out[field] = new
        return out
    if isinstance(value, tuple):
        if hasattr(value, "_replace") and isinstance(field, str):
            return value._replace(**{field: new})
        idx = value._fields.index(field) if isinstance(field, str) else field  # type: ignore[attr-defined]
        lst = list(value)
        lst[idx] = new
        return type(value)(*lst) if hasattr(value, "_fields") else tuple(lst)
    if isinstance(value, list):
        lst = list(value)
        lst[field] = new
        return lst
    copy_row = getattr(value, "_copy_with", None)  # millstream.stream.typeinfo.Row
    if copy_row is not None:
        return copy_row(field, new)
    return new


def rolling_reducer(kind: str, field: Any) -> Callable[[Any, Any], Any]:
    """The reduce function behind ``sum/min/max/min_by/max_by`` (Flink's field-aggregation rules: ``sum``,
    ``min``, ``max`` replace the field in the first element; ``min_by``/``max_by`` keep a whole element,
    the first one on ties)."""
    scalar = field is None

    def get(v: Any) -> Any:
        return v if scalar else _field_get(v, field)

    def put(acc: Any, x: Any) -> Any:
        return x if scalar else _field_set(acc, field, x)

    if kind == "sum":
        return lambda acc, v: put(acc, get(acc) + get(v))
    if kind == "min":
        return lambda acc, v: put(acc, get(v)) if get(v) < get(acc) else acc
    if kind == "max":
        return lambda acc, v: put(acc, get(v)) if get(v) > get(acc) else acc
    if kind == "min_by":
        return lambda acc, v: v if get(v) < get(acc) else acc
    if kind == "max_by":
        return lambda acc, v: v if get(v) > get(acc) else acc
    raise ValueError(kind)


class RollingReduceOperator(Operator):
    """``KeyedStream.reduce(f)`` and field aggregations: emits the updated aggregate for every element."""

    def __init__(self, name: str, uid: str | None, key_fn: Callable[[Any], Any], fn: Callable[[Any, Any], Any]) -> None:
        super().__init__(name, uid)
        self.key_fn = key_fn
        self.fn = fn
        self.backend = KeyedStateBackend()
        self.values = self.backend.table("reduce")
        self.known_keys: set[Any] = set()

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        keys = compute_keys(self, self.key_fn, vals, self.known_keys)
        fn, state = self.fn, self.values
        out = []
        i = 0
        try:
            for i, v in enumerate(vals):
                k = keys[i]
                if k in state:
                    v = fn(state[k], v)
                state[k] = v
                out.append(v)
        except Exception as exc:
            annotate(exc, self, self.seen + i, vals[i])
            raise
        self.seen += len(vals)
        self.wm = tail
        self.out.emit(out, tss, wmb, tail)

    def rebind_state(self) -> None:
        """Take the table from ``backend`` again (after the runtime swapped it, or a restore)."""
        self.values = self.backend.table("reduce")

    def snapshot(self) -> Any:
        return self.backend.snapshot()

    @staticmethod
    def merge_snapshots(states: list[Any], owns: Owns) -> Any:
        """Rescaling (:mod:`.rescale`): the owned keys' running values of several subtasks' snapshots."""
        return merge_tables(states, owns, plain_key)

    def restore(self, state: Any) -> None:
        self.backend.restore(state)
        self.rebind_state()


__all__ = [
    "MAX_WATERMARK",
    "KeyedContext",
    "KeyedProcessOperator",
    "RollingReduceOperator",
    "StreamRuntimeContext",
    "rolling_reducer",
]
