"""Async I/O (Flink's ``AsyncWaitOperator``): ``AsyncFunction.async_invoke(value)`` coroutines run
concurrently, at most ``capacity`` at a time, on an asyncio event loop the runtime provides
(:func:`register_loop_factory`; the stream layer starts no threads).

Protocol, per input element:

1. Watermarks are queued in line with the elements: nothing passes a watermark it came after.
2. When ``capacity`` elements are queued (in flight or finished but not yet emitted), wait: for the oldest
   (ordered) or any element before the first queued watermark (unordered) to finish, and emit what may go.
3. Submit ``async_invoke(value)`` with the timeout; on timeout ``timeout(value)`` gives the results (by
   default it raises ``TimeoutError``, failing the job); an exception fails the job. With a retry strategy
   (PyFlink's semantics): after attempt ``n`` (from 1), if the result list matches the strategy's result
   predicate or the exception its exception predicate, and ``can_retry(n)``, wait
   ``get_backoff_time_millis(n)`` and call ``async_invoke(value)`` again; otherwise the result (or the
   exception) is final. The timeout bounds all attempts of an input together.
4. Emit finished results: ``ordered`` in input order, ``unordered`` as they finish but never across a
   watermark. Every result carries its input's timestamp. Between batches the runtime polls
   (``next_processing_time``) so results of an idle input still go out.
5. A checkpoint stores the inputs of every queued element and the queued watermarks (Flink: in-flight
   requests are part of the checkpoint); a restore submits them again, so each result is emitted exactly
   once with the output committed by the checkpoints.
6. At the end of the input every queued element is awaited.
"""

from __future__ import annotations

import concurrent.futures
from collections import deque
from collections.abc import Callable
from typing import Any

from ..time import MAX_WATERMARK
from .base import Operator
from .basic import annotate

_loop_factory: Callable[[], Any] | None = None


def register_loop_factory(factory: Callable[[], Any] | None) -> None:
    """Install what gives async operators their event loop: ``factory()`` returns an object with
    ``submit(coroutine) -> concurrent.futures.Future`` (the runtime registers one)."""
    global _loop_factory
    _loop_factory = factory


_WM = object()  # queue entry marker: ("wm", None, _WM, watermark)


class AsyncWaitOperator(Operator):
    """See the module docstring."""

    def __init__(
        self, name: str, uid: str | None, fn: Any, timeout_ms: int, capacity: int, ordered: bool, retry: Any = None
    ) -> None:
        super().__init__(name, uid)
        self.user_fn = fn
        self.retry = retry  # an AsyncRetryStrategy, or None
        self.timeout_s = timeout_ms / 1000
        self.capacity = capacity
        self.ordered = ordered
        # entries: [value, ts, future, wm_before] or [None, None, _WM, watermark]
        self.queue: deque[list[Any]] = deque()
        self.n_pending = 0  # element entries in the queue
        self.loop: Any = None
        self.out_wm = self.wm
        self._restored: list[list[Any]] = []
        self._ov: list[Any] = []
        self._ot: list[Any] = []
        self._ow: list[int] = []

    def open(self) -> None:
        super().open()
        if _loop_factory is None:
            raise RuntimeError("no event loop for async I/O is registered (import millstream.runtime)")
        self.loop = _loop_factory()
        self._resubmit()

    def _resubmit(self) -> None:
        """Step 5, on restore: queue the checkpointed elements again (in order) and submit their requests."""
        restored, self._restored = self._restored, []
        for value, ts, marker, wm in restored:
            if marker is _WM or marker == "wm":
                self.queue.append([None, None, _WM, wm])
            else:
                self.queue.append([value, ts, self._submit(value), wm])
                self.n_pending += 1

    async def _call(self, value: Any) -> Any:
        import asyncio

        fn = self.user_fn
        try:
            if self.retry is None:
                return await asyncio.wait_for(fn.async_invoke(value), self.timeout_s)
            return await asyncio.wait_for(self._attempts(value), self.timeout_s)
        except TimeoutError:
            return fn.timeout(value)

    async def _attempts(self, value: Any) -> Any:
        """Step 3 with a retry strategy: attempts until one is final."""
        import asyncio

        strategy = self.retry
        predicate = strategy.get_retry_predicate()
        on_result = predicate.result_predicate() or (lambda _r: False)
        on_error = predicate.exception_predicate() or (lambda _e: False)
        attempt = 1
        while True:
            error: Exception | None = None
            result: Any = None
            try:
                result = await self.user_fn.async_invoke(value)
            except Exception as exc:
                error = exc
            again = on_error(error) if error is not None else result is not None and on_result(result)
            if not (again and strategy.can_retry(attempt)):
                if error is not None:
                    raise error
                return result
            await asyncio.sleep(max(strategy.get_backoff_time_millis(attempt), 0) / 1000)
            attempt += 1

    def _submit(self, value: Any) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = self.loop.submit(self._call(value))
        return fut

    def _pending(self) -> int:
        return self.n_pending

    def _emit_entry(self, e: list[Any]) -> None:
        try:
            results = e[2].result()
        except BaseException as exc:
            annotate(exc, self, None, e[0])
            raise
        if results is None:
            return
        for r in results:
            self._ov.append(r)
            self._ot.append(e[1])
            self._ow.append(self.out_wm)

    def _take_ready(self) -> None:
        """Step 4: move what may go to the output buffers."""
        q = self.queue
        while q:
            head = q[0]
            if head[2] is _WM:
                q.popleft()
                if head[3] > self.out_wm:
                    self.out_wm = head[3]
                continue
            if self.ordered:
                if not head[2].done():
                    return
                q.popleft()
                self.n_pending -= 1
                self._emit_entry(head)
                continue
            segment = []
            for e in q:
                if e[2] is _WM:
                    break
                segment.append(e)
            done = [e for e in segment if e[2].done()]
            for e in done:
                q.remove(e)
                self.n_pending -= 1
                self._emit_entry(e)
            if len(done) < len(segment):
                return

    def _wait(self, all_of: bool) -> None:
        """Block until the head (ordered) or one element of the first segment (unordered) is done."""
        q = self.queue
        if all_of:
            concurrent.futures.wait([e[2] for e in q if e[2] is not _WM])
            return
        if self.ordered:
            for e in q:
                if e[2] is not _WM:
                    concurrent.futures.wait([e[2]])
                    return
            return
        segment: list[Any] = []
        for e in q:
            if e[2] is _WM:
                if segment:
                    break
                continue
            segment.append(e[2])
        if segment:
            concurrent.futures.wait(segment, return_when=concurrent.futures.FIRST_COMPLETED)

    def process(self, vals: list[Any], tss: list[Any], wmb: list[int], tail: int, input_index: int = 0) -> None:
        q = self.queue
        for i, v in enumerate(vals):
            w = wmb[i]
            if w > self.wm:  # step 1
                self.wm = w
                q.append([None, None, _WM, w])
            while self._pending() >= self.capacity:  # step 2
                self._take_ready()
                if self._pending() >= self.capacity:
                    self._wait(False)
            try:
                q.append([v, tss[i], self._submit(v), self.wm])  # step 3
                self.n_pending += 1
            except Exception as exc:
                annotate(exc, self, self.seen + i, v)
                raise
        self.seen += len(vals)
        if tail > self.wm:
            self.wm = tail
            q.append([None, None, _WM, tail])
        if tail >= MAX_WATERMARK:  # step 6
            self._wait(True)
        self._take_ready()
        self._flush()

    def _flush(self) -> None:
        ov, ot, ow = self._ov, self._ot, self._ow
        self._ov, self._ot, self._ow = [], [], []
        self.out.emit(ov, ot, ow, self.out_wm)

    def next_processing_time(self) -> int | None:
        return self.ctx.now() if self.queue else None

    def on_processing_time(self, now: int) -> None:
        if not self.queue:
            return
        self._take_ready()
        if self.queue and not self._ov:
            first = next((e[2] for e in self.queue if e[2] is not _WM), None)
            if first is not None:
                concurrent.futures.wait([first], timeout=0.005)
                self._take_ready()
        if self._ov or not self.queue:
            self._flush()

    def snapshot(self) -> Any:
        """Step 5: the queued inputs and watermarks, in order."""
        return {
            "queue": [[None, None, "wm", e[3]] if e[2] is _WM else [e[0], e[1], None, e[3]] for e in self.queue],
            "out_wm": self.out_wm,
        }

    def restore(self, state: Any) -> None:
        """Restore a snapshot, before or after ``open()`` (the runtime opens operators first)."""
        self.queue.clear()
        self.n_pending = 0
        self._restored = [list(e) for e in state["queue"]]
        self.out_wm = state["out_wm"]
        if self.loop is not None:
            self._resubmit()


__all__ = ["AsyncWaitOperator", "register_loop_factory"]
