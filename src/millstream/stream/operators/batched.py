"""Batch fast path of the general window operator (issue 20): event-time tumbling, sliding and session windows
with ANY trigger, evictor, window function (``process`` / ``apply`` over the elements, ``reduce``,
``aggregate``), allowed lateness and late side output, with the results of :class:`WindowOperator` element by
element.

Contract (:func:`batched_applies`): a one-input window whose assigner is ``TumblingEventTimeWindows``,
``SlidingEventTimeWindows`` or ``EventTimeSessionWindows`` (fixed or dynamic gap). The per-element protocol is
the general operator's, step for step (watermark before the element, assignment, merging, state update,
trigger, fire/purge, cleanup timer, late data), and the state layout and checkpoints are the same (the two
restore each other's snapshots). What it cuts are per-element Python calls around that protocol:

* the window(s) of the previous element are reused while timestamps stay in the same tumbling window or
  sliding slot (one range check instead of ``assign_windows`` and new window objects), with their cleanup
  times computed once;
* the built-in ``EventTimeTrigger`` is not called: its ``on_element`` (fire if the window's end has passed
  the watermark, else an event-time timer at the window's end), ``on_merge`` and ``clear`` are inlined, as are
  the timer queue's ``register`` / ``delete`` and the window-contents update (list append, reduce,
  ``AggregateFunction.add``); user triggers are called exactly as before;
* a session element that falls into, or extends, its key's only session takes the general merging rules
  inline (no overlap scan, no merged-state copy); every other merge goes through the general code;
* a watermark rise with no timer due is two assignments (no timer-queue call);
* an event-time timer of the built-in ``EventTimeTrigger`` fires and cleans up its window without trigger
  calls, and the base classes' no-op ``ProcessWindowFunction.clear`` is not called.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from ..errors import OperatorError
from ..functions import OutputTag, ProcessAllWindowFunction, ProcessWindowFunction
from ..time import MAX_WATERMARK
from ..windows import (
    EventTimeSessionWindows,
    EventTimeTrigger,
    Evictor,
    SlidingEventTimeWindows,
    TimestampedValue,
    TimeWindow,
    Trigger,
    TumblingEventTimeWindows,
    WindowAssigner,
)
from .base import compute_keys
from .basic import annotate
from .window import WindowFunctionSpec, WindowOperator

_NONE: Any = object()
_new_tuple = tuple.__new__
_NO_OP_CLEARS = (ProcessWindowFunction.clear, ProcessAllWindowFunction.clear)


def batched_applies(assigner: Any, lateness: int, n_inputs: int = 1, tag_inputs: bool = False) -> bool:
    """Whether :class:`BatchedWindowOperator` runs this window (see the module docstring)."""
    return (
        type(assigner) in (TumblingEventTimeWindows, SlidingEventTimeWindows, EventTimeSessionWindows)
        and lateness >= 0
        and n_inputs == 1
        and not tag_inputs
    )


class BatchedWindowOperator(WindowOperator):
    """The general window operator with its per-element loop batched and ``EventTimeTrigger`` timers inlined
    (see the module docstring); other timers, firing, checkpoints and rescaling are :class:`WindowOperator`'s."""

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
    ) -> None:
        super().__init__(name, uid, key_fn, assigner, trigger, evictor, allowed_lateness, late_tag, fn)
        self._ett = type(self.trigger) is EventTimeTrigger
        kind = fn.kind
        self._kind = 0 if kind == "list" else 1 if kind == "reduce" else 2
        wf = fn.window_fn if kind != "list" else fn.user
        clear = getattr(wf, "clear", None)
        if isinstance(wf, type) or getattr(clear, "__func__", None) in _NO_OP_CLEARS:
            clear = None
        self._window_clear = clear  # the window function's clear(context), when it does something

    def _windows_for(self, ts: int) -> tuple[list[tuple[Any, int, int]], int, int]:
        """``(window, max timestamp, cleanup time)`` of the windows of an element at ``ts`` (in the
        assigner's order) and the range ``[lo, hi)`` of timestamps that have the same windows."""
        a = self.assigner
        if type(a) is TumblingEventTimeWindows:
            start = ts - (ts - a.offset) % a.size
            lo, hi = start, start + a.size
            windows = [TimeWindow(start, start + a.size)]
        else:
            assert type(a) is SlidingEventTimeWindows
            windows = a.assign_windows(None, ts, 0)
            last = ts - (ts - a.offset) % a.slide
            lo, hi = (last, last + a.slide) if a.size % a.slide == 0 else (ts, ts + 1)
        cleanup = self.cleanup_time
        return [(w, w.end - 1, cleanup(w)) for w in windows], lo, hi

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        keys = compute_keys(self, self.key_fns[0], vals, self.known_keys) if self.keyed else [None] * len(vals)
        if self.merging:
            self._merging_loop(vals, keys, tss, wmb)
        else:
            self._loop(vals, keys, tss, wmb)
        self.seen += len(vals)
        if tail > self.wm:
            self._advance(tail)
        self._flush_out(tail)

    def _on_timer(self, ts: int, key: Any, window: Any, *, event: bool) -> None:
        """The general ``_on_timer`` with the built-in ``EventTimeTrigger`` inlined for event-time timers: fire
        when ``ts`` is the window's max timestamp, then at the cleanup time clear the contents, the trigger's
        timer, the window function (``clear``, unless it is the base classes' no-op) and per-window state."""
        if not (event and self._ett):
            super()._on_timer(ts, key, window, event=event)
            return
        merging = self.merging
        if merging:
            state_window = self.merging_sets.get(key, {}).get(window)
            if state_window is None:
                return
        else:
            state_window = window
        k = (key, state_window)
        contents = self.contents
        c = contents.get(k, _NONE)
        mt = window.end - 1
        if ts == mt and c is not _NONE:
            self._emit(key, window, c)
        cl = mt + self.lateness
        if ts != (cl if cl < MAX_WATERMARK else MAX_WATERMARK):
            return
        contents.pop(k, None)
        self.event_timers._live.discard((mt, key, window))  # EventTimeTrigger.clear
        clear = self._window_clear
        if clear is not None:
            wctx = self.wctx
            wctx._window, wctx._key = window, key
            clear(wctx)
        ns = self.window_state_backend
        if ns.tables:
            ns.clear_key((key, window))
        if merging:
            mapping = self.merging_sets.get(key)
            if mapping is not None:
                mapping.pop(window, None)
                if not mapping:
                    del self.merging_sets[key]

    def _no_timestamp(self, i: int, v: Any) -> OperatorError:
        return self.fail(
            "the element has no timestamp, so it cannot be put into an event-time window",
            self.seen + i,
            v,
            hint="use from_source/assign_timestamps_and_watermarks with a timestamp assigner",
        )

    def _late(self, v: Any, ts: int, wm: int) -> None:
        if self.late_tag is not None:
            sv, st, sw = self.side(self.late_tag)
            sv.append(v)
            st.append(ts)
            sw.append(wm)
        else:
            self.num_late_records_dropped += 1

    def _loop(self, vals: list[Any], keys: list[Any], tss: list[Any], wmb: list[int]) -> None:
        """Tumbling and sliding windows."""
        timers = self.event_timers
        heap, live, seq = timers._heap, timers._live, timers._seq
        push, pop = heapq.heappush, heapq.heappop
        contents = self.contents
        ett, kind, stamped, lateness = self._ett, self._kind, self.stamped, self.lateness
        trigger, tctx = self.trigger, self.tctx
        on_element = trigger.on_element
        user = self.fn.user
        red: Any = user if kind == 1 else None
        create: Any = user.create_accumulator if kind == 2 else None
        add: Any = user.add if kind == 2 else None
        wm = self.wm
        lo, hi = 1, 0  # the timestamps [lo, hi) have the windows ``wins``; empty at first
        wins: list[tuple[Any, int, int]] = []
        i = 0
        try:
            for i, v in enumerate(vals):
                w = wmb[i]
                if w > wm:
                    while heap and heap[0][0] <= w:
                        top = heap[0]
                        if (top[0], top[2], top[3]) in live:
                            self._advance(w)  # fires the due timers
                            break
                        pop(heap)  # a deleted timer (as ``TimerQueue.pop_due`` drops it)
                    else:
                        self.wm = self.emit_wm = w
                    wm = w
                ts = tss[i]
                if ts is None:
                    raise self._no_timestamp(i, v)
                if not lo <= ts < hi:
                    wins, lo, hi = self._windows_for(ts)
                key = keys[i]
                skipped = True
                for window, mt, cl in wins:
                    if cl <= wm:
                        continue
                    skipped = False
                    k = (key, window)
                    value = _new_tuple(TimestampedValue, (v, ts)) if stamped else v
                    if kind == 0:
                        lst = contents.get(k)
                        if lst is None:
                            contents[k] = [value]
                        else:
                            lst.append(value)
                    elif kind == 1:
                        cur = contents.get(k, _NONE)
                        contents[k] = value if cur is _NONE else red(cur, value)
                    else:
                        cur = contents.get(k, _NONE)
                        contents[k] = add(value, create() if cur is _NONE else cur)
                    if ett:
                        if mt <= wm:
                            fire, purge = True, False
                        else:
                            fire = purge = False
                            t = (mt, key, window)
                            if t not in live:
                                live.add(t)
                                push(heap, (mt, next(seq), key, window))
                    else:
                        tctx.key, tctx.window = key, window
                        fire, purge = on_element(v, ts, window, tctx)
                    if fire:
                        c = contents.get(k, _NONE)
                        if c is not _NONE:
                            self.emit_wm = wm
                            self._emit(key, window, c)
                    if purge:
                        contents.pop(k, None)
                    if cl != MAX_WATERMARK:
                        t = (cl, key, window)
                        if t not in live:
                            live.add(t)
                            push(heap, (cl, next(seq), key, window))
                if skipped and ts + lateness <= wm:
                    self._late(v, ts, wm)
        except OperatorError:
            raise
        except Exception as exc:
            annotate(exc, self, self.seen + i, vals[i] if vals else None)
            raise

    def _merging_loop(self, vals: list[Any], keys: list[Any], tss: list[Any], wmb: list[int]) -> None:
        """Session windows."""
        timers = self.event_timers
        heap, live, seq = timers._heap, timers._live, timers._seq
        push, pop = heapq.heappush, heapq.heappop
        contents = self.contents
        msets = self.merging_sets
        ett, kind, stamped, lateness = self._ett, self._kind, self.stamped, self.lateness
        trigger, tctx = self.trigger, self.tctx
        on_element = trigger.on_element
        user = self.fn.user
        red: Any = user if kind == 1 else None
        create: Any = user.create_accumulator if kind == 2 else None
        add: Any = user.add if kind == 2 else None
        cleanup = self.cleanup_time
        general_merge = self._add_merging_window
        assigner = self.assigner
        gap = assigner.gap if assigner.gap_extractor is None else None  # type: ignore[attr-defined]
        assign = assigner.assign_windows
        wm = self.wm
        i = 0
        try:
            for i, v in enumerate(vals):
                w = wmb[i]
                if w > wm:
                    while heap and heap[0][0] <= w:
                        top = heap[0]
                        if (top[0], top[2], top[3]) in live:
                            self._advance(w)  # fires the due timers
                            break
                        pop(heap)  # a deleted timer (as ``TimerQueue.pop_due`` drops it)
                    else:
                        self.wm = self.emit_wm = w
                    wm = w
                ts = tss[i]
                if ts is None:
                    raise self._no_timestamp(i, v)
                key = keys[i]
                mapping = msets.get(key)
                actual: Any = None
                if gap is not None and mapping is not None and len(mapping) == 1:
                    ((old, sw),) = mapping.items()
                    os_, oe = old
                    ne = ts + gap
                    if os_ <= ne and oe >= ts:  # the key's only session absorbs the element
                        if ts >= os_ and ne <= oe:
                            cl = oe - 1 + lateness
                            if cl > MAX_WATERMARK:
                                cl = MAX_WATERMARK
                            if cl > wm:
                                actual = old
                        else:
                            cs, ce = (ts if ts < os_ else os_), (ne if ne > oe else oe)
                            cl = ce - 1 + lateness
                            if cl > MAX_WATERMARK:
                                cl = MAX_WATERMARK
                            if cl > wm:
                                cover = _new_tuple(TimeWindow, (cs, ce))
                                del mapping[old]
                                mapping[cover] = sw
                                if ett:
                                    mt = ce - 1
                                    if mt > wm:
                                        t = (mt, key, cover)
                                        if t not in live:
                                            live.add(t)
                                            push(heap, (mt, next(seq), key, cover))
                                    live.discard((oe - 1, key, old))
                                else:
                                    tctx.key, tctx.window, tctx.merged = key, cover, [old]
                                    trigger.on_merge(cover, tctx)
                                    tctx.window = old
                                    trigger.clear(old, tctx)
                                    tctx.merged = []
                                c_old = oe - 1 + lateness
                                if c_old < MAX_WATERMARK:
                                    live.discard((c_old, key, old))
                                actual = cover
                    else:
                        actual = general_merge(key, _new_tuple(TimeWindow, (ts, ne)))
                        if actual is not None:
                            sw = mapping[actual]
                            cl = cleanup(actual)
                else:
                    new = _new_tuple(TimeWindow, (ts, ts + gap)) if gap is not None else assign(v, ts, 0)[0]
                    actual = general_merge(key, new)
                    if actual is not None:
                        sw = msets[key][actual]
                        cl = cleanup(actual)
                if actual is None:
                    if ts + lateness <= wm:
                        self._late(v, ts, wm)
                    continue
                k = (key, sw)
                value = _new_tuple(TimestampedValue, (v, ts)) if stamped else v
                if kind == 0:
                    lst = contents.get(k)
                    if lst is None:
                        contents[k] = [value]
                    else:
                        lst.append(value)
                elif kind == 1:
                    cur = contents.get(k, _NONE)
                    contents[k] = value if cur is _NONE else red(cur, value)
                else:
                    cur = contents.get(k, _NONE)
                    contents[k] = add(value, create() if cur is _NONE else cur)
                if ett:
                    mt = actual.end - 1
                    if mt <= wm:
                        fire, purge = True, False
                    else:
                        fire = purge = False
                        t = (mt, key, actual)
                        if t not in live:
                            live.add(t)
                            push(heap, (mt, next(seq), key, actual))
                else:
                    tctx.key, tctx.window = key, actual
                    fire, purge = on_element(v, ts, actual, tctx)
                if fire:
                    c = contents.get(k, _NONE)
                    if c is not _NONE:
                        self.emit_wm = wm
                        self._emit(key, actual, c)
                if purge:
                    contents.pop(k, None)
                if cl != MAX_WATERMARK:
                    t = (cl, key, actual)
                    if t not in live:
                        live.add(t)
                        push(heap, (cl, next(seq), key, actual))
        except OperatorError:
            raise
        except Exception as exc:
            annotate(exc, self, self.seen + i, vals[i] if vals else None)
            raise


__all__ = ["BatchedWindowOperator", "batched_applies"]
