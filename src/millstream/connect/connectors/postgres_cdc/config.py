"""The PostgreSQL CDC source's options, with Debezium's PostgreSQL connector names and defaults.

Cross-option checks live in :func:`problems` (``{option: [message]}``), so ``/config/validate`` shows them
next to the option and :func:`parse` raises them as one error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...config import NO_DEFAULT, ConfigDef, Importance, Password, Range, Type, ValidString, non_empty_string
from ...errors import ConnectorConfigError
from .values import DECIMAL_MODES

CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
SNAPSHOT_MODES = ("initial", "initial_only", "never", "no_data", "when_needed")
AUTOCREATE_MODES = ("all_tables", "disabled", "filtered")

_DB = "Database"
_CDC = "Replication"
_EVT = "Events"

CONFIG_DEF = (
    ConfigDef()
    .define(
        "database.hostname",
        Type.STRING,
        NO_DEFAULT,
        validator=non_empty_string,
        importance=Importance.HIGH,
        group=_DB,
        documentation="Host name or address of the PostgreSQL server.",
    )
    .define(
        "database.port",
        Type.INT,
        5432,
        validator=Range.between(1, 65535),
        importance=Importance.HIGH,
        group=_DB,
        documentation="Port of the PostgreSQL server.",
    )
    .define(
        "database.user",
        Type.STRING,
        NO_DEFAULT,
        validator=non_empty_string,
        importance=Importance.HIGH,
        group=_DB,
        documentation="User to connect as; needs the REPLICATION attribute and SELECT on the "
        "captured tables (and CREATE on the database if the connector creates the publication).",
    )
    .define(
        "database.password",
        Type.PASSWORD,
        "",
        importance=Importance.HIGH,
        group=_DB,
        documentation="Password of database.user.",
    )
    .define(
        "database.dbname",
        Type.STRING,
        NO_DEFAULT,
        validator=non_empty_string,
        importance=Importance.HIGH,
        group=_DB,
        documentation="Database to capture changes from.",
    )
    .define(
        "database.sslmode",
        Type.STRING,
        "prefer",
        validator=ValidString("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
        importance=Importance.LOW,
        group=_DB,
        documentation="libpq sslmode of both connections.",
    )
    .define(
        "topic.prefix",
        Type.STRING,
        NO_DEFAULT,
        validator=non_empty_string,
        importance=Importance.HIGH,
        group=_EVT,
        documentation="Logical name of the server: topics are <topic.prefix>.<schema>.<table> "
        "and source partitions are keyed by it. Never change it once events were produced.",
    )
    .define(
        "plugin.name",
        Type.STRING,
        "pgoutput",
        validator=ValidString("pgoutput"),
        importance=Importance.MEDIUM,
        group=_CDC,
        documentation="Logical decoding plugin; pgoutput (built into PostgreSQL 10+) is the only one supported.",
    )
    .define(
        "slot.name",
        Type.STRING,
        "debezium",
        importance=Importance.MEDIUM,
        group=_CDC,
        documentation="Logical replication slot of this connector (letters, digits, underscores). The slot "
        "keeps the WAL the connector has not acknowledged yet.",
    )
    .define(
        "slot.max.retries",
        Type.INT,
        6,
        validator=Range.at_least(0),
        importance=Importance.LOW,
        group=_CDC,
        documentation="How many times to try again to take a slot that another connection still holds (the "
        "server process of a worker that just crashed lets go of it after a moment).",
    )
    .define(
        "slot.retry.delay.ms",
        Type.LONG,
        10_000,
        validator=Range.at_least(0),
        importance=Importance.LOW,
        group=_CDC,
        documentation="Wait between those tries.",
    )
    .define(
        "slot.drop.on.stop",
        Type.BOOLEAN,
        False,
        importance=Importance.LOW,
        group=_CDC,
        documentation="Drop the slot when the task stops cleanly (for tests and demos: the next start "
        "loses the changes made in between).",
    )
    .define(
        "publication.name",
        Type.STRING,
        "dbz_publication",
        importance=Importance.MEDIUM,
        group=_CDC,
        documentation="Publication whose tables pgoutput streams.",
    )
    .define(
        "publication.autocreate.mode",
        Type.STRING,
        "all_tables",
        validator=ValidString(*AUTOCREATE_MODES),
        importance=Importance.MEDIUM,
        group=_CDC,
        documentation="all_tables: create the publication FOR ALL TABLES if missing (needs superuser); "
        "filtered: create/alter it for exactly the captured tables; disabled: it must exist.",
    )
    .define(
        "schema.include.list",
        Type.LIST,
        "",
        importance=Importance.MEDIUM,
        group=_CDC,
        documentation="Regular expressions of schemas to capture (default: all but system schemas).",
    )
    .define(
        "schema.exclude.list",
        Type.LIST,
        "",
        importance=Importance.LOW,
        group=_CDC,
        documentation="Regular expressions of schemas not to capture.",
    )
    .define(
        "table.include.list",
        Type.LIST,
        "",
        importance=Importance.MEDIUM,
        group=_CDC,
        documentation="Regular expressions matched against schema.table of the tables to capture.",
    )
    .define(
        "table.exclude.list",
        Type.LIST,
        "",
        importance=Importance.LOW,
        group=_CDC,
        documentation="Regular expressions of schema.table not to capture.",
    )
    .define(
        "snapshot.mode",
        Type.STRING,
        "initial",
        validator=ValidString(*SNAPSHOT_MODES),
        importance=Importance.MEDIUM,
        group=_CDC,
        documentation="initial: a consistent snapshot of the tables when there is no stored offset, then "
        "streaming; never (or no_data, its newer Debezium name): streaming only; when_needed: also snapshot "
        "again when the stored position can no longer be resumed (the slot is gone); initial_only: the snapshot "
        "and nothing after it.",
    )
    .define(
        "snapshot.fetch.size",
        Type.INT,
        10240,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        group=_CDC,
        documentation="Rows fetched per round trip while snapshotting.",
    )
    .define(
        "heartbeat.interval.ms",
        Type.INT,
        0,
        validator=Range.at_least(0),
        importance=Importance.MEDIUM,
        group=_CDC,
        documentation="Every so often while streaming, send a heartbeat record to "
        "<heartbeat.topics.prefix>.<topic.prefix> carrying the current LSN, so its offset (and the slot) "
        "advance even when the captured tables are quiet; 0 disables.",
    )
    .define(
        "heartbeat.topics.prefix",
        Type.STRING,
        "__debezium-heartbeat",
        importance=Importance.LOW,
        group=_CDC,
        documentation="Prefix of the heartbeat topic.",
    )
    .define(
        "status.update.interval.ms",
        Type.INT,
        10_000,
        validator=Range.at_least(100),
        importance=Importance.LOW,
        group=_CDC,
        documentation="How often to send the server the acknowledged position even when nothing changed.",
    )
    .define(
        "tombstones.on.delete",
        Type.BOOLEAN,
        True,
        importance=Importance.MEDIUM,
        group=_EVT,
        documentation="Follow each delete event by a tombstone (same key, null value) for log compaction.",
    )
    .define(
        "decimal.handling.mode",
        Type.STRING,
        "precise",
        validator=ValidString(*DECIMAL_MODES),
        importance=Importance.MEDIUM,
        group=_EVT,
        documentation="numeric columns as Connect Decimal (precise), float64 (double) or text (string).",
    )
    .define(
        "max.batch.size",
        Type.INT,
        2048,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        group=_EVT,
        documentation="Most records one poll returns.",
    )
    .define(
        "poll.interval.ms",
        Type.INT,
        500,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        group=_EVT,
        documentation="Longest a poll waits for changes.",
    )
)


def problems(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Cross-option problems: include and exclude lists together, unusable names, bad regexes."""
    out: dict[str, list[str]] = {}
    for inc, exc in (("table.include.list", "table.exclude.list"), ("schema.include.list", "schema.exclude.list")):
        if values.get(inc) and values.get(exc):
            out.setdefault(exc, []).append(f"{inc} and {exc} cannot both be set; use one of them")
    for key in ("table.include.list", "table.exclude.list", "schema.include.list", "schema.exclude.list"):
        for pattern in values.get(key) or ():
            try:
                re.compile(pattern)
            except re.error as err:
                out.setdefault(key, []).append(f"{pattern!r} is not a valid regular expression: {err}")
    slot = values.get("slot.name") or ""
    if not re.fullmatch(r"[a-z0-9_]{1,63}", slot):
        out.setdefault("slot.name", []).append(
            f"{slot!r} is not a valid slot name: use 1 to 63 lower-case letters, digits and underscores"
        )
    pub = values.get("publication.name") or ""
    if not pub or '"' in pub:
        out.setdefault("publication.name", []).append(f"{pub!r} is not a usable publication name")
    return out


def parse(props: Mapping[str, Any]) -> dict[str, Any]:
    """Typed option values; :class:`ConnectorConfigError` listing every problem."""
    values = CONFIG_DEF.parse(props, connector_class=CONNECTOR_CLASS)
    found = problems(values)
    if found:
        raise ConnectorConfigError(found, connector_class=CONNECTOR_CLASS)
    return values


def connection_params(values: Mapping[str, Any]) -> dict[str, Any]:
    """libpq parameters from the ``database.*`` options."""
    password = values.get("database.password")
    if isinstance(password, Password):
        password = password.value
    params: dict[str, Any] = {
        "host": values["database.hostname"],
        "port": int(values["database.port"]),
        "user": values["database.user"],
        "dbname": values["database.dbname"],
        "sslmode": values["database.sslmode"],
        "connect_timeout": 10,
        "application_name": "millstream-cdc",
    }
    if password:
        params["password"] = password
    return params


__all__ = [
    "AUTOCREATE_MODES",
    "CONFIG_DEF",
    "CONNECTOR_CLASS",
    "SNAPSHOT_MODES",
    "connection_params",
    "parse",
    "problems",
]
