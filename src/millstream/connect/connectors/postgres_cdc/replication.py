"""The streaming replication connection: PostgreSQL's logical replication protocol over psycopg 3.

psycopg 3 has no high-level replication API, but its libpq binding (:mod:`psycopg.pq`, public and
maintained) exposes everything the protocol needs: a ``replication=database`` connection, ``COPY BOTH``
results, ``PQgetCopyData``/``PQputCopyData`` and the socket for waiting — the same calls
``pg_recvlogical`` makes. Framing (``XLogData``, primary keepalives, standby status updates) follows
"Streaming Replication Protocol" in the PostgreSQL manual.

Contract:

- :meth:`ReplicationConnection.create_slot` creates a ``pgoutput`` slot, optionally exporting a snapshot that
  stays valid until the next command on this connection (the snapshot phase imports it);
- :meth:`~ReplicationConnection.start` streams the slot's changes from its ``confirmed_flush_lsn``;
- :meth:`~ReplicationConnection.read` returns what arrived within a timeout (XLogData payloads and keepalive
  positions) and answers the server's reply requests itself;
- :meth:`~ReplicationConnection.acknowledge` reports an LSN as flushed: the server may then recycle WAL up to
  it and will not send again transactions that committed before it. Only call it with positions whose
  records are safely stored.

Every server error becomes a :class:`CdcError` that names the problem and its fix (:func:`explain`).
"""

from __future__ import annotations

import struct
import time
from typing import Any, NamedTuple

from ....core.errors import ConnectError
from ....core.io_wait import wait_io
from .lsn import format_lsn, parse_lsn

_XLOG = struct.Struct(">QQq")
_PAYLOAD = 1 + _XLOG.size  # an XLogData message: tag, header, then the payload
_KEEPALIVE = struct.Struct(">Qq?")
_STATUS = struct.Struct(">cQQQq?")
_PG_EPOCH_US = 946_684_800_000_000


class CdcError(ConnectError):
    """A CDC source problem with the database or its settings, with the fix in ``hint``."""


def _now_pg_us() -> int:
    return int(time.time() * 1_000_000) - _PG_EPOCH_US


def explain(message: str, params: dict[str, Any], slot: str = "", what: str = "") -> CdcError:
    """A :class:`CdcError` for a server/libpq error message, with the fix for the usual causes."""
    text = " ".join(message.split())
    user = params.get("user") or "the connector's user"
    where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}/{params.get('dbname', '')}"
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        return CdcError(
            f"PostgreSQL at {where} refused the login of user {user!r}: {text}",
            hint="check database.user and database.password",
        )
    if "replication role" in low or "start wal sender" in low or "replication attribute" in low:
        return CdcError(
            f"user {user!r} may not use replication on {where}: {text}",
            hint=f'grant it: ALTER ROLE "{user}" WITH REPLICATION; (or connect as a role that has it)',
        )
    if "wal_level" in low:
        return CdcError(
            f"logical decoding is off on {where}: {text}",
            hint="set wal_level = logical (ALTER SYSTEM SET wal_level = logical;) and restart PostgreSQL",
        )
    if "is active for pid" in low:
        return CdcError(
            f"replication slot {slot!r} on {where} is in use by another client: {text}",
            hint="stop the other client (another connector with the same slot.name, or pg_recvlogical), or "
            "give this connector its own slot.name; SELECT pg_terminate_backend(active_pid) FROM "
            f"pg_replication_slots WHERE slot_name = '{slot}' ends the other session",
        )
    if "replication slots" in low and ("all" in low or "max_replication_slots" in low):
        return CdcError(
            f"PostgreSQL at {where} has no free replication slot: {text}",
            hint="raise max_replication_slots (and restart), or drop unused slots with pg_drop_replication_slot",
        )
    if "could not connect" in low or "connection refused" in low or "timeout expired" in low:
        return CdcError(
            f"cannot connect to PostgreSQL at {where}: {text}",
            hint="check database.hostname and database.port, and that the server accepts connections from here",
        )
    return CdcError(f"PostgreSQL at {where}{' ' + what if what else ''} failed: {text}")


class XLogData(NamedTuple):
    data_start: int
    wal_end: int
    payload: bytes


class Keepalive(NamedTuple):
    wal_end: int


_new = tuple.__new__


def conninfo(params: dict[str, Any], *, replication: bool) -> str:
    """A libpq conninfo string for ``params`` (``replication=database`` when asked), sessions in UTC."""
    from psycopg.conninfo import make_conninfo

    extra: dict[str, Any] = {"options": "-c TimeZone=UTC -c DateStyle=ISO -c bytea_output=hex -c extra_float_digits=3"}
    if replication:
        extra["replication"] = "database"
    return make_conninfo("", **{**params, **extra})


class ReplicationConnection:
    """One replication connection (see the module docstring)."""

    def __init__(self, params: dict[str, Any]) -> None:
        from psycopg import OperationalError, pq

        self.params = params
        self._pq = pq
        self._lost: type[Exception] = OperationalError  # libpq: the server closed the connection
        self.pg = pq.PGconn.connect(conninfo(params, replication=True).encode())
        if self.pg.status != pq.ConnStatus.OK:
            msg = self.pg.get_error_message() if hasattr(self.pg, "get_error_message") else ""
            msg = msg or self.pg.error_message.decode("utf-8", "replace")
            self.pg.finish()
            raise explain(msg, params)
        self.streaming = False
        self.last_status = 0.0
        self.flushed = 0
        self.received = 0

    def _error(self) -> str:
        return str(self.pg.error_message.decode("utf-8", "replace"))

    def command(self, sql: str, slot: str = "") -> list[tuple[str | None, ...]]:
        """Run a replication command; its result rows as text."""
        res = self.pg.exec_(sql.encode())
        if res.status not in (self._pq.ExecStatus.TUPLES_OK, self._pq.ExecStatus.COMMAND_OK):
            raise explain(res.error_message.decode("utf-8", "replace") or self._error(), self.params, slot, sql)
        rows = []
        for r in range(res.ntuples):
            row = []
            for c in range(res.nfields):
                v = res.get_value(r, c)
                row.append(None if v is None else bytes(v).decode())
            rows.append(tuple(row))
        return rows

    def create_slot(self, slot: str, export_snapshot: bool) -> tuple[int, str | None]:
        """Create logical slot ``slot`` with pgoutput; ``(consistent_point_lsn, snapshot_name)``."""
        mode = "EXPORT_SNAPSHOT" if export_snapshot else "NOEXPORT_SNAPSHOT"
        rows = self.command(f'CREATE_REPLICATION_SLOT "{slot}" LOGICAL pgoutput {mode}', slot)
        _, point, snapshot, _plugin = rows[0]
        return parse_lsn(point or "0/0"), snapshot

    def start(self, slot: str, publication: str, start_lsn: int = 0) -> None:
        """``START_REPLICATION`` of ``slot`` for ``publication`` (pgoutput protocol 1)."""
        sql = (
            f'START_REPLICATION SLOT "{slot}" LOGICAL {format_lsn(start_lsn)} '
            f"(proto_version '1', publication_names '{_quote(publication)}')"
        )
        res = self.pg.exec_(sql.encode())
        if res.status != self._pq.ExecStatus.COPY_BOTH:
            raise explain(res.error_message.decode("utf-8", "replace") or self._error(), self.params, slot)
        self.pg.nonblocking = 1
        self.streaming = True
        self.last_status = time.monotonic()

    def read(self, timeout: float, max_messages: int = 10_000, linger: float = 0.005) -> list[XLogData | Keepalive]:
        """Messages that arrive within ``timeout`` seconds: returns ``max_messages``, or once some arrived
        and no more came for ``linger`` seconds (bigger batches while busy, little delay while quiet). A lost
        connection is a :class:`CdcError` however libpq reports it (a result, or an exception)."""
        try:
            return self._read(timeout, max_messages, linger)
        except self._lost as exc:
            raise explain(str(exc) or self._error(), self.params) from exc

    def _read(self, timeout: float, max_messages: int, linger: float) -> list[XLogData | Keepalive]:
        out: list[XLogData | Keepalive] = []
        deadline = time.monotonic() + timeout
        pg = self.pg
        while len(out) < max_messages:
            n, data = pg.get_copy_data(1)
            if n == 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                ready, _ = wait_io([pg.socket], (), min(left, linger if out else 1.0))
                if out and not ready:
                    break
                pg.consume_input()
                continue
            if n == -1:
                res = pg.get_result()
                msg = res.error_message.decode("utf-8", "replace") if res is not None else ""
                raise explain(msg or "the server ended the replication stream", self.params)
            if n == -2:
                raise explain(self._error() or "reading the replication stream failed", self.params)
            kind = data[0]
            if kind == 119:  # 'w'
                start, end, _ = _XLOG.unpack_from(data, 1)
                if end > self.received:
                    self.received = end
                out.append(_new(XLogData, (start, end, bytes(data[_PAYLOAD:]))))
            elif kind == 107:  # 'k'
                end, _, reply = _KEEPALIVE.unpack_from(data, 1)
                self.received = max(self.received, end)
                out.append(Keepalive(end))
                if reply:
                    self.send_status()
        return out

    def acknowledge(self, lsn: int) -> None:
        """Report ``lsn`` as flushed (never moves back) and tell the server now."""
        if lsn > self.flushed:
            self.flushed = lsn
        self.send_status()

    def send_status(self) -> None:
        """Standby status update: written = received, flushed = applied = the acknowledged LSN."""
        if not self.streaming:
            return
        msg = _STATUS.pack(b"r", max(self.received, self.flushed), self.flushed, self.flushed, _now_pg_us(), False)
        try:
            if self.pg.put_copy_data(msg) != 1:
                raise explain(self._error() or "sending the standby status failed", self.params)
            self.pg.flush()
        except self._lost as exc:
            raise explain(str(exc) or self._error(), self.params) from exc
        self.last_status = time.monotonic()

    def close(self) -> None:
        try:
            self.pg.finish()
        except Exception:
            pass


def _quote(name: str) -> str:
    return name.replace("'", "''")


__all__ = ["CdcError", "Keepalive", "ReplicationConnection", "XLogData", "conninfo", "explain"]
