"""Windows with an evictor on PyFlink: Flink's ``EvictingWindowOperator`` as a keyed process function.

PyFlink's Python API has no evictors, so a window with one (any assigner but keyed count windows, which
:class:`~millstream.flink.pyflink_functions.CountWindowFunction` runs) becomes :class:`EvictingWindow`, a
``KeyedProcessFunction`` keeping everything in Flink's keyed state and timers (a ``window_all`` keyed by one
constant key); so do a non-keyed count window (``count_window_all``, an evictor or none) and a window with a
user-written trigger (an evictor or none: PyFlink's Python windows take Flink's built-in triggers only). It runs
millstream's own assigner, trigger (built-in or the user's, carried by cloudpickle) and evictor objects (pure
functions of their inputs and of a context), so the rows are those of millstream's
:class:`~millstream.stream.operators.window.WindowOperator`:

- per element: windows are assigned (event time from the record's timestamp, processing time from Flink's
  clock); merging assigners (sessions) merge the new window into the key's windows, their element lists
  concatenated and their trigger state merged; a window whose cleanup time (``max_timestamp + allowed
  lateness``) is at or before the watermark is skipped; the element (with its timestamp, a
  :class:`~millstream.stream.windows.TimestampedValue`, when the evictor looks at timestamps) is appended to
  the window's list and the trigger decides whether to fire and/or purge; the cleanup timer is registered;
  an element no window took and with ``ts + lateness <= watermark`` goes to the late side output (or is
  dropped);
- firing: ``evict_before`` over the list, the reduce / aggregate / window function over what remains,
  ``evict_after`` (each evictor's ``do_evict_after`` decides which of the two evicts); what the evictor kept
  is the window's list again; a purging result clears it;
- a timer asks the trigger (``on_event_time`` / ``on_processing_time``); at the cleanup time the window's
  list, merging entry and timers are cleared, and the trigger's ``clear`` (which clears its state: a user
  trigger's partitioned state lives until its ``clear`` clears it, as in Flink) and the window function's
  are called.

State (all Flink keyed state, so checkpointed by Flink's backend): ``contents`` (window -> element list),
``triggers`` ((name, window) -> a built-in trigger's state), ``trigger partitioned`` ((state name, window)
-> a user trigger's ``get_partitioned_state``, :mod:`~millstream.flink.trigger_state`), ``merging`` (a session
key's window -> state window, insertion-ordered as millstream's), and ``event timers`` / ``processing timers``
(time -> windows with a timer then: Flink's timers are per key, millstream's and Java Flink's per key and
window). Results are
``(window.max_timestamp(), value)`` for the Java ``Restamp`` operator when ``restamp`` is set.

Not available inside such a window on Flink: ``context.window_state()`` in the window function (per-window
user state needs state namespaces, which PyFlink's Python API does not expose) -- it raises, naming the
alternative; ``global_state()`` is the key's keyed state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyflink.common import Types
from pyflink.datastream.functions import KeyedProcessFunction
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from ..stream.operators.window import cleanup_time
from ..stream.state import merge_namespaces
from ..stream.time import MAX_WATERMARK, MIN_WATERMARK
from ..stream.windows import Evictor, GlobalWindow, TimestampedValue, add_to_merging_set
from .pyflink_functions import StateStore, _close, _open, _Sides, apply_window_fn
from .trigger_state import PartitionedTriggerState

PICKLED = Types.PICKLED_BYTE_ARRAY
EVENT, PROCESSING = 0, 1


def constant_key(value: Any) -> int:
    """The one key of a non-keyed window (``window_all``) run as a keyed process function."""
    return 0


def window_key(window: Any) -> Any:
    """The state key of a window: ``(start, end)`` of a time window, ``"global"`` for the global window."""
    return "global" if isinstance(window, GlobalWindow) else (int(window.start), int(window.end))


class _Timers:
    """A key's timers per window on one of Flink's timer domains: Flink registers one timer per key and time;
    ``state`` maps that time to the windows (in registration order, no duplicates) that have a timer then."""

    def __init__(self, state: Any, domain: int) -> None:
        self.state, self.domain = state, domain
        self.service: Any = None  # the Flink context's timer service of the current call

    def register(self, t: int, window: Any) -> None:
        windows = self.state.get(t) or []
        if window not in windows:
            self.state.put(t, [*windows, window])
        if self.domain == EVENT:
            self.service.register_event_time_timer(t)
        else:
            self.service.register_processing_time_timer(t)

    def delete(self, t: int, window: Any) -> None:
        windows = self.state.get(t)
        if not windows or window not in windows:
            return
        rest = [w for w in windows if w != window]
        if rest:
            self.state.put(t, rest)
            return
        self.state.remove(t)
        if self.domain == EVENT:
            self.service.delete_event_time_timer(t)
        else:
            self.service.delete_processing_time_timer(t)

    def pop(self, t: int) -> Any:
        """The first window with a timer at ``t`` (removed), or ``None``."""
        windows = self.state.get(t)
        if not windows:
            return None
        first, rest = windows[0], windows[1:]
        if rest:
            self.state.put(t, rest)
        else:
            self.state.remove(t)
        return first


class _TriggerContext:
    """What a trigger gets (millstream's ``TriggerContext``): watermark, processing time, timers of the current
    window, a user trigger's ``get_partitioned_state(descriptor)`` (and ``merge_partitioned_state`` in ``on_merge``)
    and the built-in triggers' per-window state
    (``trigger_state`` / ``set_trigger_state`` / ``merge_trigger_state``)."""

    def __init__(self, op: EvictingWindow) -> None:
        self.op = op
        self.window: Any = None
        self.merged: list[Any] = []

    def get_current_watermark(self) -> int:
        return self.op.wm

    def get_current_processing_time(self) -> int:
        return self.op.now()

    def register_event_time_timer(self, t: int) -> None:
        self.op.event_timers.register(int(t), self.window)

    def register_processing_time_timer(self, t: int) -> None:
        self.op.processing_timers.register(int(t), self.window)

    def delete_event_time_timer(self, t: int) -> None:
        self.op.event_timers.delete(int(t), self.window)

    def delete_processing_time_timer(self, t: int) -> None:
        self.op.processing_timers.delete(int(t), self.window)

    def trigger_state(self, name: str, default: Any = None) -> Any:
        value = self.op.triggers.get((name, window_key(self.window)))
        return default if value is None else value

    def set_trigger_state(self, name: str, value: Any) -> None:
        k = (name, window_key(self.window))
        if value is None:
            self.op.triggers.remove(k)
        else:
            self.op.triggers.put(k, value)

    def merge_trigger_state(self, name: str, fn: Any) -> None:
        states = self.op.triggers
        acc = states.get((name, window_key(self.window)))
        for m in self.merged:
            k = (name, window_key(m))
            v = states.get(k)
            if v is not None:
                states.remove(k)
                acc = v if acc is None else fn(acc, v)
        if acc is not None:
            states.put((name, window_key(self.window)), acc)

    def get_partitioned_state(self, descriptor: Any) -> Any:
        """A user trigger's state of the current key and window (millstream's state objects over Flink's
        keyed state, :mod:`~millstream.flink.trigger_state`)."""
        backend = self.op.partitioned
        backend.current_key = window_key(self.window)
        return backend.get_state(descriptor)

    def merge_partitioned_state(self, descriptor: Any) -> None:
        """In ``on_merge``: the merged windows' state of ``descriptor`` merged into the new window's."""
        merge_namespaces(self.op.partitioned, descriptor, window_key(self.window), [window_key(m) for m in self.merged])


class _WindowContext:
    """The window function's (and the evictor's) ``context``: ``window``, ``current_watermark``,
    ``current_processing_time``, ``global_state`` (the key's keyed state), ``output``."""

    def __init__(self, op: EvictingWindow) -> None:
        self.op = op
        self._window: Any = None

    def window(self) -> Any:
        return self._window

    def current_watermark(self) -> int:
        return self.op.wm

    def current_processing_time(self) -> int:
        return self.op.now()

    def window_state(self) -> Any:
        raise NotImplementedError(
            "context.window_state() in a window with an evictor is not available on Flink (PyFlink's Python API "
            "has no state per window): keep the state in context.global_state() keyed by window, or run on "
            "millstream's engine"
        )

    def global_state(self) -> StateStore:
        return StateStore(self.op.runtime_context)

    def output(self, output_tag: Any, value: Any) -> None:
        self.op.sides.output(output_tag, value)


class EvictingWindow(KeyedProcessFunction):
    """A keyed window with an evictor (see the module docstring): ``assigner``, ``trigger`` (``None``: the
    assigner's default) and ``evictor`` (``None``: none, every element is kept) are millstream's objects,
    ``lateness`` the allowed lateness in ms, ``late_tag`` the late side output's tag (or ``None``), ``spec`` the
    window's function spec (list contents, then ``list_then`` reduce/aggregate and/or the window function);
    ``restamp``: main outputs as ``(window.max_timestamp(), value)`` for the Java ``Restamp`` operator."""

    def __init__(
        self,
        assigner: Any,
        trigger: Any,
        evictor: Any,
        lateness: int,
        late_tag: Any,
        spec: Any,
        restamp: bool = False,
    ) -> None:
        self.args = (assigner, trigger, evictor, lateness, late_tag, spec, restamp)
        self.assigner, self.lateness, self.late_tag = assigner, int(lateness), late_tag
        self.evictor = evictor if evictor is not None else Evictor()
        self.trigger = trigger if trigger is not None else assigner.get_default_trigger()
        self.spec, self.restamp = spec, restamp
        self.stamped = bool(self.evictor.timestamped)
        self.event_time = bool(assigner.is_event_time)
        self.merging = bool(assigner.is_merging)
        self.sides = _Sides()
        self.tctx = _TriggerContext(self)
        self.wctx = _WindowContext(self)
        self.partitioned = PartitionedTriggerState(self.now)
        self.ctx: Any = None
        self.wm = MIN_WATERMARK
        self.out: list[Any] = []

    # -- lifecycle ----------------------------------------------------------------------------------------
    def open(self, runtime_context: Any) -> None:
        self.runtime_context = runtime_context
        self.contents = runtime_context.get_map_state(
            MapStateDescriptor("evicting-window-contents", PICKLED(), PICKLED())
        )
        self.triggers = runtime_context.get_map_state(
            MapStateDescriptor("evicting-window-triggers", PICKLED(), PICKLED())
        )
        self.merging_state = runtime_context.get_state(ValueStateDescriptor("evicting-window-merging", PICKLED()))
        self.event_timers = _Timers(
            runtime_context.get_map_state(MapStateDescriptor("evicting-window-event-timers", Types.LONG(), PICKLED())),
            EVENT,
        )
        self.processing_timers = _Timers(
            runtime_context.get_map_state(
                MapStateDescriptor("evicting-window-processing-timers", Types.LONG(), PICKLED())
            ),
            PROCESSING,
        )
        self.partitioned.flink = runtime_context.get_map_state(
            MapStateDescriptor("evicting-window-trigger-partitioned", PICKLED(), PICKLED())
        )
        for fn in (self.spec.user, self.spec.window_fn):
            if fn is not None:
                _open(fn, runtime_context)

    def close(self) -> None:
        for fn in (self.spec.user, self.spec.window_fn):
            if fn is not None:
                _close(fn)

    def __getstate__(self) -> dict[str, Any]:
        return {"args": self.args}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(*state["args"])  # type: ignore[misc]

    # -- helpers --------------------------------------------------------------------------------------------
    def _bind(self, ctx: Any) -> None:
        self.ctx = ctx
        service = ctx.timer_service()
        self.event_timers.service = self.processing_timers.service = service
        wm = service.current_watermark()
        self.wm = MIN_WATERMARK if wm is None else int(wm)
        self.partitioned.begin()

    def now(self) -> int:
        return int(self.ctx.timer_service().current_processing_time())

    def cleanup_time(self, window: Any) -> int:
        return int(cleanup_time(window, self.event_time, self.lateness))

    def is_window_late(self, window: Any) -> bool:
        return self.event_time and self.cleanup_time(window) <= self.wm

    def _cleanup_timers(self) -> _Timers:
        return self.event_timers if self.event_time else self.processing_timers

    def _register_cleanup(self, window: Any) -> None:
        t = self.cleanup_time(window)
        if t != MAX_WATERMARK:
            self._cleanup_timers().register(t, window)

    def _delete_cleanup(self, window: Any) -> None:
        t = self.cleanup_time(window)
        if t != MAX_WATERMARK:
            self._cleanup_timers().delete(t, window)

    def _mapping(self) -> dict[Any, Any]:
        return self.merging_state.value() or {}

    def _state_window(self, window: Any) -> Any:
        return self._mapping().get(window, window) if self.merging else window

    # -- merging windows (sessions) ----------------------------------------------------------------------------
    def _add_merging_window(self, new: Any) -> Any:
        """Merges ``new`` into the key's windows; returns the resulting window, or ``None`` when it is late."""
        mapping = self._mapping()
        merge = add_to_merging_set(mapping, new, self.is_window_late)
        if merge is None:
            return None
        if merge.changed:
            self.merging_state.update(mapping)
        if not merge.merged:
            return merge.window
        cover, overlapping = merge.window, merge.merged
        tctx = self.tctx
        tctx.window, tctx.merged = cover, overlapping
        self.trigger.on_merge(cover, tctx)
        for m in overlapping:
            tctx.window = m
            self.trigger.clear(m, tctx)
            self._delete_cleanup(m)
        tctx.merged = []
        self._merge_contents(merge.state_window, merge.merged_states)
        return cover

    def _merge_contents(self, target: Any, sources: list[Any]) -> None:
        acc = self.contents.get(window_key(target))
        for s in sources:
            k = window_key(s)
            v = self.contents.get(k)
            if v is None:
                continue
            self.contents.remove(k)
            acc = v if acc is None else acc + v
        if acc is not None:
            self.contents.put(window_key(target), acc)

    # -- firing -----------------------------------------------------------------------------------------------
    def _emit(self, key: Any, window: Any, state_window: Any, contents: list[Any]) -> None:
        """``evict_before``, the window function over what is left, ``evict_after`` (Flink's
        ``EvictingWindowOperator.emitWindowContents``); what the evictor kept is the window's list again."""
        spec, ctx = self.spec, self.wctx
        ctx._window = window
        stamped = self.evictor.evict_before(list(contents), len(contents), window, ctx)
        elements = [e.value for e in stamped] if self.stamped else stamped
        values = spec.fold(elements)  # (nothing when the evictor removed every element of a reduce)
        kept = self.evictor.evict_after(list(stamped), len(stamped), window, ctx)
        self.contents.put(window_key(state_window), list(kept))
        if spec.list_then is None:
            res = apply_window_fn(spec, spec.user, key, ctx, window, values)
        elif spec.window_fn is None:
            res = values
        else:
            res = apply_window_fn(spec, spec.window_fn, key, ctx, window, values)
        stamp = window.max_timestamp() if self.restamp else None
        self.out.extend(self.sides.results(res, stamp))

    # -- elements and timers ----------------------------------------------------------------------------------
    def process_element(self, value: Any, ctx: Any) -> Iterator[Any]:
        self._bind(ctx)
        self.out = []
        key = ctx.get_current_key()
        ts = ctx.timestamp()
        if self.event_time and ts is None:
            raise ValueError(
                "window with an evictor: an element has no timestamp, so it cannot be put into an event-time "
                "window; assign event time first (assign_timestamps_and_watermarks with a timestamp assigner)"
            )
        trigger, tctx = self.trigger, self.tctx
        skipped = True
        for window in self.assigner.assign_windows(value, ts, self.now()):
            if self.merging:
                actual = self._add_merging_window(window)
                if actual is None:
                    continue
                state_window = self._mapping()[actual]
            else:
                if self.is_window_late(window):
                    continue
                actual = state_window = window
            skipped = False
            k = window_key(state_window)
            element = TimestampedValue(value, ts) if self.stamped else value
            self.contents.put(k, [*(self.contents.get(k) or []), element])
            tctx.window = actual
            fire, purge = trigger.on_element(value, ts, actual, tctx)
            if fire:
                contents = self.contents.get(k)
                if contents is not None:
                    self._emit(key, actual, state_window, contents)
            if purge:
                self.contents.remove(k)
            self._register_cleanup(actual)
        if skipped and self.event_time and ts + self.lateness <= self.wm and self.late_tag is not None:
            self.out.append((self.sides.tag(self.late_tag), value))
        self.partitioned.flush()
        out, self.out = self.out, []
        yield from out

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        self._bind(ctx)
        self.out = []
        event = "EVENT" in str(ctx.time_domain())
        timers = self.event_timers if event else self.processing_timers
        key = ctx.get_current_key()
        t = int(timestamp)
        while (window := timers.pop(t)) is not None:
            self._on_timer(key, t, window, event)
        self.partitioned.flush()
        out, self.out = self.out, []
        yield from out

    def _on_timer(self, key: Any, t: int, window: Any, event: bool) -> None:
        if self.merging:
            state_window = self._mapping().get(window)
            if state_window is None:
                return
        else:
            state_window = window
        tctx = self.tctx
        tctx.window = window
        k = window_key(state_window)
        contents = self.contents.get(k)
        if event:
            fire, purge = self.trigger.on_event_time(t, window, tctx)
        else:
            fire, purge = self.trigger.on_processing_time(t, window, tctx)
        if fire and contents is not None:
            self._emit(key, window, state_window, contents)
        if purge:
            self.contents.remove(k)
        if self.event_time == event and t == self.cleanup_time(window):
            self._clear(key, window, k)

    def _clear(self, key: Any, window: Any, k: Any) -> None:
        """The window's end of life (its cleanup time): contents, trigger state, the window function's
        ``clear``, the merging entry."""
        self.contents.remove(k)
        self.tctx.window = window
        self.trigger.clear(window, self.tctx)
        wf = self.spec.window_fn if self.spec.list_then is not None else self.spec.user
        clear = getattr(wf, "clear", None)
        if clear is not None and not isinstance(wf, type):
            self.wctx._window = window
            clear(self.wctx)
        if self.merging:
            mapping = self._mapping()
            if mapping.pop(window, None) is not None:
                if mapping:
                    self.merging_state.update(mapping)
                else:
                    self.merging_state.clear()


__all__ = ["EvictingWindow", "constant_key", "window_key"]
