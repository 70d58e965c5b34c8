"""Joins. Interval join (Flink's ``IntervalJoinOperator``) and the pairing function behind window joins
(a window join is a two-input :class:`WindowOperator` whose elements are tagged by side).

Interval join, per element of side ``s`` with timestamp ``ts`` (after advancing the watermark):
  1. ``ts < wm`` (strict) → late: side output (``side_output_left/right_late_data``) or dropped;
  2. buffer it under ``(key, ts)``;
  3. pair it with every buffered element of the other side whose timestamp lies in
     ``[ts + lo, ts + hi]`` (left) / ``[ts - hi, ts - lo]`` (right); bounds are inclusive unless made
     exclusive; outputs carry ``max(left_ts, right_ts)``;
  4. schedule cleanup: left buffers at ``ts + hi`` (``ts`` if ``hi <= 0``), right at ``ts - lo``
     (``ts`` if ``lo >= 0``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..functions import OutputTag
from .base import Operator, compute_keys, split_outputs
from .basic import annotate
from .keyed import StreamRuntimeContext
from .rescale import Owns, merge_timers
from .timers import TimerQueue


class JoinContext:
    """``ctx`` of a ProcessJoinFunction."""

    __slots__ = ("_lt", "_op", "_rt")

    def __init__(self, op: IntervalJoinOperator) -> None:
        self._op = op
        self._lt = 0
        self._rt = 0

    def get_left_timestamp(self) -> int:
        return self._lt

    def get_right_timestamp(self) -> int:
        return self._rt

    def get_timestamp(self) -> int:
        return max(self._lt, self._rt)

    def output(self, output_tag: OutputTag, value: Any) -> None:
        sv, st, sw = self._op.side(output_tag)
        sv.append(value)
        st.append(self.get_timestamp())
        sw.append(self._op.wm)


class IntervalJoinOperator(Operator):
    """Keyed interval join of two inputs (see the module docstring)."""

    n_inputs = 2

    def __init__(
        self,
        name: str,
        uid: str | None,
        key_fns: list[Callable[[Any], Any]],
        lower: int,
        upper: int,
        lower_exclusive: bool,
        upper_exclusive: bool,
        fn: Callable[[Any, Any, Any], Iterable[Any] | None],
        user_fn: Any = None,
        late_tags: tuple[OutputTag | None, OutputTag | None] = (None, None),
    ) -> None:
        super().__init__(name, uid)
        self.key_fns = key_fns
        self.lo = lower + 1 if lower_exclusive else lower
        self.hi = upper - 1 if upper_exclusive else upper
        self.fn = fn
        self.user_fn = user_fn
        self.late_tags = late_tags
        self.buffers: list[dict[Any, dict[int, list[Any]]]] = [{}, {}]
        self.timers = TimerQueue()
        self.jctx = JoinContext(self)
        self.known_keys: set[Any] = set()
        self._ov: list[Any] = []
        self._ot: list[Any] = []
        self._ow: list[int] = []

    def open(self) -> None:
        hook = getattr(self.user_fn, "open", None)
        if hook is not None:
            hook(StreamRuntimeContext(self, None))

    def close(self) -> None:
        hook = getattr(self.user_fn, "close", None)
        if hook is not None:
            hook()

    def _advance(self, wm: int) -> None:
        self.wm = wm
        pop = self.timers.pop_due
        while (t := pop(wm)) is not None:
            ts, key, side = t
            if side == 0:
                bts = ts if self.hi <= 0 else ts - self.hi
            else:
                bts = ts + self.lo if self.lo <= 0 else ts
            buf = self.buffers[side].get(key)
            if buf is not None:
                buf.pop(bts, None)
                if not buf:
                    del self.buffers[side][key]

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        wmb, tail = self.combine_watermarks(wmb, tail, input_index)
        keys = compute_keys(self, self.key_fns[input_index], vals, self.known_keys)
        side = input_index
        mine, other = self.buffers[side], self.buffers[1 - side]
        if side == 0:
            rel_lo, rel_hi = self.lo, self.hi
        else:
            rel_lo, rel_hi = -self.hi, -self.lo
        ctx, fn = self.jctx, self.fn
        ov, ot, ow = self._ov, self._ot, self._ow
        i = 0
        try:
            for i, v in enumerate(vals):
                w = wmb[i]
                if w > self.wm:
                    self._advance(w)
                ts = tss[i]
                if ts is None:
                    raise self.fail(
                        "elements of an interval join need timestamps",
                        self.seen + i,
                        v,
                        hint="assign timestamps with a WatermarkStrategy first",
                    )
                if ts < self.wm:
                    tag = self.late_tags[side]
                    if tag is not None:
                        sv, st, sw = self.side(tag)
                        sv.append(v)
                        st.append(ts)
                        sw.append(self.wm)
                    continue
                key = keys[i]
                kb = mine.get(key)
                if kb is None:
                    kb = mine[key] = {}
                kb.setdefault(ts, []).append(v)
                ob = other.get(key)
                if ob:
                    for ots in sorted(ob):
                        if ots < ts + rel_lo or ots > ts + rel_hi:
                            continue
                        for o in ob[ots]:
                            if side == 0:
                                ctx._lt, ctx._rt = ts, ots
                                res = fn(v, o, ctx)
                            else:
                                ctx._lt, ctx._rt = ots, ts
                                res = fn(o, v, ctx)
                            split_outputs(res, ov, self, ts if ts > ots else ots, ot, ow, self.wm)
                if side == 0:
                    cleanup = ts + self.hi if self.hi > 0 else ts
                else:
                    cleanup = ts - self.lo if self.lo < 0 else ts
                self.timers.register(cleanup, key, side)
        except Exception as exc:
            if not hasattr(exc, "operator"):
                annotate(exc, self, self.seen + i, vals[i] if vals else None)
            raise
        self.seen += len(vals)
        if tail > self.wm:
            self._advance(tail)
        self._ov, self._ot, self._ow = [], [], []
        self.flush(ov, ot, ow, tail)

    def snapshot(self) -> Any:
        return {"buffers": [dict(b) for b in self.buffers], "timers": self.timers.snapshot(), "wm": self.wm}

    @staticmethod
    def merge_snapshots(states: list[Any], owns: Owns) -> Any:
        """Rescaling (:mod:`.rescale`): the owned keys' buffered elements and cleanup timers."""
        buffers: list[dict[Any, Any]] = [{}, {}]
        for s in states:
            for side in (0, 1):
                buffers[side].update((k, v) for k, v in s["buffers"][side].items() if owns(k))
        return {
            "buffers": buffers,
            "timers": merge_timers((s["timers"] for s in states), owns),
            "wm": min(s["wm"] for s in states),
        }

    def restore(self, state: Any) -> None:
        self.buffers = [dict(b) for b in state["buffers"]]
        self.timers.restore(state["timers"])


def window_join_function(join_fn: Any, flat: bool) -> Callable[[Any, Any, list[Any]], Iterable[Any]]:
    """The window function of a window join: ``join(left, right)`` for every (left, right) pair of a
    window's elements, lefts in arrival order, each with all rights in arrival order (inner join)."""
    join = getattr(join_fn, "join", join_fn)

    def apply(key: Any, ctx: Any, elements: list[Any]) -> Iterable[Any]:
        lefts = [v for side, v in elements if side == 0]
        rights = [v for side, v in elements if side == 1]
        for left in lefts:
            for right in rights:
                if flat:
                    res = join(left, right)
                    if res is not None:
                        yield from res
                else:
                    yield join(left, right)

    return apply


__all__ = ["IntervalJoinOperator", "JoinContext", "window_join_function"]
