"""``millstream demo`` as a real subprocess: results in its topics agree with a recount of the raw events."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from millstream.cli.demo_pipeline import SESSION_GAP_MS, window_of
from millstream.log import open_log


def _values(url: str, topic: str) -> list[Any]:
    out: list[Any] = []
    with open_log(url) as log:
        pos, end = 0, log.latest_offset(topic, 0)
        while pos < end:
            recs = log.read(topic, 0, pos)
            out.extend(orjson.loads(r.value) for r in recs)
            pos = recs[-1].offset + 1
    return out


def test_quiet_demo_leaves_windows_that_agree_with_a_recount(tmp_path: Path, cli: Any) -> None:
    url = f"file://{tmp_path / 'demo'}"
    res = cli("demo", "--duration", "20", "--quiet", "--log", url, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0].startswith(f"data:    {url}")
    assert re.search(r"^metrics: http://127\.0\.0\.1:\d+/metrics$", res.stdout, re.M)
    raw = _values(url, "pageviews")
    counts = _values(url, "page-counts")
    assert len(raw) > 1000 and len(counts) >= 10
    views = Counter((e["page"], window_of(e["ts"])) for e in raw)
    errors = Counter((e["page"], window_of(e["ts"])) for e in raw if e["error"])
    for c in counts:
        key = (c["page"], c["window_start"])
        assert c["window_end"] == c["window_start"] + 10_000
        assert (c["views"], c["errors"]) == (views[key], errors[key]), c
    emitted = {(c["page"], c["window_start"]) for c in counts}
    assert len(emitted) == len(counts)  # each page window once
    last_end = max(c["window_end"] for c in counts)
    assert {k for k in views if k[1] + 10_000 <= last_end} == emitted  # no closed window missing
    alerts = _values(url, "error-alerts")
    assert alerts == [c for c in counts if c["views"] >= 20 and c["error_rate"] > 0.75]
    sessions = _values(url, "user-sessions")
    assert sessions, "the first cohort of users went quiet: their sessions must have closed"
    for s in sessions:
        mine = sorted(
            e["ts"] for e in raw if e["user"] == s["user"] and s["session_start"] <= e["ts"] < s["session_end"]
        )
        assert len(mine) == s["views"] and s["session_end"] == mine[-1] + SESSION_GAP_MS


def test_live_table_shows_windowed_results_within_15_seconds(tmp_path: Path, cli: Any) -> None:
    res = cli("demo", "--duration", "13", "--log", f"file://{tmp_path / 'demo'}", timeout=120)
    assert res.returncode == 0, res.stderr
    assert "page views per 10 s window" in res.stdout
    assert re.search(r"/index\.html .* \d+ .* \d+%", res.stdout), res.stdout[-3000:]
