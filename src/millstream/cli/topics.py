"""``millstream topics create|list|describe|alter|delete`` — manage topics on any log."""

from __future__ import annotations

import click
import orjson

from ..core.errors import TopicExistsError, UnknownTopicError
from .common import get_log, handle_errors, log_option, parse_pairs


@click.group()
def topics() -> None:
    """Create, list, describe and delete topics."""


@topics.command("create")
@click.argument("name")
@click.option("--partitions", "-p", type=click.IntRange(min=1), default=1, show_default=True, help="Partition count.")
@click.option("--replication-factor", type=click.IntRange(min=1), default=1, show_default=True, help="Kafka only.")
@click.option(
    "--config",
    "-c",
    "configs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Topic config, e.g. retention.ms=60000.",
)
@click.option("--if-not-exists", is_flag=True, help="Succeed quietly if the topic already exists.")
@log_option
@handle_errors
def create(
    name: str,
    partitions: int,
    replication_factor: int,
    configs: tuple[str, ...],
    if_not_exists: bool,
    log_url: str | None,
    properties: tuple[str, ...],
) -> None:
    """Create topic NAME."""
    config = parse_pairs(configs, "--config")
    with get_log(log_url, properties) as log:
        try:
            desc = log.create_topic(name, partitions, config, replication_factor=replication_factor)
        except TopicExistsError:
            if not if_not_exists:
                raise
            click.echo(f"topic {name!r} already exists")
            return
        click.echo(f"created topic {desc.name!r} with {desc.partitions} partition(s)")


@topics.command("list")
@log_option
@handle_errors
def list_(log_url: str | None, properties: tuple[str, ...]) -> None:
    """List topic names, one per line."""
    with get_log(log_url, properties, must_exist=True) as log:
        for name in log.list_topics():
            click.echo(name)


@topics.command("describe")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@log_option
@handle_errors
def describe(name: str, as_json: bool, log_url: str | None, properties: tuple[str, ...]) -> None:
    """Show partitions (with earliest/latest offsets) and config of topic NAME."""
    with get_log(log_url, properties, must_exist=True) as log:
        desc = log.describe_topic(name)
        parts = [
            {
                "partition": p,
                "earliest": log.earliest_offset(name, p),
                "latest": log.latest_offset(name, p),
            }
            for p in range(desc.partitions)
        ]
    if as_json:
        doc = {"topic": desc.name, "partitions": parts, "config": dict(desc.config)}
        click.echo(orjson.dumps(doc).decode())
        return
    click.echo(f"Topic: {desc.name}\tPartitions: {desc.partitions}\tReplicationFactor: {desc.replication_factor}")
    click.echo("Config: " + ",".join(f"{k}={v}" for k, v in sorted(desc.config.items())))
    for row in parts:
        click.echo(f"\tPartition: {row['partition']}\tEarliest: {row['earliest']}\tLatest: {row['latest']}")


@topics.command("alter")
@click.argument("name")
@click.option(
    "--partitions", "-p", type=click.IntRange(min=1), required=True, help="The new partition count (increase only)."
)
@log_option
@handle_errors
def alter(name: str, partitions: int, log_url: str | None, properties: tuple[str, ...]) -> None:
    """Add partitions to topic NAME (as kafka-topics --alter --partitions: they can only be added)."""
    with get_log(log_url, properties) as log:
        desc = log.create_partitions(name, partitions)
    click.echo(f"topic {desc.name!r} now has {desc.partitions} partition(s)")


@topics.command("delete")
@click.argument("name")
@click.option("--if-exists", is_flag=True, help="Succeed quietly if the topic does not exist.")
@log_option
@handle_errors
def delete(name: str, if_exists: bool, log_url: str | None, properties: tuple[str, ...]) -> None:
    """Delete topic NAME and all its records."""
    with get_log(log_url, properties, must_exist=True) as log:
        try:
            log.delete_topic(name)
        except UnknownTopicError:
            if not if_exists:
                raise
            click.echo(f"topic {name!r} does not exist")
            return
    click.echo(f"deleted topic {name!r}")
