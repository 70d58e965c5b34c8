"""``millstream groups list|describe|reset-offsets`` — consumer groups of any log, as ``kafka-consumer-groups``
shows and resets them.

* ``list``: group names;
* ``describe GROUP``: per partition the committed offset, the log end offset and the lag, and which live
  member owns it (the embedded log's and Kafka's group members), plus the members;
* ``reset-offsets GROUP (--topic T ... | --all-topics) (--to-earliest | --to-latest | --to-datetime ISO |
  --shift-by N) [--execute]``: prints the new offsets; only ``--execute`` commits them (a dry run by default,
  as kafka-consumer-groups). Refused while the group has live members (:mod:`millstream.log.offset_reset`).
"""

from __future__ import annotations

import datetime as _dt

import click
import orjson

from ..core.errors import ConfigError, MillstreamError
from ..core.record import TopicPartition
from ..log.offset_reset import ResetSpec, execute_reset, live_members, plan_reset
from .common import get_log, handle_errors, log_option


class UnknownGroupError(MillstreamError):
    """The group has neither committed offsets nor live members."""


@click.group("groups")
def groups() -> None:
    """List, describe and reset the offsets of consumer groups."""


@groups.command("list")
@log_option
@handle_errors
def list_cmd(log_url: str | None, properties: tuple[str, ...]) -> None:
    """Group names (groups with committed offsets), one per line."""
    with get_log(log_url, properties) as log:
        for name in log.list_groups():
            click.echo(name)


@groups.command("describe")
@click.argument("group")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@log_option
@handle_errors
def describe(group: str, as_json: bool, log_url: str | None, properties: tuple[str, ...]) -> None:
    """Committed offset, log end offset, lag and owner of every partition of GROUP, and its live members."""
    with get_log(log_url, properties) as log:
        desc = log.describe_group(group)
        members = live_members(log, group)
        owner = {tp: m for m, tps in members for tp in tps}
        rows = [(p.topic, p.partition, p.committed, p.latest, p.lag) for p in desc.partitions]
        seen = {(r[0], r[1]) for r in rows}
        for tp in sorted(owner):  # owned but not committed yet
            if (tp.topic, tp.partition) not in seen:
                end = log.latest_offset(tp.topic, tp.partition)
                rows.append((tp.topic, tp.partition, None, end, end - log.earliest_offset(tp.topic, tp.partition)))
    if not rows and not members:
        raise UnknownGroupError(
            f"consumer group {group!r} does not exist (no committed offsets, no members)",
            hint="millstream groups list shows the groups",
        )
    rows.sort(key=lambda r: (r[0], r[1]))
    if as_json:
        doc = {
            "group": group,
            "state": "Stable" if members else "Empty",
            "partitions": [
                {
                    "topic": t,
                    "partition": p,
                    "committed": c,
                    "log_end_offset": end,
                    "lag": lag,
                    "member": owner.get(TopicPartition(t, p)),
                }
                for t, p, c, end, lag in rows
            ],
            "members": [{"member": m, "assignment": [list(tp) for tp in tps]} for m, tps in members],
        }
        click.echo(orjson.dumps(doc).decode())
        return
    click.echo(f"Consumer group {group!r} is {'Stable' if members else 'Empty (no live members)'}.")
    click.echo(f"{'TOPIC':24} {'PARTITION':>9} {'CURRENT-OFFSET':>14} {'LOG-END-OFFSET':>14} {'LAG':>8}  CONSUMER-ID")
    for t, p, c, end, lag in rows:
        committed = "-" if c is None else str(c)
        click.echo(f"{t:24} {p:>9} {committed:>14} {end:>14} {lag:>8}  {owner.get(TopicPartition(t, p), '-')}")
    if members:
        click.echo("")
        click.echo(f"{'CONSUMER-ID':40} ASSIGNMENT")
        for m, tps in members:
            click.echo(f"{m:40} {', '.join(f'{tp.topic}-{tp.partition}' for tp in tps) or '-'}")


def _timestamp_ms(text: str) -> int:
    """``--to-datetime``: ISO 8601, UTC when it names no offset (``2026-12-04T05:00:00``, ``...Z``, ``+01:00``)."""
    try:
        when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ConfigError(
            f"--to-datetime {text!r} is not an ISO 8601 date-time", hint="e.g. 2026-12-04T05:00:00 (UTC) or ...+01:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return int(when.timestamp() * 1000)


@groups.command("reset-offsets")
@click.argument("group")
@click.option("--topic", "topics", multiple=True, metavar="TOPIC", help="Reset this topic's partitions. Repeatable.")
@click.option("--all-topics", is_flag=True, help="Reset every topic the group has committed offsets for.")
@click.option("--to-earliest", is_flag=True, help="To the log start offset.")
@click.option("--to-latest", is_flag=True, help="To the log end offset (skip everything there now).")
@click.option("--to-datetime", metavar="ISO", help="To the first record at or after this time (ISO 8601; UTC default).")
@click.option("--shift-by", type=int, metavar="N", help="Move the committed offset by N (negative: back).")
@click.option("--execute", is_flag=True, help="Commit the new offsets (without it: a dry run that only prints them).")
@log_option
@handle_errors
def reset_offsets(
    group: str,
    topics: tuple[str, ...],
    all_topics: bool,
    to_earliest: bool,
    to_latest: bool,
    to_datetime: str | None,
    shift_by: int | None,
    execute: bool,
    log_url: str | None,
    properties: tuple[str, ...],
) -> None:
    """Reset GROUP's committed offsets; refused while the group has live members."""
    if bool(topics) == all_topics:
        raise ConfigError("give --topic TOPIC (repeatable) or --all-topics")
    if to_earliest and to_latest:
        raise ConfigError("give exactly one of --to-earliest, --to-latest, --to-datetime, --shift-by")
    spec = ResetSpec(
        to="earliest" if to_earliest else "latest" if to_latest else None,
        timestamp_ms=_timestamp_ms(to_datetime) if to_datetime is not None else None,
        shift_by=shift_by,
    )
    with get_log(log_url, properties) as log:
        chosen = list(topics) or sorted({tp.topic for tp in log.committed_offsets(group)})
        if not chosen:
            raise UnknownGroupError(f"consumer group {group!r} has no committed offsets", hint="name --topic TOPIC")
        plan = plan_reset(log, group, chosen, spec)
        if execute:
            execute_reset(log, group, plan)
    click.echo(f"{'GROUP':24} {'TOPIC':24} {'PARTITION':>9} {'NEW-OFFSET':>10}")
    for tp, off in sorted(plan.items()):
        click.echo(f"{group:24} {tp.topic:24} {tp.partition:>9} {off:>10}")
    if not execute:
        click.echo("(dry run: nothing was committed; add --execute to commit these offsets)")


__all__ = ["groups"]
