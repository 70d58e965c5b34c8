"""Kafka tests: the broker fixtures come from ``tests/fixtures/kafka_broker.py``.

They are imported here (rather than listed in ``pytest_plugins``, which pytest accepts only in the root
conftest) so that ``pytest tests/kafka`` works on its own; the broker is shared by every importer.
"""

from __future__ import annotations

from tests.fixtures.kafka_broker import (  # noqa: F401
    kafka_bootstrap,
    kafka_log,
    kafka_on_tansu,
    kafka_properties,
    kafka_topic,
)
