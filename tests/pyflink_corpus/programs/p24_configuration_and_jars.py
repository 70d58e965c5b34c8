import os

from pyflink.common import Configuration, Types
from pyflink.datastream import StreamExecutionEnvironment

if __name__ == '__main__':
    config = Configuration()
    config.set_string("pipeline.name", "configured job")
    config.set_integer("parallelism.default", 1)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.add_python_file(os.path.abspath(__file__))
    print("parallelism", env.get_parallelism())
    print("name", config.get_string("pipeline.name", "none"), config.contains_key("pipeline.name"))
    env.from_collection(["x", "y"], type_info=Types.STRING()).map(lambda s: s * 3, output_type=Types.STRING()).print()
    env.execute()
