"""Whether data valid under one JSON Schema is valid under another: the rules the in-process registry
applies (a subset of Confluent's JSON Schema compatibility checker, judged by what data can pass).

Compared recursively through ``properties`` of objects and ``items`` of arrays:

- ``TYPE_CHANGED`` — the reader's ``type`` does not accept every type the writer allows (``number``
  accepts ``integer``; a missing ``type`` accepts all);
- ``REQUIRED_PROPERTY_ADDED`` — the reader requires a property the writer did not require, so older data
  may lack it;
- ``PROPERTY_NOT_ALLOWED`` — the reader closes the object (``additionalProperties: false``) and lacks a
  property the writer allows.

Changes these rules do not see (``enum`` narrowing, ``minimum``/``maxLength`` tightening, ``$ref``s,
``oneOf``/``anyOf`` branches, patterns) pass here; a real registry applies Confluent's full rules.
"""

from __future__ import annotations

from typing import Any

import orjson


def _types(schema: Any) -> set[str] | None:
    t = schema.get("type") if isinstance(schema, dict) else None
    if t is None:
        return None
    return {t} if isinstance(t, str) else set(t)


def _accepts(reader: set[str] | None, writer: set[str] | None) -> bool:
    if reader is None:
        return True
    if writer is None:
        return False
    widened = reader | ({"integer"} if "number" in reader else set())
    return writer <= widened


def _compare(reader: Any, writer: Any, path: str, out: list[str]) -> None:
    if not isinstance(reader, dict) or not isinstance(writer, dict):
        return
    rt, wt = _types(reader), _types(writer)
    if not _accepts(rt, wt):
        out.append(f"TYPE_CHANGED at {path or '/'}: {sorted(wt or ['any'])} -> {sorted(rt or ['any'])}")
        return
    r_props, w_props = reader.get("properties") or {}, writer.get("properties") or {}
    if r_props or w_props or reader.get("required"):
        added = set(reader.get("required") or ()) - set(writer.get("required") or ())
        out.extend(f"REQUIRED_PROPERTY_ADDED at {path}/{p}" for p in sorted(added))
        if reader.get("additionalProperties") is False:
            out.extend(f"PROPERTY_NOT_ALLOWED at {path}/{p}" for p in sorted(set(w_props) - set(r_props)))
        for name in sorted(set(r_props) & set(w_props)):
            _compare(r_props[name], w_props[name], f"{path}/{name}", out)
    if "items" in reader and "items" in writer:
        _compare(reader["items"], writer["items"], f"{path}/items", out)


def json_read_problems(reader: str, writer: str) -> list[str]:
    """Why data valid under ``writer`` may be invalid under ``reader`` (empty: the rules see no reason)."""
    out: list[str] = []
    _compare(orjson.loads(reader), orjson.loads(writer), "", out)
    return out


__all__ = ["json_read_problems"]
