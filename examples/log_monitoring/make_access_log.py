"""Write a sample access log: 10 minutes of traffic on 3 paths with a 5xx spike on /api/orders in minute 6.

python examples/log_monitoring/make_access_log.py [PATH]   (default: access.log next to this file)
"""

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path


def lines(seed: int = 3):
    rng = random.Random(seed)
    start = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    for second in range(600):
        t = start + timedelta(seconds=second)
        for path in ("/", "/api/orders", "/api/search"):
            if rng.random() < 0.5:
                continue
            spike = path == "/api/orders" and 360 <= second < 420
            status = 503 if spike and rng.random() < 0.6 else (500 if rng.random() < 0.02 else 200)
            stamp = t.strftime("%d/%b/%Y:%H:%M:%S +0000")
            yield f'10.0.0.{rng.randint(1, 254)} - - [{stamp}] "GET {path} HTTP/1.1" {status} {rng.randint(200, 5000)}'
        if second == 300:
            yield "this line is not in Common Log Format"


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("access.log")
    out.write_text("\n".join(lines()) + "\n")
