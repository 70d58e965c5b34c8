from pyflink.common import Time, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.window import TumblingEventTimeWindows, ContinuousEventTimeTrigger


class Ts(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[1]


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    data = [("c", 0, 1), ("c", 1100, 2), ("c", 2300, 3), ("c", 4200, 4), ("c", 9999, 5)]
    env.from_collection(data, type_info=Types.TUPLE([Types.STRING(), Types.LONG(), Types.INT()])) \
        .assign_timestamps_and_watermarks(WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(Ts())) \
        .key_by(lambda x: x[0]) \
        .window(TumblingEventTimeWindows.of(Time.seconds(10))) \
        .trigger(ContinuousEventTimeTrigger.of(Time.seconds(2))) \
        .reduce(lambda a, b: (a[0], max(a[1], b[1]), a[2] + b[2])) \
        .print()
    env.execute("continuous event time trigger")
