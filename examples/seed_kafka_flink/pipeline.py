"""The seed article's own example (section 5.2), made to run.

A producer writes 10 messages to ``topic_name``; ``MySource``, a ``SourceConnector`` with its own
``start/poll/stop`` (the article's shape), reads them; the job maps ``lambda x: x + ' processed'``; ``MySink``,
a ``SinkConnector``, writes the results to ``topic_name_processed``. It runs on any log: the embedded one
(default) or Kafka (``--log kafka://localhost:9092``), which is what the article had in mind.

Run:  millstream run examples/seed_kafka_flink/pipeline.py --log file://./.millstream
"""

from millstream import StreamExecutionEnvironment
from millstream.connect import SinkConnector, SourceConnector
from millstream.core.record import ProducerRecord
from millstream.log import open_log


class MySource(SourceConnector):
    """Reads the strings in ``config["topic"]`` (partition 0) that were there when it started, then ends."""

    def __init__(self, config):
        self.config = config

    def start(self):
        self.log = open_log(self.config.get("log"))
        self.topic = self.config["topic"]
        self.position = 0
        self.end = self.log.latest_offset(self.topic, 0)

    def poll(self, timeout=300000):
        if self.position >= self.end:
            raise StopIteration  # the messages that were there at start are all read: end of input
        records = self.log.read(self.topic, 0, self.position, max_records=1000)
        records = [r for r in records if r.offset < self.end]
        if records:
            self.position = records[-1].offset + 1
        return [r.value.decode() for r in records]

    def stop(self):
        self.log.close()


class MySink(SinkConnector):
    """Writes each value as a UTF-8 string to ``config["topic"]``."""

    def __init__(self, config):
        self.config = config

    def start(self):
        self.log = open_log(self.config.get("log"))
        self.topic = self.config["topic"]

    def put(self, values):
        self.log.produce(self.topic, [ProducerRecord(v.encode(), None, None) for v in values])

    def stop(self):
        self.log.close()


def main():
    # the producer (the article used kafka-python's KafkaProducer): 10 messages into topic_name
    with open_log() as log:
        log.create_topic("topic_name", 1, exist_ok=True)
        log.create_topic("topic_name_processed", 1, exist_ok=True)
        log.produce("topic_name", [ProducerRecord(f"message {i}".encode(), None, None) for i in range(1, 11)])

    config = {"topic": "topic_name"}  # the article's SourceConfig; "log" defaults to --log / $MILLSTREAM_LOG
    sink_config = {"topic": "topic_name_processed"}

    env = StreamExecutionEnvironment.get_execution_environment()
    source = env.add_source(MySource(config))
    result = source.map(lambda x: x + " processed")
    result.add_sink(MySink(sink_config))
    env.execute("Kafka-Flink example")


if __name__ == "__main__":
    main()
