"""The framework's connector options (Kafka's ``ConnectorConfig``), full-config validation and transform
chains.

Every connector config has the common options (``name``, ``connector.class``, ``tasks.max``, converters,
``transforms``, ``predicates``, ``errors.*``); sinks add ``topics``/``topics.regex`` and the dead-letter
options. :func:`validate_connector_config` checks all of it, plus each transform's and predicate's own options
(``transforms.<alias>.<option>``) and the connector's declared options, and returns Kafka's ``ConfigInfos``
JSON shape. :func:`build_chain` turns the ``transforms``/``predicates`` options into a
:class:`TransformationChain`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .config import (
    ConfigDef,
    ConfigValue,
    Importance,
    Range,
    Type,
    ValidString,
    Width,
    non_empty_string,
    parse_type,
    valid_regex,
)
from .errors import ConnectorConfigError, PluginNotFoundError
from .plugins import REGISTRY
from .transforms.base import Predicate, Transformation

COMMON = "Common"
TRANSFORMS = "Transforms"
PREDICATES = "Predicates"
ERRORS = "Error Handling"


def _class_validator(group: str) -> Any:
    def check(name: str, value: Any) -> None:
        if value:
            try:
                REGISTRY.load(value, group)
            except PluginNotFoundError as exc:
                raise ValueError(exc.message) from None

    return check


def _no_control_chars(name: str, value: Any) -> None:
    if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("Connector name must not contain ISO control characters")


def _valid_name(name: str, value: Any) -> None:
    non_empty_string(name, value)
    _no_control_chars(name, value)


def _alias_list(name: str, value: Any) -> None:
    if value and len(set(value)) != len(value):
        raise ValueError("Duplicate alias provided.")


def common_config_def() -> ConfigDef:
    """Options every connector has."""
    d = ConfigDef()
    d.define(
        "name",
        Type.STRING,
        validator=_valid_name,
        importance=Importance.HIGH,
        documentation="Globally unique name to use for this connector.",
        group=COMMON,
        width=Width.MEDIUM,
        display_name="Connector name",
    )
    d.define(
        "connector.class",
        Type.STRING,
        importance=Importance.HIGH,
        documentation="Name or alias of the class for this connector, e.g. FileStreamSource.",
        group=COMMON,
        width=Width.LONG,
        display_name="Connector class",
    )
    d.define(
        "tasks.max",
        Type.INT,
        1,
        validator=Range.at_least(1),
        importance=Importance.HIGH,
        documentation="Maximum number of tasks to use for this connector.",
        group=COMMON,
        width=Width.SHORT,
        display_name="Tasks max",
    )
    for which in ("key", "value"):
        d.define(
            f"{which}.converter",
            Type.CLASS,
            None,
            validator=_class_validator("converter"),
            importance=Importance.LOW,
            documentation=f"Converter class for {which}s; the worker's {which}.converter if unset.",
            group=COMMON,
            width=Width.SHORT,
        )
    d.define(
        "header.converter",
        Type.CLASS,
        None,
        validator=_class_validator("header_converter"),
        importance=Importance.LOW,
        documentation="HeaderConverter class; the worker's header.converter if unset.",
        group=COMMON,
        width=Width.SHORT,
    )
    d.define(
        "task.execution.mode",
        Type.STRING,
        None,
        validator=ValidString("thread", "process"),
        importance=Importance.LOW,
        documentation="millstream: thread or process for this connector's tasks (default: the worker's).",
        group=COMMON,
    )
    d.define(
        "config.action.reload",
        Type.STRING,
        "restart",
        validator=ValidString("none", "restart"),
        importance=Importance.LOW,
        documentation="What to do when external config providers change (accepted for compatibility).",
        group=COMMON,
    )
    d.define(
        "transforms",
        Type.LIST,
        "",
        validator=_alias_list,
        importance=Importance.LOW,
        documentation="Aliases for the transformations to be applied to records.",
        group=TRANSFORMS,
        display_name="Transforms",
    )
    d.define(
        "predicates",
        Type.LIST,
        "",
        validator=_alias_list,
        importance=Importance.LOW,
        documentation="Aliases for the predicates used by transformations.",
        group=PREDICATES,
        display_name="Predicates",
    )
    d.define(
        "errors.retry.timeout",
        Type.LONG,
        0,
        validator=Range.at_least(-1),
        importance=Importance.MEDIUM,
        documentation="Maximum ms to retry a failed operation; 0 = no retries, -1 = forever.",
        group=ERRORS,
    )
    d.define(
        "errors.retry.delay.max.ms",
        Type.LONG,
        60000,
        validator=Range.at_least(1),
        importance=Importance.MEDIUM,
        documentation="Maximum ms between consecutive retries (backoff doubles up to this).",
        group=ERRORS,
    )
    d.define(
        "errors.tolerance",
        Type.STRING,
        "none",
        validator=ValidString("none", "all"),
        importance=Importance.MEDIUM,
        documentation="none: a failed record fails the task; all: skip failed records (and send them to the DLQ).",
        group=ERRORS,
    )
    d.define(
        "errors.log.enable",
        Type.BOOLEAN,
        False,
        importance=Importance.MEDIUM,
        documentation="Log each failed operation and record.",
        group=ERRORS,
    )
    d.define(
        "errors.log.include.messages",
        Type.BOOLEAN,
        False,
        importance=Importance.MEDIUM,
        documentation="Include the record's key/value in the error log.",
        group=ERRORS,
    )
    d.define(
        "errors.restart.enable",
        Type.BOOLEAN,
        False,
        importance=Importance.MEDIUM,
        documentation="millstream: restart failed tasks and connectors automatically, with exponential backoff.",
        group=ERRORS,
    )
    d.define(
        "errors.restart.backoff.initial.ms",
        Type.LONG,
        1000,
        validator=Range.at_least(0),
        importance=Importance.LOW,
        documentation="millstream: first automatic restart delay.",
        group=ERRORS,
    )
    d.define(
        "errors.restart.backoff.max.ms",
        Type.LONG,
        60000,
        validator=Range.at_least(0),
        importance=Importance.LOW,
        documentation="millstream: longest automatic restart delay.",
        group=ERRORS,
    )
    d.define(
        "errors.restart.max.attempts",
        Type.INT,
        -1,
        validator=Range.at_least(-1),
        importance=Importance.LOW,
        documentation="millstream: automatic restarts before a task stays FAILED; -1 = no limit.",
        group=ERRORS,
    )
    return d


def sink_config_def() -> ConfigDef:
    """Common options plus the sink ones."""
    d = common_config_def()
    d.define(
        "topics",
        Type.LIST,
        "",
        importance=Importance.HIGH,
        documentation="Topics to consume (or use topics.regex).",
        group=COMMON,
        display_name="Topics",
    )
    d.define(
        "topics.regex",
        Type.STRING,
        "",
        validator=valid_regex,
        importance=Importance.HIGH,
        documentation="Regular expression of topics to consume (or use topics).",
        group=COMMON,
        display_name="Topics regex",
    )
    d.define(
        "errors.deadletterqueue.topic.name",
        Type.STRING,
        "",
        importance=Importance.MEDIUM,
        documentation="Topic for records that failed (with errors.tolerance=all).",
        group=ERRORS,
    )
    d.define(
        "errors.deadletterqueue.topic.replication.factor",
        Type.SHORT,
        3,
        importance=Importance.LOW,
        documentation="Replication factor of the DLQ topic when it is created.",
        group=ERRORS,
    )
    d.define(
        "errors.deadletterqueue.context.headers.enable",
        Type.BOOLEAN,
        False,
        importance=Importance.MEDIUM,
        documentation="Add __connect.errors.* headers with the failure context to DLQ records.",
        group=ERRORS,
    )
    return d


def source_config_def() -> ConfigDef:
    """Common options plus the source ones."""
    d = common_config_def()
    d.define(
        "topic.creation.default.partitions",
        Type.INT,
        -1,
        importance=Importance.LOW,
        documentation="Partitions of topics the connector writes to when they are created (-1: 1 / broker default).",
        group="Topic Creation",
    )
    d.define(
        "topic.creation.default.replication.factor",
        Type.SHORT,
        -1,
        importance=Importance.LOW,
        documentation="Replication factor of created topics (-1: broker default).",
        group="Topic Creation",
    )
    d.define(
        "exactly.once.support",
        Type.STRING,
        "requested",
        validator=ValidString("requested", "required"),
        importance=Importance.LOW,
        documentation="Whether the connector needs exactly-once delivery (see worker exactly.once.source.support).",
        group=COMMON,
    )
    return d


def _enrich(base: ConfigDef, props: Mapping[str, Any], errors: dict[str, list[str]]) -> ConfigDef:
    """Add ``transforms.<alias>.*`` and ``predicates.<alias>.*`` keys for the configured aliases."""
    d = base.merge(ConfigDef())
    try:
        transforms = parse_type("transforms", props.get("transforms", ""), Type.LIST) or []
        predicates = parse_type("predicates", props.get("predicates", ""), Type.LIST) or []
    except ValueError:
        return d
    pred_set = set(predicates)
    for kind, aliases, group_name in (
        ("transformation", transforms, TRANSFORMS),
        ("predicate", predicates, PREDICATES),
    ):
        base_prefix = "transforms" if kind == "transformation" else "predicates"
        for alias in dict.fromkeys(aliases):
            prefix = f"{base_prefix}.{alias}."
            group = f"{group_name}: {alias}"
            d.define(
                prefix + "type",
                Type.CLASS,
                validator=_class_validator(kind),
                importance=Importance.HIGH,
                documentation=f"Class for the '{alias}' {kind}.",
                group=group,
            )
            if kind == "transformation":
                d.define(
                    prefix + "negate",
                    Type.BOOLEAN,
                    False,
                    importance=Importance.MEDIUM,
                    documentation="Apply the transform when the predicate does NOT match.",
                    group=group,
                )

                def _pred_check(n: str, v: Any) -> None:
                    if v and v not in pred_set:
                        raise ValueError(
                            f"predicate '{v}' is not defined; add it to 'predicates' and set predicates.{v}.type"
                        )

                d.define(
                    prefix + "predicate",
                    Type.STRING,
                    "",
                    validator=_pred_check,
                    importance=Importance.MEDIUM,
                    documentation="Alias of a predicate that decides when this transform applies.",
                    group=group,
                )
            type_name = props.get(prefix + "type")
            if not type_name:
                continue
            try:
                cls = REGISTRY.load(str(type_name), kind)
            except PluginNotFoundError:
                continue  # reported by the type validator
            child: ConfigDef = cls.CONFIG_DEF
            d.embed(prefix, group, 10, child)
            # cross-option checks the transform makes in configure()
            sub = {k[len(prefix) :]: v for k, v in props.items() if k.startswith(prefix)}
            try:
                child.parse(sub)
            except ConnectorConfigError:
                continue  # the embedded keys report these
            try:
                cls().configure(sub)
            except ConnectorConfigError as exc:
                for k, msgs in exc.errors.items():
                    errors.setdefault(prefix + k, []).extend(msgs)
            except Exception as exc:  # a transform's own failure to configure
                errors.setdefault(prefix + "type", []).append(f"{type(exc).__name__}: {exc}")
    return d


def validate_connector_config(props: Mapping[str, Any], connector_cls: Any = None) -> dict[str, Any]:
    """Validate a whole connector config; return Kafka's ``ConfigInfos`` dict (``error_count`` > 0 if
    invalid).

    ``connector_cls`` defaults to the class named by ``connector.class``; an unknown class is reported as
    an error on ``connector.class`` listing the known ones.
    """
    props = {k: v for k, v in props.items()}
    cls_name = props.get("connector.class")
    extra: dict[str, list[str]] = {}
    if connector_cls is None and cls_name:
        try:
            connector_cls = REGISTRY.load(str(cls_name), "connector")
        except PluginNotFoundError as exc:
            extra.setdefault("connector.class", []).append(exc.message)
    is_sink = connector_cls is not None and connector_cls.connector_type() == "sink"
    base = sink_config_def() if is_sink else source_config_def() if connector_cls is not None else common_config_def()
    d = _enrich(base, props, extra)
    values = {v.name: v for v in d.validate(props)}
    for k, msgs in extra.items():
        values.setdefault(k, ConfigValue(k, props.get(k))).errors.extend(m for m in msgs if m not in values[k].errors)
    if is_sink:
        _check_sink_topics(props, values)
    connector_values: list[ConfigValue] = []
    connector_def = ConfigDef()
    if connector_cls is not None:
        try:
            inst = connector_cls()
            connector_def = inst.config()
            connector_values = inst.validate(props)
        except Exception as exc:
            values.setdefault("connector.class", ConfigValue("connector.class", cls_name)).errors.append(
                f"the connector failed to validate its config: {type(exc).__name__}: {exc}"
            )
    configs = []
    for key in d.config_keys():
        configs.append({"definition": key.to_json(), "value": values[key.name].to_json()})
    for cv in connector_values:
        if cv.name in d:
            # a connector may re-declare a framework key (e.g. topics); merge its errors in
            for c in configs:
                if c["definition"]["name"] == cv.name:
                    c["value"]["errors"].extend(e for e in cv.errors if e not in c["value"]["errors"])
            continue
        definition = connector_def[cv.name].to_json() if cv.name in connector_def else _undeclared(cv.name)
        configs.append({"definition": definition, "value": cv.to_json()})
    groups = list(dict.fromkeys([*d.groups(), *connector_def.groups()]))
    error_count = sum(len(c["value"]["errors"]) for c in configs)
    name = f"{connector_cls.__module__}.{connector_cls.__qualname__}" if connector_cls is not None else str(cls_name)
    return {"name": name, "error_count": error_count, "groups": groups, "configs": configs}


def _undeclared(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STRING",
        "required": False,
        "default_value": None,
        "importance": "LOW",
        "documentation": "",
        "group": None,
        "width": "NONE",
        "display_name": name,
        "dependents": [],
        "order": -1,
    }


def _check_sink_topics(props: Mapping[str, Any], values: dict[str, ConfigValue]) -> None:
    topics = [t.strip() for t in str(props.get("topics") or "").split(",") if t.strip()]
    regex = str(props.get("topics.regex") or "").strip()
    if topics and regex:
        msg = "topics and topics.regex are mutually exclusive options, but both are set."
        values["topics"].errors.append(msg)
        values["topics.regex"].errors.append(msg)
    elif not topics and not regex:
        msg = "Must configure one of topics or topics.regex"
        values["topics"].errors.append(msg)
        values["topics.regex"].errors.append(msg)
    dlq = str(props.get("errors.deadletterqueue.topic.name") or "").strip()
    if dlq and (dlq in topics or (regex and _safe_match(regex, dlq))):
        values["errors.deadletterqueue.topic.name"].errors.append(
            f"The DLQ topic '{dlq}' may not be included in the list of topics consumed by the connector"
        )


def _safe_match(regex: str, topic: str) -> bool:
    try:
        return re.fullmatch(regex, topic) is not None
    except re.error:
        return False


def config_errors(infos: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{key: [errors]}`` from a ``ConfigInfos`` dict."""
    out: dict[str, list[str]] = {}
    for c in infos["configs"]:
        if c["value"]["errors"]:
            out[c["value"]["name"]] = list(c["value"]["errors"])
    return out


class TransformationChain:
    """Transforms applied in order, each gated by its predicate (``negate`` flips it). ``None`` = dropped."""

    def __init__(self, steps: list[tuple[str, Transformation, Predicate | None, bool]]) -> None:
        self.steps = steps

    def __bool__(self) -> bool:
        return bool(self.steps)

    def apply(self, record: Any) -> Any:
        for _alias, t, pred, negate in self.steps:
            if pred is not None and pred.test(record) == negate:
                continue
            record = t.apply(record)
            if record is None:
                return None
        return record

    def step_class(self, index: int) -> str:
        t = self.steps[index][1]
        return f"{type(t).__module__}.{type(t).__qualname__}"

    def close(self) -> None:
        for _alias, t, pred, _ in self.steps:
            t.close()
            if pred is not None:
                pred.close()


def build_chain(props: Mapping[str, Any]) -> TransformationChain:
    """The transform chain a (validated) connector config describes."""
    transforms = parse_type("transforms", props.get("transforms", ""), Type.LIST) or []
    predicates = parse_type("predicates", props.get("predicates", ""), Type.LIST) or []
    preds: dict[str, Predicate] = {}
    for alias in predicates:
        prefix = f"predicates.{alias}."
        pcls = REGISTRY.load(str(props.get(prefix + "type", "")), "predicate")
        p = pcls()
        p.configure({k[len(prefix) :]: v for k, v in props.items() if k.startswith(prefix)})
        preds[alias] = p
    steps = []
    for alias in transforms:
        prefix = f"transforms.{alias}."
        tcls = REGISTRY.load(str(props.get(prefix + "type", "")), "transformation")
        sub = {k[len(prefix) :]: v for k, v in props.items() if k.startswith(prefix)}
        pred_alias = str(sub.pop("predicate", "") or "")
        negate = parse_type("negate", sub.pop("negate", False), Type.BOOLEAN)
        sub.pop("type", None)
        t = tcls()
        t.configure(sub)
        steps.append((alias, t, preds.get(pred_alias) if pred_alias else None, bool(negate)))
    return TransformationChain(steps)


__all__ = [
    "TransformationChain",
    "build_chain",
    "common_config_def",
    "config_errors",
    "sink_config_def",
    "source_config_def",
    "validate_connector_config",
]
