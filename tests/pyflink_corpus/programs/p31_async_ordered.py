import asyncio
from typing import List

from pyflink.common import Time, Types
from pyflink.datastream import AsyncDataStream, StreamExecutionEnvironment
from pyflink.datastream.functions import AsyncFunction


class Enrich(AsyncFunction):

    async def async_invoke(self, value: int) -> List[str]:
        await asyncio.sleep(0.01 * (5 - value % 5))
        return ["%d:%s" % (value, "even" if value % 2 == 0 else "odd")]


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    ds = env.from_collection(list(range(12)), type_info=Types.INT())
    AsyncDataStream.ordered_wait(ds, Enrich(), Time.seconds(10), 4, Types.STRING()).print()
    env.execute("async ordered")
