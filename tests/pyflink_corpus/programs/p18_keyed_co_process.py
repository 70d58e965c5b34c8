from pyflink.common import Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedCoProcessFunction, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor


class Ts(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[1]


class Enrich(KeyedCoProcessFunction):
    """Buffers orders until the end of the day and joins them with the customer's latest profile."""

    def open(self, runtime_context: RuntimeContext):
        self.orders = runtime_context.get_list_state(ListStateDescriptor("orders", Types.PICKLED_BYTE_ARRAY()))
        self.profile = runtime_context.get_state(ValueStateDescriptor("profile", Types.STRING()))

    def process_element1(self, value, ctx: 'KeyedCoProcessFunction.Context'):
        self.orders.add(value[2])
        # one timer per customer, at distinct times (Flink leaves the order of equal-time timers open)
        ctx.timer_service().register_event_time_timer(86_400_000 + int(ctx.get_current_key()[1:]))

    def process_element2(self, value, ctx: 'KeyedCoProcessFunction.Context'):
        self.profile.update(value[2])

    def on_timer(self, timestamp, ctx: 'KeyedCoProcessFunction.OnTimerContext'):
        yield ctx.get_current_key(), self.profile.value(), sorted(self.orders.get())


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    wm = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(Ts())
    orders = env.from_collection([("c1", 100, 30), ("c2", 200, 12), ("c1", 300, 5)]) \
        .assign_timestamps_and_watermarks(wm)
    profiles = env.from_collection([("c1", 50, "gold"), ("c2", 60, "silver"), ("c1", 400, "platinum")]) \
        .assign_timestamps_and_watermarks(wm)
    orders.connect(profiles).key_by(lambda o: o[0], lambda p: p[0]).process(Enrich()).print()
    env.execute("keyed co-process")
