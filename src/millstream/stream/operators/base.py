"""The operator contract and the batch format that flows between operators.

A batch is four parallel pieces: ``vals`` (elements), ``tss`` (their event timestamps, ``None`` for none),
``wmb`` (the watermark in effect *before* each element arrives) and ``tail`` (the watermark after the
batch). Watermarks only grow. An operator gets ``process(vals, tss, wmb, tail, input_index)`` — one Python
call per batch — and handles each element exactly as if the watermark advanced to ``wmb[i]`` just before
it; that is how per-element watermark semantics survive batching, and why results never depend on batch
size. An operator emits through its :class:`Output` by calling ``emit`` once per input batch.

Operators are pure logic: no threads, files or clocks. Processing time comes from ``ctx.now()`` (the
runtime's clock), and ``on_processing_time(now)`` is called by the runtime to fire processing-time timers.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Sequence
from operator import length_hint
from typing import Any

from ..errors import KeySelectorError, OperatorError
from ..functions import OutputTag
from ..time import MIN_WATERMARK
from .tolerance import Tolerance

Batch = tuple[list[Any], list[Any], list[int], int]


class Output:
    """Fans an operator's batches out to its consumers: ``targets`` on the main output and
    ``side_targets[tag]`` per side output. Each target is ``(operator, input_index)``."""

    __slots__ = ("records_out", "side_targets", "targets", "watermark")

    def __init__(self) -> None:
        self.targets: list[tuple[Operator, int]] = []
        self.side_targets: dict[OutputTag, list[tuple[Operator, int]]] = {}
        self.records_out = 0  # elements emitted on the main output (read by the runtime's metrics)
        self.watermark = MIN_WATERMARK  # the last watermark emitted

    def emit(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int) -> None:
        self.records_out += len(vals)
        self.watermark = tail
        for op, idx in self.targets:
            op.process(vals, tss, wmb, tail, idx)

    def emit_side(self, tag: OutputTag, vals: list[Any], tss: list[Any], wmb: list[int], tail: int) -> None:
        for op, idx in self.side_targets.get(tag, ()):
            op.process(vals, tss, wmb, tail, idx)

    def wants_side(self, tag: OutputTag) -> bool:
        return tag in self.side_targets


class OperatorContext:
    """What the runtime gives an operator: processing time, job name and parameters."""

    def __init__(self, now: Callable[[], int], job_name: str = "job", params: dict[str, str] | None = None) -> None:
        self.now = now
        self.job_name = job_name
        self.params = params or {}


class Operator:
    """Base of all operators. Subclasses implement ``process`` (and optionally the hooks below)."""

    n_inputs = 1
    subtask_index = 0  # which parallel subtask this instance is, of ``parallelism`` (set by the runtime)
    parallelism = 1
    _given_keys: tuple[Callable[[Any], Any], list[Any], list[Any]] | None = None  # see present_keys
    tolerance: Tolerance | None = None  # on_error: failed elements go to a side output (.tolerance)

    def __init__(self, name: str, uid: str | None = None) -> None:
        self.name = name
        self.uid = uid
        self.out = Output()
        self.ctx: OperatorContext = OperatorContext(lambda: 0)
        self.wm = MIN_WATERMARK  # current (combined) input watermark
        self.seen = 0  # elements received so far (positions in error messages)
        self._input_wms = [MIN_WATERMARK] * self.n_inputs
        self._sides: dict[OutputTag, tuple[list[Any], list[Any], list[int]]] = {}
        self._last_tail = MIN_WATERMARK

    # -- lifecycle ----------------------------------------------------------------------------------
    def setup(self, ctx: OperatorContext) -> None:
        self.ctx = ctx

    user_fn: Any = None

    def open(self) -> None:
        """Called once before the first batch: runs the user function's ``open(runtime_context)``."""
        hook = getattr(self.user_fn, "open", None)
        if hook is not None and not isinstance(self.user_fn, type):
            from .keyed import StreamRuntimeContext

            hook(StreamRuntimeContext(self, None))

    def close(self) -> None:
        """Called once after the last batch, also when the job fails: the user function's ``close()``."""
        hook = getattr(self.user_fn, "close", None)
        if hook is not None and not isinstance(self.user_fn, type):
            hook()

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        raise NotImplementedError

    def on_processing_time(self, now: int) -> None:
        """Fire processing-time timers due at ``now``."""

    def next_processing_time(self) -> int | None:
        """The earliest pending processing-time timer, or ``None``."""
        return None

    def snapshot(self) -> Any:
        """Operator state for a checkpoint (plain picklable data)."""
        return None

    def restore(self, state: Any) -> None:
        """Reinstate state from :meth:`snapshot`."""

    # -- helpers ------------------------------------------------------------------------------------
    def combine_watermarks(self, wmb: list[int], tail: int, idx: int) -> tuple[list[int], int]:
        """For multi-input operators: per-element watermarks as the minimum over all inputs."""
        if self.n_inputs == 1:
            return wmb, tail
        wms = self._input_wms
        others = min((w for i, w in enumerate(wms) if i != idx), default=tail)
        eff = wmb if wmb and wmb[-1] <= others else [w if w < others else others for w in wmb]
        wms[idx] = tail
        return eff, min(wms)

    def fail(
        self,
        problem: Any,
        position: int | None,
        element: Any,
        cls: type[OperatorError] = OperatorError,
        hint: str | None = None,
    ) -> OperatorError:
        return cls(str(problem), operator=self.name, uid=self.uid, position=position, element=element, hint=hint)

    def side(self, tag: OutputTag) -> tuple[list[Any], list[Any], list[int]]:
        buf = self._sides.get(tag)
        if buf is None:
            buf = self._sides[tag] = ([], [], [])
        return buf

    def flush(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int) -> None:
        """Emit the main batch and every side-output buffer, all ending at watermark ``tail``."""
        changed = tail != self._last_tail
        self._last_tail = tail
        if vals or changed:
            self.out.emit(vals, tss, wmb, tail)
        if self.out.side_targets:
            for tag in self.out.side_targets:
                buf = self._sides.pop(tag, None)
                if buf is not None and buf[0]:
                    self.out.emit_side(tag, buf[0], buf[1], buf[2], tail)
                elif changed:
                    self.out.emit_side(tag, [], [], [], tail)
        self._sides.clear()


def failed_index(items: Sequence[Any], it: Iterator[Any]) -> int:
    """The index of the item of ``items`` that ``it`` (their iterator, consumed in C by ``map``) handed out last:
    the element a call that raised was given (``it``'s remaining length tells it)."""
    return len(items) - length_hint(it) - 1


def check_key(op: Operator, key: Any, position: int, element: Any, known: set[Any]) -> None:
    """Fail with :class:`KeySelectorError` if ``key`` cannot be hashed or pickled (checked once per key)."""
    try:
        if key in known:
            return
    except TypeError as exc:
        raise op.fail(
            f"key selector returned an unhashable key of type {type(key).__name__} ({exc})",
            position,
            element,
            KeySelectorError,
            hint="return a hashable key such as a str, int or tuple",
        ) from exc
    try:
        pickle.dumps(key)
    except Exception as exc:
        raise op.fail(
            f"key selector returned a key of type {type(key).__name__} that cannot be pickled ({exc})",
            position,
            element,
            KeySelectorError,
            hint="return a picklable key such as a str, int or tuple",
        ) from exc
    known.add(key)


def present_keys(op: Operator, key_fn: Callable[[Any], Any], vals: list[Any], keys: list[Any]) -> None:
    """Hand ``op`` the keys ``key_fn`` gave the elements of ``vals`` (an exchange computed them to route the
    elements): the :func:`compute_keys` of ``op``'s next ``process(vals, ...)`` call — the same list object, the
    same selector — takes them instead of calling the selector again."""
    op._given_keys = (key_fn, vals, keys)


def compute_keys(op: Operator, key_fn: Callable[[Any], Any], vals: list[Any], known: set[Any]) -> list[Any]:
    """Keys of a batch (those :func:`present_keys` gave for it, else ``key_fn``'s); a raising selector fails
    with the element's position."""
    given = op._given_keys
    if given is not None and given[1] is vals and given[0] is key_fn:
        op._given_keys = None
        keys = given[2]
    else:
        it = iter(vals)
        try:
            keys = list(map(key_fn, it))  # in C; ``it``'s remaining length still tells a failing element
        except Exception as exc:
            i = failed_index(vals, it)
            raise op.fail(
                f"key selector raised {type(exc).__name__}: {exc}", op.seen + i, vals[i], KeySelectorError
            ) from exc
    try:
        new = set(keys) - known
    except TypeError:
        new = set()
        for i, k in enumerate(keys):
            check_key(op, k, op.seen + i, vals[i], known)
    for k in new:
        i = keys.index(k)
        check_key(op, k, op.seen + i, vals[i], known)
    return keys


def split_outputs(results: Any, ov: list[Any], op: Operator, ts: Any, ot: list[Any], ow: list[int], wm: int) -> None:
    """Append a user function's yielded results to the output lists; ``(OutputTag, value)`` goes to a side."""
    if results is None:
        return
    for r in results:
        if type(r) is tuple and len(r) == 2 and isinstance(r[0], OutputTag):
            sv, st, sw = op.side(r[0])
            sv.append(r[1])
            st.append(ts)
            sw.append(wm)
        else:
            ov.append(r)
            ot.append(ts)
            ow.append(wm)


__all__ = [
    "Batch",
    "Operator",
    "OperatorContext",
    "Output",
    "check_key",
    "compute_keys",
    "present_keys",
    "split_outputs",
]
