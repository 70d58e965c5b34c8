from pyflink.common import Duration, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import StreamExecutionEnvironment, TimeDomain
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor


class EventTs(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[1]


class SessionTimeout(KeyedProcessFunction):

    def open(self, runtime_context: RuntimeContext):
        self.last = runtime_context.get_state(ValueStateDescriptor("last", Types.LONG()))

    def process_element(self, value, ctx: 'KeyedProcessFunction.Context'):
        self.last.update(ctx.timestamp())
        ctx.timer_service().register_event_time_timer(ctx.timestamp() + 1000)

    def on_timer(self, timestamp, ctx: 'KeyedProcessFunction.OnTimerContext'):
        if self.last.value() is not None and timestamp == self.last.value() + 1000:
            domain = "event" if ctx.time_domain() == TimeDomain.EVENT_TIME else "processing"
            yield "timeout %s at %d (%s)" % (ctx.get_current_key(), timestamp, domain)


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    events = [("a", 1000), ("b", 1500), ("a", 1800), ("b", 4000), ("a", 5000), ("c", 5200)]
    ds = env.from_collection(events, type_info=Types.TUPLE([Types.STRING(), Types.LONG()]))
    ds = ds.assign_timestamps_and_watermarks(
        WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(100)).with_timestamp_assigner(EventTs()))
    ds.key_by(lambda e: e[0]).process(SessionTimeout(), output_type=Types.STRING()).print()
    env.execute("event time timers")
