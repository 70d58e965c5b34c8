"""The asyncio event loop behind async I/O operators (:mod:`millstream.stream.operators.async_io`): one loop
per process, in a daemon thread, started on first use."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any

from ..stream.operators.async_io import register_loop_factory


class AsyncLoop:
    """An asyncio loop running in a daemon thread; ``submit(coro)`` returns a ``concurrent.futures.Future``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="millstream-async-io", daemon=True)
        self.thread.start()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)


_shared: AsyncLoop | None = None
_lock = threading.Lock()


def shared_loop() -> AsyncLoop:
    """The process's async I/O loop (started on first use)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = AsyncLoop()
        return _shared


register_loop_factory(shared_loop)

__all__ = ["AsyncLoop", "shared_loop"]
