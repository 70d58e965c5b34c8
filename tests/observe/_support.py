"""Helpers of the observe tests: HTTP scraping, Prometheus parsing, and a producer that keeps a topic growing."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson

from millstream.core.record import ProducerRecord
from millstream.log import open_log


def get(url: str) -> tuple[int, Any]:
    """``GET url`` → (status, parsed JSON or text)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body, status, ctype = resp.read(), resp.status, resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        body, status, ctype = exc.read(), exc.code, exc.headers.get("Content-Type", "")
    if "json" in ctype:
        return status, orjson.loads(body)
    return status, body.decode()


def prometheus(url: str) -> dict[tuple[str, str], float]:
    """Scrape ``url`` and return ``{(metric name, operator_name or job_name): value}``."""
    from prometheus_client.parser import text_string_to_metric_families

    status, text = get(url)
    assert status == 200
    out: dict[tuple[str, str], float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, s.labels.get("operator_name", s.labels.get("job_name", "")))] = s.value
    return out


def wait_for(cond: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``cond`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Producer:
    """Appends ``{"k", "n"}`` JSON records to both partitions of ``topic`` every 20 ms, event time advancing
    100 ms per record, until ``stop()``."""

    def __init__(self, log_url: str, topic: str = "in") -> None:
        self.log_url = log_url
        self.topic = topic
        self.n = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Producer:
        self._thread.start()
        return self

    def _run(self) -> None:
        with open_log(self.log_url) as log:
            while not self._stop.wait(0.02):
                for p in (0, 1):
                    recs = []
                    for _ in range(10):
                        self.n += 1
                        recs.append(ProducerRecord(orjson.dumps({"k": self.n % 3, "n": self.n}), None, self.n * 100))
                    log.append(self.topic, p, recs)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
