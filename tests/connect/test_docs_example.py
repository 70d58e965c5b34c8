"""The connector written in docs/connect.md runs as documented (kept in sync by extracting the code block)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import orjson

from .helpers import wait_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "connect.md"


def test_the_documented_connector_runs(herder):
    code = re.search(r"## Writing a connector\n\n```python[^\n]*\n(.*?)```", DOC.read_text(), re.S).group(1)
    module = types.ModuleType("docs_ticker")
    exec(compile(code, str(DOC), "exec"), module.__dict__)
    sys.modules["docs_ticker"] = module
    try:
        herder.create_connector("ticker", {"connector.class": "docs_ticker.TickerSource", "topic": "ticks"})
        wait_until(lambda: herder.log.has_topic("ticks") and herder.log.latest_offset("ticks", 0) >= 3)
        first = orjson.loads(herder.log.read("ticks", 0, 0, max_records=1)[0].value)
        assert first["payload"] == {"n": 1}
    finally:
        herder.stop_connector("ticker")
        sys.modules.pop("docs_ticker", None)
