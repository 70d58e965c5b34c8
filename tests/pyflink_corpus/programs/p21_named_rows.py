from pyflink.common import Row, Types
from pyflink.datastream import StreamExecutionEnvironment

if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    person = Types.ROW_NAMED(["name", "age", "city"], [Types.STRING(), Types.INT(), Types.STRING()])
    people = env.from_collection(
        [Row(name="ann", age=31, city="oslo"), Row(name="bo", age=17, city="rome"), Row(name="cy", age=45, city="oslo")],
        type_info=person)
    people.filter(lambda p: p.age >= 18) \
        .map(lambda p: Row(city=p["city"], who=p.name.upper(), decade=p[1] // 10 * 10),
             output_type=Types.ROW_NAMED(["city", "who", "decade"], [Types.STRING(), Types.STRING(), Types.INT()])) \
        .print()
    env.execute("named rows")
