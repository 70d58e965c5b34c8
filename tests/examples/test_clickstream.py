"""The clickstream example (the demo's pipeline as a file): Ctrl-C stops it; windows agree with a recount."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

from millstream.cli.demo_pipeline import window_of

from .conftest import start_example, topic_values


def test_clickstream_windows_agree_with_the_raw_events(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'log'}"
    proc = start_example("clickstream", url, tmp_path)
    try:
        time.sleep(12)  # not polling the log meanwhile: see the report (embedded log, concurrent opens)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == "interrupted: job stopped"
    assert len(topic_values(url, "page-counts")) >= 10
    raw = topic_values(url, "pageviews")
    counts = topic_values(url, "page-counts")
    views = Counter((e["page"], window_of(e["ts"])) for e in raw)
    for c in counts:
        assert c["views"] == views[(c["page"], c["window_start"])], c
    last_end = max(c["window_end"] for c in counts)
    assert {k for k in views if k[1] + 10_000 <= last_end} == {(c["page"], c["window_start"]) for c in counts}
