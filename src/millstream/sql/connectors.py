"""SQL connectors: the ``WITH ('connector' = ...)`` of a table, mapped onto millstream's source and sink
descriptors with Flink's option names. Pure: this only builds DataStream nodes; the runtime does the I/O.

=============  ===========================================================================================
connector      options
=============  ===========================================================================================
filesystem     ``path`` (a file), ``format`` = ``json`` | ``csv`` (+ ``json.ignore-parse-errors``,
               ``csv.field-delimiter``, ``csv.ignore-parse-errors``)
millstream     ``topic``, ``log`` (log URL; default ``$MILLSTREAM_LOG`` / the embedded log), ``format``,
               ``scan.startup.mode`` (``earliest-offset`` default, ``latest-offset``, ``group-offsets``),
               ``scan.bounded.mode`` (``unbounded`` default, ``latest-offset``), ``properties.group.id``,
               ``sink.delivery-guarantee``
kafka          as ``millstream`` plus ``properties.bootstrap.servers``; ``value.format`` is accepted for
               ``format``; Flink's default ``scan.startup.mode`` ``group-offsets``
(log formats)  on ``millstream`` and ``kafka`` also the schema-registry formats ``avro-confluent``,
               ``json-schema-confluent``, ``protobuf-confluent`` (:mod:`millstream.sql.registry_formats`)
datagen        ``number-of-rows`` (bounded when set), ``rows-per-second`` (default 10000),
               ``fields.<col>.kind`` = ``random`` | ``sequence``, ``fields.<col>.start``/``end``,
               ``fields.<col>.min``/``max``, ``fields.<col>.length``
upsert-kafka   ``topic``, ``properties.bootstrap.servers``, ``key.format``, ``value.format``, a PRIMARY KEY,
               ``value.fields-include``, ``sink.parallelism`` (:mod:`millstream.sql.upsert`; also ``millstream``
               tables with a PRIMARY KEY)
jdbc           ``url``, ``table-name``, ``username``, ``password``, ``sink.buffer-flush.max-rows``,
               ``sink.buffer-flush.interval``, ``sink.parallelism`` (:mod:`millstream.sql.jdbc`)
print          ``print-identifier``, ``standard-error``; prints ``+I[v1, v2]`` per row
blackhole      none; discards rows
=============  ===========================================================================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson

from ..stream.connectors import (
    FileSink,
    FileSource,
    KafkaSink,
    KafkaSource,
    LogSink,
    LogSource,
    OffsetsInitializer,
    PrintSink,
)
from ..stream.datastream import DataStream
from ..stream.environment import StreamExecutionEnvironment
from .catalog import CatalogTable
from .errors import SqlValidationError
from .expressions import Field, Projection
from .formats import FORMATS, JsonRows, decoder, encoder, json_row_code
from .jdbc import JdbcTable
from .registry_formats import is_registry_table, registry_sink, registry_source
from .upsert import UpsertLayout, is_upsert_table
from .values import to_display

SOURCE_CONNECTORS = ("filesystem", "millstream", "kafka", "upsert-kafka", "jdbc", "datagen")
SINK_CONNECTORS = ("filesystem", "millstream", "kafka", "upsert-kafka", "jdbc", "print", "blackhole")


def validate_table(table: CatalogTable) -> None:
    """Check a new table's connector options where they are checked before use (upsert tables)."""
    if is_upsert_table(table):
        UpsertLayout(table)
    elif table.options.get("connector") == "jdbc":
        JdbcTable(table)


def takes_changelog(table: CatalogTable) -> bool:
    """Whether the table, as a sink, takes updates and deletes (not only inserts)."""
    kind = table.options.get("connector")
    return kind in ("print", "blackhole") or is_upsert_table(table) or (kind == "jdbc" and bool(table.primary_key))


def _required(table: CatalogTable, key: str, example: str) -> str:
    value = table.options.get(key)
    if not value:
        raise SqlValidationError(
            f"table '{table.name}' needs the option '{key}'", hint=f"add '{key}' = '{example}' to its WITH (...)"
        )
    return value


def _connector(table: CatalogTable, allowed: Sequence[str], role: str) -> str:
    name = table.options.get("connector")
    if not name:
        raise SqlValidationError(
            f"table '{table.name}' has no 'connector' option", hint=f"add WITH ('connector' = '{allowed[0]}', ...)"
        )
    if name not in allowed:
        raise SqlValidationError(
            f"connector '{name}' of table '{table.name}' cannot be used as a {role}",
            hint=f"{role} connectors are: {', '.join(allowed)}",
        )
    return name


def _format(table: CatalogTable) -> str:
    fmt = table.options.get("format") or table.options.get("value.format") or "json"
    if fmt not in FORMATS:
        raise SqlValidationError(
            f"format '{fmt}' of table '{table.name}' is not supported", hint=f"use one of: {', '.join(FORMATS)}"
        )
    return fmt


def create_source(env: StreamExecutionEnvironment, table: CatalogTable, finish: Projection | None = None) -> DataStream:
    """A stream of rows of the table: tuples of its physical columns, or ``finish`` of them when given
    (the planner's computed columns, applied in the same step as decoding). No event time yet: the planner
    assigns it."""
    kind = _connector(table, SOURCE_CONNECTORS, "source")
    if is_upsert_table(table):
        return UpsertLayout(table).source(env)  # a changelog: rows end with their kind
    if kind == "jdbc":
        rows = JdbcTable(table).source(env)
        return rows if finish is None else rows.map(finish.function()).name(f"Decode({table.name})")
    fields = table.physical
    name = f"Decode({table.name})"
    if table.metadata and kind not in ("millstream", "kafka"):
        raise SqlValidationError(
            f"connector '{kind}' of table '{table.name}' has no metadata columns",
            hint="METADATA columns work with the millstream and kafka connectors",
        )
    if kind == "filesystem":
        path = _required(table, "path", "/data/input.json")
        decode = decoder(_format(table), fields, table.options, f"table '{table.name}' ({path})")
        lines = env.from_source(FileSource.for_paths(path), None, f"TableSourceScan({table.name})")
        if finish is None:
            return lines.flat_map(lambda line: () if (row := decode(line)) is None else (row,)).name(name)
        done = finish.function()
        return lines.flat_map(lambda line: () if (row := decode(line)) is None else (done(row),)).name(name)
    if kind in ("millstream", "kafka"):
        return _log_source(env, table, kind, fields, finish)
    rows = env.add_source(_datagen(table, fields), f"TableSourceScan({table.name})")
    return rows if finish is None else rows.map(finish.function()).name(name)


def _log_source(
    env: StreamExecutionEnvironment, table: CatalogTable, kind: str, fields: list[Field], finish: Projection | None
) -> DataStream:
    topic = _required(table, "topic", "events")
    b = KafkaSource.builder() if kind == "kafka" else LogSource.builder()
    if kind == "kafka":
        b.set_bootstrap_servers(_required(table, "properties.bootstrap.servers", "localhost:9092"))
    elif table.options.get("log"):
        b.set_log(table.options["log"])
    b.set_topics(*[t.strip() for t in topic.split(";") if t.strip()])
    group = table.options.get("properties.group.id")
    if group:
        b.set_group_id(group)
    b.set_properties(_client_properties(table))
    default_mode = "group-offsets" if kind == "kafka" else "earliest-offset"
    mode = table.options.get("scan.startup.mode", default_mode)
    starts = {
        "earliest-offset": OffsetsInitializer.earliest,
        "latest-offset": OffsetsInitializer.latest,
        "group-offsets": lambda: OffsetsInitializer.committed_offsets("earliest"),
    }
    if mode not in starts:
        raise SqlValidationError(
            f"scan.startup.mode '{mode}' of table '{table.name}' is not supported",
            hint="use earliest-offset, latest-offset or group-offsets",
        )
    if mode == "group-offsets" and not group:
        raise SqlValidationError(
            f"table '{table.name}' reads from group offsets but has no 'properties.group.id'",
            hint="add 'properties.group.id' = 'my-group' or set 'scan.startup.mode' = 'earliest-offset'",
        )
    b.set_starting_offsets(starts[mode]())
    bounded = table.options.get("scan.bounded.mode", "unbounded")
    if bounded == "latest-offset":
        b.set_bounded(OffsetsInitializer.latest())
    elif bounded != "unbounded":
        raise SqlValidationError(
            f"scan.bounded.mode '{bounded}' is not supported", hint="use unbounded or latest-offset"
        )
    if is_registry_table(table):
        return registry_source(env, b, table, fields, finish)
    fmt = _format(table)
    name = f"Decode({table.name})"
    if table.metadata:
        return _with_metadata(env, b, table, fmt, fields, finish)
    if fmt == "json" and table.options.get("json.ignore-parse-errors", "false").lower() != "true":
        # the source decodes JSON (a bad record fails the job naming topic, partition and offset)
        b.set_value_format("json")
        objects = env.from_source(b.build(), None, f"TableSourceScan({table.name})")
        return objects.map(JsonRows(fields, finish)).name(name)
    b.set_value_format("string")
    decode = decoder(fmt, fields, table.options, f"topic '{topic}'")
    lines = env.from_source(b.build(), None, f"TableSourceScan({table.name})")
    if finish is None:
        return lines.flat_map(lambda line: () if (row := decode(line)) is None else (row,)).name(name)
    done = finish.function()
    return lines.flat_map(lambda line: () if (row := decode(line)) is None else (done(row),)).name(name)


METADATA_KEYS = {"timestamp": "TIMESTAMP_LTZ", "topic": "STRING", "partition": "INT", "offset": "BIGINT"}
"""Readable metadata of log records (Flink's Kafka connector keys) and the type a column must have."""
_RECORD_FIELD = {"timestamp": 3, "topic": 0, "partition": 1, "offset": 2}  # index in a Record tuple


def _with_metadata(
    env: StreamExecutionEnvironment,
    b: Any,
    table: CatalogTable,
    fmt: str,
    fields: list[Field],
    finish: Projection | None,
) -> DataStream:
    """A log source whose rows also carry record metadata (``METADATA FROM 'timestamp'``, ``'topic'``,
    ``'partition'``, ``'offset'``): the record is decoded in the source, so each row is built in one call."""
    extra = []
    for c in table.metadata:
        key = c.metadata or c.name
        if key not in METADATA_KEYS:
            raise SqlValidationError(
                f"metadata key '{key}' of column '{c.name}' is not readable from table '{table.name}'",
                hint="use one of: " + ", ".join(METADATA_KEYS),
            )
        want = METADATA_KEYS[key]
        assert c.type is not None
        if c.type.name != want:
            raise SqlValidationError(
                f"metadata column '{c.name}' ({key}) must be {want}, not {c.type}", hint=f"declare {c.name} {want}"
            )
        extra.append(f"rec[{_RECORD_FIELD[key]}]")
    meta_code = "".join(e + ", " for e in extra)
    if fmt == "json":
        code, ns = json_row_code(fields)
        ns["_loads"] = orjson.loads
        src = f"def _deser(rec):\n    o = _loads(rec[5])\n    return {code} + ({meta_code})"
    else:
        ns = {"_decode": decoder(fmt, fields, table.options, f"topic '{table.options.get('topic')}'")}
        src = (
            "def _deser(rec):\n    row = _decode(rec[5].decode())\n"
            f"    return None if row is None else row + ({meta_code})"
        )
    exec(src, ns)
    b.set_deserializer(ns["_deser"])
    rows = env.from_source(b.build(), None, f"TableSourceScan({table.name})")
    rows = rows.filter(lambda r: r is not None)
    return rows if finish is None else rows.map(finish.function()).name(f"Decode({table.name})")


def _client_properties(table: CatalogTable) -> dict[str, str]:
    """Flink's ``properties.*`` options, passed to the log client without the prefix (as Flink passes them
    to the Kafka client); bootstrap servers and the group id have their own settings."""
    skip = ("properties.bootstrap.servers", "properties.group.id")
    return {
        k[len("properties.") :]: v for k, v in table.options.items() if k.startswith("properties.") and k not in skip
    }


class _Datagen:
    """A ``datagen`` source as a ``SourceFunction``: its generator runs in a helper thread that hands
    each row over as it is made, so a slow ``rows-per-second`` never holds the job's thread (rows reach a
    query's result while it runs, and a cancel is seen at once)."""

    def __init__(self, generate: Callable[[], Iterator[tuple[Any, ...]]]) -> None:
        self.generate = generate
        self.cancelled = False

    def run(self, ctx: Any) -> None:
        for row in self.generate():
            if self.cancelled:
                return
            ctx.collect(row)

    def cancel(self) -> None:
        self.cancelled = True


def _datagen(table: CatalogTable, fields: list[Field]) -> _Datagen:
    """The source function of a ``datagen`` table."""
    opts = table.options
    total = int(opts["number-of-rows"]) if "number-of-rows" in opts else None
    rate = int(opts.get("rows-per-second", "10000"))
    makers: list[tuple[Any, ...]] = []
    for f in fields:
        prefix = f"fields.{f.name}."
        kind = opts.get(prefix + "kind", "random")
        if kind == "sequence":
            if prefix + "start" not in opts or prefix + "end" not in opts:
                raise SqlValidationError(
                    f"datagen sequence column '{f.name}' needs start and end",
                    hint=f"'{prefix}start' = '1', '{prefix}end' = '1000'",
                )
            makers.append(("sequence", f, int(opts[prefix + "start"]), int(opts[prefix + "end"])))
        elif kind == "random":
            makers.append(
                (
                    "random",
                    f,
                    opts.get(prefix + "min"),
                    opts.get(prefix + "max"),
                    int(opts.get(prefix + "length", "100")),
                )
            )
        else:
            raise SqlValidationError(
                f"datagen kind '{kind}' of column '{f.name}' is not supported", hint="use random or sequence"
            )
    seq_lengths = [m[3] - m[2] + 1 for m in makers if m[0] == "sequence"]
    if seq_lengths:
        total = min([*seq_lengths, *([total] if total is not None else [])])

    def generate() -> Iterator[tuple[Any, ...]]:
        import random
        import string
        import time

        started = time.monotonic()
        i = 0
        while total is None or i < total:
            row: list[Any] = []
            for m in makers:
                t = m[1].type
                if m[0] == "sequence":
                    row.append(m[2] + i)
                    continue
                lo, hi, length = m[2], m[3], m[4]
                if t.is_integer:
                    bits = {"TINYINT": 7, "SMALLINT": 15, "INT": 31, "BIGINT": 63}[t.name]
                    row.append(random.randint(int(lo) if lo else -(2**bits), int(hi) if hi else 2**bits - 1))
                elif t.name in ("FLOAT", "DOUBLE", "DECIMAL"):
                    v: Any = random.uniform(float(lo) if lo else 0.0, float(hi) if hi else 1.0)
                    if t.name == "DECIMAL":
                        from decimal import Decimal

                        v = Decimal(repr(v)).quantize(Decimal(1).scaleb(-(t.scale or 0)))
                    row.append(v)
                elif t.name == "BOOLEAN":
                    row.append(random.random() < 0.5)
                elif t.is_time:
                    row.append(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
                else:
                    row.append("".join(random.choices(string.ascii_letters + string.digits, k=length)))
            yield tuple(row)
            i += 1
            if rate > 0 and i % max(rate // 10, 1) == 0:
                ahead = i / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)

    return _Datagen(generate)


def create_sink(
    stream: DataStream, table: CatalogTable, fields: list[Field], tz: dt.tzinfo, changelog: bool = False
) -> None:
    """Write the stream of tuples (in the table's physical column order) to the table's connector; with
    ``changelog``, each tuple ends with its row kind (only ``print``, ``blackhole`` and upsert tables take those)."""
    kind = _connector(table, SINK_CONNECTORS, "sink")
    if is_upsert_table(table):
        UpsertLayout(table).sink(stream, changelog)
        return
    if kind == "jdbc":
        JdbcTable(table).sink(stream, changelog)
        return
    name = f"Sink({table.name})"
    if kind == "blackhole":
        stream.add_sink(lambda value: None).name(name)
        return
    if kind == "print":
        types = [f.type for f in fields]

        def show(row: tuple[Any, ...]) -> str:
            kind = row[-1] if changelog else "+I"
            values = row[:-1] if changelog else row
            return kind + "[" + ", ".join(to_display(v, t, tz) for v, t in zip(values, types, strict=True)) + "]"

        ident = table.options.get("print-identifier")
        stderr = table.options.get("standard-error", "false").lower() == "true"
        stream.map(show).sink_to(PrintSink(ident, stderr, name))
        return
    if kind in ("millstream", "kafka") and is_registry_table(table):
        return registry_sink(stream, _log_sink_builder(table, kind), table, fields)
    encode = encoder(_format(table), fields, table.options)
    lines = stream.map(encode).name(f"Encode({table.name})")
    if kind == "filesystem":
        path = _required(table, "path", "/data/output.json")
        lines.sink_to(FileSink.for_path(path, "text")).name(name)
        return
    lines.sink_to(_log_sink_builder(table, kind).set_value_format("string").build()).name(name)


def _log_sink_builder(table: CatalogTable, kind: str) -> Any:
    """A log sink builder with the table's topic, log or servers, client properties and delivery guarantee."""
    topic = _required(table, "topic", "results")
    b = KafkaSink.builder() if kind == "kafka" else LogSink.builder()
    if kind == "kafka":
        b.set_bootstrap_servers(_required(table, "properties.bootstrap.servers", "localhost:9092"))
    elif table.options.get("log"):
        b.set_log(table.options["log"])
    b.set_topic(topic)
    for key, value in _client_properties(table).items():
        b.set_property(key, value)
    guarantee = table.options.get("sink.delivery-guarantee")
    if guarantee:
        b.set_delivery_guarantee(guarantee)
    return b


__all__ = [
    "SINK_CONNECTORS",
    "SOURCE_CONNECTORS",
    "create_sink",
    "create_source",
    "is_upsert_table",
    "takes_changelog",
    "validate_table",
]
