"""Keyed state: descriptors (what users declare), TTL config, and the state objects over a keyed backend.

A :class:`KeyedStateBackend` holds one table per state name mapping ``key -> stored value`` (for windows
and triggers the key is ``(key, window)``). State objects read ``backend.current_key`` on every call, so one
object serves all keys, as in Flink. Everything in a backend is plain picklable data, so
``snapshot()``/``restore()`` can checkpoint it.

TTL (``descriptor.enable_time_to_live(StateTtlConfig...)``) uses processing time from the backend's clock:
an entry written (or, with ``OnReadAndWrite``, read) at ``t`` expires at ``t + ttl``. Value, reducing and
aggregating state expire as a whole; list state per element; map state per map key.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .errors import JobConfigError
from .functions import AggregateFunction, as_reduce
from .time import to_millis

_MISSING: Any = object()


class StateTtlConfig:
    """Time-to-live of state entries (PyFlink's builder: ``StateTtlConfig.new_builder(ttl)...build()``)."""

    class UpdateType:
        Disabled = "Disabled"
        OnCreateAndWrite = "OnCreateAndWrite"
        OnReadAndWrite = "OnReadAndWrite"

    class StateVisibility:
        ReturnExpiredIfNotCleanedUp = "ReturnExpiredIfNotCleanedUp"
        NeverReturnExpired = "NeverReturnExpired"

    class TtlTimeCharacteristic:
        ProcessingTime = "ProcessingTime"

    def __init__(self, ttl: int, update_type: str, visibility: str) -> None:
        self.ttl = ttl
        self.update_type = update_type
        self.visibility = visibility

    @staticmethod
    def new_builder(ttl: Any) -> StateTtlConfig.Builder:
        return StateTtlConfig.Builder(to_millis(ttl, "state TTL"))

    def is_enabled(self) -> bool:
        return self.update_type != StateTtlConfig.UpdateType.Disabled

    def get_ttl(self) -> int:
        return self.ttl

    class Builder:
        """Builds a :class:`StateTtlConfig`; cleanup options are accepted (expired entries go on access)."""

        def __init__(self, ttl: int) -> None:
            if ttl <= 0:
                raise JobConfigError(f"state TTL must be positive, got {ttl} ms")
            self._ttl = ttl
            self._update = StateTtlConfig.UpdateType.OnCreateAndWrite
            self._visibility = StateTtlConfig.StateVisibility.NeverReturnExpired

        def set_update_type(self, update_type: str) -> StateTtlConfig.Builder:
            self._update = update_type
            return self

        def update_ttl_on_create_and_write(self) -> StateTtlConfig.Builder:
            return self.set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)

        def update_ttl_on_read_and_write(self) -> StateTtlConfig.Builder:
            return self.set_update_type(StateTtlConfig.UpdateType.OnReadAndWrite)

        def set_state_visibility(self, visibility: str) -> StateTtlConfig.Builder:
            self._visibility = visibility
            return self

        def return_expired_if_not_cleaned_up(self) -> StateTtlConfig.Builder:
            return self.set_state_visibility(StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)

        def never_return_expired(self) -> StateTtlConfig.Builder:
            return self.set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)

        def set_ttl(self, ttl: Any) -> StateTtlConfig.Builder:
            self._ttl = to_millis(ttl, "state TTL")
            return self

        def set_ttl_time_characteristic(self, characteristic: str) -> StateTtlConfig.Builder:
            return self

        def cleanup_full_snapshot(self) -> StateTtlConfig.Builder:
            return self

        def cleanup_incrementally(self, *args: Any) -> StateTtlConfig.Builder:
            return self

        def cleanup_in_rocksdb_compact_filter(self, *args: Any) -> StateTtlConfig.Builder:
            return self

        def disable_cleanup_in_background(self) -> StateTtlConfig.Builder:
            return self

        def build(self) -> StateTtlConfig:
            return StateTtlConfig(self._ttl, self._update, self._visibility)


@dataclass
class StateDescriptor:
    """Names a piece of keyed state. ``type_info`` is accepted for PyFlink compatibility."""

    name: str
    type_info: Any = None
    ttl_config: StateTtlConfig | None = field(default=None, init=False)

    kind = "value"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise JobConfigError("a state descriptor needs a non-empty string name")

    def enable_time_to_live(self, ttl_config: StateTtlConfig) -> None:
        self.ttl_config = ttl_config if ttl_config.is_enabled() else None

    def get_name(self) -> str:
        return self.name


class ValueStateDescriptor(StateDescriptor):
    """Declares a :class:`ValueState`: ``ValueStateDescriptor(name, type_info)``."""

    kind = "value"


class ListStateDescriptor(StateDescriptor):
    """Declares a :class:`ListState` of elements."""

    kind = "list"


class MapStateDescriptor(StateDescriptor):
    """Declares a :class:`MapState`: ``MapStateDescriptor(name, key_type_info, value_type_info)``."""

    kind = "map"

    def __init__(self, name: str, key_type_info: Any = None, value_type_info: Any = None) -> None:
        super().__init__(name, (key_type_info, value_type_info))


class ReducingStateDescriptor(StateDescriptor):
    """Declares a :class:`ReducingState`: ``ReducingStateDescriptor(name, reduce_function, type_info)``."""

    kind = "reducing"

    def __init__(self, name: str, reduce_function: Any, type_info: Any = None) -> None:
        super().__init__(name, type_info)
        self.reduce_function = as_reduce(reduce_function)


class AggregatingStateDescriptor(StateDescriptor):
    """Declares an :class:`AggregatingState`: ``AggregatingStateDescriptor(name, agg_function, type)``."""

    kind = "aggregating"

    def __init__(self, name: str, agg_function: AggregateFunction, state_type_info: Any = None) -> None:
        super().__init__(name, state_type_info)
        self.agg_function = agg_function


_serializing = threading.local()


@contextmanager
def serializing_snapshots() -> Iterator[None]:
    """Within this block (in this thread) ``KeyedStateBackend.snapshot``/``restore`` skip their defensive
    deep copies: for callers that pickle snapshots at once, or restore freshly unpickled ones."""
    old = getattr(_serializing, "on", False)
    _serializing.on = True
    try:
        yield
    finally:
        _serializing.on = old


class KeyedStateBackend:
    """In-memory keyed state of one operator: ``tables[state_name][key] -> stored value``.

    ``current_key`` is set by the operator before user code runs. ``now`` returns processing time (for
    TTL). ``snapshot()`` returns a deep copy of all tables; ``restore(snapshot)`` replaces them.
    """

    def __init__(self, now: Callable[[], int] | None = None) -> None:
        self.tables: dict[str, dict[Any, Any]] = {}
        self.current_key: Any = None
        self.now: Callable[[], int] = now or (lambda: 0)
        self._states: dict[str, State] = {}
        self._restored_kinds: dict[str, str] = {}  # state name -> kind, as in the restored checkpoint

    def table(self, name: str) -> dict[Any, Any]:
        t = self.tables.get(name)
        if t is None:
            t = self.tables[name] = {}
        return t

    def get_state(self, descriptor: StateDescriptor) -> State:
        existing = self._states.get(descriptor.name)
        if existing is not None:
            if existing.kind != descriptor.kind:
                raise JobConfigError(
                    f"state {descriptor.name!r} is already registered as {existing.kind} state, not {descriptor.kind}",
                    hint="use a different name for each piece of state",
                )
            return existing
        self._check_kind(descriptor.name, descriptor.kind)
        cls = _STATE_CLASSES[descriptor.kind]
        state = cls(self, descriptor)
        self._states[descriptor.name] = state
        return state

    def clear_key(self, key: Any) -> None:
        for t in self.tables.values():
            t.pop(key, None)

    def write_entries(self, name: str, puts: Iterable[tuple[Any, Any]], deletes: Iterable[Any] = ()) -> None:
        """Put the ``(key, value)`` pairs ``puts`` into table ``name`` and remove the keys ``deletes`` (absent
        ones are ignored), as one batch. For operators that keep their own write-behind cache in front of the
        backend (:mod:`~millstream.stream.operators.writebehind`): a table is used either through this method
        and :meth:`read_entries` or through :meth:`table` and state objects, never both. The values are the
        backend's from now on (a backend that keeps them in memory does not copy them: the caller must not
        change them in place afterwards)."""
        t = self.table(name)
        for k, v in puts:
            t[k] = v
        for k in deletes:
            t.pop(k, None)

    def read_entries(self, name: str, keys: list[Any]) -> list[Any]:
        """The values of ``keys`` in table ``name``, in order (see :meth:`write_entries`); a missing key raises
        ``KeyError``."""
        t = self.table(name)
        return [t[k] for k in keys]

    def snapshot(self) -> dict[str, dict[Any, Any]]:
        """A deep copy of all tables — or, inside :func:`serializing_snapshots` (the checkpoint coordinator
        pickles the result before any element is processed), the tables themselves, which saves the copy."""
        if getattr(_serializing, "on", False):
            return self.tables
        return copy.deepcopy(self.tables)

    def restore(self, snapshot: dict[str, dict[Any, Any]]) -> None:
        if snapshot.get("rocksdb") is True:
            raise JobConfigError(
                "this state was checkpointed by the RocksDB state backend, not the in-memory one",
                hint="restore with env.set_state_backend(EmbeddedRocksDBStateBackend())",
            )
        self.tables = snapshot if getattr(_serializing, "on", False) else copy.deepcopy(snapshot)
        for s in self._states.values():
            s.table = self.table(s.name)

    def kinds(self) -> dict[str, str]:
        """Kind (value, list, map, reducing, aggregating) of every registered state, for checkpoints."""
        return {**self._restored_kinds, **{name: s.kind for name, s in self._states.items()}}

    def expect_kinds(self, kinds: dict[str, str]) -> None:
        """After a restore: each state must keep the kind it had in the checkpoint (checked now for the
        states already registered, later for the others); a changed kind raises :class:`JobConfigError`."""
        self._restored_kinds = dict(kinds)
        for name, s in self._states.items():
            self._check_kind(name, s.kind)

    def _check_kind(self, name: str, kind: str) -> None:
        was = self._restored_kinds.get(name)
        if was is not None and was != kind:
            raise JobConfigError(
                f"state {name!r} was {was} state in the restored checkpoint but is now declared as {kind} state",
                hint="keep the state's kind, or use a new state name (the old state is then dropped)",
            )


class StateNamespace(KeyedStateBackend):
    """A view of a parent backend under a name prefix: ``table(name)`` is ``parent.table(prefix + name)``.

    One operator keeps several families of state in ONE backend this way (a window operator: window
    contents, per-window trigger state, per-window and global user state), so that a swapped backend
    (RocksDB) holds all of them and checkpoints them together. The view has its own ``current_key`` and
    registered states; snapshots are the parent's. :meth:`rebind` points it at a new parent (after the
    runtime swapped the operator's backend, or after the parent was restored)."""

    def __init__(self, parent: KeyedStateBackend, prefix: str) -> None:
        super().__init__(parent.now)
        self.parent = parent
        self.prefix = prefix

    def table(self, name: str) -> Any:
        t = self.tables.get(name)
        if t is None:
            t = self.tables[name] = self.parent.table(self.prefix + name)
        return t

    def rebind(self, parent: KeyedStateBackend) -> None:
        """Use ``parent``'s tables from now on (registered state objects included)."""
        self.parent = parent
        self.now = parent.now
        self.tables = {}
        for s in self._states.values():
            s.table = self.table(s.name)

    def snapshot(self) -> dict[str, dict[Any, Any]]:
        raise TypeError("a StateNamespace is snapshotted by its parent backend")

    def restore(self, snapshot: dict[str, dict[Any, Any]]) -> None:
        raise TypeError("a StateNamespace is restored by its parent backend")


class HashMapStateBackend:
    """Keyed state in memory, snapshotted into checkpoints (the default; PyFlink's name)."""

    kind = "hashmap"


class EmbeddedRocksDBStateBackend:
    """Keyed state in RocksDB on local disk, checkpointed incrementally (PyFlink's name; ``[rocksdb]``).

    ``window_cache_entries`` bounds the accumulators that tumbling and sliding windows with incremental
    aggregates keep in memory in front of RocksDB (default 50,000 per window operator; the job parameter
    ``state.backend.rocksdb.window-cache-entries``, :mod:`millstream.stream.operators.writebehind`)."""

    kind = "rocksdb"

    def __init__(self, enable_incremental_checkpointing: bool = True, window_cache_entries: int | None = None) -> None:
        if window_cache_entries is not None and (not isinstance(window_cache_entries, int) or window_cache_entries < 1):
            raise JobConfigError(f"window_cache_entries must be a positive whole number, got {window_cache_entries!r}")
        self.incremental = enable_incremental_checkpointing
        self.window_cache_entries = window_cache_entries


class State:
    """Base of keyed state objects; ``clear()`` removes the current key's entry."""

    kind = "value"

    def __init__(self, backend: KeyedStateBackend, descriptor: StateDescriptor) -> None:
        self.backend = backend
        self.name = descriptor.name
        self.table = backend.table(descriptor.name)
        ttl = descriptor.ttl_config
        self.ttl = ttl.ttl if ttl else 0
        self.touch_on_read = bool(ttl and ttl.update_type == StateTtlConfig.UpdateType.OnReadAndWrite)
        self.return_expired = bool(ttl and ttl.visibility == StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)

    def clear(self) -> None:
        self.table.pop(self.backend.current_key, None)

    # TTL-wrapped entries are [value, last_access_ms]
    def _get(self) -> Any:
        raw = self.table.get(self.backend.current_key, _MISSING)
        if raw is _MISSING or not self.ttl:
            return raw
        now = self.backend.now()
        if raw[1] + self.ttl <= now:
            del self.table[self.backend.current_key]
            return raw[0] if self.return_expired else _MISSING
        if self.touch_on_read:
            raw[1] = now
        return raw[0]

    def _put(self, value: Any) -> None:
        if self.ttl:
            self.table[self.backend.current_key] = [value, self.backend.now()]
        else:
            self.table[self.backend.current_key] = value


class ValueState(State):
    """One value per key: ``value()`` (``None`` when unset), ``update(v)``, ``clear()``."""

    kind = "value"

    def value(self) -> Any:
        v = self._get()
        return None if v is _MISSING else v

    def update(self, value: Any) -> None:
        if value is None:
            self.clear()
        else:
            self._put(value)


class ListState(State):
    """A list per key: ``get()`` (iterable), ``add(v)``, ``add_all(vs)``, ``update(vs)``, ``clear()``."""

    kind = "list"

    def _live(self) -> list[Any]:
        raw = self.table.get(self.backend.current_key)
        if raw is None:
            return []
        if not self.ttl:
            return raw
        now = self.backend.now()
        keep = [e for e in raw if e[1] + self.ttl > now]
        out = [e[0] for e in (raw if self.return_expired else keep)]
        if len(keep) != len(raw):
            if keep:
                self.table[self.backend.current_key] = keep
            else:
                del self.table[self.backend.current_key]
        elif self.touch_on_read:
            for e in keep:
                e[1] = now
        return out

    def get(self) -> list[Any]:
        return list(self._live())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.get())

    def add(self, value: Any) -> None:
        if value is None:
            raise JobConfigError(f"cannot add None to list state {self.name!r}")
        raw = self.table.get(self.backend.current_key)
        if raw is None:
            raw = self.table[self.backend.current_key] = []
        raw.append([value, self.backend.now()] if self.ttl else value)

    def add_all(self, values: Iterable[Any]) -> None:
        for v in values:
            self.add(v)

    def update(self, values: Iterable[Any]) -> None:
        self.clear()
        self.add_all(values)


class MapState(State):
    """A map per key: ``get(k)``, ``put(k, v)``, ``put_all``, ``remove``, ``contains``, ``keys``, ``values``,
    ``items``, ``is_empty``, ``clear``."""

    kind = "map"

    def _map(self, create: bool = False) -> dict[Any, Any] | None:
        m = self.table.get(self.backend.current_key)
        if m is None and create:
            m = self.table[self.backend.current_key] = {}
        return m

    def _entry(self, m: dict[Any, Any], k: Any) -> Any:
        raw = m.get(k, _MISSING)
        if raw is _MISSING or not self.ttl:
            return raw
        now = self.backend.now()
        if raw[1] + self.ttl <= now:
            del m[k]
            return raw[0] if self.return_expired else _MISSING
        if self.touch_on_read:
            raw[1] = now
        return raw[0]

    def get(self, key: Any) -> Any:
        m = self._map()
        if m is None:
            return None
        v = self._entry(m, key)
        return None if v is _MISSING else v

    def put(self, key: Any, value: Any) -> None:
        m = self._map(create=True)
        assert m is not None
        m[key] = [value, self.backend.now()] if self.ttl else value

    def put_all(self, mapping: Any) -> None:
        for k, v in dict(mapping).items():
            self.put(k, v)

    def remove(self, key: Any) -> None:
        m = self._map()
        if m is not None:
            m.pop(key, None)

    def contains(self, key: Any) -> bool:
        m = self._map()
        return m is not None and self._entry(m, key) is not _MISSING

    def items(self) -> list[tuple[Any, Any]]:
        m = self._map()
        if m is None:
            return []
        out = []
        for k in list(m):
            v = self._entry(m, k)
            if v is not _MISSING:
                out.append((k, v))
        return out

    def keys(self) -> list[Any]:
        return [k for k, _ in self.items()]

    def values(self) -> list[Any]:
        return [v for _, v in self.items()]

    def is_empty(self) -> bool:
        return not self.items()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())


class ReducingState(State):
    """Reduces added values with the descriptor's function: ``get()``, ``add(v)``, ``clear()``."""

    kind = "reducing"

    def __init__(self, backend: KeyedStateBackend, descriptor: StateDescriptor) -> None:
        super().__init__(backend, descriptor)
        self.fn = descriptor.reduce_function  # type: ignore[attr-defined]

    def get(self) -> Any:
        v = self._get()
        return None if v is _MISSING else v

    def add(self, value: Any) -> None:
        cur = self._get()
        self._put(value if cur is _MISSING else self.fn(cur, value))


class AggregatingState(State):
    """Aggregates added values with an AggregateFunction: ``get()`` is its result, ``add(v)``, ``clear()``."""

    kind = "aggregating"

    def __init__(self, backend: KeyedStateBackend, descriptor: StateDescriptor) -> None:
        super().__init__(backend, descriptor)
        self.fn = descriptor.agg_function  # type: ignore[attr-defined]

    def get(self) -> Any:
        acc = self._get()
        return None if acc is _MISSING else self.fn.get_result(acc)

    def add(self, value: Any) -> None:
        acc = self._get()
        if acc is _MISSING:
            acc = self.fn.create_accumulator()
        self._put(self.fn.add(value, acc))


def merge_namespaces(backend: KeyedStateBackend, descriptor: StateDescriptor, target: Any, sources: list[Any]) -> None:
    """Flink's ``InternalMergingState.mergeNamespaces`` for ``backend.get_state(descriptor)``: the entries of
    the keys ``sources`` are removed and merged in order, then merged into ``target``'s entry (lists
    concatenated, reducing state reduced, aggregating state's accumulators merged). What a trigger's
    ``ctx.merge_partitioned_state(descriptor)`` does when session windows merge (``sources``: the merged
    windows, ``target``: the merged one). Value and map state do not merge (as in Flink), nor (here) state with a
    TTL: :class:`JobConfigError`."""
    state = backend.get_state(descriptor)
    if state.kind not in ("list", "reducing", "aggregating"):
        raise JobConfigError(
            f"state {state.name!r} is {state.kind} state, which cannot be merged",
            hint="merge_partitioned_state() takes list, reducing or aggregating state descriptors (as in Flink)",
        )
    if state.ttl:
        raise JobConfigError(
            f"state {state.name!r} has a time-to-live, and merge_partitioned_state() does not merge such state",
            hint="declare the trigger's state without enable_time_to_live()",
        )
    table = state.table

    def merge(a: Any, b: Any) -> Any:
        if state.kind == "list":
            return [*a, *b]
        if state.kind == "reducing":
            return state.fn(a, b)  # type: ignore[attr-defined]
        return state.fn.merge(a, b)  # type: ignore[attr-defined]

    merged = _MISSING
    for k in sources:
        v = table.pop(k, _MISSING)
        if v is not _MISSING:
            merged = v if merged is _MISSING else merge(merged, v)
    if merged is not _MISSING:
        current = table.get(target, _MISSING)
        table[target] = merged if current is _MISSING else merge(current, merged)


_STATE_CLASSES: dict[str, type[State]] = {
    "value": ValueState,
    "list": ListState,
    "map": MapState,
    "reducing": ReducingState,
    "aggregating": AggregatingState,
}

__all__ = [
    "AggregatingState",
    "AggregatingStateDescriptor",
    "EmbeddedRocksDBStateBackend",
    "HashMapStateBackend",
    "KeyedStateBackend",
    "ListState",
    "ListStateDescriptor",
    "MapState",
    "MapStateDescriptor",
    "ReducingState",
    "ReducingStateDescriptor",
    "State",
    "StateDescriptor",
    "StateNamespace",
    "StateTtlConfig",
    "ValueState",
    "ValueStateDescriptor",
    "merge_namespaces",
]
