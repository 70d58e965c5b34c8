from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment, RuntimeContext
from pyflink.datastream.functions import KeyedProcessFunction
from pyflink.datastream.state import ValueStateDescriptor


class CountPerKey(KeyedProcessFunction):

    def __init__(self):
        self.count = None

    def open(self, runtime_context: RuntimeContext):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, value, ctx: 'KeyedProcessFunction.Context'):
        current = self.count.value() or 0
        current += 1
        self.count.update(current)
        yield ctx.get_current_key(), current, value[1]


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    data = [("alice", 3), ("bob", 5), ("alice", 7), ("carol", 1), ("bob", 2), ("alice", 9)]
    ds = env.from_collection(data, type_info=Types.TUPLE([Types.STRING(), Types.INT()]))
    ds.key_by(lambda x: x[0]) \
        .process(CountPerKey(), output_type=Types.TUPLE([Types.STRING(), Types.LONG(), Types.INT()])) \
        .print()
    env.execute("value state")
