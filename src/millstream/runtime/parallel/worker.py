"""A worker process of a parallel job: runs subtask ``i`` of every operator whose parallelism exceeds ``i``.

Started by the coordinator (:mod:`millstream.runtime.parallel.coordinator`) as
``python -m millstream.runtime.parallel.worker COORDINATOR INDEX COUNT LISTEN`` (addresses as
:class:`~millstream.runtime.parallel.transport.Address` takes them: ``unix:PATH`` on one machine,
``tcp:HOST:PORT`` across instances, whose connections open with the token in ``$MILLSTREAM_JOB_TOKEN``). Protocol:

  1. listen on ``LISTEN`` for peer workers, connect to the coordinator and say ``("hello", index, pid,
     address)`` with the address peers reach it at;
  2. receive ``("job", sys_path, spec, peers)``: the job (cloudpickled by the coordinator) and every worker's
     address — plan it (the same plan
     in every process: :func:`millstream.stream.plan.plan_job` is deterministic) and build this worker's
     subtasks: source drivers with their share of the splits, operators (named ``Map (2/4)``), sinks;
     ``FORWARD`` edges are direct calls as in a chain, every other edge an :class:`ExchangeSender` here and an
     :class:`InputGate` in each consumer subtask;
  3. connect to every peer with a higher index and accept the lower ones (one socket per pair), open every
     operator and reader, and say ``("ready", index)``; on ``("start",)`` announce the channels that start
     idle or ended (:meth:`Worker.announce`) and wait for every peer's announcement, then run the loop:
       a. read frames from peers and hand each sub-batch to its gate (operators run);
       b. unless back-pressured (more than ``HIGH_WATER`` bytes queued to a peer), let each source read one
          batch per partition (as the single-process runtime does);
       c. update channel status (idle, end) of every sender from the sources and gates upstream of it;
       d. fire due processing-time timers; send collected results (``execute_and_collect``) to the coordinator;
       e. write one frame per peer with the round's sub-batches; with nothing done, wait on the sockets;
     until every source and every gate has ended (bounded input: the last watermark is +∞), or the
     coordinator says ``("stop",)`` (sources end where they are; channels end without a final watermark) or
     ``("cancel",)`` (leave at once);
  4. with checkpointing, a worker whose input has ended says ``("drained", index)`` and waits: the
     coordinator takes the final checkpoint (which commits the last exactly-once output) and says
     ``("finish",)``;
  5. close readers and operators (sinks flush), send ``("finished", index, written, late)``, and exit. Any
     error is sent as ``("failed", index, error)`` with the subtask that raised it and the traceback; the
     coordinator then ends the whole job. A worker whose coordinator goes away exits at once (no orphans).

Checkpoints (Flink's aligned barriers, at the level of the worker): on ``("checkpoint", id)`` the worker stops
reading its sources (they have reached the barrier) and keeps processing what arrives. A gate whose channel
delivers barrier ``id`` blocks that channel (what follows waits in the gate). A sender sends the barrier on all
its channels as soon as everything upstream of it in this worker — its sources and gates — has reached it (so
barriers flow down the DAG without waiting for the whole worker). When every gate is aligned, nothing in this
worker is before the barrier any more and nothing after it has been processed: the worker snapshots every source
(positions, watermarks), every stateful operator and every gate (channel watermarks); exactly-once log sinks
hand over their records, two-phase-commit sinks pre-commit, at-least-once sinks flush; it sends the lot with
``("ack", index, id, ...)``, releases the gates and reads its sources again. ``("complete", id)`` — the
checkpoint is durable and committed — commits the two-phase-commit sinks' transactions. Processing-time
timers do not fire while a barrier is being aligned. ``("restore", payloads)`` before ``start`` reinstates a
checkpoint's state for this worker's subtasks.

SIGINT is ignored: Ctrl-C reaches the coordinator, which stops or cancels the workers.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...core.clock import Clock
from ...core.io_wait import wait_io
from ...stream.graph import build_operator
from ...stream.operators.base import Operator, OperatorContext, Output
from ...stream.operators.preagg import PARTIAL_KEY, WindowPreAggregator, merging_params, pre_aggregation_applies
from ...stream.plan import JobPlan, PlanNode, plan_job
from ...stream.state import serializing_snapshots
from ..job import SourceDriver, _where, batch_gc, fire_due_timers
from ..metrics import LagSampler, time_log_writes
from ..protocols import RoundBuffered, checkpoint_roles
from ..sinks import CollectOperator, make_sink
from ..sources import LogReader, SplitReader, make_reader
from ..stalls import StallWatch
from .exchange import ACTIVE, END, IDLE, ExchangeSender, InputGate, SubBatch
from .launcher import watch_lifeline
from .metrics import REPORT_EVERY_S, SubtaskClock, subtask_counts
from .rescale import merge_gate, rescale_part
from .transport import PEER_GONE_EXIT, Address, Connection, PeerClosed, accept, recv_exact

#: the environment variable that hands a worker its job's token (hex) for TCP connections
TOKEN_ENV = "MILLSTREAM_JOB_TOKEN"
HIGH_WATER = 8 << 20  # bytes queued to one peer before this worker stops reading its sources
COLLECT_EVERY_S = 0.05


class _Root:
    """Something a sender's status depends on: a source driver or an input gate of this worker."""

    def __init__(self, ended: Callable[[], bool], idle: Callable[[], bool], reached: Callable[[], bool]) -> None:
        self.ended = ended
        self.idle = idle
        self.reached = reached  # has reached the barrier being aligned


class Worker:
    """Builds and runs this process's subtasks (see the module docstring)."""

    def __init__(self, index: int, count: int, job: dict[str, Any]) -> None:
        self.index = index
        self.count = count
        self.job_name: str = job["job_name"]
        self.config = job["config"]
        self.clock: Clock = job["clock"]
        self.plan: JobPlan = plan_job(job["sinks"] + job["collect"], job["parallelism"], self.config.max_parallelism)
        self.collect_ids: list[int] = [t.id for t in job["collect"]]
        self.nodes_by_uid = {n.uid: n for n in self.plan.nodes.values()}
        self.report_metrics: bool = job.get("metrics", False)
        self.peers: dict[int, Connection] = {}
        self.outbox: dict[int, list[SubBatch]] = {j: [] for j in range(count) if j != index}
        self.stopping = False
        self.cancelled = False
        self.checkpointing = self.config.checkpoint_interval is not None
        self.cp: int | None = None  # the checkpoint whose barrier is being aligned
        self.cp_sent: set[int] = set()  # senders (by position) that sent its barrier
        self.drained = False  # (checkpointing) said "drained"; waits for the final checkpoint and "finish"
        self.finish = False
        self._build()

    # -- building ---------------------------------------------------------------------------------------
    def _build(self) -> None:
        i = self.index
        plan = self.plan
        self.drivers: list[SourceDriver] = []
        self.ops: list[Operator] = []
        self.sinks: list[tuple[str, Operator]] = []  # (operator name without the subtask, sink)
        # results sent to the coordinator: (execute_and_collect's index or ("sink", node id), operator, [sent])
        self.collectors: list[tuple[Any, CollectOperator, list[int]]] = []
        outputs: dict[int, Output] = {}
        ops: dict[int, Any] = {}
        self.roots: dict[int, list[_Root]] = {}
        self.pre_aggregated = {n.id for n in plan.nodes.values() if self._pre_aggregates(n)}
        for n in plan.nodes.values():
            if n.parallelism <= i:
                continue
            t = n.t
            name = n.subtask_name(i)
            if t.kind == "source":
                reader = make_reader(t.params["source"], self.clock)
                if n.parallelism > 1:
                    if not isinstance(reader, SplitReader):
                        raise RuntimeError(f"source {t.name!r} cannot be split")  # the planner prevents this
                    reader.assign_subtask(i, n.parallelism)
                d = SourceDriver(t, reader, self.clock)
                d.name = name
                self.drivers.append(d)
                outputs[t.id] = d.out
                self.roots[t.id] = [self._driver_root(d)]
                continue
            if t.kind == "sink":
                # (each subtask its own uid: two-phase-commit sinks name their files after it)
                op: Operator = make_sink(name, f"{n.uid}-{i}" if n.parallelism > 1 else n.uid, t.params["sink"])
                self.sinks.append((t.name, op))
                if isinstance(op, CollectOperator):  # a collecting sink (testing): its lists live in the caller
                    op.results, op.timestamps = [], []
                    self.collectors.append((("sink", t.id), op, [0]))
            elif n.id in self.pre_aggregated:
                op = build_operator(replace(t, params=merging_params(t.params)), self.config.state_backend)
                op.name = name
            else:
                op = build_operator(t, self.config.state_backend)
                op.name = name
            op.uid = n.uid
            op.subtask_index, op.parallelism = i, n.parallelism
            ops[t.id] = op
            outputs[t.id] = op.out
            self.ops.append(op)
        for k, cid in enumerate(self.collect_ids):
            if cid in outputs:
                cop = CollectOperator(f"collect ({i + 1})", None, [], [])
                outputs[cid].targets.append((cop, 0))
                self.ops.append(cop)
                self.collectors.append((k, cop, [0]))
        self.gates: dict[int, InputGate] = {}
        self.senders: list[tuple[ExchangeSender, int]] = []  # (sender, producer node id)
        for idx, e in enumerate(plan.edges):
            up, down = plan.nodes[e.source], plan.nodes[e.target]
            if e.local:
                if up.parallelism > i:
                    self._wire(outputs[up.id], e.tag, ops[down.id], e.input_index)
                continue
            pre = down.id in self.pre_aggregated
            if down.parallelism > i:
                key_fn = e.partitioning.key_fn if e.partitioning.strategy == "HASH" else None
                gate_key_fn = PARTIAL_KEY if pre else key_fn
                self.gates[idx] = InputGate(ops[down.id], e.input_index, range(up.parallelism), gate_key_fn)
            if up.parallelism > i:
                sender = ExchangeSender(
                    idx,
                    e.partitioning,
                    i,
                    up.parallelism,
                    down.parallelism,
                    down.max_parallelism,
                    self._local(idx),
                    self.outbox,
                    down.subtask_name(i),
                    WindowPreAggregator(down.t.params) if pre else None,
                    down.uid,
                )
                self._wire(outputs[up.id], e.tag, sender, 0)
                self.senders.append((sender, up.id))
        self.sender_roots = [(s, self._roots_of(plan.nodes[nid])) for s, nid in self.senders]
        # what the metrics report: (uid, driver) and (uid, kind, operator)
        self.metric_drivers = [(plan.nodes[d.t.id].uid, d) for d in self.drivers]
        self.metric_ops = [(plan.nodes[nid].uid, plan.nodes[nid].t.kind, op) for nid, op in ops.items()]
        self.time = SubtaskClock()  # busy / back-pressured / idle time of this worker's thread
        self.lags = [(plan.nodes[d.t.id].uid, lag) for d in self.drivers if (lag := LagSampler.of(d)) is not None]
        if self.report_metrics:
            for _name, sink in self.sinks:
                time_log_writes(sink, self.time.waited)
        # checkpointed state: (uid, source driver or operator), and the gates by state key
        self.parts: list[tuple[str, Any]] = []
        for d in self.drivers:
            self.parts.append((plan.nodes[d.t.id].uid, d))
        for nid, op in ops.items():
            if type(op).snapshot is not Operator.snapshot:
                self.parts.append((plan.nodes[nid].uid, op))
        self.gate_keys = {
            idx: f"{plan.nodes[plan.edges[idx].target].uid}#in{plan.edges[idx].input_index}" for idx in self.gates
        }
        self.eo_sinks, self.tpc_sinks, self.async_sinks = checkpoint_roles(self.ops)
        if self.checkpointing:
            for d in self.drivers:
                if isinstance(d.reader, LogReader):
                    d.reader.commit_on_close = False  # offsets are committed with checkpoints

    def _pre_aggregates(self, n: PlanNode) -> bool:
        """Whether window node ``n`` gets its input pre-aggregated (:mod:`~millstream.stream.operators.preagg`):
        it applies, the job allows it, the heap backend keeps the window's state, and its one input is a key_by
        exchange on the window's own key selector."""
        if n.t.kind != "window" or self.config.agg_phase_strategy == "ONE_PHASE":
            return False
        if self.config.state_backend == "rocksdb" or len(n.inputs) != 1:
            return False
        e = n.inputs[0]
        return (
            e.partitioning.strategy == "HASH"
            and e.partitioning.key_fn is n.t.params.get("key_fn")
            and pre_aggregation_applies(n.t.params)
        )

    @staticmethod
    def _wire(out: Output, tag: Any, target: Any, idx: int) -> None:
        if tag is None:
            out.targets.append((target, idx))
        else:
            out.side_targets.setdefault(tag, []).append((target, idx))

    def _local(self, edge: int) -> Callable[[SubBatch], None]:
        def deliver(sub: SubBatch) -> None:
            self.gates[edge].deliver(self.index, sub[1], sub[2], sub[3], sub[4], sub[5], sub[6])

        return deliver

    def _driver_root(self, d: SourceDriver) -> _Root:
        return _Root(lambda: d.finished or self.stopping, lambda: _driver_idle(d), lambda: True)

    def _roots_of(self, n: PlanNode) -> list[_Root]:
        """The sources and gates of this worker that feed ``n`` (through local edges)."""
        if n.id in self.roots:
            return self.roots[n.id]
        out: list[_Root] = []
        for e in n.inputs:
            if e.local:
                out.extend(self._roots_of(self.plan.nodes[e.source]))
            else:
                out.append(_gate_root(self.gates[self.plan.edges.index(e)]))
        self.roots[n.id] = out
        return out

    # -- connecting -------------------------------------------------------------------------------------
    def connect_peers(
        self, listener: socket.socket, peers: dict[int, str], token: bytes = b"", timeout: float = 30.0
    ) -> None:
        """One connection per pair of workers: connect to the higher indexes, accept the lower ones."""
        for j in range(self.index + 1, self.count):
            s = Address.connect(peers[j], token, timeout)
            s.sendall(self.index.to_bytes(4, "big"))
            self.peers[j] = Connection(s, f"worker {j}")
        listener.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while len(self.peers) < self.count - 1:
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker {self.index}: its peers did not connect within {timeout:.0f} s")
            accepted = accept(listener, token)
            if accepted is None:  # not one of the job's processes
                continue
            j = int.from_bytes(recv_exact(accepted, 4, timeout), "big")
            self.peers[j] = Connection(accepted, f"worker {j}")
        for c in self.peers.values():
            _tune(c.sock)

    def announce(self) -> None:
        """Before the job starts: tell every peer, and learn from every peer, which channels start idle or
        ended — those whose sources got no split (a bounded one ends at once, an unbounded one is idle) — so
        that no subtask processes records while a split-less channel still holds its watermark back: results
        do not depend on which process starts first."""
        for d in self.drivers:
            if not d.reader.partitions():
                with _where(d.name, d.uid):
                    d.step(self.config.batch_size)  # a bounded source without splits finishes: watermark +inf
        self._update_statuses()
        self._flush_outbox()
        for conn in self.peers.values():
            conn.send((self.index, "announced"))
            conn.flush_blocking()
        waiting = set(self.peers)
        deadline = time.monotonic() + 60
        while waiting:
            for j in list(waiting):
                for frame in self.peers[j].receive():
                    if frame[1] == "announced":
                        waiting.discard(j)
                    else:
                        self._deliver(frame)
            if waiting:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"workers {sorted(waiting)} did not announce their channels")
                wait_io([self.peers[j].sock for j in waiting], (), 0.5)

    def _update_statuses(self) -> None:
        for sender, roots in self.sender_roots:
            if sender.status != END:
                if all(r.ended() for r in roots):
                    sender.set_status(END)
                elif all(r.idle() or r.ended() for r in roots):
                    sender.set_status(IDLE)
                elif sender.status == IDLE:
                    sender.set_status(ACTIVE)

    def open(self) -> None:
        ctx = OperatorContext(self.clock.now_ms, self.job_name, dict(self.config.params))
        for op in self.ops:
            op.setup(ctx)
        self.opened: list[Any] = []
        if self.config.state_backend == "rocksdb":
            self._use_rocksdb()
        for op in self.ops:
            self.opened.append(op)
            with _where(op.name, op.uid):
                op.open()
        for d in self.drivers:
            self.opened.append(d.reader)
            with _where(d.name, d.uid):
                d.reader.open()

    def _use_rocksdb(self) -> None:
        """The RocksDB state backend: keyed operators get RocksDB backends checkpointed in the canonical
        format (:mod:`.rocksdb_canonical`), their files in a directory of this worker's own, removed at the
        end (beside the job's checkpoints when it checkpoints: state larger than memory is larger than /tmp)."""
        import shutil
        import tempfile

        from ..checkpoint_storage import job_dir_name
        from ..checkpointing import checkpoint_root, job_id_of
        from .rocksdb_canonical import CanonicalRocksDBBackend, use_rocksdb

        parent = None
        if self.checkpointing:
            parent = Path(checkpoint_root(self.config)) / job_dir_name(job_id_of(self.config, self.job_name)) / ".work"
            parent.mkdir(parents=True, exist_ok=True)
        base = Path(tempfile.mkdtemp(prefix=f"rocksdb-w{self.index}-", dir=parent))

        class _Cleanup:
            def close(self) -> None:
                shutil.rmtree(base, ignore_errors=True)

        self.opened.append(_Cleanup())  # closed last
        self.opened.extend(use_rocksdb(self.ops, base, CanonicalRocksDBBackend))

    # -- running ----------------------------------------------------------------------------------------
    # -- checkpoints ------------------------------------------------------------------------------------
    def restore(self, entries: dict[str, Any]) -> None:
        """Reinstate this worker's share of a checkpoint: ``{uid or gate key: {"subtasks", "rescale",
        "max_parallelism"}}`` (:meth:`ParallelCheckpoints.restore_payloads`); state taken at another
        parallelism is redistributed by key group (:mod:`.rescale`)."""
        from ..checkpointing import CheckpointCoordinator, StateRestoreError, check_state_backend, state_misfit

        i = self.index
        with serializing_snapshots():
            for uid, thing in self.parts:
                entry = entries.get(uid)
                if entry is None:
                    continue
                node = self.nodes_by_uid[uid]
                check_state_backend(entry.get("state_backend"), self.config.state_backend, thing, node.t.name, uid)
                payload = entry["subtasks"][0]
                if entry["rescale"]:
                    payload = rescale_part(
                        thing, node.t.name, entry["subtasks"], i, node.parallelism, entry["max_parallelism"]
                    )
                if payload is None:
                    continue
                try:
                    CheckpointCoordinator._restore_part(thing, payload)
                except StateRestoreError:
                    raise
                except Exception as exc:
                    raise state_misfit("", node.t.name, uid, exc) from exc
        for idx, key in self.gate_keys.items():
            entry = entries.get(key)
            if entry is not None:
                subs = entry["subtasks"]
                self.gates[idx].restore(merge_gate(subs) if entry["rescale"] else subs[0])
        for op in self.tpc_sinks:  # transactions pre-committed by the restored checkpoint
            op.notify_checkpoint_complete(0)

    def _align(self, control: Connection) -> None:
        """Progress the barrier of checkpoint ``self.cp`` (see the module docstring); take the snapshot when
        every gate is aligned."""
        cid = self.cp
        assert cid is not None
        for k, (sender, roots) in enumerate(self.sender_roots):
            if k not in self.cp_sent and all(r.reached() for r in roots):
                sender.send_barrier(cid)
                self.cp_sent.add(k)
        if not all(g.aligned for g in self.gates.values()):
            return
        control.send(("ack", self.index, cid, *self.snapshot(cid)))
        for k, (sender, _roots) in enumerate(self.sender_roots):
            if k not in self.cp_sent:
                sender.send_barrier(cid)
        self.cp, self.cp_sent = None, set()
        for g in self.gates.values():
            g.release()

    def snapshot(self, cid: int) -> tuple[dict[str, Any], list[Any], list[Any]]:
        """Steps 1-2 of the checkpoint protocol for this worker: ``(payloads, exactly-once records, offsets)``."""
        for op in self.async_sinks:
            op.flush_writes()
        for op in self.tpc_sinks:
            op.pre_commit(cid)
        # as plain tuples (every log takes them): a ProducerRecord is unpickled through its Python __new__,
        # which cost the coordinator about 1 µs per output record
        records = [
            (topic, p, list(map(tuple, recs))) for op in self.eo_sinks for (topic, p), recs in op.take_pending().items()
        ]
        payloads: dict[str, Any] = {}
        offsets: list[Any] = []
        with serializing_snapshots():
            for uid, thing in self.parts:
                if isinstance(thing, SourceDriver):
                    payloads[uid] = {"kind": "source", "state": thing.snapshot()}
                    reader = thing.reader
                    if isinstance(reader, LogReader) and reader.source.group_id and reader.source.commit_offsets:
                        offsets.append((reader.source.log_url, reader.source.group_id, reader.snapshot()))
                else:
                    payloads[uid] = {
                        "kind": "operator",
                        "state": thing.snapshot(),
                        "wm": thing.wm,
                        "input_wms": list(thing._input_wms),
                        "last_tail": thing._last_tail,
                        "out_wm": thing.out.watermark,
                        "seen": thing.seen,
                    }
            for idx, key in self.gate_keys.items():
                payloads[key] = self.gates[idx].snapshot()
            payloads = pickle.loads(pickle.dumps(payloads, protocol=pickle.HIGHEST_PROTOCOL))  # a copy, now
        return payloads, records, offsets

    def run(self, control: Connection) -> None:
        batch = self.config.batch_size
        idle_s = self.config.idle_poll_ms / 1000
        timed = [op for op in self.ops if type(op).next_processing_time is not Operator.next_processing_time]
        rounds = [op for op in self.ops if isinstance(op, RoundBuffered)]
        peers = self.peers
        last_collect = last_metrics = time.monotonic()
        stalls = StallWatch(self.drivers, self.clock, self.config.idle_partition_warning_ms)
        while True:
            progress = self._control(control)
            if self.cancelled:
                return
            if self.finish:
                break
            for j, conn in peers.items():
                progress += self._receive(j, conn)
            if self.cp is not None:
                self._align(control)
            if self.cp is None and not self.stopping and all(c.pending < HIGH_WATER for c in peers.values()):
                for d in self.drivers:
                    if not d.finished:
                        with _where(d.name, d.uid):
                            progress += d.step(batch)
            self._update_statuses()
            stalls.check()
            if timed and self.cp is None:
                fire_due_timers(timed, self.clock.now_ms())
            for op in rounds:
                op.end_of_round()
            if self.report_metrics and time.monotonic() - last_metrics >= REPORT_EVERY_S:
                self._report(control)
                last_metrics = time.monotonic()
            if self.collectors and time.monotonic() - last_collect >= COLLECT_EVERY_S:
                self._send_collected(control)
                last_collect = time.monotonic()
            self._flush_outbox()
            if control.pending:  # the rest of a large frame (an ack with exactly-once records) goes out now
                control.flush()
            if self._done():
                if not self.checkpointing:
                    break
                if not self.drained:
                    self.drained = True
                    self._send_collected(control)
                    control.send(("drained", self.index))
            if not progress:
                wait = idle_s
                if timed:
                    due = [t for op in timed if (t := op.next_processing_time()) is not None]
                    if due:
                        wait = max(0.0, min(wait, (min(due) - self.clock.now_ms()) / 1000))
                writers = [c.sock for c in (control, *peers.values()) if c.pending and not c.closed]
                readers = [control.sock, *(c.sock for c in peers.values() if not c.closed)]
                t0 = time.perf_counter()
                wait_io(readers, writers, wait)
                # waiting while a peer's queue holds the sources back is back pressure, else waiting for input
                held = any(c.pending >= HIGH_WATER for c in peers.values())
                self.time.waited_on(time.perf_counter() - t0, output=held)
        for c in peers.values():
            if c.pending:
                c.flush_blocking()
        self._send_collected(control)
        if self.report_metrics:
            self._report(control)

    def _report(self, control: Connection) -> None:
        """Send this worker's metrics to the coordinator: counters, time shares and consumer lag."""
        lags = {uid: lag for uid, sampler in self.lags if (lag := sampler.sample()) is not None}
        counts = subtask_counts(self.metric_drivers, self.metric_ops)
        control.send(("metrics", self.index, counts, self.time.shares(), lags))

    def _done(self) -> bool:
        return (
            all(d.finished or self.stopping for d in self.drivers)
            and all(g.ended for g in self.gates.values())
            and all(s.status == END for s, _ in self.senders)
        )

    def _control(self, control: Connection) -> int:
        try:
            msgs = control.receive()
        except PeerClosed:  # the coordinator is gone: leave at once
            self.cancelled = True
            return 0
        for msg in msgs:
            kind = msg[0]
            if kind == "cancel":
                self.cancelled = True
            elif kind == "stop":
                self.stopping = True
            elif kind == "checkpoint":
                self.cp, self.cp_sent = msg[1], set()
            elif kind == "complete":
                for op in self.tpc_sinks:
                    op.notify_checkpoint_complete(msg[1])
            elif kind == "finish":
                self.finish = True
        return len(msgs)

    def _receive(self, peer: int, conn: Connection) -> int:
        n = 0
        gates = self.gates
        try:
            frames = conn.receive()
        except PeerClosed:
            if any(peer in g.open for g in gates.values()):
                raise  # it ended before its channels to us did: it died
            return 0  # it finished and left: nothing more was due from it
        for frame in frames:
            n += self._deliver(frame)
        return n

    def _deliver(self, frame: tuple[int, list[SubBatch]]) -> int:
        sender, n, gates = frame[0], 0, self.gates
        for edge, vals, tss, wmb, tail, status, keys in frame[1]:
            gates[edge].deliver(sender, vals, tss, wmb, tail, status, keys)
            n += len(vals) or 1
        return n

    def _flush_outbox(self) -> None:
        for j, subs in self.outbox.items():
            conn = self.peers[j]
            if subs:
                conn.send((self.index, subs))
                self.outbox[j] = []
            elif conn.pending:
                conn.flush()

    def _send_collected(self, control: Connection) -> None:
        batch = []
        for k, cop, sent in self.collectors:
            start = sent[0]
            if len(cop.results) > start:
                batch.append((k, cop.results[start:], (cop.timestamps or [])[start:]))
                sent[0] = len(cop.results)
        if batch:
            control.send(("collected", batch))

    def close(self) -> BaseException | None:
        """Close readers and operators (in reverse opening order); the first error, if any."""
        error: BaseException | None = None
        for thing in reversed(getattr(self, "opened", [])):
            try:
                thing.close()
            except BaseException as exc:
                if error is None:
                    error = exc
        return error

    def results(self) -> tuple[dict[str, int], int]:
        written: dict[str, int] = {}
        for name, op in self.sinks:
            w = getattr(op, "written", 0)
            if w:
                written[name] = written.get(name, 0) + w
        late = sum(getattr(op, "num_late_records_dropped", 0) for op in self.ops)
        return written, late


def _gate_root(gate: InputGate) -> _Root:
    return _Root(lambda: gate.ended, lambda: gate.idle, lambda: gate.aligned)


def _driver_idle(d: SourceDriver) -> bool:
    """A source subtask is idle when it has no split to read (unbounded), or all its splits are idle (per
    ``with_idleness``). A subtask that has splits but has not read yet is not idle: its first elements would be
    late for the other subtasks' watermark."""
    if d.finished:
        return False
    parts = [p for p in d.reader.partitions() if p not in d.finished_parts]
    if not parts:
        return not d.reader.bounded
    return all(p in d.pw.idle for p in parts)


def _tune(s: socket.socket) -> None:
    for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
        except OSError:
            pass


def failure_payload(exc: BaseException) -> dict[str, Any]:
    """What the coordinator needs to raise a job failure: the exception (when it pickles), where it happened
    (the subtask, uid, position and element, as the single-process runtime records them) and its traceback."""
    import pickle

    import cloudpickle

    where = getattr(exc, "_millstream_where", None)
    if where is None and hasattr(exc, "operator"):
        where = (exc.operator, getattr(exc, "uid", None), getattr(exc, "position", None), getattr(exc, "element", None))
    tb = "".join(traceback.format_exception(exc))
    blob: bytes | None
    try:
        blob = cloudpickle.dumps(exc)
        pickle.loads(blob)
    except Exception:
        blob = None
    element = where[3] if where else None
    try:
        cloudpickle.dumps(element)
    except Exception:
        element = repr(element)
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "blob": blob,
        "where": (where[0], where[1], where[2], element) if where else None,
        "traceback": tb,
    }


def main(argv: list[str]) -> int:
    coordinator, index, count, listen = argv[0], int(argv[1]), int(argv[2]), argv[3]
    token = bytes.fromhex(os.environ.get(TOKEN_ENV, ""))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_lifeline()
    listener, address = Address.listen(listen, count)
    control = Connection(Address.connect(coordinator, token), "coordinator")
    control.send(("hello", index, os.getpid(), address))
    worker: Worker | None = None
    try:
        msg = control.receive_blocking(60)
        if msg[0] != "job":
            return 1
        # the coordinator's import path first (a remote instance keeps its own entries after it)
        sys.path[:] = [*msg[1], *(p for p in sys.path if p not in msg[1])]
        import cloudpickle

        job = cloudpickle.loads(msg[2])
        with batch_gc():
            worker = Worker(index, count, job)
            worker.connect_peers(listener, msg[3], token)
            listener.close()
            worker.open()
            control.send(("ready", index))
            while True:
                msg = control.receive_blocking(3600)
                if msg[0] == "start":
                    break
                if msg[0] == "restore":
                    worker.restore(msg[1])
                elif msg[0] in ("cancel", "stop"):
                    worker.cancelled = True
                    break
            if not worker.cancelled:
                worker.announce()  # (after the restore: it may end channels the restored gates hold)
                worker.run(control)
        error = worker.close()
        written, late = worker.results()
        cancelled, worker = worker.cancelled, None
        if error is not None:
            raise error
        if not cancelled:
            control.send(("finished", index, written, late))
            control.flush_blocking(30)
    except PeerClosed:
        return PEER_GONE_EXIT  # the coordinator or a peer is gone: the coordinator ends the job (or has ended)
    except BaseException as exc:
        if worker is not None:
            worker.close()
        try:
            control.send(("failed", index, failure_payload(exc)))
            control.flush_blocking(10)
        except Exception:
            pass
        return 1
    return 0


__all__ = ["HIGH_WATER", "TOKEN_ENV", "Worker", "failure_payload", "main"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
