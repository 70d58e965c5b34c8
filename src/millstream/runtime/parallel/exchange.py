"""Exchanges: the two ends of a non-``FORWARD`` edge between parallel subtasks.

On the producing side an :class:`ExchangeSender` sits on the producer subtask's output like any operator.
For every batch it routes each element to downstream subtasks by the edge's
:class:`~millstream.stream.partitioning.Partitioning`, keeping each element's timestamp and the watermark in
effect before it (``wmb``), and gives every downstream subtask the batch's watermark ``tail`` — whether or not
any element went there — so watermarks travel in order with records on every channel, as in Flink. A sub-batch
for the sender's own worker is delivered at once (a direct call); the others are queued per peer worker and
written as one frame per peer per round.

A channel also carries its producer's status: ``ACTIVE``, ``IDLE`` (every source upstream of the producer in
its worker is idle — no split, or idle per ``with_idleness`` — or every channel into it is), and ``END``
(its upstream will send nothing more: the sources finished, or the job is stopping), and checkpoint barriers
(``BARRIER``, the checkpoint id in the ``tail`` field): a gate **blocks** a channel whose barrier arrived —
what comes after it waits in the gate — until the checkpoint is taken (Flink's aligned barriers; see
:mod:`millstream.runtime.parallel.worker`).

On the consuming side an :class:`InputGate` per (consumer subtask, input) merges its channels as a source
merges partitions (:class:`~millstream.stream.operators.watermarks.PartitionWatermarks`): the input watermark
is the minimum over the channels that are neither idle nor finished, computed per element, and never goes back.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from itertools import compress, repeat
from operator import not_
from typing import Any

from ...stream.errors import KeySelectorError, OperatorError
from ...stream.keygroups import KeyGroupAssigner, KeyGroupError, canonical_key_bytes
from ...stream.operators.base import Operator, failed_index, present_keys
from ...stream.operators.basic import annotate
from ...stream.operators.preagg import Batch, WindowPreAggregator
from ...stream.operators.watermarks import PartitionWatermarks
from ...stream.partitioning import Partitioning, rescale_targets
from ...stream.time import MAX_WATERMARK, MIN_WATERMARK

ACTIVE, IDLE, END, BARRIER = 0, 1, 2, 3

SubBatch = tuple[int, list[Any], list[Any], list[int], int, int, list[Any] | None]
"""What crosses a channel: ``(edge, vals, tss, wmb, tail, status, keys)``; the sender is the peer it comes
from. ``keys`` are the elements' keys on a ``HASH`` edge (computed once, by the sender, to route them; the keyed
operator downstream takes them instead of calling the key selector again: :func:`present_keys`), else ``None``."""

_Part = tuple[list[Any], list[Any], list[int], list[Any] | None]


def _split(
    subs: list[int], n: int, vals: list[Any], tss: list[Any], wmb: list[int], keys: list[Any] | None
) -> dict[int, _Part]:
    """The elements (and their timestamps, watermarks and keys) going to each subtask, in order."""
    first = subs[0]
    if subs.count(first) == len(subs):
        return {first: (vals, tss, wmb, keys)}
    per: dict[int, _Part] = {}
    if n == 2:  # the commonest case, in C: ``subs`` is subtask 1's mask
        for t, mask in ((0, list(map(not_, subs))), (1, subs)):
            per[t] = (
                list(compress(vals, mask)),
                list(compress(tss, mask)),
                list(compress(wmb, mask)),
                None if keys is None else list(compress(keys, mask)),
            )
        return per
    lists: dict[int, tuple[list[Any], list[Any], list[int], list[Any]]] = {}
    for s, v, ts, w, k in zip(subs, vals, tss, wmb, keys or repeat(None), strict=False):
        p = lists.get(s)
        if p is None:
            p = lists[s] = ([], [], [], [])
        p[0].append(v)
        p[1].append(ts)
        p[2].append(w)
        p[3].append(k)
    for t, (pv, pt, pw, pk) in lists.items():
        per[t] = (pv, pt, pw, None if keys is None else pk)
    return per


class ExchangeSender:
    """The producing end of edge ``edge`` in subtask ``index`` (see the module docstring).

    ``deliver_local(sub_batch)`` hands a sub-batch to this worker's own consumer subtask; ``outbox[peer]``
    collects the sub-batches for every other worker. ``consumer`` names the downstream operator's subtask for
    error messages (a key selector or partitioner failing here fails the job naming it).

    With ``pre_aggregator`` (a ``HASH`` edge into a window that :mod:`~millstream.stream.operators.preagg`
    applies to) the elements are folded into partials per key and window first and the partials are routed;
    everything held goes out before a checkpoint barrier and before the channel turns idle or ends."""

    n_inputs = 1

    def __init__(
        self,
        edge: int,
        partitioning: Partitioning,
        index: int,
        up_parallelism: int,
        down_parallelism: int,
        down_max_parallelism: int,
        deliver_local: Callable[[SubBatch], None],
        outbox: dict[int, list[SubBatch]],
        consumer: str,
        pre_aggregator: WindowPreAggregator | None = None,
        consumer_uid: str | None = None,
    ) -> None:
        self.edge = edge
        self.partitioning = partitioning
        self.index = index
        self.n = down_parallelism
        self.deliver_local = deliver_local
        self.outbox = outbox
        self.consumer = consumer
        self.name = f"exchange to {consumer}"
        self.uid: str | None = None
        self.strategy = partitioning.strategy
        if self.strategy == "RESCALE":
            self.targets = list(rescale_targets(index, up_parallelism, down_parallelism))
        elif self.strategy == "FORWARD":
            self.targets = [index]
        else:
            self.targets = list(range(down_parallelism))
        self.assigner = KeyGroupAssigner(down_max_parallelism, down_parallelism)
        self.key_fn = partitioning.key_fn
        self.custom = partitioning.partitioner
        self.rr = index  # round-robin start (spread the first elements of every subtask)
        self.rnd = random.Random(index)
        self.last_tail = [MIN_WATERMARK] * down_parallelism
        self.status = ACTIVE
        self.seen = 0
        self.records_out = 0
        self.preagg = pre_aggregator
        self.window = Operator(consumer, consumer_uid)  # where a pre-aggregated element's error happened

    # -- the operator face (the producer's Output calls this) --------------------------------------------
    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        strategy = self.strategy
        if self.status == END:  # processing-time timers firing after the end of input: not delivered
            return
        per: dict[int, _Part]
        n_in = len(vals)
        if self.preagg is not None:
            vals, tss, wmb, keys = self._fold(vals, tss, wmb, tail)
            per = _split(self._hash_subtasks(keys, vals), self.n, vals, tss, wmb, keys) if vals else {}
        elif not vals:
            per = {}
        elif strategy == "HASH":
            keys = self._keys(vals)
            per = _split(self._hash_subtasks(keys, vals), self.n, vals, tss, wmb, keys)
        elif strategy == "CUSTOM" or strategy == "SHUFFLE":
            per = _split(self._subtasks(vals), self.n, vals, tss, wmb, None)
        elif strategy == "REBALANCE" or strategy == "RESCALE":
            per = self._round_robin(vals, tss, wmb)
        elif strategy == "BROADCAST":
            per = {t: (vals, tss, wmb, None) for t in self.targets}
        else:  # GLOBAL, FORWARD
            per = {self.targets[0]: (vals, tss, wmb, None)}
        self.seen += n_in
        self.records_out += len(vals)
        if self.status == IDLE:
            self.set_status(ACTIVE)  # data from an idle producer: every channel is active again (as Flink says)
        last = self.last_tail
        for t in range(self.n):
            part = per.get(t)
            if part is None:
                if tail == last[t]:
                    continue
                self._send(t, (self.edge, [], [], [], tail, ACTIVE, None))
            else:
                self._send(t, (self.edge, part[0], part[1], part[2], tail, ACTIVE, part[3]))
            last[t] = tail

    def _fold(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int) -> Batch:
        """Pre-aggregate a batch: the partials (and late elements) to route, with their keys."""
        assert self.preagg is not None
        keys = self._keys(vals) if vals else []
        vit = iter(vals)
        try:
            ov, ot, ow, ok = self.preagg.add(vit, keys, tss, wmb, tail)
        except Exception as exc:
            i = failed_index(vals, vit)
            if isinstance(exc, TypeError) and tss[i] is None:
                raise self._fail(
                    "the element has no timestamp, so it cannot be put into an event-time window",
                    i,
                    vals,
                    hint="use from_source/assign_timestamps_and_watermarks with a timestamp assigner",
                ) from exc
            if isinstance(exc, TypeError) and _unhashable(keys[i]):
                raise self._fail(
                    f"key selector returned an unhashable key of type {type(keys[i]).__name__}",
                    i,
                    vals,
                    KeySelectorError,
                    "return a hashable key such as a str, int or tuple",
                ) from exc
            annotate(exc, self.window, self.seen + i, vals[i])
            raise
        return ov, ot, ow, ok

    def _flush_partials(self) -> None:
        """Send every partial held, before a barrier or the end (their watermark is the last one sent)."""
        if self.preagg is None or not self.preagg.buckets:
            return
        vals, tss, wmb, keys = self.preagg.flush()
        per = _split(self._hash_subtasks(keys, vals), self.n, vals, tss, wmb, keys)
        self.records_out += len(vals)
        for t, part in per.items():
            self._send(t, (self.edge, part[0], part[1], part[2], self.last_tail[t], ACTIVE, part[3]))

    def _send(self, t: int, sub: SubBatch) -> None:
        if t == self.index:
            self.deliver_local(sub)
        else:
            self.outbox[t].append(sub)

    def _fail(
        self,
        problem: str,
        i: int,
        vals: list[Any],
        cls: type[OperatorError] = OperatorError,
        hint: str | None = None,
    ) -> OperatorError:
        return cls(problem, operator=self.consumer, position=self.seen + i, element=vals[i], hint=hint)

    def _keys(self, vals: list[Any]) -> list[Any]:
        key_fn = self.key_fn
        assert key_fn is not None
        it = iter(vals)
        try:
            return list(map(key_fn, it))
        except Exception as exc:
            i = failed_index(vals, it)
            raise self._fail(f"key selector raised {type(exc).__name__}: {exc}", i, vals, KeySelectorError) from exc

    def _hash_subtasks(self, keys: list[Any], vals: list[Any]) -> list[int]:
        if self.n == 1:
            return [0] * len(keys)
        try:
            return self.assigner.subtasks(keys)
        except KeyGroupError as exc:
            i = next(j for j, k in enumerate(keys) if _not_encodable(k))
            raise self._fail(exc.message, i, vals, KeySelectorError, exc.hint) from exc

    def _subtasks(self, vals: list[Any]) -> list[int]:
        """Subtasks of a ``SHUFFLE`` or ``CUSTOM`` edge's elements."""
        n = self.n
        if self.strategy == "SHUFFLE":
            rnd = self.rnd.randrange
            return [rnd(n) for _ in vals]
        keys = self._keys(vals)
        part = self.custom
        assert part is not None
        out = []
        for i, k in enumerate(keys):
            try:
                s = part(k, n)
            except Exception as exc:
                raise self._fail(f"partitioner raised {type(exc).__name__}: {exc}", i, vals) from exc
            if type(s) is not int or not 0 <= s < n:
                raise self._fail(f"partitioner returned {s!r}, not a subtask index from 0 to {n - 1}", i, vals)
            out.append(s)
        return out

    def _round_robin(self, vals: list[Any], tss: list[Any], wmb: list[int]) -> dict[int, _Part]:
        targets = self.targets
        m = len(targets)
        start = self.rr % m
        self.rr = (start + len(vals)) % m
        per: dict[int, _Part] = {}
        for j, t in enumerate(targets):
            k0 = (j - start) % m
            if k0 < len(vals):
                per[t] = (vals[k0::m], tss[k0::m], wmb[k0::m], None)
        return per

    # -- status --------------------------------------------------------------------------------------
    def send_barrier(self, checkpoint_id: int) -> None:
        """Checkpoint barrier ``checkpoint_id`` to every downstream subtask, after everything sent before."""
        if self.status == END:
            return  # an ended channel counts as aligned downstream
        self._flush_partials()
        for t in range(self.n):
            self._send(t, (self.edge, [], [], [], checkpoint_id, BARRIER, None))

    def set_status(self, status: int) -> None:
        """Tell every downstream subtask that this producer is now ``IDLE``, ``ACTIVE`` again, or at its ``END``."""
        if status == self.status or self.status == END:
            return
        if status != ACTIVE:  # an idle or ended input no longer holds the window back: what it holds goes first
            self._flush_partials()
        self.status = status
        for t in range(self.n):
            self._send(t, (self.edge, [], [], [], self.last_tail[t], status, None))


def _unhashable(key: Any) -> bool:
    return _raises(hash, key, TypeError)


def _not_encodable(key: Any) -> bool:
    return _raises(canonical_key_bytes, key, KeyGroupError)


def _raises(check: Callable[[Any], Any], key: Any, error: type[Exception]) -> bool:
    try:
        check(key)
    except error:
        return True
    return False


class InputGate:
    """The consuming end of an edge in one subtask: merges the channels from ``channels`` (upstream subtask
    indexes) into input ``input_index`` of ``op`` (see the module docstring)."""

    def __init__(
        self, op: Operator, input_index: int, channels: range, key_fn: Callable[[Any], Any] | None = None
    ) -> None:
        self.op = op
        self.input_index = input_index
        self.key_fn = key_fn  # the selector of a HASH edge, which computed the keys that come with its elements
        self.pw = PartitionWatermarks(list(channels))
        self.open = set(channels)  # channels that have not ended
        self.last = MIN_WATERMARK
        self.blocked: dict[int, list[tuple[Any, ...]]] = {}  # channel -> what came after its barrier

    @property
    def aligned(self) -> bool:
        """Every channel has delivered the current barrier, or ended."""
        return all(ch in self.blocked for ch in self.open)

    def release(self) -> None:
        """The checkpoint is taken: unblock the channels and deliver what waited, in order."""
        waiting, self.blocked = self.blocked, {}
        for ch, subs in waiting.items():
            for sub in subs:
                self.deliver(ch, *sub)

    def snapshot(self) -> dict[str, Any]:
        return {"wms": dict(self.pw.wms), "idle": set(self.pw.idle), "combined": self.pw.combined, "last": self.last}

    def restore(self, state: dict[str, Any]) -> None:
        """Reinstate :meth:`snapshot`; a state from another parallelism (other channels) sets every channel to
        the watermark the gate had, which no channel of the old job was behind."""
        low = state["combined"]
        if set(state["wms"]) == set(self.pw.wms):
            self.pw.wms = dict(state["wms"])
            self.pw.idle = set(state["idle"]) & set(self.pw.wms)
        else:
            self.pw.wms = {ch: low for ch in self.pw.wms}
        self.pw.combined = low
        self.last = state["last"]

    @property
    def ended(self) -> bool:
        return not self.open

    @property
    def idle(self) -> bool:
        """Every channel still open is idle (and at least one is open)."""
        return bool(self.open) and self.open <= self.pw.idle

    def deliver(
        self,
        channel: int,
        vals: list[Any],
        tss: list[Any],
        wmb: list[int],
        tail: int,
        status: int,
        keys: list[Any] | None = None,
    ) -> None:
        blocked = self.blocked.get(channel)
        if blocked is not None:
            blocked.append((vals, tss, wmb, tail, status, keys))
            return
        if status == BARRIER:
            self.blocked[channel] = []
            return
        pw = self.pw
        if status == ACTIVE:
            eff, combined = pw.combine(channel, wmb, tail)
            if tail >= MAX_WATERMARK:
                combined = max(combined, pw.finish(channel))
        elif status == IDLE:
            eff, combined = [], pw.set_idle(channel, True)
        else:  # END: its watermark no longer holds the others back
            self.open.discard(channel)
            pw.idle.discard(channel)
            eff, combined = [], pw.finish(channel) if pw.wms.get(channel) == MAX_WATERMARK else self._drop(channel)
        if vals or combined != self.last:
            if combined > self.last:
                self.last = combined
            if keys is not None and self.key_fn is not None:
                present_keys(self.op, self.key_fn, vals, keys)
            self.op.process(vals, tss, eff, self.last, self.input_index)

    def _drop(self, channel: int) -> int:
        """A channel that ended without reaching the end of event time (the job is stopping): leave it out."""
        self.pw.wms.pop(channel, None)
        return self.pw.combined


__all__ = ["ACTIVE", "BARRIER", "END", "IDLE", "ExchangeSender", "InputGate", "SubBatch"]
