"""``millstream demo`` — an end-to-end run on the embedded log with nothing else installed.

Interim demo (until the clickstream analytics demo replaces it): it creates a ``pageviews`` topic,
produces generated page views keyed by user (murmur2-partitioned like Kafka), reads them back through a
consumer group, and prints per-page counts and where the data lives.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter

import click
import orjson

from ..core.record import ProducerRecord
from ..log import open_log
from .common import handle_errors

PAGES = ["/", "/home", "/products", "/products/42", "/cart", "/checkout", "/help"]


@click.command()
@click.option("--log", "log_url", metavar="URL", help="Log to use (default: a fresh embedded log in a temp dir).")
@click.option("--events", type=click.IntRange(min=1), default=10_000, show_default=True, help="Page views to generate.")
@click.option("--seed", type=int, default=7, show_default=True)
@handle_errors
def demo(log_url: str | None, events: int, seed: int) -> None:
    """Produce generated page views to a topic and count them per page through a consumer group."""
    if log_url is None:
        log_url = "file://" + tempfile.mkdtemp(prefix="millstream-demo-")
    rng = random.Random(seed)
    started = time.perf_counter()
    with open_log(log_url) as log:
        log.create_topic("pageviews", 4, exist_ok=True)
        now = int(time.time() * 1000)
        records = []
        for i in range(events):
            user = f"user-{rng.randrange(100)}"
            ts = now + i * 10
            view = {"user": user, "page": rng.choice(PAGES), "ts": ts, "status": rng.choice([200] * 19 + [500])}
            records.append(ProducerRecord(orjson.dumps(view), user.encode(), ts))
        log.produce("pageviews", records)
        counts: Counter[str] = Counter()
        consumer = log.consumer("demo-counter", auto_offset_reset="earliest")
        consumer.subscribe(["pageviews"])
        seen = 0
        while seen < events:
            batch = consumer.poll(timeout_ms=1000, max_records=5000)
            if not batch:
                break
            for rec in batch:
                counts[orjson.loads(rec.value or b"null")["page"]] += 1
            seen += len(batch)
        consumer.close()
        lag = log.describe_group("demo-counter").total_lag
    elapsed = time.perf_counter() - started
    click.echo(f"produced and consumed {seen} page views in {elapsed:.2f} s on {log_url}")
    click.echo(f"{'page':<16}{'views':>8}")
    for page, n in counts.most_common():
        click.echo(f"{page:<16}{n:>8}")
    click.echo(f"consumer group 'demo-counter' lag: {lag}")
    click.echo(f"inspect it: millstream consume pageviews --log {log_url} --from-beginning --max-messages 3")
