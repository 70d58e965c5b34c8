"""Worker settings (Kafka's ``WorkerConfig`` keys) and building converters from worker + connector configs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import AbstractConfig, ConfigDef, Importance, Range, Type, ValidString
from .converters import Converter, HeaderConverter
from .plugins import REGISTRY

JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


def worker_config_def() -> ConfigDef:
    """The worker options millstream understands; other keys are accepted and ignored (as Kafka warns)."""
    d = ConfigDef()
    d.define(
        "log.url",
        Type.STRING,
        "",
        importance=Importance.HIGH,
        documentation="millstream: the log URL "
        "(memory://, file://PATH, kafka://HOST:PORT); overrides bootstrap.servers.",
    )
    d.define(
        "bootstrap.servers",
        Type.LIST,
        "",
        importance=Importance.HIGH,
        documentation="Kafka brokers; used as kafka://... when no log URL is given.",
    )
    d.define(
        "group.id",
        Type.STRING,
        "connect-cluster",
        importance=Importance.HIGH,
        documentation="The Connect cluster: distributed workers with the same group.id on the same log form one "
        "cluster (their worker group).",
    )
    d.define(
        "key.converter",
        Type.CLASS,
        JSON_CONVERTER,
        importance=Importance.HIGH,
        documentation="Default converter for record keys.",
    )
    d.define(
        "value.converter",
        Type.CLASS,
        JSON_CONVERTER,
        importance=Importance.HIGH,
        documentation="Default converter for record values.",
    )
    d.define(
        "header.converter",
        Type.CLASS,
        "org.apache.kafka.connect.storage.SimpleHeaderConverter",
        importance=Importance.LOW,
        documentation="Default converter for header values.",
    )
    d.define(
        "offset.flush.interval.ms",
        Type.LONG,
        10000,
        validator=Range.at_least(0),
        importance=Importance.LOW,
        documentation="How often source offsets are stored and sink offsets committed (ms).",
    )
    d.define(
        "offset.flush.timeout.ms",
        Type.LONG,
        5000,
        validator=Range.at_least(0),
        importance=Importance.LOW,
        documentation="Accepted for compatibility.",
    )
    d.define(
        "offset.storage.topic",
        Type.STRING,
        "connect-offsets",
        importance=Importance.HIGH,
        documentation="Compacted topic for source offsets.",
    )
    d.define(
        "offset.storage.partitions",
        Type.INT,
        1,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        documentation="Partitions of the offsets topic when created.",
    )
    d.define(
        "config.storage.topic",
        Type.STRING,
        "connect-configs",
        importance=Importance.HIGH,
        documentation="Compacted topic for connector configs and target states (worker and distributed "
        "mode; it must have exactly one partition).",
    )
    d.define(
        "status.storage.topic",
        Type.STRING,
        "connect-status",
        importance=Importance.HIGH,
        documentation="Compacted topic for connector and task status.",
    )
    d.define(
        "status.storage.partitions",
        Type.INT,
        1,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        documentation="Partitions of the status topic when created.",
    )
    for store in ("offset", "config", "status"):
        d.define(
            f"{store}.storage.replication.factor",
            Type.SHORT,
            -1,
            importance=Importance.LOW,
            documentation=f"Replication factor of the {store} topic when created on kafka:// (-1: the broker's "
            "default); the embedded log keeps one copy.",
        )
    d.define(
        "session.timeout.ms",
        Type.INT,
        10000,
        validator=Range.at_least(1),
        importance=Importance.HIGH,
        documentation="Distributed mode: a worker that sends no heartbeat for this long leaves the worker group "
        "(a killed worker's connectors and tasks then wait scheduled.rebalance.max.delay.ms before they move).",
    )
    d.define(
        "heartbeat.interval.ms",
        Type.INT,
        3000,
        validator=Range.at_least(1),
        importance=Importance.HIGH,
        documentation="Distributed mode: how often a worker heartbeats, reads the config topic and, as leader, "
        "rebalances; keep it under a third of session.timeout.ms.",
    )
    d.define(
        "scheduled.rebalance.max.delay.ms",
        Type.INT,
        300000,
        validator=Range.at_least(0),
        importance=Importance.MEDIUM,
        documentation="Distributed mode (KIP-415): how long a departed worker's connectors and tasks wait for it "
        "to come back before they move to the other workers.",
    )
    d.define(
        "rest.advertised.port",
        Type.INT,
        -1,
        validator=Range.between(-1, 65535),
        importance=Importance.LOW,
        documentation="Port in the worker id and the URL other workers forward requests to (-1: the REST port).",
    )
    d.define(
        "rest.advertised.listener",
        Type.STRING,
        "",
        validator=ValidString("", "http", "https"),
        importance=Importance.LOW,
        documentation="Scheme other workers use to forward requests to this one (empty: the listener's).",
    )
    d.define(
        "offset.storage.file.filename",
        Type.STRING,
        "",
        importance=Importance.LOW,
        documentation="Accepted for compatibility; millstream keeps standalone offsets in the log too.",
    )
    d.define(
        "listeners",
        Type.LIST,
        "",
        importance=Importance.LOW,
        documentation="REST listener: http://HOST:PORT or https://HOST:PORT (first one used; an empty HOST "
        "means all interfaces, as in Kafka). Without it the REST API listens on 127.0.0.1 only.",
    )
    for prefix in ("listeners.https.", ""):
        scope = "the https listener" if prefix else "https listeners (when the listeners.https. key is unset)"
        d.define(
            f"{prefix}ssl.keystore.location",
            Type.STRING,
            "",
            importance=Importance.MEDIUM,
            documentation=f"Certificate and private key of {scope}: a PEM file (key + chain) or a PKCS12 file.",
        )
        d.define(
            f"{prefix}ssl.keystore.type",
            Type.STRING,
            "PEM",
            validator=ValidString("PEM", "PKCS12", "JKS", case_insensitive=True),
            importance=Importance.LOW,
            documentation=f"Keystore format of {scope}: PEM or PKCS12 (JKS is refused with the keytool "
            "command that converts it).",
        )
        d.define(
            f"{prefix}ssl.keystore.password",
            Type.PASSWORD,
            None,
            importance=Importance.LOW,
            documentation=f"Password of a PKCS12 keystore of {scope}.",
        )
        d.define(
            f"{prefix}ssl.key.password",
            Type.PASSWORD,
            None,
            importance=Importance.LOW,
            documentation=f"Password of an encrypted PEM private key of {scope}.",
        )
        d.define(
            f"{prefix}ssl.truststore.location",
            Type.STRING,
            "",
            importance=Importance.LOW,
            documentation=f"PEM CA certificates {scope} verifies client certificates with.",
        )
        d.define(
            f"{prefix}ssl.client.auth",
            Type.STRING,
            "none",
            validator=ValidString("none", "requested", "required", case_insensitive=True),
            importance=Importance.LOW,
            documentation=f"Client certificates on {scope}: none, requested or required.",
        )
    d.define(
        "allowed.paths",
        Type.LIST,
        "",
        importance=Importance.MEDIUM,
        documentation="Directories connectors may read and write files in (FileStreamSource/FileStreamSink "
        "file=); empty: anywhere. Log and checkpoint directories are refused whatever it says.",
    )
    d.define(
        "rest.extension.classes",
        Type.LIST,
        "",
        importance=Importance.LOW,
        documentation="Kafka's REST extensions; only "
        "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension is understood "
        "(it needs rest.basic.auth.users.file).",
    )
    d.define(
        "rest.basic.auth.users.file",
        Type.STRING,
        "",
        importance=Importance.MEDIUM,
        documentation="millstream: HTTP basic authentication for the REST API with the users of this file "
        "(user=password lines, Kafka's PropertyFileLoginModule format). Empty: no authentication.",
    )
    d.define(
        "rest.request.max.bytes",
        Type.LONG,
        1048576,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        documentation="millstream: largest REST request body (bytes); larger ones get 413.",
    )
    d.define(
        "rest.request.timeout.ms",
        Type.LONG,
        30000,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        documentation="millstream: time a client has to send a request's head and body; a late body gets 408, "
        "a late head a closed connection.",
    )
    d.define(
        "rest.idle.timeout.ms",
        Type.LONG,
        30000,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        documentation="millstream: an idle keep-alive REST connection is closed after this long.",
    )
    d.define(
        "rest.backlog",
        Type.INT,
        1024,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        documentation="millstream: connections the kernel queues for the REST API before they are accepted.",
    )
    d.define(
        "rest.port",
        Type.INT,
        8083,
        validator=Range.between(0, 65535),
        importance=Importance.LOW,
        documentation="REST port (deprecated in Kafka in favour of listeners).",
    )
    d.define("rest.host.name", Type.STRING, "", importance=Importance.LOW, documentation="REST bind host.")
    d.define(
        "rest.advertised.host.name",
        Type.STRING,
        "",
        importance=Importance.LOW,
        documentation="Host name in worker ids.",
    )
    d.define(
        "task.shutdown.graceful.timeout.ms",
        Type.LONG,
        5000,
        validator=Range.at_least(0),
        importance=Importance.LOW,
        documentation="How long to wait for tasks to stop on shutdown.",
    )
    d.define(
        "exactly.once.source.support",
        Type.STRING,
        "disabled",
        validator=ValidString("disabled", "enabled", "preparing"),
        importance=Importance.MEDIUM,
        documentation="enabled: each source poll batch and its offsets are written in one log transaction.",
    )
    d.define(
        "task.execution.mode",
        Type.STRING,
        "thread",
        validator=ValidString("thread", "process"),
        importance=Importance.MEDIUM,
        documentation="millstream: run tasks as threads of the worker, or each in its own process (parallel "
        "past the GIL; needs a log other processes can open: file:// or kafka://).",
    )
    d.define(
        "consumer.max.poll.records",
        Type.INT,
        500,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        documentation="Records per sink poll (connectors may set consumer.override.max.poll.records).",
    )
    d.define(
        "consumer.session.timeout.ms",
        Type.INT,
        45_000,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        documentation="Sink tasks (embedded log and kafka://): a task whose worker died leaves its group after "
        "this long (its partitions then move). On the embedded log a task restarted within it takes its "
        "partitions back at once: each sink task is a static member of its group (Kafka's group.instance.id).",
    )
    d.define(
        "consumer.heartbeat.interval.ms",
        Type.INT,
        1_000,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        documentation="Sink tasks (embedded log and kafka://): how often they heartbeat to their group (and "
        "notice new topics of a topics.regex and partitions moving between tasks).",
    )
    d.define(
        "consumer.auto.offset.reset",
        Type.STRING,
        "earliest",
        validator=ValidString("earliest", "latest", "none"),
        importance=Importance.LOW,
        documentation="Where new sink connectors start reading.",
    )
    d.define(
        "plugin.path",
        Type.LIST,
        "",
        importance=Importance.LOW,
        documentation="Directories added to the Python import path, for connector packages.",
    )
    return d


class WorkerConfig(AbstractConfig):
    """Parsed worker properties."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        super().__init__(worker_config_def(), props)


def _prefixed(props: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in props.items() if k.startswith(prefix)}


def make_converter(which: str, connector_props: Mapping[str, Any], worker: WorkerConfig) -> Converter:
    """The key (``which="key"``) or value converter for a connector: its own ``<which>.converter`` with its
    ``<which>.converter.*`` settings, else the worker's with the worker's settings."""
    key = f"{which}.converter"
    if connector_props.get(key):
        name, settings = str(connector_props[key]), _prefixed(connector_props, key + ".")
    else:
        name, settings = str(worker.get(key)), _prefixed(worker.originals, key + ".")
        # a connector may still tune the worker's converter (value.converter.schemas.enable=false)
        settings.update(_prefixed(connector_props, key + "."))
    cls = REGISTRY.load(name, "converter")
    conv: Converter = cls()
    conv.configure(settings, which == "key")
    return conv


def make_header_converter(connector_props: Mapping[str, Any], worker: WorkerConfig) -> HeaderConverter:
    """The header converter for a connector (its own ``header.converter`` or the worker's)."""
    if connector_props.get("header.converter"):
        name = str(connector_props["header.converter"])
        settings = _prefixed(connector_props, "header.converter.")
    else:
        name = str(worker.get("header.converter"))
        settings = _prefixed(worker.originals, "header.converter.")
    cls = REGISTRY.load(name, "header_converter")
    conv: HeaderConverter = cls()
    conv.configure(settings)
    return conv


__all__ = ["JSON_CONVERTER", "WorkerConfig", "make_converter", "make_header_converter", "worker_config_def"]
