"""Upsert log tables: Flink's ``upsert-kafka`` connector, and ``millstream`` tables with a ``PRIMARY KEY`` (the
same semantics on the embedded log). Pure: this builds DataStream nodes; the runtime does the I/O.

Options (Flink's names): ``topic`` (one topic), ``properties.bootstrap.servers`` (``upsert-kafka``; a
``millstream`` table takes ``log``), ``key.format`` and ``value.format`` (``json`` | ``csv``; on ``millstream``
they default to ``json`` / ``format``), ``value.fields-include`` (``ALL`` default | ``EXCEPT_KEY``),
``sink.parallelism``, ``sink.delivery-guarantee``, ``scan.bounded.mode`` (``unbounded`` | ``latest-offset``),
``properties.*`` (passed to the client), ``key.<format>.*`` / ``value.<format>.*`` format options. The key is
the table's ``PRIMARY KEY (...) NOT ENFORCED`` (required; ``'key.fields'``, if given, must name the same columns).

**Sink** (Flink's upsert-kafka sink): a changelog is written per key: ``+I``/``+U`` write the row (key = the
key columns in ``key.format``, value = the row in ``value.format``), ``-D`` writes a tombstone (a ``NULL``
value) for its key, ``-U`` is dropped (the following ``+U`` or ``-D`` of the key supersedes it). Records are
partitioned by key (murmur2), so one key's changes stay in order in one partition.

**Source**: the topic is read as a changelog, as Flink's upsert source followed by its *ChangelogNormalize*:
keyed by the key, state keeps the last row of every key; a record with a value is ``+I`` for a new key and
``-U`` (the previous row) ``+U`` (the new one) after, nothing when the row did not change; a tombstone is ``-D``
of the previous row (nothing for an unknown key). Watermarks, computed and metadata columns are not supported
on upsert tables yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..stream.connectors import KafkaSink, KafkaSource, LogSink, LogSource, OffsetsInitializer
from ..stream.datastream import DataStream
from ..stream.environment import StreamExecutionEnvironment
from ..stream.functions import KeyedProcessFunction
from ..stream.state import ValueStateDescriptor
from .catalog import CatalogTable
from .errors import SqlValidationError
from .formats import FORMATS, decoder, encoder

_OPTIONS = {
    "upsert-kafka": (
        "connector",
        "topic",
        "properties.bootstrap.servers",
        "key.format",
        "value.format",
        "key.fields",
        "value.fields-include",
        "sink.parallelism",
        "sink.delivery-guarantee",
        "scan.bounded.mode",
    ),
    "millstream": (
        "connector",
        "topic",
        "log",
        "format",
        "key.format",
        "value.format",
        "key.fields",
        "value.fields-include",
        "sink.parallelism",
        "sink.delivery-guarantee",
        "scan.bounded.mode",
        "scan.startup.mode",
    ),
}


def is_upsert_table(table: CatalogTable) -> bool:
    """``upsert-kafka`` tables, and ``millstream`` tables with a primary key."""
    kind = table.options.get("connector")
    return kind == "upsert-kafka" or (kind == "millstream" and bool(table.primary_key))


class UpsertLayout:
    """A checked upsert table: its key and value columns and their encoders/decoders."""

    def __init__(self, table: CatalogTable) -> None:
        self.table = table
        self.kind = table.options.get("connector", "")
        opts = table.options
        _check_options(table, self.kind)
        fields = table.physical
        names = [f.name for f in fields]
        key = list(table.primary_key)
        listed = [n.strip() for n in opts.get("key.fields", "").split(";") if n.strip()]
        if not key and listed:
            key = listed
        if not key:
            raise SqlValidationError(
                f"'{self.kind}' table '{table.name}' needs a primary key: it names the columns of the record key",
                hint="add PRIMARY KEY (id) NOT ENFORCED to its columns",
            )
        if listed and listed != key:
            raise SqlValidationError(
                f"'key.fields' ({';'.join(listed)}) of table '{table.name}' differs from its primary key "
                f"({', '.join(key)})",
                hint="drop 'key.fields': the primary key names the key columns",
            )
        if table.watermark is not None or table.metadata or any(c.computed is not None for c in table.columns):
            raise SqlValidationError(
                f"'{self.kind}' table '{table.name}' has a watermark, computed or metadata columns: not supported "
                "on upsert tables yet",
                hint="declare only physical columns and the primary key",
            )
        self.fields = fields
        self.key_index = [names.index(k) for k in key]
        include = opts.get("value.fields-include", "ALL").upper()
        if include not in ("ALL", "EXCEPT_KEY"):
            raise SqlValidationError(
                f"'value.fields-include' = '{opts['value.fields-include']}' of table '{table.name}' is not valid",
                hint="use 'ALL' (default: the value holds every column) or 'EXCEPT_KEY'",
            )
        self.value_index = [i for i in range(len(fields)) if include == "ALL" or i not in self.key_index]
        default_value = opts.get("format", "json") if self.kind == "millstream" else None
        self.key_format = _format(table, "key", "json" if self.kind == "millstream" else None)
        self.value_format = _format(table, "value", default_value)
        self.key_fields = [fields[i] for i in self.key_index]
        self.value_fields = [fields[i] for i in self.value_index]
        self.parallelism = _positive_int(table, "sink.parallelism")

    def _side_options(self, side: str) -> dict[str, str]:
        prefix = side + "."
        return {k[len(prefix) :]: v for k, v in self.table.options.items() if k.startswith(prefix)}

    # -- sink ---------------------------------------------------------------------------------------------
    def sink(self, stream: DataStream, changelog: bool) -> None:
        """Write ``stream`` (tuples of the physical columns, plus the row kind with ``changelog``)."""
        enc_key = encoder(self.key_format, self.key_fields, self._side_options("key"))
        enc_value = encoder(self.value_format, self.value_fields, self._side_options("value"))
        k_idx, v_idx = self.key_index, self.value_index

        def key_of(row: tuple[Any, ...]) -> bytes:
            return enc_key(tuple(row[i] for i in k_idx)).encode()

        def value_of(row: tuple[Any, ...]) -> bytes | None:
            if changelog and row[-1] == "-D":
                return None  # a tombstone for the key
            return enc_value(tuple(row[i] for i in v_idx)).encode()

        if changelog:
            stream = stream.filter(lambda row: row[-1] != "-U").name(f"UpsertFilter({self.table.name})")
        b = _builder(self.table, self.kind, sink=True)
        b.set_key_selector(key_of, "bytes")
        b.set_value_serializer(value_of)
        if self.parallelism is not None:
            stream = stream.key_by(key_of)  # one key's changes stay in order on one sink subtask
        sink = stream.sink_to(b.build()).name(f"Sink({self.table.name})")
        if self.parallelism is not None:
            sink.set_parallelism(self.parallelism)

    # -- source -------------------------------------------------------------------------------------------
    def source(self, env: StreamExecutionEnvironment) -> DataStream:
        """The table as a changelog: tuples of the physical columns with the row kind appended."""
        table = self.table
        b = _builder(table, self.kind, sink=False)
        where = f"topic '{table.options.get('topic')}'"
        dec_key = decoder(self.key_format, self.key_fields, self._side_options("key"), where + " (key)")
        dec_value = decoder(self.value_format, self.value_fields, self._side_options("value"), where)
        width, k_idx, v_idx = len(self.fields), self.key_index, self.value_index
        name = table.name

        def read(rec: Any) -> tuple[tuple[Any, ...], bool] | None:
            if rec.key is None:
                raise SqlValidationError(
                    f"record at {rec.topic}[{rec.partition}] offset {rec.offset} of upsert table '{name}' has no key",
                    hint="every record of an upsert topic needs a key (the primary key columns)",
                )
            key = dec_key(rec.key.decode())
            if key is None:
                return None
            row: list[Any] = [None] * width
            for i, v in zip(k_idx, key, strict=True):
                row[i] = v
            if rec.value is None:
                return tuple(row), True
            value = dec_value(rec.value.decode())
            if value is None:
                return None
            for i, v in zip(v_idx, value, strict=True):
                row[i] = v if v is not None or i not in k_idx else row[i]
            return tuple(row), False

        b.set_deserializer(read)
        records = env.from_source(b.build(), None, f"TableSourceScan({name})").filter(lambda r: r is not None)
        return (
            records.key_by(lambda r: tuple(r[0][i] for i in k_idx))
            .process(ChangelogNormalize())
            .name(f"ChangelogNormalize({name})")
        )


class ChangelogNormalize(KeyedProcessFunction):
    """Upserts and deletes (``(row, is_delete)``, keyed by the row's key) → a changelog with ``-U`` rows, as
    Flink's ChangelogNormalize makes it: state holds the key's last row; an upsert is ``+I`` for a new key,
    ``-U`` old / ``+U`` new after (nothing when the row is unchanged); a delete is ``-D`` of the last row (nothing
    for an unknown key) and clears the state."""

    def __init__(self) -> None:
        self.last: Any = None

    def open(self, runtime_context: Any) -> None:
        self.last = runtime_context.get_state(ValueStateDescriptor("sql-changelog-normalize", None))

    def process_element(self, value: tuple[tuple[Any, ...], bool], ctx: Any) -> Iterator[tuple[Any, ...]]:
        row, delete = value
        prev = self.last.value()
        if delete:
            if prev is not None:
                self.last.clear()
                yield (*prev, "-D")
            return
        if prev == row:
            return
        self.last.update(row)
        if prev is None:
            yield (*row, "+I")
        else:
            yield (*prev, "-U")
            yield (*row, "+U")


def _check_options(table: CatalogTable, kind: str) -> None:
    allowed = _OPTIONS[kind]
    for key in table.options:
        if key in allowed or key.startswith("properties."):
            continue
        side, _, rest = key.partition(".")
        if side in ("key", "value") and rest.split(".")[0] in FORMATS:
            continue  # e.g. 'value.json.ignore-parse-errors', 'key.csv.field-delimiter'
        raise SqlValidationError(
            f"unknown option '{key}' for connector '{kind}' (table '{table.name}')",
            hint=f"remove it; '{kind}' takes: {', '.join(allowed)}, properties.*, key.<format>.*, value.<format>.*",
        )
    if kind == "upsert-kafka":
        for key, example in (("topic", "results"), ("properties.bootstrap.servers", "localhost:9092")):
            if not table.options.get(key):
                raise SqlValidationError(
                    f"table '{table.name}' needs the option '{key}'", hint=f"add '{key}' = '{example}' to its WITH"
                )
    elif not table.options.get("topic"):
        raise SqlValidationError(f"table '{table.name}' needs the option 'topic'", hint="add 'topic' = 'results'")
    if ";" in table.options["topic"]:
        raise SqlValidationError(
            f"'{kind}' table '{table.name}' reads and writes one topic, not a list", hint="name one topic"
        )


def _format(table: CatalogTable, side: str, default: str | None) -> str:
    key = f"{side}.format"
    fmt = table.options.get(key, default)
    if fmt is None:
        raise SqlValidationError(
            f"'upsert-kafka' table '{table.name}' needs the option '{key}'", hint=f"add '{key}' = 'json'"
        )
    if fmt not in FORMATS:
        raise SqlValidationError(
            f"'{key}' = '{fmt}' of table '{table.name}' is not supported", hint=f"use one of: {', '.join(FORMATS)}"
        )
    return fmt


def _positive_int(table: CatalogTable, key: str) -> int | None:
    text = table.options.get(key)
    if text is None:
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise SqlValidationError(
            f"option '{key}' of table '{table.name}' must be a positive integer, got '{text}'", hint=f"'{key}' = '2'"
        )
    return n


def _builder(table: CatalogTable, kind: str, sink: bool) -> Any:
    opts = table.options
    b: Any
    if sink:
        b = KafkaSink.builder() if kind == "upsert-kafka" else LogSink.builder()
    else:
        b = KafkaSource.builder() if kind == "upsert-kafka" else LogSource.builder()
    if kind == "upsert-kafka":
        b.set_bootstrap_servers(opts["properties.bootstrap.servers"])
    elif opts.get("log"):
        b.set_log(opts["log"])
    props = {k[len("properties.") :]: v for k, v in opts.items() if k.startswith("properties.")}
    props.pop("bootstrap.servers", None)
    group = props.pop("group.id", None)
    if sink:
        b.set_topic(opts["topic"])
        for k, v in props.items():
            b.set_property(k, v)
        if opts.get("sink.delivery-guarantee"):
            b.set_delivery_guarantee(opts["sink.delivery-guarantee"])
        return b
    b.set_topics(opts["topic"])
    if group:
        b.set_group_id(group)
    b.set_properties(props)
    mode = opts.get("scan.startup.mode", "earliest-offset")
    if mode != "earliest-offset":  # the whole topic is the table: an upsert source reads from the start
        raise SqlValidationError(
            f"'scan.startup.mode' = '{mode}' of upsert table '{table.name}' is not supported",
            hint="drop it: an upsert table is read from the earliest offset (its whole history)",
        )
    b.set_starting_offsets(OffsetsInitializer.earliest())
    bounded = opts.get("scan.bounded.mode", "unbounded")
    if bounded == "latest-offset":
        b.set_bounded(OffsetsInitializer.latest())
    elif bounded != "unbounded":
        raise SqlValidationError(
            f"'scan.bounded.mode' = '{bounded}' of table '{table.name}' is not supported",
            hint="use unbounded or latest-offset",
        )
    return b


__all__ = ["ChangelogNormalize", "UpsertLayout", "is_upsert_table"]
