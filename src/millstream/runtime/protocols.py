"""The roles operators and readers play in checkpoints, as named protocols (what the checkpoint protocols of
:mod:`millstream.runtime.checkpointing` and :mod:`millstream.runtime.parallel` ask of them):

- :class:`ExactlyOnceLogSink` — writes into the checkpoint's log transaction: its records are taken at the
  checkpoint (``take_pending``) and committed with the source offsets and the checkpoint marker;
- :class:`TwoPhaseCommitParticipant` — pre-commits at the checkpoint, commits when it completes;
- :class:`AsyncWriter` — writes without waiting for acknowledgements; flushed before a checkpoint is taken, so
  no offset is committed for output that is not acknowledged;
- :class:`PositionedReader` — a source reader that can snapshot and resume its position.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ExactlyOnceLogSink(Protocol):
    transactional: bool  # the sink's delivery guarantee is exactly-once

    def take_pending(self) -> dict[tuple[str, int], list[Any]]:
        """The records written since the last call, per (topic, partition), forgotten here."""


@runtime_checkable
class TwoPhaseCommitParticipant(Protocol):
    def pre_commit(self, checkpoint_id: int) -> None: ...

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None: ...

    def checkpoint_failed(self, checkpoint_id: int) -> None: ...


@runtime_checkable
class AsyncWriter(Protocol):
    def flush_writes(self) -> None:
        """Wait until every write so far is acknowledged."""


@runtime_checkable
class RoundBuffered(Protocol):
    """An operator that holds writes back within one round of the job loop; the loop calls
    ``end_of_round`` after every round (and ``flush_writes`` covers them too)."""

    def end_of_round(self) -> None: ...


@runtime_checkable
class PositionedReader(Protocol):
    def snapshot(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


@runtime_checkable
class MultiInstanceJob(Protocol):
    """A job runner whose one job runs on several instances (a reactive job, :mod:`millstream.runtime.scaleout`):
    the job registry lists the job once, with its instances, and sends control requests to the one that
    coordinates it."""

    def advertise_rest(self, url: str | None) -> None:
        """This instance's REST root URL, for the other instances and the registry to see."""

    def instances(self) -> list[dict[str, Any]]:
        """The job's live instances: ``{"instance", "host", "pid", "slots", "rest", "leader"}`` each."""

    def control_rest(self) -> str | None:
        """The REST root URL of the instance that coordinates the job now (``None``: not known yet)."""


def checkpoint_roles(ops: Iterable[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """``(exactly-once log sinks, two-phase-commit participants, asynchronous writers)`` among ``ops`` (an
    exactly-once log sink is not also an asynchronous writer: its records go into the transaction)."""
    ops = list(ops)
    eo = [op for op in ops if isinstance(op, ExactlyOnceLogSink) and op.transactional]
    tpc = [op for op in ops if isinstance(op, TwoPhaseCommitParticipant)]
    writers = [op for op in ops if isinstance(op, AsyncWriter) and op not in eo]
    return eo, tpc, writers


__all__ = [
    "AsyncWriter",
    "ExactlyOnceLogSink",
    "MultiInstanceJob",
    "PositionedReader",
    "RoundBuffered",
    "TwoPhaseCommitParticipant",
    "checkpoint_roles",
]
