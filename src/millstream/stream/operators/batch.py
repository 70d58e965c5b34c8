"""Operators of BATCH execution (``RuntimeExecutionMode.BATCH``, :mod:`millstream.stream.batch`)."""

from __future__ import annotations

from typing import Any

from ..time import MAX_WATERMARK
from .base import compute_keys
from .basic import annotate
from .keyed import RollingReduceOperator


def _key_order(keys: list[Any]) -> list[Any]:
    """Flink's batch execution sorts a keyed input by the key's serialized bytes; for string keys that is
    shorter keys first, then by character (the length prefix comes first). Other keys are sorted by value;
    keys of mixed types keep the order they were first seen in."""
    try:
        if all(isinstance(k, str) for k in keys):
            return sorted(keys, key=lambda k: (len(k), k))
        return sorted(keys)
    except TypeError:
        return keys


class FinalRollingReduceOperator(RollingReduceOperator):
    """``reduce``/``sum``/... in BATCH mode: one final result per key at the end of the input, keys in Flink's
    batch order (:func:`_key_order`), each with the timestamp of its key's last element (Flink's batch
    execution of a rolling aggregation: final results, not every update)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_ts: dict[Any, Any] = {}
        self.done = False

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        keys = compute_keys(self, self.key_fn, vals, self.known_keys)
        fn, state, last_ts = self.fn, self.values, self.last_ts
        i = 0
        try:
            for i, v in enumerate(vals):
                k = keys[i]
                state[k] = fn(state[k], v) if k in state else v
                last_ts[k] = tss[i]
        except Exception as exc:
            annotate(exc, self, self.seen + i, vals[i])
            raise
        self.seen += len(vals)
        self.wm = tail
        if tail >= MAX_WATERMARK and not self.done:
            self.done = True
            order = _key_order(list(last_ts))
            out = [state[k] for k in order]
            self.out.emit(out, [last_ts[k] for k in order], [MAX_WATERMARK] * len(out), tail)
            return
        self.out.emit([], [], [], tail)

    def snapshot(self) -> Any:
        return {"values": super().snapshot(), "last_ts": dict(self.last_ts), "done": self.done}

    def restore(self, state: Any) -> None:
        super().restore(state["values"])
        self.last_ts = dict(state["last_ts"])
        self.done = state["done"]


__all__ = ["FinalRollingReduceOperator"]
