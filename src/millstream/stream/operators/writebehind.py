"""Tumbling and sliding windows with incremental aggregates on a state backend that keeps state out of
memory (RocksDB): the slicing operator's batch fast path with a bounded *write-behind* cache of accumulators.

:class:`WriteBehindSlicingOperator` is :class:`~.slicing.SlicingWindowOperator` (same contract, same
per-element semantics, same results: lateness, late firings, late side output, drop counts), whose slice
accumulators ``{slice end: {key: accumulator}}`` are a *cache* in front of the operator's keyed state
backend (table ``window-slices``, entries ``(key, slice end) -> accumulator``):

1. elements update the accumulators in memory, in the slicing operator's generated loop (no backend access);
2. after a batch, when more than ``cache_entries`` accumulators are in memory, those of the oldest slices
   are written to the backend in one batch until half the bound is left; each leaves a placeholder
   (:data:`~.slicing.SPILLED`) in its slice's dict, which keeps the key's place in the firing order;
3. an element of a key whose accumulator was written out reads it back (one read) and goes on in memory;
   before windows fire, the written-out accumulators of their slices are read back in one multi-get;
4. before every snapshot, every accumulator in memory is written to the backend in one batch, then the
   backend snapshots (a RocksDB checkpoint; at parallelism > 1 the canonical, per-key format); the
   operator's own snapshot holds only the keys of each slice in firing order, the arrival numbers and the
   watermark. A restore starts with every accumulator in the backend (read back on demand);
5. when a slice is freed, its entries that were ever written out are deleted from the backend in one batch;
6. state of the general window operator (how earlier versions ran every window under RocksDB) is taken over
   on restore when every window is one slice (tumbling windows); sliding windows of several slices refuse it.

Without checkpoints and with the state within the bound, the job never touches RocksDB: it runs at the
in-memory fast path's speed. The bound counts accumulators in memory between batches: within a batch it may
grow by up to the batch's length, plus the slices of the windows being fired (read back to fire). What
stays on the heap beyond the bound, like the general operator's timers under RocksDB: per slice, the keys in
firing order (with the arrival numbers of sliding windows of several slices), and the merged aggregates of
the sliding windows firing next (dropped whenever accumulators are written out).

The bound is ``cache_entries`` (default :data:`DEFAULT_CACHE_ENTRIES`), set per job with the job parameter
:data:`CACHE_ENTRIES_PARAM` or ``EmbeddedRocksDBStateBackend(window_cache_entries=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..functions import OutputTag
from .base import OperatorContext
from .rescale import Owns
from .slicing import SPILLED, SlicingWindowOperator
from .window import WindowFunctionSpec, WindowOperator

SLICES = "window-slices"  # the backend table of written-out accumulators: (key, slice end) -> accumulator
DEFAULT_CACHE_ENTRIES = 50_000
CACHE_ENTRIES_PARAM = "state.backend.rocksdb.window-cache-entries"


class WriteBehindSlicingOperator(SlicingWindowOperator):
    """Sliding / tumbling event-time windows over slices whose accumulators are cached in front of the
    operator's state backend (see the module docstring). ``cache_entries`` bounds the accumulators held in
    memory between batches; ``None`` takes the job parameter :data:`CACHE_ENTRIES_PARAM` at setup, else
    :data:`DEFAULT_CACHE_ENTRIES`."""

    write_behind = True

    def __init__(
        self,
        name: str,
        uid: str | None,
        key_fn: Callable[[Any], Any] | None,
        assigner: Any,
        lateness: int,
        late_tag: OutputTag | None,
        fn: WindowFunctionSpec,
        cache_entries: int | None = None,
    ) -> None:
        super().__init__(name, uid, key_fn, assigner, lateness, late_tag, fn)
        self._fixed_bound = cache_entries is not None
        self.cache_entries = DEFAULT_CACHE_ENTRIES if cache_entries is None else max(1, cache_entries)
        self.spilled = 0  # placeholders in ``slices`` (accumulators only in the backend)
        self._spilled_in: dict[int, int] = {}  # slice end -> its placeholders
        self._persisted: set[int] = set()  # slice ends with entries in the backend (deleted when freed)

    def setup(self, ctx: OperatorContext) -> None:
        """Take the bound from the job parameter :data:`CACHE_ENTRIES_PARAM` unless one was given; a value that
        is not a whole number raises :class:`~millstream.stream.errors.JobConfigError`."""
        super().setup(ctx)
        raw = ctx.params.get(CACHE_ENTRIES_PARAM)
        if raw is not None and not self._fixed_bound:
            from ..errors import JobConfigError

            try:
                self.cache_entries = max(1, int(raw))
            except ValueError:
                raise JobConfigError(f"{CACHE_ENTRIES_PARAM} must be a whole number, got {raw!r}") from None

    def cached_entries(self) -> int:
        """Accumulators held in memory now (the slices' entries less the placeholders)."""
        return sum(map(len, self.slices.values())) - self.spilled

    # -- the cache ---------------------------------------------------------------------------------------
    def reload_entry(self, b: dict[Any, Any], k: Any, se: int) -> Any:
        """The accumulator of key ``k`` in slice ``se`` (dict ``b``), read back from the backend into ``b``
        (called by the generated loop when it meets a placeholder)."""
        acc = self.backend.read_entries(SLICES, [(k, se)])[0]
        b[k] = acc
        self.spilled -= 1
        self._spilled_in[se] -= 1
        return acc

    def _reload_slices(self, lo: int | float, hi: int | float) -> None:
        """Read back every written-out accumulator of the slices ending in ``[lo, hi]``, one read per slice."""
        for se, n in list(self._spilled_in.items()):
            if n and lo <= se <= hi:
                b = self.slices[se]
                keys = [k for k, a in b.items() if a is SPILLED]
                for k, acc in zip(keys, self.backend.read_entries(SLICES, [(k, se) for k in keys]), strict=True):
                    b[k] = acc
                self.spilled -= len(keys)
                self._spilled_in[se] = 0

    def _spill(self) -> None:
        """Write accumulators of the oldest slices to the backend (one batch) until half the bound is left."""
        excess = self.cached_entries() - self.cache_entries // 2
        puts: list[tuple[Any, Any]] = []
        for se in sorted(self.slices):
            if excess <= 0:
                break
            b = self.slices[se]
            n = 0
            for k, acc in b.items():
                if acc is SPILLED:
                    continue
                puts.append(((k, se), acc))
                b[k] = SPILLED  # (replacing the value of an existing key while iterating is allowed)
                n += 1
                excess -= 1
                if excess <= 0:
                    break
            if n:
                self._spilled_in[se] = self._spilled_in.get(se, 0) + n
                self._persisted.add(se)
        self.backend.write_entries(SLICES, puts)
        self.spilled += len(puts)
        # merged aggregates of sliding windows are derived from the slices: drop them with the bound
        self._cache_ok = False
        self._suf, self._back = {}, ({}, {})

    # -- elements and firing -----------------------------------------------------------------------------
    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        """The slicing operator's batch, then write accumulators out if more than ``cache_entries`` are in
        memory (so the bound holds between batches)."""
        super().process(vals, tss, wmb, tail, input_index)
        if sum(map(len, self.slices.values())) - self.spilled > self.cache_entries:
            self._spill()

    def _advance_to(self, wm: int) -> None:
        """Read back the slices of the windows that may fire (ends in ``(emit_wm + 1, wm + 1]``), fire and clean
        up as the slicing operator does, then delete the freed slices' entries from the backend."""
        if self.spilled:
            self._reload_slices(self._first_end_ge(self.emit_wm + 2) - self.size + self.g, wm + 1)
        before = dict(self.slices) if self._persisted else None
        super()._advance_to(wm)
        if before is not None:
            gone = [se for se in self._persisted if se not in self.slices]
            if gone:
                self._drop(gone, before)

    def _late_fire(self, key: Any, se: int, cur: int) -> None:
        """Read back ``key``'s written-out accumulators (a late firing merges them), then fire again."""
        if self.spilled:
            for s, n in self._spilled_in.items():
                if n and self.slices[s].get(key) is SPILLED:
                    self.reload_entry(self.slices[s], key, s)
        super()._late_fire(key, se, cur)

    def _drop(self, gone: list[int], before: dict[int, dict[Any, Any]]) -> None:
        """The slices ``gone`` were freed: delete their entries from the backend (one batch)."""
        deletes: list[Any] = []
        for se in gone:
            self._persisted.discard(se)
            self.spilled -= self._spilled_in.pop(se, 0)
            deletes.extend((k, se) for k in before[se])
        self.backend.write_entries(SLICES, (), deletes)

    # -- checkpoints -------------------------------------------------------------------------------------
    def snapshot(self) -> Any:
        """Write every accumulator in memory to the backend (one batch), snapshot the backend, and return the
        keys of each slice in firing order next to the backend's snapshot (no accumulators)."""
        puts = [((k, se), acc) for se, b in self.slices.items() for k, acc in b.items() if acc is not SPILLED]
        self.backend.write_entries(SLICES, puts)
        self._persisted.update(self.slices)
        order = {se: list(b) for se, b in self.slices.items()}
        return {"write_behind": True, "order": order, **self._snapshot_common()}

    @staticmethod
    def merge_snapshots(states: list[Any], owns: Owns) -> Any:
        """Rescaling (:mod:`.rescale`): the owned keys of several subtasks' slices (in the old subtasks' order,
        arrival numbers renumbered as :meth:`SlicingWindowOperator.merge_snapshots` does) and their backend
        entries. Snapshots of the general window operator (earlier versions) merge as that operator's do, for
        :meth:`restore` to take over."""
        if any("event_timers" in s for s in states):
            return WindowOperator.merge_snapshots(states, owns)
        as_slices = [{**s, "slices": {se: dict.fromkeys(keys) for se, keys in s["order"].items()}} for s in states]
        merged = SlicingWindowOperator.merge_snapshots(as_slices, owns)
        merged["order"] = {se: list(b) for se, b in merged.pop("slices").items()}
        merged["write_behind"] = True
        return merged

    def restore(self, state: Any) -> None:
        """Restore the backend and the slices' keys; every accumulator starts in the backend (placeholders).
        State of the general window operator (how earlier versions ran these windows under RocksDB) is taken
        over when every window is one slice (:meth:`_take_over_general`)."""
        general = "event_timers" in state and not state.get("write_behind")
        if not general and not state.get("write_behind"):
            from ..errors import JobConfigError

            raise JobConfigError(
                "this window state was checkpointed by the in-memory backend's window operator",
                hint="restore it with the state backend that took it",
            )
        self.backend.restore(state["state"])
        self.rebind_state()
        for ns in self._namespaces():
            for name in state.get("names", {}).get(ns.prefix, ()):
                ns.table(name)
        if general:
            self._take_over_general(state)
            return
        self.slices = {se: dict.fromkeys(keys, SPILLED) for se, keys in state["order"].items()}
        self._spilled_in = {se: len(b) for se, b in self.slices.items()}
        self.spilled = sum(self._spilled_in.values())
        self._persisted = set(self.slices)
        self.seqs = {se: dict(q) for se, q in state["seqs"].items()}
        self.seq = state["seq"]
        self.wm = self.emit_wm = state["wm"]
        self._cache_ok = False
        self._suf, self._back = {}, ({}, {})
        self._recompute_due(self.wm)

    def _take_over_general(self, state: Any, chunk: int = 10_000) -> None:
        """State of :class:`~.window.WindowOperator` (contents ``(key, window) -> accumulator`` in the backend,
        timers pickled): each window's accumulators move to the slice of the same end in the backend (chunks of
        ``chunk``, never all in memory), keys in the order of their timers, which is their firing order."""
        from ..errors import JobConfigError

        if self.multi or state.get("merging"):
            raise JobConfigError(
                "this window state was checkpointed by the general window operator (an earlier millstream version "
                "under RocksDB) for sliding windows of several slices, whose per-window accumulators cannot be "
                "split into slices",
                hint="restore it with the millstream version that took it, or start the job without this state",
            )
        pairs: dict[tuple[Any, int], Any] = {}  # (key, end) -> window, in timer (firing) order
        for _ts, key, window in state["event_timers"]:
            pairs.setdefault((key, window.end), window)
        contents = self.contents
        slices: dict[int, dict[Any, Any]] = {}
        items = list(pairs.items())
        for i in range(0, len(items), chunk):
            puts = []
            for (key, end), window in items[i : i + chunk]:
                acc = contents.pop((key, window), _ABSENT)
                if acc is not _ABSENT:
                    puts.append(((key, end), acc))
                    slices.setdefault(end, {})[key] = SPILLED
            self.backend.write_entries(SLICES, puts)
        self.slices = slices
        self._spilled_in = {se: len(b) for se, b in slices.items()}
        self.spilled = sum(self._spilled_in.values())
        self._persisted = set(slices)
        self.seqs, self.seq = {}, 0
        self.wm = self.emit_wm = state["wm"]
        self._cache_ok = False
        self._suf, self._back = {}, ({}, {})
        self._recompute_due(self.wm)


_ABSENT: Any = object()

__all__ = ["CACHE_ENTRIES_PARAM", "DEFAULT_CACHE_ENTRIES", "SLICES", "WriteBehindSlicingOperator"]
