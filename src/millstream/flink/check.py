"""What can run on Apache Flink: the pure translatability check (no PyFlink needed).

:func:`check_job` walks a frozen job graph (the sinks' :class:`~millstream.stream.graph.Transformation`
ancestry) and raises :class:`FlinkTranslationError` — naming the operator and what to use instead — for
anything :mod:`millstream.flink.translate` cannot put on PyFlink's DataStream API:

- the embedded log (``file://``, ``memory://``, or a log source/sink naming none, which means the embedded
  default) as a **source** (PyFlink has no Python sources, and Flink's own cannot read millstream's SQLite
  log; use Kafka);
- the embedded log as a **sink** except a ``file://`` log (or the default, naming none) on a *local* Flink
  (the mini-cluster: no ``--flink-address``; also an exported program run on this machine), where it is
  written at-least-once by a Python function in Flink's workers (:class:`~millstream.flink.pyflink_functions.
  AppendToLog`, millstream's own ``LogSinkOperator``). Refused there: ``memory://`` (a log inside one process),
  ``DeliveryGuarantee.EXACTLY_ONCE`` (Flink's checkpoints cannot commit into millstream's log), and any
  embedded log on a remote cluster (``remote=True``: its TaskManagers run on other machines and cannot
  reach a file of this one);
- a Kafka-Connect connector inside a job (``env.add_source(connector)`` / ``add_sink(connector)``): run it
  with ``millstream connect standalone`` against Kafka and read/write the topic;
- source functions and generator sources (PyFlink has no Python sources);
- ``on_error()`` on a keyed or connected process function (on ``map``, ``filter``, ``flat_map`` and
  ``process`` it translates: :class:`~millstream.flink.pyflink_functions.Tolerant`);
- a user-written trigger that cannot merge (``can_merge()`` false) on session windows, as on millstream's
  engine. (User-written triggers and evictors translate: PyFlink's Python windows have neither, so a window
  with one runs as :class:`~millstream.flink.evicting.EvictingWindow`, a keyed process function with Flink
  state and timers);
- a Kafka source or sink without Flink's Kafka connector jar among ``jars`` (``--flink-jars``);
- a schema-registry format (``ConfluentRegistry...Schema``) on a Kafka source or sink: not translated.

:func:`check_jobmanager` checks that a remote JobManager's REST endpoint answers, so an unreachable
``--flink-address`` is reported before anything is submitted. Everything here runs in the user's own
interpreter before PyFlink is started.
"""

from __future__ import annotations

import os
import socket
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any

from ..core.errors import ConfigError
from ..stream.connector_descriptors import ConnectorSink, ConnectorSource
from ..stream.connectors import (
    CollectionSource,
    DeliveryGuarantee,
    FileSink,
    FileSource,
    FunctionSink,
    FunctionSource,
    LogSink,
    LogSource,
    PrintSink,
)
from ..stream.functions import is_checkpointed
from ..stream.graph import Transformation, topological
from ..stream.windows import (
    ContinuousEventTimeTrigger,
    ContinuousProcessingTimeTrigger,
    CountEvictor,
    CountTrigger,
    EventTimeSessionWindows,
    EventTimeTrigger,
    GlobalWindows,
    ProcessingTimeSessionWindows,
    ProcessingTimeTrigger,
    PurgingTrigger,
    SlidingEventTimeWindows,
    SlidingProcessingTimeWindows,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
)

KAFKA_SOURCE_CLASS = "org/apache/flink/connector/kafka/source/KafkaSource.class"
KAFKA_SINK_CLASS = "org/apache/flink/connector/kafka/sink/KafkaSink.class"
KAFKA_JAR_HINT = (
    "add Flink's Kafka connector for Flink 2.x with --flink-jars, e.g. "
    "--flink-jars flink-sql-connector-kafka-4.0.0-2.0.jar (from Maven Central: "
    "org.apache.flink:flink-sql-connector-kafka)"
)

ASSIGNERS = (
    TumblingEventTimeWindows,
    SlidingEventTimeWindows,
    EventTimeSessionWindows,
    TumblingProcessingTimeWindows,
    SlidingProcessingTimeWindows,
    ProcessingTimeSessionWindows,
    GlobalWindows,
)
TRIGGERS = (
    EventTimeTrigger,
    ProcessingTimeTrigger,
    ContinuousEventTimeTrigger,
    ContinuousProcessingTimeTrigger,
    CountTrigger,
    PurgingTrigger,
)
KINDS = (
    "source",
    "sink",
    "partition",
    "map",
    "filter",
    "flat_map",
    "process",
    "keyed_process",
    "co_process",
    "rolling",
    "union",
    "side",
    "assign_timestamps",
    "window",
    "interval_join",
)


class FlinkTranslationError(ConfigError):
    """Part of the job cannot run on Apache Flink; the message names the operator, the hint what to use."""


def kafka_url(url: str | None) -> bool:
    """True for a ``kafka://`` log URL (what Flink's Kafka connector can read)."""
    return url is not None and url.startswith("kafka://")


def _jar_has(jar: str, entry: str) -> bool:
    try:
        with zipfile.ZipFile(jar) as zf:
            return entry in zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def check_jars(jars: Sequence[str]) -> None:
    """Every ``--flink-jars`` path exists and is a jar (zip) file."""
    for jar in jars:
        if not os.path.isfile(jar):
            raise FlinkTranslationError(f"--flink-jars: {jar} does not exist", hint="check the path of the jar")
        if not zipfile.is_zipfile(jar):
            raise FlinkTranslationError(f"--flink-jars: {jar} is not a jar file", hint="name .jar files only")


def count_window_shape(p: dict[str, Any]) -> tuple[int, bool, int | None, bool] | None:
    """For a count window (``GlobalWindows`` with ``CountTrigger(n)``, optionally purging, optionally with a
    ``CountEvictor(size)``): ``(n, purge, size, evict_after)``; ``None`` for any other window."""
    if not isinstance(p.get("assigner"), GlobalWindows):
        return None
    trigger, evictor = p.get("trigger"), p.get("evictor")
    purge = isinstance(trigger, PurgingTrigger)
    inner = trigger.nested if purge else trigger  # type: ignore[union-attr]
    if not isinstance(inner, CountTrigger):
        return None
    if evictor is not None and type(evictor) is not CountEvictor:
        return None
    keep = evictor.max_count if evictor is not None else None
    after = bool(evictor.do_evict_after) if evictor is not None else False
    return int(inner.count), purge, keep, after


def _describe(t: Transformation) -> str:
    return f"operator {t.name!r} ({t.kind})"


def embedded_file_sink(sink: LogSink) -> bool:
    """True for a ``LogSink`` to the embedded ``file://`` log (or to the default log, naming none: the pipeline
    runner fills in ``--log`` before the check, and ``$MILLSTREAM_LOG`` / ``file://./.millstream`` otherwise)."""
    from ..log import default_log_url

    url = sink.log_url or default_log_url()
    return url.startswith("file://")


def _where(url: str | None) -> str:
    return f"the embedded log {url}" if url else "the embedded default log (file://./.millstream)"


def _check_embedded_sink(t: Transformation, sink: LogSink, remote: bool) -> None:
    url = sink.log_url
    kafka_hint = "on Flink use Kafka: a KafkaSink (set_bootstrap_servers), or run with --log kafka://HOST:PORT"
    if not embedded_file_sink(sink):
        why = "an in-memory log lives inside one process" if (url or "").startswith("memory://") else "not a file://"
        raise FlinkTranslationError(
            f"{_describe(t)}: its sink is {_where(url)}, which Apache Flink cannot write ({why})",
            hint=f"{kafka_hint}; or a file:// log (on a local Flink), or a FileSink",
        )
    if remote:
        raise FlinkTranslationError(
            f"{_describe(t)}: its sink is {_where(url)}, which a remote Flink cluster (--flink-address) cannot "
            "write: its TaskManagers run on other machines and cannot reach a file of this one",
            hint=f"{kafka_hint}; or run on the local mini-cluster (without --flink-address), which writes the "
            "embedded log at-least-once",
        )
    if sink.delivery_guarantee == DeliveryGuarantee.EXACTLY_ONCE:
        raise FlinkTranslationError(
            f"{_describe(t)}: an exactly-once sink to {_where(url)} cannot run on Apache Flink: Flink's "
            "checkpoints cannot commit records into millstream's log, so Flink writes it at-least-once only",
            hint="set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE) to accept duplicates after a "
            "failure, use a KafkaSink (Flink commits it exactly-once), or run on millstream's engine",
        )


def _check_log(t: Transformation, desc: Any, what: str, jars: Sequence[str], remote: bool = False) -> None:
    url = desc.log_url
    if not kafka_url(url):
        if what == "sink":
            _check_embedded_sink(t, desc, remote)
            return
        raise FlinkTranslationError(
            f"{_describe(t)}: its source is {_where(url)}, which Apache Flink cannot read (PyFlink has no Python "
            "sources)",
            hint="on Flink use Kafka: a KafkaSource (set_bootstrap_servers), or run with --log kafka://HOST:PORT; "
            "or use a FileSource/FileSink or from_collection",
        )
    entry = KAFKA_SOURCE_CLASS if what == "source" else KAFKA_SINK_CLASS
    if not any(_jar_has(j, entry) for j in jars):
        named = ", ".join(jars) if jars else "no --flink-jars given"
        raise FlinkTranslationError(
            f"{_describe(t)}: a Kafka {what} on Flink needs Flink's Kafka connector jar ({named}; none holds "
            f"{entry.replace('/', '.').removesuffix('.class')})",
            hint=KAFKA_JAR_HINT,
        )


def _check_registry(t: Transformation, fmt: Any) -> None:
    if fmt is not None:
        raise FlinkTranslationError(
            f"{_describe(t)}: the schema-registry format {fmt.flink_name} is not translated onto Apache Flink",
            hint="run the job on millstream, or read the topic in Flink SQL with Flink's own 'avro-confluent' format",
        )


def _check_source(t: Transformation, jars: Sequence[str]) -> None:
    desc = t.params.get("source")
    if isinstance(desc, CollectionSource | FileSource):
        return
    if isinstance(desc, LogSource):
        _check_registry(t, desc.value_registry)
        _check_log(t, desc, "source", jars)
        return
    if isinstance(desc, ConnectorSource):
        raise FlinkTranslationError(
            f"{_describe(t)}: a Kafka Connect connector inside a job cannot run on Apache Flink",
            hint="run the connector with `millstream connect standalone` writing to a Kafka topic, and read "
            "that topic with a KafkaSource",
        )
    if isinstance(desc, FunctionSource):
        raise FlinkTranslationError(
            f"{_describe(t)}: a source function / generator source cannot run on Apache Flink (PyFlink has no "
            "Python sources)",
            hint="use env.from_collection(...), a FileSource, or a KafkaSource",
        )
    raise FlinkTranslationError(
        f"{_describe(t)}: source {type(desc).__name__} has no Flink translation",
        hint="use env.from_collection(...), a FileSource, or a KafkaSource",
    )


def is_collecting_sink(sink: Any) -> bool:
    """millstream.testing's ``CollectingSink`` (duck-typed: ``values`` and ``timestamps`` lists)."""
    return isinstance(getattr(sink, "values", None), list) and isinstance(getattr(sink, "timestamps", None), list)


def _check_sink(t: Transformation, jars: Sequence[str], remote: bool) -> None:
    sink = t.params.get("sink")
    if isinstance(sink, PrintSink | FileSink | FunctionSink) or is_collecting_sink(sink):
        return
    if isinstance(sink, LogSink):
        _check_registry(t, sink.value_registry or sink.key_registry)
        _check_log(t, sink, "sink", jars, remote)
        return
    if isinstance(sink, ConnectorSink):
        raise FlinkTranslationError(
            f"{_describe(t)}: a Kafka Connect connector inside a job cannot run on Apache Flink",
            hint="write to a Kafka topic with a KafkaSink and run the connector on it with "
            "`millstream connect standalone`",
        )
    raise FlinkTranslationError(
        f"{_describe(t)}: sink {type(sink).__name__} has no Flink translation",
        hint="use print(), a FileSink, a KafkaSink or add_sink(function)",
    )


def _check_window(t: Transformation) -> None:
    p = t.params
    assigner = p["assigner"]
    if type(assigner) not in ASSIGNERS:
        raise FlinkTranslationError(
            f"{_describe(t)}: window assigner {type(assigner).__name__} has no Flink translation",
            hint="use a tumbling, sliding, session or global window assigner, or count_window(...)",
        )
    if count_window_shape(p) is not None:
        return
    trigger = p.get("trigger")
    if trigger is not None and assigner.is_merging and not trigger.can_merge():
        raise FlinkTranslationError(
            f"{_describe(t)}: trigger {type(trigger).__name__} cannot be used with merging (session) windows",
            hint="return True from the trigger's can_merge() and implement on_merge(window, ctx)",
        )


def is_builtin_trigger(trigger: Any) -> bool:
    """Whether ``trigger`` (``None``: the assigner's default) is one of Flink's built-in triggers, a
    ``PurgingTrigger`` of one included, which PyFlink's window API takes; a user-written trigger runs in
    :class:`~millstream.flink.evicting.EvictingWindow`."""
    nested = trigger
    while isinstance(nested, PurgingTrigger):
        nested = nested.nested
    return trigger is None or type(nested) in TRIGGERS


def check_job(
    sinks: Iterable[Transformation], jars: Sequence[str] = (), *, remote: bool = False
) -> list[Transformation]:
    """Check that the graph ending at ``sinks`` translates onto PyFlink; returns its nodes in topological
    order. Raises :class:`FlinkTranslationError` (naming the operator and the fix) on the first that does not.
    ``remote``: the job goes to a Flink cluster (``--flink-address``), whose TaskManagers cannot write the
    embedded log; else it runs on a local mini-cluster, which can."""
    check_jars(jars)
    nodes = topological(list(sinks))
    for t in nodes:
        if t.kind not in KINDS:
            raise FlinkTranslationError(
                f"{_describe(t)}: no Flink translation for transformations of kind {t.kind!r}",
                hint="see docs/flink.md for what translates",
            )
        if t.params.get("on_error") is not None and t.kind not in ("map", "filter", "flat_map", "process"):
            raise FlinkTranslationError(
                f"{_describe(t)}: on_error() (failed elements to a side output) on a keyed or connected "
                "process function has no Flink translation",
                hint="catch the error in the function and yield ('failed', element) to an OutputTag yourself, "
                "or run on millstream's engine",
            )
        if t.kind in ("map", "filter", "flat_map", "process") and is_checkpointed(t.params.get("user_fn")):
            raise FlinkTranslationError(
                f"{_describe(t)}: operator state (CheckpointedFunction) has no PyFlink translation",
                hint="PyFlink's Python API has no operator state: keep the state in keyed state after key_by(...), "
                "or run on millstream's engine",
            )
        if t.kind == "source":
            _check_source(t, jars)
        elif t.kind == "sink":
            _check_sink(t, jars, remote)
        elif t.kind == "window":
            _check_window(t)
        elif t.kind == "partition" and t.params["partitioning"].strategy not in (
            "HASH",
            "FORWARD",
            "REBALANCE",
            "RESCALE",
            "SHUFFLE",
            "BROADCAST",
            "GLOBAL",
            "CUSTOM",
        ):
            raise FlinkTranslationError(
                f"{_describe(t)}: partitioning {t.params['partitioning'].strategy} has no Flink translation",
                hint="use key_by, rebalance, rescale, shuffle, broadcast, forward, global_ or partition_custom",
            )
    return nodes


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` of a JobManager's REST endpoint (``http://`` allowed) or a clear error."""
    text = address.removeprefix("http://").removeprefix("https://").rstrip("/")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise FlinkTranslationError(
            f"--flink-address {address!r} is not host:port",
            hint="name the JobManager's REST endpoint, e.g. --flink-address localhost:8081",
        )
    return host, int(port)


def check_jobmanager(address: str, timeout: float = 3.0) -> tuple[str, int]:
    """Checks that the JobManager at ``address`` (``host:port`` of its REST endpoint) answers ``/config``;
    raises :class:`FlinkTranslationError` when it is unreachable or not a Flink JobManager."""
    host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(f"GET /config HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
            reply = b""
            while len(reply) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        raise FlinkTranslationError(
            f"the Flink JobManager at {host}:{port} is unreachable ({exc.strerror or exc})",
            hint="start the cluster (e.g. $FLINK_HOME/bin/start-cluster.sh) or fix --flink-address "
            "(the JobManager's REST port, 8081 by default)",
        ) from exc
    head, _, body = reply.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/") or b" 200 " not in head.split(b"\r\n", 1)[0] or b"flink-version" not in body:
        raise FlinkTranslationError(
            f"{host}:{port} answered, but not as a Flink JobManager's REST endpoint",
            hint="name the JobManager's REST port (rest.port, 8081 by default)",
        )
    return host, port


__all__ = [
    "FlinkTranslationError",
    "check_jars",
    "check_job",
    "check_jobmanager",
    "count_window_shape",
    "embedded_file_sink",
    "is_builtin_trigger",
    "is_collecting_sink",
    "kafka_url",
    "parse_address",
]
