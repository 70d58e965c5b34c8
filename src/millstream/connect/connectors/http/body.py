"""Batch bodies for the HTTP sink.

``request.body.format=json`` (default): the batch is a JSON array of the record values (``batch.json.as.array``
``false`` with ``batch.max.size=1`` sends the single value itself). Connect values become JSON the way
JsonConverter writes them without schemas: structs/maps as objects, ``datetime`` as ISO-8601 text, ``Decimal``
as a number, ``bytes`` as base64 text.

``request.body.format=string``: each value as text (JSON for structured values), joined with
``batch.separator`` between ``batch.prefix`` and ``batch.suffix`` (Confluent's defaults: ``""``, ``","``, ``""``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
from collections.abc import Sequence
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot write a {type(value).__name__} value as JSON")


def to_json(value: Any) -> bytes:
    """One Connect value as JSON bytes."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def json_body(values: Sequence[Any], *, as_array: bool = True) -> bytes:
    """A JSON body for a batch: an array of the values, or the single value when ``as_array`` is false."""
    if not as_array:
        if len(values) != 1:
            raise ValueError("a non-array JSON body holds exactly one value; use batch.max.size=1")
        return to_json(values[0])
    return to_json(list(values))


def string_body(values: Sequence[Any], *, prefix: str = "", separator: str = ",", suffix: str = "") -> bytes:
    """A text body: each value as text (bytes decoded as UTF-8, structures as JSON) joined by ``separator``."""
    parts = []
    for v in values:
        if isinstance(v, str):
            parts.append(v)
        elif isinstance(v, bytes | bytearray):
            parts.append(bytes(v).decode("utf-8", "replace"))
        elif v is None:
            parts.append("null")
        else:
            parts.append(to_json(v).decode())
    return (prefix + separator.join(parts) + suffix).encode()


__all__ = ["json_body", "string_body", "to_json"]
