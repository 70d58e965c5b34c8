"""Keyed state in RocksDB (``rocksdict``, extra ``[rocksdb]``) for state larger than memory.

:class:`RocksDBKeyedStateBackend` is a drop-in for the in-memory
:class:`~millstream.stream.state.KeyedStateBackend`: each state name is a key prefix in one RocksDB
database; keys and values are pickled. Reads go through a write-back cache of at most ``cache_entries``
entries (values handed out may be changed in place by the state objects, so every cached entry is written
back on flush, and then kept as *clean* entries, not written again until handed out again); the changed
entries are flushed in one ``WriteBatch`` before every snapshot and when the cache is full — then the older
half of the clean entries leaves the cache.

Snapshots are RocksDB checkpoints: ``snapshot()`` flushes and creates a checkpoint directory whose SST
files are hard links of the live database's (no data copied: incremental — unchanged SST files are shared by
successive checkpoints). The checkpoint coordinator moves that directory into the millstream checkpoint
as an *attachment* (``attachment`` attribute); ``restore`` hard-links the attachment's SST files into a fresh
working database. Restore time therefore does not grow with the state size beyond linking files.

Which operators use it (``env.set_state_backend(EmbeddedRocksDBStateBackend())``): every operator with a
``backend`` of type :class:`~millstream.stream.state.KeyedStateBackend` — keyed process functions, rolling
reduces/aggregations and window operators (contents, trigger state, per-window and global state, each a
table of the operator's one backend). The checkpoint coordinator swaps the backend before the operators open
and calls the operator's ``rebind_state()`` so that it takes its tables from the new backend. Under this
backend tumbling and sliding windows with incremental aggregates run the slicing fast path with a bounded
write-behind cache of accumulators (:mod:`millstream.stream.operators.writebehind`), which writes and reads
its table in batches past the cache (:meth:`RocksDBKeyedStateBackend.write_entries` / ``read_entries``); other
windows run the general operator. Timers and merging-window sets stay on the heap and are pickled into the
checkpoint.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..stream.state import KeyedStateBackend

_ABSENT: Any = object()
_DELETED: Any = object()


def _rocksdict() -> Any:
    try:
        import rocksdict
    except ImportError as exc:  # pragma: no cover - rocksdict is installed with the [rocksdb] extra
        raise ConfigError(
            "the RocksDB state backend needs the rocksdict package", hint="pip install 'millstream[rocksdb]'"
        ) from exc
    return rocksdict


class RocksTable:
    """One state's ``key -> value`` table over RocksDB, with the dict methods the state objects use.

    ``cache`` holds the entries handed out or written since the last flush (they may have been changed in
    place, so a flush writes them all back); ``clean`` the entries equal to the database's (read before
    and not handed out since the last flush: never written back). A ``get`` moves an entry from ``clean``
    to ``cache``."""

    __slots__ = ("backend", "cache", "clean", "prefix")

    def __init__(self, backend: RocksDBKeyedStateBackend, name: str) -> None:
        self.backend = backend
        self.prefix = name.encode() + b"\x00"
        self.cache: dict[Any, Any] = {}
        self.clean: dict[Any, Any] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        b = self.backend
        if b.cached >= b.cache_entries:
            b.evict()
        v = self.cache.get(key, _ABSENT)
        if v is _DELETED:
            return default
        if v is not _ABSENT:
            return v
        v = self.clean.pop(key, _ABSENT)
        if v is not _ABSENT:
            self.cache[key] = v  # handed out: may be changed in place from now on
            return v
        raw = b.db.get(self.prefix + pickle.dumps(key, 5))
        if raw is None:
            return default
        v = pickle.loads(raw)
        self.cache[key] = v
        b.cached += 1
        return v

    def __getitem__(self, key: Any) -> Any:
        v = self.get(key, _ABSENT)
        if v is _ABSENT:
            raise KeyError(key)
        return v

    def __setitem__(self, key: Any, value: Any) -> None:
        b = self.backend
        if b.cached >= b.cache_entries:
            b.evict()
        if key not in self.cache and self.clean.pop(key, _ABSENT) is _ABSENT:
            b.cached += 1
        self.cache[key] = value

    def __contains__(self, key: Any) -> bool:
        return self.get(key, _ABSENT) is not _ABSENT

    def pop(self, key: Any, default: Any = None) -> Any:
        v = self.get(key, _ABSENT)
        if v is _ABSENT:
            return default
        self.cache[key] = _DELETED
        return v

    def __delitem__(self, key: Any) -> None:
        if self.pop(key, _ABSENT) is _ABSENT:
            raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        self.backend.flush()
        for k in self.backend.db.keys(from_key=self.prefix):
            if not k.startswith(self.prefix):
                break
            yield pickle.loads(k[len(self.prefix) :])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items(self) -> Iterator[tuple[Any, Any]]:
        for k in list(self):
            yield k, self[k]


class RocksDBKeyedStateBackend(KeyedStateBackend):
    """Keyed state of one operator in a RocksDB database under ``work_dir`` (see the module docstring)."""

    def __init__(
        self, work_dir: str | os.PathLike[str], now: Callable[[], int] | None = None, cache_entries: int = 50_000
    ):
        super().__init__(now)
        self.rocksdict = _rocksdict()
        self.work = Path(work_dir)
        self.cache_entries = cache_entries
        self.cached = 0
        self.attachment: Path | None = None  # a snapshot directory for the coordinator to take
        self.restore_from: Path | None = None  # set by the coordinator before ``restore``
        self._snaps = 0
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        self.db = self._open(self.work / "db")

    def _open(self, path: Path) -> Any:
        opts = self.rocksdict.Options(raw_mode=True)
        opts.create_if_missing(True)
        return self.rocksdict.Rdict(str(path), opts)

    def table(self, name: str) -> Any:
        t = self.tables.get(name)
        if t is None:
            t = self.tables[name] = RocksTable(self, name)  # type: ignore[assignment]
        return t

    def _rocks_tables(self) -> list[RocksTable]:
        return list(self.tables.values())  # type: ignore[arg-type]

    def evict(self) -> None:
        """The cache is full: write the changed entries back (:meth:`flush`), then drop the older half of
        each table's clean entries, so that a working set near the cache size is not reloaded after every
        write-back."""
        self.flush()
        n = 0
        for t in self._rocks_tables():
            clean = t.clean
            if clean:
                items = list(clean.items())
                clean.clear()
                clean.update(items[len(items) // 2 :])
                n += len(clean)
        self.cached = n

    def flush(self) -> None:
        """Write every changed (handed-out) entry back in one batch; they stay cached as clean entries."""
        wb = self.rocksdict.WriteBatch(raw_mode=True)
        dumps = pickle.dumps
        n = kept = 0
        for t in self._rocks_tables():
            cache = t.cache
            if not cache:
                kept += len(t.clean)
                continue
            prefix = t.prefix
            deleted = []
            for k, v in cache.items():
                if v is _DELETED:
                    wb.delete(prefix + dumps(k, 5))
                    deleted.append(k)
                else:
                    wb.put(prefix + dumps(k, 5), dumps(v, 5))
                n += 1
            for k in deleted:
                del cache[k]
            t.clean.update(cache)
            cache.clear()
            kept += len(t.clean)
        if n:
            self.db.write(wb)
        self.cached = kept

    def write_entries(self, name: str, puts: Iterable[tuple[Any, Any]], deletes: Iterable[Any] = ()) -> None:
        """Put and delete entries of table ``name`` straight in the database, in one ``WriteBatch`` (past the
        cache: the table's caller keeps its own write-behind cache, see the base class)."""
        prefix = name.encode() + b"\x00"
        dumps = pickle.dumps
        wb = self.rocksdict.WriteBatch(raw_mode=True)
        n = 0
        for k, v in puts:
            wb.put(prefix + dumps(k, 5), dumps(v, 5))
            n += 1
        for k in deletes:
            wb.delete(prefix + dumps(k, 5))
            n += 1
        if n:
            self.db.write(wb)

    def read_entries(self, name: str, keys: list[Any]) -> list[Any]:
        """The values of ``keys`` in table ``name`` read from the database in one multi-get; a missing key
        raises ``KeyError``."""
        prefix = name.encode() + b"\x00"
        dumps, loads = pickle.dumps, pickle.loads
        raws = self.db.get([prefix + dumps(k, 5) for k in keys])
        out = []
        for k, raw in zip(keys, raws, strict=True):
            if raw is None:
                raise KeyError(k)
            out.append(loads(raw))
        return out

    def snapshot(self) -> dict[str, Any]:
        """Flush, and create a RocksDB checkpoint in ``attachment`` (hard links, no data copied)."""
        self.flush()
        self.db.flush()
        self._snaps += 1
        path = self.work / f"snap-{self._snaps}"
        if path.exists():
            shutil.rmtree(path)
        self.rocksdict.Checkpoint(self.db).create_checkpoint(str(path))
        self.attachment = path
        return {"rocksdb": True}

    def restore(self, snapshot: Any) -> None:
        """Replace the database by the attachment ``restore_from`` (SST files hard-linked)."""
        if not isinstance(snapshot, dict) or not snapshot.get("rocksdb"):
            raise ConfigError(
                "this state was checkpointed by the in-memory state backend, not by RocksDB",
                hint="restore with the state backend that wrote the checkpoint",
            )
        src = self.restore_from
        if src is None or not src.is_dir():
            raise ConfigError(f"the RocksDB files of this state are missing from the checkpoint ({src})")
        self.db.close()
        dest = self.work / "db"
        shutil.rmtree(dest, ignore_errors=True)
        link_tree(src, dest)
        self.db = self._open(dest)
        for t in self._rocks_tables():
            t.cache.clear()
            t.clean.clear()
        self.cached = 0

    def close(self) -> None:
        try:
            self.db.close()
        finally:
            shutil.rmtree(self.work, ignore_errors=True)


def link_tree(src: Path, dest: Path) -> None:
    """Copy a RocksDB checkpoint directory: immutable ``.sst`` files hard-linked, the rest copied."""
    dest.mkdir(parents=True)
    for p in src.iterdir():
        if p.suffix == ".sst":
            try:
                os.link(p, dest / p.name)
                continue
            except OSError:
                pass
        shutil.copy2(p, dest / p.name)


__all__ = ["RocksDBKeyedStateBackend", "RocksTable", "link_tree"]
