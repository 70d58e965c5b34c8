"""Broadcast state (Flink's broadcast state pattern): a stream connected with a broadcast stream.

Every subtask receives every element of the broadcast side (``BROADCAST`` partitioning) and keeps its own
copy of the broadcast state, a dict per ``MapStateDescriptor`` name, which only
``process_broadcast_element`` may change (``ctx.get_broadcast_state(d)``: read-write there, read-only in
``process_element`` and ``on_timer``), so all copies stay equal, as in Flink. The broadcast state is part of
the operator's snapshot; on restore at another parallelism every subtask takes the (equal) first copy.
The keyed side works as in :class:`~.keyed.KeyedProcessOperator` (keyed state, timers).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import JobConfigError
from .keyed import KeyedProcessOperator


class ReadOnlyBroadcastState:
    """A broadcast state as ``process_element`` sees it: ``get``, ``contains``, ``items``, ``keys``,
    ``values``, ``is_empty``, iteration."""

    def __init__(self, data: dict[Any, Any], name: str) -> None:
        self._data = data
        self._name = name

    def get(self, key: Any) -> Any:
        return self._data.get(key)

    def contains(self, key: Any) -> bool:
        return key in self._data

    def items(self) -> Iterator[tuple[Any, Any]]:
        return iter(list(self._data.items()))

    def keys(self) -> Iterator[Any]:
        return iter(list(self._data))

    def values(self) -> Iterator[Any]:
        return iter(list(self._data.values()))

    def is_empty(self) -> bool:
        return not self._data

    def __iter__(self) -> Iterator[Any]:
        return self.keys()

    def _read_only(self, what: str) -> JobConfigError:
        return JobConfigError(
            f"broadcast state {self._name!r} is read-only here ({what})",
            hint="change broadcast state only in process_broadcast_element, so every subtask's copy stays equal",
        )

    def put(self, key: Any, value: Any) -> None:
        raise self._read_only("put")

    def put_all(self, dict_value: dict[Any, Any]) -> None:
        raise self._read_only("put_all")

    def remove(self, key: Any) -> None:
        raise self._read_only("remove")

    def clear(self) -> None:
        raise self._read_only("clear")


class BroadcastState(ReadOnlyBroadcastState):
    """A broadcast state as ``process_broadcast_element`` sees it: also ``put``, ``put_all``, ``remove``,
    ``clear``."""

    def put(self, key: Any, value: Any) -> None:
        self._data[key] = value

    def put_all(self, dict_value: dict[Any, Any]) -> None:
        self._data.update(dict_value)

    def remove(self, key: Any) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()


class _BroadcastContext:
    """The context of a broadcast process function: the keyed context plus ``get_broadcast_state``."""

    def __init__(self, op: BroadcastProcessOperator, inner: Any, writable: bool) -> None:
        self._op = op
        self._inner = inner
        self._writable = writable

    def get_broadcast_state(self, state_descriptor: Any) -> ReadOnlyBroadcastState:
        name = str(getattr(state_descriptor, "name", state_descriptor))
        if name not in self._op.descriptors:
            raise JobConfigError(
                f"no broadcast state {name!r} on this stream",
                hint="pass the MapStateDescriptor to broadcast(...) when making the broadcast stream",
            )
        data = self._op.broadcast_states.setdefault(name, {})
        return BroadcastState(data, name) if self._writable else ReadOnlyBroadcastState(data, name)

    def get_current_key(self) -> Any:
        if not self._op.keyed or self._writable:
            raise JobConfigError("get_current_key() is only available on the keyed side of a keyed broadcast")
        return self._inner.get_current_key()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class BroadcastProcessOperator(KeyedProcessOperator):
    """Input 0: the (keyed or not) stream, ``process_element``; input 1: the broadcast stream,
    ``process_broadcast_element``; ``on_timer`` on the keyed side."""

    def __init__(
        self, name: str, uid: str | None, user_fn: Any, key_fn: Callable[[Any], Any] | None, descriptors: list[Any]
    ) -> None:
        self.descriptors = {d.name for d in descriptors}
        self.broadcast_states: dict[str, dict[Any, Any]] = {}
        element, broadcast = user_fn.process_element, user_fn.process_broadcast_element
        on_timer = getattr(user_fn, "on_timer", None)
        key_fns = None if key_fn is None else [key_fn, _no_key]
        super().__init__(
            name,
            uid,
            [lambda v, c: element(v, self._ro), lambda v, c: broadcast(v, self._rw)],
            key_fns,
            (lambda ts, c: on_timer(ts, self._ro)) if on_timer is not None else None,
            user_fn,
        )
        self._ro = _BroadcastContext(self, self.pctx, writable=False)
        self._rw = _BroadcastContext(self, self.pctx, writable=True)

    def snapshot(self) -> Any:
        state = super().snapshot()
        state["broadcast"] = copy.deepcopy(self.broadcast_states)
        return state

    @staticmethod
    def merge_snapshots(states: list[Any], owns: Any) -> Any:
        merged = KeyedProcessOperator.merge_snapshots(states, owns)
        merged["broadcast"] = copy.deepcopy(states[0].get("broadcast", {})) if states else {}
        return merged

    def restore(self, state: Any) -> None:
        super().restore(state)
        self.broadcast_states = copy.deepcopy(state.get("broadcast", {}))


def _no_key(value: Any) -> Any:
    return None


__all__ = ["BroadcastProcessOperator", "BroadcastState", "ReadOnlyBroadcastState"]
