"""A running job's announcements in the job registry of its logs (:mod:`millstream.runtime.job_registry`).

:class:`JobHeartbeat` protocol:
  1. on :meth:`~JobHeartbeat.start`, open each log and write the job's entry (status, REST address, start
     time) — a log that cannot be opened or written is skipped with a warning: the job runs anyway, it is only
     not listed there;
  2. every :data:`~millstream.runtime.job_registry.HEARTBEAT_INTERVAL_MS`, write the entry again with the job's
     current status and a fresh heartbeat (failures are logged and retried at the next beat);
  3. on :meth:`~JobHeartbeat.close`, write the final entry (the job's terminal status and end time) and close
     the logs. A job killed before step 3 keeps its last entry, which readers report as ``LOST`` once it
     is older than :data:`~millstream.runtime.job_registry.EXPIRY_MS`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from .job_registry import HEARTBEAT_INTERVAL_MS, JobRegistry, entry_for

_log = logging.getLogger("millstream.runtime")


class JobHeartbeat:
    """Announces ``runner`` (a job runner with ``jid``, ``job_name``, ``status``, ``config``, start/end times) in
    the registry of every log in ``log_urls`` from a background thread, with ``rest`` (its REST root URL) as
    the address to control it at. ``host`` defaults to this machine's name."""

    def __init__(
        self,
        runner: Any,
        log_urls: list[str],
        rest: str | None,
        *,
        host: str | None = None,
        interval_ms: int = HEARTBEAT_INTERVAL_MS,
    ) -> None:
        self.runner = runner
        self.log_urls = list(dict.fromkeys(log_urls))
        self.rest = rest
        self.host = host or socket.gethostname()
        self.interval_s = interval_ms / 1000
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._registries: list[JobRegistry] = []

    def start(self) -> None:
        """Step 1, then the heartbeat thread (step 2)."""
        from ..log import open_log

        for url in self.log_urls:
            try:
                self._registries.append(JobRegistry(open_log(url)))
            except Exception as exc:
                _log.warning("cannot register job %s in %s: %s", self.runner.jid, url, exc)
        self.beat()
        self._thread = threading.Thread(target=self._loop, name=f"job-heartbeat-{self.runner.jid[:8]}", daemon=True)
        self._thread.start()

    def beat(self) -> None:
        """Write the job's entry now to every registry (errors are logged, not raised)."""
        entry = entry_for(self.runner, self.rest, self.host, os.getpid())
        for registry in self._registries:
            try:
                registry.announce(entry)
            except Exception as exc:
                _log.warning("heartbeat of job %s to %s failed: %s", self.runner.jid, registry.log.url, exc)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat()

    def close(self) -> None:
        """Step 3: stop beating, write the final entry, close the logs. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.beat()
        for registry in self._registries:
            try:
                registry.log.close()
            except Exception:
                pass
        self._registries = []


__all__ = ["JobHeartbeat"]
