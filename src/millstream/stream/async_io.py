"""Async I/O, PyFlink's API: ``AsyncDataStream.ordered_wait(ds, fn, timeout, capacity)`` /
``unordered_wait(...)`` with an :class:`AsyncFunction` (``async def async_invoke(value) -> list``);
semantics in :mod:`.operators.async_io`."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .errors import JobConfigError
from .functions import Function
from .time import to_millis

if TYPE_CHECKING:
    from .datastream import DataStream

IN = TypeVar("IN")
OUT = TypeVar("OUT")


class AsyncFunction(Function, Generic[IN, OUT]):
    """``async def async_invoke(value) -> list`` of results for ``value``; ``timeout(value)`` gives the
    results when it took longer than the timeout (default: raise ``TimeoutError``, failing the job)."""

    async def async_invoke(self, value: IN) -> list[OUT]:
        raise NotImplementedError

    def timeout(self, value: IN) -> list[OUT]:
        raise TimeoutError(f"Async function call has timed out for input: {value}")


class AsyncDataStream:
    """Applies an :class:`AsyncFunction` to a stream (PyFlink's ``AsyncDataStream``)."""

    @staticmethod
    def _wait(ds: DataStream, fn: Any, timeout: Any, capacity: int, output_type: Any, ordered: bool) -> DataStream:
        if not inspect.iscoroutinefunction(getattr(fn, "async_invoke", None)):
            raise JobConfigError(
                "AsyncDataStream needs an AsyncFunction whose async_invoke is a coroutine function",
                hint="define `async def async_invoke(self, value): return [result]`",
            )
        ms = to_millis(timeout, "async timeout")
        if ms <= 0:
            raise JobConfigError(f"the async timeout must be positive, got {ms} ms")
        if type(capacity) is not int or capacity <= 0:
            raise JobConfigError(f"the async capacity must be a positive int, got {capacity!r}")
        params = {"user_fn": fn, "timeout_ms": ms, "capacity": capacity, "ordered": ordered}
        out = ds._add("async_wait", "Async Wait", params)
        if output_type is not None:
            out.transformation.params["output_type"] = output_type
        return out

    @staticmethod
    def ordered_wait(
        data_stream: DataStream, async_function: Any, timeout: Any, capacity: int = 100, output_type: Any = None
    ) -> DataStream:
        """Results in the order of the inputs."""
        return AsyncDataStream._wait(data_stream, async_function, timeout, capacity, output_type, True)

    @staticmethod
    def unordered_wait(
        data_stream: DataStream, async_function: Any, timeout: Any, capacity: int = 100, output_type: Any = None
    ) -> DataStream:
        """Results as they finish (never across a watermark)."""
        return AsyncDataStream._wait(data_stream, async_function, timeout, capacity, output_type, False)


__all__ = ["AsyncDataStream", "AsyncFunction"]
