"""The jobs of this process, as Flink's dispatcher lists them: every :class:`~millstream.runtime.job.JobRunner`
and :class:`~millstream.runtime.parallel.ParallelJobRunner` registers itself when created; the REST API
(``millstream.observe``) reads the directory.

The directory keeps running jobs and the latest :data:`MAX_FINISHED` ended ones (oldest dropped first), so a
long-lived process does not grow without bound. Thread-safe.
"""

from __future__ import annotations

import threading
from typing import Protocol


class JobRunner(Protocol):
    """What the directory and its readers need of a job."""

    jid: str
    job_name: str
    status: str
    start_time_ms: int
    end_time_ms: int


#: how many ended jobs the directory remembers
MAX_FINISHED = 100

_lock = threading.Lock()
_jobs: dict[str, JobRunner] = {}

#: Flink's terminal job states
TERMINAL = frozenset({"FINISHED", "FAILED", "CANCELED"})


def register(runner: JobRunner) -> None:
    """Add a job (keyed by ``runner.jid``); forget the oldest ended jobs beyond :data:`MAX_FINISHED`."""
    with _lock:
        _jobs[runner.jid] = runner
        ended = [jid for jid, r in _jobs.items() if r.status in TERMINAL]
        for jid in ended[: max(0, len(ended) - MAX_FINISHED)]:
            del _jobs[jid]


def jobs() -> list[JobRunner]:
    """Every job known, in the order they were created."""
    with _lock:
        return list(_jobs.values())


def get(jid: str) -> JobRunner | None:
    """The job with id ``jid``, or ``None``."""
    with _lock:
        return _jobs.get(jid)


__all__ = ["MAX_FINISHED", "TERMINAL", "get", "jobs", "register"]
