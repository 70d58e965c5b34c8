"""Watermark generation logic (pure): per-element ``wm = max_ts - d - 1`` per partition, and the
minimum over a source's partitions with idle ones left out (SEMANTICS.md, "Watermarks")."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any

from ..errors import TimestampError
from ..time import MAX_WATERMARK, MIN_WATERMARK, WatermarkStrategy, as_timestamp_fn
from .base import failed_index


class WatermarkGenerator:
    """Timestamps and watermarks of one input partition under a :class:`WatermarkStrategy`.

    ``timestamps(vals, record_tss, pos)`` applies the timestamp assigner (checking every result is an
    ``int``); ``advance(tss)`` returns the watermark before each element and moves ``wm`` past the batch.
    """

    def __new__(cls, strategy: WatermarkStrategy, owner: Any) -> WatermarkGenerator:
        if cls is WatermarkGenerator and strategy.generator_supplier is not None:
            return super().__new__(UserWatermarkGenerator)
        return super().__new__(cls)

    def __init__(self, strategy: WatermarkStrategy, owner: Any) -> None:
        self.strategy = strategy
        self.owner = owner  # an Operator-like object with name/uid, for error messages
        self.assign: Callable[[Any, Any], Any] | None = (
            as_timestamp_fn(strategy.timestamp_assigner) if strategy.timestamp_assigner is not None else None
        )
        self.d1 = None if strategy.out_of_orderness is None else strategy.out_of_orderness + 1
        self.max_ts = MIN_WATERMARK
        self.wm = MIN_WATERMARK
        #: no assigner and no watermarks (``no_watermarks()``): ``timestamps`` returns the record timestamps as
        #: they are and ``advance`` the unmoved watermark for each element, so callers may skip both calls
        self.passthrough = self.assign is None and self.d1 is None and type(self) is WatermarkGenerator

    def _fail(self, problem: str, pos: int, element: Any, exc: BaseException | None = None) -> TimestampError:
        return TimestampError(
            problem,
            operator=self.owner.name,
            uid=getattr(self.owner, "uid", None),
            position=pos,
            element=element,
            hint="the timestamp assigner must return epoch milliseconds as an int",
        )

    def timestamps(self, vals: list[Any], record_tss: list[Any], base_pos: int) -> list[Any]:
        fn = self.assign
        if fn is None:
            tss = record_tss
        else:
            it = iter(vals)
            try:
                tss = list(map(fn, it, record_tss))  # in C; ``it``'s remaining length locates a failure
            except Exception as exc:
                i = failed_index(vals, it)
                raise self._fail(
                    f"timestamp assigner raised {type(exc).__name__}: {exc}", base_pos + i, vals[i]
                ) from exc
        if self.d1 is not None or fn is not None:
            types = set(map(type, tss))
            if types and types != {int}:
                for i, t in enumerate(tss):
                    if type(t) is not int:
                        what = "no timestamp" if t is None else f"{type(t).__name__} {t!r}"
                        hint = "" if fn is not None else " (the element has no timestamp; add with_timestamp_assigner)"
                        raise self._fail(
                            f"timestamp is {what}, not an int of epoch milliseconds{hint}",
                            base_pos + i,
                            vals[i],
                        )
        return tss

    def advance(self, tss: list[Any]) -> list[int]:
        wm = self.wm
        d1 = self.d1
        if d1 is None or not tss:
            return [wm] * len(tss)
        mx = self.max_ts
        out: list[int] = []
        app = out.append
        for t in tss:
            app(wm)
            if t > mx:
                mx = t
                if t - d1 > wm:
                    wm = t - d1
        self.max_ts = mx
        self.wm = wm
        return out


class UserWatermarkGenerator(WatermarkGenerator):
    """A :class:`WatermarkGenerator` driven by a user generator (``WatermarkStrategy.for_generator``):
    ``on_event`` then ``on_periodic_emit`` after every element; the watermark before an element is the one
    emitted after the previous element (never going back)."""

    def __init__(self, strategy: WatermarkStrategy, owner: Any) -> None:
        super().__init__(strategy, owner)
        supplier = strategy.generator_supplier
        try:
            self.user = supplier(None)
        except TypeError:
            self.user = supplier()
        self._vals: list[Any] = []
        self._emitted = MIN_WATERMARK
        gen = self

        class _Output:
            def emit_watermark(self, watermark: Any) -> None:
                ts = int(getattr(watermark, "timestamp", watermark))
                if ts > gen._emitted:
                    gen._emitted = ts

            def mark_idle(self) -> None:
                pass

            def mark_active(self) -> None:
                pass

        self._output = _Output()

    def timestamps(self, vals: list[Any], record_tss: list[Any], base_pos: int) -> list[Any]:
        self._vals = vals
        return super().timestamps(vals, record_tss, base_pos)

    def advance(self, tss: list[Any]) -> list[int]:
        out: list[int] = []
        vals = self._vals if len(self._vals) == len(tss) else [None] * len(tss)
        for v, t in zip(vals, tss, strict=True):
            out.append(self.wm)
            self.user.on_event(v, t, self._output)
            self.user.on_periodic_emit(self._output)
            if self._emitted > self.wm:
                self.wm = self._emitted
        return out


def _clamp(wmb: list[int], low: int, high: int) -> list[int]:
    """``[max(low, min(w, high)) for w in wmb]`` for a non-decreasing ``wmb``, by slicing (no Python call per
    element): the elements below ``low`` become ``low``, those above ``high`` become ``high``."""
    n = len(wmb)
    if high <= low:
        return [low] * n
    i = bisect_left(wmb, low)
    j = bisect_right(wmb, high, i)
    if i == 0 and j == n:
        return wmb
    return [low] * i + wmb[i:j] + [high] * (n - j)


class PartitionWatermarks:
    """A source's combined watermark: the minimum over its partitions that are neither finished nor idle.

    ``combine(p, wmb)`` turns one partition's per-element watermarks into the source's; the combined
    watermark never goes back (a partition returning from idleness cannot pull it down).
    """

    def __init__(self, partitions: list[Any]) -> None:
        self.wms: dict[Any, int] = {p: MIN_WATERMARK for p in partitions}
        self.idle: set[Any] = set()
        self.finished: set[Any] = set()
        self.combined = MIN_WATERMARK

    def add_partition(self, p: Any) -> None:
        self.wms.setdefault(p, MIN_WATERMARK)

    def _others(self, p: Any) -> int:
        m = MAX_WATERMARK
        for q, w in self.wms.items():
            if q != p and q not in self.idle and w < m:
                m = w
        return m

    def combine(self, p: Any, wmb: list[int], new_wm: int) -> tuple[list[int], int]:
        self.idle.discard(p)
        others = self._others(p)
        last = self.combined
        if wmb and wmb[-1] <= others and wmb[0] >= last:
            eff = wmb
        elif wmb:
            eff = _clamp(wmb, last, others)
            last = eff[-1]
        else:
            eff = wmb
        self.wms[p] = new_wm
        tail = min(new_wm, others)
        if tail < last:
            tail = last
        self.combined = tail
        return eff, tail

    def finish(self, p: Any) -> int:
        self.wms[p] = MAX_WATERMARK
        self.finished.add(p)
        return self._recompute()

    def set_idle(self, p: Any, idle: bool) -> int:
        if idle:
            self.idle.add(p)
        else:
            self.idle.discard(p)
        return self._recompute()

    def _recompute(self) -> int:
        active = [w for q, w in self.wms.items() if q not in self.idle]
        if active:
            m = min(active)
            if m > self.combined:
                self.combined = m
        return self.combined


__all__ = ["PartitionWatermarks", "UserWatermarkGenerator", "WatermarkGenerator"]
