"""millstream: Kafka + Flink for Python, as one system.

A partitioned log (embedded SQLite by default, or any Kafka cluster), Kafka-Connect-style connectors, and a
stream engine with Flink's event-time semantics.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
