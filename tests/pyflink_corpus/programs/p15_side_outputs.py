from pyflink.common import Types
from pyflink.datastream import OutputTag, StreamExecutionEnvironment
from pyflink.datastream.functions import ProcessFunction

odd_tag = OutputTag("odd", Types.INT())


class Split(ProcessFunction):
    def process_element(self, value, ctx: 'ProcessFunction.Context'):
        if value % 2 == 0:
            yield value
        else:
            yield odd_tag, value * 10


if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    main = env.from_collection(list(range(1, 9)), type_info=Types.INT()).process(Split(), output_type=Types.INT())
    main.print("even")
    main.get_side_output(odd_tag).print("odd")
    env.execute("side outputs")
