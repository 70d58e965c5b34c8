from pyflink.common import Types
from pyflink.datastream import RuntimeExecutionMode, StreamExecutionEnvironment

if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_runtime_mode(RuntimeExecutionMode.BATCH)
    env.set_parallelism(1)
    text = ["to be or not to be", "that is the question", "whether tis nobler in the mind to suffer"]
    env.from_collection(text, type_info=Types.STRING()) \
        .flat_map(lambda line: [(w, 1) for w in line.split()],
                  output_type=Types.TUPLE([Types.STRING(), Types.INT()])) \
        .key_by(lambda x: x[0], key_type=Types.STRING()) \
        .reduce(lambda a, b: (a[0], a[1] + b[1])) \
        .print()
    env.execute("batch word count")
