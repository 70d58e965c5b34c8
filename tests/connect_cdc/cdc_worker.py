"""A connect worker process for ``test_cdc_kill9.py``: ``python cdc_worker.py LOG_URL CONFIG_JSON [EXACTLY_ONCE]``.

Runs a Herder with stored configs on the given (file://) log; on its first start it creates connector
``cdc`` from CONFIG_JSON, on later starts it finds it in the config topic and resumes from the stored offsets.
Prints READY and runs until killed.
"""

from __future__ import annotations

import sys
import time

import orjson

from millstream.connect.herder import Herder


def main(log_url: str, config_json: str, exactly_once: str = "disabled") -> None:
    worker = {"offset.flush.interval.ms": "200", "exactly.once.source.support": exactly_once}
    herder = Herder(worker, log_url, persist_configs=True)
    herder.start()
    if "cdc" not in set(herder.connectors()):
        herder.create_connector("cdc", orjson.loads(config_json))
    print("READY", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
