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
        documentation="Name of the Connect cluster (used in the cluster id).",
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
        documentation="Compacted topic for connector configs and target states (worker mode).",
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
        documentation="REST listener, e.g. http://:8083 (first one used).",
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
        "consumer.max.poll.records",
        Type.INT,
        500,
        validator=Range.at_least(1),
        importance=Importance.LOW,
        documentation="Records per sink poll (connectors may set consumer.override.max.poll.records).",
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
