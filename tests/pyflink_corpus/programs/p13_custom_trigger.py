from pyflink.common import Time, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.window import Trigger, TriggerResult, TimeWindow, TumblingEventTimeWindows


class Ts(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[1]


class FireOnBigOrAtEnd(Trigger[tuple, TimeWindow]):
    """Fires early when an element is >= 100, and at the end of the window."""

    def on_element(self, element, timestamp, window: TimeWindow, ctx: 'Trigger.TriggerContext'):
        ctx.register_event_time_timer(window.max_timestamp())
        if element[2] >= 100:
            return TriggerResult.FIRE
        return TriggerResult.CONTINUE

    def on_processing_time(self, time, window, ctx):
        return TriggerResult.CONTINUE

    def on_event_time(self, time, window, ctx):
        return TriggerResult.FIRE if time == window.max_timestamp() else TriggerResult.CONTINUE

    def on_merge(self, window, ctx):
        pass

    def clear(self, window, ctx):
        ctx.delete_event_time_timer(window.max_timestamp())


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    data = [("k", 100, 5), ("k", 900, 120), ("k", 1500, 7), ("k", 2100, 8), ("k", 2500, 300), ("k", 4100, 1)]
    env.from_collection(data, type_info=Types.TUPLE([Types.STRING(), Types.LONG(), Types.INT()])) \
        .assign_timestamps_and_watermarks(WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(Ts())) \
        .key_by(lambda x: x[0]) \
        .window(TumblingEventTimeWindows.of(Time.seconds(2))) \
        .trigger(FireOnBigOrAtEnd()) \
        .reduce(lambda a, b: (a[0], max(a[1], b[1]), a[2] + b[2])) \
        .print()
    env.execute("custom trigger")
