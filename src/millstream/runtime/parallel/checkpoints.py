"""Checkpoints of a parallel job, on the coordinator's side. The protocol (the worker's side is in
:mod:`millstream.runtime.parallel.worker`):

  1. **trigger**: every ``interval`` ms (or for a savepoint, or when every worker has drained its input: the
     final checkpoint) the coordinator sends ``("checkpoint", id)`` to all workers; one checkpoint at a time;
  2. **align and snapshot** (in the workers): barriers flow with the records through every exchange; each
     worker snapshots its subtasks once all its inputs have delivered the barrier, and acknowledges with its
     state, its exactly-once log sinks' records and its sources' group offsets;
  3. **write**: with every acknowledgement in, the coordinator writes the checkpoint — one blob per operator
     uid holding every subtask's state (``{"kind": "parallel", "parallelism", "max_parallelism",
     "subtasks": [...]}``), gates as ``<uid>#in<input>`` — atomically to checkpoint storage. A failed write
     fails only this checkpoint (its exactly-once records go out with the next one);
  4. **commit**: the exactly-once records, the source offsets of the sinks' log and the marker
     ``millstream.checkpoint/<job id>`` = id in ONE log transaction — the checkpoint is complete when it
     commits. On ``kafka://`` that is one Kafka transaction of the job's transactional id (``<prefix or
     millstream-<job id>>-0``, the single-process runtime's, so a restart at any parallelism fences the
     previous attempt): the records stream to the brokers past the first 10,000, invisible to
     ``read_committed`` readers until the commit. Unlike the single-process runtime (which streams into a
     transaction open for the whole interval), the workers hold their exactly-once records until the
     barrier, so memory grows with the output of one checkpoint interval;
  5. **notify**: ``("complete", id)`` to every worker (two-phase-commit sinks commit), other logs' offsets are
     committed, old checkpoints pruned, requested savepoints copied.

Recovery (:meth:`ParallelCheckpoints.restore_payloads`) is the single-process one (the log's marker names the
committed checkpoint — on Kafka read after ``init_transactions`` has fenced older producers of the id and
aborted what they left open; newer ones are discarded; else the newest valid one; or a savepoint), and each worker gets
its subtasks' state — at another parallelism than the checkpoint's, redistributed by key group
(:mod:`millstream.runtime.parallel.rescale`). A max parallelism that changed since the checkpoint is refused:
key groups would not mean the same keys.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...core.errors import CheckpointError
from ...core.record import TopicPartition
from ...log import Log, open_log
from ...stream.connectors import DeliveryGuarantee, LogSink
from ...stream.plan import JobPlan
from ..checkpoint_storage import Checkpoint, CheckpointStorage, CheckpointWriteError, load_checkpoint
from ..checkpointing import (
    MARKER_PREFIX,
    CheckpointStats,
    CheckpointSummary,
    StateRestoreError,
    check_restorable,
    checkpoint_root,
    job_id_of,
    read_state,
)
from ..kafka_exactly_once import is_kafka, transactional_id
from .rescale import with_union_state

log = logging.getLogger("millstream.checkpoint")


def _eo_log_sinks(plan: JobPlan) -> list[LogSink]:
    return [
        n.t.params["sink"]
        for n in plan.nodes.values()
        if n.t.kind == "sink"
        and isinstance(n.t.params.get("sink"), LogSink)
        and n.t.params["sink"].delivery_guarantee == DeliveryGuarantee.EXACTLY_ONCE
    ]


class ParallelCheckpoints:
    """Checkpoints and recovery of one :class:`~millstream.runtime.parallel.ParallelJobRunner` (see the
    module docstring). ``summary`` is shared across restarts of the job."""

    def __init__(self, job_name: str, config: Any, plan: JobPlan, summary: CheckpointSummary, workers: int) -> None:
        env = os.environ
        self.job_name = job_name
        self.config = config
        self.plan = plan
        self.summary = summary
        self.workers = workers
        self.enabled = config.checkpoint_interval is not None
        self.interval_ms: int = config.checkpoint_interval or 0
        self.job_id = job_id_of(config, job_name)
        self.allow_non_restored = config.allow_non_restored_state or env.get(
            "MILLSTREAM_ALLOW_NON_RESTORED_STATE", ""
        ).lower() in ("1", "true", "yes")
        self.savepoint_origin = config.from_savepoint or env.get("MILLSTREAM_FROM_SAVEPOINT") or None
        self.storage = CheckpointStorage(checkpoint_root(config), self.job_id, config.checkpoints_retained)
        urls = sorted({s.log_url or env.get("MILLSTREAM_LOG") or "" for s in _eo_log_sinks(plan)})
        if len(urls) > 1:
            raise CheckpointError(
                f"exactly-once log sinks write to {len(urls)} different logs ({', '.join(urls)}); one checkpoint "
                "transaction can only span one log",
                hint="write all exactly-once outputs to one log, or make the others at-least-once",
            )
        self.eo_url: str | None = urls[0] if urls else None
        prefixes = sorted({p for s in _eo_log_sinks(plan) if (p := s.transactional_id_prefix)})
        if len(prefixes) > 1:
            raise CheckpointError(
                f"the exactly-once log sinks of job {self.job_id!r} set different transactional id prefixes "
                f"({', '.join(map(repr, prefixes))}), but they write in one transaction with one id",
                hint="set the same set_transactional_id_prefix(...) on all of them, or on none",
            )
        # the single-process runtime's id too: a restart at another parallelism fences the previous attempt
        self.transactional_id = transactional_id(self.job_id, prefixes[0] if prefixes else None)
        self.marker_key = MARKER_PREFIX + self.job_id
        self.by_uid = {n.uid: n for n in plan.nodes.values()}
        self.names = {n.uid: n.t.name for n in plan.nodes.values()}
        self.next_id = 1
        #: checkpoint ids start above this (a reactive job's leader term: ids of an earlier leader never collide)
        self.id_floor = 0
        #: run inside each commit transaction before it commits (a reactive job fences a deposed leader there)
        self.commit_guard: Callable[[Any], None] | None = None
        self.last_ms = time.monotonic() * 1000
        self.inflight: int | None = None
        self.acks: dict[int, tuple[dict[str, Any], list[Any], list[Any]]] = {}
        self.carry: list[Any] = []  # exactly-once records of a checkpoint that failed to write
        self.started = 0.0
        self.savepoints: list[tuple[str, list[Any]]] = []  # requests served by the in-flight checkpoint
        self._log: Log | None = None

    # -- setup and recovery ----------------------------------------------------------------------------
    def open(self) -> None:
        if self.enabled:
            self.storage.open()
            if self.eo_url:
                self._log = open_log(self.eo_url or None)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _fence(self) -> None:
        """Kafka: ``init_transactions`` for the job's transactional id, which fences an older attempt still
        running (a zombie coordinator) and aborts the transaction a crashed one left open."""
        assert self._log is not None
        txn = self._log.transaction(self.transactional_id)
        try:
            flush = getattr(txn, "flush", None)
            if flush is not None:
                flush()
        finally:
            txn.abort()

    def _committed_marker(self) -> int | None:
        if self._log is None:
            return None
        raw = self._log.get_state(self.marker_key)
        return None if raw is None else int(json.loads(raw)["checkpoint_id"])

    def restore_payloads(self) -> list[dict[str, Any]]:
        """Per worker, ``{uid or gate key: {"subtasks": [...], "rescale": bool, "max_parallelism": int}}`` of the
        checkpoint or savepoint to restore (empty dicts when there is none)."""
        chk: Checkpoint | None = None
        if self.enabled:
            if self._log is not None and is_kafka(self.eo_url):
                self._fence()  # so that the marker read is the committed one
            marker = self._committed_marker()
            self.next_id = max([*self.storage.completed_ids(), marker or 0, self.id_floor]) + 1
            if self._log is not None:
                dropped = self.storage.discard_after(marker or 0)
                if dropped:
                    log.info("job %s: removed uncommitted checkpoints %s", self.job_id, dropped)
                chk = self.storage.latest_valid(max_id=marker) if marker else None
            else:
                chk = self.storage.latest_valid()
            self.summary.warnings.extend(m for m in self.storage.fallbacks if m not in self.summary.warnings)
        source = f"checkpoint {chk.checkpoint_id}" if chk is not None else ""
        if self.savepoint_origin and (chk is None or chk.manifest.get("savepoint") != self.savepoint_origin):
            chk = load_checkpoint(Path(self.savepoint_origin))
            source = f"savepoint {self.savepoint_origin}"
            self.summary.restored_from = self.savepoint_origin
        elif chk is not None:
            self.summary.restored_from = chk.checkpoint_id
        per_worker: list[dict[str, Any]] = [{} for _ in range(self.workers)]
        if chk is None:
            return per_worker
        check_restorable(source, chk.blobs, self.by_uid, self.allow_non_restored)
        for uid, blob in chk.blobs.items():
            node = self.by_uid.get(uid.split("#", 1)[0])
            if node is None:
                continue
            payload = read_state(source, node.t.name, uid, blob)
            if payload.get("kind") == "parallel":
                subs, old_p, old_max = payload["subtasks"], payload["parallelism"], payload["max_parallelism"]
                backend = payload.get("state_backend", "hashmap")
            else:  # a single-process checkpoint: one subtask
                subs, old_p, old_max = [payload], 1, node.max_parallelism
                backend = None  # (its RocksDB state says so itself)
            if "#" not in uid and node.t.kind != "source" and old_max != node.max_parallelism:
                raise StateRestoreError(
                    f"{source}: operator {node.t.name!r} (uid {uid!r}) had max parallelism {old_max}, the job now "
                    f"has {node.max_parallelism}; its key groups would hold other keys",
                    hint=f"keep set_max_parallelism({old_max}) for this operator (it bounds the parallelism, "
                    "and must not change while the job's state lives on)",
                )
            rescale = old_p != node.parallelism
            if not rescale and payload.get("kind") == "parallel" and subs and subs[0].get("kind") == "operator":
                subs = with_union_state(subs)
            for i in range(node.parallelism):
                entry = subs if rescale else [subs[i]]
                per_worker[i][uid] = {
                    "subtasks": entry,
                    "rescale": rescale,
                    "max_parallelism": node.max_parallelism,
                    "state_backend": backend,
                }
        return per_worker

    # -- taking checkpoints -----------------------------------------------------------------------------
    def due(self, requests: list[tuple[str, list[Any]]]) -> bool:
        if not self.enabled or self.inflight is not None:
            return False
        pause = max(self.interval_ms, self.config.min_pause_between_checkpoints)  # (from the last one's end)
        return bool(requests) or time.monotonic() * 1000 - self.last_ms >= pause

    def trigger(self, requests: list[tuple[str, list[Any]]]) -> int:
        """Start checkpoint ``next_id`` (step 1); the caller sends ``("checkpoint", id)`` to every worker."""
        cid = self.next_id
        self.next_id += 1
        self.inflight, self.acks, self.started = cid, {}, time.perf_counter()
        self.savepoints, requests[:] = list(requests), []
        return cid

    def on_ack(self, worker: int, cid: int, payloads: Any, records: Any, offsets: Any) -> bool:
        """An acknowledgement; ``True`` when it was the last one (then call :meth:`complete`)."""
        if cid != self.inflight:
            return False
        self.acks[worker] = (payloads, records, offsets)
        return len(self.acks) == self.workers

    def complete(self) -> CheckpointStats:
        """Steps 3-5 but the notification (the caller sends ``("complete", id)`` when this returns COMPLETED)."""
        from ..savepoints import copy_as_savepoint

        cid = self.inflight
        assert cid is not None
        t0 = self.started
        blobs, names = self._blobs()
        records = self.carry + [r for _w, (_p, recs, _o) in sorted(self.acks.items()) for r in recs]
        offsets = [o for _w, (_p, _r, offs) in sorted(self.acks.items()) for o in offs]
        extra = {
            "mode": self.config.checkpointing_mode,
            "job_name": self.job_name,
            "savepoint": self.savepoint_origin,
            "exactly_once_log": self.eo_url,
            "parallelism": self.workers,
        }
        t1 = time.perf_counter()
        self.inflight = None
        try:
            path, size = self.storage.write(cid, blobs, names, extra)
        except CheckpointWriteError as exc:
            self.carry = records
            st = CheckpointStats(cid, "FAILED", (time.perf_counter() - t0) * 1000, error=str(exc))
            msg = f"job {self.job_id!r}: checkpoint {cid} failed, continuing on the previous checkpoint: {exc}"
            self.summary.warnings.append(msg)
            log.warning(msg)
            self._finish(st, None)
            return st
        self.carry = []
        t2 = time.perf_counter()
        committed = self._commit(cid, records, offsets)
        self.storage.prune()
        st = CheckpointStats.completed(cid, (t0, t1, t2, time.perf_counter()), size, blobs, committed)
        self._finish(st, path)
        for target, done in self.savepoints:
            try:
                done.append(copy_as_savepoint(load_checkpoint(path), target))
            except Exception as exc:
                done.append(exc)
        self.savepoints = []
        return st

    def _finish(self, st: CheckpointStats, path: Path | None) -> None:
        self.summary.stats.append(st)
        self.last_ms = time.monotonic() * 1000
        if st.status != "COMPLETED":
            for _target, done in self.savepoints:
                done.append(CheckpointError(f"the checkpoint for the savepoint failed: {st.error}"))
            self.savepoints = []

    def _blobs(self) -> tuple[dict[str, bytes], dict[str, str]]:
        per: dict[str, dict[int, Any]] = defaultdict(dict)
        for w, (payloads, _r, _o) in self.acks.items():
            for key, payload in payloads.items():
                per[key][w] = payload
        blobs: dict[str, bytes] = {}
        names: dict[str, str] = {}
        for key, by_worker in per.items():
            uid, _, gate = key.partition("#")
            node = self.by_uid[uid]
            subs = [by_worker[i] for i in range(node.parallelism)]
            blob = {
                "kind": "parallel",
                "parallelism": node.parallelism,
                "max_parallelism": node.max_parallelism,
                "state_backend": self.config.state_backend,
                "subtasks": subs,
            }
            blobs[key] = pickle.dumps(blob, protocol=pickle.HIGHEST_PROTOCOL)
            names[key] = f"{node.t.name} ({gate})" if gate else node.t.name
        return blobs, names

    def _commit(self, cid: int, records: list[Any], offsets: list[Any]) -> int:
        """Step 4 (and the offsets of other logs, step 5)."""
        n = 0
        own: dict[str, dict[TopicPartition, int]] = defaultdict(dict)
        for url, group, positions in offsets:
            tps = {TopicPartition(t, p): off for (t, p), off in positions.items()}
            if self._log is not None and (url or os.environ.get("MILLSTREAM_LOG") or "") == self.eo_url:
                own[group].update(tps)
            elif tps:
                with open_log(url) as other:
                    other.commit_offsets(group, tps)
        if self._log is None:
            return 0
        txn = self._log.transaction(self.transactional_id)
        try:
            for topic, p, recs in records:
                txn.append(topic, p, recs)
                n += len(recs)
            for group, tps in own.items():
                txn.commit_offsets(group, tps)
            txn.put_state(self.marker_key, json.dumps({"checkpoint_id": cid}).encode())
            if self.commit_guard is not None:
                self.commit_guard(txn)
        except BaseException:
            txn.abort()
            raise
        txn.commit()
        return n


__all__ = ["ParallelCheckpoints"]
