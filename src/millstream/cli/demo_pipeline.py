"""The clickstream analytics pipeline behind ``millstream demo`` (and ``examples/clickstream``).

One job, two pipelines, on one log:

  1. **ingest** — the ``datagen`` connector (Confluent's ``clickstream`` quickstart, run as a stream source
     with ``env.add_source``) → a page-view event ``{"ts", "user", "page", "status", "error"}`` → topic
     ``pageviews`` (keyed by user, record timestamp = event time);
  2. **analytics** — topic ``pageviews`` (event time from ``ts``, 1 s out-of-orderness) →
     - ``page-counts``: views and errors per page in 10-second tumbling windows;
     - ``user-sessions``: per-user sessions (30 s gap): views, distinct pages, start, end;
     - ``error-alerts``: the page windows whose error rate is above ``threshold`` (with at least
       ``min_views`` views).

**Event time runs faster than wall time.** Event ``n`` gets ``ts = t0 + n * step_ms`` (``t0``: the start,
rounded down to 10 s); with ``rate`` events per wall second, event time advances ``rate * step_ms / 1000``
times as fast as the clock (default 200/s * 50 ms = 10x), so a 10-second window closes about every
second and a 30-second session gap passes in 3 s. Users arrive in cohorts: datagen's user ids 1-40 are
shifted by 40 every ``cohort_events`` events (60 s of event time by default), so the previous cohort goes
quiet and its sessions close while the demo runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from ..connect.connectors.datagen import DatagenConnector
from ..stream.connector_descriptors import ConnectorSource
from ..stream.connectors import LogSink, LogSource, OffsetsInitializer
from ..stream.environment import StreamExecutionEnvironment
from ..stream.functions import AggregateFunction, ProcessWindowFunction
from ..stream.time import Duration, WatermarkStrategy
from ..stream.windows import EventTimeSessionWindows, TumblingEventTimeWindows

TOPICS = ("pageviews", "page-counts", "user-sessions", "error-alerts")
WINDOW_MS = 10_000
SESSION_GAP_MS = 30_000
OUT_OF_ORDERNESS_MS = 1_000


#: the pages of datagen's clickstream requests, in the order a spike visits them
PAGES = ("/index.html", "/site/user_status.html", "/site/login.html", "/images/track.png", "/images/logo-small.png")
SPIKE_EVERY = 4  # windows: one page window in this many is an outage
BASE_ERROR_RATE = 0.03
SPIKE_ERROR_RATE = 0.9


def status_of(n: int, page: str, ts: int) -> int:
    """The HTTP status of event ``n``: mostly 200/302 with a few 404s (``BASE_ERROR_RATE``), except in an outage —
    every ``SPIKE_EVERY``-th 10-second window one page (the next of ``PAGES`` each time) answers 503 to
    ``SPIKE_ERROR_RATE`` of its requests, which is what the alerts catch. (Datagen's own statuses are uniform
    over 200, 302, 404, 405, 406 and 407: two thirds errors, which read as a broken site.) Deterministic in
    ``n``, ``page`` and ``ts``."""
    u = (n * 2654435761 % 2**32) / 2**32  # a well-spread value in [0, 1) per event (Knuth's multiplicative hash)
    window = ts // WINDOW_MS
    if window % SPIKE_EVERY == SPIKE_EVERY - 1 and page == PAGES[(window // SPIKE_EVERY) % len(PAGES)]:
        return 503 if u < SPIKE_ERROR_RATE else 200
    if u < BASE_ERROR_RATE:
        return 404
    return 302 if u < BASE_ERROR_RATE + 0.1 else 200


def page_view(value: dict[str, Any], n: int, t0: int, step_ms: int, cohort_events: int) -> dict[str, Any]:
    """The demo's page-view event for datagen clickstream record ``value``, the ``n``-th generated."""
    request = str(value.get("request", "GET / HTTP/1.1")).split()
    cohort = n // cohort_events
    ts = t0 + n * step_ms
    page = request[1] if len(request) > 1 else "/"
    status = status_of(n, page, ts)
    return {
        "ts": ts,
        "user": f"user-{int(value.get('userid', 0)) + 40 * cohort}",
        "page": page,
        "status": status,
        "error": status >= 400,
    }


def window_of(ts: int) -> int:
    """The start of the 10-second tumbling window holding ``ts`` (aligned to the epoch, as Flink's)."""
    return ts - ts % WINDOW_MS


class ViewsAndErrors(AggregateFunction):
    """Counts views and errors: accumulator ``[views, errors]``."""

    def create_accumulator(self) -> list[int]:
        return [0, 0]

    def add(self, value: dict[str, Any], acc: list[int]) -> list[int]:
        acc[0] += 1
        acc[1] += 1 if value["error"] else 0
        return acc

    def get_result(self, acc: list[int]) -> list[int]:
        return acc

    def merge(self, a: list[int], b: list[int]) -> list[int]:
        return [a[0] + b[0], a[1] + b[1]]


class PageWindow(ProcessWindowFunction):
    """``{"page", "window_start", "window_end", "views", "errors", "error_rate"}`` per page and window."""

    def process(self, key: Any, context: Any, elements: Iterable[list[int]]) -> Iterable[dict[str, Any]]:
        for views, errors in elements:
            w = context.window()
            yield {
                "page": key,
                "window_start": w.start,
                "window_end": w.end,
                "views": views,
                "errors": errors,
                "error_rate": round(errors / views, 4) if views else 0.0,
            }


class SessionSummary(ProcessWindowFunction):
    """``{"user", "session_start", "session_end", "views", "pages"}`` per closed session."""

    def process(self, key: Any, context: Any, elements: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        views = list(elements)
        w = context.window()
        yield {
            "user": key,
            "session_start": w.start,
            "session_end": w.end,
            "views": len(views),
            "pages": sorted({v["page"] for v in views}),
        }


def build_clickstream(
    env: StreamExecutionEnvironment,
    log_url: str | None,
    *,
    t0: int,
    rate: float = 200.0,
    step_ms: int = 50,
    cohort_events: int = 1200,
    seed: int | None = 7,
    threshold: float = 0.75,
    min_views: int = 20,
    on_result: Callable[[str, dict[str, Any]], None] | None = None,
) -> None:
    """Add the demo's two pipelines (see the module docstring) to ``env``. The topics must exist.

    ``on_result(topic, value)`` is also called for each result (the live terminal table).
    """
    datagen = {"kafka.topic": "pageviews", "quickstart": "clickstream", "rate": str(rate), "iterations": "-1"}
    if seed is not None:
        datagen["random.seed"] = str(seed)
    counter = itertools.count()

    def to_event(value: dict[str, Any]) -> dict[str, Any]:
        return page_view(value, next(counter), t0, step_ms, cohort_events)

    def sink(topic: str, key: Callable[[Any], Any] | None = None) -> LogSink:
        b = LogSink.builder().set_topic(topic).set_value_format("json")
        if log_url:
            b = b.set_log(log_url)
        if key is not None:
            b = b.set_key_selector(key)
        return b.build()

    # 1. ingest
    (
        env.add_source(ConnectorSource.of(DatagenConnector, datagen), "datagen clickstream")
        .map(to_event)
        .name("to page view")
        .uid("to-page-view")
        .assign_timestamps_and_watermarks(
            WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda e, ts: e["ts"])
        )
        .sink_to(sink("pageviews", lambda e: e["user"]))
        .name("pageviews")
    )
    # 2. analytics
    src = LogSource.builder().set_topics("pageviews").set_value_format("json")
    src = src.set_starting_offsets(OffsetsInitializer.earliest())
    if log_url:
        src = src.set_log(log_url)
    views = env.from_source(
        src.build(),
        WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(OUT_OF_ORDERNESS_MS)).with_timestamp_assigner(
            lambda e, ts: e["ts"]
        ),
        "pageviews",
    )
    counts = (
        views.key_by(lambda e: e["page"])
        .window(TumblingEventTimeWindows.of(Duration.of_millis(WINDOW_MS)))
        .aggregate(ViewsAndErrors(), PageWindow())
        .name("page counts")
        .uid("page-counts")
    )
    sessions = (
        views.key_by(lambda e: e["user"])
        .window(EventTimeSessionWindows.with_gap(Duration.of_millis(SESSION_GAP_MS)))
        .process(SessionSummary())
        .name("user sessions")
        .uid("user-sessions")
    )
    alerts = counts.filter(lambda c: c["views"] >= min_views and c["error_rate"] > threshold).name("error alerts")
    for topic, stream, key in (
        ("page-counts", counts, lambda c: c["page"]),
        ("user-sessions", sessions, lambda s: s["user"]),
        ("error-alerts", alerts, lambda c: c["page"]),
    ):
        stream.sink_to(sink(topic, key)).name(topic)
        if on_result is not None:
            stream.add_sink(lambda v, _t=topic: on_result(_t, v)).name(f"{topic} (terminal)")


__all__ = [
    "OUT_OF_ORDERNESS_MS",
    "SESSION_GAP_MS",
    "TOPICS",
    "WINDOW_MS",
    "PageWindow",
    "SessionSummary",
    "ViewsAndErrors",
    "build_clickstream",
    "page_view",
    "window_of",
]
