from pyflink.common import Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedBroadcastProcessFunction, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor

THRESHOLDS = MapStateDescriptor("thresholds", Types.STRING(), Types.INT())


class Ts(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[1]


class Alerts(KeyedBroadcastProcessFunction):

    def open(self, runtime_context: RuntimeContext):
        self.readings = runtime_context.get_list_state(ListStateDescriptor("readings", Types.INT()))

    def process_element(self, value, ctx: 'KeyedBroadcastProcessFunction.ReadOnlyContext'):
        self.readings.add(value[2])
        # one timer per sensor, at distinct times (Flink leaves the order of equal-time timers open)
        ctx.timer_service().register_event_time_timer(1_000_000 + int(ctx.get_current_key()[1:]))

    def process_broadcast_element(self, value, ctx: 'KeyedBroadcastProcessFunction.Context'):
        ctx.get_broadcast_state(THRESHOLDS).put(value[0], value[2])

    def on_timer(self, timestamp, ctx: 'KeyedBroadcastProcessFunction.OnTimerContext'):
        limit = ctx.get_broadcast_state(THRESHOLDS).get(ctx.get_current_key())
        over = [r for r in self.readings.get() if limit is not None and r > limit]
        yield "%s limit=%s over=%s" % (ctx.get_current_key(), limit, over)


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    wm = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(Ts())
    readings = env.from_collection([("t1", 10, 20), ("t2", 20, 55), ("t1", 30, 31), ("t2", 40, 49), ("t3", 50, 1)]) \
        .assign_timestamps_and_watermarks(wm)
    rules = env.from_collection([("t1", 5, 25), ("t2", 6, 50)]) \
        .assign_timestamps_and_watermarks(wm) \
        .broadcast(THRESHOLDS)
    readings.key_by(lambda r: r[0]).connect(rules).process(Alerts(), output_type=Types.STRING()).print()
    env.execute("broadcast state")
