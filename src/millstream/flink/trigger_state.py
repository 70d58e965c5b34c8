"""A user trigger's ``ctx.get_partitioned_state(descriptor)`` on PyFlink: state per key and window in Flink state.

PyFlink's Python API has no state namespaces, so :class:`~millstream.flink.evicting.EvictingWindow` keeps every
user trigger's partitioned state of a key in ONE Flink ``MapState`` (``(state name, window) -> stored value``;
the key is Flink's current key). The state objects a trigger gets are millstream's own
(:mod:`millstream.stream.state`: value, list, map, reducing, aggregating, TTL included), over
:class:`PartitionedTriggerState`, a :class:`~millstream.stream.state.KeyedStateBackend` whose tables read
through to that map state and cache what they read for the current Flink call; the operator calls
:meth:`PartitionedTriggerState.begin` before it runs a trigger for a key and :meth:`~PartitionedTriggerState.flush`
after, which writes every entry read or written back (state objects change lists and maps in place), and
removes the ones gone. ``current_key`` is the window (``evicting.window_key``), set by the trigger context.
"""

from __future__ import annotations

from typing import Any

from ..stream.state import KeyedStateBackend

_MISSING: Any = object()


class _Table:
    """One state name's entries of the current Flink key, ``window -> stored value``: the dict operations
    millstream's state objects use, over :class:`PartitionedTriggerState`'s cache."""

    __slots__ = ("name", "store")

    def __init__(self, name: str, store: PartitionedTriggerState) -> None:
        self.name, self.store = name, store

    def get(self, k: Any, default: Any = None) -> Any:
        v = self.store.read((self.name, k))
        return default if v is _MISSING else v

    def __getitem__(self, k: Any) -> Any:
        v = self.store.read((self.name, k))
        if v is _MISSING:
            raise KeyError(k)
        return v

    def __contains__(self, k: Any) -> bool:
        return self.store.read((self.name, k)) is not _MISSING

    def __setitem__(self, k: Any, v: Any) -> None:
        self.store.write((self.name, k), v)

    def __delitem__(self, k: Any) -> None:
        if self.store.read((self.name, k)) is _MISSING:
            raise KeyError(k)
        self.store.write((self.name, k), _MISSING)

    def pop(self, k: Any, default: Any = None) -> Any:
        v = self.store.read((self.name, k))
        if v is _MISSING:
            return default
        self.store.write((self.name, k), _MISSING)
        return v


class PartitionedTriggerState(KeyedStateBackend):
    """The backend of a user trigger's partitioned state (see the module docstring): ``flink`` is the Flink
    ``MapState`` ``(name, window) -> stored value`` of the current key, set by the operator's ``open``."""

    def __init__(self, now: Any) -> None:
        super().__init__(now)
        self.flink: Any = None
        self.cache: dict[Any, Any] = {}
        self.loaded: dict[Any, bool] = {}  # entry -> whether Flink's state held it when first read

    def table(self, name: str) -> Any:
        t = self.tables.get(name)
        if t is None:
            t = self.tables[name] = _Table(name, self)  # type: ignore[assignment]
        return t

    def begin(self) -> None:
        """Forget the cache: Flink's current key may have changed since the last call."""
        self.cache.clear()
        self.loaded.clear()

    def read(self, entry: Any) -> Any:
        v = self.cache.get(entry, _MISSING)
        if v is _MISSING and entry not in self.loaded:
            stored = self.flink.get(entry)
            # a stored None is impossible: millstream's state objects never store None
            v = _MISSING if stored is None else stored
            self.loaded[entry] = v is not _MISSING
            self.cache[entry] = v
        return v

    def write(self, entry: Any, value: Any) -> None:
        if entry not in self.loaded:
            self.read(entry)
        self.cache[entry] = value

    def flush(self) -> None:
        """Write what this call read or changed back to Flink's state; then :meth:`begin`."""
        for entry, v in self.cache.items():
            if v is not _MISSING:
                self.flink.put(entry, v)
            elif self.loaded[entry]:
                self.flink.remove(entry)
        self.begin()

    def clear_key(self, key: Any) -> None:
        raise TypeError("a user trigger's partitioned state is cleared by the trigger (its clear())")

    def snapshot(self) -> dict[str, dict[Any, Any]]:
        raise TypeError("a user trigger's partitioned state on Flink is checkpointed by Flink")

    def restore(self, snapshot: dict[str, dict[Any, Any]]) -> None:
        raise TypeError("a user trigger's partitioned state on Flink is restored by Flink")


__all__ = ["PartitionedTriggerState"]
