from pyflink.common import Time, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import AggregateFunction
from pyflink.datastream.window import EventTimeSessionWindows


class Ts(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[1]


class Collect(AggregateFunction):
    def create_accumulator(self):
        return []

    def add(self, value, accumulator):
        return accumulator + [value[1]]

    def get_result(self, accumulator):
        return "%d clicks from %d to %d" % (len(accumulator), min(accumulator), max(accumulator))

    def merge(self, a, b):
        return a + b


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    clicks = [("u", 1000), ("u", 2000), ("u", 2500), ("u", 9000), ("u", 9500), ("u", 20000)]
    env.from_collection(clicks, type_info=Types.TUPLE([Types.STRING(), Types.LONG()])) \
        .assign_timestamps_and_watermarks(WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(Ts())) \
        .key_by(lambda x: x[0]) \
        .window(EventTimeSessionWindows.with_gap(Time.seconds(3))) \
        .aggregate(Collect(), output_type=Types.STRING()) \
        .print()
    env.execute("session windows")
