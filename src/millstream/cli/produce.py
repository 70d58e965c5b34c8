"""``millstream produce TOPIC`` — append lines from stdin or a file to a topic.

Each non-empty line is one record. ``--format json`` (default) checks every line is valid JSON;
``--key-field`` takes the record key from a field of the JSON object (keyed records are partitioned with
Kafka's murmur2, like any Kafka producer); ``--timestamp-field`` takes the record timestamp (epoch ms).
``--format string`` stores lines as UTF-8 text; ``--key-separator`` splits ``key<SEP>value`` lines.

Bad input: a malformed line (bad JSON, a missing field, bytes that are not UTF-8) stops the command with exit
code 1 and a message naming its line number; every record before it has been written (and the message says
how many), nothing after it. With ``--skip-invalid`` bad lines are reported on stderr and skipped instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

import click
import orjson

from ..core.errors import MillstreamError, SerdeError
from ..core.record import ProducerRecord
from ..log import Log
from .common import get_log, handle_errors, log_option, parse_pairs


class BadLineError(MillstreamError):
    """A line given to ``produce`` could not be turned into a record."""


def _key_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value)


def _line_to_record(
    line: str,
    fmt: str,
    key_field: str | None,
    timestamp_field: str | None,
    key_separator: str | None,
    headers: tuple[tuple[str, bytes | None], ...],
    partition: int | None,
) -> ProducerRecord:
    key: bytes | None = None
    timestamp: int | None = None
    if fmt == "json":
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise SerdeError(f"malformed JSON ({exc})") from None
        if key_field or timestamp_field:
            if not isinstance(doc, dict):
                raise SerdeError(f"expected a JSON object to read fields from, got {type(doc).__name__}")
            if key_field:
                if key_field not in doc:
                    raise SerdeError(f"no field {key_field!r} to use as the key")
                key = _key_bytes(doc[key_field])
            if timestamp_field:
                ts = doc.get(timestamp_field)
                if isinstance(ts, bool) or not isinstance(ts, int):
                    raise SerdeError(f"field {timestamp_field!r} must be an integer epoch-ms timestamp, got {ts!r}")
                timestamp = ts
        value = line.encode()
    else:
        if key_separator is not None:
            k, sep, v = line.partition(key_separator)
            if not sep:
                raise SerdeError(f"no key separator {key_separator!r} in the line")
            key, line = k.encode(), v
        value = line.encode()
    return ProducerRecord(value, key, timestamp, headers, partition)


def _decode(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        raise SerdeError(f"not valid UTF-8 (byte 0x{bad} at column {exc.start + 1})") from None


def produce_lines(
    log: Log,
    topic: str,
    stream: IO[str] | IO[bytes],
    *,
    fmt: str = "json",
    key_field: str | None = None,
    timestamp_field: str | None = None,
    key_separator: str | None = None,
    headers: tuple[tuple[str, bytes | None], ...] = (),
    partition: int | None = None,
    skip_invalid: bool = False,
    batch_size: int = 1000,
) -> tuple[int, int]:
    """Produce each non-empty line of ``stream`` (text, or bytes decoded as UTF-8 line by line, so one bad
    line is one malformed line) as a record; return (records written, lines skipped). Ctrl-C writes the whole
    lines read so far and raises :class:`ProduceInterrupted` with the counts."""
    log.describe_topic(topic)  # fail before reading input if the topic is missing
    out = _Batches(log, topic, batch_size)
    skipped = 0
    lines: Iterable[str | bytes] = stream
    try:
        for lineno, raw in enumerate(lines, start=1):
            line = raw.rstrip("\r\n") if isinstance(raw, str) else raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                line = _decode(line)
                record = _line_to_record(line, fmt, key_field, timestamp_field, key_separator, headers, partition)
            except SerdeError as exc:
                text = line if isinstance(line, str) else line.decode("utf-8", "backslashreplace")
                preview = text if len(text) <= 60 else text[:60] + "…"
                if skip_invalid:
                    click.echo(f"warning: skipped line {lineno}: {exc.message}: {preview!r}", err=True)
                    skipped += 1
                    continue
                out.flush()
                raise BadLineError(
                    f"line {lineno}: {exc.message}: {preview!r}; the {out.written} record(s) before it were "
                    f"written, nothing from line {lineno} on",
                    hint=f"fix line {lineno} and produce the rest again, or pass --skip-invalid",
                ) from None
            out.add(record)
        out.flush()
    except KeyboardInterrupt:
        out.flush()  # the whole lines read before Ctrl-C are written, not dropped
        raise ProduceInterrupted(out.written, skipped) from None
    return out.written, skipped


class ProduceInterrupted(KeyboardInterrupt):
    """Ctrl-C while producing: every whole line read before it was written (``written`` records)."""

    def __init__(self, written: int, skipped: int) -> None:
        super().__init__(written, skipped)
        self.written = written
        self.skipped = skipped


class _Batches:
    """Records on their way to ``topic``, written ``batch_size`` at a time."""

    def __init__(self, log: Log, topic: str, batch_size: int) -> None:
        self.log, self.topic, self.batch_size = log, topic, batch_size
        self.batch: list[ProducerRecord] = []
        self.written = 0

    def add(self, record: ProducerRecord) -> None:
        self.batch.append(record)
        if len(self.batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        batch, self.batch = self.batch, []  # (taken first: an interrupted flush is not written twice)
        if batch:
            self.log.produce(self.topic, batch)
            self.written += len(batch)


@click.command()
@click.argument("topic")
@click.option(
    "--file",
    "-f",
    "path",
    type=click.File("rb"),
    default="-",
    help="Read lines from PATH instead of stdin.",
)
@click.option("--format", "fmt", type=click.Choice(["json", "string"]), default="json", show_default=True)
@click.option("--key-field", metavar="FIELD", help="JSON field to use as the record key.")
@click.option("--timestamp-field", metavar="FIELD", help="JSON field holding the record timestamp (epoch ms).")
@click.option("--key-separator", metavar="SEP", help="With --format string: split each line into KEY<SEP>VALUE.")
@click.option("--partition", type=click.IntRange(min=0), help="Write every record to this partition.")
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="KEY=VALUE",
    help="Header added to every record. Repeatable.",
)
@click.option("--skip-invalid", is_flag=True, help="Report and skip malformed lines instead of stopping.")
@log_option
@handle_errors
def produce(
    topic: str,
    path: IO[bytes],
    fmt: str,
    key_field: str | None,
    timestamp_field: str | None,
    key_separator: str | None,
    partition: int | None,
    headers: tuple[str, ...],
    skip_invalid: bool,
    log_url: str | None,
    properties: tuple[str, ...],
) -> None:
    """Write lines from stdin (or --file) to TOPIC, one record per line."""
    if fmt == "string" and (key_field or timestamp_field):
        raise click.UsageError("--key-field and --timestamp-field need --format json")
    if fmt == "json" and key_separator is not None:
        raise click.UsageError("--key-separator needs --format string")
    hdrs = tuple((k, v.encode()) for k, v in parse_pairs(headers, "--header").items())
    try:
        with get_log(log_url, properties) as log:
            written, skipped = produce_lines(
                log,
                topic,
                path,
                fmt=fmt,
                key_field=key_field,
                timestamp_field=timestamp_field,
                key_separator=key_separator,
                headers=hdrs,
                partition=partition,
                skip_invalid=skip_invalid,
            )
    except ProduceInterrupted as stop:
        note = f", skipped {stop.skipped} malformed line(s)" if stop.skipped else ""
        click.echo(f"interrupted: produced {stop.written} record(s) to {topic!r}{note}", err=True)
        click.get_current_context().exit(130)
    note = f", skipped {skipped} malformed line(s)" if skipped else ""
    click.echo(f"produced {written} record(s) to {topic!r}{note}", err=True)
