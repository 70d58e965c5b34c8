"""The embedded log's SQLite database: its file, schema, format version, connections and error translation.

One log directory holds one database file, ``log.db`` (plus SQLite's ``log.db-wal`` / ``log.db-shm`` while it
is open). The schema (format version :data:`FORMAT_VERSION`)::

    meta(key, value)                       'format' = FORMAT_VERSION, 'created_by'
    topics(topic_id AUTOINCREMENT, name, partitions, config JSON, replication_factor)
    partitions(topic_id, partition, start_offset, next_offset,           -- log start / log end
               compacted_end)                                         -- log end at the last compaction
    batches(batch_id, topic_id, partition, base_offset, last_offset, max_timestamp,
            record_count, byte_size, records BLOB)                        -- one row per stored batch
    batches_by_offset(topic_id, partition, base_offset, ...)              -- covering index of the above
    group_offsets(group_id, topic_id, partition, committed_offset)
    state(key, value BLOB)                                                -- transactional state blobs

Batches live in a rowid table with a small covering index on their position rather than in a ``WITHOUT
ROWID`` table keyed by it: an index b-tree compares whole rows while it searches, and a row holding a
large blob would be read in full (overflow pages and all) at every step of every seek.

Topic ids come from ``AUTOINCREMENT`` and are never reused, so a topic deleted and created again never
sees the old topic's batches or group offsets, and a writer holding a stale id finds no partition row.
The file is marked with SQLite's ``application_id`` :data:`APPLICATION_ID` so that a foreign SQLite file is
recognised before anything is written to it.

:func:`open_database` validates (or initialises) the file and raises :class:`CorruptLogError` naming the
path and what to do when the path holds something else.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from pathlib import Path

from ..core.errors import ConfigError, CorruptLogError, LogError

FORMAT_VERSION = 1
"""On-disk format version written to ``meta``; a log with a higher version is refused."""

APPLICATION_ID = 0x6D6C7374  # 'mlst'
DB_FILE = "log.db"
SQLITE_MAGIC = b"SQLite format 3\x00"

# Log objects of this process that have a database file (by device and inode) open. The raw header read must
# never happen while this process holds an SQLite connection to the file: on POSIX, closing *any* descriptor
# of a file drops all of the process's advisory locks on it (SQLite's documented hazard), after which another
# process closing its last connection checkpoints and deletes the WAL that this process's connections still
# write to — their later commits become invisible to everyone else. Every connection millstream opens belongs
# to a log object counted here, so the header is read raw only while the count is zero, under a lock.
_open_files: dict[tuple[int, int], int] = {}
_header_lock = threading.Lock()


def release_database(key: tuple[int, int]) -> None:
    """A log object that :func:`open_database` counted has closed its connections."""
    with _header_lock:
        n = _open_files.get(key, 0) - 1
        if n > 0:
            _open_files[key] = n
        else:
            _open_files.pop(key, None)


SYNCHRONOUS_MODES = ("normal", "full")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE topics (
    topic_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    partitions INTEGER NOT NULL,
    config TEXT NOT NULL,
    replication_factor INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE partitions (
    topic_id INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    start_offset INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    compacted_end INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic_id, partition)
) WITHOUT ROWID;
CREATE TABLE batches (
    batch_id INTEGER PRIMARY KEY,
    topic_id INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    base_offset INTEGER NOT NULL,
    last_offset INTEGER NOT NULL,
    max_timestamp INTEGER NOT NULL,
    record_count INTEGER NOT NULL,
    byte_size INTEGER NOT NULL,
    records BLOB NOT NULL
);
CREATE UNIQUE INDEX batches_by_offset ON batches (
    topic_id, partition, base_offset, last_offset, record_count, byte_size, max_timestamp
);
CREATE TABLE group_offsets (
    group_id TEXT NOT NULL,
    topic_id INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    committed_offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic_id, partition)
) WITHOUT ROWID;
CREATE INDEX group_offsets_by_topic ON group_offsets (topic_id);
CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
"""

_CORRUPT_HINT = (
    "point file:// at another directory, or move the file away; if it is a damaged millstream log, "
    "restore it from a backup"
)


def corrupt(path: Path, what: str, hint: str = _CORRUPT_HINT) -> CorruptLogError:
    """A :class:`CorruptLogError` for ``path`` saying what was found there."""
    return CorruptLogError(f"{path} {what}", hint=hint)


def translate_error(exc: sqlite3.Error, path: Path, doing: str) -> LogError:
    """Turn an SQLite error into a millstream error naming the log file and what was being done."""
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and (
        "malformed" in text or "not a database" in text or "disk image" in text
    ):
        return corrupt(path, f"is damaged ({text}) while {doing}")
    if "unable to open" in text or "readonly" in text or "read-only" in text:
        return LogError(
            f"cannot open the log at {path} for writing while {doing} ({text})",
            hint="check that the directory exists and that this user may write to it and to its files",
        )
    if "disk is full" in text or "disk full" in text:
        return LogError(f"the disk is full: cannot write the log at {path} while {doing}", hint=_disk_full_hint(path))
    if "locked" in text or "busy" in text:
        return LogError(
            f"the log at {path} stayed locked by another process while {doing} ({text})",
            hint="another process holds a long write transaction; retry, or raise busy_timeout_ms",
        )
    return LogError(f"SQLite error on the log at {path} while {doing}: {text}")


def connect(db_file: Path, *, synchronous: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection configured for the log: autocommit (explicit BEGIN), WAL, busy timeout, sync mode."""
    conn = sqlite3.connect(
        str(db_file), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000.0
    )
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache per connection (upper bound)
    # Checkpoint the WAL every 64 MiB rather than SQLite's 4 MiB: pages written again and again (the
    # partition rows, the b-tree's upper levels) are copied once per checkpoint, which speeds up appends
    # by about half; the WAL file is cut back to that size afterwards.
    conn.execute("PRAGMA wal_autocheckpoint=16384")
    conn.execute("PRAGMA journal_size_limit=67108864")
    return conn


def _check_header(db_file: Path) -> None:
    """Reject files that are not SQLite databases, or are cut short, before SQLite touches them."""
    size = db_file.stat().st_size
    if size == 0:
        return  # a new (or never written) database
    with open(db_file, "rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise corrupt(db_file, "is not a millstream log (it is not an SQLite database)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    change_counter = header[24:28]
    valid_for = header[92:96]
    wal = db_file.with_name(db_file.name + "-wal")
    wal_in_use = wal.exists() and wal.stat().st_size > 0
    # The in-header page count is only trustworthy when no WAL is pending (a checkpoint interrupted by a
    # crash may have grown the header before the file; the WAL then repairs it).
    if not wal_in_use and pages and change_counter == valid_for and size < pages * page_size:
        raise corrupt(db_file, f"is truncated: it has {size} bytes but its header says {pages * page_size} bytes")


def _initialise(conn: sqlite3.Connection, db_file: Path) -> None:
    """Create the schema in a new database (under the write lock, so two processes cannot both do it)."""
    if conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
        return  # an existing log: no need for the write lock
    conn.execute("BEGIN IMMEDIATE")
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        if app_id == 0 and not tables:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            from .. import __version__

            conn.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?)",
                [("format", str(FORMAT_VERSION)), ("created_by", f"millstream {__version__}")],
            )
        elif app_id != APPLICATION_ID:
            raise corrupt(
                db_file,
                "is an SQLite database but not a millstream log "
                f"(application_id {app_id:#x}, tables: {', '.join(sorted(tables)) or 'none'})",
                hint="point file:// at an empty or new directory; millstream will not write into another "
                "program's database",
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _check_format(conn: sqlite3.Connection, db_file: Path) -> None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
    except sqlite3.OperationalError as exc:
        raise corrupt(db_file, f"is marked as a millstream log but its tables are missing ({exc})") from exc
    if row is None:
        raise corrupt(db_file, "is marked as a millstream log but has no format version")
    try:
        version = int(row[0])
    except ValueError:
        raise corrupt(db_file, f"has an unreadable format version {row[0]!r}") from None
    if version > FORMAT_VERSION:
        raise CorruptLogError(
            f"{db_file} was written by a newer millstream (log format {version}; this version reads up to "
            f"format {FORMAT_VERSION})",
            hint="upgrade millstream (pip install -U millstream) to open this log",
        )
    missing = {"topics", "partitions", "batches", "group_offsets", "state"} - {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    if missing:
        raise corrupt(db_file, f"is a millstream log missing the table(s) {', '.join(sorted(missing))}")


def open_database(
    path: str | os.PathLike[str], *, synchronous: str, busy_timeout_ms: int
) -> tuple[Path, tuple[int, int]]:
    """Validate the log directory ``path`` (creating it and a new log if missing); return the database file
    and its key, counted as open by the caller until it calls :func:`release_database` with that key.

    Raises :class:`CorruptLogError` when ``path`` or its database is not a millstream log of a format this
    version reads, and :class:`ConfigError` for bad options.
    """
    if synchronous not in SYNCHRONOUS_MODES:
        raise ConfigError(f"synchronous={synchronous!r} is invalid", hint="use 'normal' or 'full'")
    directory = Path(path).expanduser()
    try:
        return _open_directory(directory, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
    except PermissionError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(directory) else ""
        raise LogError(
            f"permission denied on the log at {directory}{where}: this user may not read or write it",
            hint=f"give this user read and write access to {directory} and its files "
            f"(e.g. chown -R $(id -un) {directory}), or point --log at another directory",
        ) from None
    except OSError as exc:
        raise LogError(
            f"cannot open the log directory {directory}: {exc.strerror or exc}",
            hint=_disk_full_hint(directory) if exc.errno == errno.ENOSPC else "check the path and its permissions",
        ) from None


def _disk_full_hint(path: Path) -> str:
    return f"the disk holding {path} is full: free space there (df -h {path}) or point --log at another disk"


def _open_directory(directory: Path, *, synchronous: str, busy_timeout_ms: int) -> tuple[Path, tuple[int, int]]:
    if directory.exists() and not directory.is_dir():
        raise corrupt(
            directory,
            "is a file, not a millstream log directory",
            hint="file://PATH names a directory that holds the log; point it at a directory (it is created if missing)",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the log directory {directory}: {exc.strerror}") from exc
    db_file = directory / DB_FILE
    with _header_lock:
        if db_file.exists():
            if not db_file.is_file():
                raise corrupt(db_file, "is not a regular file")
            st = db_file.stat()
            if not _open_files.get((st.st_dev, st.st_ino)):
                _check_header(db_file)
        _open_checked(db_file, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
        st = db_file.stat()  # also when this call created the file
        key = (st.st_dev, st.st_ino)
        _open_files[key] = _open_files.get(key, 0) + 1
        return db_file, key


def _open_checked(db_file: Path, *, synchronous: str, busy_timeout_ms: int) -> None:
    """Open (creating if new), switch to WAL, create the schema, check the format; return the file."""
    try:
        conn = connect(db_file, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
    except sqlite3.Error as exc:
        raise translate_error(exc, db_file, "opening it") from exc
    try:
        deadline = time.monotonic() + busy_timeout_ms / 1000.0
        while True:  # journal_mode needs a moment without readers when two processes create the log at once
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        if str(mode).lower() != "wal":
            raise LogError(
                f"cannot switch the log at {db_file} to WAL mode (got {mode!r})",
                hint="the directory must be on a local file system that supports shared memory (not NFS)",
            )
        _initialise(conn, db_file)
        _check_format(conn, db_file)
    except sqlite3.Error as exc:
        raise translate_error(exc, db_file, "opening it") from exc
    finally:
        conn.close()


__all__ = [
    "APPLICATION_ID",
    "DB_FILE",
    "FORMAT_VERSION",
    "SYNCHRONOUS_MODES",
    "connect",
    "corrupt",
    "open_database",
    "release_database",
    "translate_error",
]
