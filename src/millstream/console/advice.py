"""Tuning advice from live metrics: name the bottleneck and say what to change.

:func:`advise` looks at one job (the console's job JSON, :func:`~millstream.console.jobs.job_json`) and the
partitions of the topics it reads, and returns findings, most important first, each
``{"severity": "warn"|"info", "title", "detail", "fix", "vertex"?}``:

1. **busy** — a vertex (or the job's single chained task) busy ≥ :data:`BUSY_MS` ms per second: it limits
   throughput; raise the parallelism of that operator (``.set_parallelism(n)`` / ``millstream run -p N``);
2. **back pressure** — sinks waiting on the log ≥ :data:`BACKPRESSURE_MS` ms per second: the output topic
   (or Kafka) takes records slower than the job makes them; more partitions / a faster log;
3. **watermark held back** — a source whose topic has a partition that gets no new records while others do,
   with the watermark lagging ≥ :data:`WATERMARK_LAG_MS` (or none at all while records flow): that
   partition holds every window back; add ``.with_idleness(...)`` to the watermark strategy (when it has
   none);
4. **consumer lag growing** — a log source whose ``records-lag-max`` grew over the last samples: the job
   reads slower than the topic is written; raise the source's parallelism together with the topic's
   partitions (a source subtask reads whole partitions);
5. **slow checkpoints** — the last checkpoint took longer than the checkpoint interval: raise the interval
   (``enable_checkpointing(ms)``) or shrink the state.

Without findings it says so (``info``). Thresholds are module constants; rates of change come from the
console's :class:`~millstream.console.lineage.RateTracker`.
"""

from __future__ import annotations

from typing import Any

from .lineage import RateTracker

BUSY_MS = 800.0
BACKPRESSURE_MS = 100.0
WATERMARK_LAG_MS = 5_000
LAG_GROWTH_PER_S = 1.0


def _m(v: dict[str, Any], name: str) -> float:
    return float(v.get("metrics", {}).get(name, 0.0))


def advise(
    job: dict[str, Any], partition_ends: dict[str, list[int]] | None = None, tracker: RateTracker | None = None
) -> list[dict[str, Any]]:
    """The findings for ``job`` (see the module docstring). ``partition_ends`` maps each topic the job reads to
    its partitions' end offsets now (for the idle-partition check); ``tracker`` keeps rates across calls."""
    out: list[dict[str, Any]] = []
    vertices = job.get("vertices", [])
    if job.get("state") not in (None, "RUNNING", "RESTARTING", "CREATED"):
        return [
            {
                "severity": "info",
                "title": f"the job has ended ({job.get('state')})",
                "detail": "its metrics are the final ones; advice applies to running jobs",
                "fix": "start it again (millstream run ...) to tune it",
            }
        ]
    # 1. busy
    busy = sorted(vertices, key=lambda v: _m(v, "busyTimeMsPerSecond"), reverse=True)
    if busy and _m(busy[0], "busyTimeMsPerSecond") >= BUSY_MS:
        top = busy[0]
        share = _m(top, "busyTimeMsPerSecond") / 10
        same = [v for v in vertices if abs(_m(v, "busyTimeMsPerSecond") - _m(top, "busyTimeMsPerSecond")) < 1]
        if len(same) == len(vertices) and len(vertices) > 1 and all(v["parallelism"] == 1 for v in vertices):
            heaviest = max(vertices, key=lambda v: _m(v, "numRecordsInPerSecond"))
            out.append(
                {
                    "severity": "warn",
                    "title": f"the job's task is busy {share:.0f}% of the time",
                    "detail": "every operator runs chained in one thread, which computes almost all the time: the "
                    f"job cannot go faster; {heaviest['name']!r} handles the most records "
                    f"({_m(heaviest, 'numRecordsInPerSecond'):,.0f}/s in)",
                    "fix": "raise the parallelism (millstream run -p 2, or .set_parallelism(2) on "
                    f"{heaviest['name']!r})",
                    "vertex": heaviest["id"],
                }
            )
        else:
            out.append(
                {
                    "severity": "warn",
                    "title": f"{top['name']!r} is the bottleneck: busy {share:.0f}% of the time",
                    "detail": f"it runs with parallelism {top['parallelism']} and computes almost all the time",
                    "fix": f"raise its parallelism: .set_parallelism({top['parallelism'] * 2}) on {top['name']!r}",
                    "vertex": top["id"],
                }
            )
    # 2. back pressure
    bp = [v for v in vertices if _m(v, "backPressuredTimeMsPerSecond") >= BACKPRESSURE_MS]
    if bp:
        sinks = [v for v in vertices if v["kind"] == "sink" and v.get("topics_out")]
        topics = sorted({t for v in sinks for t in v["topics_out"]})
        top = max(bp, key=lambda v: _m(v, "backPressuredTimeMsPerSecond"))
        out.append(
            {
                "severity": "warn",
                "title": f"back pressure: {_m(top, 'backPressuredTimeMsPerSecond') / 10:.0f}% of the time waiting "
                "for output",
                "detail": "the sinks wait for the log to take their records"
                + (f" (writing {', '.join(topics)})" if topics else ""),
                "fix": "give the output topics more partitions and the sinks more parallelism, or a faster log "
                "(file://...?synchronous=normal, or Kafka)",
                "vertex": top["id"],
            }
        )
    # 3. a partition holding the watermark back
    for v in vertices:
        if v["kind"] != "source" or not v.get("topics_in") or partition_ends is None:
            continue
        lag = v.get("metrics", {}).get("watermarkLagMs")
        stuck = lag is None and _m(v, "numRecordsOut") > 0  # records flow, but no watermark at all yet
        if v.get("idleness_ms") or not (stuck or (lag is not None and lag >= WATERMARK_LAG_MS)):
            continue
        for topic in v["topics_in"]:
            ends = partition_ends.get(topic) or []
            if len(ends) < 2 or tracker is None:
                continue
            rates = [tracker.sample(f"advice:{job['jid']}:{topic}:{p}", e) for p, e in enumerate(ends)]
            if any(r is None for r in rates):
                continue
            idle = [p for p, r in enumerate(rates) if r is not None and r <= 0]
            if idle and len(idle) < len(ends):
                out.append(
                    {
                        "severity": "warn",
                        "title": f"partition {topic}-{idle[0]} holds the watermark back "
                        + ("(no watermark yet)" if lag is None else f"({lag / 1000:.0f} s behind)"),
                        "detail": f"{len(idle)} of {len(ends)} partitions of {topic} get no new records, and the "
                        f"watermark of {v['name']!r} is the minimum over all of them",
                        "fix": "mark idle partitions: WatermarkStrategy...with_idleness(Duration.of_seconds(5))",
                        "vertex": v["id"],
                    }
                )
    # 4. consumer lag growing
    for v in vertices:
        if "records-lag-max" not in v.get("metrics", {}) or tracker is None:
            continue
        growth = tracker.sample(f"advice:{job['jid']}:{v['id']}:lag", _m(v, "records-lag-max"))
        if growth is not None and growth >= LAG_GROWTH_PER_S and _m(v, "records-lag-max") > 0:
            names = ", ".join(v.get("topics_in", [])) or "its topics"
            out.append(
                {
                    "severity": "warn",
                    "title": f"consumer lag of {v['name']!r} grows by {growth:,.0f} records/s",
                    "detail": f"{names} is written faster than the job reads it (lag now "
                    f"{_m(v, 'records-lag-max'):,.0f} records)",
                    "fix": f"raise the parallelism of {v['name']!r} and give {names} more partitions "
                    "(a source subtask reads whole partitions)",
                    "vertex": v["id"],
                }
            )
    # 5. checkpoints slower than their interval
    interval = job.get("checkpoint_interval_ms")
    last = job.get("metrics", {}).get("lastCheckpointDuration")
    if interval and last is not None and last > interval:
        out.append(
            {
                "severity": "warn",
                "title": f"checkpoints take {last:,.0f} ms, longer than their {interval:,} ms interval",
                "detail": "a checkpoint starts as soon as the previous one ends, so the job spends its time "
                "checkpointing",
                "fix": f"raise the interval: env.enable_checkpointing({int(last * 3)}), or keep less state",
            }
        )
    if not out:
        out.append(
            {
                "severity": "info",
                "title": "no bottleneck found",
                "detail": "no operator is busy ≥ 80%, nothing is back-pressured, no partition holds the watermark "
                "back, consumer lag is not growing and checkpoints fit their interval",
                "fix": "",
            }
        )
    return out


def format_advice(job: dict[str, Any], findings: list[dict[str, Any]]) -> str:
    """The findings as plain text (for the terminal)."""
    lines = [f"{job['name']} ({job['jid']}) {job.get('state', '')}"]
    for f in findings:
        lines.append(f"  [{f['severity']}] {f['title']}")
        if f.get("detail"):
            lines.append(f"         {f['detail']}")
        if f.get("fix"):
            lines.append(f"    fix: {f['fix']}")
    return "\n".join(lines)


__all__ = ["BACKPRESSURE_MS", "BUSY_MS", "LAG_GROWTH_PER_S", "WATERMARK_LAG_MS", "advise", "format_advice"]
