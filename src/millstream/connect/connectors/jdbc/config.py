"""The JDBC connectors' options, declared with Confluent's JDBC connector names and defaults.

Where millstream's default differs from Confluent's it is said in the option's documentation
(``numeric.mapping`` defaults to ``best_fit`` so JSON consumers get numbers, not base64 decimals).
Cross-option checks (:func:`source_problems`, :func:`sink_problems`) return ``{option: [message]}`` so that
``/config/validate`` can show them next to the option, and :func:`raise_problems` turns them into one error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...config import NO_DEFAULT, ConfigDef, ConfigValue, Importance, Range, Type, ValidString
from ...errors import ConnectorConfigError
from .connection import parse_connection_url
from .sink_writer import InsertMode, PkMode, check_sink_options
from .source_query import Mode
from .source_reader import NUMERIC_MAPPINGS

CONNECTION_GROUP = "Database"


def _connection(defn: ConfigDef) -> ConfigDef:
    return (
        defn.define(
            "connection.url",
            Type.STRING,
            NO_DEFAULT,
            importance=Importance.HIGH,
            group=CONNECTION_GROUP,
            documentation="Database URL; its form picks the dialect. PostgreSQL: jdbc:postgresql://host:port/db "
            "(Confluent's form), postgresql://user@host:port/db or a libpq key=value string; SQLite: "
            "jdbc:sqlite:/path/to/file.db; MySQL/MariaDB: jdbc:mysql://host:port/db or jdbc:mariadb://host:port/db "
            "(?user=..&password=..).",
        )
        .define(
            "connection.user",
            Type.STRING,
            "",
            importance=Importance.HIGH,
            group=CONNECTION_GROUP,
            documentation="Database user (overrides the URL's).",
        )
        .define(
            "connection.password",
            Type.PASSWORD,
            "",
            importance=Importance.HIGH,
            group=CONNECTION_GROUP,
            documentation="Database password (overrides the URL's).",
        )
        .define(
            "connection.attempts",
            Type.INT,
            3,
            validator=Range.at_least(1),
            importance=Importance.LOW,
            group=CONNECTION_GROUP,
            documentation="How many times to try to connect before the task fails.",
        )
        .define(
            "connection.backoff.ms",
            Type.LONG,
            10_000,
            validator=Range.at_least(0),
            importance=Importance.LOW,
            group=CONNECTION_GROUP,
            documentation="Wait between connection attempts.",
        )
    )


SOURCE_CONFIG_DEF = (
    _connection(ConfigDef())
    .define(
        "mode",
        Type.STRING,
        NO_DEFAULT,
        validator=ValidString(*(m.value for m in Mode)),
        importance=Importance.HIGH,
        group="Mode",
        documentation="bulk (whole table each poll), incrementing (new rows by a strictly increasing column), "
        "timestamp (new and changed rows by a timestamp column), or timestamp+incrementing (both: exact).",
    )
    .define(
        "incrementing.column.name",
        Type.STRING,
        "",
        importance=Importance.MEDIUM,
        group="Mode",
        documentation="Strictly increasing, NOT NULL column (incrementing modes); empty = the table's "
        "identity/serial column.",
    )
    .define(
        "timestamp.column.name",
        Type.LIST,
        "",
        importance=Importance.MEDIUM,
        group="Mode",
        documentation="Timestamp column(s) set on every change (timestamp modes); several = COALESCE of them.",
    )
    .define(
        "timestamp.initial",
        Type.LONG,
        None,
        importance=Importance.LOW,
        group="Mode",
        documentation="Epoch ms to start timestamp modes from when there is no offset; -1 = now; unset = 1970.",
    )
    .define(
        "timestamp.delay.interval.ms",
        Type.LONG,
        0,
        validator=Range.at_least(0),
        importance=Importance.HIGH,
        group="Mode",
        documentation="Only read rows whose timestamp is at least this old, so that transactions still in "
        "flight with earlier timestamps are not skipped.",
    )
    .define(
        "table.whitelist",
        Type.LIST,
        "",
        importance=Importance.MEDIUM,
        group="Database",
        documentation="Tables to copy (schema.table or table); empty = every table not blacklisted.",
    )
    .define(
        "table.blacklist",
        Type.LIST,
        "",
        importance=Importance.MEDIUM,
        group="Database",
        documentation="Tables not to copy when table.whitelist is empty.",
    )
    .define(
        "schema.pattern",
        Type.STRING,
        "",
        importance=Importance.MEDIUM,
        group="Database",
        documentation="LIKE pattern of the schemas whose tables are found when no whitelist is given "
        "(empty = the search_path's schemas).",
    )
    .define(
        "table.poll.interval.ms",
        Type.LONG,
        60_000,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        group="Database",
        documentation="How often the connector looks for added or dropped tables (when no whitelist or query is "
        "given) and reassigns tables to tasks.",
    )
    .define(
        "query",
        Type.STRING,
        "",
        importance=Importance.MEDIUM,
        group="Mode",
        documentation="Read this query's rows instead of tables (wrapped as a sub-select, so it may have a WHERE).",
    )
    .define(
        "topic.prefix",
        Type.STRING,
        NO_DEFAULT,
        importance=Importance.HIGH,
        group="Connector",
        documentation="Topic name = prefix + table name; with query, the topic is the prefix itself.",
    )
    .define(
        "poll.interval.ms",
        Type.INT,
        5000,
        validator=Range.at_least(1),
        importance=Importance.HIGH,
        group="Connector",
        documentation="How often each table is queried for new data.",
    )
    .define(
        "batch.max.rows",
        Type.INT,
        100,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        group="Connector",
        documentation="Maximum rows returned by one poll (a table's result is streamed over several polls).",
    )
    .define(
        "numeric.mapping",
        Type.STRING,
        "best_fit",
        validator=ValidString(*NUMERIC_MAPPINGS),
        importance=Importance.LOW,
        group="Connector",
        documentation="NUMERIC columns: none = Decimal (bytes, as Kafka), precision_only = integers by precision, "
        "best_fit = integers or float64 where exact enough (millstream's default; Confluent's is none).",
    )
)


SINK_CONFIG_DEF = (
    _connection(ConfigDef())
    .define(
        "insert.mode",
        Type.STRING,
        "insert",
        validator=ValidString(*(m.value for m in InsertMode)),
        importance=Importance.HIGH,
        group="Writes",
        documentation="insert (INSERT), upsert (INSERT .. ON CONFLICT DO UPDATE: replays are harmless), "
        "update (UPDATE by primary key).",
    )
    .define(
        "pk.mode",
        Type.STRING,
        "none",
        validator=ValidString(*(m.value for m in PkMode)),
        importance=Importance.HIGH,
        group="Writes",
        documentation="Where the primary key comes from: none, kafka (topic/partition/offset), record_key, "
        "record_value.",
    )
    .define(
        "pk.fields",
        Type.LIST,
        "",
        importance=Importance.MEDIUM,
        group="Writes",
        documentation="Primary key column(s): the key's or value's fields (empty = all of them); the one column "
        "for a primitive key; three names for pk.mode=kafka.",
    )
    .define(
        "fields.whitelist",
        Type.LIST,
        "",
        importance=Importance.MEDIUM,
        group="Writes",
        documentation="Value fields to write (empty = all).",
    )
    .define(
        "delete.enabled",
        Type.BOOLEAN,
        False,
        importance=Importance.MEDIUM,
        group="Writes",
        documentation="Delete the row when a tombstone (null value) arrives; needs pk.mode=record_key. "
        "When false, tombstones are skipped.",
    )
    .define(
        "table.name.format",
        Type.STRING,
        "${topic}",
        importance=Importance.MEDIUM,
        group="Data mapping",
        documentation="Destination table name; ${topic} is replaced by the record's topic; schema.table works.",
    )
    .define(
        "auto.create",
        Type.BOOLEAN,
        False,
        importance=Importance.MEDIUM,
        group="DDL",
        documentation="Create a missing table from the record schema (or from the values when there is none).",
    )
    .define(
        "auto.evolve",
        Type.BOOLEAN,
        False,
        importance=Importance.MEDIUM,
        group="DDL",
        documentation="Add columns for new (optional) fields.",
    )
    .define(
        "batch.size",
        Type.INT,
        3000,
        validator=Range.at_least(1),
        importance=Importance.MEDIUM,
        group="Writes",
        documentation="Rows sent to the database per statement batch (a put() is still one transaction).",
    )
    .define(
        "max.retries",
        Type.INT,
        10,
        validator=Range.at_least(0),
        importance=Importance.MEDIUM,
        group="Retries",
        documentation="Times a batch is retried after the database connection fails.",
    )
    .define(
        "retry.backoff.ms",
        Type.INT,
        3000,
        validator=Range.at_least(0),
        importance=Importance.MEDIUM,
        group="Retries",
        documentation="Wait before retrying a batch.",
    )
)


def _add(problems: dict[str, list[str]], key: str, message: str) -> None:
    problems.setdefault(key, []).append(message)


def _check_url(values: Mapping[str, Any], problems: dict[str, list[str]]) -> None:
    url = values.get("connection.url")
    if url:
        try:
            parse_connection_url(str(url))
        except Exception as exc:
            _add(problems, "connection.url", str(exc))


def source_problems(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Cross-option problems of parsed source options."""
    problems: dict[str, list[str]] = {}
    _check_url(values, problems)
    mode = values.get("mode")
    if mode in (Mode.TIMESTAMP.value, Mode.TIMESTAMP_INCREMENTING.value) and not values.get("timestamp.column.name"):
        _add(problems, "timestamp.column.name", f"mode={mode} needs timestamp.column.name (e.g. updated_at)")
    query = (values.get("query") or "").strip()
    if query and values.get("table.whitelist"):
        _add(problems, "query", "set either query or table.whitelist, not both")
    if values.get("table.whitelist") and values.get("table.blacklist"):
        _add(problems, "table.blacklist", "set either table.whitelist or table.blacklist, not both")
    incrementing_modes = (Mode.INCREMENTING.value, Mode.TIMESTAMP_INCREMENTING.value)
    if query and mode in incrementing_modes and not values.get("incrementing.column.name"):
        _add(
            problems,
            "incrementing.column.name",
            f"mode={mode} with a query needs incrementing.column.name (it cannot be found from a query)",
        )
    return problems


def sink_problems(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Cross-option problems of parsed sink options (e.g. upsert without primary key columns)."""
    problems: dict[str, list[str]] = {}
    _check_url(values, problems)
    try:
        check_sink_options(
            InsertMode(values["insert.mode"]),
            PkMode(values["pk.mode"]),
            tuple(values.get("pk.fields") or ()),
            bool(values.get("delete.enabled")),
        )
    except (KeyError, ValueError) as exc:
        message = getattr(exc, "message", str(exc))
        hint = getattr(exc, "hint", None)
        text = f"{message} ({hint})" if hint else message
        key = "delete.enabled" if "delete.enabled" in text else "pk.mode"
        _add(problems, key, text)
    return problems


def merge_problems(values: list[ConfigValue], problems: dict[str, list[str]]) -> list[ConfigValue]:
    """``values`` with the cross-option ``problems`` added to the options they concern."""
    for cv in values:
        cv.errors.extend(problems.get(cv.name, []))
    return values


def raise_problems(problems: dict[str, list[str]], connector_class: str) -> None:
    """Raise one :class:`ConnectorConfigError` listing every problem (no-op when there are none)."""
    if problems:
        raise ConnectorConfigError(problems, connector_class=connector_class)


__all__ = [
    "SINK_CONFIG_DEF",
    "SOURCE_CONFIG_DEF",
    "merge_problems",
    "raise_problems",
    "sink_problems",
    "source_problems",
]
