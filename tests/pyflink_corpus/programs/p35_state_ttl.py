from pyflink.common import Time, Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor


class LastSeen(KeyedProcessFunction):

    def open(self, runtime_context: RuntimeContext):
        ttl = StateTtlConfig.new_builder(Time.hours(1)) \
            .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite) \
            .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired) \
            .build()
        descriptor = ValueStateDescriptor("last", Types.STRING())
        descriptor.enable_time_to_live(ttl)
        self.last = runtime_context.get_state(descriptor)

    def process_element(self, value, ctx):
        previous = self.last.value()
        self.last.update(value[1])
        yield "%s: %s -> %s" % (value[0], previous, value[1])


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.from_collection([("u1", "login"), ("u2", "login"), ("u1", "view"), ("u1", "logout")]) \
        .key_by(lambda x: x[0]) \
        .process(LastSeen(), output_type=Types.STRING()) \
        .print()
    env.execute("state ttl")
