"""Fast path for the most common window: tumbling event-time windows with the default trigger, no allowed
lateness and an incremental function (``reduce`` / ``aggregate`` / built-in aggregates).

Same results as :class:`WindowOperator` (same firing order: by window end, then by the order windows were
first seen), but state is a plain dict per window end ``{end: {key: accumulator}}``, the per-element work
is one loop without timers, and a window fires when the watermark reaches ``end - 1``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from ..errors import OperatorError
from ..functions import OutputTag
from ..windows import EventTimeTrigger, TimeWindow, TumblingEventTimeWindows
from .base import Operator, compute_keys, failed_index, split_outputs
from .basic import annotate
from .rescale import Owns
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


def raise_window_failure(op: Operator, exc: Exception, vals: list[Any], tss: list[Any], vit: Any) -> NoReturn:
    """Fail ``op``'s batch on ``exc``, raised while a window loop took the elements of ``vals`` from ``vit`` (their
    iterator: its remaining length tells the failing element): an element without a timestamp (a ``TypeError``)
    fails as such, with the fix; any other exception is raised naming the element and its position."""
    i = failed_index(vals, vit)
    if isinstance(exc, TypeError) and tss[i] is None:
        raise op.fail(
            "the element has no timestamp, so it cannot be put into an event-time window",
            op.seen + i,
            vals[i],
            hint="use from_source/assign_timestamps_and_watermarks with a timestamp assigner",
        ) from exc
    annotate(exc, op, op.seen + i, vals[i] if vals else None)
    raise exc


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
        self._loop = _make_loop(assigner.size, assigner.offset, fn)

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        keys = compute_keys(self, self.key_fns[0], vals, self.known_keys) if self.keyed else [None] * len(vals)
        vit = iter(vals)  # its remaining length tells the position of a failing element
        try:
            cur, late_vals = self._loop(self, vit, keys, tss, wmb, self.wm, self.next_fire, self.buckets)
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
                wctx = self.wctx
                wctx._window = window
                call = self._window_call(window_fn, window)
                for key, acc in bucket.items():
                    wctx._key = key
                    try:
                        res = call(key, [acc if get_result is None else get_result(acc)])
                    except Exception as exc:
                        annotate(exc, self, None, f"window {window!r} of key {key!r}")
                        raise
                    split_outputs(res, ov, self, ts, ot, ow, emit_wm)
                clear = getattr(window_fn, "clear", None)
                if clear is not None and not isinstance(window_fn, type):
                    for key in bucket:
                        wctx._key = key
                        clear(wctx)
        self.next_fire = min(buckets) - 1 if buckets else float("inf")
        self.emit_wm = wm

    def _window_call(self, wf: Any, window: TimeWindow) -> Callable[[Any, list[Any]], Any]:
        """``(key, values) -> results`` for the window function, resolved once per fired window end."""
        wctx = self.wctx
        non_keyed = self.fn.non_keyed
        proc = getattr(wf, "process", None)
        if proc is not None:
            if non_keyed:
                return lambda key, values: proc(wctx, values)
            return lambda key, values: proc(key, wctx, values)
        app = getattr(wf, "apply", None)
        if app is not None:
            if non_keyed:
                return lambda key, values: app(window, values)
            return lambda key, values: app(key, window, values)
        first = window if self.fn.style == "apply" else wctx
        if non_keyed:
            return lambda key, values: wf(first, values)
        return lambda key, values: wf(key, first, values)

    def snapshot(self) -> Any:
        return {"buckets": {e: dict(b) for e, b in self.buckets.items()}, "wm": self.wm}

    @staticmethod
    def merge_snapshots(states: list[Any], owns: Owns) -> Any:
        """Rescaling (:mod:`.rescale`): the owned keys' accumulators of several subtasks' windows."""
        buckets: dict[Any, dict[Any, Any]] = {}
        for s in states:
            for end, bucket in s["buckets"].items():
                mine = {k: acc for k, acc in bucket.items() if owns(k)}
                if mine:
                    buckets.setdefault(end, {}).update(mine)
        return {"buckets": buckets, "wm": min(s["wm"] for s in states)}

    def restore(self, state: Any) -> None:
        self.buckets = {e: dict(b) for e, b in state["buckets"].items()}
        self.next_fire = min(self.buckets) - 1 if self.buckets else float("inf")


_LOOP = """
def loop(self, vit, keys, tss, wmb, cur, next_fire, buckets, size=size, offset=offset, none=none{params}):
    late_vals = None
    last_start = 1  # [last_start, last_end) is the window of the previous element; empty at first
    last_end = 0
    b = None
    for v, k, t, w in zip(vit, keys, tss, wmb):
        if w > cur:
            if w >= next_fire:
                self.emit_wm = cur
                self.wm = w
                cur = w
                self._fire_upto(w)
                next_fire = self.next_fire
                last_start, last_end = 1, 0
            cur = w
        if not last_start <= t < last_end:  # most elements fall into the previous element's window
            end = t - (t - offset) % size + size
            if end <= cur + 1:
                if late_vals is None:
                    late_vals = []
                late_vals.append((v, t, cur))
                continue
            b = buckets.get(end)
            if b is None:
                b = buckets[end] = {{}}
                if end - 1 < next_fire:
                    next_fire = self.next_fire = end - 1
            last_start, last_end = end - size, end
{update}
    return cur, late_vals
"""


def _make_loop(size: int, offset: int, fn: WindowFunctionSpec) -> Callable[..., tuple[int, list[Any] | None]]:
    """The per-batch loop of the tumbling operator, generated for the window's function so the
    accumulator update is inline (built-in aggregates) or a single call (reduce / AggregateFunction)."""
    return compile_window_loop(_LOOP, size, offset, fn)


def compile_window_loop(template: str, size: int, offset: int, fn: WindowFunctionSpec) -> Callable[..., Any]:
    """Function ``loop`` of ``template`` (``{params}``: the names :func:`update_code` binds, ``{update}``: its
    accumulator update of ``b[k]``, indented by 8), with ``size``, ``offset`` and the sentinel ``none`` bound
    too. Only fixed templates and constants bound as default arguments go into the generated code."""
    env: dict[str, Any] = {"size": size, "offset": offset, "none": _NONE}
    update = update_code(fn, env, 8)
    params = "".join(f", {name}={name}" for name in env if name not in ("size", "offset", "none"))
    namespace = dict(env)
    exec(template.format(params=params, update=update), namespace)  # fixed templates only
    loop: Callable[..., Any] = namespace["loop"]
    return loop


def update_code(fn: WindowFunctionSpec, env: dict[str, Any], indent: int, reload: str | None = None) -> str:
    """Python source that adds element ``v`` of key ``k`` to the accumulator in dict ``b`` (``b[k]``), indented
    by ``indent``; the names it uses (``red``, ``create``, ``add``, fields ``f0``...) are put into ``env``
    (``none`` must be a sentinel there). Shared by the tumbling and the slicing operators.

    With ``reload`` (the name of the variable holding the bucket's end), ``b[k]`` may be the sentinel
    ``spilled`` (the accumulator was written to the state backend): the code then calls
    ``reload(b, k, <end>)``, which puts the accumulator back into ``b`` and returns it; ``spilled`` and
    ``reload`` must be in ``env`` (:mod:`.writebehind`)."""
    from ..aggregates import Aggregates, Count, Max, Mean, Min, Sum

    user = fn.user
    members = user.aggs if type(user) is Aggregates else None
    fusable = members is not None and all(
        type(a) in (Count, Sum, Min, Max, Mean) and not callable(getattr(a, "field", None)) for a in members
    )
    pad = " " * indent
    back = "" if reload is None else f"\n{pad}if acc is spilled:\n{pad}    acc = reload(b, k, {reload})"
    if fn.kind == "reduce":
        env["red"] = user
        update = f"{pad}acc = b.get(k, none){back}\n{pad}b[k] = v if acc is none else red(acc, v)"
    elif fusable and members is not None:
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
        first = f"{pad}    b[k] = [{', '.join(inits)}]"
        update = f"{pad}acc = b.get(k){back}\n{pad}if acc is None:\n{first}\n{pad}else:\n{body}"
    elif type(user) is Count:
        update = f"{pad}b[k] = b.get(k, 0) + 1" if not back else f"{pad}acc = b.get(k, 0){back}\n{pad}b[k] = acc + 1"
    elif type(user) is Sum and not callable(user.field):
        env["f0"] = user.field
        x = "v" if user.field is None else "v[f0]"
        update = (
            f"{pad}b[k] = b.get(k, 0) + {x}" if not back else f"{pad}acc = b.get(k, 0){back}\n{pad}b[k] = acc + {x}"
        )
    else:
        env["create"], env["add"] = user.create_accumulator, user.add
        update = f"{pad}acc = b.get(k, none){back}\n{pad}b[k] = add(v, create() if acc is none else acc)"
    return update


__all__ = ["TumblingWindowOperator", "compile_window_loop", "fast_path_applies"]
