"""The co-viewed items example: every running count agrees with sessions recomputed from the file."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from itertools import permutations
from pathlib import Path

from .conftest import EXAMPLES, start_example, topic_values

GAP = 30 * 60 * 1000


def _expected(views: list[dict]) -> Counter:
    per_user: dict[str, list[dict]] = defaultdict(list)
    for v in views:
        per_user[v["user"]].append(v)
    pairs: Counter = Counter()
    for vs in per_user.values():
        vs.sort(key=lambda v: v["ts"])
        session: set[str] = set()
        last = None
        for v in vs:
            if last is not None and v["ts"] >= last + GAP:  # Flink: windows [ts, ts+gap) merge when they overlap
                pairs.update(permutations(sorted(session), 2))
                session = set()
            session.add(v["item"])
            last = v["ts"] if last is None else max(last, v["ts"])
        pairs.update(permutations(sorted(session), 2))
    return pairs


def test_co_view_counts_match_a_recount(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'log'}"
    proc = start_example("recommendations", url, tmp_path)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    views = [json.loads(line) for line in (EXAMPLES / "recommendations" / "views.jsonl").read_text().splitlines()]
    latest = {(r["item"], r["also_viewed"]): r["sessions"] for r in topic_values(url, "co-views")}
    assert latest == dict(_expected(views))
    assert max(latest.values()) > 10  # items of a category are co-viewed in many sessions
