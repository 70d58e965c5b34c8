from pyflink.common import Duration, Time, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import OutputTag, StreamExecutionEnvironment
from pyflink.datastream.window import TumblingEventTimeWindows


ROW_TYPE = Types.TUPLE([Types.STRING(), Types.LONG(), Types.INT()])
LATE = OutputTag("late", Types.TUPLE([Types.STRING(), Types.LONG(), Types.INT()]))


class Ts(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[1]


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    data = [("s", 1000, 1), ("s", 4000, 2), ("s", 6500, 3), ("s", 3000, 4), ("s", 12000, 5), ("s", 2000, 6),
            ("s", 7000, 7)]
    windowed = env.from_collection(data, type_info=ROW_TYPE) \
        .assign_timestamps_and_watermarks(
            WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(1)).with_timestamp_assigner(Ts())) \
        .key_by(lambda x: x[0]) \
        .window(TumblingEventTimeWindows.of(Time.seconds(5))) \
        .allowed_lateness(2000) \
        .side_output_late_data(LATE) \
        .reduce(lambda a, b: (a[0], max(a[1], b[1]), a[2] + b[2]))
    windowed.print("sum")
    windowed.get_side_output(LATE).print("late")
    env.execute("late data")
