"""Predicates for conditional transforms: TopicNameMatches, HasHeaderKey, RecordIsTombstone."""

from __future__ import annotations

import re
from typing import Any

from ..config import ConfigDef, Importance, Type, non_empty_string, valid_regex
from .base import Predicate


class TopicNameMatches(Predicate):
    """True for records whose topic name matches ``pattern`` (the whole name)."""

    CONFIG_DEF = ConfigDef().define(
        "pattern",
        Type.STRING,
        validator=valid_regex,
        importance=Importance.MEDIUM,
        documentation="Regular expression.",
    )

    def setup(self) -> None:
        self.pattern = re.compile(self.config["pattern"])

    def test(self, record: Any) -> bool:
        return record.topic is not None and self.pattern.fullmatch(record.topic) is not None


class HasHeaderKey(Predicate):
    """True for records with at least one header named ``name``."""

    CONFIG_DEF = ConfigDef().define(
        "name",
        Type.STRING,
        validator=non_empty_string,
        importance=Importance.MEDIUM,
        documentation="Header name.",
    )

    def test(self, record: Any) -> bool:
        name = self.config["name"]
        return any(h.key == name for h in record.headers)


class RecordIsTombstone(Predicate):
    """True for tombstones (records whose value is null)."""

    def test(self, record: Any) -> bool:
        return record.value is None


__all__ = ["HasHeaderKey", "RecordIsTombstone", "TopicNameMatches"]
