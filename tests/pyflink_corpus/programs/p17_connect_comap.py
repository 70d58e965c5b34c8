from pyflink.common import Time, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import CoMapFunction
from pyflink.datastream.window import TumblingEventTimeWindows


class Ts(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[1]


class Normalise(CoMapFunction):
    def map1(self, value):
        return value[0], value[1], value[2]

    def map2(self, value):
        return value[0], value[1], value[2] * 100


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    t = Types.TUPLE([Types.STRING(), Types.LONG(), Types.INT()])
    wm = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(Ts())
    cents = env.from_collection([("eur", 1000, 250), ("usd", 2000, 120), ("eur", 6000, 75)], type_info=t) \
        .assign_timestamps_and_watermarks(wm)
    units = env.from_collection([("eur", 1500, 3), ("usd", 7000, 1)], type_info=t) \
        .assign_timestamps_and_watermarks(wm)
    cents.connect(units).map(Normalise(), output_type=t) \
        .key_by(lambda x: x[0]) \
        .window(TumblingEventTimeWindows.of(Time.seconds(10))) \
        .reduce(lambda a, b: (a[0], max(a[1], b[1]), a[2] + b[2])) \
        .print()
    env.execute("connect and co-map")
