from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment


def word_count():
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    ds = env.from_collection(["to be or not to be", "that is the question"], type_info=Types.STRING())
    ds = ds.flat_map(lambda line: [(w, 1) for w in line.split()],
                     output_type=Types.TUPLE([Types.STRING(), Types.INT()])) \
        .key_by(lambda x: x[0], key_type=Types.STRING()) \
        .reduce(lambda a, b: (a[0], a[1] + b[1]))
    ds.print()
    env.execute("word_count")


if __name__ == '__main__':
    word_count()
