"""Fast path for event-time session windows: a fixed gap, the default trigger, no evictor, no allowed lateness
and an incremental function (``reduce`` / ``aggregate`` / built-in aggregates), with the results of
:class:`WindowOperator` element by element.

Contract (:func:`sessions_fast_path_applies`): same results and firing order as the general operator. Each
key keeps its open sessions as entries ``[start, end, accumulator, seq, dead, key]`` in the order of the general
operator's merging-window map; an element that falls into the key's only session, or extends it, is one
comparison and one accumulator update (no trigger, timer or merging bookkeeping); every other case (several
sessions, a merge of two, a new session) takes the general merging rules: overlapping sessions merge in map
order (``reduce`` / ``AggregateFunction.merge``), a merge may not produce an expired window (the element is
late then). Sessions fire when the watermark reaches ``end - 1``, by ``end`` and then in the order their
current window was first registered (``seq``, the general operator's timer order); the timers are a heap
whose entries may be stale (a session that grew is pushed again when its old entry comes up).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from ..errors import OperatorError
from ..functions import OutputTag, ProcessAllWindowFunction, ProcessWindowFunction
from ..windows import EventTimeSessionWindows, EventTimeTrigger, TimeWindow
from .base import compute_keys, split_outputs
from .basic import annotate
from .rescale import Owns, merge_tables
from .tumbling import TumblingWindowOperator
from .window import GLOBAL_STATE, WindowFunctionSpec, WindowOperator

_NO_OP_CLEARS = (ProcessWindowFunction.clear, ProcessAllWindowFunction.clear)


def sessions_fast_path_applies(
    assigner: Any, trigger: Any, evictor: Any, lateness: int, fn: WindowFunctionSpec
) -> bool:
    return (
        type(assigner) is EventTimeSessionWindows
        and assigner.gap_extractor is None
        and (trigger is None or type(trigger) is EventTimeTrigger)
        and evictor is None
        and lateness == 0
        and fn.kind in ("reduce", "aggregate")
    )


class SessionWindowOperator(WindowOperator):
    """Event-time sessions with incremental aggregation on plain lists (see the module docstring)."""

    def __init__(
        self,
        name: str,
        uid: str | None,
        key_fn: Callable[[Any], Any] | None,
        assigner: EventTimeSessionWindows,
        late_tag: OutputTag | None,
        fn: WindowFunctionSpec,
    ) -> None:
        super().__init__(name, uid, key_fn, assigner, None, None, 0, late_tag, fn)
        self.gap = assigner.gap
        self.sessions: dict[Any, list[list[Any]]] = {}
        self.seq = 0
        self.heap: list[tuple[int, int, list[Any], Any]] = []
        self._tie = itertools.count()
        user = fn.user
        if fn.kind == "reduce":
            self._init: Callable[[Any], Any] = lambda v: v
            self._add_to: Callable[[Any, Any], Any] = user  # (acc, v) -> acc
            self._merge: Callable[[Any, Any], Any] = user
        else:
            create, add = user.create_accumulator, user.add
            self._init = lambda v: add(v, create())
            self._add_to = lambda acc, v: add(v, acc)
            self._merge = user.merge

    # -- elements ----------------------------------------------------------------------------------------
    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        keys = compute_keys(self, self.key_fns[0], vals, self.known_keys) if self.keyed else [None] * len(vals)
        sessions, gap, heap = self.sessions, self.gap, self.heap
        add_to, init = self._add_to, self._init
        cur = self.wm
        next_fire = heap[0][0] if heap else None
        late_vals = None
        seq = self.seq
        i = 0
        try:
            for i, v in enumerate(vals):
                w = wmb[i]
                if w > cur:
                    if next_fire is not None and w >= next_fire:
                        self.seq = seq
                        self._fire_upto(cur, w)
                        next_fire = heap[0][0] if heap else None
                    cur = self.wm = w
                t = tss[i]
                if t is None:
                    raise self.fail(
                        "the element has no timestamp, so it cannot be put into an event-time window",
                        self.seen + i,
                        v,
                        hint="use from_source/assign_timestamps_and_watermarks with a timestamp assigner",
                    )
                k = keys[i]
                te = t + gap
                lst = sessions.get(k)
                if lst is not None and len(lst) == 1:
                    e = lst[0]
                    s, end = e[0], e[1]
                    if s <= te and end >= t:  # in or touching the key's only session: it absorbs the element
                        if t < s or te > end:  # grows: a new window, registered now (never expired: end > wm)
                            if t < s:
                                e[0] = t
                            if te > end:
                                e[1] = te
                            e[3] = seq
                            seq += 1
                        e[2] = add_to(e[2], v)
                        continue
                if lst is None:
                    if te - 1 <= cur:  # its own window is expired: late
                        if late_vals is None:
                            late_vals = []
                        late_vals.append((v, t, cur))
                        continue
                    e = [t, te, init(v), seq, False, k]
                    seq += 1
                    sessions[k] = [e]
                    heapq.heappush(heap, (te - 1, e[3], e, next(self._tie)))
                    if next_fire is None or te - 1 < next_fire:
                        next_fire = te - 1
                    continue
                self.seq = seq
                if not self._merge_in(k, lst, v, t, te, cur):
                    if late_vals is None:
                        late_vals = []
                    late_vals.append((v, t, cur))
                seq = self.seq
                next_fire = heap[0][0] if heap else None
        except OperatorError:
            raise
        except Exception as exc:
            annotate(exc, self, self.seen + i, vals[i] if vals else None)
            raise
        self.seq = seq
        self.wm = cur
        self.seen += len(vals)
        if late_vals:
            if self.late_tag is not None:
                sv, st, sw = self.side(self.late_tag)
                for v, t, w in late_vals:
                    sv.append(v)
                    st.append(t)
                    sw.append(w)
            else:
                self.num_late_records_dropped += len(late_vals)
        if tail > cur:
            if heap and tail >= heap[0][0]:
                self._fire_upto(cur, tail)
            self.wm = tail
        self.emit_wm = self.wm
        self._flush_out(tail)

    def _merge_in(self, key: Any, lst: list[list[Any]], v: Any, t: int, te: int, cur: int) -> bool:
        """The general merging rules for an element of a key with several sessions (or none overlapping);
        ``False`` if the element is late."""
        overlapping = [e for e in lst if e[0] <= te and e[1] >= t]
        if not overlapping:
            if te - 1 <= cur:
                return False
            e = [t, te, self._init(v), self.seq, False, key]
            self.seq += 1
            lst.append(e)
            heapq.heappush(self.heap, (te - 1, e[3], e, next(self._tie)))
            return True
        start = min(t, *(e[0] for e in overlapping))
        end = max(te, *(e[1] for e in overlapping))
        if end - 1 <= cur:
            return False
        first = overlapping[0]
        if len(overlapping) == 1 and first[0] == start and first[1] == end:
            first[2] = self._add_to(first[2], v)
            return True
        acc = first[2]
        for e in overlapping[1:]:
            acc = self._merge(acc, e[2])
            e[4] = True  # merged away: its heap entry is dropped when it comes up
        for e in overlapping:
            lst.remove(e)
        first[0], first[1], first[2], first[3] = start, end, self._add_to(acc, v), self.seq
        self.seq += 1
        lst.append(first)  # the merged window goes last in the key's map, as in the general operator
        return True

    # -- firing ------------------------------------------------------------------------------------------
    def _fire_upto(self, prev: int, wm: int) -> None:
        """Fire the sessions with ``end - 1 <= wm`` in (end, seq) order; ``prev`` is the watermark before."""
        self.emit_wm = prev
        self.wm = wm
        heap, sessions = self.heap, self.sessions
        fn = self.fn
        window_fn = fn.window_fn
        clear = getattr(window_fn, "clear", None) if window_fn is not None else None
        if isinstance(window_fn, type) or getattr(clear, "__func__", None) in _NO_OP_CLEARS:
            clear = None
        get_result = None if fn.kind == "reduce" else fn.user.get_result
        ov, ot, ow = self._ov, self._ot, self._ow
        wctx = self.wctx
        ns = self.window_state_backend
        while heap and heap[0][0] <= wm:
            t, s, e, _ = heapq.heappop(heap)
            if e[4]:
                continue
            if e[1] - 1 != t or e[3] != s:  # the session grew since this entry was pushed
                heapq.heappush(heap, (e[1] - 1, e[3], e, next(self._tie)))
                continue
            e[4] = True
            key = e[5]
            lst = sessions[key]
            lst.remove(e)
            if not lst:
                del sessions[key]
            res = e[2] if get_result is None else get_result(e[2])
            if window_fn is None:
                ov.append(res)
                ot.append(t)
                ow.append(prev)
                continue
            window = TimeWindow(e[0], e[1])
            wctx._window, wctx._key = window, key
            try:
                out = TumblingWindowOperator._window_call(self, window_fn, window)(key, [res])  # type: ignore[arg-type]
            except Exception as exc:
                annotate(exc, self, None, f"window {window!r} of key {key!r}")
                raise
            split_outputs(out, ov, self, t, ot, ow, prev)
            if clear is not None:
                clear(wctx)
            if ns.tables:
                ns.clear_key((key, window))
        self.emit_wm = wm

    # -- checkpoints -------------------------------------------------------------------------------------
    def snapshot(self) -> Any:
        return {
            "sessions": {k: [list(e[:4]) for e in lst] for k, lst in self.sessions.items()},
            "seq": self.seq,
            "state": self.backend.snapshot(),
            "names": {ns.prefix: sorted(ns.tables) for ns in self._namespaces()},
            "wm": self.wm,
        }

    @staticmethod
    def merge_snapshots(states: list[Any], owns: Owns) -> Any:
        """Rescaling (:mod:`.rescale`): the owned keys' sessions of several subtasks; registration numbers
        are renumbered so that ties fire in the old subtasks' order (as the general operator's merged
        timers)."""
        sessions: dict[Any, list[list[Any]]] = {}
        base = 0
        for s in states:
            for k, lst in s["sessions"].items():
                if owns(k):
                    sessions[k] = [[a, b, acc, n + base] for a, b, acc, n in lst]
            base += s["seq"]

        def key_of(table: str, k: Any) -> Any:
            return k if table.startswith(GLOBAL_STATE) else k[0]

        names: dict[str, set[str]] = {}
        for s in states:
            for prefix, ns_names in s.get("names", {}).items():
                names.setdefault(prefix, set()).update(ns_names)
        return {
            "sessions": sessions,
            "seq": base,
            "state": merge_tables((s["state"] for s in states), owns, key_of),
            "names": {prefix: sorted(ns) for prefix, ns in names.items()},
            "wm": min(s["wm"] for s in states),
        }

    def restore(self, state: Any) -> None:
        self.backend.restore(state["state"])
        self.rebind_state()
        for ns in self._namespaces():
            for name in state.get("names", {}).get(ns.prefix, ()):
                ns.table(name)
        self.sessions = {}
        self.heap = []
        for k, lst in state["sessions"].items():
            entries = self.sessions[k] = []
            for a, b, acc, n in lst:
                e = [a, b, acc, n, False, k]
                entries.append(e)
                self.heap.append((b - 1, n, e, next(self._tie)))
        heapq.heapify(self.heap)
        self.seq = state["seq"]
        self.wm = self.emit_wm = state["wm"]


__all__ = ["SessionWindowOperator", "sessions_fast_path_applies"]
