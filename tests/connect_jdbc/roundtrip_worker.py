"""A connect worker process for ``test_round_trip.py``: ``python roundtrip_worker.py LOG_URL INPUT_FILE DSN``.

Runs a Herder with stored configs (``persist_configs=True``) on the given log. On its first start it creates
the two connectors — FileStreamSource (the input file → topic ``rows``, values as strings) and the JDBC sink
(``rows`` → PostgreSQL table ``rows``, plain JSON values, upsert by ``id``); on later starts it finds them in
the config topic and resumes them from their stored offsets. Prints ``READY`` and then runs until killed.
"""

from __future__ import annotations

import sys
import time

from millstream.connect.herder import Herder


def main(log_url: str, input_file: str, dsn: str) -> None:
    herder = Herder(
        {"offset.flush.interval.ms": "200", "consumer.max.poll.records": "2000"},
        log_url,
        persist_configs=True,
    )
    herder.start()
    existing = set(herder.connectors())
    if "rt-source" not in existing:
        herder.create_connector(
            "rt-source",
            {
                "connector.class": "FileStreamSource",
                "file": input_file,
                "topic": "rows",
                "batch.size": "500",
                "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            },
        )
    if "rt-sink" not in existing:
        herder.create_connector(
            "rt-sink",
            {
                "connector.class": "millstream.connect.connectors.jdbc.JdbcSinkConnector",
                "topics": "rows",
                "connection.url": dsn,
                "insert.mode": "upsert",
                "pk.mode": "record_value",
                "pk.fields": "id",
                "auto.create": "true",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable": "false",
            },
        )
    print("READY", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
