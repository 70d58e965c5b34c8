from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import MapFunction, FilterFunction


class Square(MapFunction):
    def map(self, value):
        return value, value * value


class Even(FilterFunction):
    def filter(self, value):
        return value[1] % 2 == 0


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.from_collection(list(range(10))).map(Square()).filter(Even()).print()
    env.execute("map filter")
