"""Write sample product views (JSON lines ``{"ts", "user", "item"}``): 200 users, a few sessions each, each
session browsing items of one category (so items of a category are co-viewed).

python examples/recommendations/make_views.py [PATH]   (default: views.jsonl next to this file)
"""

import json
import random
import sys
from pathlib import Path

CATEGORIES = {
    "shoes": ["runner-1", "runner-2", "trail-3", "sandal-4"],
    "phones": ["phone-a", "phone-b", "case-c", "charger-d"],
    "books": ["novel-x", "novel-y", "cookbook-z"],
}


def views(seed: int = 11):
    rng = random.Random(seed)
    t0 = 1_714_564_800_000  # 2024-05-01T12:00:00Z
    out = []
    for u in range(200):
        ts = t0 + rng.randint(0, 3_600_000)
        for _session in range(rng.randint(1, 3)):
            items = CATEGORIES[rng.choice(sorted(CATEGORIES))]
            for _ in range(rng.randint(1, 6)):
                out.append({"ts": ts, "user": f"u{u}", "item": rng.choice(items)})
                ts += rng.randint(5_000, 300_000)  # < 30 min between views of a session
            ts += rng.randint(3_600_000, 7_200_000)  # > 30 min: the next session
    return sorted(out, key=lambda v: v["ts"])


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("views.jsonl")
    path.write_text("".join(json.dumps(v) + "\n" for v in views()))
