"""RocksDB keyed state for the subtasks of a parallel job, checkpointed in the canonical format.

A parallel job's checkpoint holds every subtask's keyed state *by key* so that it restores at another
parallelism (keyed state moves to the subtask owning its key group, :mod:`millstream.runtime.parallel.rescale`).
The single-process runtime checkpoints RocksDB incrementally, as hard links of the database's SST files; those
cannot be split by key group. So a worker's operators use :class:`CanonicalRocksDBBackend`: state lives in
RocksDB (larger than memory, a bounded cache in front) exactly as at parallelism 1, but :meth:`snapshot`
writes the in-memory backend's format — ``{state name: {key: value}}``, every entry of the database — and
:meth:`restore` loads that format into a fresh database. This is Flink's *canonical* savepoint format: a full
copy of the state at every checkpoint, so checkpoint time and size grow with the state (not with what
changed, as incremental checkpoints do).

:func:`use_rocksdb` swaps the keyed backends of built operators for RocksDB ones (before they open), for the
single-process coordinator and the workers alike.
"""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...core.errors import ConfigError
from ...stream.state import KeyedStateBackend
from ..rocksdb_state import RocksDBKeyedStateBackend


class CanonicalRocksDBBackend(RocksDBKeyedStateBackend):
    """RocksDB keyed state whose snapshots are full copies in the in-memory backend's format (see the module
    docstring)."""

    def snapshot(self) -> dict[str, Any]:
        """Flush the cache and read every entry of the database: ``{state name: {key: value}}``."""
        self.flush()
        out: dict[str, dict[Any, Any]] = {name: {} for name in self.tables}
        loads = pickle.loads
        for k, v in self.db.items():
            name, _sep, key = bytes(k).partition(b"\x00")
            out.setdefault(name.decode(), {})[loads(key)] = loads(v)
        return out

    def restore(self, snapshot: Any) -> None:
        """Replace the database's contents by ``snapshot`` (the format :meth:`snapshot` writes)."""
        if not isinstance(snapshot, dict) or snapshot.get("rocksdb") is True:
            raise ConfigError(
                "this RocksDB state was checkpointed incrementally by a job running with parallelism 1, which a "
                "parallel job cannot split among its subtasks",
                hint="restore it at parallelism 1, or start the parallel job without this checkpoint",
            )
        self.db.close()
        path = self.work / "db"
        shutil.rmtree(path, ignore_errors=True)
        self.db = self._open(path)
        wb = self.rocksdict.WriteBatch(raw_mode=True)
        dumps = pickle.dumps
        for name, table in snapshot.items():
            prefix = name.encode() + b"\x00"
            for key, value in table.items():
                wb.put(prefix + dumps(key, 5), dumps(value, 5))
        self.db.write(wb)
        for t in self._rocks_tables():
            t.cache.clear()
            t.clean.clear()
        self.cached = 0


def use_rocksdb(things: Iterable[Any], base: Path, backend: type[RocksDBKeyedStateBackend]) -> list[Any]:
    """Give every operator in ``things`` that keeps keyed state in the in-memory backend a ``backend`` under
    ``base/op-<i>`` instead (call before the operators open); the new backends, to close at the end."""
    made = []
    for i, thing in enumerate(things):
        old = getattr(thing, "backend", None)
        if type(old) is KeyedStateBackend:
            thing.backend = backend(base / f"op-{i}", old.now)
            made.append(thing.backend)
            rebind = getattr(thing, "rebind_state", None)  # operators holding tables of their backend
            if rebind is not None:
                rebind()
    return made


__all__ = ["CanonicalRocksDBBackend", "use_rocksdb"]
