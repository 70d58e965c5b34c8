"""Two-phase-commit sinks: the API for connector authors, the operator that drives it from checkpoints,
and the exactly-once file sink built on it.

A :class:`TwoPhaseCommitSink` writes into *transactions* (Flink's ``TwoPhaseCommitSinkFunction``):

  * ``begin_transaction()`` opens one and returns its handle (plain picklable data: it is checkpointed);
  * ``write(txn, values, timestamps)`` adds a batch to it;
  * ``pre_commit(txn)`` (checkpoint step 1) makes it durable but invisible: after this, ``commit`` must
    succeed even in another process after a crash;
  * ``commit(txn)`` (step 5, once the checkpoint is complete) makes it visible. It must be idempotent:
    on recovery it is called again for transactions of the restored checkpoint;
  * ``abort(txn)`` discards it (job failure, or on recovery for the transaction that was open);
  * ``recover(keep)`` is called once before the first write: discard leftovers of transactions that are
    not in ``keep`` (written by a run that crashed before its checkpoint completed).

Each checkpoint pre-commits the open transaction and begins the next, so a sink's output becomes visible
once per checkpoint, exactly once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson

from ..stream.connectors import FileSink
from .sinks import SinkOperator


class TwoPhaseCommitSink:
    """Base class for exactly-once sinks (see the module docstring); ``open``/``close`` are optional."""

    def open(self) -> None:
        """Acquire resources (once, before ``recover``)."""

    def begin_transaction(self) -> Any:
        raise NotImplementedError

    def write(self, txn: Any, values: list[Any], timestamps: list[Any]) -> None:
        raise NotImplementedError

    def pre_commit(self, txn: Any) -> None:
        raise NotImplementedError

    def commit(self, txn: Any) -> None:
        raise NotImplementedError

    def abort(self, txn: Any) -> None:
        raise NotImplementedError

    def recover(self, keep: list[Any]) -> None:
        """Discard leftovers of transactions not in ``keep`` (default: nothing to do)."""

    def close(self) -> None:
        """Release resources."""


class TwoPhaseCommitSinkOperator(SinkOperator):
    """Drives a :class:`TwoPhaseCommitSink` from the checkpoint protocol (see
    :mod:`millstream.runtime.checkpointing`): ``pre_commit(cid)`` in step 1, ``notify_checkpoint_complete``
    in step 5; its snapshot holds the pre-committed transactions and the open one."""

    transactional_2pc = True

    def __init__(self, name: str, uid: str | None, sink: TwoPhaseCommitSink) -> None:
        super().__init__(name, uid)
        self.sink = sink
        self.current: Any = None
        self.pending: list[tuple[int, Any]] = []  # (checkpoint id, pre-committed transaction)
        self._recovered = False

    def open(self) -> None:
        self.sink.open()

    def _ensure(self) -> None:
        if not self._recovered:
            # Leftovers are discarded only by the one subtask of a sink: with several, a subtask does not know
            # the others' pending transactions (after a rescale the first subtask holds them all), and a
            # discarded one would be lost when its owner commits it. Leftovers of aborted attempts then stay
            # staged (never read, as Flink leaves a failed attempt's in-progress files); the open transactions
            # of the restored checkpoint are aborted by ``restore`` all the same.
            if self.parallelism == 1:
                self.sink.recover([t for _c, t in self.pending])
            self._recovered = True
        if self.current is None:
            self.current = self.sink.begin_transaction()

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        if not vals:
            return
        self._ensure()
        self.sink.write(self.current, vals, tss)
        self.written += len(vals)

    def pre_commit(self, checkpoint_id: int) -> None:
        self._ensure()
        self.sink.pre_commit(self.current)
        self.pending.append((checkpoint_id, self.current))
        self.current = self.sink.begin_transaction()

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        self._ensure()
        done = [(c, t) for c, t in self.pending if c <= checkpoint_id]
        for _c, t in done:
            self.sink.commit(t)
        self.pending = [(c, t) for c, t in self.pending if c > checkpoint_id]

    def checkpoint_failed(self, checkpoint_id: int) -> None:
        """The checkpoint was not written: its transaction stays pending, committed with the next one."""

    def snapshot(self) -> Any:
        return {"pending": list(self.pending), "current": self.current}

    @staticmethod
    def merge_snapshots(states: list[Any], owns: Any) -> Any:
        """Rescaling: one subtask commits every old subtask's pre-committed transactions and aborts their open
        ones (the sink is not keyed: the first new subtask takes everything, ``owns`` is not asked)."""
        return {
            "pending": [p for s in states for p in s["pending"]],
            "current": None,
            "abort": [s["current"] for s in states if s["current"] is not None],
        }

    def restore(self, state: Any) -> None:
        # they belong to a completed checkpoint: committed at once by the coordinator (cid 0 <= any)
        self.pending = [(0, t) for _c, t in state["pending"]]
        for txn in [state["current"], *state.get("abort", [])]:
            if txn is not None:
                self.sink.abort(txn)  # its elements come again from the restored positions
        self.current = None

    def abort_open(self) -> None:
        if self.current is not None:
            self.sink.abort(self.current)
            self.current = None

    def close(self) -> None:
        try:
            self.abort_open()
        finally:
            self.sink.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ExactlyOnceFileSink(TwoPhaseCommitSink):
    """A :class:`FileSink` with exactly-once delivery: ``path`` is a directory; each checkpoint commits the
    lines written since the previous one as a part file ``part-<txn>`` (names sort in commit order), staged
    as ``.staging/<txn>.inprogress`` and renamed atomically on checkpoint completion. Readers should read
    ``part-*`` files only."""

    def __init__(self, sink: FileSink, uid: str) -> None:
        self.desc = sink
        self.dir = Path(sink.path)
        self.staging = self.dir / ".staging"
        self.prefix = "".join(c if c.isalnum() else "_" for c in uid)[:40]
        self._fh: Any = None
        self._fh_txn: str | None = None

    def open(self) -> None:
        self.staging.mkdir(parents=True, exist_ok=True)

    def begin_transaction(self) -> str:
        """A new transaction id, ``<prefix>/<time>-<pid>``: it names its files, so any subtask of a rescaled
        job can commit or abort it."""
        return f"{self.prefix}/{time.time_ns():020d}-{os.getpid()}"

    def _split(self, txn: str) -> tuple[str, str]:
        prefix, sep, stamp = txn.partition("/")
        return (prefix, stamp) if sep else (self.prefix, txn)  # (ids before 0.2 carry no prefix)

    def _staged(self, txn: str) -> Path:
        prefix, stamp = self._split(txn)
        return self.staging / f"{prefix}-{stamp}.inprogress"

    def _final(self, txn: str) -> Path:
        prefix, stamp = self._split(txn)
        return self.dir / f"part-{stamp}-{prefix}"

    def write(self, txn: str, values: list[Any], timestamps: list[Any]) -> None:
        if self._fh_txn != txn:
            self._close_fh()
            self._fh = open(self._staged(txn), "ab")  # noqa: SIM115 - closed in pre_commit/abort/close
            self._fh_txn = txn
        if self.desc.format == "json":
            data = b"".join(orjson.dumps(v) + b"\n" for v in values)
        else:
            data = "".join(f"{v}\n" for v in values).encode()
        self._fh.write(data)

    def _close_fh(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            self._fh_txn = None

    def pre_commit(self, txn: str) -> None:
        if self._fh_txn == txn:
            self._close_fh()

    def commit(self, txn: str) -> None:
        staged = self._staged(txn)
        if staged.exists():
            os.rename(staged, self._final(txn))
            _fsync_dir(self.dir)
        # else: nothing was written in it, or it was committed before a crash (commit is idempotent)

    def abort(self, txn: str) -> None:
        if self._fh_txn == txn:
            self._fh.close()
            self._fh = None
            self._fh_txn = None
        self._staged(txn).unlink(missing_ok=True)

    def recover(self, keep: list[Any]) -> None:
        wanted = {self._staged(t).name for t in keep}
        for p in self.staging.glob(f"{self.prefix}-*.inprogress"):
            if p.name not in wanted:
                p.unlink()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def committed_lines(path: str | os.PathLike[str]) -> list[str]:
    """The committed lines of an exactly-once file sink directory, in commit order."""
    out: list[str] = []
    for p in sorted(Path(path).glob("part-*")):
        out.extend(p.read_text(encoding="utf-8").splitlines())
    return out


__all__ = [
    "ExactlyOnceFileSink",
    "TwoPhaseCommitSink",
    "TwoPhaseCommitSinkOperator",
    "committed_lines",
]
