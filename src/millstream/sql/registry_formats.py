"""Schema-registry formats of SQL tables on the ``kafka`` and ``millstream`` connectors (pure: descriptions only).

``'format' = 'avro-confluent'`` is Flink's format; ``json-schema-confluent`` and ``protobuf-confluent`` follow
its style for Confluent's JSON Schema and Protobuf wire formats. With ``'value.format'`` / ``'key.format'``
every option takes the ``value.`` / ``key.`` prefix (``'value.avro-confluent.url'``), as in Flink.

=====================================  ===================================================================
option (``<f>`` = the format name)     meaning
=====================================  ===================================================================
``<f>.url``                            the registry (required); ``mock://<scope>`` for an in-process one
``<f>.subject``                        the subject (default ``<topic>-value`` / ``<topic>-key``)
``<f>.schema``                         Avro / JSON Schema to write with; default: derived from the columns
``<f>.message-class-name``             Protobuf: the generated message class, ``pkg.module.Message``
``<f>.basic-auth.user-info``           ``user:password`` for the registry
``<f>.basic-auth.credentials-source``  ``USER_INFO`` (default with user info) or ``URL``
``<f>.properties.<key>``               any Confluent client or serializer setting, e.g.
                                       ``properties.ssl.ca.location``, ``properties.auto.register.schemas``,
                                       ``properties.value.subject.name.strategy``
=====================================  ===================================================================

Columns map to fields by name. Writing derives the schema from the columns as Flink does: Avro record
``org.apache.flink.avro.generated.record`` with ``TINYINT``/``SMALLINT``/``INT`` → ``int``, ``BIGINT`` →
``long``, ``FLOAT``, ``DOUBLE``, ``BOOLEAN``, ``STRING`` → their Avro types, ``DECIMAL(p, s)`` → ``bytes``
with logical type ``decimal``, ``TIMESTAMP``/``TIMESTAMP_LTZ`` → ``long`` ``timestamp-millis``, and nullable
columns → a union with ``null`` (default null); JSON Schema an ``object`` whose ``NOT NULL`` columns are
``required`` (timestamps as strings, ``DECIMAL`` as numbers). Reading takes each record's writer schema from
the registry; a column the record lacks is ``NULL``.

A key format needs ``'key.fields'`` (the columns of the key, ``;``-separated): sinks write them as the
record key (its own subject ``<topic>-key``). Sources read columns from the value
(``'value.fields-include' = 'ALL'``, Flink's default).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson

from ..core.registry_format import SQL_FORMAT_NAMES, RegistryFormat
from ..stream.datastream import DataStream
from ..stream.environment import StreamExecutionEnvironment
from ..stream.registry_schemas import split_registry_config
from .catalog import CatalogTable
from .errors import SqlValidationError
from .expressions import Field, Projection
from .formats import _to_json_value, json_row

REGISTRY_FORMATS = {name: kind for kind, name in SQL_FORMAT_NAMES.items()}
"""SQL format name → :class:`~millstream.core.registry_format.RegistryFormat` kind."""

_AVRO_TYPES = {
    "TINYINT": "int",
    "SMALLINT": "int",
    "INT": "int",
    "BIGINT": "long",
    "FLOAT": "float",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
    "STRING": "string",
}
_JSON_TYPES = {"FLOAT": "number", "DOUBLE": "number", "DECIMAL": "number", "BOOLEAN": "boolean", "STRING": "string"}


def _side_format(table: CatalogTable, side: str) -> tuple[str | None, str]:
    """The format name of ``side`` (``value`` or ``key``) and the prefix of its options."""
    opts = table.options
    if side == "key":
        return opts.get("key.format"), "key."
    if "value.format" in opts:
        return opts["value.format"], "value."
    return opts.get("format"), ""


def is_registry_table(table: CatalogTable, sides: Sequence[str] = ("value", "key")) -> bool:
    """Whether the table's value (or key) format is a schema-registry format."""
    return any(_side_format(table, side)[0] in REGISTRY_FORMATS for side in sides)


def avro_schema_of(fields: Sequence[Field]) -> dict[str, Any]:
    """The Avro schema Flink derives from columns (see the module docstring)."""
    out = []
    for f in fields:
        t = f.type
        if t.name == "DECIMAL":
            avro: Any = {"type": "bytes", "logicalType": "decimal", "precision": t.precision, "scale": t.scale or 0}
        elif t.is_time:
            avro = {"type": "long", "logicalType": "timestamp-millis"}
        elif t.name in _AVRO_TYPES:
            avro = _AVRO_TYPES[t.name]
        else:
            raise SqlValidationError(f"column '{f.name}' of type {t} has no Avro mapping in avro-confluent")
        out.append(
            {"name": f.name, "type": ["null", avro], "default": None} if t.nullable else {"name": f.name, "type": avro}
        )
    return {"type": "record", "name": "record", "namespace": "org.apache.flink.avro.generated", "fields": out}


def json_schema_of(fields: Sequence[Field]) -> dict[str, Any]:
    """A JSON Schema of the columns (see the module docstring)."""
    props: dict[str, Any] = {}
    for f in fields:
        t = f.type
        kind = "integer" if t.is_integer else ("string" if t.is_time else _JSON_TYPES.get(t.name))
        if kind is None:
            raise SqlValidationError(f"column '{f.name}' of type {t} has no JSON Schema mapping")
        props[f.name] = {"type": [kind, "null"] if t.nullable else kind}
    required = [f.name for f in fields if not f.type.nullable]
    return {"type": "object", "properties": props, **({"required": required} if required else {})}


def registry_format(table: CatalogTable, side: str, fields: Sequence[Field], writing: bool) -> RegistryFormat | None:
    """The :class:`RegistryFormat` of the table's ``side`` (``None`` when that side has another format)."""
    name, prefix = _side_format(table, side)
    if name not in REGISTRY_FORMATS:
        return None
    kind = REGISTRY_FORMATS[name]
    opts = table.options
    p = f"{prefix}{name}."

    def opt(key: str) -> str | None:
        return opts.get(p + key)

    url = opt("url")
    if not url:
        raise SqlValidationError(
            f"table '{table.name}' uses format '{name}' without a schema registry URL",
            hint=f"add '{p}url' = 'http://localhost:8081'",
        )
    config = {k[len(p + "properties.") :]: v for k, v in opts.items() if k.startswith(p + "properties.")}
    user_info = opt("basic-auth.user-info")
    if user_info:
        config["basic.auth.user.info"] = user_info
        config.setdefault("basic.auth.credentials.source", opt("basic-auth.credentials-source") or "USER_INFO")
    schema = opt("schema")
    message_type = opt("message-class-name")
    if kind == "protobuf" and not message_type:
        raise SqlValidationError(
            f"table '{table.name}' uses format 'protobuf-confluent' without the message class",
            hint=f"add '{p}message-class-name' = 'mypackage.orders_pb2.Order' (a generated class the job can import)",
        )
    if writing and schema is None and kind != "protobuf":
        derived = avro_schema_of(fields) if kind == "avro" else json_schema_of(fields)
        schema = orjson.dumps(derived).decode()
    try:
        return RegistryFormat(
            kind,
            url,
            schema=schema,
            message_type=message_type,
            subject=opt("subject"),
            **split_registry_config(config),
        )
    except ValueError as exc:
        raise SqlValidationError(f"format '{name}' of table '{table.name}': {exc}") from exc


def key_fields(table: CatalogTable, fields: Sequence[Field]) -> list[Field]:
    """The columns of ``'key.fields'`` (required with a key format)."""
    names = [n.strip() for n in table.options.get("key.fields", "").split(";") if n.strip()]
    if not names:
        raise SqlValidationError(
            f"table '{table.name}' has a key format but no 'key.fields'",
            hint="add 'key.fields' = 'id' (columns, ';'-separated)",
        )
    by_name = {f.name: f for f in fields}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise SqlValidationError(f"'key.fields' of table '{table.name}' names unknown columns: {', '.join(missing)}")
    return [by_name[n] for n in names]


def _to_epoch_ms(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.UTC)
        return int(v.timestamp() * 1000)
    return v


def value_to_row(kind: str, fields: Sequence[Field]) -> Callable[[Any], tuple[Any, ...]]:
    """A decoded value (a dict) → a row of the columns, by name."""
    to_row = json_row(fields)
    if kind != "avro":
        return to_row
    times = [f.name for f in fields if f.type.is_time]

    def avro_row(value: Any) -> tuple[Any, ...]:
        if times:  # fastavro gives timestamp-millis as datetimes; rows hold epoch milliseconds
            value = {**value, **{n: _to_epoch_ms(value.get(n)) for n in times}}
        return to_row(value)

    return avro_row


def row_to_value(kind: str, fields: Sequence[Field]) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    """A row → the dict to serialize: Avro and Protobuf take internal values as they are (epoch-ms longs,
    ``Decimal``); JSON Schema takes Flink JSON's text for timestamps and numbers for ``DECIMAL``."""
    names = [f.name for f in fields]
    if kind != "json":
        return lambda row: dict(zip(names, row, strict=True))
    convs: list[Callable[[Any], Any] | None] = []
    for f in fields:
        if f.type.name == "DECIMAL":
            convs.append(lambda v: float(v) if isinstance(v, Decimal) else v)
        else:
            convs.append(_to_json_value(f.type))
    pairs = list(zip(names, convs, strict=True))
    return lambda row: {n: (v if c is None or v is None else c(v)) for (n, c), v in zip(pairs, row, strict=True)}


def registry_source(
    env: StreamExecutionEnvironment, b: Any, table: CatalogTable, fields: list[Field], finish: Projection | None
) -> DataStream:
    """The rows of a log table whose value format is a schema-registry format (``b``: its source builder)."""
    fmt = registry_format(table, "value", fields, writing=False)
    if fmt is None:
        raise SqlValidationError(
            f"table '{table.name}' has a schema-registry key format but value format "
            f"'{_side_format(table, 'value')[0] or 'json'}': reading keys is not supported",
            hint="read the columns from the value ('value.fields-include' = 'ALL') with a schema-registry value.format",
        )
    if table.metadata:
        raise SqlValidationError(
            f"table '{table.name}': metadata columns are not supported with format '{fmt.flink_name}'",
            hint="drop the METADATA columns, or read the topic with format 'json'",
        )
    include = table.options.get("value.fields-include", "ALL").upper()
    if include != "ALL":
        raise SqlValidationError(
            f"table '{table.name}': 'value.fields-include' = '{include}' is not supported with schema-registry formats",
            hint="use 'ALL' (Flink's default): every column is read from the value",
        )
    b.set_value_format(fmt)
    values = env.from_source(b.build(), None, f"TableSourceScan({table.name})")
    to_row = value_to_row(fmt.kind, fields)
    if finish is not None:
        done = finish.function()
        return values.map(lambda v: done(to_row(v))).name(f"Decode({table.name})")
    return values.map(to_row).name(f"Decode({table.name})")


def registry_sink(stream: DataStream, b: Any, table: CatalogTable, fields: list[Field]) -> None:
    """Write rows to a log table with a schema-registry value format (and key format, with ``'key.fields'``)."""
    fmt = registry_format(table, "value", fields, writing=True)
    key_name = _side_format(table, "key")[0]
    if fmt is None or (key_name is not None and key_name not in REGISTRY_FORMATS):
        raise SqlValidationError(
            f"table '{table.name}': value format '{_side_format(table, 'value')[0] or 'json'}' with key format "
            f"'{key_name}' is not supported",
            hint="use schema-registry formats for both value.format and key.format (or no key.format)",
        )
    to_value = row_to_value(fmt.kind, fields)
    b.set_value_format(fmt)
    if key_name is not None:
        keys = key_fields(table, fields)
        key_fmt = registry_format(table, "key", keys, writing=True)
        assert key_fmt is not None
        converted = [f.name for f in keys if f.type.is_time or f.type.name == "DECIMAL"]
        if key_fmt.kind != fmt.kind and converted:
            raise SqlValidationError(
                f"table '{table.name}': key columns {', '.join(converted)} need the same format for key and value",
                hint=f"use 'key.format' = '{fmt.flink_name}' too",
            )
        names = [f.name for f in keys]
        b.set_key_selector(lambda value: {n: value[n] for n in names}, key_fmt)
    stream.map(to_value).name(f"Encode({table.name})").sink_to(b.build()).name(f"Sink({table.name})")


__all__ = [
    "REGISTRY_FORMATS",
    "avro_schema_of",
    "is_registry_table",
    "json_schema_of",
    "key_fields",
    "registry_format",
    "row_to_value",
    "value_to_row",
]
