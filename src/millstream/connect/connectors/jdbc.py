"""JDBC-style PostgreSQL source and sink (psycopg 3), with Confluent's JDBC connector config keys.

JdbcSourceConnector
    ``connection.url`` (``jdbc:postgresql://host:port/db`` or ``postgresql://...``), ``connection.user``,
    ``connection.password``, ``table.whitelist``/``table.blacklist`` or ``query``, ``mode`` =
    ``bulk`` | ``incrementing`` | ``timestamp`` | ``timestamp+incrementing`` with ``incrementing.column.name``
    and ``timestamp.column.name``, ``topic.prefix``, ``poll.interval.ms``, ``batch.max.rows``,
    ``timestamp.delay.interval.ms``. Rows become structs with a schema from the column types. Each table's
    source partition is ``{"table": <name>}`` (``{"query": <sql>}`` in query mode) and its offset
    ``{"incrementing": n}`` / ``{"timestamp": ms, "timestamp_nanos": ns}``, so a restarted task continues
    after
    the last row it delivered. Tables are spread over ``tasks.max`` tasks.

JdbcSinkConnector
    ``connection.url``/``user``/``password``, ``insert.mode`` = ``insert`` | ``upsert`` | ``update``,
    ``pk.mode`` = ``none`` | ``kafka`` | ``record_key`` | ``record_value`` with ``pk.fields``,
    ``auto.create``,
    ``auto.evolve``, ``table.name.format`` (``${topic}``), ``batch.size``, ``delete.enabled`` (tombstones
    delete
    the row with the key's primary key), ``fields.whitelist``. Each ``put`` is one database transaction, so
    the consumer group only commits offsets of rows that are in the database. Values must be structs/maps;
    nested structs, arrays and maps are stored as JSONB. Connection failures raise :class:`RetriableError` and
    the batch is redelivered.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from ..api import SinkConnector, SinkTask, SourceConnector, SourceTask
from ..config import ConfigDef, ConfigValue, Importance, Range, Type, ValidString
from ..data import DATE, TIME, TIMESTAMP, Field, Schema, SinkRecord, SourceRecord, infer_schema
from ..errors import ConnectError, DataError, RetriableError

log = logging.getLogger("millstream.connect.jdbc")

try:  # psycopg is the [postgres] extra
    import psycopg
    from psycopg import sql
    from psycopg.types.json import Jsonb
except ImportError:  # pragma: no cover - reported when a connector starts
    psycopg = None  # type: ignore[assignment]


def _connection_defs(d: ConfigDef) -> ConfigDef:
    return (
        d.define(
            "connection.url",
            Type.STRING,
            importance=Importance.HIGH,
            documentation="jdbc:postgresql://host:port/db (or postgresql://...).",
            group="Database",
        )
        .define(
            "connection.user",
            Type.STRING,
            None,
            importance=Importance.HIGH,
            documentation="User.",
            group="Database",
        )
        .define(
            "connection.password",
            Type.PASSWORD,
            None,
            importance=Importance.HIGH,
            documentation="Password.",
            group="Database",
        )
        .define(
            "connection.attempts",
            Type.INT,
            3,
            validator=Range.at_least(1),
            importance=Importance.LOW,
            documentation="Attempts to connect before failing.",
            group="Database",
        )
        .define(
            "connection.backoff.ms",
            Type.LONG,
            10000,
            validator=Range.at_least(0),
            importance=Importance.LOW,
            documentation="Wait between connection attempts.",
            group="Database",
        )
    )


def _conninfo(url: str) -> str:
    if url.startswith("jdbc:"):
        url = url[len("jdbc:") :]
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConnectError(
            f"connection.url {url!r} is not a PostgreSQL URL",
            hint="use jdbc:postgresql://host:port/database (only PostgreSQL is supported)",
        )
    return url


def connect(config: Mapping[str, Any]) -> Any:
    """Open a psycopg connection from a parsed config; raise RetriableError naming the database if
    unreachable."""
    if psycopg is None:
        raise ConnectError("the JDBC connectors need psycopg", hint="pip install 'millstream[postgres]'")
    url = _conninfo(config["connection.url"])
    pw = config.get("connection.password")
    kwargs: dict[str, Any] = {}
    if config.get("connection.user"):
        kwargs["user"] = config["connection.user"]
    if pw is not None:
        kwargs["password"] = pw.value
    attempts = int(config.get("connection.attempts", 1))
    last: Exception | None = None
    for i in range(attempts):
        try:
            return psycopg.connect(url, connect_timeout=10, **kwargs)
        except psycopg.OperationalError as exc:
            last = exc
            if i + 1 < attempts:
                time.sleep(min(int(config.get("connection.backoff.ms", 0)), 2000) / 1000.0)
    safe = url.split("@")[-1].split("://")[-1]  # host:port/db, without credentials
    raise RetriableError(
        f"cannot connect to PostgreSQL at {safe}: {str(last).strip()}",
        hint="check connection.url/connection.user/connection.password and that the database is running",
    )


# -- type mapping ------------------------------------------------------------------------------------------
_PG_TYPES = {
    "int8": "SMALLINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float32": "REAL",
    "float64": "DOUBLE PRECISION",
    "boolean": "BOOLEAN",
    "string": "TEXT",
    "bytes": "BYTEA",
}


def pg_type(schema: Schema) -> str:
    """The PostgreSQL column type for a Connect schema."""
    if schema.name == TIMESTAMP:
        return "TIMESTAMP"
    if schema.name == DATE:
        return "DATE"
    if schema.name == TIME:
        return "TIME"
    return _PG_TYPES.get(schema.type, "JSONB")


_OID_SCHEMAS = {
    16: Schema("boolean", True),
    17: Schema("bytes", True),
    20: Schema("int64", True),
    21: Schema("int16", True),
    23: Schema("int32", True),
    26: Schema("int64", True),
    700: Schema("float32", True),
    701: Schema("float64", True),
    1700: Schema("float64", True),
    1082: Schema("int32", True, DATE, 1),
    1083: Schema("int32", True, TIME, 1),
    1114: Schema("int64", True, TIMESTAMP, 1),
    1184: Schema("int64", True, TIMESTAMP, 1),
}


def _py_value(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, _dt.datetime) and v.tzinfo is None:
        return v.replace(tzinfo=_dt.UTC)
    if isinstance(v, memoryview):
        return bytes(v)
    if isinstance(v, dict | list):
        import orjson

        return orjson.dumps(v).decode()
    return v


# -- source ------------------------------------------------------------------------------------------------
MODES = ("bulk", "incrementing", "timestamp", "timestamp+incrementing")


class JdbcSourceConnector(SourceConnector):
    """Reads PostgreSQL tables or a query (see the module docstring)."""

    CONFIG_DEF = (
        _connection_defs(ConfigDef())
        .define(
            "mode",
            Type.STRING,
            validator=ValidString(*MODES),
            importance=Importance.HIGH,
            documentation="bulk, incrementing, timestamp or timestamp+incrementing.",
            group="Mode",
        )
        .define(
            "incrementing.column.name",
            Type.STRING,
            "",
            importance=Importance.MEDIUM,
            documentation="Strictly increasing column (incrementing modes).",
            group="Mode",
        )
        .define(
            "timestamp.column.name",
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            documentation="Timestamp column(s); the first non-null is used (timestamp modes).",
            group="Mode",
        )
        .define(
            "table.whitelist",
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            documentation="Tables to copy (default: all tables of the public schema).",
            group="Database",
        )
        .define(
            "table.blacklist",
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            documentation="Tables not to copy.",
            group="Database",
        )
        .define(
            "query",
            Type.STRING,
            "",
            importance=Importance.MEDIUM,
            documentation="Copy the result of this query instead of tables.",
            group="Mode",
        )
        .define(
            "topic.prefix",
            Type.STRING,
            importance=Importance.HIGH,
            documentation="Prefix of topic names (topic = prefix + table, or the prefix in query mode).",
            group="Connector",
        )
        .define(
            "poll.interval.ms",
            Type.INT,
            5000,
            validator=Range.at_least(1),
            importance=Importance.HIGH,
            documentation="How often each table is polled.",
            group="Connector",
        )
        .define(
            "batch.max.rows",
            Type.INT,
            100,
            validator=Range.at_least(1),
            importance=Importance.LOW,
            documentation="Rows per poll per table.",
            group="Connector",
        )
        .define(
            "timestamp.delay.interval.ms",
            Type.LONG,
            0,
            validator=Range.at_least(0),
            importance=Importance.HIGH,
            documentation="Only read rows older than this (lets in-flight transactions finish).",
            group="Mode",
        )
    )

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        values = super().validate(props)
        by = {v.name: v for v in values}
        mode = props.get("mode")
        if mode in ("incrementing", "timestamp+incrementing") and not props.get("incrementing.column.name"):
            by["incrementing.column.name"].errors.append(
                f"incrementing.column.name is required with mode={mode}"
            )
        if mode in ("timestamp", "timestamp+incrementing") and not props.get("timestamp.column.name"):
            by["timestamp.column.name"].errors.append(f"timestamp.column.name is required with mode={mode}")
        if props.get("query") and props.get("table.whitelist"):
            by["query"].errors.append("use either query or table.whitelist, not both")
        return values

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)
        self.cfg = self.CONFIG_DEF.parse(props)
        if self.cfg["query"]:
            self.tables: list[str] = []
            return
        with connect(self.cfg) as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                "AND table_type = 'BASE TABLE' ORDER BY table_name"
            ).fetchall()
        existing = [r[0] for r in rows]
        wanted = self.cfg["table.whitelist"] or existing
        missing = [t for t in wanted if t not in existing]
        if missing:
            log.warning("tables %s do not exist (yet); they are polled anyway", ", ".join(missing))
        self.tables = [t for t in wanted if t not in set(self.cfg["table.blacklist"])]

    def task_class(self) -> type[JdbcSourceTask]:
        return JdbcSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        if self.cfg["query"]:
            return [dict(self.props)]
        groups: list[list[str]] = [[] for _ in range(min(max_tasks, max(1, len(self.tables))))]
        for i, t in enumerate(self.tables):
            groups[i % len(groups)].append(t)
        return [{**self.props, "tables": ",".join(g)} for g in groups]

    def stop(self) -> None:
        pass

    def alter_offsets(self, connector_config: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        return True


class _TableQuerier:
    """Polls one table (or the query) in the configured mode and remembers its offset."""

    def __init__(self, task: JdbcSourceTask, table: str | None, offset: Mapping[str, Any] | None) -> None:
        self.task = task
        self.table = table
        self.partition = {"table": table} if table is not None else {"query": task.config["query"]}
        self.topic = task.config["topic.prefix"] + (table or "")
        self.inc: int | None = offset.get("incrementing") if offset else None
        ts = offset.get("timestamp") if offset else None
        nanos = offset.get("timestamp_nanos") if offset else None
        self.ts: _dt.datetime | None = None
        if ts is not None:
            self.ts = _dt.datetime.fromtimestamp(ts / 1000, _dt.UTC).replace(
                microsecond=((nanos or 0) // 1000)
            )
        self.next_poll = 0.0

    def _statement(self) -> tuple[Any, list[Any]]:
        c = self.task.config
        mode = c["mode"]
        base: Any = (
            sql.SQL("SELECT * FROM {}").format(sql.Identifier(self.table))
            if self.table
            else sql.SQL("SELECT * FROM ({}) AS q").format(sql.SQL(c["query"]))
        )
        inc_col = sql.Identifier(c["incrementing.column.name"]) if c["incrementing.column.name"] else None
        ts_cols = [sql.Identifier(n) for n in c["timestamp.column.name"]]
        ts_expr: Any = None
        if len(ts_cols) > 1:
            ts_expr = sql.SQL("COALESCE({})").format(sql.SQL(", ").join(ts_cols))
        elif ts_cols:
            ts_expr = ts_cols[0]
        limit = sql.SQL(" LIMIT {}").format(sql.Literal(int(c["batch.max.rows"])))
        delay = int(c["timestamp.delay.interval.ms"])
        now = sql.SQL("(now() AT TIME ZONE 'UTC' - {} * interval '1 millisecond')").format(sql.Literal(delay))
        epoch = _dt.datetime(1970, 1, 1)
        last_ts = self.ts.replace(tzinfo=None) if self.ts else epoch - _dt.timedelta(days=1)
        if mode == "bulk":
            return base, []
        if mode == "incrementing":
            q = sql.SQL("{} WHERE {} > %s ORDER BY {} ASC").format(base, inc_col, inc_col) + limit
            return q, [self.inc if self.inc is not None else -(2**63)]
        if mode == "timestamp":
            q = (
                sql.SQL("{} WHERE {} > %s AND {} < {} ORDER BY {} ASC").format(
                    base, ts_expr, ts_expr, now, ts_expr
                )
                + limit
            )
            return q, [last_ts]
        q = (
            sql.SQL("{} WHERE {} < {} AND (({} = %s AND {} > %s) OR {} > %s) ORDER BY {} ASC, {} ASC").format(
                base, ts_expr, now, ts_expr, inc_col, ts_expr, ts_expr, inc_col
            )
            + limit
        )
        return q, [last_ts, self.inc if self.inc is not None else -(2**63), last_ts]

    def poll(self, conn: Any) -> list[SourceRecord]:
        c = self.task.config
        stmt, params = self._statement()
        with conn.cursor() as cur:
            cur.execute(stmt, params)
            desc = cur.description or []
            rows = cur.fetchall()
        conn.commit()
        fields = tuple(
            Field(d.name, _OID_SCHEMAS.get(d.type_code, Schema("string", True)), i)
            for i, d in enumerate(desc)
        )
        schema = Schema("struct", False, self.table or "query", fields=fields)
        names = [d.name for d in desc]
        inc_name, ts_names = c["incrementing.column.name"], c["timestamp.column.name"]
        out = []
        for row in rows:
            value = {n: _py_value(v) for n, v in zip(names, row, strict=True)}
            offset: dict[str, Any] | None = None
            if c["mode"] != "bulk":
                offset = {}
                if inc_name:
                    self.inc = int(value[inc_name])
                    offset["incrementing"] = self.inc
                if ts_names:
                    ts = next((value[n] for n in ts_names if value.get(n) is not None), None)
                    if ts is not None:
                        self.ts = ts
                        offset["timestamp"] = int(ts.timestamp() * 1000)
                        offset["timestamp_nanos"] = ts.microsecond * 1000
            out.append(
                SourceRecord(self.topic, None, None, None, schema, value, None, (), self.partition, offset)
            )
        return out


class JdbcSourceTask(SourceTask):
    """Polls its tables in turn, each at most every ``poll.interval.ms``."""

    def start(self, props: Mapping[str, str]) -> None:
        self.config = JdbcSourceConnector.CONFIG_DEF.parse(props)
        self.stopping = threading.Event()
        tables: list[str | None] = (
            [None] if self.config["query"] else [t for t in str(props.get("tables", "")).split(",") if t]
        )
        reader = self.context.offset_storage_reader()
        self.queriers = []
        for t in tables:
            part = {"table": t} if t is not None else {"query": self.config["query"]}
            self.queriers.append(_TableQuerier(self, t, reader.offset(part)))
        self.conn: Any = None

    def poll(self) -> list[SourceRecord] | None:
        if not self.queriers:
            self.stopping.wait(1.0)
            return None
        now = time.monotonic()
        due = [q for q in self.queriers if q.next_poll <= now]
        if not due:
            self.stopping.wait(min(q.next_poll for q in self.queriers) - now)
            return None
        q = due[0]
        try:
            if self.conn is None or self.conn.closed:
                self.conn = connect(self.config)
            records = q.poll(self.conn)
        except psycopg.errors.UndefinedTable:
            self.conn.rollback()
            q.next_poll = now + self.config["poll.interval.ms"] / 1000.0
            return None
        except psycopg.OperationalError as exc:
            self.conn = None
            raise RetriableError(f"lost the connection to PostgreSQL: {exc}") from exc
        # a full batch means there may be more: poll this table again right away
        if self.config["mode"] == "bulk" or len(records) < self.config["batch.max.rows"]:
            q.next_poll = now + self.config["poll.interval.ms"] / 1000.0
        return records

    def stop(self) -> None:
        self.stopping.set()


# -- sink --------------------------------------------------------------------------------------------------
class JdbcSinkConnector(SinkConnector):
    """Writes records into PostgreSQL tables (see the module docstring)."""

    CONFIG_DEF = (
        _connection_defs(ConfigDef())
        .define(
            "insert.mode",
            Type.STRING,
            "insert",
            validator=ValidString("insert", "upsert", "update"),
            importance=Importance.HIGH,
            documentation="insert, upsert or update.",
            group="Writes",
        )
        .define(
            "pk.mode",
            Type.STRING,
            "none",
            validator=ValidString("none", "kafka", "record_key", "record_value"),
            importance=Importance.HIGH,
            documentation="Where the primary key comes from.",
            group="Writes",
        )
        .define(
            "pk.fields",
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            documentation="Primary key field names (meaning depends on pk.mode).",
            group="Writes",
        )
        .define(
            "fields.whitelist",
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            documentation="Value fields to write (default all).",
            group="Writes",
        )
        .define(
            "table.name.format",
            Type.STRING,
            "${topic}",
            importance=Importance.MEDIUM,
            documentation="Table name; ${topic} is replaced by the topic.",
            group="Writes",
        )
        .define(
            "batch.size",
            Type.INT,
            3000,
            validator=Range.at_least(1),
            importance=Importance.MEDIUM,
            documentation="Rows per statement batch.",
            group="Writes",
        )
        .define(
            "delete.enabled",
            Type.BOOLEAN,
            False,
            importance=Importance.MEDIUM,
            documentation="Tombstones delete rows (needs pk.mode=record_key).",
            group="Writes",
        )
        .define(
            "auto.create",
            Type.BOOLEAN,
            False,
            importance=Importance.MEDIUM,
            documentation="Create missing tables.",
            group="DDL Support",
        )
        .define(
            "auto.evolve",
            Type.BOOLEAN,
            False,
            importance=Importance.MEDIUM,
            documentation="Add missing columns.",
            group="DDL Support",
        )
    )

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        values = super().validate(props)
        by = {v.name: v for v in values}
        mode, pk = props.get("insert.mode", "insert"), props.get("pk.mode", "none")
        if mode in ("upsert", "update") and pk == "none":
            by["pk.mode"].errors.append(
                f"insert.mode={mode} needs a primary key: set pk.mode (e.g. record_value)"
            )
        if str(props.get("delete.enabled", "false")).lower() == "true" and pk != "record_key":
            by["delete.enabled"].errors.append("delete.enabled=true needs pk.mode=record_key")
        return values

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[JdbcSinkTask]:
        return JdbcSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max_tasks)]

    def stop(self) -> None:
        pass

    def alter_offsets(self, connector_config: Mapping[str, Any], offsets: Mapping[Any, Any]) -> bool:
        return True


_KAFKA_PK = ("__connect_topic", "__connect_partition", "__connect_offset")


class JdbcSinkTask(SinkTask):
    """Writes each ``put`` in one transaction (see the module docstring)."""

    def start(self, props: Mapping[str, str]) -> None:
        self.config = JdbcSinkConnector.CONFIG_DEF.parse(props)
        self.columns: dict[str, dict[str, str]] = {}  # table -> column -> type
        self.conn: Any = connect(self.config)  # fail fast (task FAILED, naming the database) if unreachable

    def _row(self, r: SinkRecord) -> tuple[dict[str, Any], dict[str, Schema], list[str]]:
        """Column values, column schemas and primary-key column names of one record."""
        c = self.config
        value = r.value
        if not isinstance(value, dict):
            raise DataError(
                f"the JDBC sink needs struct/map values, got {type(value).__name__} at "
                f"{r.topic}[{r.kafka_partition}]@{r.kafka_offset}",
                hint="use JsonConverter (with or without schemas) or Avro for the value",
            )
        schemas = _field_schemas(r.value_schema, value)
        keep = c["fields.whitelist"]
        row = {k: v for k, v in value.items() if not keep or k in keep}
        cols = {k: schemas[k] for k in row}
        mode, pk_fields = c["pk.mode"], c["pk.fields"]
        pk: list[str] = []
        if mode == "kafka":
            names = pk_fields or list(_KAFKA_PK)
            for n, v, s in zip(
                names,
                (r.topic, r.kafka_partition, r.kafka_offset),
                (Schema("string"), Schema("int32"), Schema("int64")),
                strict=False,
            ):
                row[n], cols[n] = v, s
            pk = list(names)
        elif mode == "record_key":
            key = r.key
            if isinstance(key, dict):
                ks = _field_schemas(r.key_schema, key)
                names = pk_fields or list(key)
                for n in names:
                    row[n], cols[n] = key.get(n), ks.get(n, Schema("string"))
            else:
                if key is None:
                    raise DataError(
                        f"pk.mode=record_key but the record at {r.topic}@{r.kafka_offset} has no key"
                    )
                names = pk_fields[:1] or ["__connect_key"]
                row[names[0]] = key
                cols[names[0]] = r.key_schema or infer_schema(key) or Schema("string")
            pk = list(names)
        elif mode == "record_value":
            pk = list(pk_fields or value.keys())
            missing = [n for n in pk if n not in row]
            if missing:
                raise DataError(
                    f"primary key field(s) {', '.join(missing)} missing from the value at "
                    f"{r.topic}@{r.kafka_offset}"
                )
        return row, cols, pk

    def _ensure_table(self, cur: Any, table: str, cols: Mapping[str, Schema], pk: list[str]) -> None:
        known = self.columns.get(table)
        if known is None:
            cur.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s",
                [table],
            )
            known = {name: typ for name, typ in cur.fetchall()}
            if not known:
                if not self.config["auto.create"]:
                    raise ConnectError(
                        f"table {table!r} does not exist", hint="create it, or set auto.create=true"
                    )
                defs = [
                    sql.SQL("{} {}{}").format(
                        sql.Identifier(n), sql.SQL(pg_type(s)), sql.SQL(" NOT NULL" if n in pk else "")
                    )
                    for n, s in cols.items()
                ]
                if pk:
                    defs.append(
                        sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, pk)))
                    )
                cur.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                        sql.Identifier(table), sql.SQL(", ").join(defs)
                    )
                )
                known = {n: pg_type(s) for n, s in cols.items()}
            self.columns[table] = known
        missing = [n for n in cols if n not in known]
        if missing:
            if not self.config["auto.evolve"]:
                raise ConnectError(
                    f"table {table!r} has no column(s) {', '.join(missing)}",
                    hint="add them, or set auto.evolve=true",
                )
            for n in missing:
                cur.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                        sql.Identifier(table), sql.Identifier(n), sql.SQL(pg_type(cols[n]))
                    )
                )
                known[n] = pg_type(cols[n])

    def _write(self, cur: Any, table: str, rows: list[tuple[dict[str, Any], list[str]]]) -> None:
        mode = self.config["insert.mode"]
        # group rows with the same column set into one executemany
        groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[list[Any]]] = {}
        for row, pk_list in rows:
            key_names = tuple(row)
            groups.setdefault((key_names, tuple(pk_list)), []).append([_db_value(row[n]) for n in key_names])
        size = self.config["batch.size"]
        for (names, pk), params in groups.items():
            ident = sql.Identifier(table)
            cols = sql.SQL(", ").join(map(sql.Identifier, names))
            marks = sql.SQL(", ").join(sql.Placeholder() * len(names))
            non_pk = [n for n in names if n not in pk]
            if mode == "insert":
                stmt = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(ident, cols, marks)
            elif mode == "upsert":
                conflict = sql.SQL(", ").join(map(sql.Identifier, pk))
                if non_pk:
                    sets = sql.SQL(", ").join(
                        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(n), sql.Identifier(n))
                        for n in non_pk
                    )
                    action: Any = sql.SQL("DO UPDATE SET {}").format(sets)
                else:
                    action = sql.SQL("DO NOTHING")
                stmt = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) {}").format(
                    ident, cols, marks, conflict, action
                )
            else:  # update
                sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in non_pk)
                where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in pk)
                stmt = sql.SQL("UPDATE {} SET {} WHERE {}").format(ident, sets, where)
                order = [names.index(n) for n in non_pk] + [names.index(n) for n in pk]
                params = [[p[i] for i in order] for p in params]
            for i in range(0, len(params), size):
                cur.executemany(stmt, params[i : i + size])

    def _delete(self, cur: Any, table: str, r: SinkRecord) -> None:
        key = r.key
        pk_fields = self.config["pk.fields"]
        if isinstance(key, dict):
            names = pk_fields or list(key)
            values = [key.get(n) for n in names]
        else:
            names = pk_fields[:1] or ["__connect_key"]
            values = [key]
        if table not in self.columns:
            cur.execute("SELECT to_regclass(%s)", [table])
            if cur.fetchone()[0] is None:
                return  # nothing to delete from
        where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in names)
        cur.execute(sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(table), where), values)

    def put(self, records: list[SinkRecord]) -> None:
        if not records:
            return
        try:
            if self.conn is None or self.conn.closed:
                self.conn = connect(self.config)
            with self.conn.transaction(), self.conn.cursor() as cur:
                pending: dict[str, list[tuple[dict[str, Any], list[str]]]] = {}

                def flush() -> None:
                    for table, rows in pending.items():
                        self._write(cur, table, rows)
                    pending.clear()

                for r in records:
                    table = self.config["table.name.format"].replace("${topic}", r.topic)
                    if r.value is None:
                        if not self.config["delete.enabled"]:
                            raise DataError(
                                f"tombstone at {r.topic}[{r.kafka_partition}]@{r.kafka_offset} but "
                                "delete.enabled=false",
                                hint="set delete.enabled=true with pk.mode=record_key, or filter tombstones "
                                "out (Filter with RecordIsTombstone)",
                            )
                        flush()  # keep the order of writes and deletes
                        self._delete(cur, table, r)
                        continue
                    row, cols, pk = self._row(r)
                    self._ensure_table(cur, table, cols, pk)
                    pending.setdefault(table, []).append((row, pk))
                flush()
        except psycopg.OperationalError as exc:
            self.conn = None
            raise RetriableError(f"lost the connection to PostgreSQL: {exc}") from exc
        except psycopg.Error as exc:
            self.columns.clear()  # the transaction rolled back, DDL included
            raise DataError(f"PostgreSQL rejected the batch: {str(exc).strip()}") from exc
        except (DataError, ConnectError):
            self.columns.clear()
            raise

    def stop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass


def _field_schemas(schema: Schema | None, value: Mapping[str, Any]) -> dict[str, Schema]:
    out: dict[str, Schema] = {}
    for k, v in value.items():
        f = schema.field(k) if schema is not None and schema.type == "struct" else None
        out[k] = f.schema if f is not None else (infer_schema(v, True) or Schema("string", True))
    return out


def _db_value(v: Any) -> Any:
    if isinstance(v, dict | list):
        return Jsonb(v)
    if isinstance(v, _dt.datetime) and v.tzinfo is not None:
        return v.astimezone(_dt.UTC).replace(tzinfo=None)
    return v


__all__ = ["MODES", "JdbcSinkConnector", "JdbcSinkTask", "JdbcSourceConnector", "JdbcSourceTask", "pg_type"]
