"""Flink's ``json`` and ``csv`` formats: a row (tuple of internal values) to and from one line of text.

JSON objects map fields by column name (a missing field is ``NULL``); timestamps are written as Flink's
``SQL`` timestamp standard does (``2024-01-01 12:00:00.5``, ``...Z`` for ``TIMESTAMP_LTZ``); ``DECIMAL``
is a JSON number. CSV maps fields by position, ``NULL`` is an empty field. A line that cannot be read
fails the job naming the line, unless ``'json.ignore-parse-errors'`` / ``'csv.ignore-parse-errors'`` is
``'true'``, which skips it (Flink's options).
"""

from __future__ import annotations

import csv
import functools
import io
import operator
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson

from .errors import SqlError, SqlValidationError
from .expressions import Field, Projection
from .types import SqlType
from .values import format_date, format_double, format_timestamp, parse_date, parse_timestamp, to_decimal

FORMATS = ("json", "csv")

Decoder = Callable[[str], tuple[Any, ...] | None]
Encoder = Callable[[tuple[Any, ...]], str]


def _from_json_value(t: SqlType) -> Callable[[Any], Any]:
    n = t.name
    if t.is_integer:
        return lambda v: int(v)
    if n in ("FLOAT", "DOUBLE"):
        return lambda v: float(v)
    if n == "DECIMAL":
        return lambda v: to_decimal(v, t.scale)
    if n == "BOOLEAN":
        return lambda v: v if isinstance(v, bool) else str(v).lower() == "true"
    if n == "STRING":
        return lambda v: v if isinstance(v, str) else orjson.dumps(v).decode()
    if t.is_time:
        return lambda v: parse_timestamp(v)[0] if isinstance(v, str) else int(v)
    if n == "DATE":
        return lambda v: parse_date(v) if isinstance(v, str) else int(v)
    raise SqlValidationError(f"format does not support type {t}")


def _from_text(t: SqlType) -> Callable[[str], Any]:
    n = t.name
    if t.is_integer:
        return lambda v: int(v)
    if n in ("FLOAT", "DOUBLE"):
        return lambda v: float(v)
    if n == "DECIMAL":
        return lambda v: to_decimal(v, t.scale)
    if n == "BOOLEAN":
        return lambda v: v.strip().lower() == "true"
    if n == "STRING":
        return lambda v: v
    if t.is_time:
        return lambda v: parse_timestamp(v)[0]
    if n == "DATE":
        return parse_date
    raise SqlValidationError(f"format does not support type {t}")


def _memo(fn: Callable[[Any], str]) -> Callable[[Any], str]:
    """``fn`` remembering its recent results: timestamps repeat in results (every key of a window has the
    window's start and end), and formatting one costs far more than a lookup."""
    return functools.lru_cache(maxsize=4096)(fn)


def _to_json_value(t: SqlType) -> Callable[[Any], Any] | None:
    if t.name == "DATE":
        return format_date
    if t.name == "TIMESTAMP":
        return _memo(lambda v: format_timestamp(v, t.precision or 3, trim=True))
    if t.name == "TIMESTAMP_LTZ":
        return _memo(lambda v: format_timestamp(v, t.precision or 3, trim=True) + "Z")
    if t.name == "DECIMAL":
        return lambda v: orjson.Fragment(format(v, "f")) if isinstance(v, Decimal) else v
    return None


def _to_text(t: SqlType) -> Callable[[Any], str]:
    if t.name == "DATE":
        return format_date
    if t.name == "TIMESTAMP":
        return _memo(lambda v: format_timestamp(v, t.precision or 3, trim=True))
    if t.name == "TIMESTAMP_LTZ":
        return _memo(lambda v: format_timestamp(v, t.precision or 3, trim=True) + "Z")
    if t.name in ("FLOAT", "DOUBLE"):
        return format_double
    if t.name == "BOOLEAN":
        return lambda v: "true" if v else "false"
    if t.name == "DECIMAL":
        return lambda v: format(v, "f")
    return str


def _null_field(name: str) -> Callable[[], Any]:
    def fail() -> Any:
        raise SqlError(
            f"field '{name}' is declared NOT NULL but a record has no value for it",
            hint="fix the data or drop NOT NULL",
        )

    return fail


def json_row(fields: Sequence[Field]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A generated function from a parsed JSON object to a row: values already of the column's Python type
    pass through (the common case costs one dict lookup per column), others are converted."""
    code, ns = json_row_code(fields)
    return eval("lambda o: " + code, ns)


def json_row_code(fields: Sequence[Field]) -> tuple[str, dict[str, Any]]:
    """:func:`json_row` as Python source over a parsed object ``o`` and the names it uses."""
    ns: dict[str, Any] = {}
    parts = []
    for i, f in enumerate(fields):
        get = f"o.get({f.name!r})"
        ns[f"_c{i}"] = _from_json_value(f.type)
        native = {"STRING": "str", "BOOLEAN": "bool", "DOUBLE": "float", "FLOAT": "float"}.get(f.type.name)
        if f.type.is_integer:
            native = "int"
        if not f.type.nullable:
            ns[f"_null{i}"] = _null_field(f.name)
            conv = f"(v{i} if v{i}.__class__ is {native} else _c{i}(v{i}))" if native else f"_c{i}(v{i})"
            parts.append(f"(_null{i}() if (v{i} := {get}) is None else {conv})")
        elif native is None:
            parts.append(f"(None if (v{i} := {get}) is None else _c{i}(v{i}))")
        else:
            parts.append(f"(v{i} if (v{i} := {get}).__class__ is {native} or v{i} is None else _c{i}(v{i}))")
    checked = "(" + "".join(p + ", " for p in parts) + ")"
    natives = [_NATIVE.get(f.type.name, int if f.type.is_integer else None) for f in fields]
    if len(fields) < 2 or any(n is None for n in natives):
        return checked, ns
    # the common case in C: every field present with its column's Python type, in one itemgetter call and
    # one type comparison; anything else (a missing field, NULL, a value to convert) takes the checked path
    ns["_get"] = operator.itemgetter(*[f.name for f in fields])
    ns["_types"] = tuple(natives)
    ns["_checked"] = eval("lambda o: " + checked, dict(ns))
    ns["_fast"] = _fast_row
    return "_fast(o, _get, _types, _checked)", ns


_NATIVE: dict[str, type] = {"STRING": str, "BOOLEAN": bool, "DOUBLE": float, "FLOAT": float}

_PICK = re.compile(r"r\[(\d+)\]")
_ROWTIME_PICK = re.compile(r"\(_rt if \(_rt := r\[(\d+)\]\) is not None else _rowtime_null\(\)\)")


class JsonRows:
    """Rows of a JSON table from parsed objects, then ``finish`` (the scan's projection: computed columns, the
    rowtime check), as one function per object — and as a
    :class:`~millstream.stream.functions.BatchMapFunction`: a batch in which every object has every field
    with its column's Python type, projected by column picks only, is built in C (an ``itemgetter`` over the
    batch, one type test per column, an ``itemgetter`` projection). Any other batch is built per object, with
    the same results (the rowtime NULL check cannot fail on values of the column's type)."""

    def __init__(self, fields: Sequence[Field], finish: Projection | None = None) -> None:
        code, ns = json_row_code(fields)
        self._one = finish.after(code, ns) if finish is not None else eval("lambda o: " + code, ns)
        self._get = ns.get("_get")
        self._types: tuple[type, ...] = ns.get("_types", ())
        self._project: Callable[[Any], Any] | None = None
        self._identity = finish is None
        if finish is not None:
            picks = [m.group(1) for p in finish.parts if (m := _PICK.fullmatch(p) or _ROWTIME_PICK.fullmatch(p))]
            if len(picks) == len(finish.parts) and len(picks) >= 2:
                self._project = operator.itemgetter(*map(int, picks))

    def __call__(self, o: Any) -> tuple[Any, ...]:
        return self._one(o)

    def map_batch(self, objects: list[Any]) -> list[Any]:
        get, one = self._get, self._one
        if get is None or (self._project is None and not self._identity):
            return list(map(one, objects))
        try:
            rows = list(map(get, objects))
        except (KeyError, TypeError):
            return list(map(one, objects))
        for column, t in zip(zip(*rows, strict=True), self._types, strict=False):
            seen = set(map(type, column))
            if len(seen) != 1 or t not in seen:
                return list(map(one, objects))
        return rows if self._project is None else list(map(self._project, rows))


def _fast_row(o: dict[str, Any], get: Any, types: tuple[type, ...], checked: Any) -> tuple[Any, ...]:
    try:
        row = get(o)
    except (KeyError, TypeError):
        return checked(o)
    if tuple(map(type, row)) == types:
        return row
    return checked(o)


def decoder(fmt: str, fields: Sequence[Field], options: dict[str, str], where: str) -> Decoder:
    """A function from a line to a row; ``None`` for a line to skip (blank, or bad and ignored)."""
    ignore = options.get(f"{fmt}.ignore-parse-errors", "false").lower() == "true"
    if fmt == "json":
        to_row = json_row(fields)
        loads = orjson.loads

        def decode_json(line: str) -> tuple[Any, ...] | None:
            if not line.strip():
                return None
            try:
                return to_row(loads(line))
            except Exception as exc:
                if ignore:
                    return None
                raise SqlError(
                    f"cannot read JSON line of {where}: {exc}: {line[:200]!r}",
                    hint="fix the data, or set 'json.ignore-parse-errors' = 'true' to skip such lines",
                ) from exc

        return decode_json
    if fmt == "csv":
        delim = options.get("csv.field-delimiter", ",")
        convs_t = [_from_text(f.type) for f in fields]
        null_literal = options.get("csv.null-literal", "")

        def decode_csv(line: str) -> tuple[Any, ...] | None:
            if not line.strip():
                return None
            try:
                parts = next(csv.reader([line], delimiter=delim))
                if len(parts) != len(convs_t):
                    raise ValueError(f"{len(parts)} fields, expected {len(convs_t)}")
                return tuple(None if p == null_literal else c(p) for p, c in zip(parts, convs_t, strict=True))
            except Exception as exc:
                if ignore:
                    return None
                raise SqlError(
                    f"cannot read CSV line of {where}: {exc}: {line[:200]!r}",
                    hint="fix the data, or set 'csv.ignore-parse-errors' = 'true' to skip such lines",
                ) from exc

        return decode_csv
    raise SqlValidationError(f"unknown format '{fmt}'", hint=f"use one of: {', '.join(FORMATS)}")


def encoder(fmt: str, fields: Sequence[Field], options: dict[str, str]) -> Encoder:
    """A function from a row to one line (without the newline)."""
    if fmt == "json":
        names = [f.name for f in fields]
        convs = [_to_json_value(f.type) for f in fields]
        if not any(convs):
            return lambda row: orjson.dumps(dict(zip(names, row, strict=True))).decode()
        # generated: one dict display per row, each converted column as ``(None if v is None else c(v))``
        ns: dict[str, Any] = {"_dumps": orjson.dumps}
        items = []
        for i, (n, c) in enumerate(zip(names, convs, strict=True)):
            if c is None:
                items.append(f"{n!r}: row[{i}]")
            else:
                ns[f"_c{i}"] = c
                items.append(f"{n!r}: (None if (v{i} := row[{i}]) is None else _c{i}(v{i}))")
        return eval("lambda row: _dumps({" + ", ".join(items) + "}).decode()", ns)
    if fmt == "csv":
        delim = options.get("csv.field-delimiter", ",")
        convs_t = [_to_text(f.type) for f in fields]

        def encode_csv(row: tuple[Any, ...]) -> str:
            buf = io.StringIO()
            csv.writer(buf, delimiter=delim, lineterminator="").writerow(
                ["" if v is None else c(v) for v, c in zip(row, convs_t, strict=True)]
            )
            return buf.getvalue()

        return encode_csv
    raise SqlValidationError(f"unknown format '{fmt}'", hint=f"use one of: {', '.join(FORMATS)}")


__all__ = ["FORMATS", "JsonRows", "decoder", "encoder", "json_row", "json_row_code"]
