from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment

if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    t = Types.TUPLE([Types.STRING(), Types.INT(), Types.STRING()])
    data = [("k", 5, "first"), ("k", 3, "second"), ("j", 9, "third"), ("k", 3, "fourth"), ("j", 10, "fifth")]
    ds = env.from_collection(data, type_info=t).key_by(lambda x: x[0])
    ds.min_by(1).print("min_by")
    env.execute("min_by")
