"""The lean loop: the job loop of a job that is one source, a chain of stateless per-element operators and one sink.

When it applies (:func:`lean_chain` decides, after the job is built): checkpointing is off, the job has exactly
one source, and everything downstream of it is one straight line ``source → op → ... → op → sink`` where each
``op`` is a ``map``, ``filter`` or ``flat_map`` without an error tolerance (``on_error``), and the sink has no
processing-time timers. Any other job (keyed state, windows, timers, joins, unions, side outputs, several sources
or sinks, ``execute_and_collect``, checkpointing) runs on the general loop (:meth:`JobRunner._loop`).

What it guarantees — the general loop's semantics, with less work per round:
  * the source is read by the same :class:`~millstream.runtime.job.SourceDriver` (batches of at most
    ``batch_size`` per partition, timestamps, per-element watermarks, idleness, bounded end); each batch goes
    through the chain's functions in one call per operator (no ``Output`` fan-out between them) and to the sink
    with the timestamps and watermarks the general loop would give it (a ``filter`` keeps its kept elements'
    own watermarks; the tail is unchanged), so the sink writes exactly what the general loop writes;
  * a failing function fails the job naming its operator and the element's position (``seen`` counts per
    operator, as the operators keep them); a source's failure names the source;
  * ``cancel`` and ``stop`` end it at a round boundary (a wait for data ends within
    :data:`~millstream.runtime.sources.CANCEL_SLICE_S`); a bounded source ends it after its last batch;
  * after every round the sink's held-back writes go out (``end_of_round``), stalled partitions are looked
    for and metrics reported (when an observer is installed; ``seen``, ``records_out`` and watermarks are kept
    per operator as the operators keep them); with no data read, it waits on the source as the general loop does.

A plain round (below) reads through the reader's prepared read of its partition where it has one
(:class:`~millstream.runtime.sources.PreparedReads`: it also waits for data, so a round is one call to the
reader) and writes through the sink's prepared write (:meth:`~millstream.runtime.sinks.LogSinkOperator.
prepared_write`): the same records, with a fraction of the calls per round; a chain that starts with a ``map``
has the read apply the map's function as it decodes (one pass, no list of decoded elements). A chain of at most
one ``map`` from a log that pipes into the sink's (Kafka into Kafka) goes further: the round is one call of the
pipe, each record decoded, mapped, serialized and produced in turn (:mod:`~millstream.runtime.lean_pipe`). Not
with metrics, which time the waits apart from the work.

A source with one partition whose watermark cannot move (no timestamps or watermarks, no idleness) is read
without the driver's per-partition watermark work (:func:`_read_one`); every other source goes through
:meth:`SourceDriver.step <millstream.runtime.job.SourceDriver.step>`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import compress
from typing import TYPE_CHECKING, Any, cast

from ..stream.operators.base import Operator
from ..stream.operators.basic import FilterOperator, FlatMapOperator, MapOperator, annotate, call_each
from ..stream.time import MAX_WATERMARK
from .lean_pipe import piped_round
from .protocols import RoundBuffered
from .sinks import LogSinkOperator, SinkOperator
from .sources import CANCEL_SLICE_S, PreparedReads, wait_for_data
from .stalls import StallWatch

if TYPE_CHECKING:
    from .job import JobRunner, SourceDriver

Stage = Callable[[list[Any], list[Any], list[int], int], tuple[list[Any], list[Any], list[int]]]
_CHAINABLE = (MapOperator, FilterOperator, FlatMapOperator)


def _map_stage(op: MapOperator) -> Stage:
    fn = op.fn
    out = op.out

    def stage(vals: list[Any], tss: list[Any], wmb: list[int], tail: int) -> tuple[list[Any], list[Any], list[int]]:
        res = call_each(op, fn, vals)
        op.seen += len(vals)
        out.records_out += len(res)
        out.watermark = tail
        return res, tss, wmb

    return stage


def _filter_stage(op: FilterOperator) -> Stage:
    fn = op.fn
    out = op.out

    def stage(vals: list[Any], tss: list[Any], wmb: list[int], tail: int) -> tuple[list[Any], list[Any], list[int]]:
        keep = call_each(op, fn, vals)  # (compress below takes their truth)
        op.seen += len(vals)
        out.watermark = tail
        if not all(keep):
            vals, tss, wmb = list(compress(vals, keep)), list(compress(tss, keep)), list(compress(wmb, keep))
        out.records_out += len(vals)
        return vals, tss, wmb

    return stage


class _Capture(Operator):
    """The one target of an operator run as it is (``flat_map``, a batch ``map``): keeps the batch it emits."""

    def __init__(self) -> None:
        super().__init__("lean-capture")
        self.batch: tuple[list[Any], list[Any], list[int]] = ([], [], [])

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        self.batch = (vals, tss, wmb)


def _operator_stage(op: Operator) -> Stage:
    """The operator's own ``process``, its output captured (for those whose logic is more than one call per
    element: ``flat_map``'s outputs per element, a ``BatchMapFunction``)."""
    cap = _Capture()
    op.out.targets[:] = [(cap, 0)]

    def stage(vals: list[Any], tss: list[Any], wmb: list[int], tail: int) -> tuple[list[Any], list[Any], list[int]]:
        cap.batch = ([], [], [])
        op.process(vals, tss, wmb, tail, 0)
        return cap.batch

    return stage


def _per_element_map(op: Operator) -> bool:
    """Whether ``op`` is a ``map`` called once per element (not a :class:`BatchMapFunction`)."""
    return type(op) is MapOperator and op._batch is None


def _stage(op: Operator) -> Stage:
    if _per_element_map(op):
        return _map_stage(cast(MapOperator, op))
    if type(op) is FilterOperator:
        return _filter_stage(op)
    return _operator_stage(op)


class LeanChain(Operator):
    """The chain's functions and the sink as the one target of the source's output: ``process`` runs a batch
    through every stage and hands what is left to the sink."""

    def __init__(self, ops: list[Operator], sink: Operator) -> None:
        super().__init__("lean-chain")
        self.ops = ops
        self.sink = sink
        self.stages = [_stage(op) for op in ops]
        #: the sink's prepared write (:meth:`LogSinkOperator.prepared_write`), once the sink is open
        #: (:meth:`prepare`): a plain round's batch goes through the stages and to it, not to ``sink.process``
        self.write: Callable[[list[Any], list[Any]], None] | None = None

    def prepare(self) -> None:
        """Take the sink's prepared write, where it has one (call once the sink is open)."""
        if isinstance(self.sink, LogSinkOperator):
            self.write = self.sink.prepared_write()

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        for stage in self.stages:  # also an empty batch: it carries the watermark (tail) to the sink
            vals, tss, wmb = stage(vals, tss, wmb, tail)
        self.sink.process(vals, tss, wmb, tail, 0)


def lean_chain(runner: JobRunner, checkpointing: bool) -> LeanChain | None:
    """The lean chain of the runner's built job, or ``None`` when the lean loop does not apply (see the module
    docstring): the source's output is re-wired to it."""
    if checkpointing or len(runner.drivers) != 1:
        return None
    out = runner.drivers[0].out
    ops: list[Operator] = []
    while True:
        if out.side_targets or len(out.targets) != 1:
            return None
        op, idx = out.targets[0]
        if idx != 0 or op.n_inputs != 1 or type(op).next_processing_time is not Operator.next_processing_time:
            return None
        if isinstance(op, SinkOperator):
            if op.out.targets or op.out.side_targets:
                return None
            sink = op
            break
        if type(op) not in _CHAINABLE or op.tolerance is not None:
            return None
        ops.append(op)
        out = op.out
    if len(runner.order) != len(ops) + 1:  # anything else in the job (another sink, a collecting sink)
        return None
    chain = LeanChain(ops, sink)
    if isinstance(sink, LogSinkOperator):
        sink.direct_batch = 1  # one batch a round: written as it comes, nothing to gather for the end of the round
    runner.drivers[0].out.targets[:] = [(chain, 0)]
    return chain


def _plain(driver: SourceDriver) -> bool:
    """Whether a round of ``driver`` is one read of its one partition whose watermark does not move: a
    timestamp-less strategy (``WatermarkGenerator.passthrough``) without idleness, the partition known and not
    finished, and the source's watermark already at the partition's (after its first batch)."""
    gens = driver.gens
    if len(gens) != 1 or driver.strategy.idleness is not None or driver.finished_parts:
        return False
    (gen,) = gens.values()
    return gen.passthrough and driver.pw.combined == gen.wm and driver.last_tail == gen.wm


PlainRound = Callable[[int, float], int]


def _prepared_round(driver: SourceDriver, chain: LeanChain, pid: Any) -> PlainRound | None:
    """A plain round of partition ``pid`` through a pipe (:func:`~millstream.runtime.lean_pipe.piped_round`), else
    through the reader's prepared read (``None`` where it has none): the read waits up to ``wait_s`` for data,
    then the batch goes through the stages to the sink's prepared write (or the sink's ``process``), with the
    driver's bookkeeping of :func:`_read_one`; returns how many elements were read. A prepared read is of a
    partition that does not end, of a reader whose partitions do not change (:class:`~millstream.runtime.sources.
    PreparedReads`): the round needs neither :func:`_read_one`'s look at the partitions nor its end.

    A chain that starts with a ``map`` hands its function to the read (``then``): each element is decoded and
    mapped in one pass, and the map's stage is skipped; its ``seen``, ``records_out`` and watermark are kept
    here, and a failing element is named as the stage names it."""
    piped = piped_round(driver, chain, pid)
    if piped is not None:
        return piped
    stages = chain.stages
    fused = cast(MapOperator, chain.ops[0]) if chain.ops and _per_element_map(chain.ops[0]) else None
    if fused is None:
        read = cast(PreparedReads, driver.reader).prepared_read(pid)
    else:
        map_op = fused

        def then_failed(exc: Exception, i: int, element: Any) -> None:
            annotate(exc, map_op, map_op.seen + i, element)  # (as its stage names a failing element)

        read = cast(PreparedReads, driver.reader).prepared_read(pid, map_op.fn, then_failed)
        stages = stages[1:]
    if read is None:
        return None
    gens, out, last_data, now_ms = driver.gens, driver.out, driver.last_data, driver.clock.now_ms
    write, sink_process = chain.write, chain.sink.process

    def plain_round(batch: int, wait_s: float) -> int:
        vals, tss = read(batch, wait_s)
        n = len(vals)
        if n:
            wm = gens[pid].wm
            driver.seen += n
            last_data[pid] = now_ms()
            out.records_out += n
            out.watermark = wm
            if fused is not None:  # (the map, fused with the read)
                fused.seen += n
                fused.out.records_out += n
                fused.out.watermark = wm
            wmb: list[int] = [wm] * n if stages or write is None else []  # (a prepared write takes none)
            for stage in stages:
                vals, tss, wmb = stage(vals, tss, wmb, wm)
            if write is None:
                sink_process(vals, tss, wmb, wm, 0)
            else:  # (the sink's prepared write: see LeanChain)
                write(vals, tss)
        return n

    return plain_round


def _read_one(driver: SourceDriver, chain: LeanChain, batch: int) -> int | None:
    """One round of :meth:`SourceDriver.step` for a :func:`_plain` driver: read, chain, sink; the same batch,
    timestamps and watermarks (constant: ``gen.wm``) as ``step`` would push. ``None`` (nothing read) when the
    reader's partitions changed: the driver is no longer plain, and ``step`` reads."""
    reader = driver.reader
    parts = reader.partitions()
    if len(parts) != 1 or parts[0] not in driver.gens:
        return None
    pid = parts[0]
    vals, tss = reader.read(pid, batch)
    n = len(vals)
    if n:
        wm = driver.gens[pid].wm
        driver.seen += n
        driver.last_data[pid] = driver.clock.now_ms()
        driver.out.records_out += n
        driver.out.watermark = wm
        chain.process(vals, tss, [wm] * n, wm)
    if reader.done(pid):
        driver.finished_parts.add(pid)
        driver._emit_tail(driver.pw.finish(pid))
        if reader.bounded:
            driver.finished = True
            driver._emit_tail(MAX_WATERMARK)
    return n


def run_lean(runner: JobRunner, chain: LeanChain) -> None:
    """The lean loop (see the module docstring) until the source ends, or the job is stopped or cancelled."""
    from .job import _mark_where

    driver = runner.drivers[0]
    reader = driver.reader
    sink = chain.sink
    end_of_round = sink.end_of_round if isinstance(sink, RoundBuffered) else None
    batch = runner.config.batch_size
    idle_s = runner.config.idle_poll_ms / 1000
    cancelled, stopping = runner.cancelled, runner.stopping
    metrics = runner.metrics
    if metrics is not None:
        metrics.start()
    stalls = StallWatch(runner.drivers, runner.clock, runner.config.idle_partition_warning_ms)
    watch = stalls.watching
    unbounded = not reader.bounded
    wakes = reader.wakes_on_data
    readers = [reader]

    def interrupted() -> bool:
        return cancelled.is_set() or stopping.is_set()

    # Once the driver is plain, its rounds go through a prepared round where the reader has a prepared read (which
    # waits for data itself: one call to the reader a round) and the partition cannot change; not with metrics,
    # which time the waits apart from the work.
    may_prepare = (
        unbounded and wakes and metrics is None and 0 < idle_s <= CANCEL_SLICE_S and isinstance(reader, PreparedReads)
    )
    if may_prepare:
        chain.prepare()
        if chain.write is not None:  # the sink holds nothing back for the end of a round: no call for it
            end_of_round = None
    plain_round: PlainRound | None = None
    plain = False  # whether the driver is _plain: once it is, it stays so until _read_one says otherwise
    # with a prepared round, nothing else to do between rounds (no end of round, stall watch or metrics): only rounds
    bare_rounds = end_of_round is None and not watch and metrics is None
    while not driver.finished and not cancelled.is_set() and not stopping.is_set():
        read_waited = False  # whether this round's read did the waiting
        try:
            if plain_round is not None:
                if bare_rounds:  # (an unbounded source: the rounds go on until the job is cancelled or stopped)
                    is_cancelled, is_stopping = cancelled.is_set, stopping.is_set
                    while not is_cancelled() and not is_stopping():
                        plain_round(batch, idle_s)
                    break
                progress = plain_round(batch, idle_s)
                read_waited = True
            else:
                n = _read_one(driver, chain, batch) if plain else None
                if n is None:
                    progress = driver.step(batch)
                    plain = _plain(driver)
                else:
                    progress = n
                    plain = not driver.finished_parts
                if plain and may_prepare:
                    may_prepare = False  # (asked once)
                    (pid,) = driver.gens
                    plain_round = _prepared_round(driver, chain, pid)
        except Exception as exc:
            _mark_where(exc, driver.name, driver.uid)
            raise
        if end_of_round is not None:
            end_of_round()
        if watch:
            stalls.check()
        if metrics is not None:
            metrics.report()
        if unbounded and (wakes or not progress) and not read_waited:
            if metrics is not None:
                waited = time.perf_counter()
            if not wakes:
                cancelled.wait(idle_s)
            elif idle_s <= CANCEL_SLICE_S:  # one blocking wait in the reader (as wait_for_data does it)
                if not interrupted():
                    reader.wait_for_data(idle_s)
            else:
                wait_for_data(readers, idle_s, interrupted)
            if metrics is not None:
                metrics.idle += time.perf_counter() - waited
    if metrics is not None:
        metrics.report(force=True)


__all__ = ["LeanChain", "lean_chain", "run_lean"]
