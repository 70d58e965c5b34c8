"""Database → log → materialised view: PostgreSQL changes captured by the CDC connector into the embedded log,
read back as a changelog with the ``debezium-json`` format, and applied to a view keyed by the primary key.

    python examples/cdc_materialized_view/materialized_view.py postgresql://postgres@localhost:5432/shop

The database needs ``wal_level=logical``. The script creates table ``orders`` (if missing), starts a Connect
worker with the PostgresConnector on ``file://./.millstream-cdc``, makes some changes from another session
while it runs, waits until the view has caught up with the table, prints the view and checks that it equals
the table row for row. It drops its replication slot at the end (``slot.drop.on.stop``).
"""

from __future__ import annotations

import sys
import time
from urllib.parse import urlsplit

import psycopg

from millstream.connect.herder import Herder
from millstream.core.changelog import Materializer
from millstream.core.debezium_json import DebeziumJsonFormat
from millstream.log import open_log

TOPIC = "shop.public.orders"


def connector_config(dsn: str) -> dict[str, str]:
    url = urlsplit(dsn)
    return {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": url.hostname or "localhost",
        "database.port": str(url.port or 5432),
        "database.user": url.username or "postgres",
        "database.password": url.password or "",
        "database.dbname": url.path.strip("/") or "postgres",
        "topic.prefix": "shop",
        "slot.name": "shop_orders_example",
        "publication.name": "shop_orders_example",
        "publication.autocreate.mode": "filtered",
        "table.include.list": r"public\.orders",
        "slot.drop.on.stop": "true",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
    }


def main(dsn: str, log_url: str = "file://./.millstream-cdc") -> None:
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute("CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY, item text NOT NULL, qty int NOT NULL)")
        db.execute("INSERT INTO orders VALUES (1, 'lamp', 1), (2, 'desk', 1) ON CONFLICT DO NOTHING")
        log = open_log(log_url)
        worker = Herder({"offset.flush.interval.ms": "500"}, log)
        worker.start()
        try:
            if "orders-cdc" not in worker.connectors():
                worker.create_connector("orders-cdc", connector_config(dsn))
            # changes made while the connector runs
            next_id = int(db.execute("SELECT coalesce(max(id), 0) + 1 FROM orders").fetchone()[0])  # type: ignore[index]
            db.execute("INSERT INTO orders VALUES (%s, 'chair', 4)", (next_id,))
            db.execute("UPDATE orders SET qty = qty + 1 WHERE id = 1")
            db.execute("DELETE FROM orders WHERE id = 2")

            fmt = DebeziumJsonFormat(update_before="skip")  # the table's replica identity is the default
            rows = {r[0]: {"id": r[0], "item": r[1], "qty": r[2]} for r in db.execute("SELECT * FROM orders")}
            deadline = time.monotonic() + 60
            while True:
                view = Materializer(key=lambda row: row["id"])
                if log.has_topic(TOPIC):
                    for record in log.read(TOPIC, 0, 0, max_records=1_000_000):
                        view.apply(fmt.decode(record.value))
                if view.rows == rows or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            worker.stop()
            log.close()
    for key in sorted(view.rows):
        print(view.rows[key])
    if view.rows != rows:
        sys.exit(f"the view differs from the table: {view.rows} != {rows}")
    print(f"view == table ({len(rows)} rows)")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(*sys.argv[1:3])
