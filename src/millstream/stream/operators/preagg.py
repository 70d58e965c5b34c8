"""Local pre-aggregation of a keyed tumbling window in front of its exchange (Flink SQL's two-phase, *local-global*
window aggregation; a MapReduce combiner).

When a keyed event-time tumbling window with an incremental function runs in parallel, every element crosses
the ``key_by`` exchange to the subtask that owns its key: at parallelism 2 half of them move to another
process. With pre-aggregation the producing subtask folds its elements per (key, window) first and sends one
**partial** per key and window instead — an order of magnitude fewer records on the wire for W's page counts —
and the window operator merges the partials with the function's ``merge``.

Contract (:func:`pre_aggregation_applies`): it is used for a window whose tumbling fast path applies
(:func:`.tumbling.fast_path_applies`: ``TumblingEventTimeWindows``, the default trigger, no evictor, no allowed
lateness, ``reduce``/``aggregate``), that has no late-data side output, whose function can merge (a ``reduce``
function, assumed associative as Flink's combinable reduce is; an ``AggregateFunction`` that implements
``merge``) and has no ``open``/``close`` of its own. Results are those of the plain exchange:

- a window's partial is sent before the producer's watermark reaches the window's end - 1 (the partials of
  every due window go out right before the watermark that makes them due, and all of them before a checkpoint
  barrier and before the producer turns idle or ends), so the window operator sees every partial while the
  window is open, as it would have seen the elements themselves;
- an element that is late at the producer (its window's end - 1 is at or below the producer's watermark) is
  sent at once as a partial of one element, so the window operator judges it against its own watermark as it
  would the element (dropped and counted in ``numLateRecordsDropped``, or added if the window is still open
  there because another input is behind). One count differs: a partial that arrives late counts once in
  ``numLateRecordsDropped``, where its elements would each have counted. That needs an input whose watermark is
  behind the window operator's: one that was idle and became active again behind the others, or one whose
  watermark a rescale put behind (the window operator's watermark never goes back);
- merging partials in the order they arrive equals adding the elements in an order in which one input's
  elements come before another's, one of the orders a parallel Flink job may see — exactly so for functions
  whose merge is exact (counts, integer sums, min, max); a sum of floats merged from partials can differ in
  the last bits from any element-by-element order, as in Flink SQL's two-phase aggregation. At parallelism 1
  there is no exchange and nothing is pre-aggregated.

The producing side keeps nothing in checkpoints (it is empty after every barrier); the window operator's state
holds the function's own accumulators, so savepoints move freely between parallelisms and between jobs with and
without pre-aggregation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Any

from ..functions import AggregateFunction, Function
from .tumbling import compile_window_loop, fast_path_applies
from .window import WindowFunctionSpec

PARTIAL_KEY = itemgetter(0)
"""The key of a partial ``(key, accumulator)``: the key selector of the edge and of the window operator behind
it."""

_EMPTY: Any = object()


def _lifecycle_free(f: Any) -> bool:
    """``f`` has no ``open``/``close`` of its own (the producing side never opens the function)."""
    kind = type(f)
    return all(getattr(kind, hook, None) in (None, getattr(Function, hook)) for hook in ("open", "close"))


def pre_aggregation_applies(params: dict[str, Any]) -> bool:
    """Whether a window transformation's ``params`` may be pre-aggregated (see the module docstring)."""
    fn: WindowFunctionSpec = params["fn"]
    if params.get("key_fns") or params.get("key_fn") is None or params.get("late_tag") is not None:
        return False
    if not fast_path_applies(params["assigner"], params["trigger"], params["evictor"], params["lateness"], fn):
        return False
    if not _lifecycle_free(fn.user):
        return False
    if fn.kind == "reduce":
        return callable(fn.user)
    merge = getattr(type(fn.user), "merge", None)
    return merge is not None and merge is not AggregateFunction.merge


class MergePartials(AggregateFunction):
    """The window operator's function behind a pre-aggregating exchange: adds a partial ``(key, acc)`` by
    merging its accumulator (``merge`` of the AggregateFunction, or the reduce function itself)."""

    def __init__(self, fn: WindowFunctionSpec) -> None:
        self.user = fn.user
        self._merge = fn.user if fn.kind == "reduce" else fn.user.merge
        if fn.kind == "aggregate":
            self.get_result = fn.user.get_result  # type: ignore[method-assign]  # (one call less per result)

    def create_accumulator(self) -> Any:
        return _EMPTY

    def add(self, value: Any, accumulator: Any) -> Any:
        return value[1] if accumulator is _EMPTY else self._merge(accumulator, value[1])

    def get_result(self, accumulator: Any) -> Any:
        return accumulator  # a reduce's accumulator is its result

    def merge(self, acc_a: Any, acc_b: Any) -> Any:
        return self._merge(acc_a, acc_b)


def merging_params(params: dict[str, Any]) -> dict[str, Any]:
    """The window transformation's ``params`` for the operator behind a pre-aggregating exchange: keyed by
    :data:`PARTIAL_KEY`, adding partials with :class:`MergePartials`; the window function is the user's."""
    fn: WindowFunctionSpec = params["fn"]
    spec = WindowFunctionSpec("aggregate", MergePartials(fn), fn.window_fn, non_keyed=fn.non_keyed, style=fn.style)
    return {**params, "fn": spec, "key_fn": PARTIAL_KEY}


Batch = tuple[list[Any], list[Any], list[int], list[Any]]
"""Partials to send: ``(values, timestamps, watermarks before them, keys)``."""


class WindowPreAggregator:
    """The producing side (see the module docstring): :meth:`add` folds a batch of keyed elements and returns
    the partials due; :meth:`flush` returns all that are held. Pure: no I/O, no clock."""

    def __init__(self, params: dict[str, Any]) -> None:
        assigner = params["assigner"]
        fn: WindowFunctionSpec = params["fn"]
        self.size, self.offset = assigner.size, assigner.offset
        self.buckets: dict[int, dict[Any, Any]] = {}  # window end -> {key: accumulator}
        self.next_due: int | float = float("inf")
        self.wm = -(2**63)
        if fn.kind == "reduce":
            self.single: Callable[[Any], Any] = lambda v: v
        else:
            create, add = fn.user.create_accumulator, fn.user.add
            self.single = lambda v: add(v, create())
        self._loop = _make_loop(self.size, self.offset, fn)

    def add(self, vals: Iterator[Any], keys: list[Any], tss: list[Any], wmb: list[int], tail: int) -> Batch:
        """Fold elements ``vals`` (an iterator: what is left of it tells the caller which element raised; keys
        ``keys``, timestamps ``tss``, watermark before each ``wmb``) followed by watermark ``tail``; the partials
        due and the late elements, in order, each with the watermark before it."""
        out: Batch = ([], [], [], [])
        self.wm = self._loop(self, vals, keys, tss, wmb, self.wm, self.next_due, self.buckets, out, self.single)
        if tail > self.wm:
            if tail >= self.next_due:
                self.emit_due(tail, self.wm, out)
            self.wm = tail
        return out

    def emit_due(self, wm: int, before: int, out: Batch) -> None:
        """Append the partials of every window with ``end - 1 <= wm`` (by end), with watermark ``before``."""
        due = sorted(e for e in self.buckets if e - 1 <= wm)
        self._emit(due, before, out)

    def flush(self) -> Batch:
        """Every partial held (before a checkpoint barrier, at the end of input), by window end."""
        out: Batch = ([], [], [], [])
        self._emit(sorted(self.buckets), self.wm, out)
        return out

    def _emit(self, ends: list[int], before: int, out: Batch) -> None:
        ov, ot, ow, ok = out
        for end in ends:
            bucket = self.buckets.pop(end)
            ts = end - 1
            for k, acc in bucket.items():
                ov.append((k, acc))
                ok.append(k)
            ot.extend([ts] * len(bucket))
            ow.extend([before] * len(bucket))
        self.next_due = min(self.buckets) - 1 if self.buckets else float("inf")


_LOOP = """
def loop(self, vals, keys, tss, wmb, cur, next_due, buckets, out, single, size=size, offset=offset,
         none=none{params}):
    ov, ot, ow, ok = out
    last_start = 1  # [last_start, last_end) is the window of the previous element; empty at first
    last_end = 0
    b = None
    for v, k, t, w in zip(vals, keys, tss, wmb):
        if w > cur:
            if w >= next_due:
                self.emit_due(w, cur, out)
                next_due = self.next_due
                last_start, last_end = 1, 0
            cur = w
        if not last_start <= t < last_end:  # most elements fall into the previous element's window
            end = t - (t - offset) % size + size
            if end <= cur + 1:  # late here: on as a partial of one, judged downstream
                ov.append((k, single(v)))
                ot.append(t)
                ow.append(cur)
                ok.append(k)
                continue
            b = buckets.get(end)
            if b is None:
                b = buckets[end] = {{}}
                if end - 1 < next_due:
                    next_due = self.next_due = end - 1
            last_start, last_end = end - size, end
{update}
    return cur
"""


def _make_loop(size: int, offset: int, fn: WindowFunctionSpec) -> Callable[..., int]:
    """The per-batch fold, generated for the window's function as the tumbling operator's loop is."""
    return compile_window_loop(_LOOP, size, offset, fn)


__all__ = [
    "PARTIAL_KEY",
    "MergePartials",
    "WindowPreAggregator",
    "merging_params",
    "pre_aggregation_applies",
]
