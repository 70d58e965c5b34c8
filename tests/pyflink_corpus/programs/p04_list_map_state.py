from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment, RuntimeContext
from pyflink.datastream.functions import KeyedProcessFunction
from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor


class Dedup(KeyedProcessFunction):

    def open(self, runtime_context: RuntimeContext):
        self.seen = runtime_context.get_map_state(MapStateDescriptor("seen", Types.STRING(), Types.INT()))
        self.history = runtime_context.get_list_state(ListStateDescriptor("history", Types.STRING()))

    def process_element(self, value, ctx):
        user, item = value
        if self.seen.contains(item):
            self.seen.put(item, self.seen.get(item) + 1)
            return
        self.seen.put(item, 1)
        self.history.add(item)
        yield user + ":" + ",".join(self.history.get())


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    clicks = [("u1", "a"), ("u2", "x"), ("u1", "b"), ("u1", "a"), ("u2", "y"), ("u1", "c"), ("u2", "x")]
    env.from_collection(clicks) \
        .key_by(lambda c: c[0]) \
        .process(Dedup(), output_type=Types.STRING()) \
        .print()
    env.execute("list and map state")
