"""``millstream consume TOPIC`` — print records as JSON lines.

Each output line is ``{"topic","partition","offset","timestamp","key","value","headers"}``. Keys and
header values are printed as text when they are UTF-8, else base64 (with ``"key_encoding": "base64"``).
With ``--format json`` (default) values are embedded as JSON; a value that is not valid JSON is printed as
text with ``"value_error"`` set rather than stopping the command. ``--format bytes`` prints base64.

Positions, as in Kafka's console consumer: from the group's committed offsets when ``--group`` has them,
otherwise from the beginning with ``--from-beginning`` and from the end without it; ``--partition`` with
``--offset`` starts at an exact place. Without ``--follow`` it stops at the end offsets seen at start;
with ``--follow`` it waits for new records until Ctrl-C (or ``--max-messages``). With ``--group`` the
positions are committed when it stops.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import click
import orjson

from ..core.errors import ConfigError
from ..core.record import Record, TopicPartition
from .common import get_log, handle_errors, log_option


def _text_or_b64(data: bytes | None) -> tuple[Any, bool]:
    if data is None:
        return None, False
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), True


def record_to_json(rec: Record, fmt: str) -> dict[str, Any]:
    """The JSON object printed for one record."""
    doc: dict[str, Any] = {
        "topic": rec.topic,
        "partition": rec.partition,
        "offset": rec.offset,
        "timestamp": rec.timestamp,
    }
    key, key_b64 = _text_or_b64(rec.key)
    doc["key"] = key
    if key_b64:
        doc["key_encoding"] = "base64"
    value = rec.value
    if value is None:
        doc["value"] = None
    elif fmt == "json":
        try:
            doc["value"] = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            text, b64 = _text_or_b64(value)
            doc["value"] = text
            if b64:
                doc["value_encoding"] = "base64"
            doc["value_error"] = f"malformed JSON: {exc}"
    elif fmt == "string":
        text, b64 = _text_or_b64(value)
        doc["value"] = text
        if b64:
            doc["value_encoding"] = "base64"
    else:
        doc["value"] = base64.b64encode(value).decode("ascii")
        doc["value_encoding"] = "base64"
    if rec.headers:
        doc["headers"] = [[name, _text_or_b64(v)[0]] for name, v in rec.headers]
    else:
        doc["headers"] = []
    return doc


@click.command()
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="Start at the earliest offset when there is no committed one.")
@click.option("--group", "-g", metavar="GROUP", help="Consumer group: resume from and commit to its offsets.")
@click.option("--max-messages", "-n", type=click.IntRange(min=1), help="Stop after this many records.")
@click.option("--follow", "-F", is_flag=True, help="Keep waiting for new records (until Ctrl-C).")
@click.option("--partition", type=click.IntRange(min=0), help="Read only this partition.")
@click.option("--offset", type=click.IntRange(min=0), help="With --partition: start at this offset.")
@click.option("--format", "fmt", type=click.Choice(["json", "string", "bytes"]), default="json", show_default=True)
@log_option
@handle_errors
def consume(
    topic: str,
    from_beginning: bool,
    group: str | None,
    max_messages: int | None,
    follow: bool,
    partition: int | None,
    offset: int | None,
    fmt: str,
    log_url: str | None,
    properties: tuple[str, ...],
) -> None:
    """Print records of TOPIC as JSON lines."""
    if offset is not None and partition is None:
        raise click.UsageError("--offset needs --partition")
    with get_log(log_url, properties, must_exist=True) as log:
        desc = log.describe_topic(topic)
        reset = "earliest" if from_beginning else "latest"
        consumer = log.consumer(group, auto_offset_reset=reset)
        try:
            if partition is not None:
                if partition >= desc.partitions:
                    from ..core.errors import UnknownPartitionError

                    raise UnknownPartitionError(topic, partition, desc.partitions)
                tps = [TopicPartition(topic, partition)]
                consumer.assign(tps)
                if offset is not None:
                    latest = log.latest_offset(topic, partition)
                    earliest = log.earliest_offset(topic, partition)
                    if not earliest <= offset <= latest:
                        raise ConfigError(
                            f"--offset {offset} is outside {topic}[{partition}]'s range {earliest}..{latest}"
                        )
                    consumer.seek(tps[0], offset)
            else:
                tps = desc.partitions_list()
                consumer.assign(tps)
            ends = {tp: log.latest_offset(tp.topic, tp.partition) for tp in tps}
            printed = 0
            rewind: dict[TopicPartition, int] = {}  # records read past the end (not printed) are re-read later
            while True:
                if not follow and all(consumer.position(tp) >= ends[tp] for tp in tps):
                    break
                want = 500 if max_messages is None else min(500, max_messages - printed)
                batch = consumer.poll(timeout_ms=200, max_records=want)
                for rec in batch:
                    if not follow and rec.offset >= ends[rec.topic_partition]:
                        rewind.setdefault(rec.topic_partition, rec.offset)
                        continue
                    click.echo(orjson.dumps(record_to_json(rec, fmt)).decode())
                    printed += 1
                if max_messages is not None and printed >= max_messages:
                    break
                if not batch and not follow:
                    time.sleep(0.01)
            for tp, off in rewind.items():
                consumer.seek(tp, off)
        finally:
            consumer.close()
