"""A real-time recommendation signal (seed article, sections 3.4 and 6.3): items co-viewed in a session.

Product views (JSON lines ``{"ts", "user", "item"}``, event time ``ts``) are grouped into per-user sessions
(event-time session windows, 30-minute gap); every pair of distinct items viewed in one session counts as
one co-view, in both directions; a running count per ``(item, also_viewed)`` pair goes to the topic
``co-views`` keyed by item, so the latest record per pair is the current signal ("people who viewed X also
viewed Y, N sessions").

Run:  millstream run examples/recommendations/pipeline.py --log file://./.millstream
      (``VIEWS=path.jsonl`` reads another file; the job ends when the file is read)
"""

import os
from itertools import permutations
from pathlib import Path

from millstream import Duration, WatermarkStrategy
from millstream.connectors import FileSource, LogSink
from millstream.functions import ProcessWindowFunction
from millstream.log import open_log
from millstream.windows import EventTimeSessionWindows

VIEWS = os.environ.get("VIEWS", str(Path(__file__).with_name("views.jsonl")))
SESSION_GAP = Duration.of_minutes(30)


class CoViewedPairs(ProcessWindowFunction):
    """One ``{"item", "also_viewed", "sessions": 1}`` per ordered pair of distinct items of the session."""

    def process(self, key, context, elements):
        items = sorted({e["item"] for e in elements})
        for a, b in permutations(items, 2):
            yield {"item": a, "also_viewed": b, "sessions": 1}


def build(env):
    with open_log() as log:
        log.create_topic("co-views", 1, {"retention.ms": "-1"}, exist_ok=True)  # sample data is from 2024
    views = env.from_source(
        FileSource.for_paths(VIEWS, format="json"),
        WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(10)).with_timestamp_assigner(
            lambda v, ts: v["ts"]
        ),
        "views",
    )
    pairs = (
        views.key_by(lambda v: v["user"])
        .window(EventTimeSessionWindows.with_gap(SESSION_GAP))
        .process(CoViewedPairs())
        .uid("co-viewed-pairs")
    )
    counts = (
        pairs.key_by(lambda p: (p["item"], p["also_viewed"]))
        .reduce(lambda a, b: {**a, "sessions": a["sessions"] + b["sessions"]})
        .uid("co-view-counts")
    )
    counts.sink_to(LogSink.builder().set_topic("co-views").set_key_selector(lambda p: p["item"]).build())
