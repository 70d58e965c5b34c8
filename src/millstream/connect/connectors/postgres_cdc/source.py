"""``PostgresConnector`` (Debezium's ``io.debezium.connector.postgresql.PostgresConnector``): change data
capture from PostgreSQL through logical replication with the built-in ``pgoutput`` plugin.

One task does the work (as in Debezium; ``tasks.max`` above 1 changes nothing). Its protocol:

1. ``start``: check ``wal_level``, find the captured tables (include/exclude lists) and refuse tables whose
   updates and deletes cannot be captured; make sure the publication exists; read the stored offset of
   source partition ``{"server": topic.prefix}``; look at the slot (one in use by another client is an error).
2. Snapshot (``snapshot.mode=initial`` without a finished snapshot in the offsets, or ``when_needed`` when
   the slot to resume from is gone): (re)create the slot exporting a snapshot, read every table as of it
   (``op: "r"`` events; the last one says ``snapshot: "last"``), then stream from the slot's consistent
   point. A snapshot interrupted by a crash is started over.
3. Streaming: ``START_REPLICATION`` from the slot's acknowledged position. Transactions arrive whole, in
   commit order. Each change's offset is ``{"lsn_commit": <commit LSN of its transaction>, "event_serial":
   <its number within the transaction>, "lsn", "txId", "ts_usec"}``; after a restart the server may send
   the transaction of the stored offset again, and events up to ``(lsn_commit, event_serial)`` are skipped.
4. Acknowledgement: only in :meth:`PostgresConnectorTask.commit`, which the worker calls *after* it stored
   the offsets of records already written to the log, the stored ``lsn_commit`` is reported to the slot as
   flushed. So the server never discards WAL of a change that is not in the log: a crash at any moment loses
   nothing; it can only re-send changes whose offsets were not stored yet (at-least-once, as Debezium).
   A broken replication connection is re-opened (a few tries, a second apart) and streaming resumes the
   same way, skipping what was already returned.
5. While idle (no transaction open, every record returned so far stored) the position the server reached is
   acknowledged too, so a quiet slot does not hold WAL back forever; ``heartbeat.interval.ms`` also makes
   that position visible in the stored offsets through heartbeat records.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Mapping
from typing import Any

from .... import __version__
from ...api import SourceConnector, SourceTask, Task
from ...config import ConfigDef, ConfigValue
from ...data import Field, Schema, SourceRecord
from . import catalog, pgoutput
from .config import CONFIG_DEF, parse, problems
from .envelope import ColumnDef, SourceInfo, TableSchema, change_records
from .replication import CdcError, Keepalive, ReplicationConnection
from .snapshot import SnapshotReader

log = logging.getLogger(__name__)

_HEARTBEAT_KEY = Schema(
    "struct", False, "io.debezium.connector.common.ServerNameKey", fields=(Field("serverName", Schema("string"), 0),)
)
_HEARTBEAT_VALUE = Schema(
    "struct", False, "io.debezium.connector.common.Heartbeat", fields=(Field("ts_ms", Schema("int64"), 0),)
)


class PostgresConnector(SourceConnector):
    """Debezium-compatible PostgreSQL CDC source; see the module docstring. Runs one task."""

    CONFIG_DEF = CONFIG_DEF

    def start(self, props: Mapping[str, str]) -> None:
        parse(props)
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        return PostgresConnectorTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]

    def stop(self) -> None:
        pass

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        values = CONFIG_DEF.validate(props)
        if any(cv.errors for cv in values):
            return values
        found = problems({cv.name: cv.value for cv in values})
        for cv in values:
            cv.errors.extend(found.get(cv.name, []))
        return values

    def config(self) -> ConfigDef:
        return CONFIG_DEF


def _now_ms() -> int:
    return int(time.time() * 1000)


_new = tuple.__new__
_OID = struct.Struct(">I").unpack_from
_CHANGE_TAGS = frozenset((b"I", b"U", b"D"))


class PostgresConnectorTask(SourceTask):
    """Snapshot, then stream; see the module docstring."""

    def start(self, props: Mapping[str, str]) -> None:
        self.values = values = parse(props)
        self.params = _params(values)
        self.prefix = values["topic.prefix"]
        self.slot = values["slot.name"]
        self.partition = {"server": self.prefix}
        self.max_batch = int(values["max.batch.size"])
        self.poll_wait = int(values["poll.interval.ms"]) / 1000
        self.tombstones = bool(values["tombstones.on.delete"])
        self.heartbeat_s = int(values["heartbeat.interval.ms"]) / 1000
        self.status_s = int(values["status.update.interval.ms"]) / 1000
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.repl: ReplicationConnection | None = None
        self.snapshot: SnapshotReader | None = None
        self.conn = catalog.connect(self.params)
        try:
            self._start()
        except BaseException:
            self._close()
            raise

    def _start(self) -> None:
        values, conn = self.values, self.conn
        catalog.check_wal_level(conn, self.params)
        infos = catalog.select_tables(conn, values)
        catalog.check_keys(infos)
        catalog.ensure_publication(conn, values, infos)
        self.captured = {t.oid for t in infos}
        self.tables: dict[int, TableSchema] = {
            t.oid: self._schema(t.namespace, t.name, t.columns, t.key_columns) for t in infos
        }
        self.db = values["database.dbname"]
        stored = self.context.offset_storage_reader().offset(self.partition) if hasattr(self, "context") else None
        slot = catalog.slot_info(conn, self.slot)
        retries, delay = int(values["slot.max.retries"]), int(values["slot.retry.delay.ms"]) / 1000
        for attempt in range(retries):
            if not (slot.exists and slot.active_pid is not None) or self._stopping.wait(delay):
                break
            log.info(
                "slot %s is held by server process %s; trying again (%d of %d)",
                self.slot,
                slot.active_pid,
                attempt + 1,
                retries,
            )
            slot = catalog.slot_info(conn, self.slot)
        if slot.exists and slot.active_pid is not None:
            raise CdcError(
                f"replication slot {self.slot!r} is in use by another client (server process {slot.active_pid})",
                hint="stop the other client (another connector with the same slot.name?), or give this connector "
                f"its own slot.name; SELECT pg_terminate_backend({slot.active_pid}); ends the other session",
            )
        if slot.exists and slot.plugin != "pgoutput":
            raise CdcError(
                f"replication slot {self.slot!r} uses plugin {slot.plugin!r}, not pgoutput",
                hint=f"drop it (SELECT pg_drop_replication_slot('{self.slot}');) or choose another slot.name",
            )
        if slot.exists and slot.database != self.db:
            raise CdcError(
                f"replication slot {self.slot!r} belongs to database {slot.database!r}, not {self.db!r}",
                hint="give this connector its own slot.name",
            )
        self.mode = mode = "never" if values["snapshot.mode"] == "no_data" else values["snapshot.mode"]
        snapshot_done = stored is not None and (not stored.get("snapshot") or stored.get("last_snapshot_record"))
        if mode == "initial_only" and snapshot_done:
            log.info("snapshot.mode=initial_only and the snapshot is done: nothing to do")
            return
        need_snapshot = mode != "never" and not snapshot_done
        if snapshot_done and not slot.exists:
            if mode == "when_needed":
                need_snapshot = True
                log.warning("slot %s is gone: taking a new snapshot (snapshot.mode=when_needed)", self.slot)
            elif stored is not None and not stored.get("snapshot"):
                raise CdcError(
                    f"replication slot {self.slot!r} no longer exists, so the changes after the stored position "
                    f"(LSN {stored.get('lsn_commit')}) cannot be read: they would be lost",
                    hint="set snapshot.mode=when_needed to take a new snapshot, or reset the connector's offsets "
                    "(DELETE /connectors/<name>/offsets while it is stopped)",
                )
        self.resume = (0, 0)
        if stored is not None and not stored.get("snapshot") and not need_snapshot:
            self.resume = (int(stored.get("lsn_commit", 0)), int(stored.get("event_serial", 0)))
        self.last_returned: dict[str, Any] | None = None
        self.repl = ReplicationConnection(self.params)
        if need_snapshot:
            if slot.exists:
                log.info("dropping slot %s to take a snapshot consistent with a new one", self.slot)
                catalog.drop_slot(conn, self.slot)
            lsn, name = self.repl.create_slot(self.slot, export_snapshot=True)
            log.info("snapshot of %d table(s) at LSN %d", len(self.tables), lsn)
            self.snapshot_lsn = lsn
            self.snapshot = SnapshotReader(
                self.params, name, list(self.tables.values()), int(values["snapshot.fetch.size"])
            )
            self._held: tuple[TableSchema, tuple[str | None, ...]] | None = None
        else:
            if not slot.exists:
                self.repl.create_slot(self.slot, export_snapshot=False)
            self._start_streaming()

    def _schema(self, namespace: str, name: str, columns: tuple[ColumnDef, ...], key: tuple[str, ...]) -> TableSchema:
        return TableSchema(self.prefix, namespace, name, columns, key, self.values["decimal.handling.mode"])

    def _start_streaming(self) -> None:
        assert self.repl is not None
        self.repl.start(self.slot, self.values["publication.name"])
        self.txn: pgoutput.Begin | None = None
        self.serial = 0
        self.last_commit_lsn: int | None = getattr(self, "last_commit_lsn", None)
        self.last_heartbeat = time.monotonic()
        self.last_idle_check = time.monotonic()
        self.relations: dict[int, TableSchema | None] = {}

    # -- poll ----------------------------------------------------------------------------------------------
    def poll(self) -> list[SourceRecord] | None:
        with self._lock:
            if self._stopping.is_set() or self.repl is None:  # stopped, or done (snapshot.mode=initial_only)
                self._stopping.wait(self.poll_wait)
                return None
            if self.snapshot is not None:
                return self._poll_snapshot()
            return self._poll_stream()

    def _poll_snapshot(self) -> list[SourceRecord]:
        assert self.snapshot is not None
        rows = self.snapshot.read(self.max_batch)
        out: list[SourceRecord] = []
        pending = ([self._held] if self._held is not None else []) + rows
        done = len(rows) < self.max_batch
        if not done:
            self._held = pending.pop()
        else:
            self._held = None
        for i, (table, texts) in enumerate(pending):
            last = done and i == len(pending) - 1
            out.extend(self._snapshot_record(table, texts, last))
        if done:
            self.snapshot.close()
            self.snapshot = None
            if self.mode == "initial_only":
                self._finish_initial_only()
            else:
                log.info("snapshot done; streaming changes from LSN %d", self.snapshot_lsn)
                self._start_streaming()
        return out

    def _finish_initial_only(self) -> None:
        """``snapshot.mode=initial_only``: the snapshot was all; drop the slot so it holds no WAL."""
        log.info("snapshot done; snapshot.mode=initial_only, so no streaming: dropping slot %s", self.slot)
        if self.repl is not None:
            self.repl.close()
            self.repl = None
        catalog.drop_slot(self.conn, self.slot)

    def _snapshot_record(self, table: TableSchema, texts: tuple[str | None, ...], last: bool) -> list[SourceRecord]:
        now = _now_ms()
        offset = {
            "snapshot": True,
            "last_snapshot_record": last,
            "lsn": self.snapshot_lsn,
            "ts_usec": now * 1000,
        }
        info = SourceInfo(self.db, now, "last" if last else "true", None, self.snapshot_lsn, None, offset)
        return change_records(table, "r", None, table.row(texts), info, self.partition, now, self.tombstones)

    def _poll_stream(self) -> list[SourceRecord]:
        assert self.repl is not None
        out: list[SourceRecord] = []
        try:
            messages = self.repl.read(self.poll_wait, self.max_batch)
        except CdcError as exc:
            if self._stopping.is_set():
                return []
            log.warning("replication stream of slot %s broke (%s); reconnecting", self.slot, exc)
            self._reconnect()
            return []
        fast, decode, on_message = self._fast_change, pgoutput.decode, self._on_message
        for msg in messages:
            if isinstance(msg, Keepalive):
                continue
            payload = msg.payload
            if payload[:1] in _CHANGE_TAGS and fast(payload, msg.data_start, out):
                continue
            out.extend(on_message(decode(payload), msg.data_start))
        now = time.monotonic()
        if self.txn is None:
            if out:
                self.last_returned = dict(out[-1].source_offset or {})
            elif self.heartbeat_s and now - self.last_heartbeat >= self.heartbeat_s:
                self.last_heartbeat = now
                out.append(self._heartbeat())
                self.last_returned = dict(out[-1].source_offset or {})
            elif now - self.last_idle_check >= self.status_s:
                self.last_idle_check = now
                self._ack_idle()
        elif out:
            self.last_returned = dict(out[-1].source_offset or {})
        if now - self.repl.last_status >= self.status_s:
            try:
                self.repl.send_status()
            except CdcError as exc:  # the stream broke after this batch: the next poll reconnects
                log.warning("replication stream of slot %s broke (%s); reconnecting", self.slot, exc)
                self._reconnect()
        return out

    def _reconnect(self, attempts: int = 5, backoff_s: float = 1.0) -> None:
        """Open new connections and restart streaming from the slot. The server sends again everything after
        the acknowledged position; what this task already returned is skipped, so nothing is lost or doubled.
        After ``attempts`` failures (the server is down, the slot was dropped...) the last error is raised."""
        if self.repl is not None:
            self.repl.close()
            self.repl = None
        last = self.last_returned or {}
        if "lsn_commit" in last:
            self.resume = max(self.resume, (int(last["lsn_commit"]), int(last.get("event_serial", 0))))
        error: CdcError | None = None
        for attempt in range(1, attempts + 1):
            try:
                try:
                    self.conn.close()
                except Exception:
                    pass
                self.conn = catalog.connect(self.params)
                self.repl = ReplicationConnection(self.params)
                self._start_streaming()
                log.info("replication stream of slot %s re-opened", self.slot)
                return
            except CdcError as exc:
                error = exc
                if self.repl is not None:
                    self.repl.close()
                    self.repl = None
                if attempt < attempts and self._stopping.wait(backoff_s):
                    break
        assert error is not None
        raise error

    def _fast_change(self, payload: bytes, lsn: int, out: list[SourceRecord]) -> bool:
        """An insert, update or delete of a known captured table, straight from the message bytes to its
        records (appended to ``out``); ``False`` (having changed nothing) leaves the message to the general
        path (:meth:`_on_message`), which decides everything else the same way: a change outside a
        transaction, an unknown or excluded table, a key change, anything :mod:`.rowcodec`'s compiled decoder
        does not handle (a bad value then fails there, naming its column)."""
        txn = self.txn
        if txn is None or len(payload) < 6:  # (a truncated message: the general path names the problem)
            return False
        table = self.relations.get(_OID(payload, 1)[0])
        if table is None:
            return False
        decode_row = table.decode_row
        tag, kind = payload[0], payload[5]
        try:
            if tag == 73:  # Insert: 'N' new tuple
                if kind != 78:
                    return False
                before, op = None, "c"
                after, _ = decode_row(payload, 6)
            elif tag == 85:  # Update: ['K' old key | 'O' old row] 'N' new tuple
                op = "u"
                if kind == 78:
                    before = None
                    after, _ = decode_row(payload, 6)
                elif kind == 75 or kind == 79:
                    before, pos = decode_row(payload, 6)
                    if payload[pos] != 78:
                        return False
                    after, _ = decode_row(payload, pos + 1)
                    key_of = table.fast_key
                    if key_of is not None and key_of(before) != key_of(after):
                        return False  # a key change: a delete and a create, on the general path
                else:
                    return False
            else:  # Delete: 'K' old key | 'O' old row
                if kind != 75 and kind != 79:
                    return False
                after, op = None, "d"
                before, _ = decode_row(payload, 6)
        except Exception:  # the general path decodes it, or raises the error that names the problem
            return False
        self.serial = serial = self.serial + 1
        final_lsn = txn.final_lsn
        if (final_lsn, serial) <= self.resume:
            return True  # already in the log before the restart
        # as envelope.change_records, built in place (its output is pinned by test_stream_records_pinned)
        xid, ts_us, last = txn.xid, txn.commit_ts_us, self.last_commit_lsn
        ts_ms = ts_us // 1000
        offset = {"lsn_commit": final_lsn, "event_serial": serial, "lsn": lsn, "txId": xid, "ts_usec": ts_us}
        source = {
            "version": __version__,
            "connector": "postgresql",
            "name": table.prefix,
            "ts_ms": ts_ms,
            "snapshot": "false",
            "db": self.db,
            "sequence": f'[null, "{lsn}"]' if last is None else f'["{last}", "{lsn}"]',
            "schema": table.namespace,
            "table": table.name,
            "txId": xid,
            "lsn": lsn,
            "xmin": None,
        }
        value = {"before": before, "after": after, "source": source, "op": op, "ts_ms": _now_ms()}
        key_of = table.fast_key
        key = None if key_of is None else key_of(after if after is not None else before)
        topic, key_schema, partition = table.topic, table.key_schema, self.partition
        out.append(
            _new(
                SourceRecord,
                (topic, None, key_schema, key, table.envelope_schema, value, ts_ms, (), partition, offset),
            )
        )
        if op == "d" and self.tombstones:
            out.append(_new(SourceRecord, (topic, None, key_schema, key, None, None, ts_ms, (), partition, offset)))
        return True

    def _on_message(self, msg: pgoutput.Message, lsn: int) -> list[SourceRecord]:
        if isinstance(msg, pgoutput.Insert | pgoutput.Update | pgoutput.Delete | pgoutput.Truncate):
            return self._on_change(msg, lsn)
        if isinstance(msg, pgoutput.Begin):
            self.txn, self.serial = msg, 0
            return []
        if isinstance(msg, pgoutput.Commit):
            self.txn = None
            self.last_commit_lsn = msg.commit_lsn
            return []
        if isinstance(msg, pgoutput.Relation):
            self._on_relation(msg)
            return []
        return []

    def _on_change(
        self, msg: pgoutput.Insert | pgoutput.Update | pgoutput.Delete | pgoutput.Truncate, lsn: int
    ) -> list[SourceRecord]:
        txn = self.txn
        if txn is None:
            raise CdcError("the replication stream sent a change outside a transaction (pgoutput protocol error)")
        self.serial += 1
        if (txn.final_lsn, self.serial) <= self.resume:
            return []  # already in the log before the restart
        if isinstance(msg, pgoutput.Truncate):
            log.info(
                "ignoring TRUNCATE of %d table(s) (Debezium skips truncate events by default)", len(msg.relation_oids)
            )
            return []
        table = self.relations.get(msg.relation_oid)
        if table is None:
            return []
        offset = {
            "lsn_commit": txn.final_lsn,
            "event_serial": self.serial,
            "lsn": lsn,
            "txId": txn.xid,
            "ts_usec": txn.commit_ts_us,
        }
        info = SourceInfo(self.db, txn.commit_ts_us // 1000, "false", txn.xid, lsn, (self.last_commit_lsn, lsn), offset)
        now = _now_ms()
        part, tomb = self.partition, self.tombstones
        if isinstance(msg, pgoutput.Insert):
            return change_records(table, "c", None, table.row(msg.new), info, part, now, tomb)
        if isinstance(msg, pgoutput.Update):
            after = table.row(msg.new)
            before = table.row(msg.old) if msg.old is not None else None
            if before is not None and table.key_schema is not None and table.key_of(before) != table.key_of(after):
                return change_records(table, "d", before, None, info, part, now, tomb) + change_records(
                    table, "c", None, after, info, part, now, tomb
                )
            return change_records(table, "u", before, after, info, part, now, tomb)
        if isinstance(msg, pgoutput.Delete):
            return change_records(table, "d", table.row(msg.old), None, info, part, now, tomb)
        return []

    def _on_relation(self, rel: pgoutput.Relation) -> None:
        """A table's (new) definition: rebuild its schemas; key columns come from its primary key. A table
        created after the start is captured when it passes the include/exclude lists."""
        if rel.oid not in self.captured:
            if not catalog.is_captured(self.values, rel.namespace, rel.name):
                self.relations[rel.oid] = None
                return
            log.info("capturing new table %s.%s", rel.namespace, rel.name)
            self.captured.add(rel.oid)
        info = catalog.describe_table(self.conn, rel.oid, rel.namespace, rel.name)
        names = {c.name for c in rel.columns}
        key = tuple(k for k in info.key_columns if k in names)
        if not key and rel.replica_identity not in ("f", "i"):
            key = tuple(c.name for c in rel.columns if c.is_key)
        cols = tuple(ColumnDef(c.name, c.type_oid, c.type_modifier) for c in rel.columns)
        old = self.relations.get(rel.oid)
        if old is not None and old.columns != cols:
            log.info("table %s.%s changed: columns are now %s", rel.namespace, rel.name, [c.name for c in cols])
        self.relations[rel.oid] = self._schema(rel.namespace, rel.name, cols, key)

    def _heartbeat(self) -> SourceRecord:
        assert self.repl is not None
        lsn = self.repl.received
        now = _now_ms()
        return SourceRecord(
            topic=f"{self.values['heartbeat.topics.prefix']}.{self.prefix}",
            kafka_partition=None,
            key_schema=_HEARTBEAT_KEY,
            key={"serverName": self.prefix},
            value_schema=_HEARTBEAT_VALUE,
            value={"ts_ms": now},
            source_partition=self.partition,
            source_offset={"lsn_commit": lsn, "event_serial": 0, "lsn": lsn, "ts_usec": now * 1000},
            timestamp=now,
        )

    def _ack_idle(self) -> None:
        """Nothing open and everything returned is stored: the server's position can be acknowledged."""
        assert self.repl is not None
        if self.last_returned is not None:
            stored = self.context.offset_storage_reader().offset(self.partition)
            if stored != self.last_returned:
                return
        if self.repl.received > self.repl.flushed:
            self.repl.acknowledge(self.repl.received)

    # -- commit / stop -------------------------------------------------------------------------------------
    def commit(self) -> None:
        """Acknowledge to the slot the commit LSN of the stored offset (records before it are in the log)."""
        with self._lock:
            if self.repl is None or not self.repl.streaming:
                return
            stored = self.context.offset_storage_reader().offset(self.partition)
            if stored and not stored.get("snapshot") and stored.get("lsn_commit"):
                self.repl.acknowledge(int(stored["lsn_commit"]))

    def stop(self) -> None:
        stopping = getattr(self, "_stopping", None)
        if stopping is None:
            return
        stopping.set()
        with self._lock:
            self._close()
            if self.values.get("slot.drop.on.stop"):
                try:
                    conn = catalog.connect(self.params)
                    catalog.drop_slot(conn, self.slot)
                    conn.close()
                except Exception as exc:
                    log.warning("could not drop slot %s: %s", self.slot, exc)

    def _close(self) -> None:
        if self.snapshot is not None:
            self.snapshot.close()
            self.snapshot = None
        if self.repl is not None:
            self.repl.close()
            self.repl = None
        try:
            self.conn.close()
        except Exception:
            pass


def _params(values: Mapping[str, Any]) -> dict[str, Any]:
    from .config import connection_params

    return connection_params(values)


__all__ = ["PostgresConnector", "PostgresConnectorTask"]
