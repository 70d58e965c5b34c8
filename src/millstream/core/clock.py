"""Clocks: wall-clock milliseconds for record timestamps and processing time.

Code that needs "now" takes a :class:`Clock` so tests can substitute a :class:`ManualClock` and control
processing time (processing-time windows, idleness, TTL, retention) exactly.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A source of the current time in epoch milliseconds."""

    def now_ms(self) -> int: ...


class SystemClock:
    """The machine's wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told to: ``advance(ms)`` or ``set(ms)``. Thread-safe; never goes back."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = int(start_ms)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> int:
        if ms < 0:
            raise ValueError(f"a clock cannot go back ({ms} ms)")
        with self._lock:
            self._now += int(ms)
            return self._now

    def set(self, ms: int) -> None:
        with self._lock:
            if ms < self._now:
                raise ValueError(f"a clock cannot go back (from {self._now} to {ms})")
            self._now = int(ms)

    def __repr__(self) -> str:
        return f"ManualClock({self._now})"

    def __reduce__(self) -> tuple[type[ManualClock], tuple[int]]:
        """A copy at the same time (each worker process of a parallel job has its own copy)."""
        return (ManualClock, (self._now,))


SYSTEM_CLOCK = SystemClock()

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]
