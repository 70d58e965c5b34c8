"""Kafka Connect's single message transforms and predicates (see :mod:`.base` for the contract)."""

from .base import Predicate, Transformation
from .fields import Cast, ExtractField, Flatten, HoistField, InsertField, MaskField, ReplaceField, ValueToKey
from .predicates import HasHeaderKey, RecordIsTombstone, TopicNameMatches
from .routing import DropHeaders, Filter, HeaderFrom, InsertHeader, RegexRouter
from .timestamps import TimestampConverter, TimestampRouter

__all__ = [
    "Cast",
    "DropHeaders",
    "ExtractField",
    "Filter",
    "Flatten",
    "HasHeaderKey",
    "HeaderFrom",
    "HoistField",
    "InsertField",
    "InsertHeader",
    "MaskField",
    "Predicate",
    "RecordIsTombstone",
    "RegexRouter",
    "ReplaceField",
    "TimestampConverter",
    "TimestampRouter",
    "TopicNameMatches",
    "Transformation",
    "ValueToKey",
]
