"""PostgreSQL change data capture (Debezium's PostgreSQL connector, on pgoutput logical replication)."""

from .source import PostgresConnector, PostgresConnectorTask

__all__ = ["PostgresConnector", "PostgresConnectorTask"]
