"""The jobs of a log: where running jobs announce themselves so that ``millstream jobs ... --log URL`` finds them
from any process or machine that can open the log.

The registry is the compacted topic :data:`JOBS_TOPIC` (one partition) in the log the job uses, as Kafka
Connect keeps connector status in its ``status.storage.topic``: one record per announcement, keyed by the
job's 32-hex id, valued by the JSON of a :class:`JobEntry` (id, name, checkpoint job id, status, the address
of its REST endpoint, host and pid, start time, last heartbeat). A running job re-announces itself every
:data:`HEARTBEAT_INTERVAL_MS` (:mod:`millstream.runtime.job_heartbeat`) and a last time when it ends. Readers
take the latest record per key; an entry whose heartbeat is older than :data:`EXPIRY_MS` belongs to a job that
died without saying so (``kill -9``, a lost machine) and is reported as ``LOST`` — or left out of
:meth:`JobRegistry.running`. The topic's ``compact,delete`` policy keeps one record per job and drops those
of jobs ended more than :data:`RETENTION_MS` ago. Works on every backend (``file://``, ``kafka://``; on
``memory://`` only within the process).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson

from ..core.errors import MillstreamError
from ..core.record import ProducerRecord
from ..log import Log

#: the registry topic (Kafka hides topics starting with ``__`` from listings, as its own internal ones)
JOBS_TOPIC = "__millstream_jobs"
#: how often a running job re-announces itself
HEARTBEAT_INTERVAL_MS = 3_000
#: an entry without a heartbeat for this long is a job that died without ending cleanly
EXPIRY_MS = 15_000
#: entries of ended jobs are dropped from the topic after this long
RETENTION_MS = 24 * 3600 * 1000
#: Flink's terminal job states
TERMINAL = frozenset({"FINISHED", "FAILED", "CANCELED"})
#: how long a reader waits for the registry's records (Kafka fetches are not instant)
_READ_TIMEOUT_MS = 500


class UnknownJobError(MillstreamError):
    """No job with the id (or a unique prefix or name) asked for is registered in the log."""


@dataclass(frozen=True)
class JobEntry:
    """One job as the registry holds it. Times are epoch ms (``end_time`` -1 while it runs); ``rest`` is the
    root URL of its REST endpoint (``http://HOST:PORT``), ``None`` when it serves none. A reactive job (one job
    on several instances) has one entry, written by each of its instances: ``instances`` lists them (see
    :class:`~millstream.runtime.protocols.MultiInstanceJob`), and ``rest`` is the one that coordinates it."""

    jid: str
    name: str
    job_id: str
    status: str
    rest: str | None
    host: str
    pid: int
    start_time: int
    heartbeat: int
    end_time: int = -1
    instances: list[dict[str, Any]] = field(default_factory=list)

    def state(self, now_ms: int | None = None) -> str:
        """``status``, or ``LOST`` for a job that is not terminal but stopped heartbeating."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if self.status not in TERMINAL and now - self.heartbeat > EXPIRY_MS:
            return "LOST"
        return self.status

    def to_json(self) -> bytes:
        """The record value."""
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> JobEntry:
        """Parse a record value (unknown fields are ignored, so newer writers stay readable)."""
        doc = orjson.loads(raw)
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in doc.items() if k in names})

    def with_status(self, status: str, now_ms: int) -> JobEntry:
        """A copy with ``status`` and a fresh heartbeat (and ``end_time`` for a terminal status)."""
        return replace(self, status=status, heartbeat=now_ms, end_time=now_ms if status in TERMINAL else -1)


class JobRegistry:
    """The registry in ``log`` (see the module docstring). Does not own or close the log."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self._ensured = False

    def _ensure_topic(self) -> None:
        if self._ensured:
            return
        self.log.create_topic(
            JOBS_TOPIC,
            1,
            {"cleanup.policy": "compact,delete", "retention.ms": str(RETENTION_MS)},
            exist_ok=True,
        )
        self._ensured = True

    def announce(self, entry: JobEntry) -> None:
        """Write ``entry`` as the job's latest state."""
        self._ensure_topic()
        self.log.append(JOBS_TOPIC, 0, [ProducerRecord(entry.to_json(), entry.jid.encode())])

    def entries(self) -> list[JobEntry]:
        """The latest entry of every job in the registry, oldest start first (empty without a registry)."""
        if not self.log.has_topic(JOBS_TOPIC):
            return []
        latest: dict[bytes, bytes | None] = {}
        offset = self.log.earliest_offset(JOBS_TOPIC, 0)
        end = self.log.latest_offset(JOBS_TOPIC, 0)
        while offset < end:
            batch = self.log.read(JOBS_TOPIC, 0, offset, timeout_ms=_READ_TIMEOUT_MS)
            if not batch:
                break
            for rec in batch:
                if rec.key is not None:
                    latest[rec.key] = rec.value
            offset = batch[-1].offset + 1
        out = []
        for value in latest.values():
            if value is None:
                continue
            try:
                out.append(JobEntry.from_json(value))
            except (orjson.JSONDecodeError, TypeError, AttributeError):
                continue  # not ours: a record someone else wrote to the topic
        return sorted(out, key=lambda e: (e.start_time, e.jid))

    def running(self, now_ms: int | None = None) -> list[JobEntry]:
        """Entries of jobs that run now: not terminal, heartbeat within :data:`EXPIRY_MS`."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return [e for e in self.entries() if e.state(now) not in TERMINAL | {"LOST"}]

    def find(self, ident: str, *, running_only: bool = True) -> JobEntry:
        """The job ``ident`` names: its full id, a unique prefix of it (4+ characters), or its name or checkpoint
        job id when unique. Only running jobs unless ``running_only`` is false. :class:`UnknownJobError`
        naming the log otherwise."""
        pool = self.running() if running_only else self.entries()
        for matches in (
            [e for e in pool if e.jid == ident],
            [e for e in pool if len(ident) >= 4 and e.jid.startswith(ident)],
            [e for e in pool if ident in (e.name, e.job_id)],
        ):
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise UnknownJobError(
                    f"{ident!r} names {len(matches)} jobs in {self.log.url}: "
                    + ", ".join(f"{e.jid} ({e.name})" for e in matches),
                    hint="give the full job id",
                )
        what = "running job" if running_only else "job"
        raise UnknownJobError(
            f"no {what} {ident!r} in the log {self.log.url}",
            hint=f"millstream jobs list --log {self.log.url} lists its running jobs"
            + ("" if not running_only else " (--all also ended ones)"),
        )


def alive_here(entry: JobEntry, host: str) -> bool:
    """Whether a running entry's process still exists — known only for this ``host``'s own processes (a job
    killed with ``kill -9`` stays RUNNING in the registry until its heartbeat expires); other hosts' entries
    are taken as they read."""
    if entry.host != host:
        return True
    try:
        os.kill(entry.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def entry_for(runner: Any, rest: str | None, host: str, pid: int) -> JobEntry:
    """The entry of a job runner (:class:`~millstream.runtime.job.JobRunner` or the parallel one) now; a job on
    several instances names them, and the coordinating instance's REST address."""
    from .checkpointing import job_id_of
    from .protocols import MultiInstanceJob

    now = int(time.time() * 1000)
    start = runner.start_time_ms if runner.start_time_ms >= 0 else now
    instances: list[dict[str, Any]] = []
    status, end_time = runner.status, runner.end_time_ms
    if isinstance(runner, MultiInstanceJob):
        instances = runner.instances()
        rest = runner.control_rest() or rest
        if status not in TERMINAL:  # an instance that left: the job runs on without it
            end_time = -1
    return JobEntry(
        jid=runner.jid,
        name=runner.job_name,
        job_id=job_id_of(runner.config, runner.job_name),
        status=status,
        rest=rest,
        host=host,
        pid=pid,
        start_time=start,
        heartbeat=now,
        end_time=end_time,
        instances=instances,
    )


__all__ = [
    "EXPIRY_MS",
    "HEARTBEAT_INTERVAL_MS",
    "JOBS_TOPIC",
    "RETENTION_MS",
    "JobEntry",
    "JobRegistry",
    "UnknownJobError",
    "alive_here",
    "entry_for",
]
