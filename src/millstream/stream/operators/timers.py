"""Timer service: event-time and processing-time timers per (key, namespace), deduplicated, fired in
timestamp order (ties in registration order), deletable."""

from __future__ import annotations

import heapq
import itertools
from typing import Any


class TimerQueue:
    """A priority queue of ``(timestamp, key, namespace)`` timers with set semantics and lazy deletion."""

    __slots__ = ("_heap", "_live", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Any, Any]] = []
        self._live: set[tuple[int, Any, Any]] = set()
        self._seq = itertools.count()

    def register(self, ts: int, key: Any, namespace: Any = None) -> None:
        t = (ts, key, namespace)
        if t not in self._live:
            self._live.add(t)
            heapq.heappush(self._heap, (ts, next(self._seq), key, namespace))

    def delete(self, ts: int, key: Any, namespace: Any = None) -> None:
        self._live.discard((ts, key, namespace))

    def peek(self) -> int | None:
        heap = self._heap
        while heap:
            ts, _, key, ns = heap[0]
            if (ts, key, ns) in self._live:
                return ts
            heapq.heappop(heap)
        return None

    def pop_due(self, upto: int) -> tuple[int, Any, Any] | None:
        """Remove and return the earliest live timer with ``ts <= upto``, or ``None``."""
        heap = self._heap
        while heap and heap[0][0] <= upto:
            ts, _, key, ns = heapq.heappop(heap)
            t = (ts, key, ns)
            if t in self._live:
                self._live.discard(t)
                return t
        return None

    def __len__(self) -> int:
        return len(self._live)

    def snapshot(self) -> list[tuple[int, Any, Any]]:
        """The live timers in firing order (timestamp, then registration), so that ties fire in the same
        order after a restore as without one (a set's order would depend on the process's string hashes)."""
        live, seen, out = self._live, set(), []
        for ts, _, key, ns in sorted(self._heap):  # (ts, seq) are unique: keys are never compared
            t = (ts, key, ns)
            if t in live and t not in seen:
                seen.add(t)
                out.append(t)
        return out

    def restore(self, timers: list[tuple[int, Any, Any]]) -> None:
        self.__init__()  # type: ignore[misc]
        for ts, key, ns in timers:
            self.register(ts, key, ns)


__all__ = ["TimerQueue"]
