"""Routing and filtering transforms: RegexRouter, Filter, and the header transforms HeaderFrom,
InsertHeader, DropHeaders."""

from __future__ import annotations

import re
from typing import Any

from ..config import ConfigDef, Importance, Type, ValidString, valid_regex
from ..data import Header, infer_schema
from ..errors import ConnectorConfigError
from .base import Transformation, key_value_pair, rebuild_schema


def java_replacement(text: str) -> str:
    """A Java regex replacement (``$1``, ``${name}``, ``\\$``) as a Python one (``\\g<1>``)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(re.escape(text[i + 1]) if text[i + 1] != "\\" else "\\\\")
            i += 2
        elif c == "$" and i + 1 < len(text) and text[i + 1] == "{":
            j = text.index("}", i)
            out.append(f"\\g<{text[i + 2 : j]}>")
            i = j + 1
        elif c == "$" and i + 1 < len(text) and text[i + 1].isdigit():
            j = i + 1
            while j < len(text) and text[j].isdigit():
                j += 1
            out.append(f"\\g<{text[i + 1 : j]}>")
            i = j
        else:
            out.append("\\\\" if c == "\\" else c)
            i += 1
    return "".join(out)


class RegexRouter(Transformation):
    """Rename the topic when it matches ``regex`` (the whole name) to ``replacement`` (``$1`` refers to
    groups)."""

    CONFIG_DEF = (
        ConfigDef()
        .define(
            "regex",
            Type.STRING,
            validator=valid_regex,
            importance=Importance.HIGH,
            documentation="Regular expression.",
        )
        .define("replacement", Type.STRING, importance=Importance.HIGH, documentation="Replacement string.")
    )

    def setup(self) -> None:
        self.regex = re.compile(self.config["regex"])
        self.replacement = java_replacement(self.config["replacement"])

    def apply(self, record: Any) -> Any:
        m = self.regex.fullmatch(record.topic)
        if m is None:
            return record
        return record.new_record(topic=m.expand(self.replacement))


class Filter(Transformation):
    """Drop every record it is applied to; use it with a predicate (``predicate``/``negate``)."""

    def apply(self, record: Any) -> Any:
        return None


@key_value_pair
class HeaderFrom(Transformation):
    """Copy or move key/value ``fields`` into ``headers`` (same count, in order)."""

    CONFIG_DEF = (
        ConfigDef()
        .define("fields", Type.LIST, importance=Importance.HIGH, documentation="Fields to take.")
        .define("headers", Type.LIST, importance=Importance.HIGH, documentation="Header names, one per field.")
        .define(
            "operation",
            Type.STRING,
            validator=ValidString("move", "copy"),
            importance=Importance.HIGH,
            documentation="move or copy.",
        )
    )

    def setup(self) -> None:
        if len(self.config["fields"]) != len(self.config["headers"]):
            raise ConnectorConfigError(
                {"headers": ["'fields' config must have the same number of elements as 'headers' config."]}
            )

    def apply(self, record: Any) -> Any:
        value = self.operating_value(record)
        if value is None:
            return record
        src = self.require_map(value, "header from field extraction")
        schema = self.operating_schema(record)
        headers = list(record.headers)
        for f, h in zip(self.config["fields"], self.config["headers"], strict=True):
            fs = None
            if schema is not None and schema.type == "struct":
                fld = schema.field(f)
                fs = fld.schema if fld else None
            headers.append(Header(h, src.get(f), fs or infer_schema(src.get(f), True)))
        if self.config["operation"] == "move":
            out = {k: v for k, v in src.items() if k not in set(self.config["fields"])}
            rec = self.new_record(record, rebuild_schema(schema, out), out)
        else:
            rec = record
        return rec.new_record(headers=headers)


class InsertHeader(Transformation):
    """Add a header ``header`` with the literal string value ``value.literal``."""

    CONFIG_DEF = (
        ConfigDef()
        .define("header", Type.STRING, importance=Importance.HIGH, documentation="Header name.")
        .define("value.literal", Type.STRING, importance=Importance.HIGH, documentation="Header value.")
    )

    def apply(self, record: Any) -> Any:
        h = Header(self.config["header"], self.config["value.literal"], infer_schema("", True))
        return record.new_record(headers=[*record.headers, h])


class DropHeaders(Transformation):
    """Remove all headers with the given names (``headers``)."""

    CONFIG_DEF = ConfigDef().define("headers", Type.LIST, importance=Importance.HIGH, documentation="Header names.")

    def setup(self) -> None:
        self.names = set(self.config["headers"])

    def apply(self, record: Any) -> Any:
        return record.new_record(headers=[h for h in record.headers if h.key not in self.names])


__all__ = ["DropHeaders", "Filter", "HeaderFrom", "InsertHeader", "RegexRouter", "java_replacement"]
