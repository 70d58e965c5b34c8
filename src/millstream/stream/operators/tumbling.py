"""Fast path for the most common window: tumbling event-time windows with the default trigger, no allowed
lateness and an incremental function (``reduce`` / ``aggregate`` / built-in aggregates).

Same results as :class:`WindowOperator` (same firing order: by window end, then by the order windows were
first seen), but state is a plain dict per window end ``{end: {key: accumulator}}``, the per-element work
is one loop without timers, and a window fires when the watermark reaches ``end - 1``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import OperatorError
from ..functions import OutputTag
from ..windows import EventTimeTrigger, TimeWindow, TumblingEventTimeWindows
from .base import compute_keys, split_outputs
from .basic import annotate
from .window import WindowFunctionSpec, WindowOperator

_NONE: Any = object()


def fast_path_applies(assigner: Any, trigger: Any, evictor: Any, lateness: int, fn: WindowFunctionSpec) -> bool:
    return (
        type(assigner) is TumblingEventTimeWindows
        and (trigger is None or type(trigger) is EventTimeTrigger)
        and evictor is None
        and lateness == 0
        and fn.kind in ("reduce", "aggregate")
    )


class TumblingWindowOperator(WindowOperator):
    """Tumbling event-time windows with incremental aggregation on plain dicts (see module docstring)."""

    def __init__(
        self,
        name: str,
        uid: str | None,
        key_fn: Callable[[Any], Any] | None,
        assigner: TumblingEventTimeWindows,
        late_tag: OutputTag | None,
        fn: WindowFunctionSpec,
    ) -> None:
        super().__init__(name, uid, key_fn, assigner, None, None, 0, late_tag, fn)
        self.size = assigner.size
        self.offset = assigner.offset
        self.buckets: dict[int, dict[Any, Any]] = {}
        self.next_fire: int | float = float("inf")

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        keys = compute_keys(self, self.key_fns[0], vals, self.known_keys) if self.keyed else [None] * len(vals)
        size, offset = self.size, self.offset
        buckets = self.buckets
        cur = self.wm
        next_fire = self.next_fire
        fn = self.fn
        is_reduce = fn.kind == "reduce"
        if is_reduce:
            red = fn.user
            create = add = None
        else:
            red = None
            create, add = fn.user.create_accumulator, fn.user.add
        late_vals: list[Any] | None = None
        i = -1
        try:
            for v, k, t, w in zip(vals, keys, tss, wmb, strict=True):
                i += 1
                if w > cur:
                    if w >= next_fire:
                        self.emit_wm = cur
                        self.wm = w
                        cur = w
                        self._fire_upto(w)
                        next_fire = self.next_fire
                    cur = w
                end = t - (t - offset) % size + size
                if end <= cur + 1:
                    if late_vals is None:
                        late_vals = []
                    late_vals.append((v, t, cur))
                    continue
                b = buckets.get(end)
                if b is None:
                    b = buckets[end] = {}
                    if end - 1 < next_fire:
                        next_fire = self.next_fire = end - 1
                if is_reduce:
                    acc = b.get(k, _NONE)
                    b[k] = v if acc is _NONE else red(acc, v)  # type: ignore[misc]
                else:
                    acc = b.get(k, _NONE)
                    if acc is _NONE:
                        acc = create()  # type: ignore[misc]
                    b[k] = add(v, acc)  # type: ignore[misc]
        except OperatorError:
            raise
        except TypeError as exc:
            if i >= 0 and tss[i] is None:
                raise self.fail(
                    "the element has no timestamp, so it cannot be put into an event-time window",
                    self.seen + i, vals[i],
                    hint="use from_source/assign_timestamps_and_watermarks with a timestamp assigner",
                ) from exc
            annotate(exc, self, self.seen + i, vals[i])
            raise
        except Exception as exc:
            annotate(exc, self, self.seen + max(i, 0), vals[i] if vals else None)
            raise
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
            if tail >= self.next_fire:
                self._fire_upto(tail)
        self._flush_out(tail)

    def _fire_upto(self, wm: int) -> None:
        """Fire (and purge) every window with ``end - 1 <= wm``, in end order."""
        buckets = self.buckets
        due = sorted(e for e in buckets if e - 1 <= wm)
        fn = self.fn
        window_fn = fn.window_fn
        get_result = None if fn.kind == "reduce" else fn.user.get_result
        ov, ot, ow = self._ov, self._ot, self._ow
        emit_wm = self.emit_wm
        for end in due:
            bucket = buckets.pop(end)
            ts = end - 1
            if window_fn is None:
                results = list(bucket.values()) if get_result is None else [get_result(a) for a in bucket.values()]
                ov.extend(results)
                ot.extend([ts] * len(results))
                ow.extend([emit_wm] * len(results))
            else:
                window = TimeWindow(end - self.size, end)
                for key, acc in bucket.items():
                    value = acc if get_result is None else get_result(acc)
                    try:
                        self.wctx._window, self.wctx._key = window, key
                        res = self._apply_window_fn(window_fn, key, window, [value])
                    except Exception as exc:
                        annotate(exc, self, None, f"window {window!r} of key {key!r}")
                        raise
                    split_outputs(res, ov, self, ts, ot, ow, emit_wm)
                clear = getattr(window_fn, "clear", None)
                if clear is not None and not isinstance(window_fn, type):
                    for key in bucket:
                        self.wctx._window, self.wctx._key = window, key
                        clear(self.wctx)
        self.next_fire = min(buckets) - 1 if buckets else float("inf")
        self.emit_wm = wm

    def snapshot(self) -> Any:
        return {"buckets": {e: dict(b) for e, b in self.buckets.items()}, "wm": self.wm}

    def restore(self, state: Any) -> None:
        self.buckets = {e: dict(b) for e, b in state["buckets"].items()}
        self.next_fire = min(self.buckets) - 1 if self.buckets else float("inf")


__all__ = ["TumblingWindowOperator", "fast_path_applies"]
