"""Kafka tests: the broker fixtures (``kafka_bootstrap``, ``kafka_log``, ...) come from the root conftest's
plugin ``tests/fixtures/kafka_broker.py``; one broker serves the whole session."""
