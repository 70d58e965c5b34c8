"""Window slicing: sliding (and tumbling, with allowed lateness) event-time windows with incremental
aggregation, as Flink SQL's slicing window operator does it, with the exact results of :class:`WindowOperator`.

Contract (what the planner checks, :func:`slicing_applies`): an event-time ``TumblingEventTimeWindows`` or
``SlidingEventTimeWindows`` assigner, the default trigger, no evictor, any allowed lateness and late side
output, and ``reduce`` / ``aggregate``. Time is cut into *slices* of ``g = gcd(size, slide)``; every
window is the union of ``size / g`` consecutive slices and every slice lies wholly inside or outside each
window. Each element updates the accumulator of its key in ONE slice; a window fires by merging its slices'
accumulators, and a slice is freed when the last window that contains it is cleaned up (``end - 1 +
lateness <= watermark``).

When a window spans several slices, accumulators are merged, which changes the order in which elements are
combined. That is exact only for the built-in aggregates (``Count``, ``Sum``, ``Min``, ``Max``, ``Mean`` and
``Aggregates`` of them, over fields that are not callables), so with a user ``reduce`` or
``AggregateFunction`` slicing is used only when each window is a single slice (tumbling windows, and sliding
windows whose slide is a multiple of their size). Sums of floats merged slice by slice can differ from the
element-by-element sum in the last bits, as in Flink SQL; sums of ints are exact.

Semantics are :class:`WindowOperator`'s, element by element: the watermark before each element fires every
window due (by window end, then per key in the order the key's first element of the window arrived — the
order of the general operator's timers); an element whose windows are all expired is late (side output or
dropped and counted; an element in a gap of a sliding window with ``slide > size`` vanishes unless late); an
element added to a window that already fired within the allowed lateness fires that window again at once
(for each such window, latest start first). Window functions' ``clear`` and per-window state are cleared
when a window is cleaned up.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from math import gcd
from typing import Any, cast

from ..errors import OperatorError
from ..functions import OutputTag, ProcessAllWindowFunction, ProcessWindowFunction
from ..state import StateNamespace
from ..time import MAX_WATERMARK, MIN_WATERMARK
from ..windows import EventTimeTrigger, SlidingEventTimeWindows, TimeWindow, TumblingEventTimeWindows
from .base import compute_keys, split_outputs
from .basic import annotate
from .rescale import Owns, merge_tables
from .tumbling import TumblingWindowOperator, raise_window_failure, update_code
from .window import GLOBAL_STATE, WindowFunctionSpec, WindowOperator

_NONE: Any = object()
_INF = float("inf")
_NO_OP_CLEARS = (ProcessWindowFunction.clear, ProcessAllWindowFunction.clear)


class _Spilled:
    """A write-behind operator's placeholder for an accumulator that is in the state backend, not in memory."""

    def __repr__(self) -> str:
        return "<spilled>"


SPILLED: Any = _Spilled()


def _geometry(assigner: Any) -> tuple[int, int, int] | None:
    if type(assigner) is TumblingEventTimeWindows:
        return assigner.size, assigner.size, assigner.offset
    if type(assigner) is SlidingEventTimeWindows:
        return assigner.size, assigner.slide, assigner.offset
    return None


def mergeable_members(fn: WindowFunctionSpec) -> list[Any] | None:
    """The built-in aggregates of ``fn`` whose accumulators merge exactly, or ``None``."""
    from ..aggregates import Aggregates, Count, Max, Mean, Min, Sum

    if fn.kind != "aggregate":
        return None
    user = fn.user
    members = user.aggs if type(user) is Aggregates else [user]
    for a in members:
        if type(a) not in (Count, Sum, Min, Max, Mean) or callable(getattr(a, "field", None)):
            return None
    return list(members)


def slicing_applies(assigner: Any, trigger: Any, evictor: Any, lateness: int, fn: WindowFunctionSpec) -> bool:
    """Whether :class:`SlicingWindowOperator` gives the general operator's results (see module docstring)."""
    geo = _geometry(assigner)
    if geo is None or evictor is not None or not (trigger is None or type(trigger) is EventTimeTrigger):
        return False
    if fn.kind not in ("reduce", "aggregate"):
        return False
    size, slide, _ = geo
    return gcd(size, slide) == size or mergeable_members(fn) is not None


class SlicingWindowOperator(WindowOperator):
    """Sliding / tumbling event-time windows over slices (see the module docstring).

    State: ``slices`` ``{slice end: {key: accumulator}}`` and, when windows span several slices, ``seqs``
    ``{slice end: {key: arrival number of the key's first element in the slice}}`` (the firing order of keys).
    """

    write_behind = False  # True in :class:`~.writebehind.WriteBehindSlicingOperator`

    def __init__(
        self,
        name: str,
        uid: str | None,
        key_fn: Callable[[Any], Any] | None,
        assigner: Any,
        lateness: int,
        late_tag: OutputTag | None,
        fn: WindowFunctionSpec,
    ) -> None:
        super().__init__(name, uid, key_fn, assigner, None, None, lateness, late_tag, fn)
        geo = _geometry(assigner)
        assert geo is not None
        self.size, self.slide, self.offset = geo
        self.g = gcd(self.size, self.slide)
        self.multi = self.g < self.size  # windows span several slices: accumulators are merged
        # window ends are the numbers congruent to ``rem`` modulo ``slide``
        self.rem = (self.offset + self.size) % self.slide
        self.slices: dict[int, dict[Any, Any]] = {}
        self.seqs: dict[int, dict[Any, int]] = {}
        self.seq = 0
        self.next_fire: int | float = _INF  # max timestamp of the first window not fired yet that has data
        self.next_clean: int | float = _INF  # cleanup time of the first slice to free
        self.next_due: int | float = _INF
        self._members = mergeable_members(fn) if self.multi else None
        # a single built-in aggregate is kept as a one-member list when accumulators merge
        self._one_member = self._members is not None and type(fn.user) is type(self._members[0])
        self._loop, self._merge_agg, self._copy, self._merge_into = _make_code(self, fn)
        # windows of several slices: a two-stacks cache (suffix aggregates of the older slices of the windows
        # firing next, and one aggregate of the newer ones), so a window costs O(1) merges, not size / g
        self._cache_ok = False
        self._suf: dict[int, tuple[dict[Any, Any], dict[Any, int]]] = {}
        self._suf_lo = 0
        self._mid = 0
        self._back: tuple[dict[Any, Any], dict[Any, int]] = ({}, {})
        self._back_hi = 0
        self._results_of = self._result_fn()
        self._clears = fn.window_fn is not None  # windows are cleaned up one by one (clear, window state)

    # -- geometry -------------------------------------------------------------------------------------
    def _first_end_ge(self, x: int) -> int:
        return x + (self.rem - x) % self.slide

    def _last_end_le(self, x: int) -> int:
        return x - (x - self.rem) % self.slide

    def _clean_time(self, end: int) -> int:
        t = end - 1 + self.lateness
        return t if t < MAX_WATERMARK else MAX_WATERMARK

    def _slice_times(self, se: int) -> tuple[int, int]:
        """``(max timestamp of the slice's first window, cleanup time of its last window)``; a slice in no
        window (a gap) gives ``(MIN, MIN)``: always expired."""
        e0 = self._first_end_ge(se)
        e_last = self._last_end_le(se + self.size - self.g)
        if e0 > e_last:
            return MIN_WATERMARK, MIN_WATERMARK
        return e0 - 1, self._clean_time(e_last)

    def _open_slice(self, se: int, cur: int) -> tuple[dict[Any, Any], dict[Any, int] | None]:
        b = self.slices[se] = {}
        sq: dict[Any, int] | None = None
        if self.multi:
            sq = self.seqs[se] = {}
        e_last = self._last_end_le(se + self.size - self.g)
        e0 = self._first_end_ge(se)
        e = max(e0, self._first_end_ge(cur + 2))
        if e <= e_last and e - 1 < self.next_fire:
            self.next_fire = e - 1
        # with a window function, each window is cleaned up (clear, window state) when its time comes
        first_clean = min(max(e0, self._first_end_ge(cur + 2 - self.lateness)), e_last)
        clean = self._clean_time(first_clean if self._clears else e_last)
        if clean < self.next_clean:
            self.next_clean = clean
        self.next_due = min(self.next_fire, self.next_clean)
        return b, sq

    def _recompute_due(self, wm: int) -> None:
        """``next_fire`` / ``next_clean`` / ``next_due`` for the current watermark ``wm``."""
        nf: int | float = _INF
        nc: int | float = _INF
        lo = self._first_end_ge(wm + 2)  # the first window end not fired at ``wm``
        lo_clean = self._first_end_ge(wm + 2 - self.lateness)  # ... not cleaned up
        span = self.size - self.g
        clears = self._clears
        for se in self.slices:
            e_last = self._last_end_le(se + span)
            e0 = self._first_end_ge(se)
            e = lo if lo > e0 else e0
            if e <= e_last and e - 1 < nf:
                nf = e - 1
            c = self._clean_time(min(lo_clean if lo_clean > e0 else e0, e_last) if clears else e_last)
            if c < nc:
                nc = c
        self.next_fire, self.next_clean = nf, nc
        self.next_due = min(nf, nc)

    # -- elements ----------------------------------------------------------------------------------------
    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        keys = compute_keys(self, self.key_fns[0], vals, self.known_keys) if self.keyed else [None] * len(vals)
        vit = iter(vals)  # its remaining length tells the position of a failing element
        try:
            cur, late_vals, self.seq = self._loop(
                self, vit, keys, tss, wmb, self.wm, self.next_due, self.slices, self.seqs, self.seq
            )
        except OperatorError:
            raise
        except Exception as exc:
            raise_window_failure(self, exc, vals, tss, vit)
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
            self.emit_wm = cur
            self.wm = tail
            if tail >= self.next_due:
                self._advance_to(tail)
            self.emit_wm = tail
        self._flush_out(tail)

    # -- firing ------------------------------------------------------------------------------------------
    def _parts(self, end: int, ends: list[int]) -> list[int]:
        """Slice ends of the window ending at ``end`` that hold data (``ends`` sorted)."""
        return ends[bisect_left(ends, end - self.size + self.g) : bisect_right(ends, end)]

    def _advance_to(self, wm: int) -> None:
        """The watermark moves from ``self.emit_wm`` to ``wm``: fire the windows with ``emit_wm < max timestamp
        <= wm`` (by end), then clean up those whose cleanup time passed and free the slices no window needs."""
        prev = self.emit_wm
        ends = sorted(self.slices)
        if ends and wm >= self.next_fire:
            first = max(self._first_end_ge(prev + 2), self._first_end_ge(ends[0]))
            last = min(wm + 1, ends[-1] + self.size - self.g)
            for end in range(first, last + 1, self.slide):
                parts = self._parts(end, ends)
                if parts:
                    self._fire_window(end, parts)
        if ends and wm >= self.next_clean:
            self._clean_upto(prev, wm, ends)
        self._recompute_due(wm)

    def _window_contents(self, end: int, parts: list[int]) -> tuple[list[Any], dict[Any, Any]]:
        """Keys in firing order and their accumulators for the window ending at ``end`` (slices ``parts``).
        The accumulators may be shared with the cache: read them only."""
        if len(parts) == 1:
            b = self.slices[parts[0]]
            return list(b), b
        res, first = self._window_agg(end)
        return sorted(res, key=first.__getitem__), res

    def _window_agg(self, end: int) -> tuple[dict[Any, Any], dict[Any, int]]:
        """Merged accumulators and first arrival numbers of the window ending at ``end``. Windows are asked
        for in end order; slices of windows that fired change only through :meth:`_late_fire`, which drops
        the cache."""
        g, slices, seqs, merge = self.g, self.slices, self.seqs, self._merge_agg
        lo, hi = end - self.size + g, end
        if not self._cache_ok or lo >= self._mid or lo < self._suf_lo or hi < self._back_hi:
            suf: dict[int, tuple[dict[Any, Any], dict[Any, int]]] = {}
            cur: tuple[dict[Any, Any], dict[Any, int]] = ({}, {})
            for se in range(hi, lo - g, -g):
                b = slices.get(se)
                if b is not None:
                    nres: dict[Any, Any] = {}
                    nfirst: dict[Any, int] = {}
                    merge(nres, nfirst, b, seqs[se])
                    merge(nres, nfirst, cur[0], cur[1])
                    cur = (nres, nfirst)
                suf[se] = cur
            self._suf, self._suf_lo, self._mid = suf, lo, hi + g
            self._back, self._back_hi = ({}, {}), hi
            self._cache_ok = True
            return suf[lo]
        bres, bfirst = self._back
        for se in range(self._back_hi + g, hi + g, g):
            b = slices.get(se)
            if b is not None:
                merge(bres, bfirst, b, seqs[se])
        self._back_hi = hi
        suf = self._suf
        for se in range(self._suf_lo, lo, g):
            suf.pop(se, None)
        self._suf_lo = lo
        fres, ffirst = suf[lo]
        if not bres:
            return fres, ffirst
        res: dict[Any, Any] = {}
        first: dict[Any, int] = {}
        merge(res, first, fres, ffirst)
        merge(res, first, bres, bfirst)
        return res, first

    def _window_keys(self, parts: list[int]) -> list[Any]:
        """Keys of the window made of slices ``parts``, in firing order."""
        if len(parts) == 1:
            return list(self.slices[parts[0]])
        first: dict[Any, int] = {}
        for se in parts:
            for k, s in self.seqs[se].items():
                f = first.get(k)
                if f is None or s < f:
                    first[k] = s
        return sorted(first, key=first.__getitem__)

    def _fire_window(self, end: int, parts: list[int]) -> None:
        order, accs = self._window_contents(end, parts)
        ts = end - 1
        emit_wm = self.emit_wm
        ov, ot, ow = self._ov, self._ot, self._ow
        fn = self.fn
        if fn.window_fn is None:
            results = self._results_of(order, accs)
            ov.extend(results)
            ot.extend([ts] * len(results))
            ow.extend([emit_wm] * len(results))
            return
        window = TimeWindow(end - self.size, end)
        wctx = self.wctx
        wctx._window = window
        call = TumblingWindowOperator._window_call(self, fn.window_fn, window)  # type: ignore[arg-type]
        get_result = self._get_result
        for key in order:
            wctx._key = key
            try:
                res = call(key, [get_result(accs[key])])
            except Exception as exc:
                annotate(exc, self, None, f"window {window!r} of key {key!r}")
                raise
            split_outputs(res, ov, self, ts, ot, ow, emit_wm)

    def _late_fire(self, key: Any, se: int, cur: int) -> None:
        """An element of ``key`` was added to slice ``se`` although some of its windows fired: fire those
        that are not expired again at once, latest start first (the general operator's order)."""
        self.wm = self.emit_wm = cur
        self._cache_ok = False  # slices of fired windows change
        e0 = self._first_end_ge(se)
        hi = min(self._last_end_le(se + self.size - self.g), self._last_end_le(cur + 1))
        ends = sorted(self.slices)
        for end in range(hi, e0 - 1, -self.slide):
            if self._clean_time(end) <= cur:
                break
            acc: Any = _NONE
            for part in self._parts(end, ends):
                a = self.slices[part].get(key, _NONE)
                if a is _NONE:
                    continue
                if not self.multi:
                    acc = a
                elif acc is _NONE:
                    acc = self._copy(a)
                else:
                    self._merge_into(acc, a)
            if acc is not _NONE:
                self._emit(key, TimeWindow(end - self.size, end), acc)

    def _get_result(self, acc: Any) -> Any:
        """Result of one accumulator (as ``WindowOperator._results`` computes it before a window function)."""
        fn = self.fn
        if fn.kind == "reduce":
            return acc
        if self._one_member:
            return fn.user.get_result(acc[0])
        return fn.user.get_result(acc)

    def _result_fn(self) -> Callable[[list[Any], dict[Any, Any]], list[Any]]:
        get_result = self._get_result
        if self.fn.kind == "reduce":
            return lambda order, accs: [accs[k] for k in order]
        return lambda order, accs: [get_result(accs[k]) for k in order]

    def _results(self, key: Any, window: Any, contents: Any) -> Any:
        self.wctx._window, self.wctx._key = window, key
        values = [self._get_result(contents)]
        if self.fn.window_fn is None:
            return values
        return self._apply_window_fn(self.fn.window_fn, key, window, values)

    # -- cleanup -----------------------------------------------------------------------------------------
    def _clean_upto(self, prev: int, wm: int, ends: list[int]) -> None:
        wf = self.fn.window_fn
        clear = getattr(wf, "clear", None) if wf is not None and not isinstance(wf, type) else None
        if getattr(clear, "__func__", None) in _NO_OP_CLEARS:
            clear = None  # the base classes' clear does nothing
        ns: StateNamespace = self.window_state_backend
        if clear is not None or ns.tables:
            # windows whose cleanup time passed now: prev < end - 1 + L <= wm
            first = max(self._first_end_ge(prev + 2 - self.lateness), self._first_end_ge(ends[0]))
            last = min(wm + 1 - self.lateness, ends[-1] + self.size - self.g)
            wctx = self.wctx
            for end in range(first, last + 1, self.slide):
                parts = self._parts(end, ends)
                if not parts:
                    continue
                order = self._window_keys(parts)
                window = TimeWindow(end - self.size, end)
                wctx._window = window
                for key in order:
                    if clear is not None:
                        wctx._key = key
                        clear(wctx)
                    if ns.tables:
                        ns.clear_key((key, window))
        span = self.size - self.g
        for se in ends:
            if self._clean_time(self._last_end_le(se + span)) <= wm:
                del self.slices[se]
                self.seqs.pop(se, None)

    # -- checkpoints -------------------------------------------------------------------------------------
    def snapshot(self) -> Any:
        return {"slices": {se: dict(b) for se, b in self.slices.items()}, **self._snapshot_common()}

    def _snapshot_common(self) -> dict[str, Any]:
        """What every snapshot of this operator carries besides the slices: arrival numbers, the backend's state
        and table names, the watermark."""
        return {
            "seqs": {se: dict(q) for se, q in self.seqs.items()},
            "seq": self.seq,
            "state": self.backend.snapshot(),
            "names": {ns.prefix: sorted(ns.tables) for ns in self._namespaces()},
            "wm": self.wm,
        }

    @staticmethod
    def merge_snapshots(states: list[Any], owns: Owns) -> Any:
        """Rescaling (:mod:`.rescale`): the owned keys' slice accumulators of several subtasks. Arrival numbers
        are renumbered so that, for one window, the keys of the first old subtask fire first (as the general
        operator's merged timers do)."""
        slices: dict[int, dict[Any, Any]] = {}
        seqs: dict[int, dict[Any, int]] = {}
        base = 0
        for s in states:
            for se, b in s["slices"].items():
                mine = {k: acc for k, acc in b.items() if owns(k)}
                if mine:
                    slices.setdefault(se, {}).update(mine)
            for se, q in s["seqs"].items():
                mine_q = {k: n + base for k, n in q.items() if owns(k)}
                if mine_q:
                    seqs.setdefault(se, {}).update(mine_q)
            base += s["seq"]

        def key_of(table: str, k: Any) -> Any:
            return k if table.startswith(GLOBAL_STATE) else k[0]

        names: dict[str, set[str]] = {}
        for s in states:
            for prefix, ns_names in s.get("names", {}).items():
                names.setdefault(prefix, set()).update(ns_names)
        return {
            "slices": slices,
            "seqs": seqs,
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
        self.slices = {se: dict(b) for se, b in state["slices"].items()}
        self.seqs = {se: dict(q) for se, q in state["seqs"].items()}
        self.seq = state["seq"]
        self.wm = self.emit_wm = state["wm"]
        self._cache_ok = False
        self._recompute_due(self.wm)


_LOOP = """
def loop(self, vit, keys, tss, wmb, cur, next_due, slices, seqs, seq, g=g, offset=offset, lateness=lateness,
         none=none, MIN=MIN{params}):
    late_vals = None
    lo = 1  # [lo, hi) is the slice of the previous element; empty at first
    hi = 0
    b = sq = None
    se = fire0 = clean = 0
    for v, k, t, w in zip(vit, keys, tss, wmb):
        if w > cur:
            if w >= next_due:
                self.emit_wm = cur
                self.wm = w
                self.seq = seq
                self._advance_to(w)
                self.emit_wm = w
                next_due = self.next_due
                lo, hi = 1, 0
            cur = w
        if not lo <= t < hi:  # most elements fall into the previous element's slice
            se = t - (t - offset) % g + g
            lo, hi = se - g, se
            fire0, clean = self._slice_times(se)
            b = slices.get(se)
            sq = seqs.get(se)
        if cur >= fire0:  # some window of the slice fired already: expired, or a late firing
            if cur >= clean:
                if t + lateness <= cur:
                    if late_vals is None:
                        late_vals = []
                    late_vals.append((v, t, cur))
                continue
            if b is None:
                b, sq = self._open_slice(se, cur)
                next_due = self.next_due
{late_update}
            self.seq = seq
            self._late_fire(k, se, cur)
            continue
        if b is None:
            b, sq = self._open_slice(se, cur)
            next_due = self.next_due
{update}
    return cur, late_vals, seq
"""


def _multi_update(members: list[Any], env: dict[str, Any], indent: int, reload: str | None = None) -> str:
    """Add ``v`` to ``b[k]`` (a list, one entry per member) and number the key's first element in the slice;
    ``reload`` as in :func:`~.tumbling.update_code`."""
    from ..aggregates import Count, Mean, Min, Sum

    pad = " " * indent
    back = "" if reload is None else f"\n{pad}if acc is spilled:\n{pad}    acc = reload(b, k, {reload})"
    inits, steps = [], []
    for j, a in enumerate(members):
        field = getattr(a, "field", None)
        env[f"f{j}"] = field
        x = "v" if field is None else f"v[f{j}]"
        if type(a) is Count:
            inits.append("1")
            steps.append(f"acc[{j}] += 1")
        elif type(a) is Sum:
            inits.append(f"0 + {x}")
            steps.append(f"acc[{j}] += {x}")
        elif type(a) is Mean:
            inits.append(f"[1, 0 + {x}]")
            steps.append(f"m = acc[{j}]; m[0] += 1; m[1] += {x}")
        else:
            op = "<" if type(a) is Min else ">"
            inits.append(x)
            steps.append(f"x = {x}\n{pad}    if x {op} acc[{j}]: acc[{j}] = x")
    body = "\n".join(f"{pad}    {st}" for st in steps)
    return (
        f"{pad}acc = b.get(k){back}\n{pad}if acc is None:\n{pad}    b[k] = [{', '.join(inits)}]\n"
        f"{pad}    sq[k] = seq\n{pad}    seq += 1\n{pad}else:\n{body}"
    )


_MERGE = """
def merge_agg(res, first, sl, sq):
    for k, a in sl.items():
        r = res.get(k)
        if r is None:
            res[k] = [{copies}]
            first[k] = sq[k]
        else:
{steps}
            s = sq[k]
            if s < first[k]:
                first[k] = s


def copy(a):
    return [{copies}]


def merge_into(r, a):
{steps_into}
"""


def _merge_code(members: list[Any]) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """Generated ``merge_agg(res, first, accs, seqs)`` (merge the accumulators ``accs`` of keys whose first
    elements have the arrival numbers ``seqs`` into the aggregate ``res`` / ``first``, copying what it inserts),
    ``copy(acc)`` and ``merge_into(r, acc)`` for the member lists of :func:`_multi_update`."""
    from ..aggregates import Count, Mean, Min, Sum

    copies, steps = [], []
    for j, a in enumerate(members):
        if type(a) in (Count, Sum):
            copies.append(f"a[{j}]")
            steps.append(f"r[{j}] += a[{j}]")
        elif type(a) is Mean:
            copies.append(f"[a[{j}][0], a[{j}][1]]")
            steps.append(f"m = r[{j}]; n = a[{j}]; m[0] += n[0]; m[1] += n[1]")
        else:
            op = "<" if type(a) is Min else ">"
            steps.append(f"x = a[{j}]\nif x {op} r[{j}]: r[{j}] = x")
            copies.append(f"a[{j}]")
    src = _MERGE.format(
        copies=", ".join(copies),
        steps="\n".join(" " * 12 + line for st in steps for line in st.split("\n")),
        steps_into="\n".join("    " + line for st in steps for line in st.split("\n")),
    )
    namespace: dict[str, Any] = {}
    exec(src, namespace)  # fixed templates only
    return namespace["merge_agg"], namespace["copy"], namespace["merge_into"]


def _unused(*_: Any) -> Any:
    raise AssertionError("windows of one slice never merge accumulators")


def _make_code(op: SlicingWindowOperator, fn: WindowFunctionSpec) -> tuple[Callable[..., Any], ...]:
    """The per-batch loop (generated for the window's function, as the tumbling operator's) and the merge
    functions. Only fixed templates and constants bound as default arguments go into the generated code."""
    env: dict[str, Any] = {"g": op.g, "offset": op.offset, "lateness": op.lateness, "none": _NONE}
    reload = None
    if op.write_behind:  # accumulators may have been written to the state backend (:mod:`.writebehind`)
        env["spilled"], env["reload"] = SPILLED, cast(Any, op).reload_entry
        reload = "se"
    members = op._members
    if op.multi:
        assert members is not None
        update = _multi_update(members, env, 8, reload)
        late_update = _multi_update(members, env, 12, reload)
        merge_agg, copy, merge_into = _merge_code(members)
    else:
        update = update_code(fn, env, 8, reload)
        late_update = update_code(fn, env, 12, reload)
        merge_agg = copy = merge_into = _unused
    fixed = ("g", "offset", "lateness", "none")
    params = "".join(f", {name}={name}" for name in env if name not in fixed)
    namespace = dict(env, MIN=MIN_WATERMARK)
    exec(_LOOP.format(params=params, update=update, late_update=late_update), namespace)  # fixed templates only
    return namespace["loop"], merge_agg, copy, merge_into


__all__ = ["SlicingWindowOperator", "mergeable_members", "slicing_applies"]
