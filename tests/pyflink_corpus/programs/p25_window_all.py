from pyflink.common import Time, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import ProcessAllWindowFunction
from pyflink.datastream.window import TumblingEventTimeWindows


class Ts(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[1]


class TopPage(ProcessAllWindowFunction):
    def process(self, context: 'ProcessAllWindowFunction.Context', elements):
        counts = {}
        for page, _ in elements:
            counts[page] = counts.get(page, 0) + 1
        best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        yield context.window().start, best[0], best[1]


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    views = [("home", 100), ("cart", 200), ("home", 900), ("cart", 1100), ("cart", 1200), ("home", 2500)]
    env.from_collection(views, type_info=Types.TUPLE([Types.STRING(), Types.LONG()])) \
        .assign_timestamps_and_watermarks(WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(Ts())) \
        .window_all(TumblingEventTimeWindows.of(Time.seconds(1))) \
        .process(TopPage(), output_type=Types.TUPLE([Types.LONG(), Types.STRING(), Types.INT()])) \
        .print()
    env.execute("window all")
