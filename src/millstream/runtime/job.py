"""Local execution of a job graph: one thread drives every source and operator chain.

Protocol of :meth:`JobRunner.run`:
  1. build operators for the graph (``stream.graph.build_operator``), sinks and readers; wire outputs
     (main and side ports); ``setup`` + ``open`` every operator, ``open`` every reader;
  2. loop until every source is finished, the job is cancelled, or it is stopped (:meth:`JobRunner.stop`):
     a. each source reads at most ``batch_size`` records from each of its partitions, applies the
        timestamp assigner, computes per-element watermarks (minimum over partitions) and pushes the batch
        through its downstream operators (one call per operator per batch);
     b. a partition that reached its bounded end moves to watermark +∞; a partition without elements for
        the idle timeout is left out of the minimum;
     c. processing-time timers due on the job clock fire (operators in topological order);
     d. with checkpointing on, take a checkpoint when the interval has passed — between two rounds no
        element is in flight, so the cut is consistent (protocol: :mod:`millstream.runtime.checkpointing`);
     e. with nothing read, wait up to ``idle_poll_ms`` (unbounded sources only), less when a processing-time
        timer or the next checkpoint is due sooner; when every source can wake on data (``wakes_on_data``:
        the log sources, Kafka included), the wait blocks in the sources and ends as soon as one has data
        (and is taken after every round: it returns at once when a source has more), else it is a sleep.
        A cancel or stop ends it within :data:`~millstream.runtime.sources.CANCEL_SLICE_S`;
     Before the loop, the latest committed checkpoint (or a savepoint) is restored; after it, a bounded
     or stopped job takes a final checkpoint, which commits its last exactly-once output (a cancelled one
     does not: its uncommitted output is aborted and produced again by the next run);
  3. close readers (committing source offsets of a group) and operators — also when anything fails, in
     which case the error is re-raised as ``JobFailedError`` with the original exception as its cause,
     or the job is restarted from step 1 as its restart strategy says.
The thread never waits on anything without a timeout, so a failing job never hangs. A job that is one source,
a chain of map/filter/flat_map and one sink, with checkpointing off, runs step 2 on the lean loop instead
(:mod:`millstream.runtime.lean_loop`: same semantics, less work per round).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..core import sensors
from ..core.clock import Clock
from ..core.errors import CheckpointError
from ..stream.errors import JobConfigError, JobFailedError
from ..stream.graph import Transformation, build_operator, operator_uids, topological
from ..stream.operators.base import Operator, OperatorContext, Output
from ..stream.operators.watermarks import PartitionWatermarks, WatermarkGenerator
from ..stream.time import MAX_WATERMARK, WatermarkStrategy
from . import job_directory
from .checkpoint_storage import CheckpointDirectoryError, ForeignCheckpointError
from .checkpointing import CheckpointCoordinator, CheckpointSummary, StateRestoreError
from .exception_history import ExceptionHistory
from .lean_loop import lean_chain, run_lean
from .metrics import JobMetrics
from .protocols import PositionedReader, RoundBuffered, checkpoint_roles
from .sinks import CollectOperator, make_sink
from .sources import SourceReader, make_reader, wait_for_data
from .stalls import StallWatch

_log = logging.getLogger("millstream.runtime")


@contextmanager
def batch_gc() -> Iterator[None]:
    """Run the block with fewer garbage collections: parsed records are many small dicts, and with
    CPython's default thresholds a young-generation collection would run every few hundred records.
    Jobs run inside it; benchmarks run their baselines inside it too, so comparisons stay fair."""
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], 50_000), max(old[1], 20), max(old[2], 100))
    try:
        yield
    finally:
        gc.set_threshold(*old)


def fire_due_timers(timed: list[Operator], now: int) -> None:
    """Fire the processing-time timers of ``timed`` operators that are due at ``now`` (upstream first)."""
    for op in timed:
        nxt = op.next_processing_time()
        if nxt is not None and nxt <= now:
            op.on_processing_time(now)


def _mark_where(exc: BaseException, name: str, uid: str | None) -> None:
    """Mark ``exc`` as coming from the named operator or source (unless it already says where)."""
    if getattr(exc, "_millstream_where", None) is None and not hasattr(exc, "operator"):
        try:
            exc._millstream_where = (name, uid, None, None)  # type: ignore[attr-defined]
        except Exception:
            pass


@contextmanager
def _where(name: str, uid: str | None) -> Iterator[None]:
    """Mark an exception raised inside as coming from the named operator (unless it already says where)."""
    try:
        yield
    except Exception as exc:
        _mark_where(exc, name, uid)
        raise


class SourceDriver:
    """Reads one source, stamps timestamps and watermarks, and pushes batches to its output."""

    def __init__(self, t: Transformation, reader: SourceReader, clock: Clock) -> None:
        self.t = t
        self.name = t.name
        self.uid = t.uid
        self.reader = reader
        self.clock = clock
        self.strategy: WatermarkStrategy = t.params.get("strategy") or WatermarkStrategy.no_watermarks()
        self.out = Output()
        self.gens: dict[Any, WatermarkGenerator] = {}
        self.pw = PartitionWatermarks([])
        self.finished_parts: set[Any] = set()
        self.finished = False
        self.seen = 0
        self.last_tail = self.pw.combined
        self.last_data: dict[Any, int] = {}
        self.stalled_partitions: list[Any] = []  # partitions holding the watermark back (runtime.stalls)

    def _gen(self, pid: Any) -> WatermarkGenerator:
        g = self.gens.get(pid)
        if g is None:
            g = self.gens[pid] = WatermarkGenerator(self.strategy, self)
            self.pw.add_partition(pid)
            self.last_data[pid] = self.clock.now_ms()
        return g

    def step(self, batch_size: int) -> int:
        """Read one batch per partition; return how many elements were pushed."""
        n = 0
        reader, gens, finished = self.reader, self.gens, self.finished_parts
        parts = reader.partitions()
        for pid in parts:  # every partition takes part in the minimum before any element moves it
            if pid not in gens:
                self._gen(pid)
        for pid in parts:
            if pid in finished:
                continue
            vals, rtss = reader.read(pid, batch_size)
            if vals:
                gen = gens[pid]
                if gen.passthrough:
                    tss, wmb = rtss, [gen.wm] * len(vals)
                else:
                    tss = gen.timestamps(vals, rtss, self.seen)
                    wmb = gen.advance(tss)
                eff, tail = self.pw.combine(pid, wmb, gen.wm)
                self.seen += len(vals)
                n += len(vals)
                self.last_data[pid] = self.clock.now_ms()
                self.last_tail = tail
                self.out.emit(vals, tss, eff, tail)
            if reader.done(pid):
                finished.add(pid)
                self._emit_tail(self.pw.finish(pid))
        if reader.bounded and len(finished) == len(parts):  # also true for a source without partitions
            self.finished = True
            self._emit_tail(MAX_WATERMARK)
        if self.strategy.idleness is not None:
            now = self.clock.now_ms()
            for pid, last in self.last_data.items():
                idle = pid not in self.finished_parts and now - last >= self.strategy.idleness
                if idle != (pid in self.pw.idle):
                    self._emit_tail(self.pw.set_idle(pid, idle))
        return n

    @property
    def can_stall(self) -> bool:
        """Whether a silent partition can hold this source's watermark back: its strategy makes watermarks and
        does not mark idle partitions itself (``with_idleness``)."""
        s = self.strategy
        return s.idleness is None and (s.out_of_orderness is not None or s.generator_supplier is not None)

    def stalled(self, now_ms: int, after_ms: int) -> list[tuple[Any, int, int]]:
        """``(partition, ms without data, furthest watermark of the others)`` of the partitions that have had no
        data for ``after_ms`` and hold this source's watermark back while another active partition is ahead
        (none when it cannot stall: :attr:`can_stall`)."""
        if not self.can_stall:
            return []
        pw = self.pw
        active = {p: w for p, w in pw.wms.items() if p not in self.finished_parts and p not in pw.idle}
        ahead = max(active.values(), default=pw.combined)
        if len(active) < 2 or ahead <= pw.combined:
            return []
        out = []
        for pid, w in active.items():
            silent = now_ms - self.last_data.get(pid, now_ms)
            if w <= pw.combined and silent >= after_ms:
                out.append((pid, silent, ahead))
        return out

    def snapshot(self) -> dict[str, Any]:
        """Watermark state per partition and the reader's position (if it has ``snapshot``)."""
        return {
            "gens": {pid: (g.max_ts, g.wm) for pid, g in self.gens.items()},
            "combined": self.pw.combined,
            "seen": self.seen,
            "reader": self.reader.snapshot() if isinstance(self.reader, PositionedReader) else None,
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Reinstate :meth:`snapshot` (after the reader is open): positions and watermark generators."""
        if snap.get("reader") is not None:
            if not isinstance(self.reader, PositionedReader):
                raise JobConfigError(f"source {self.name!r} cannot restore a position")
            self.reader.restore(snap["reader"])
        for pid, (max_ts, wm) in snap["gens"].items():
            g = self._gen(pid)
            g.max_ts, g.wm = max_ts, wm
            self.pw.wms[pid] = wm
        self.pw.combined = snap["combined"]
        self.last_tail = snap["combined"]
        self.out.watermark = snap["combined"]
        self.seen = snap["seen"]

    def _emit_tail(self, tail: int) -> None:
        if tail > self.last_tail:
            self.last_tail = tail
            self.out.emit([], [], [], tail)


def require_checkpoints_for_exactly_once(ops: list[Any], config: Any) -> None:
    """Exactly-once sinks need checkpointing in EXACTLY_ONCE mode: a clear error naming the sink otherwise."""
    eo, tpc, _ = checkpoint_roles(ops)
    if (eo or tpc) and (config.checkpoint_interval is None or config.checkpointing_mode != "EXACTLY_ONCE"):
        raise JobConfigError(
            f"sink {(eo + tpc)[0].name!r} is exactly-once, which needs checkpointing in EXACTLY_ONCE mode",
            hint="call env.enable_checkpointing(interval_ms, CheckpointingMode.EXACTLY_ONCE), or use "
            "set_delivery_guarantee('at-least-once')",
        )


@dataclass
class JobExecutionResult:
    """What ``execute()`` returns: job name, net runtime and per-sink element counts."""

    job_name: str
    net_runtime_ms: int
    records_written: dict[str, int] = field(default_factory=dict)
    num_late_records_dropped: int = 0
    restarts: int = 0
    checkpoints: CheckpointSummary | None = None

    def get_job_execution_result(self) -> JobExecutionResult:
        return self

    def get_net_runtime(self) -> int:
        return self.net_runtime_ms

    def get_job_id(self) -> str:
        return self.job_name


class JobRunner:
    """Runs one job graph in the calling thread (see the module docstring). A failed job is restarted
    in process as the job's restart strategy says (operators are built anew and restored from the latest
    checkpoint).

    For monitoring it keeps ``jid`` (a 32-hex id, new per runner, as Flink's JobID), ``status`` (Flink's job
    states: ``CREATED``, ``RUNNING``, ``RESTARTING``, ``FINISHED``, ``FAILED``, ``CANCELED``),
    ``start_time_ms``/``end_time_ms`` (epoch ms, -1 until then) and ``restarts``; it registers itself in
    :mod:`millstream.runtime.job_directory`. With an observer installed (``core.sensors``) it reports metrics
    through :class:`~millstream.runtime.metrics.JobMetrics`."""

    def __init__(
        self,
        env: Any,
        sinks: list[Transformation],
        job_name: str,
        collect: list[Transformation] | None = None,
    ) -> None:
        self.env = env
        self.job_name = job_name
        self.config = env.config
        self.clock: Clock = env.clock
        self.cancelled = threading.Event()
        self.stopping = threading.Event()  # stop(): end at a round boundary with a final checkpoint
        self._graph = (sinks, collect)
        self.summary = CheckpointSummary()
        self.savepoint_requests: list[tuple[str, list[Any]]] = []  # (target, [result]) from other threads
        self.jid = uuid.uuid4().hex
        self.status = "CREATED"
        self.start_time_ms = -1
        self.end_time_ms = -1
        self.restarts = 0
        self.lean = False  # whether the last run took the lean loop (runtime.lean_loop)
        self.exceptions = ExceptionHistory()  # every failure, restarted from or final (GET /jobs/{id}/exceptions)
        self._build()
        job_directory.register(self)

    def _build(self) -> None:
        sinks, collect = self._graph
        self.collected: list[list[Any]] = []
        nodes = topological(sinks + list(collect or []))
        self.nodes = nodes
        self.ops: dict[int, Operator] = {}
        self.drivers: list[SourceDriver] = []
        outputs: dict[int, Output] = {}
        for t in nodes:
            if t.kind == "partition":  # one task runs everything: the consumers read the producer directly
                outputs[t.id] = outputs[t.inputs[0][0].id]
            elif t.kind == "source":
                reader = make_reader(t.params["source"], self.clock)
                d = SourceDriver(t, reader, self.clock)
                self.drivers.append(d)
                outputs[t.id] = d.out
            elif t.kind == "sink":
                op: Operator = make_sink(t.name, t.uid, t.params["sink"])
                self.ops[t.id] = op
                outputs[t.id] = op.out
            else:
                op = build_operator(t, self.config.state_backend)
                self.ops[t.id] = op
                outputs[t.id] = op.out
        for c in collect or []:
            results: list[Any] = []
            self.collected.append(results)
            cop = CollectOperator(f"collect({c.name})", None, results)
            outputs[c.id].targets.append((cop, 0))
            self.ops[-len(self.collected)] = cop
        for t in nodes:
            target = self.ops.get(t.id)
            if target is None:  # a partition node
                continue
            for idx, (u, tag) in enumerate(t.inputs):
                out = outputs[u.id]
                if tag is None:
                    out.targets.append((target, idx))
                else:
                    out.side_targets.setdefault(tag, []).append((target, idx))
        self.order = [self.ops[t.id] for t in nodes if t.id in self.ops] + [op for k, op in self.ops.items() if k < 0]
        if not self.drivers:
            raise JobConfigError("the job has no sources")
        self.uids = operator_uids(nodes)
        self._driver_ids = [t.id for t in nodes if t.kind == "source"]
        require_checkpoints_for_exactly_once(self.order, self.config)

        self.metrics = JobMetrics(self) if sensors.installed() else None

    def state_parts(self) -> list[tuple[str, str, Any]]:
        """``(uid, name, driver or operator)`` of every source and stateful operator, for checkpoints. An
        operator without ``uid(...)`` gets one from its position and name (stable while the graph is)."""
        parts: list[tuple[str, str, Any]] = []
        for tid, d in zip(self._driver_ids, self.drivers, strict=True):
            parts.append((self.uids[tid], d.name, d))
        for tid, op in self.ops.items():
            if tid >= 0 and type(op).snapshot is not Operator.snapshot:
                parts.append((self.uids[tid], op.name, op))
        return parts

    def cancel(self) -> None:
        self.cancelled.set()

    def stop(self) -> None:
        """Flink's stop (without a savepoint target): sources stop reading at the next round boundary, the
        final checkpoint is taken when checkpointing is on, sinks commit and close. Safe from any thread."""
        self.stopping.set()

    def run(self) -> JobExecutionResult:
        """Run the job; on failure restart it as the restart strategy says, else raise ``JobFailedError``
        (checkpoint configuration problems — foreign directory, state that does not fit — are raised as
        they are and never restarted)."""
        failures = 0
        strategy = self.config.restart_strategy
        self.start_time_ms = int(time.time() * 1000)
        self.status = "RUNNING"
        try:
            result = self._run_restarting(strategy, failures)
        except BaseException:
            self.status = "CANCELED" if self.cancelled.is_set() else "FAILED"
            raise
        else:
            self.status = "CANCELED" if self.cancelled.is_set() else "FINISHED"
            return result
        finally:
            self.end_time_ms = int(time.time() * 1000)

    def _run_restarting(self, strategy: Any, failures: int) -> JobExecutionResult:
        with batch_gc():
            restarts = 0
            while True:
                started = time.monotonic()
                try:
                    self.status = "RUNNING"
                    result = self._run(restarts)
                    result.restarts = restarts
                    return result
                except JobFailedError as exc:
                    if self.cancelled.is_set() or self.stopping.is_set():
                        raise
                    self.exceptions.record(exc)
                    reset = strategy.reset_threshold_ms
                    if reset is not None and (time.monotonic() - started) * 1000 >= reset:
                        failures = 0  # it ran long enough: the backoff starts over
                    failures += 1
                    restarts += 1
                    self.restarts = restarts
                    delay = strategy.next_delay_ms(failures)
                    if delay is None:
                        raise
                    msg = f"job {self.job_name!r} failed ({exc}); restart {restarts} in {delay} ms"
                    self.summary.warnings.append(msg)
                    _log.warning(msg)
                    self.status = "RESTARTING"
                    if self.cancelled.wait(delay / 1000):
                        raise
                    self._build()

    def _run(self, attempt: int = 0) -> JobExecutionResult:
        start = time.monotonic()
        ctx = OperatorContext(self.clock.now_ms, self.job_name, dict(self.config.params))
        opened: list[Any] = []
        error: BaseException | None = None
        coord = CheckpointCoordinator(self, self.summary, attempt)
        try:
            coord.prepare()
            for op in self.order:
                op.setup(ctx)
            for op in self.order:
                opened.append(op)
                with _where(op.name, op.uid):
                    op.open()
            for d in self.drivers:
                opened.append(d.reader)
                with _where(d.name, d.uid):
                    d.reader.open()
            coord.restore_on_start()
            self._loop(coord if coord.enabled else None)
            if coord.enabled and not self.cancelled.is_set():
                final = coord.checkpoint()  # the final checkpoint commits the last output
                if self.metrics is not None:
                    self.metrics.report(force=True)  # with the final checkpoint's figures
                if final.status != "COMPLETED":
                    raise CheckpointError(
                        f"the final checkpoint failed, so the job's last output is not committed: {final.error}",
                        hint="fix the checkpoint storage and run the job again; it resumes from its last checkpoint",
                    )
        except BaseException as exc:
            error = exc
            coord.abort()
        finally:
            opened.insert(0, coord)  # closed last: RocksDB state backends
            for thing in reversed(opened):
                try:
                    thing.close()
                except BaseException as exc:
                    if error is None:
                        error = exc
        if error is not None:
            if isinstance(
                error, KeyboardInterrupt | StateRestoreError | ForeignCheckpointError | CheckpointDirectoryError
            ):
                raise error
            where = getattr(error, "_millstream_where", None) or (None, None, None, None)
            raise JobFailedError(
                self.job_name, error, operator=where[0], uid=where[1], position=where[2], element=where[3]
            ) from error
        written = {op.name: op.written for op in self.order if hasattr(op, "written") and op.written}
        late = sum(getattr(op, "num_late_records_dropped", 0) for op in self.order)
        return JobExecutionResult(
            self.job_name, int((time.monotonic() - start) * 1000), written, late, checkpoints=self.summary
        )

    def _loop(self, coord: CheckpointCoordinator | None = None) -> None:
        lean = lean_chain(self, checkpointing=coord is not None)
        self.lean = lean is not None
        if lean is not None:  # one source → map/filter/flat_map chain → one sink: the lean loop
            run_lean(self, lean)
            return
        batch = self.config.batch_size
        drivers = self.drivers
        timed = [op for op in self.order if type(op).next_processing_time is not Operator.next_processing_time]
        rounds = [op for op in self.order if isinstance(op, RoundBuffered)]
        idle_s = self.config.idle_poll_ms / 1000
        metrics = self.metrics
        if metrics is not None:
            metrics.start()
        stalls = StallWatch(drivers, self.clock, self.config.idle_partition_warning_ms)
        stopping = self.stopping

        def interrupted() -> bool:
            return self.cancelled.is_set() or stopping.is_set()

        # the drivers still reading and their readers; recomputed only when one finishes (not every round)
        active = [d for d in drivers if not d.finished]
        readers = [d.reader for d in active]
        wakes = all(r.wakes_on_data for r in readers)
        unbounded = any(not r.bounded for r in readers)
        while not self.cancelled.is_set() and not stopping.is_set():
            if not active:
                break
            progress = 0
            changed = False
            for d in active:
                try:
                    progress += d.step(batch)
                except Exception as exc:
                    _mark_where(exc, d.name, d.uid)
                    raise
                if d.finished:
                    changed = True
            if changed:
                active = [d for d in drivers if not d.finished]
                readers = [d.reader for d in active]
                wakes = all(r.wakes_on_data for r in readers)
                unbounded = any(not r.bounded for r in readers)
            if timed:
                fire_due_timers(timed, self.clock.now_ms())
            for op in rounds:
                op.end_of_round()
            if coord is not None:
                coord.maybe_checkpoint()
            stalls.check()
            if metrics is not None:
                metrics.report()
            # sources that wake on data are waited on after every round: the wait returns at once when one
            # has more, and an empty round (reading nothing) before going idle is saved
            if (wakes or not progress) and unbounded:
                wait = idle_s
                if timed:
                    now = self.clock.now_ms()
                    due = [t for op in timed if (t := op.next_processing_time()) is not None]
                    if due:
                        wait = max(0.0, min(wait, (min(due) - now) / 1000))
                if coord is not None:
                    wait = min(wait, coord.due_in_ms() / 1000)
                if wait <= 0:
                    continue
                if metrics is not None:
                    waited = time.perf_counter()
                if wakes:
                    wait_for_data(readers, wait, interrupted)
                else:
                    self.cancelled.wait(wait)
                if metrics is not None:
                    metrics.idle += time.perf_counter() - waited
        if metrics is not None:
            metrics.report(force=True)


class JobClient:
    """Handle on a job started with ``execute_async``: ``cancel()``, ``stop()``, ``wait(timeout)``,
    ``get_job_execution_result()`` (raises the job's error), ``get_job_status()``."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self._result: JobExecutionResult | None = None
        self._error: BaseException | None = None
        # the job's end, as an Event: a Thread.join interrupted by Ctrl-C can leave the thread looking ended
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{runner.job_name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self.runner.run()
        except BaseException as exc:
            self._error = exc
        finally:
            self._ended.set()

    def get_job_id(self) -> str:
        return self.runner.job_name

    @property
    def jid(self) -> str:
        """The job's 32-hex id, as the REST API (``/jobs/{id}``) and the metrics' ``job_id`` label show it."""
        return self.runner.jid

    def cancel(self) -> None:
        """Stop the job (sources stop reading, operators close) and wait for its thread."""
        self.runner.cancel()
        self._ended.wait(timeout=30)

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the job like Flink's ``stop``: sources stop at a round boundary, a final checkpoint is
        taken (with checkpointing on), sinks commit; wait up to ``timeout`` s (``None``: until it ended).
        ``True`` when the job has ended; its result or error comes from ``get_job_execution_result``."""
        self.runner.stop()
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the job to end; ``True`` when it has."""
        return self._ended.wait(timeout)

    def trigger_savepoint(self, target: str, timeout: float = 60.0) -> str:
        """Take a checkpoint now and copy it to the directory ``target`` as a savepoint; its path.
        Needs checkpointing enabled (``enable_checkpointing``) and a running job."""
        if self.runner.config.checkpoint_interval is None:
            raise JobConfigError("savepoints need checkpointing", hint="call env.enable_checkpointing(interval)")
        done: list[Any] = []
        self.runner.savepoint_requests.append((str(target), done))
        deadline = time.monotonic() + timeout
        while not done and time.monotonic() < deadline and not self._ended.is_set():
            time.sleep(0.01)
        if not done:
            raise JobConfigError(f"job {self.runner.job_name!r} did not take the savepoint (not running?)")
        if isinstance(done[0], BaseException):
            raise done[0]
        return str(done[0])

    def get_job_status(self) -> str:
        if not self._ended.is_set():  # a stopping job is RUNNING until its final checkpoint, as in Flink
            return "CANCELLING" if self.runner.cancelled.is_set() else "RUNNING"
        if self._error is not None:
            return "FAILED"
        return "CANCELED" if self.runner.cancelled.is_set() else "FINISHED"

    def get_job_execution_result(self, timeout: float | None = None) -> JobExecutionResult:
        if not self._ended.wait(timeout):
            raise TimeoutError(f"job {self.runner.job_name!r} is still running")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def make_runner(env: Any, sinks: list[Transformation], job_name: str, collect: list[Transformation] | None) -> Any:
    """The runner for a job: plan it (:func:`millstream.stream.plan.plan_job`); a job whose operators all run
    with parallelism 1 runs in this thread (:class:`JobRunner`), any other on worker processes
    (:class:`~millstream.runtime.parallel.ParallelJobRunner`)."""
    from ..stream.plan import plan_job
    from .parallel import ParallelJobRunner, default_parallelism

    parallelism = default_parallelism(env.config.parallelism)
    plan = plan_job(sinks + list(collect or []), parallelism, env.config.max_parallelism)
    if os.environ.get(SCHEDULER_MODE_ENV, "").lower() == "reactive" and not collect:  # (collecting: this process)
        require_checkpoints_for_exactly_once(
            [make_sink(n.t.name, n.uid, n.t.params["sink"]) for n in plan.nodes.values() if n.t.kind == "sink"],
            env.config,
        )
        return _reactive_runner(env, sinks, job_name, collect, parallelism)
    if plan.parallelism == 1:
        return JobRunner(env, sinks, job_name, collect)
    for t in topological(sinks + list(collect or [])):
        desc = t.params.get("source") or t.params.get("sink")
        url = getattr(desc, "log_url", None)
        if isinstance(url, str) and url.startswith("memory://"):
            raise JobConfigError(
                f"{t.name!r} uses the log {url}, which lives in this process only, but the job runs with parallelism "
                f"{plan.parallelism} on worker processes",
                hint="use a file:// or kafka:// log, or run the job with parallelism 1",
            )
    require_checkpoints_for_exactly_once(
        [make_sink(n.t.name, n.uid, n.t.params["sink"]) for n in plan.nodes.values() if n.t.kind == "sink"], env.config
    )
    return ParallelJobRunner(env, sinks, job_name, collect, plan, parallelism)


#: ``reactive`` runs every job as one instance of a job spread over all the instances that run it
#: (:mod:`millstream.runtime.scaleout`; ``millstream run --reactive`` sets it), as Flink's ``scheduler-mode``
SCHEDULER_MODE_ENV = "MILLSTREAM_SCHEDULER_MODE"


def _reactive_runner(
    env: Any, sinks: list[Transformation], job_name: str, collect: list[Transformation] | None, slots: int
) -> Any:
    from ..log import ENV_VAR, default_log_url
    from .scaleout import ReactiveJobRunner

    url = os.environ.get(ENV_VAR) or default_log_url()
    runner = ReactiveJobRunner(
        env,
        sinks,
        job_name,
        collect,
        log_url=url,
        slots=slots,
        bind_host=os.environ.get("MILLSTREAM_BIND_HOST", "127.0.0.1"),
        session_timeout_ms=int(os.environ.get("MILLSTREAM_SESSION_TIMEOUT_MS", "10000")),
        pipeline=os.environ.get("MILLSTREAM_PIPELINE", ""),
        stabilization_ms=int(os.environ.get("MILLSTREAM_STABILIZATION_MS", "1000")),
    )
    runner.join()
    return runner


def execute(
    env: Any, sinks: list[Transformation], job_name: str, mode: str, collect: list[Transformation] | None
) -> Any:
    """The executor registered with the stream layer (see ``StreamExecutionEnvironment.execute``)."""
    runner = make_runner(env, sinks, job_name, collect)
    if mode == "async":
        return JobClient(runner)
    if mode == "collect":
        from .sources import make_reader

        for t in topological(sinks + list(collect or [])):
            if t.kind == "source" and not make_reader(t.params["source"], runner.clock).bounded:
                raise JobConfigError(
                    f"execute_and_collect() needs bounded sources, but {t.name!r} is unbounded",
                    hint="make the log source bounded with set_bounded(OffsetsInitializer.latest())",
                )
        runner.run()
        return runner.collected
    return runner.run()


__all__ = ["JobClient", "JobExecutionResult", "JobRunner", "SourceDriver", "execute", "make_runner"]
