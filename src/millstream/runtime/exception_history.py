"""A job's exception history, as Flink's Web UI and ``GET /jobs/{id}/exceptions`` show it.

Every failure of a job — each one its restart strategy restarted from, and the last one that failed it — is
recorded with the subtask that raised it (``Map (2/4)``), the time, the exception's class and its traceback
(for a parallel job, the worker's traceback travels as a note of the exception and is part of it). The history
keeps the latest :data:`MAX_ENTRIES` (Flink's ``web.exception-history-size`` default); :meth:`to_flink` gives
Flink's ``JobExceptionsInfoWithHistory`` shape: ``root-exception`` and ``timestamp`` of the latest failure,
``all-exceptions`` (empty, as in Flink since the history replaced it) and ``exceptionHistory.entries``, newest
first. Thread-safe: the job's thread records, the REST server reads.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import traceback
from collections import deque
from typing import Any

#: entries kept (Flink's web.exception-history-size default)
MAX_ENTRIES = 16


def _stacktrace(exc: BaseException) -> str:
    """The traceback of what really failed: a ``JobFailedError``'s cause (with its notes), else ``exc``."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return "".join(traceback.format_exception(cause)).rstrip()


class ExceptionHistory:
    """The failures of one job, newest last (see the module docstring)."""

    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()
        self.total = 0

    def record(self, exc: BaseException, location: str | None = None) -> None:
        """Record a failure of the job: ``exc`` is the ``JobFailedError`` (``operator`` names the subtask) or the
        exception itself; ``location`` where it ran (default: this host and process)."""
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        entry: dict[str, Any] = {
            "exceptionName": f"{type(cause).__module__}.{type(cause).__qualname__}".removeprefix("builtins."),
            "stacktrace": _stacktrace(exc),
            "timestamp": int(time.time() * 1000),
            "taskName": getattr(exc, "operator", None),
            "location": location or f"{socket.gethostname()}:{os.getpid()}",
            "failureLabels": {},
            "concurrentExceptions": [],
        }
        with self._lock:
            self._entries.append(entry)
            self.total += 1

    def entries(self) -> list[dict[str, Any]]:
        """The kept entries, newest first."""
        with self._lock:
            return list(reversed(self._entries))

    def to_flink(self) -> dict[str, Any]:
        """Flink's answer to ``GET /jobs/{id}/exceptions``."""
        entries = self.entries()
        latest = entries[0] if entries else None
        return {
            "root-exception": latest["stacktrace"] if latest else None,
            "timestamp": latest["timestamp"] if latest else None,
            "all-exceptions": [],
            "truncated": self.total > len(entries),
            "exceptionHistory": {"entries": entries, "truncated": self.total > len(entries)},
        }


__all__ = ["MAX_ENTRIES", "ExceptionHistory"]
