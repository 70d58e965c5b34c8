"""The lineage graph of the whole pipeline — source connectors → topics → jobs (their operators) → topics →
sink connectors — with live records per second on every edge.

Rates come from what each part reports: a job's edges from its vertices' meters (``numRecordsOutPerSecond``
of the sources reading a topic, of the sinks writing one, of a connector run inside the job); a Connect
worker's connectors from the growth of the log itself (a source connector's records/s is how fast the end
offsets of its topics grow, a sink connector's how fast its group ``connect-<name>`` commits), sampled by a
:class:`RateTracker` each time the overview is asked for (the page asks every second), over the last
:data:`RATE_WINDOW_S` seconds — so a paused connector shows 0 within a few seconds.

Topics that nothing shown reads or writes are left out of the graph (they stay in the topic list). A job
whose graph falls into unconnected parts (the demo's ingest and analytics pipelines) gives one node
per part, so a job that writes a topic and reads it back draws as a chain, not a loop.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

#: the span rates are computed over (seconds)
RATE_WINDOW_S = 3.0


class RateTracker:
    """Per-key rates from samples of growing counters (end offsets, committed offsets, lags)."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self._samples: dict[str, deque[tuple[float, float]]] = {}

    def sample(self, key: str, value: float, now: float | None = None) -> float | None:
        """Record ``value`` for ``key`` and return its per-second change over the window (``None`` until two
        samples at least 0.5 s apart exist)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            s = self._samples.setdefault(key, deque())
            s.append((now, float(value)))
            while len(s) > 2 and s[1][0] <= now - self.window_s:
                s.popleft()
            t0, v0 = s[0]
        if now - t0 < 0.5:
            return None
        return (float(value) - v0) / (now - t0)


def _rate(metrics: dict[str, Any], *names: str) -> float:
    for n in names:
        if n in metrics:
            return float(metrics[n])
    return 0.0


def build_lineage(
    jobs: list[dict[str, Any]],
    connectors: list[dict[str, Any]],
    topics: list[dict[str, Any]],
    groups: dict[str, dict[str, Any]],
    tracker: RateTracker,
) -> dict[str, Any]:
    """``{"nodes": [{"id", "kind", "label", ...}], "edges": [{"from", "to", "rate"}]}`` of the pipeline.
    ``topics`` are :func:`~millstream.console.topics.topic_summary` rows, ``groups`` maps a group name to its
    :func:`~millstream.console.topics.group_detail`-like ``{"committed_total"}``."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []
    for t in topics:
        rate = tracker.sample("topic:" + t["name"], t["end_offset"])
        nodes["topic:" + t["name"]] = {"id": "topic:" + t["name"], "kind": "topic", "label": t["name"], "rate": rate}

    def topic_node(name: str) -> str:
        key = "topic:" + name
        nodes.setdefault(key, {"id": key, "kind": "topic", "label": name, "rate": None, "missing": True})
        return key

    for job in jobs:
        parts: dict[int, list[dict[str, Any]]] = {}
        for v in job.get("vertices", []):
            parts.setdefault(int(v.get("component", 0)), []).append(v)
        for comp, vertices in parts.items():
            nid = f"job:{job['jid']}:{comp}"
            label = job["name"] + (f" · part {comp + 1}" if len(parts) > 1 else "")
            nodes[nid] = {
                "id": nid,
                "kind": "job",
                "label": label,
                "jid": job["jid"],
                "state": job.get("state"),
                "operators": [
                    {
                        "name": v["name"],
                        "kind": v["kind"],
                        "in": _rate(v["metrics"], "numRecordsInPerSecond"),
                        "out": _rate(v["metrics"], "numRecordsOutPerSecond"),
                    }
                    for v in vertices
                ],
            }
            for v in vertices:
                out_rate = _rate(v["metrics"], "numRecordsOutPerSecond")
                if v.get("connector"):
                    cid = f"connector:{job['jid']}:{v['id']}"
                    nodes[cid] = {
                        "id": cid,
                        "kind": "connector",
                        "type": "source" if v["kind"] == "source" else "sink",
                        "label": v["connector"]["name"],
                        "class": v["connector"]["class"],
                        "state": job.get("state"),
                        "embedded": True,
                        "rate": out_rate,
                    }
                    if v["kind"] == "source":
                        edges.append({"from": cid, "to": nid, "rate": out_rate})
                    else:
                        edges.append({"from": nid, "to": cid, "rate": _rate(v["metrics"], "numRecordsInPerSecond")})
                for name in v.get("topics_in", []):
                    edges.append({"from": topic_node(name), "to": nid, "rate": out_rate})
                for name in v.get("topics_out", []):
                    edges.append({"from": nid, "to": topic_node(name), "rate": out_rate})
    for c in connectors:
        if "name" not in c:
            continue
        cid = f"connector:{c['worker']}:{c['name']}"
        running = c["state"] == "RUNNING"
        rates = []
        if c["type"] == "sink":
            group = groups.get(f"connect-{c['name']}")
            if group is not None:
                rates.append(tracker.sample("group:" + group["group"], group["committed_total"]) or 0.0)
        else:
            for t in c["topics"]:
                r = nodes.get("topic:" + t, {}).get("rate")
                rates.append(r or 0.0)
        rate = sum(rates) if running else 0.0
        nodes[cid] = {
            "id": cid,
            "kind": "connector",
            "type": c["type"],
            "label": c["name"],
            "class": c.get("class", ""),
            "state": c["state"],
            "embedded": False,
            "rate": rate,
        }
        for t in c["topics"]:
            if c["type"] == "sink":
                edges.append({"from": topic_node(t), "to": cid, "rate": rate})
            else:
                edges.append({"from": cid, "to": topic_node(t), "rate": rate})
    # merge parallel edges (several source vertices of one part reading the same topic)
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for e in edges:
        key = (e["from"], e["to"])
        if key in merged:
            merged[key]["rate"] = (merged[key]["rate"] or 0.0) + (e["rate"] or 0.0)
        else:
            merged[key] = dict(e)
    # topics nothing reads or writes (Connect's internal topics, fresh ones) stay in the topic list, not here
    linked = {e["from"] for e in merged.values()} | {e["to"] for e in merged.values()}
    shown = [n for n in nodes.values() if n["kind"] != "topic" or n["id"] in linked or not merged]
    return {"nodes": shown, "edges": list(merged.values())}


__all__ = ["RATE_WINDOW_S", "RateTracker", "build_lineage"]
