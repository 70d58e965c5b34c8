import asyncio
from typing import List

from pyflink.common import Types
from pyflink.datastream import AsyncDataStream, RuntimeExecutionMode, StreamExecutionEnvironment
from pyflink.datastream.functions import AsyncFunction
from pyflink.common.time import Time


class Price(AsyncFunction):

    async def async_invoke(self, value):
        await asyncio.sleep(0.005 * (value[1] % 3))
        return [(value[0], value[1] * 10)]


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_runtime_mode(RuntimeExecutionMode.BATCH)
    env.set_parallelism(1)
    t = Types.TUPLE([Types.STRING(), Types.INT()])
    ds = env.from_collection([("a", 1), ("b", 2), ("a", 3), ("b", 4), ("c", 5)], type_info=t)
    AsyncDataStream.unordered_wait(ds, Price(), Time.seconds(10), 10, t) \
        .key_by(lambda x: x[0]) \
        .sum(1) \
        .print()
    env.execute("async unordered, batch totals")
