from pyflink.common import Types
from pyflink.datastream import CheckpointingMode, ExternalizedCheckpointRetention, StreamExecutionEnvironment

if __name__ == '__main__':
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.enable_checkpointing(60000, CheckpointingMode.EXACTLY_ONCE)
    config = env.get_checkpoint_config()
    config.set_min_pause_between_checkpoints(30000)
    config.set_checkpoint_timeout(120000)
    config.set_tolerable_checkpoint_failure_number(3)
    config.set_max_concurrent_checkpoints(1)
    config.set_externalized_checkpoint_retention(ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION)
    config.enable_unaligned_checkpoints()
    print("min pause", config.get_min_pause_between_checkpoints())
    print("timeout", config.get_checkpoint_timeout())
    print("tolerable", config.get_tolerable_checkpoint_failure_number())
    print("concurrent", config.get_max_concurrent_checkpoints())
    print("unaligned", config.is_unaligned_checkpoints_enabled())
    print("interval", config.get_checkpoint_interval())
    env.from_collection([1, 2, 3], type_info=Types.INT()).map(lambda x: x * 7, output_type=Types.INT()).print()
    env.execute("checkpoint configuration")
