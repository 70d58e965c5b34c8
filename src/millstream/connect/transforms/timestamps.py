"""Time transforms: TimestampConverter and TimestampRouter, with Java ``SimpleDateFormat`` patterns.

Kafka configures formats as ``SimpleDateFormat`` patterns (``yyyy-MM-dd HH:mm:ss.SSS``); users copy them
from their Kafka configs, so :func:`java_format`/:func:`java_parse` accept that syntax (all times UTC).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ..config import ConfigDef, Importance, Type, ValidString
from ..data import DATE_SCHEMA, TIME_SCHEMA, TIMESTAMP_SCHEMA, Schema, from_epoch_ms, to_epoch_ms
from ..errors import ConnectorConfigError, DataError
from .base import Transformation, key_value_pair, rebuild_schema

_TOKENS = [
    ("yyyy", "%Y"),
    ("yy", "%y"),
    ("MMMM", "%B"),
    ("MMM", "%b"),
    ("MM", "%m"),
    ("M", "%m"),
    ("dd", "%d"),
    ("d", "%d"),
    ("HH", "%H"),
    ("H", "%H"),
    ("hh", "%I"),
    ("h", "%I"),
    ("mm", "%M"),
    ("m", "%M"),
    ("ss", "%S"),
    ("s", "%S"),
    ("SSS", "\x1fMS\x1f"),
    ("EEEE", "%A"),
    ("EEE", "%a"),
    ("a", "%p"),
    ("XXX", "%z"),
    ("Z", "%z"),
    ("X", "%z"),
    ("z", "%Z"),
]


def translate_java_pattern(pattern: str) -> str:
    """A ``SimpleDateFormat`` pattern as a ``strftime`` format (``SSS`` becomes a millisecond placeholder)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "'":
            j = pattern.find("'", i + 1)
            if j == i + 1:
                out.append("'")
                i += 2
                continue
            if j == -1:
                j = len(pattern)
            out.append(pattern[i + 1 : j].replace("%", "%%"))
            i = j + 1
            continue
        for tok, rep in _TOKENS:
            if pattern.startswith(tok, i):
                out.append(rep)
                i += len(tok)
                break
        else:
            if c.isalpha():
                raise ValueError(f"unsupported pattern letter {c!r} in date format {pattern!r}")
            out.append("%%" if c == "%" else c)
            i += 1
    return "".join(out)


def java_format(dt: _dt.datetime, pattern: str) -> str:
    """Format a datetime (naive = UTC) with a SimpleDateFormat pattern."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.UTC)
    fmt = translate_java_pattern(pattern)
    return dt.strftime(fmt).replace("\x1fMS\x1f", f"{dt.microsecond // 1000:03d}")


def java_parse(text: str, pattern: str) -> _dt.datetime:
    """Parse text with a SimpleDateFormat pattern into a UTC datetime; ``ValueError`` if it does not match."""
    fmt = translate_java_pattern(pattern).replace("\x1fMS\x1f", "%f")
    dt = _dt.datetime.strptime(text, fmt)
    return dt.replace(tzinfo=_dt.UTC) if dt.tzinfo is None else dt.astimezone(_dt.UTC)


TARGET_TYPES = ("string", "unix", "Date", "Time", "Timestamp")
_PRECISION = {"seconds": 1000, "milliseconds": 1, "microseconds": 0.001, "nanoseconds": 0.000001}


@key_value_pair
class TimestampConverter(Transformation):
    """Convert a timestamp field (or the whole value) between string, unix, Date, Time and Timestamp."""

    CONFIG_DEF = (
        ConfigDef()
        .define(
            "field",
            Type.STRING,
            "",
            importance=Importance.HIGH,
            documentation="Field; empty = the whole value.",
        )
        .define(
            "target.type",
            Type.STRING,
            validator=ValidString(*TARGET_TYPES),
            importance=Importance.HIGH,
            documentation="string, unix, Date, Time or Timestamp.",
        )
        .define("format", Type.STRING, "", importance=Importance.MEDIUM, documentation="SimpleDateFormat pattern.")
        .define(
            "unix.precision",
            Type.STRING,
            "milliseconds",
            validator=ValidString(*_PRECISION),
            importance=Importance.LOW,
            documentation="Unit of unix timestamps: seconds, milliseconds, microseconds, nanoseconds.",
        )
    )

    def setup(self) -> None:
        fmt = self.config["format"]
        if self.config["target.type"] == "string" and not fmt:
            raise ConnectorConfigError(
                {"format": ["TimestampConverter requires format option to be specified when using string timestamps"]}
            )
        if fmt:
            try:
                translate_java_pattern(fmt)
            except ValueError as exc:
                raise ConnectorConfigError(
                    {"format": [f"Invalid value {fmt} for configuration format: {exc}"]}
                ) from None

    def _to_datetime(self, v: Any) -> _dt.datetime:
        if isinstance(v, _dt.datetime):
            return v if v.tzinfo else v.replace(tzinfo=_dt.UTC)
        if isinstance(v, _dt.date):
            return _dt.datetime(v.year, v.month, v.day, tzinfo=_dt.UTC)
        if isinstance(v, _dt.time):
            return _dt.datetime(1970, 1, 1, v.hour, v.minute, v.second, v.microsecond, tzinfo=_dt.UTC)
        if isinstance(v, bool):
            raise DataError("TimestampConverter cannot convert a boolean")
        if isinstance(v, int | float):
            return from_epoch_ms(int(v * _PRECISION[self.config["unix.precision"]]))
        if isinstance(v, str):
            fmt = self.config["format"]
            if not fmt:
                raise DataError(f"TimestampConverter needs 'format' to parse the string {v!r}")
            try:
                return java_parse(v, fmt)
            except ValueError as exc:
                raise DataError(
                    f"Could not parse timestamp: value ({v}) does not match pattern ({fmt}): {exc}"
                ) from None
        raise DataError(f"TimestampConverter cannot convert a {type(v).__name__}")

    def _convert(self, v: Any) -> tuple[Any, Schema]:
        dt = self._to_datetime(v)
        t = self.config["target.type"]
        if t == "string":
            return java_format(dt, self.config["format"]), Schema("string", True)
        if t == "unix":
            ms = to_epoch_ms(dt)
            prec = self.config["unix.precision"]
            return (ms // 1000 if prec == "seconds" else int(ms / _PRECISION[prec])), Schema("int64", True)
        if t == "Date":
            return dt.date(), DATE_SCHEMA.as_optional()
        if t == "Time":
            return dt.time(), TIME_SCHEMA.as_optional()
        return dt, TIMESTAMP_SCHEMA.as_optional()

    def apply(self, record: Any) -> Any:
        value = self.operating_value(record)
        schema = self.operating_schema(record)
        if value is None:
            return record
        name = self.config["field"]
        if not name:
            new, new_schema = self._convert(value)
            return self.new_record(record, None if schema is None else new_schema, new)
        out = dict(self.require_map(value, "converting timestamp formats"))
        if out.get(name) is None:
            return self.new_record(record, schema, out)
        out[name], fs = self._convert(out[name])
        return self.new_record(record, rebuild_schema(schema, out, {name: fs}), out)


class TimestampRouter(Transformation):
    """Route records to ``topic.format`` (``${topic}-${timestamp}``) with the record timestamp formatted by
    ``timestamp.format`` (``yyyyMMdd``)."""

    CONFIG_DEF = (
        ConfigDef()
        .define(
            "topic.format",
            Type.STRING,
            "${topic}-${timestamp}",
            importance=Importance.HIGH,
            documentation="Topic name template.",
        )
        .define(
            "timestamp.format",
            Type.STRING,
            "yyyyMMdd",
            importance=Importance.HIGH,
            documentation="SimpleDateFormat pattern.",
        )
    )

    def setup(self) -> None:
        try:
            translate_java_pattern(self.config["timestamp.format"])
        except ValueError as exc:
            raise ConnectorConfigError({"timestamp.format": [str(exc)]}) from None

    def apply(self, record: Any) -> Any:
        if record.timestamp is None:
            raise DataError(f"Timestamp missing on record: topic {record.topic}")
        stamp = java_format(from_epoch_ms(record.timestamp), self.config["timestamp.format"])
        topic = self.config["topic.format"].replace("${topic}", record.topic).replace("${timestamp}", stamp)
        return record.new_record(topic=topic)


__all__ = ["TimestampConverter", "TimestampRouter", "java_format", "java_parse", "translate_java_pattern"]
