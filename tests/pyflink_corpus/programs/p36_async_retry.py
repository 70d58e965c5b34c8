import asyncio
from typing import List

from pyflink.common import Time, Types
from pyflink.datastream import AsyncDataStream, StreamExecutionEnvironment
from pyflink.datastream.async_retry_strategies import ExponentialBackoffDelayRetryStrategy
from pyflink.datastream.functions import AsyncFunction, AsyncRetryStrategy


class FlakyLookup(AsyncFunction):
    """Fails twice for every multiple of 3 and answers nothing once for every even number."""

    def open(self, runtime_context):
        self.attempts = {}

    async def async_invoke(self, value: int) -> List[str]:
        n = self.attempts.get(value, 0) + 1
        self.attempts[value] = n
        await asyncio.sleep(0.001)
        if value % 3 == 0 and n <= 2:
            raise ConnectionError("lookup of %d failed" % value)
        if value % 2 == 0 and n == 1:
            return []
        return ["%d after %d attempt(s)" % (value, n)]


def is_empty(result: List[str]) -> bool:
    return len(result) == 0


def is_connection_error(error: Exception) -> bool:
    return isinstance(error, ConnectionError)


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    ds = env.from_collection(list(range(10)), type_info=Types.INT())
    fixed = AsyncRetryStrategy.fixed_delay(3, 5, is_empty, is_connection_error)
    AsyncDataStream.ordered_wait_with_retry(
        ds, FlakyLookup(), Time.seconds(20), fixed, 4, Types.STRING()).print("fixed")
    backoff = ExponentialBackoffDelayRetryStrategy(3, 2, 20, 2.0, is_empty, is_connection_error)
    AsyncDataStream.unordered_wait_with_retry(
        ds.filter(lambda v: v % 2 == 0), FlakyLookup(), Time.seconds(20), backoff, 1,
        Types.STRING()).map(lambda s: "even " + s, Types.STRING()).print("backoff")
    env.execute("async retry")
