from pyflink.common import Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.window import DynamicEventTimeSessionWindows, SessionWindowTimeGapExtractor


class Ts(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[2]


class GapFromElement(SessionWindowTimeGapExtractor):
    def extract(self, element):
        return element[1]


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    data = [("k", 1000, 0), ("k", 1000, 800), ("k", 5000, 3000), ("k", 1000, 7500), ("k", 1000, 20000)]
    env.from_collection(data, type_info=Types.TUPLE([Types.STRING(), Types.LONG(), Types.LONG()])) \
        .assign_timestamps_and_watermarks(WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(Ts())) \
        .key_by(lambda x: x[0]) \
        .window(DynamicEventTimeSessionWindows.with_dynamic_gap(GapFromElement())) \
        .reduce(lambda a, b: (a[0], a[1] + b[1], max(a[2], b[2]))) \
        .print()
    env.execute("dynamic sessions")
