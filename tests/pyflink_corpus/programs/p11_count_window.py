from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment

if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    data = [("a", i) for i in range(1, 8)] + [("b", i) for i in range(10, 14)]
    env.from_collection(data, type_info=Types.TUPLE([Types.STRING(), Types.INT()])) \
        .key_by(lambda x: x[0]) \
        .count_window(3) \
        .reduce(lambda a, b: (a[0], a[1] + b[1])) \
        .print()
    env.execute("count windows")
