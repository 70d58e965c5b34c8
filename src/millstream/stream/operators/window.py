"""The window operator: Flink's ``WindowOperator`` (and ``EvictingWindowOperator``) logic, step by step.

Per element (after advancing the watermark to the one before it, which fires due timers):
  1. assign windows (event time: from the timestamp; processing time: from ``ctx.now()``);
  2. merging assigners (sessions) merge the new window into the key's windows first; a merge that would
     produce an already-expired window drops the element as late (Flink raises here);
  3. for each window: skip it if expired (``max_ts + L <= wm``); else add the element to its state, ask the
     trigger (``on_element``), fire and/or purge as it says, and register the cleanup timer at ``max_ts + L``;
  4. an element skipped by all its windows and with ``ts + L <= wm`` is late: side output or dropped
     (counted in ``num_late_records_dropped``).
On a timer: ask the trigger (``on_event_time`` / ``on_processing_time``), fire/purge, and at the cleanup time
clear the window's state, trigger state and merging bookkeeping. Results carry timestamp ``max_ts``.

State: window contents (``(key, state window) -> list / reduced value / accumulator``), the built-in
triggers' state, and the user's per-window, trigger and global state are tables of ONE keyed state backend,
``backend`` (user state under the prefixes ``window/``, ``trigger/``, ``global/``). With the RocksDB state
backend the runtime swaps ``backend`` and calls :meth:`WindowOperator.rebind_state`, so all of them live in
RocksDB and are checkpointed incrementally as its files. Timers and the merging windows' sets stay on the heap
(as Flink's RocksDB backend can keep timers on the heap) and are pickled into the checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..errors import OperatorError
from ..functions import OutputTag
from ..state import KeyedStateBackend, StateNamespace, merge_namespaces
from ..time import MAX_WATERMARK
from ..windows import Evictor, TimestampedValue, Trigger, WindowAssigner, add_to_merging_set
from .base import Operator, compute_keys, split_outputs
from .basic import annotate
from .keyed import StreamRuntimeContext
from .rescale import Owns, merge_tables, merge_timers
from .timers import TimerQueue

_NONE: Any = object()

# table names in the operator's backend (user state names come after a namespace prefix, so never clash)
CONTENTS = "window-contents"
TRIGGER_STATES = "window-trigger-states"
TRIGGER_STATE = "trigger/"
WINDOW_STATE = "window/"
GLOBAL_STATE = "global/"


def cleanup_time(window: Any, event_time: bool, lateness: int) -> int:
    """When a window's state is cleared (Flink's ``WindowOperator.cleanupTime``): its max timestamp plus the
    allowed lateness in event time (never, ``MAX_WATERMARK``, when that would overflow), its max timestamp in
    processing time."""
    mt = window.max_timestamp()
    if not event_time:
        return mt
    t = mt + lateness
    return t if t >= mt and t < MAX_WATERMARK else MAX_WATERMARK


class WindowFunctionSpec:
    """How window contents become results.

    ``kind``: ``reduce`` (contents = reduced value), ``aggregate`` (contents = accumulator), ``list``
    (contents = list of elements, for ``process``/``apply`` and with evictors). ``user`` is the reduce or
    AggregateFunction; ``window_fn`` the ProcessWindowFunction / WindowFunction (or ``None``); ``non_keyed``
    selects the ``*AllWindowFunction`` signatures.
    """

    def __init__(
        self,
        kind: str,
        user: Any = None,
        window_fn: Any = None,
        *,
        non_keyed: bool = False,
        list_then: str | None = None,
        style: str = "process",
    ) -> None:
        # how a plain callable is called: "process" (key, ctx, elements) or "apply" (key, window, elements)
        self.style = style
        self.kind = kind
        self.user = user
        self.window_fn = window_fn
        self.non_keyed = non_keyed
        self.list_then = list_then  # with evictors: 'reduce'/'aggregate' applied over the kept list

    def fold(self, elements: list[Any]) -> list[Any]:
        """List contents (an evictor forced them) reduced or aggregated as ``list_then`` says: one value, or
        none when a reduce has no element left (Flink reduces to null); the elements themselves when a window
        function takes them all (``list_then`` ``None``)."""
        if self.list_then == "reduce":
            it = iter(elements)
            for acc in it:
                for v in it:
                    acc = self.user(acc, v)
                return [acc]
            return []
        if self.list_then == "aggregate":
            a = self.user.create_accumulator()
            for v in elements:
                a = self.user.add(v, a)
            return [self.user.get_result(a)]
        return elements


class WindowContext:
    """``context`` of a ProcessWindowFunction: ``window()``, ``current_watermark()``,
    ``current_processing_time()``, ``window_state()``, ``global_state()``, ``output(tag, value)``."""

    __slots__ = ("_key", "_op", "_window")

    def __init__(self, op: WindowOperator) -> None:
        self._op = op
        self._window: Any = None
        self._key: Any = None

    def window(self) -> Any:
        return self._window

    def current_watermark(self) -> int:
        return self._op.wm

    def current_processing_time(self) -> int:
        return self._op.ctx.now()

    def window_state(self) -> Any:
        b = self._op.window_state_backend
        b.current_key = (self._key, self._window)
        return _StateAccess(b)

    def global_state(self) -> Any:
        b = self._op.global_state_backend
        b.current_key = self._key
        return _StateAccess(b)

    def output(self, output_tag: OutputTag, value: Any) -> None:
        sv, st, sw = self._op.side(output_tag)
        sv.append(value)
        st.append(self._window.max_timestamp())
        sw.append(self._op.emit_wm)


class _StateAccess:
    def __init__(self, backend: KeyedStateBackend) -> None:
        self._b = backend

    def _get(self, descriptor: Any) -> Any:
        return self._b.get_state(descriptor)

    get_state = _get
    get_list_state = _get
    get_map_state = _get
    get_reducing_state = _get
    get_aggregating_state = _get


class TriggerContext:
    """``ctx`` given to triggers: timers, watermark, processing time and per-window trigger state."""

    __slots__ = ("key", "merged", "op", "window")

    def __init__(self, op: WindowOperator) -> None:
        self.op = op
        self.key: Any = None
        self.window: Any = None
        self.merged: list[Any] = []

    def get_current_watermark(self) -> int:
        return self.op.wm

    def get_current_processing_time(self) -> int:
        return self.op.ctx.now()

    def register_event_time_timer(self, t: int) -> None:
        self.op.event_timers.register(t, self.key, self.window)

    def register_processing_time_timer(self, t: int) -> None:
        self.op.proc_timers.register(t, self.key, self.window)

    def delete_event_time_timer(self, t: int) -> None:
        self.op.event_timers.delete(t, self.key, self.window)

    def delete_processing_time_timer(self, t: int) -> None:
        self.op.proc_timers.delete(t, self.key, self.window)

    def trigger_state(self, name: str, default: Any = None) -> Any:
        return self.op.trigger_states.get((name, self.key, self.window), default)

    def set_trigger_state(self, name: str, value: Any) -> None:
        k = (name, self.key, self.window)
        if value is None:
            self.op.trigger_states.pop(k, None)
        else:
            self.op.trigger_states[k] = value

    def merge_trigger_state(self, name: str, fn: Callable[[Any, Any], Any]) -> None:
        states = self.op.trigger_states
        acc = states.get((name, self.key, self.window), _NONE)
        for m in self.merged:
            v = states.pop((name, self.key, m), _NONE)
            if v is not _NONE:
                acc = v if acc is _NONE else fn(acc, v)
        if acc is not _NONE:
            states[(name, self.key, self.window)] = acc

    def get_partitioned_state(self, descriptor: Any) -> Any:
        b = self.op.trigger_backend
        b.current_key = (self.key, self.window)
        return b.get_state(descriptor)

    def merge_partitioned_state(self, descriptor: Any) -> None:
        """In ``on_merge``: the merged windows' state of ``descriptor`` (list, reducing or aggregating) merged
        into the new window's (Flink's ``OnMergeContext.mergePartitionedState``)."""
        b = self.op.trigger_backend
        merge_namespaces(b, descriptor, (self.key, self.window), [(self.key, m) for m in self.merged])


class WindowOperator(Operator):
    """Keyed (or, with ``key_fn`` ``None``, non-keyed) windows with triggers, evictors, allowed lateness
    and late-data side output. See the module docstring for the per-element protocol."""

    def __init__(
        self,
        name: str,
        uid: str | None,
        key_fn: Callable[[Any], Any] | None,
        assigner: WindowAssigner,
        trigger: Trigger | None,
        evictor: Evictor | None,
        allowed_lateness: int,
        late_tag: OutputTag | None,
        fn: WindowFunctionSpec,
        n_inputs: int = 1,
        key_fns: list[Callable[[Any], Any]] | None = None,
        tag_inputs: bool = False,
    ) -> None:
        self.n_inputs = n_inputs
        super().__init__(name, uid)
        self.key_fns = key_fns or [key_fn or (lambda v: None)] * n_inputs
        self.keyed = key_fn is not None or key_fns is not None
        self.tag_inputs = tag_inputs  # window join: elements are stored as (input_index, value)
        self.assigner = assigner
        self.trigger = trigger or assigner.get_default_trigger()
        self.evictor = evictor
        # the evictor looks at timestamps (TimeEvictor): list contents hold TimestampedValue(element, ts)
        self.stamped = evictor is not None and evictor.timestamped
        self.lateness = allowed_lateness
        self.late_tag = late_tag
        self.fn = fn
        self.event_time = assigner.is_event_time
        self.merging = assigner.is_merging
        if self.merging and not self.trigger.can_merge():
            from ..errors import JobConfigError

            raise JobConfigError(f"trigger {type(self.trigger).__name__} cannot be used with merging windows")
        self.merging_sets: dict[Any, dict[Any, Any]] = {}
        self.event_timers = TimerQueue()
        self.proc_timers = TimerQueue()
        self.tctx = TriggerContext(self)
        self.wctx = WindowContext(self)
        self.backend = KeyedStateBackend(lambda: self.ctx.now())
        self.trigger_backend = StateNamespace(self.backend, TRIGGER_STATE)
        self.window_state_backend = StateNamespace(self.backend, WINDOW_STATE)
        self.global_state_backend = StateNamespace(self.backend, GLOBAL_STATE)
        self.contents: Any = None  # (key, state window) -> contents: a table of ``backend``
        self.trigger_states: Any = None  # (name, key, window) -> built-in triggers' state: a table too
        self.rebind_state()
        self.known_keys: set[Any] = set()
        self.num_late_records_dropped = 0
        self.emit_wm = self.wm
        self._ov: list[Any] = []
        self._ot: list[Any] = []
        self._ow: list[int] = []
        self._user_fns = [f for f in (fn.user, fn.window_fn) if f is not None]

    # -- state --------------------------------------------------------------------------------------
    def rebind_state(self) -> None:
        """Take the tables from ``backend`` again: called after the runtime swapped the backend (RocksDB)
        and after a restore."""
        b = self.backend
        self.contents = b.table(CONTENTS)
        self.trigger_states = b.table(TRIGGER_STATES)
        for ns in (self.trigger_backend, self.window_state_backend, self.global_state_backend):
            ns.rebind(b)

    # -- lifecycle ------------------------------------------------------------------------------------
    def open(self) -> None:
        rc = StreamRuntimeContext(self, self.global_state_backend if self.keyed else None)
        for f in self._user_fns:
            hook = getattr(f, "open", None)
            if hook is not None and not isinstance(f, type):
                hook(rc)

    def close(self) -> None:
        for f in self._user_fns:
            hook = getattr(f, "close", None)
            if hook is not None and not isinstance(f, type):
                hook()

    # -- helpers --------------------------------------------------------------------------------------
    def cleanup_time(self, window: Any) -> int:
        return cleanup_time(window, self.event_time, self.lateness)

    def is_window_late(self, window: Any) -> bool:
        return self.event_time and self.cleanup_time(window) <= self.wm

    def _register_cleanup(self, key: Any, window: Any) -> None:
        t = self.cleanup_time(window)
        if t == MAX_WATERMARK:
            return
        (self.event_timers if self.event_time else self.proc_timers).register(t, key, window)

    def _delete_cleanup(self, key: Any, window: Any) -> None:
        t = self.cleanup_time(window)
        if t == MAX_WATERMARK:
            return
        (self.event_timers if self.event_time else self.proc_timers).delete(t, key, window)

    def _add(self, key: Any, state_window: Any, value: Any) -> None:
        fn, k = self.fn, (key, state_window)
        kind = fn.kind
        if kind == "list":
            lst = self.contents.get(k)
            if lst is None:
                self.contents[k] = [value]
            else:
                lst.append(value)
        elif kind == "reduce":
            cur = self.contents.get(k, _NONE)
            self.contents[k] = value if cur is _NONE else fn.user(cur, value)
        else:
            cur = self.contents.get(k, _NONE)
            if cur is _NONE:
                cur = fn.user.create_accumulator()
            self.contents[k] = fn.user.add(value, cur)

    def _merge_state(self, key: Any, target: Any, sources: list[Any]) -> None:
        fn = self.fn
        acc = self.contents.get((key, target), _NONE)
        for s in sources:
            v = self.contents.pop((key, s), _NONE)
            if v is _NONE:
                continue
            if acc is _NONE:
                acc = v
            elif fn.kind == "list":
                acc = acc + v
            elif fn.kind == "reduce":
                acc = fn.user(acc, v)
            else:
                acc = fn.user.merge(acc, v)
        if acc is not _NONE:
            self.contents[(key, target)] = acc

    def _results(self, key: Any, window: Any, contents: Any) -> Iterable[Any] | None:
        fn = self.fn
        ctx = self.wctx
        ctx._window, ctx._key = window, key
        if fn.kind == "list":
            elements = contents
            if self.evictor is not None:
                stamped = self.evictor.evict_before(list(contents), len(contents), window, ctx)
                elements = [e.value for e in stamped] if self.stamped else stamped
            values = fn.fold(elements)
            if self.evictor is not None:
                kept = self.evictor.evict_after(list(stamped), len(stamped), window, ctx)
                self.contents[(key, self._state_window(key, window))] = kept
            if fn.list_then is None:
                return self._apply_window_fn(fn.user, key, window, values)
        elif fn.kind == "reduce":
            values = [contents]
        else:
            values = [fn.user.get_result(contents)]
        if fn.window_fn is None:
            return values
        return self._apply_window_fn(fn.window_fn, key, window, values)

    def _apply_window_fn(self, wf: Any, key: Any, window: Any, values: list[Any]) -> Iterable[Any] | None:
        non_keyed = self.fn.non_keyed
        proc = getattr(wf, "process", None)
        if proc is not None:
            return proc(self.wctx, values) if non_keyed else proc(key, self.wctx, values)
        app = getattr(wf, "apply", None)
        if app is not None:
            return app(window, values) if non_keyed else app(key, window, values)
        first = window if self.fn.style == "apply" else self.wctx
        return wf(first, values) if non_keyed else wf(key, first, values)

    def _state_window(self, key: Any, window: Any) -> Any:
        if not self.merging:
            return window
        return self.merging_sets.get(key, {}).get(window, window)

    def _emit(self, key: Any, window: Any, contents: Any) -> None:
        ts = window.max_timestamp()
        try:
            res = self._results(key, window, contents)
        except Exception as exc:
            annotate(exc, self, None, f"window {window!r} of key {key!r}")
            raise
        split_outputs(res, self._ov, self, ts, self._ot, self._ow, self.emit_wm)

    # -- merging --------------------------------------------------------------------------------------
    def _add_merging_window(self, key: Any, new: Any) -> Any:
        """Merge ``new`` into the key's windows; return the resulting window or ``None`` if it is late."""
        mapping = self.merging_sets.get(key)
        if mapping is None:
            mapping = self.merging_sets[key] = {}
        merge = add_to_merging_set(mapping, new, self.is_window_late)
        if merge is None or not merge.merged:
            return None if merge is None else merge.window
        cover, overlapping = merge.window, merge.merged
        tctx = self.tctx
        tctx.key, tctx.window, tctx.merged = key, cover, overlapping
        self.trigger.on_merge(cover, tctx)
        for m in overlapping:
            tctx.window = m
            self.trigger.clear(m, tctx)
            self._delete_cleanup(key, m)
        tctx.merged = []
        self._merge_state(key, merge.state_window, merge.merged_states)
        return cover

    # -- element and timer processing -----------------------------------------------------------------
    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        if self.n_inputs > 1:
            wmb, tail = self.combine_watermarks(wmb, tail, input_index)
        keys = compute_keys(self, self.key_fns[input_index], vals, self.known_keys) if self.keyed else None
        assign = self.assigner.assign_windows
        now = self.ctx.now
        trigger, tctx = self.trigger, self.tctx
        contents = self.contents
        event_time, lateness = self.event_time, self.lateness
        i = 0
        try:
            for i, v in enumerate(vals):
                w = wmb[i]
                if w > self.wm:
                    self._advance(w)
                key = keys[i] if keys is not None else None
                ts = tss[i]
                if event_time and ts is None:
                    raise self.fail(
                        "the element has no timestamp, so it cannot be put into an event-time window",
                        self.seen + i,
                        v,
                        hint="use from_source/assign_timestamps_and_watermarks with a timestamp assigner",
                    )
                windows = assign(v, ts, now())
                stored = (input_index, v) if self.tag_inputs else v
                skipped = True
                for window in windows:
                    if self.merging:
                        actual = self._add_merging_window(key, window)
                        if actual is None:
                            continue
                        state_window = self.merging_sets[key][actual]
                    else:
                        if self.is_window_late(window):
                            continue
                        actual = state_window = window
                    skipped = False
                    self._add(key, state_window, TimestampedValue(stored, ts) if self.stamped else stored)
                    tctx.key, tctx.window = key, actual
                    fire, purge = trigger.on_element(stored, ts, actual, tctx)
                    if fire:
                        c = contents.get((key, state_window), _NONE)
                        if c is not _NONE:
                            self.emit_wm = self.wm
                            self._emit(key, actual, c)
                    if purge:
                        contents.pop((key, state_window), None)
                    self._register_cleanup(key, actual)
                if skipped and event_time and ts + lateness <= self.wm:
                    if self.late_tag is not None:
                        sv, st, sw = self.side(self.late_tag)
                        sv.append(v)
                        st.append(ts)
                        sw.append(self.wm)
                    else:
                        self.num_late_records_dropped += 1
        except OperatorError:
            raise
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
        self.flush(ov, ot, ow, tail)

    def _advance(self, wm: int) -> None:
        self.emit_wm = self.wm
        self.wm = wm
        pop = self.event_timers.pop_due
        while (t := pop(wm)) is not None:
            self._on_timer(t[0], t[1], t[2], event=True)
        self.emit_wm = wm

    def _on_timer(self, ts: int, key: Any, window: Any, *, event: bool) -> None:
        if self.merging:
            state_window = self.merging_sets.get(key, {}).get(window)
            if state_window is None:
                return
        else:
            state_window = window
        tctx = self.tctx
        tctx.key, tctx.window = key, window
        c = self.contents.get((key, state_window), _NONE)
        if event:
            fire, purge = self.trigger.on_event_time(ts, window, tctx)
        else:
            fire, purge = self.trigger.on_processing_time(ts, window, tctx)
        if fire and c is not _NONE:
            self._emit(key, window, c)
        if purge:
            self.contents.pop((key, state_window), None)
        if self.event_time == event and ts == self.cleanup_time(window):
            self.contents.pop((key, state_window), None)
            tctx.key, tctx.window = key, window
            self.trigger.clear(window, tctx)
            wf = self.fn.window_fn if self.fn.kind != "list" else self.fn.user
            clear = getattr(wf, "clear", None)
            if clear is not None and not isinstance(wf, type):
                self.wctx._window, self.wctx._key = window, key
                clear(self.wctx)
            self.window_state_backend.clear_key((key, window))
            if self.merging:
                mapping = self.merging_sets.get(key)
                if mapping is not None:
                    mapping.pop(window, None)
                    if not mapping:
                        del self.merging_sets[key]

    def on_processing_time(self, now: int) -> None:
        pop = self.proc_timers.pop_due
        fired = False
        self.emit_wm = self.wm
        while (t := pop(now)) is not None:
            fired = True
            self._on_timer(t[0], t[1], t[2], event=False)
        if fired:
            self._flush_out(self.wm)

    def next_processing_time(self) -> int | None:
        return self.proc_timers.peek()

    def _namespaces(self) -> tuple[StateNamespace, ...]:
        return (self.trigger_backend, self.window_state_backend, self.global_state_backend)

    def snapshot(self) -> Any:
        return {
            "state": self.backend.snapshot(),
            # user state names per namespace: restored ones are cleared with their window even if the
            # restarted job has not asked for them yet (a RocksDB backend cannot list them cheaply)
            "names": {ns.prefix: sorted(ns.tables) for ns in self._namespaces()},
            "merging": {k: dict(v) for k, v in self.merging_sets.items()},
            "event_timers": self.event_timers.snapshot(),
            "proc_timers": self.proc_timers.snapshot(),
            "wm": self.wm,
        }

    @staticmethod
    def merge_snapshots(states: list[Any], owns: Owns) -> Any:
        """Rescaling (:mod:`.rescale`): the owned keys' window contents, trigger and user state, merging
        sets and timers of several subtasks' snapshots (entries are keyed ``(key, window)``, global state by
        ``key``)."""

        def key_of(table: str, k: Any) -> Any:
            return k if table.startswith(GLOBAL_STATE) else k[0]

        names: dict[str, set[str]] = {}
        for s in states:
            for prefix, ns_names in s.get("names", {}).items():
                names.setdefault(prefix, set()).update(ns_names)
        return {
            "state": merge_tables((s["state"] for s in states), owns, key_of),
            "names": {prefix: sorted(ns) for prefix, ns in names.items()},
            "merging": {k: dict(v) for s in states for k, v in s["merging"].items() if owns(k)},
            "event_timers": merge_timers((s["event_timers"] for s in states), owns),
            "proc_timers": merge_timers((s["proc_timers"] for s in states), owns),
            "wm": min(s["wm"] for s in states),
        }

    def restore(self, state: Any) -> None:
        if "contents" in state:
            self._restore_unified_tables(state)
        else:
            self.backend.restore(state["state"])
        self.rebind_state()
        for ns in self._namespaces():
            for name in state.get("names", {}).get(ns.prefix, ()):
                ns.table(name)
        self.merging_sets = {k: dict(v) for k, v in state["merging"].items()}
        self.event_timers.restore(state["event_timers"])
        self.proc_timers.restore(state["proc_timers"])

    def _restore_unified_tables(self, state: Any) -> None:
        """A checkpoint of the earlier layout (contents and state backends pickled separately, in memory):
        its entries are written into ``backend``'s tables, whichever backend that is."""
        tables: dict[str, dict[Any, Any]] = {CONTENTS: state["contents"], TRIGGER_STATES: state["trigger_states"]}
        for prefix, part in (
            (TRIGGER_STATE, "trigger_state"),
            (WINDOW_STATE, "window_state"),
            (GLOBAL_STATE, "global_state"),
        ):
            for name, entries in state[part].items():
                tables[prefix + name] = entries
        for name, entries in tables.items():
            t = self.backend.table(name)
            for k, v in entries.items():
                t[k] = v


__all__ = ["TriggerContext", "WindowContext", "WindowFunctionSpec", "WindowOperator"]
