from pyflink.common import Time, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.window import TumblingEventTimeWindows


# corpus: order not defined by Flink
# (the windows of 'buy' and 'view' end at the same time; which source's records reach the window operator first
# decides the order of Flink's timer queue, so Flink prints the two windows of [2000, 4000) in either order)


class Ts(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[1]


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    t = Types.TUPLE([Types.STRING(), Types.LONG(), Types.INT()])
    wm = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(Ts())
    web = env.from_collection([("buy", 100, 1), ("view", 300, 1), ("buy", 2100, 1)], type_info=t) \
        .assign_timestamps_and_watermarks(wm)
    app = env.from_collection([("buy", 200, 1), ("buy", 2500, 1), ("view", 2600, 1)], type_info=t) \
        .assign_timestamps_and_watermarks(wm)
    web.union(app) \
        .key_by(lambda x: x[0]) \
        .window(TumblingEventTimeWindows.of(Time.seconds(2))) \
        .reduce(lambda a, b: (a[0], max(a[1], b[1]), a[2] + b[2])) \
        .map(lambda x: "%s %d" % (x[0], x[2]), output_type=Types.STRING()) \
        .print()
    env.execute("union")
