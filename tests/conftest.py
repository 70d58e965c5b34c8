"""Root test configuration: shared fixtures are loaded from tests/fixtures as plugins."""

from __future__ import annotations

pytest_plugins = ["tests.fixtures.kafka_broker", "tests.fixtures.postgres", "tests.fixtures.mariadb"]
