"""The README's Python examples run as printed (in a fresh directory, on the embedded default log)."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from millstream.core import ProducerRecord
from millstream.log import open_log

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MILLSTREAM_LOG", raising=False)
    blocks = python_blocks()
    assert len(blocks) >= 2
    with open_log(
        "file://./.millstream"
    ) as log:  # the bash block's topics: the job reads pageviews, writes page-counts
        log.create_topic("pageviews", 2)
        log.create_topic("page-counts", 1)
        views = [("/a", 1_000), ("/b", 2_000), ("/a", 3_000), ("/a", 70_000)]
        log.produce("pageviews", [ProducerRecord(orjson.dumps({"page": p, "ts": t}), p.encode(), t) for p, t in views])
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "__readme__"})
    with open_log("file://./.millstream") as log:
        counts = sorted(
            (c["minute"], c["page"], c["views"])
            for c in map(orjson.loads, (r.value for r in log.read("page-counts", 0, 0)))
        )
        assert counts == [(0, "/a", 2), (0, "/b", 1), (60_000, "/a", 1)]  # per page and minute
        assert sum(log.latest_offset("clicks", p) for p in range(4)) == 1  # the log example produced one
