from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import WindowFunction
from pyflink.datastream.window import GlobalWindows, CountTrigger, PurgingTrigger


class Summarise(WindowFunction):
    def apply(self, key, window, inputs):
        values = [v for _, v in inputs]
        yield "%s %s" % (key, values)


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    data = [("m", 1), ("n", 2), ("m", 3), ("m", 4), ("n", 5), ("n", 6), ("m", 7)]
    env.from_collection(data, type_info=Types.TUPLE([Types.STRING(), Types.INT()])) \
        .key_by(lambda x: x[0]) \
        .window(GlobalWindows.create()) \
        .trigger(PurgingTrigger.of(CountTrigger.of(2))) \
        .apply(Summarise(), Types.STRING()) \
        .print()
    env.execute("global windows with a purging count trigger")
