from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment, RuntimeContext
from pyflink.datastream.functions import KeyedProcessFunction, AggregateFunction
from pyflink.datastream.state import ReducingStateDescriptor, AggregatingStateDescriptor


class AvgAgg(AggregateFunction):
    def create_accumulator(self):
        return 0, 0

    def add(self, value, accumulator):
        return accumulator[0] + value, accumulator[1] + 1

    def get_result(self, accumulator):
        return accumulator[0] / accumulator[1]

    def merge(self, acc_a, acc_b):
        return acc_a[0] + acc_b[0], acc_a[1] + acc_b[1]


class Stats(KeyedProcessFunction):

    def open(self, runtime_context: RuntimeContext):
        self.total = runtime_context.get_reducing_state(
            ReducingStateDescriptor("total", lambda a, b: a + b, Types.LONG()))
        self.avg = runtime_context.get_aggregating_state(
            AggregatingStateDescriptor("avg", AvgAgg(), Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value, ctx):
        self.total.add(value[1])
        self.avg.add(value[1])
        yield value[0], self.total.get(), self.avg.get()


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    ds = env.from_collection([("s1", 10), ("s2", 4), ("s1", 20), ("s1", 3), ("s2", 8)],
                             type_info=Types.TUPLE([Types.STRING(), Types.LONG()]))
    ds.key_by(lambda x: x[0]).process(
        Stats(), output_type=Types.TUPLE([Types.STRING(), Types.LONG(), Types.DOUBLE()])).print()
    env.execute("reducing and aggregating state")
