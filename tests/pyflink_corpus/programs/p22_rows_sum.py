from pyflink.common import Row, Types
from pyflink.datastream import StreamExecutionEnvironment

if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    t = Types.ROW([Types.STRING(), Types.LONG(), Types.DOUBLE()])
    ds = env.from_collection([Row("a", 1, 0.5), Row("b", 2, 1.25), Row("a", 3, 2.0), Row("b", 4, 1e8)], type_info=t)
    ds.key_by(lambda r: r[0], key_type=Types.STRING()).sum(2).print("sum")
    env.execute("rows and sum")
