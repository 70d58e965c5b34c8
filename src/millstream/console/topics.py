"""The console's view of the log: topics, partitions and offsets, a message browser, produce, create/delete.

Everything here works on any :class:`~millstream.log.base.Log` through its public API (plus, for the
embedded log only, a read of its stored batch sizes for the "size" column). Functions return JSON-able
dicts and raise :class:`ConsoleError` (an HTTP status and a message naming the problem and the fix) for bad
input; log errors (unknown topic, partition, offset out of range) are turned into 400/404 answers.

Message browsing never loads a whole topic: a page reads at most ``limit`` records per partition from a
start position (``mode``: ``beginning``, ``end``, ``offset`` or ``timestamp``) and returns a ``cursor``
(``"partition:offset,..."``) to continue from. With a ``filter`` a page scans at most
:data:`SCAN_BUDGET` records and reports how far it got, so a filter matching nothing never scans forever.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from typing import Any

import orjson

from ..core.errors import MillstreamError, TopicExistsError, UnknownPartitionError, UnknownTopicError
from ..core.record import ProducerRecord, Record
from ..log.base import Log, validate_topic_config, validate_topic_name

#: records a filtered page may scan before it returns what it found (with a cursor to go on)
SCAN_BUDGET = 5_000
#: the largest page a browse request may ask for
MAX_LIMIT = 500
FORMATS = ("auto", "json", "string", "avro", "hex")
MODES = ("beginning", "end", "offset", "timestamp")


class ConsoleError(MillstreamError):
    """A console request that cannot be served: ``status`` (400, 404, 409, ...) and a message with the fix."""

    def __init__(self, status: int, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


def _describe(log: Log, topic: str) -> Any:
    try:
        return log.describe_topic(topic)
    except UnknownTopicError:
        raise ConsoleError(404, f"topic {topic!r} does not exist", hint="the Topics page lists the topics") from None


def _sizes(log: Log, topic: str, partitions: int) -> list[int | None]:
    """Bytes stored per partition (the embedded log keeps them per batch); ``None`` where the log cannot say."""
    snapshot = getattr(log, "_snapshot", None)
    resolve = getattr(log, "_resolve", None)
    if snapshot is None or resolve is None:
        return [None] * partitions
    try:
        with snapshot("reading topic sizes") as conn:
            tid = resolve(conn, topic)
            rows = dict(
                conn.execute(
                    "SELECT partition, coalesce(sum(byte_size), 0) FROM batches WHERE topic_id=? GROUP BY partition",
                    (tid,),
                ).fetchall()
            )
    except Exception:  # an older or foreign layout: no sizes rather than no page
        return [None] * partitions
    return [int(rows.get(p, 0)) for p in range(partitions)]


def partitions_of(log: Log, topic: str) -> list[dict[str, Any]]:
    """``[{"partition", "earliest", "latest", "records", "bytes"}]`` of a topic (``records``: end - start,
    compaction gaps included)."""
    desc = _describe(log, topic)
    sizes = _sizes(log, topic, desc.partitions)
    out = []
    for p in range(desc.partitions):
        lo, hi = log.earliest_offset(topic, p), log.latest_offset(topic, p)
        out.append({"partition": p, "earliest": lo, "latest": hi, "records": hi - lo, "bytes": sizes[p]})
    return out


def topic_summary(log: Log, topic: str) -> dict[str, Any]:
    """One row of the topics list: partitions, record count, size, retention and compaction settings."""
    desc = _describe(log, topic)
    parts = partitions_of(log, topic)
    sizes = [p["bytes"] for p in parts]
    cfg = dict(desc.config)
    return {
        "name": topic,
        "partitions": desc.partitions,
        "replication_factor": desc.replication_factor,
        "records": sum(p["records"] for p in parts),
        "end_offset": sum(p["latest"] for p in parts),
        "bytes": None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None),
        "retention_ms": int(cfg.get("retention.ms", "-1")),
        "retention_bytes": int(cfg.get("retention.bytes", "-1")),
        "cleanup_policy": cfg.get("cleanup.policy", "delete"),
        "config": cfg,
    }


def list_topics(log: Log) -> list[dict[str, Any]]:
    """Every topic as :func:`topic_summary` rows (topics deleted meanwhile are left out)."""
    out = []
    for name in log.list_topics():
        try:
            out.append(topic_summary(log, name))
        except ConsoleError:
            continue
    return out


def topic_detail(log: Log, topic: str) -> dict[str, Any]:
    """A topic's summary, its partitions' offsets and the groups that committed offsets on it."""
    out = topic_summary(log, topic)
    out["partition_offsets"] = partitions_of(log, topic)
    groups = []
    for g in log.list_groups():
        try:
            committed = log.committed_offsets(g)
        except MillstreamError:
            continue
        if any(tp.topic == topic for tp in committed):
            groups.append(g)
    out["groups"] = groups
    return out


def create_topic(log: Log, body: Any) -> dict[str, Any]:
    """Create a topic from ``{"name", "partitions"?, "config"?}``; 409 when it exists, 400 on a bad name or
    config (the message names the rule)."""
    if not isinstance(body, dict):
        raise ConsoleError(400, 'send a JSON object {"name": ..., "partitions": ..., "config": {...}}')
    name = str(body.get("name") or "")
    partitions = body.get("partitions", 1)
    try:
        partitions = int(partitions)
    except (TypeError, ValueError):
        raise ConsoleError(400, f"partitions must be a whole number, got {partitions!r}") from None
    if partitions < 1:
        raise ConsoleError(400, f"partitions must be at least 1, got {partitions}")
    config = body.get("config") or {}
    if not isinstance(config, dict):
        raise ConsoleError(400, 'config must be an object of topic settings, e.g. {"retention.ms": "60000"}')
    try:
        validate_topic_name(name)
        config = validate_topic_config({k: v for k, v in config.items() if str(v) != ""})
        log.create_topic(name, partitions, config)
    except TopicExistsError:
        raise ConsoleError(409, f"topic {name!r} already exists", hint="pick another name or delete it first") from None
    except MillstreamError as exc:
        raise ConsoleError(400, exc.message, hint=exc.hint) from None
    return topic_summary(log, name)


def delete_topic(log: Log, topic: str) -> None:
    """Delete a topic (404 when it does not exist)."""
    _describe(log, topic)
    log.delete_topic(topic)


# -- decoding ----------------------------------------------------------------------------------------------


def _avro_decoder(schema_text: str | None) -> Callable[[bytes], Any]:
    import io

    import fastavro

    if not schema_text:
        raise ConsoleError(
            400, "Avro needs the writer's schema", hint="paste the Avro schema (JSON) into the schema box"
        )
    try:
        schema = fastavro.parse_schema(orjson.loads(schema_text))
    except Exception as exc:
        raise ConsoleError(400, f"the Avro schema is not valid: {exc}", hint="paste a JSON Avro schema") from None

    def decode(data: bytes) -> Any:
        if len(data) > 5 and data[0] == 0:  # Confluent's wire format: magic byte 0 + 4-byte schema id
            data = data[5:]
        return fastavro.schemaless_reader(io.BytesIO(data), schema)

    return decode


def decode(data: bytes | None, fmt: str, avro: Callable[[bytes], Any] | None = None) -> dict[str, Any]:
    """``{"format", "value"}`` of ``data`` decoded as ``fmt`` (``auto``: JSON, else UTF-8 text, else hex);
    a value that does not decode as asked shows as hex with ``error`` saying why."""
    if data is None:
        return {"format": "null", "value": None}
    if fmt in ("auto", "json"):
        try:
            return {"format": "json", "value": orjson.loads(data)}
        except orjson.JSONDecodeError:
            if fmt == "json":
                return {"format": "hex", "value": data.hex(), "error": "not valid JSON"}
    if fmt in ("auto", "string"):
        try:
            return {"format": "string", "value": data.decode("utf-8")}
        except UnicodeDecodeError:
            if fmt == "string":
                return {"format": "hex", "value": data.hex(), "error": "not valid UTF-8"}
    if fmt == "avro" and avro is not None:
        try:
            return {"format": "avro", "value": _jsonable(avro(data))}
        except Exception as exc:
            return {"format": "hex", "value": data.hex(), "error": f"not Avro of this schema: {exc}"}
    return {"format": "hex", "value": data.hex()}


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v if isinstance(v, str | int | float | bool) or v is None else str(v)


def _render(rec: Record, key_fmt: str, value_fmt: str, avro: Callable[[bytes], Any] | None) -> dict[str, Any]:
    return {
        "partition": rec.partition,
        "offset": rec.offset,
        "timestamp": rec.timestamp,
        "key": decode(rec.key, key_fmt, avro if key_fmt == "avro" else None),
        "value": decode(rec.value, value_fmt, avro),
        "headers": [{"key": k, **decode(v, "auto")} for k, v in rec.headers],
        "size": len(rec.key or b"") + len(rec.value or b""),
    }


# -- filters -----------------------------------------------------------------------------------------------


def compile_filter(text: str | None) -> Callable[[dict[str, Any]], bool] | None:
    """A predicate over a rendered message. ``text`` is a substring (case-insensitive) or ``/regex/`` (``/re/i``
    ignores case); either may be scoped with ``key:``, ``value:`` or ``headers:``. An invalid regex is a
    400 naming the error."""
    if not text or not text.strip():
        return None
    text = text.strip()
    scope = "all"
    m = re.match(r"^(key|value|headers):\s*(.*)$", text, re.S)
    if m:
        scope, text = m.group(1), m.group(2)
    rx = re.fullmatch(r"/(.*)/([a-z]*)", text, re.S)
    if rx:
        flags = 0
        for f in rx.group(2):
            if f not in "ism":
                raise ConsoleError(
                    400, f"filter {text!r}: unknown regex flag {f!r}", hint="use i, s or m, e.g. /error/i"
                )
            flags |= {"i": re.I, "s": re.S, "m": re.M}[f]
        try:
            pattern = re.compile(rx.group(1), flags)
        except re.error as exc:
            raise ConsoleError(
                400,
                f"filter {text!r} is not a valid regular expression: {exc}",
                hint="fix the pattern, or type plain text to search for a substring",
            ) from None
        match: Callable[[str], bool] = lambda s: pattern.search(s) is not None  # noqa: E731
    else:
        needle = text.lower()
        match = lambda s: needle in s.lower()  # noqa: E731

    def pick(msg: dict[str, Any]) -> str:
        parts = {
            "key": _text(msg["key"]),
            "value": _text(msg["value"]),
            "headers": " ".join(f"{h['key']}={_text(h)}" for h in msg["headers"]),
        }
        return parts[scope] if scope != "all" else "\n".join(parts.values())

    return lambda msg: match(pick(msg))


def _text(decoded: dict[str, Any]) -> str:
    v = decoded.get("value")
    if v is None:
        return ""
    return v if isinstance(v, str) else orjson.dumps(v).decode()


# -- browsing ----------------------------------------------------------------------------------------------


def _int(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise ConsoleError(400, f"{what} must be a whole number, got {value!r}") from None


def _parse_cursor(cursor: str, partitions: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for part in cursor.split(","):
        p, sep, o = part.partition(":")
        if not sep:
            raise ConsoleError(400, f"cursor {cursor!r} is not partition:offset,...", hint="start the browse again")
        pi, oi = _int(p, "a cursor partition"), _int(o, "a cursor offset")
        if not 0 <= pi < partitions:
            raise ConsoleError(400, f"cursor names partition {pi}, the topic has {partitions}")
        out[pi] = oi
    return out


def _timestamp(value: str) -> int:
    value = value.strip()
    if value.lstrip("-").isdigit():
        return int(value)
    from datetime import UTC, datetime

    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConsoleError(
            400, f"timestamp {value!r} is neither epoch milliseconds nor an ISO date", hint="e.g. 2026-12-03T10:00:00Z"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _starts(log: Log, topic: str, partitions: list[int], mode: str, at: str | None, window: int) -> dict[int, int]:
    starts: dict[int, int] = {}
    for p in partitions:
        lo, hi = log.earliest_offset(topic, p), log.latest_offset(topic, p)
        if mode == "beginning":
            starts[p] = lo
        elif mode == "end":
            starts[p] = max(lo, hi - window)
        elif mode == "offset":
            off = _int(at, "the offset")
            if off < 0:
                raise ConsoleError(400, f"offset {off} is negative", hint="offsets start at 0")
            if off > hi:
                raise ConsoleError(
                    400,
                    f"offset {off} is past the end of {topic}-{p} (its next offset is {hi}, "
                    f"its records are {lo}..{hi - 1 if hi > lo else lo})",
                    hint=f"pick an offset from {lo} to {hi}, or browse from the end",
                )
            starts[p] = max(off, lo)
        else:
            ts = _timestamp(at or "")
            found = log.offset_for_timestamp(topic, p, ts)
            starts[p] = hi if found is None else max(found, lo)
    return starts


def browse(
    log: Log,
    topic: str,
    *,
    mode: str = "beginning",
    at: str | None = None,
    partition: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
    filter_text: str | None = None,
    key_format: str = "auto",
    value_format: str = "auto",
    avro_schema: str | None = None,
) -> dict[str, Any]:
    """One page of a topic's messages, oldest first: ``{"messages", "cursor", "scanned", "end",
    "partitions"}``. The start comes from ``cursor`` when given, else from ``mode``/``at`` (an offset, or a
    timestamp in epoch ms or ISO form). ``end`` is true when the page reached the log end of every partition
    read. From the ``end`` with a filter, the newest :data:`SCAN_BUDGET` records of each partition are searched
    and the newest matches returned. Bad input (unknown mode/format, an offset past the end, an invalid
    filter) is a 400 naming the fix."""
    if mode not in MODES:
        raise ConsoleError(400, f"unknown browse mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
    for what, fmt in (("key", key_format), ("value", value_format)):
        if fmt not in FORMATS:
            raise ConsoleError(400, f"unknown {what} format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise ConsoleError(400, f"limit {limit} is out of range", hint=f"ask for 1 to {MAX_LIMIT} messages a page")
    desc = _describe(log, topic)
    if partition is not None and not 0 <= partition < desc.partitions:
        raise ConsoleError(
            400, f"topic {topic!r} has no partition {partition}", hint=f"pick 0..{desc.partitions - 1} or all"
        )
    predicate = compile_filter(filter_text)
    avro = _avro_decoder(avro_schema) if "avro" in (key_format, value_format) else None
    parts = [partition] if partition is not None else list(range(desc.partitions))
    if cursor:
        positions = {p: o for p, o in _parse_cursor(cursor, desc.partitions).items() if p in parts}
    else:
        positions = _starts(log, topic, parts, mode, at, SCAN_BUDGET if predicate is not None else limit)
    newest = mode == "end" and not cursor  # keep the newest matches of the window, not the oldest
    found: list[dict[str, Any]] = []
    scanned = 0
    budget = SCAN_BUDGET if predicate is not None else limit * len(positions)
    ends = {p: log.latest_offset(topic, p) for p in positions}
    try:
        for p in sorted(positions):
            pos, taken = positions[p], 0
            while pos < ends[p] and scanned < budget and (taken < limit or newest):
                want = (limit - taken) if predicate is None else 500
                recs = log.read(topic, p, pos, max_records=max(1, min(want, budget - scanned)))
                if not recs:
                    break
                for rec in recs:
                    scanned += 1
                    pos = rec.offset + 1
                    msg = _render(rec, key_format, value_format, avro)
                    if predicate is None or predicate(msg):
                        found.append(msg)
                        taken += 1
                    if (taken >= limit and not newest) or scanned >= budget:
                        break
            positions[p] = pos
    except UnknownPartitionError as exc:
        raise ConsoleError(400, exc.message) from None
    found.sort(key=lambda m: (m["timestamp"], m["partition"], m["offset"]))
    if len(found) > limit:
        if newest:
            found = found[-limit:]
        else:  # keep the oldest `limit`; a partition with dropped messages resumes at its first dropped one
            for m in found[limit:]:
                positions[m["partition"]] = min(positions[m["partition"]], m["offset"])
            found = found[:limit]
    at_end = all(positions[p] >= ends[p] for p in positions)
    return {
        "topic": topic,
        "messages": found,
        "cursor": ",".join(f"{p}:{o}" for p, o in sorted(positions.items())),
        "scanned": scanned,
        "end": at_end,
        "partitions": desc.partitions,
    }


def _encode(value: Any, what: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    return orjson.dumps(value)


def produce(log: Log, topic: str, body: Any) -> dict[str, Any]:
    """Append one message ``{"key"?, "value", "headers"? {name: text} or [[name, text]], "partition"?,
    "value_is_json"?}`` and return its ``partition``/``offset``. Strings are sent as UTF-8 text; with
    ``value_is_json`` the value must parse as JSON (a 400 says where it does not)."""
    desc = _describe(log, topic)
    if not isinstance(body, dict):
        raise ConsoleError(400, 'send a JSON object {"key": ..., "value": ..., "headers": {...}}')
    headers_in = body.get("headers") or {}
    if isinstance(headers_in, dict):
        pairs = list(headers_in.items())
    elif isinstance(headers_in, list) and all(isinstance(h, list | tuple) and len(h) == 2 for h in headers_in):
        pairs = [tuple(h) for h in headers_in]
    else:
        raise ConsoleError(400, "headers must be an object {name: value} or a list of [name, value] pairs")
    headers = tuple((str(k), _encode(v, "header")) for k, v in pairs)
    value = body.get("value")
    if body.get("value_is_json") and isinstance(value, str):
        try:
            orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ConsoleError(400, f"the value is not valid JSON: {exc}", hint="fix it or untick JSON") from None
    partition = body.get("partition")
    if partition in ("", None):
        partition = None
    else:
        partition = _int(partition, "partition")
        if not 0 <= partition < desc.partitions:
            raise ConsoleError(
                400, f"topic {topic!r} has no partition {partition}", hint=f"use 0..{desc.partitions - 1}"
            )
    rec = ProducerRecord(
        _encode(value, "value"), _encode(body.get("key"), "key"), int(time.time() * 1000), headers, partition
    )
    [(p, off)] = log.produce(topic, [rec])
    return {"topic": topic, "partition": p, "offset": off}


def list_groups(log: Log) -> list[dict[str, Any]]:
    """Every consumer group with its topics, partitions and total lag."""
    out = []
    for g in log.list_groups():
        try:
            d = log.describe_group(g)
        except MillstreamError:
            continue
        out.append(
            {
                "group": g,
                "topics": sorted({p.topic for p in d.partitions}),
                "partitions": len(d.partitions),
                "lag": d.total_lag,
            }
        )
    return out


def group_detail(log: Log, group: str) -> dict[str, Any]:
    """A group's committed offset, log start/end and lag per partition (404 for an unknown group). Members and
    assignments are shown where the log reports them (``members`` empty otherwise)."""
    if group not in log.list_groups():
        raise ConsoleError(404, f"consumer group {group!r} has no committed offsets", hint="the Groups page lists them")
    d = log.describe_group(group)
    members: list[dict[str, Any]] = []
    describe_members = getattr(log, "describe_group_members", None)
    if callable(describe_members):
        try:
            members = [
                {"member_id": member, "assignment": [f"{tp[0]}[{tp[1]}]" for tp in tps]}
                for member, tps in describe_members(group)
            ]
        except Exception:
            members = []
    return {
        "group": group,
        "lag": d.total_lag,
        "members": members,
        "partitions": [
            {
                "topic": p.topic,
                "partition": p.partition,
                "committed": p.committed,
                "earliest": p.earliest,
                "latest": p.latest,
                "lag": p.lag,
            }
            for p in d.partitions
        ],
    }


__all__ = [
    "FORMATS",
    "MAX_LIMIT",
    "MODES",
    "SCAN_BUDGET",
    "ConsoleError",
    "browse",
    "compile_filter",
    "create_topic",
    "decode",
    "delete_topic",
    "group_detail",
    "list_groups",
    "list_topics",
    "partitions_of",
    "produce",
    "topic_detail",
    "topic_summary",
]
