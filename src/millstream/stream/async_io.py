"""Async I/O, PyFlink's API: ``AsyncDataStream.ordered_wait(ds, fn, timeout, capacity)`` /
``unordered_wait(...)`` with an :class:`AsyncFunction` (``async def async_invoke(value) -> list``), and
``ordered_wait_with_retry`` / ``unordered_wait_with_retry`` with an :class:`AsyncRetryStrategy`
(``AsyncRetryStrategy.fixed_delay(...)`` / ``exponential_backoff(...)``, or the classes of PyFlink's
``pyflink.datastream.async_retry_strategies``); semantics in :mod:`.operators.async_io`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
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


class AsyncRetryPredicate(Generic[OUT]):
    """When to try an input again: ``result_predicate()`` (a predicate on the result list, or ``None``) and
    ``exception_predicate()`` (a predicate on the exception ``async_invoke`` raised, or ``None``)."""

    def result_predicate(self) -> Callable[[list[OUT]], bool] | None:
        raise NotImplementedError

    def exception_predicate(self) -> Callable[[Exception], bool] | None:
        raise NotImplementedError


class AsyncRetryStrategy(Generic[OUT]):
    """How often and when to try again (PyFlink's ``AsyncRetryStrategy``): ``can_retry(current_attempts)``
    (attempts so far, from 1), ``get_backoff_time_millis(current_attempts)`` (the wait before the next attempt)
    and ``get_retry_predicate()``."""

    def can_retry(self, current_attempts: int) -> bool:
        raise NotImplementedError

    def get_backoff_time_millis(self, current_attempts: int) -> int:
        raise NotImplementedError

    def get_retry_predicate(self) -> AsyncRetryPredicate[OUT]:
        raise NotImplementedError

    @staticmethod
    def no_restart() -> AsyncRetryStrategy[Any]:
        return NO_RETRY_STRATEGY

    @staticmethod
    def fixed_delay(
        max_attempts: int,
        backoff_time_millis: int,
        result_predicate: Callable[[list[Any]], bool] | None,
        exception_predicate: Callable[[Exception], bool] | None,
    ) -> FixedDelayRetryStrategy[Any]:
        return FixedDelayRetryStrategy(max_attempts, backoff_time_millis, result_predicate, exception_predicate)

    @staticmethod
    def exponential_backoff(
        max_attempts: int,
        initial_delay: int,
        max_retry_delay: int,
        multiplier: float,
        result_predicate: Callable[[list[Any]], bool] | None,
        exception_predicate: Callable[[Exception], bool] | None,
    ) -> ExponentialBackoffDelayRetryStrategy[Any]:
        return ExponentialBackoffDelayRetryStrategy(
            max_attempts, initial_delay, max_retry_delay, multiplier, result_predicate, exception_predicate
        )


class RetryPredicate(AsyncRetryPredicate[OUT]):
    """A result predicate and an exception predicate, either ``None``."""

    def __init__(
        self,
        result_predicate: Callable[[list[OUT]], bool] | None,
        exception_predicate: Callable[[Exception], bool] | None,
    ) -> None:
        self._result_predicate = result_predicate
        self._exception_predicate = exception_predicate

    def result_predicate(self) -> Callable[[list[OUT]], bool] | None:
        return self._result_predicate

    def exception_predicate(self) -> Callable[[Exception], bool] | None:
        return self._exception_predicate


class NoRetryStrategy(AsyncRetryStrategy[OUT]):
    """Never tries again."""

    def can_retry(self, current_attempts: int) -> bool:
        return False

    def get_backoff_time_millis(self, current_attempts: int) -> int:
        return -1

    def get_retry_predicate(self) -> AsyncRetryPredicate[OUT]:
        return RetryPredicate(None, None)


def _positive(what: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise JobConfigError(f"{what} should be greater than zero, got {value!r}")


class _AttemptsRetryStrategy(AsyncRetryStrategy[OUT]):
    """What the fixed-delay and exponential strategies share: up to ``max_attempts`` retries (so, as in Flink and
    PyFlink, at most ``max_attempts + 1`` calls of ``async_invoke`` per input) while a predicate matches."""

    def __init__(
        self,
        max_attempts: int,
        result_predicate: Callable[[list[OUT]], bool] | None,
        exception_predicate: Callable[[Exception], bool] | None,
    ) -> None:
        _positive("max_attempts", max_attempts)
        self._max_attempts = max_attempts
        self._result_predicate = result_predicate
        self._exception_predicate = exception_predicate

    def can_retry(self, current_attempts: int) -> bool:
        return current_attempts <= self._max_attempts

    def get_retry_predicate(self) -> AsyncRetryPredicate[OUT]:
        return RetryPredicate(self._result_predicate, self._exception_predicate)


class FixedDelayRetryStrategy(_AttemptsRetryStrategy[OUT]):
    """Tries again after ``backoff_time_millis`` (attempts and predicates: :class:`_AttemptsRetryStrategy`)."""

    def __init__(
        self,
        max_attempts: int,
        backoff_time_millis: int,
        result_predicate: Callable[[list[OUT]], bool] | None,
        exception_predicate: Callable[[Exception], bool] | None,
    ) -> None:
        super().__init__(max_attempts, result_predicate, exception_predicate)
        _positive("backoff_time_millis", backoff_time_millis)
        self._backoff_time_millis = backoff_time_millis

    def get_backoff_time_millis(self, current_attempts: int) -> int:
        return self._backoff_time_millis


class ExponentialBackoffDelayRetryStrategy(_AttemptsRetryStrategy[OUT]):
    """Like :class:`FixedDelayRetryStrategy`, waiting ``initial_delay`` before the second attempt and then
    ``min(previous wait * multiplier, max_retry_delay)`` (truncated to an int), as PyFlink computes it (the
    previous wait is the strategy's, shared by the inputs in flight, as in PyFlink)."""

    def __init__(
        self,
        max_attempts: int,
        initial_delay: int,
        max_retry_delay: int,
        multiplier: float,
        result_predicate: Callable[[list[OUT]], bool] | None,
        exception_predicate: Callable[[Exception], bool] | None,
    ) -> None:
        super().__init__(max_attempts, result_predicate, exception_predicate)
        _positive("initial_delay", initial_delay)
        _positive("max_retry_delay", max_retry_delay)
        _positive("multiplier", multiplier)
        self._max_retry_delay = max_retry_delay
        self._multiplier = multiplier
        self._initial_delay = initial_delay
        self._last_retry_delay = initial_delay

    def get_backoff_time_millis(self, current_attempts: int) -> int:
        if current_attempts <= 1:
            self._last_retry_delay = self._initial_delay
            return self._last_retry_delay
        backoff = int(min(self._last_retry_delay * self._multiplier, self._max_retry_delay))
        self._last_retry_delay = backoff
        return backoff


NO_RETRY_STRATEGY: AsyncRetryStrategy[Any] = NoRetryStrategy()
"""PyFlink's ``async_retry_strategies.NO_RETRY_STRATEGY``: what ``ordered_wait``/``unordered_wait`` use."""


class AsyncDataStream:
    """Applies an :class:`AsyncFunction` to a stream (PyFlink's ``AsyncDataStream``)."""

    @staticmethod
    def _wait(
        ds: DataStream,
        fn: Any,
        timeout: Any,
        capacity: int,
        output_type: Any,
        ordered: bool,
        retry: AsyncRetryStrategy[Any] = NO_RETRY_STRATEGY,
    ) -> DataStream:
        if retry is None:
            raise JobConfigError("the async retry strategy must not be None", hint="pass NO_RETRY_STRATEGY for none")
        if retry is not NO_RETRY_STRATEGY and retry.get_retry_predicate() is None:
            raise JobConfigError(f"the retry predicate of the async retry strategy {type(retry).__name__} is None")
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
        params = {
            "user_fn": fn,
            "timeout_ms": ms,
            "capacity": capacity,
            "ordered": ordered,
            "retry": None if retry is NO_RETRY_STRATEGY else retry,
        }
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

    @staticmethod
    def ordered_wait_with_retry(
        data_stream: DataStream,
        async_function: Any,
        timeout: Any,
        async_retry_strategy: AsyncRetryStrategy[Any],
        capacity: int = 100,
        output_type: Any = None,
    ) -> DataStream:
        """``ordered_wait`` trying an input again as ``async_retry_strategy`` says; ``timeout`` bounds all
        attempts of an input together (then ``timeout(value)`` gives its results)."""
        return AsyncDataStream._wait(
            data_stream, async_function, timeout, capacity, output_type, True, async_retry_strategy
        )

    @staticmethod
    def unordered_wait_with_retry(
        data_stream: DataStream,
        async_function: Any,
        timeout: Any,
        async_retry_strategy: AsyncRetryStrategy[Any],
        capacity: int = 100,
        output_type: Any = None,
    ) -> DataStream:
        """``unordered_wait`` with retries (see :meth:`ordered_wait_with_retry`)."""
        return AsyncDataStream._wait(
            data_stream, async_function, timeout, capacity, output_type, False, async_retry_strategy
        )


__all__ = [
    "NO_RETRY_STRATEGY",
    "AsyncDataStream",
    "AsyncFunction",
    "AsyncRetryPredicate",
    "AsyncRetryStrategy",
    "ExponentialBackoffDelayRetryStrategy",
    "FixedDelayRetryStrategy",
    "NoRetryStrategy",
    "RetryPredicate",
]
