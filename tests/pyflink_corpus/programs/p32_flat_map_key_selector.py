from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import FlatMapFunction, KeySelector, ReduceFunction


class Tokenize(FlatMapFunction):
    def flat_map(self, value):
        for word in value.lower().replace(",", " ").split():
            if len(word) > 2:
                yield word, len(word)


class FirstLetter(KeySelector):
    def get_key(self, value):
        return value[0][0]


class Longest(ReduceFunction):
    def reduce(self, value1, value2):
        return value2 if value2[1] > value1[1] else value1


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    lines = ["The quick brown fox", "jumps over the lazy dog, twice", "quietly thinking"]
    env.from_collection(lines, type_info=Types.STRING()) \
        .flat_map(Tokenize(), output_type=Types.TUPLE([Types.STRING(), Types.INT()])) \
        .key_by(FirstLetter()) \
        .reduce(Longest()) \
        .print()
    env.execute("flat map and key selector")
