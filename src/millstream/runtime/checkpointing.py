"""The checkpoint protocol of the local runtime, recovery, and exactly-once on the embedded log and Kafka.

The runtime is single-threaded, so a consistent cut is simply the moment between two source rounds: no
element is in flight between operators. The job loop calls :meth:`CheckpointCoordinator.maybe_checkpoint`
after every round; when the interval has passed (or the job ends), :meth:`CheckpointCoordinator.checkpoint`
runs the protocol:

  1. **pre-commit sinks**: sinks that write without waiting for acknowledgements (Kafka's ``append_nowait``)
     wait for all of them (``flush_writes``); two-phase-commit sinks close their open transaction
     (``pre_commit``) and open a new one; exactly-once log sinks hand over the records written since the last
     checkpoint;
  2. **snapshot**: every source (reader positions + watermark generators) and every stateful operator
     (keyed state, window contents, timers, watermarks; sinks: their pending transactions) is pickled
     into one blob per operator uid;
  3. **write** the blobs and a manifest (job id, checkpoint id, uids, format version, SHA-256 per blob) to
     checkpoint storage atomically (temp dir + fsync + rename). If this fails (disk full...), the
     checkpoint fails, the job keeps running on the previous one and the failure is reported; the
     exactly-once records taken in step 1 are put back and go out with the next checkpoint;
  4. **commit**: exactly-once log sinks append their records, the source offsets of log sources on that
     log are committed for their group, and the marker ``millstream.checkpoint/<job id>`` = checkpoint id
     is stored — all in ONE ``log.transaction()``. The checkpoint is complete when this commits. On Kafka
     the sinks' records are already in the job's open Kafka transaction (transactional id
     ``<prefix or millstream-<job id>>-0``); the offsets go in with ``send_offsets_to_transaction``, the
     marker as a record of the compacted topic ``__millstream_state``, and the commit makes all three
     visible (:mod:`millstream.runtime.kafka_exactly_once`);
  5. **notify complete**: two-phase-commit sinks commit the transactions pre-committed in step 1; sources
     commit offsets of other logs to their group; old checkpoints beyond the retained count are removed.

Recovery (:meth:`CheckpointCoordinator.restore_on_start`): with exactly-once log sinks the log's marker
names the last *committed* checkpoint; that one is restored and newer, uncommitted checkpoints are
deleted — so the restored state matches the committed output and offsets exactly. On Kafka the job's
transactional producer is initialised first, which fences an older attempt still running and aborts the
transaction a crashed one left open, so the marker read is the committed one. Without such sinks the
newest checkpoint that verifies is restored. A corrupt checkpoint falls back to the previous one (with a
warning). A savepoint (``from_savepoint``) is restored when the job has no checkpoint taken since
restoring that savepoint. State is matched by operator uid; state of a uid the job no longer has is an
error unless ``allow_non_restored_state``.

For ``millstream run`` (which starts a pipeline file that calls ``env.execute`` itself), the environment
variables ``MILLSTREAM_JOB_ID``, ``MILLSTREAM_FROM_SAVEPOINT``, ``MILLSTREAM_ALLOW_NON_RESTORED_STATE`` (1/true)
and ``MILLSTREAM_CHECKPOINT_DIR`` supply the job id, savepoint, flag and checkpoint directory when the job's
configuration does not set them.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..core.errors import CheckpointError
from ..stream.operators.base import Operator
from ..stream.state import KeyedStateBackend, serializing_snapshots
from .checkpoint_storage import Checkpoint, CheckpointStorage, CheckpointWriteError, load_checkpoint
from .kafka_exactly_once import OpenKafkaTransaction, check_transaction_timeout, is_kafka, transactional_id
from .protocols import PositionedReader, checkpoint_roles
from .sources import LogReader

log = logging.getLogger("millstream.checkpoint")
MARKER_PREFIX = "millstream.checkpoint/"
DEFAULT_CHECKPOINT_DIR = "millstream-checkpoints"


class StateRestoreError(CheckpointError):
    """A checkpoint's state cannot be restored into the job as it is now (incompatible state schema,
    state of an operator uid the job no longer has)."""

    exit_code = 2


def check_restorable(source: str, blob_uids: Any, known: Any, allow_non_restored: bool) -> None:
    """Fail when a checkpoint (``source`` names it) has state for operator uids the job does not have (gate
    blobs ``uid#in<k>`` count as their operator's), unless ``allow_non_restored``."""
    unmatched = sorted(uid for uid in blob_uids if uid.split("#", 1)[0] not in known)
    if unmatched and not allow_non_restored:
        raise StateRestoreError(
            f"{source} has state for operator uid(s) {', '.join(map(repr, unmatched))} that the job does not have",
            hint="give the operators the same uid(...) as before, or pass allow_non_restored_state "
            "(--allow-non-restored-state) to drop that state",
        )


def check_tolerable_failures(summary: CheckpointSummary, config: Any) -> None:
    """``CheckpointConfig.set_tolerable_checkpoint_failure_number(n)``: more than ``n`` failed checkpoints in a
    row fail the job (:class:`CheckpointError`)."""
    stats = summary.stats
    tolerable = getattr(config, "tolerable_checkpoint_failures", None)
    if tolerable is None or not stats:
        return
    failed = 0
    for st in reversed(stats):
        if st.status == "COMPLETED":
            break
        failed += 1
    if failed > tolerable:
        raise CheckpointError(
            f"{failed} checkpoints in a row failed, more than the tolerable {tolerable} (last: {stats[-1].error})",
            hint="fix the checkpoint storage, or raise set_tolerable_checkpoint_failure_number(...)",
        )


def job_id_of(config: Any, job_name: str) -> str:
    """The job's id: ``config.job_id``, else ``$MILLSTREAM_JOB_ID``, else the job's name."""
    return config.job_id or os.environ.get("MILLSTREAM_JOB_ID") or job_name


def checkpoint_root(config: Any) -> str:
    """Where checkpoints go: the configured storage, else ``$MILLSTREAM_CHECKPOINT_DIR``, else the default."""
    return config.checkpoint_storage or os.environ.get("MILLSTREAM_CHECKPOINT_DIR") or DEFAULT_CHECKPOINT_DIR


def check_state_backend(taken_with: str | None, running_with: str, thing: Any, name: str, uid: str) -> None:
    """Keyed state checkpointed by a parallel job with one state backend restores only into the same backend
    (the window operators even differ between the two): a clear error otherwise. ``taken_with`` is ``None``
    for a single-process checkpoint, whose RocksDB state says so itself."""
    if (
        taken_with is None
        or taken_with == running_with
        or not isinstance(getattr(thing, "backend", None), KeyedStateBackend)
    ):
        return
    names = {"hashmap": "the in-memory state backend (HashMapStateBackend)", "rocksdb": "RocksDB"}
    raise StateRestoreError(
        f"operator {name!r} (uid {uid!r}): its state was checkpointed by {names.get(taken_with, taken_with)}, but "
        f"the job now runs with {names.get(running_with, running_with)}",
        hint="restore with the state backend that wrote the checkpoint (env.set_state_backend(...))",
    )


def read_state(source: str, name: str, uid: str, blob: bytes) -> Any:
    """One operator's pickled state, or a :class:`StateRestoreError` saying this code cannot read it."""
    try:
        return pickle.loads(blob)
    except Exception as exc:
        raise StateRestoreError(
            f"{source}: the state of operator {name!r} (uid {uid!r}) cannot be read by this version of the job: "
            f"{type(exc).__name__}: {exc}",
            hint="restore with the code version that wrote it, or start without that state",
        ) from exc


def state_misfit(source: str, name: str, uid: str, exc: BaseException) -> StateRestoreError:
    """The error for state that was read but does not fit the operator as it is now."""
    prefix = f"{source}: " if source else ""
    return StateRestoreError(
        f"{prefix}the state of operator {name!r} (uid {uid!r}) does not fit the operator any more "
        f"({type(exc).__name__}: {exc})",
        hint="keep the operator's state layout, give the changed operator a new uid and pass "
        "allow_non_restored_state, or start from scratch",
    )


@dataclass
class CheckpointStats:
    """One checkpoint attempt: id, outcome, duration (ms), bytes written and records committed."""

    checkpoint_id: int
    status: str  # COMPLETED or FAILED
    duration_ms: float
    size: int = 0
    state_size: int = 0
    committed_records: int = 0
    error: str | None = None
    snapshot_ms: float = 0.0  # steps 1-2
    write_ms: float = 0.0  # step 3
    commit_ms: float = 0.0  # steps 4-5
    end_time_ms: int = field(default_factory=lambda: int(time.time() * 1000))  # epoch ms when it ended

    @classmethod
    def completed(
        cls, cid: int, marks: tuple[float, float, float, float], size: int, blobs: dict[str, bytes], committed: int
    ) -> CheckpointStats:
        """A completed checkpoint's stats from ``perf_counter`` marks: start, snapshot taken, written, committed."""
        t0, t1, t2, t3 = marks
        return cls(
            cid,
            "COMPLETED",
            (t3 - t0) * 1000,
            size,
            sum(map(len, blobs.values())),
            committed,
            snapshot_ms=(t1 - t0) * 1000,
            write_ms=(t2 - t1) * 1000,
            commit_ms=(t3 - t2) * 1000,
        )


@dataclass
class CheckpointSummary:
    """What a job's checkpointing did: ``restored_from`` (checkpoint id or savepoint path), the stats per
    checkpoint, and warnings (corrupt checkpoints skipped, failed checkpoints)."""

    restored_from: Any = None
    stats: list[CheckpointStats] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return sum(1 for s in self.stats if s.status == "COMPLETED")

    @property
    def failed(self) -> int:
        return sum(1 for s in self.stats if s.status == "FAILED")


def _is_stateful(op: Any) -> bool:
    return type(op).snapshot is not Operator.snapshot


class CheckpointedJob(Protocol):
    """What the coordinator needs of the job it checkpoints (a narrow view of
    :class:`~millstream.runtime.job.JobRunner`)."""

    config: Any  # the job's JobConfig
    job_name: str
    order: list[Any]  # its operators (sinks among them), upstream first
    savepoint_requests: list[tuple[str, list[Any]]]  # (target, [result]) asked for from other threads

    def state_parts(self) -> list[tuple[str, str, Any]]:
        """``(uid, name, source driver or stateful operator)`` of everything that has state."""


class CheckpointCoordinator:
    """Takes checkpoints of one job (a :class:`CheckpointedJob`: the :class:`~millstream.runtime.job.JobRunner`)
    and restores them (see the module docstring for the protocol). ``summary`` is shared across restarts."""

    def __init__(self, job: CheckpointedJob, summary: CheckpointSummary, attempt: int) -> None:
        cfg = job.config
        self.job = job
        self.summary = summary
        self.attempt = attempt
        env = os.environ
        self.job_id = job_id_of(cfg, job.job_name)
        self.allow_non_restored = cfg.allow_non_restored_state or env.get(
            "MILLSTREAM_ALLOW_NON_RESTORED_STATE", ""
        ).lower() in ("1", "true", "yes")
        self.interval_ms: int = cfg.checkpoint_interval or 0
        self.enabled = cfg.checkpoint_interval is not None
        self.storage = CheckpointStorage(checkpoint_root(cfg), self.job_id, cfg.checkpoints_retained)
        self.parts: dict[str, tuple[str, Any]] = {}  # uid -> (name, driver or operator)
        for uid, name, thing in job.state_parts():
            if uid in self.parts:
                raise CheckpointError(
                    f"two operators have the uid {uid!r} ({self.parts[uid][0]!r} and {name!r})",
                    hint="give every operator its own uid(...)",
                )
            self.parts[uid] = (name, thing)
        # (async sinks write without waiting for acknowledgements, e.g. Kafka's append_nowait: flushed in step 1,
        # so that no source offset is committed for output that is not yet acknowledged)
        self.eo_sinks, self.tpc_sinks, self.async_sinks = checkpoint_roles(job.order)
        urls = {op.sink.log_url for op in self.eo_sinks}
        if len(urls) > 1:
            raise CheckpointError(
                f"exactly-once log sinks write to {len(urls)} different logs ({', '.join(sorted(urls))}); one "
                "checkpoint transaction can only span one log",
                hint="write all exactly-once outputs to one log, or make the others at-least-once",
            )
        # exactly-once on Kafka: the sinks write into one open Kafka transaction (kafka_exactly_once)
        self.kafka_eo = any(is_kafka(url) for url in urls)
        self.kafka_txn: OpenKafkaTransaction | None = None
        if self.kafka_eo and self.enabled:
            check_transaction_timeout(self.interval_ms, self.eo_sinks)
            prefixes = sorted({op.sink.transactional_id_prefix for op in self.eo_sinks} - {None})
            if len(prefixes) > 1:
                raise CheckpointError(
                    f"the exactly-once Kafka sinks of job {self.job_id!r} set different transactional id prefixes "
                    f"({', '.join(map(repr, prefixes))}), but they write in one transaction with one id",
                    hint="set the same set_transactional_id_prefix(...) on all of them, or on none",
                )
        self.marker_key = MARKER_PREFIX + self.job_id
        self.next_id = 1
        self.last_ms = time.monotonic() * 1000
        self.savepoint_origin = cfg.from_savepoint or env.get("MILLSTREAM_FROM_SAVEPOINT") or None
        self.rocks: list[Any] = []
        self._temp_work: Path | None = None
        self._attachments: dict[str, Path] = {}

    # -- setup --------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Before operators open: open the storage and, with the RocksDB state backend, give every keyed
        operator a RocksDB backend (working files under the job's checkpoint directory, so checkpoints
        hard-link them)."""
        if self.enabled:
            self.storage.open()
            for _name, thing in self.parts.values():
                if isinstance(getattr(thing, "reader", None), LogReader):
                    thing.reader.commit_on_close = False  # offsets are committed with checkpoints
        if self.job.config.state_backend != "rocksdb":
            return
        import tempfile

        from .parallel.rocksdb_canonical import use_rocksdb
        from .rocksdb_state import RocksDBKeyedStateBackend

        if self.enabled:
            base = self.storage.dir / ".work"
        else:
            base = Path(tempfile.mkdtemp(prefix="millstream-rocksdb-"))
            self._temp_work = base
        self.rocks.extend(use_rocksdb([thing for _name, thing in self.parts.values()], base, RocksDBKeyedStateBackend))

    def _abort_kafka_transaction(self) -> None:
        txn, self.kafka_txn = self.kafka_txn, None
        if txn is not None:
            for op in self.eo_sinks:
                op.txn = None
            try:
                txn.abort()
            except Exception as exc:  # the brokers abort it after transaction.timeout.ms anyway
                log.warning("job %s: aborting the open Kafka transaction failed: %s", self.job_id, exc)

    def close(self) -> None:
        """Abort the open Kafka transaction (records written after the last checkpoint: a restart
        produces them again), close RocksDB backends and remove their working files."""
        self._abort_kafka_transaction()
        for b in self.rocks:
            b.close()
        self.rocks = []
        if self._temp_work is not None:
            shutil.rmtree(self._temp_work, ignore_errors=True)

    # -- recovery -----------------------------------------------------------------------------------
    def _committed_marker(self) -> int | None:
        if not self.eo_sinks:
            return None
        raw = self.eo_sinks[0].log.get_state(self.marker_key)
        return None if raw is None else int(json.loads(raw)["checkpoint_id"])

    def restore_on_start(self) -> None:
        """Restore the job's latest committed checkpoint, or the savepoint (call after every reader and
        operator is open)."""
        if not self.enabled and not self.savepoint_origin:
            return
        chk: Checkpoint | None = None
        if self.enabled and self.kafka_eo:
            self._open_kafka_transaction()  # fences zombies first, so the marker read is the committed one
        if self.enabled:
            marker = self._committed_marker()
            existing = self.storage.completed_ids()
            self.next_id = max([*existing, marker or 0]) + 1
            if self.eo_sinks:
                if marker is None:
                    dropped = self.storage.discard_after(0)
                else:
                    dropped = self.storage.discard_after(marker)
                if dropped:
                    log.info("job %s: removed uncommitted checkpoints %s", self.job_id, dropped)
                chk = self.storage.latest_valid(max_id=marker or 0) if marker else None
                if marker is not None and (chk is None or chk.checkpoint_id != marker):
                    msg = (
                        f"job {self.job_id!r}: the committed checkpoint {marker} is unusable; restoring "
                        + (f"checkpoint {chk.checkpoint_id}" if chk else "from the start")
                        + " — output committed since then will be produced again"
                    )
                    self.summary.warnings.append(msg)
                    log.warning(msg)
            else:
                chk = self.storage.latest_valid()
            self.summary.warnings.extend(m for m in self.storage.fallbacks if m not in self.summary.warnings)
        if self.savepoint_origin and (chk is None or chk.manifest.get("savepoint") != self.savepoint_origin):
            chk = load_checkpoint(Path(self.savepoint_origin))
            self._restore(chk, self.allow_non_restored, source=f"savepoint {self.savepoint_origin}")
            self.summary.restored_from = self.savepoint_origin
            for op in self.tpc_sinks:  # transactions pre-committed by the restored savepoint
                op.notify_checkpoint_complete(0)
            return
        if chk is not None:
            self._restore(chk, self.allow_non_restored, source=f"checkpoint {chk.checkpoint_id}")
            self.summary.restored_from = chk.checkpoint_id
            for op in self.tpc_sinks:  # transactions pre-committed by the restored checkpoint
                op.notify_checkpoint_complete(0)

    def _open_kafka_transaction(self) -> None:
        """Kafka: ``init_transactions`` for the job's transactional id (fencing older producers of it and
        aborting their open transaction) and route the exactly-once sinks' records into the transaction."""
        op0 = self.eo_sinks[0]
        prefix = next((p for op in self.eo_sinks if (p := op.sink.transactional_id_prefix)), None)
        self.kafka_txn = OpenKafkaTransaction(op0.log, transactional_id(self.job_id, prefix))
        self.kafka_txn.fence()
        for op in self.eo_sinks:
            op.txn = self.kafka_txn

    def _restore(self, chk: Checkpoint, allow_non_restored: bool, source: str) -> None:
        check_restorable(source, chk.blobs, self.parts, allow_non_restored)
        for uid, blob in chk.blobs.items():
            if uid not in self.parts:  # (nor ``uid#in<k>``: a parallel job's input gates; one process has none)
                continue
            name, thing = self.parts[uid]
            payload = read_state(source, name, uid, blob)
            canonical_rocks = False
            if payload.get("kind") == "parallel":  # taken at parallelism N: all its subtasks' state, merged
                taken_with = payload.get("state_backend", "hashmap")
                check_state_backend(taken_with, self.job.config.state_backend, thing, name, uid)
                canonical_rocks = taken_with == "rocksdb"
                payload = self._from_parallel(thing, name, payload)
            if payload.get("kind") == "source" and not isinstance(thing.reader, PositionedReader):
                msg = (
                    f"source {name!r} (uid {uid!r}) cannot resume from a position: it starts from its beginning, "
                    "so its elements are processed again"
                )
                self.summary.warnings.append(msg)
                log.warning(msg)
            att = chk.manifest["operators"][uid].get("attachment")
            backend = getattr(thing, "backend", None)
            if att is not None and backend is not None:
                backend.restore_from = chk.path / att["dir"]
            elif canonical_rocks and backend in self.rocks:
                from .parallel.rocksdb_canonical import CanonicalRocksDBBackend

                # RocksDB state a parallel job checkpointed (canonical format, no attachment): restored and,
                # from now on, checkpointed in that format
                backend.__class__ = CanonicalRocksDBBackend
            try:
                with serializing_snapshots():
                    self._restore_part(thing, payload)
            except StateRestoreError:
                raise
            except Exception as exc:
                raise state_misfit(source, name, uid, exc) from exc

    @staticmethod
    def _from_parallel(thing: Any, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One process's state from a parallel job's checkpoint (:mod:`millstream.runtime.parallel.rescale`)."""
        subs = payload["subtasks"]
        if payload["parallelism"] == 1:
            return subs[0]
        from .parallel.rescale import rescale_part

        merged = rescale_part(thing, name, subs, 0, 1, payload["max_parallelism"])
        assert merged is not None
        return merged

    @staticmethod
    def _restore_part(thing: Any, payload: dict[str, Any]) -> None:
        if payload["kind"] == "source":
            thing.restore(payload["state"])
            return
        thing.restore(payload["state"])
        thing.wm = payload["wm"]
        thing._input_wms = list(payload["input_wms"])
        thing._last_tail = payload["last_tail"]
        thing.out.watermark = payload["out_wm"]
        thing.seen = payload["seen"]

    # -- taking checkpoints -------------------------------------------------------------------------
    def due_in_ms(self) -> float:
        """Milliseconds until :meth:`maybe_checkpoint` takes the next periodic checkpoint (0: due now, or a
        savepoint is asked for), so an idle job's wait ends in time for it."""
        if self.job.savepoint_requests:
            return 0.0
        pause = max(self.interval_ms, getattr(self.job.config, "min_pause_between_checkpoints", 0))
        return max(0.0, self.last_ms + pause - time.monotonic() * 1000)

    def maybe_checkpoint(self) -> None:
        """Take a checkpoint if the interval has passed since the last one, or a savepoint if asked."""
        now = time.monotonic() * 1000
        if self.job.savepoint_requests:
            self.take_requested_savepoints()
        elif now - self.last_ms >= max(self.interval_ms, getattr(self.job.config, "min_pause_between_checkpoints", 0)):
            self.checkpoint()
            check_tolerable_failures(self.summary, self.job.config)

    def take_requested_savepoints(self) -> None:
        """Serve ``JobClient.trigger_savepoint``: a checkpoint, then its copy at each requested target."""
        from .savepoints import copy_as_savepoint

        reqs = self.job.savepoint_requests
        st = self.checkpoint()
        while reqs:
            target, done = reqs.pop(0)
            try:
                if st.status != "COMPLETED":
                    raise CheckpointError(f"the checkpoint for the savepoint failed: {st.error}")
                done.append(copy_as_savepoint(load_checkpoint(self.storage.path_of(st.checkpoint_id)), target))
            except Exception as exc:
                done.append(exc)

    def snapshot_blobs(self) -> dict[str, bytes]:
        """Step 2: one pickled blob per stateful source/operator uid."""
        blobs: dict[str, bytes] = {}
        dumps = pickle.dumps
        for uid, (_name, thing) in self.parts.items():
            if not isinstance(thing, Operator):  # a SourceDriver
                payload: dict[str, Any] = {"kind": "source", "state": thing.snapshot()}
            else:
                payload = {
                    "kind": "operator",
                    "state": thing.snapshot(),
                    "wm": thing.wm,
                    "input_wms": thing._input_wms,
                    "last_tail": thing._last_tail,
                    "out_wm": thing.out.watermark,
                    "seen": thing.seen,
                }
            blobs[uid] = dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            att = getattr(getattr(thing, "backend", None), "attachment", None)
            if att is not None:
                self._attachments[uid] = att
                thing.backend.attachment = None
        return blobs

    def checkpoint(self) -> CheckpointStats:
        """Run the checkpoint protocol once (module docstring); returns its stats. A failure to write
        the checkpoint is reported and tolerated; a failure to commit fails the job."""
        t0 = time.perf_counter()
        cid = self.next_id
        self.next_id += 1
        # Step 1: pre-commit sinks (and wait for every write of at-least-once sinks to be acknowledged)
        for op in self.async_sinks:
            op.flush_writes()
        for op in self.tpc_sinks:
            op.pre_commit(cid)
        pending = [(op, op.take_pending()) for op in self.eo_sinks]
        # Step 2: snapshot sources and stateful operators
        with serializing_snapshots():
            blobs = self.snapshot_blobs()
        positions = {
            uid: thing.reader.snapshot()
            for uid, (_n, thing) in self.parts.items()
            if isinstance(getattr(thing, "reader", None), LogReader)
        }
        # Step 3: write the checkpoint atomically
        extra = {
            "mode": self.job.config.checkpointing_mode,
            "job_name": self.job.job_name,
            "savepoint": self.savepoint_origin,
            "exactly_once_log": self.eo_sinks[0].sink.log_url if self.eo_sinks else None,
        }
        names = {uid: name for uid, (name, _t) in self.parts.items()}
        t1 = time.perf_counter()
        attachments, self._attachments = self._attachments, {}
        try:
            path, size = self.storage.write(cid, blobs, names, extra, attachments=attachments)
        except CheckpointWriteError as exc:
            for op, recs in pending:  # they go out with the next checkpoint
                for tp, r in recs.items():
                    op.pending[tp] = r + op.pending.get(tp, [])
            for op in self.tpc_sinks:
                op.checkpoint_failed(cid)
            st = CheckpointStats(cid, "FAILED", (time.perf_counter() - t0) * 1000, error=str(exc))
            msg = f"job {self.job_id!r}: checkpoint {cid} failed, continuing on the previous checkpoint: {exc}"
            self.summary.warnings.append(msg)
            log.warning(msg)
            self._record(st)
            self.last_ms = time.monotonic() * 1000
            return st
        # Step 4: commit output + source offsets + the checkpoint marker in one log transaction
        t2 = time.perf_counter()
        committed = 0
        if self.eo_sinks:
            committed = self._commit_log(cid, pending, positions)
        # Step 5: notify completion: 2PC sinks commit, other offsets, retention
        for op in self.tpc_sinks:
            op.notify_checkpoint_complete(cid)
        eo_url = self.eo_sinks[0].sink.log_url if self.eo_sinks else None
        for uid, pos in positions.items():
            reader = self.parts[uid][1].reader
            if reader.source.log_url != eo_url:  # (those on the sinks' log went in the transaction)
                reader.commit(pos)
        self.storage.prune()
        st = CheckpointStats.completed(cid, (t0, t1, t2, time.perf_counter()), size, blobs, committed)
        self._record(st)
        self.last_ms = time.monotonic() * 1000
        log.debug("job %s: checkpoint %d complete at %s", self.job_id, cid, path)
        return st

    def _commit_log(
        self, cid: int, pending: list[tuple[Any, dict[tuple[str, int], list[Any]]]], positions: dict[str, Any]
    ) -> int:
        from ..core.record import TopicPartition

        sink_log = self.eo_sinks[0].log
        url = self.eo_sinks[0].sink.log_url
        n = 0
        open_txn = self.kafka_txn
        txn = open_txn.txn if open_txn is not None else sink_log.transaction(f"millstream-{self.job_id}")
        try:
            for _op, recs in pending:
                for (topic, p), rs in recs.items():
                    txn.append(topic, p, rs)
                    n += len(rs)
            for uid, pos in positions.items():
                src = self.parts[uid][1].reader.source
                if src.group_id and src.commit_offsets and src.log_url == url and pos:
                    txn.commit_offsets(src.group_id, {TopicPartition(t, p): o for (t, p), o in pos.items()})
            txn.put_state(self.marker_key, json.dumps({"checkpoint_id": cid}).encode())
        except BaseException:
            txn.abort()
            raise
        if open_txn is not None:
            return n + open_txn.commit()  # and the sinks' next records go to a new transaction
        txn.commit()
        return n

    def _record(self, st: CheckpointStats) -> None:
        self.summary.stats.append(st)  # reported as metrics by runtime.metrics.JobMetrics

    def abort(self) -> None:
        """The job failed: drop pending exactly-once records and abort open 2PC transactions."""
        for op in self.eo_sinks:
            op.take_pending()
        self._abort_kafka_transaction()
        for op in self.tpc_sinks:
            abort = getattr(op, "abort_open", None)
            if abort is not None:
                abort()


__all__ = [
    "DEFAULT_CHECKPOINT_DIR",
    "CheckpointCoordinator",
    "CheckpointStats",
    "CheckpointSummary",
    "StateRestoreError",
]
