"""Stateless operators: map, filter, flat_map, (non-keyed) process, union, side-output passthrough and
timestamp/watermark assignment inside a job."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..functions import BatchMapFunction, OutputTag
from ..operator_state import (
    FunctionInitializationContext,
    FunctionSnapshotContext,
    OperatorStateSnapshot,
    OperatorStateStore,
    redistribute,
)
from ..time import MAX_WATERMARK, WatermarkStrategy
from .base import Operator, failed_index, split_outputs
from .watermarks import WatermarkGenerator


def annotate(exc: BaseException, op: Operator, position: int | None, element: Any = None) -> None:
    """Record on a user-function exception where it happened (read by the runtime's JobFailedError)."""
    if getattr(exc, "_millstream_where", None) is None:
        try:
            exc._millstream_where = (op.name, op.uid, position, element)  # type: ignore[attr-defined]
        except Exception:  # pragma: no cover - exceptions without __dict__
            pass


def call_each(op: Operator, fn: Callable[[Any], Any], vals: list[Any]) -> list[Any]:
    """``[fn(v) for v in vals]``, looped in C; an exception is annotated with ``op`` and the failing element's
    position (``op.seen`` + its index) before it propagates."""
    it = iter(vals)
    try:
        return list(map(fn, it))
    except Exception as exc:
        i = failed_index(vals, it)
        annotate(exc, op, op.seen + i, vals[i])
        raise


@contextmanager
def tolerating(
    op: Operator, i: int, vals: list[Any], tss: list[Any], wmb: list[int], ov: list[Any], ot: list[Any], ow: list[int]
) -> Iterator[None]:
    """Around one element's user-function call of an operator with ``on_error``: if it raises, drop what it
    output for that element (main and side outputs) and hand the element to the operator's tolerance."""
    marks = (len(ov), {tag: len(buf[0]) for tag, buf in op._sides.items()})
    try:
        yield
    except Exception as exc:
        n, sides = marks
        del ov[n:], ot[n:], ow[n:]
        for tag, buf in op._sides.items():
            k = sides.get(tag, 0)
            del buf[0][k:], buf[1][k:], buf[2][k:]
        annotate(exc, op, op.seen + i, vals[i])
        assert op.tolerance is not None
        op.tolerance.handle(op, exc, op.seen + i, vals[i], tss[i], wmb[i])


class MapOperator(Operator):
    """``map(f)``: one output per element, same timestamp and watermark. A :class:`BatchMapFunction` maps each
    batch in one call (per element again if that call raises, to name the failing element)."""

    def __init__(self, name: str, uid: str | None, fn: Callable[[Any], Any]) -> None:
        super().__init__(name, uid)
        self.fn = fn
        self._batch = fn.map_batch if isinstance(fn, BatchMapFunction) else None

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        fn = self.fn
        if self.tolerance is not None:
            self._process_tolerant(vals, tss, wmb, tail)
            return
        if self._batch is not None:
            try:
                batch = self._batch(vals)
            except Exception:
                pass  # (the per-element path below fails on the element itself)
            else:
                self.seen += len(vals)
                self.out.emit(batch, tss, wmb, tail)
                return
        out = call_each(self, fn, vals)
        self.seen += len(vals)
        self.out.emit(out, tss, wmb, tail)

    def _process_tolerant(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int) -> None:
        tolerance = self.tolerance
        assert tolerance is not None
        out: list[Any] = []
        failed: list[int] = []
        it = iter(vals)
        while True:
            try:
                out.extend(map(self.fn, it))  # keeps what came before a failure; ``it`` is past the failed one
                break
            except Exception as exc:
                i = len(out) + len(failed)
                annotate(exc, self, self.seen + i, vals[i])
                tolerance.handle(self, exc, self.seen + i, vals[i], tss[i], wmb[i])
                failed.append(i)
        self.seen += len(vals)
        if failed:
            gone = set(failed)
            tss = [t for j, t in enumerate(tss) if j not in gone]
            wmb = [w for j, w in enumerate(wmb) if j not in gone]
        self.flush(out, tss, wmb, tail)


class FilterOperator(Operator):
    """``filter(f)``: keeps elements where ``f`` is true; a dropped element's watermark advance still
    reaches the next kept element (watermarks are "before" each element)."""

    def __init__(self, name: str, uid: str | None, fn: Callable[[Any], bool]) -> None:
        super().__init__(name, uid)
        self.fn = fn

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        fn = self.fn
        it = iter(vals)
        tolerance = self.tolerance
        if tolerance is None:
            keep = call_each(self, fn, vals)  # (compress below takes their truth)
        else:
            keep = []
            while True:
                try:
                    keep.extend(map(fn, it))  # keeps what came before a failure; ``it`` is past the failed one
                    break
                except Exception as exc:
                    i = len(keep)
                    annotate(exc, self, self.seen + i, vals[i])
                    tolerance.handle(self, exc, self.seen + i, vals[i], tss[i], wmb[i])
                    keep.append(False)
        self.seen += len(vals)
        emit = self.out.emit if tolerance is None else self.flush
        if all(keep):
            emit(vals, tss, wmb, tail)
            return
        ov = [v for v, k in zip(vals, keep, strict=True) if k]
        ot = [t for t, k in zip(tss, keep, strict=True) if k]
        ow = [w for w, k in zip(wmb, keep, strict=True) if k]
        emit(ov, ot, ow, tail)


class FlatMapOperator(Operator):
    """``flat_map(f)``: any number of outputs per element, each with the element's timestamp."""

    def __init__(self, name: str, uid: str | None, fn: Callable[[Any], Any]) -> None:
        super().__init__(name, uid)
        self.fn = fn

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        fn = self.fn
        ov: list[Any] = []
        ot: list[Any] = []
        ow: list[int] = []
        i = 0
        if self.tolerance is not None:
            for i, v in enumerate(vals):
                with tolerating(self, i, vals, tss, wmb, ov, ot, ow):
                    res = fn(v)
                    if res is not None:
                        split_outputs(res, ov, self, tss[i], ot, ow, wmb[i])
            self.seen += len(vals)
            self.flush(ov, ot, ow, tail)
            return
        try:
            for i, v in enumerate(vals):
                res = fn(v)
                if res is None:
                    continue
                split_outputs(res, ov, self, tss[i], ot, ow, wmb[i])
        except Exception as exc:
            annotate(exc, self, self.seen + i, vals[i])
            raise
        self.seen += len(vals)
        self.flush(ov, ot, ow, tail)


class ProcessContext:
    """``ctx`` of a non-keyed :class:`ProcessFunction`: timestamp, watermark/processing time, side output."""

    __slots__ = ("_op", "_ts")

    def __init__(self, op: ProcessOperator) -> None:
        self._op = op
        self._ts: Any = None

    def timestamp(self) -> int | None:
        return self._ts

    def timer_service(self) -> ProcessContext:
        return self

    def current_watermark(self) -> int:
        return self._op.wm

    def current_processing_time(self) -> int:
        return self._op.ctx.now()

    def output(self, output_tag: OutputTag, value: Any) -> None:
        sv, st, sw = self._op.side(output_tag)
        sv.append(value)
        st.append(self._ts)
        sw.append(self._op.wm)

    def register_event_time_timer(self, t: int) -> None:
        raise TypeError("timers are only available on keyed streams: use key_by(...).process(KeyedProcessFunction)")

    register_processing_time_timer = register_event_time_timer


class ProcessOperator(Operator):
    """``process(ProcessFunction)`` on a non-keyed stream."""

    def __init__(self, name: str, uid: str | None, fn: Callable[[Any, Any], Any]) -> None:
        super().__init__(name, uid)
        self.fn = fn
        self.pctx = ProcessContext(self)

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        fn, ctx = self.fn, self.pctx
        ov: list[Any] = []
        ot: list[Any] = []
        ow: list[int] = []
        i = 0
        if self.tolerance is not None:
            for i, v in enumerate(vals):
                self.wm = wmb[i]
                ctx._ts = tss[i]
                with tolerating(self, i, vals, tss, wmb, ov, ot, ow):
                    split_outputs(fn(v, ctx), ov, self, tss[i], ot, ow, wmb[i])
            self.seen += len(vals)
            self.wm = tail
            self.flush(ov, ot, ow, tail)
            return
        try:
            for i, v in enumerate(vals):
                self.wm = wmb[i]
                ctx._ts = tss[i]
                split_outputs(fn(v, ctx), ov, self, tss[i], ot, ow, wmb[i])
        except Exception as exc:
            annotate(exc, self, self.seen + i, vals[i])
            raise
        self.seen += len(vals)
        self.wm = tail
        self.flush(ov, ot, ow, tail)


class UnionOperator(Operator):
    """``union``: forwards every input; the watermark is the minimum over the inputs."""

    def __init__(self, name: str, uid: str | None, n_inputs: int) -> None:
        self.n_inputs = n_inputs
        super().__init__(name, uid)

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        eff, t = self.combine_watermarks(wmb, tail, input_index)
        if vals or t != self._last_tail:
            self._last_tail = t
            self.out.emit(vals, tss, eff, t)


class PassthroughOperator(Operator):
    """Forwards its input unchanged (the node behind ``get_side_output``)."""

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        self.out.emit(vals, tss, wmb, tail)


class AssignTimestampsOperator(Operator):
    """``assign_timestamps_and_watermarks(strategy)``: re-stamps elements and generates watermarks from
    them, ignoring upstream watermarks except the final one (as Flink does)."""

    def __init__(self, name: str, uid: str | None, strategy: WatermarkStrategy) -> None:
        super().__init__(name, uid)
        self.gen = WatermarkGenerator(strategy, self)

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        ntss = self.gen.timestamps(vals, tss, self.seen)
        out_wmb = self.gen.advance(ntss)
        self.seen += len(vals)
        t = MAX_WATERMARK if tail == MAX_WATERMARK else self.gen.wm
        if vals or t != self._last_tail:
            self._last_tail = t
            self.out.emit(vals, ntss, out_wmb, t)


class RestampOperator(Operator):
    """Sets each element's timestamp to ``fn(element)``; elements and watermarks pass unchanged. The SQL layer's
    way to window by a time attribute that is not its rows' timestamp (an interval join keeps the time attributes
    of both inputs, and its watermark is held back so that neither is late)."""

    def __init__(self, name: str, uid: str | None, fn: Callable[[Any], int]) -> None:
        super().__init__(name, uid)
        self.fn = fn

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        it = iter(vals)
        try:
            ntss = [self.fn(v) for v in it]
        except Exception as exc:
            i = failed_index(vals, it)
            annotate(exc, self, self.seen + i, vals[i])
            raise
        self.seen += len(vals)
        self.out.emit(vals, ntss, wmb, tail)


class OperatorStateHost(Operator):
    """Mixin (listed first) for the operators of a ``map``/``filter``/``flat_map``/non-keyed ``process`` whose
    function is a :class:`~millstream.stream.functions.CheckpointedFunction`: holds its
    :class:`~millstream.stream.operator_state.OperatorStateStore`.

    The runtime opens operators before it restores a checkpoint, so the function's ``initialize_state`` and
    then its ``open`` run on the first of: the first batch, the first snapshot, ``close`` — always after the
    restore and before the function sees an element, as in Flink. ``snapshot`` calls ``snapshot_state`` and
    returns ``{"operator_state": {name: (mode, elements)}}``; on rescaling the runtime calls
    :meth:`redistribute_snapshots` (list state in even ranges, union state whole to every subtask).
    """

    _store: OperatorStateStore | None = None
    _restored: OperatorStateSnapshot | None = None
    _initialized = False

    def open(self) -> None:
        """Deferred: see the class docstring."""

    def initialize(self) -> None:
        """Run the function's ``initialize_state`` and ``open`` (once)."""
        if self._initialized:
            return
        self._initialized = True
        self._store = OperatorStateStore(self._restored)
        context = FunctionInitializationContext(self._store, self._restored is not None)
        try:
            self.user_fn.initialize_state(context)
        except Exception as exc:
            annotate(exc, self, None)
            raise
        super().open()

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        if not self._initialized:
            self.initialize()
        super().process(vals, tss, wmb, tail, input_index)

    def close(self) -> None:
        self.initialize()
        super().close()

    def snapshot(self) -> Any:
        self.initialize()
        assert self._store is not None
        try:
            self.user_fn.snapshot_state(FunctionSnapshotContext(self.ctx.now()))
        except Exception as exc:
            annotate(exc, self, None)
            raise
        return {"operator_state": self._store.snapshot()}

    def restore(self, state: Any) -> None:
        if self._initialized:
            raise RuntimeError(f"operator {self.name!r}: state restored after initialize_state ran")
        self._restored = dict((state or {}).get("operator_state") or {})

    @staticmethod
    def redistribute_snapshots(states: list[Any], index: int, parallelism: int) -> Any:
        """Subtask ``index`` of ``parallelism``'s state from all old subtasks' snapshots (in subtask order)."""
        parts = [(s or {}).get("operator_state") for s in states]
        return {"operator_state": redistribute(parts, index, parallelism)}


class CheckpointedMapOperator(OperatorStateHost, MapOperator):
    """``map`` with a :class:`~millstream.stream.functions.CheckpointedFunction`."""


class CheckpointedFilterOperator(OperatorStateHost, FilterOperator):
    """``filter`` with a :class:`~millstream.stream.functions.CheckpointedFunction`."""


class CheckpointedFlatMapOperator(OperatorStateHost, FlatMapOperator):
    """``flat_map`` with a :class:`~millstream.stream.functions.CheckpointedFunction`."""


class CheckpointedProcessOperator(OperatorStateHost, ProcessOperator):
    """Non-keyed ``process`` with a :class:`~millstream.stream.functions.CheckpointedFunction`."""


__all__ = [
    "AssignTimestampsOperator",
    "CheckpointedFilterOperator",
    "CheckpointedFlatMapOperator",
    "CheckpointedMapOperator",
    "CheckpointedProcessOperator",
    "FilterOperator",
    "FlatMapOperator",
    "MapOperator",
    "OperatorStateHost",
    "PassthroughOperator",
    "ProcessOperator",
    "RestampOperator",
    "UnionOperator",
    "annotate",
]
