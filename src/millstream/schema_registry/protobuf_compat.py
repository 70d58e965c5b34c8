"""Whether Protobuf data written with one schema can be read with another: the wire-level rules of
Confluent's Protobuf compatibility checker that the in-process registry applies (a subset of them).

Schemas are Confluent's registered form of a ``.proto`` file as Confluent's Python client sends it (a
base64-encoded ``FileDescriptorProto``). For every message of the writer's file, matched by full name:

- ``MESSAGE_REMOVED`` — the reader's file no longer has the message;
- ``FIELD_KIND_CHANGED`` — a field number changes between groups that do not share a wire encoding
  (``int32/uint32/int64/uint64/bool/enum`` | ``sint32/sint64`` | ``fixed32/sfixed32`` | ``fixed64/sfixed64`` |
  ``float`` | ``double`` | ``string/bytes`` | a message type, by name);
- ``FIELD_LABEL_CHANGED`` — a field turns from singular to repeated or back.

Added and removed fields, renamed fields and new messages are compatible, as in Protobuf itself. Text
``.proto`` schemas (registered by other clients) are not parsed here: a real registry checks those.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from google.protobuf import descriptor_pb2

_F = descriptor_pb2.FieldDescriptorProto
_GROUPS = {
    **dict.fromkeys(
        (_F.TYPE_INT32, _F.TYPE_UINT32, _F.TYPE_INT64, _F.TYPE_UINT64, _F.TYPE_BOOL, _F.TYPE_ENUM), "varint"
    ),
    **dict.fromkeys((_F.TYPE_SINT32, _F.TYPE_SINT64), "zigzag"),
    **dict.fromkeys((_F.TYPE_FIXED32, _F.TYPE_SFIXED32), "fixed32"),
    **dict.fromkeys((_F.TYPE_FIXED64, _F.TYPE_SFIXED64), "fixed64"),
    _F.TYPE_FLOAT: "float",
    _F.TYPE_DOUBLE: "double",
    **dict.fromkeys((_F.TYPE_STRING, _F.TYPE_BYTES), "length-delimited"),
}


def _file(schema: str) -> descriptor_pb2.FileDescriptorProto | None:
    try:
        raw = base64.b64decode(schema, validate=True)
        return descriptor_pb2.FileDescriptorProto.FromString(raw)
    except (binascii.Error, ValueError, Exception):
        return None


def _messages(fd: descriptor_pb2.FileDescriptorProto) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(prefix: str, msgs: Any) -> None:
        for m in msgs:
            name = f"{prefix}.{m.name}" if prefix else m.name
            out[name] = m
            walk(name, m.nested_type)

    walk(fd.package, fd.message_type)
    return out


def _kind(f: Any) -> str:
    if f.type in (_F.TYPE_MESSAGE, _F.TYPE_GROUP):
        return f"message {f.type_name.lstrip('.')}"
    return _GROUPS.get(f.type, str(f.type))


def protobuf_read_problems(reader: str, writer: str) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` (empty: it can, or a schema is not a
    descriptor this module parses; see the module docstring)."""
    r, w = _file(reader), _file(writer)
    if r is None or w is None:
        return []
    r_msgs, problems = _messages(r), []
    for name, wm in _messages(w).items():
        rm = r_msgs.get(name)
        if rm is None:
            problems.append(f"MESSAGE_REMOVED: {name}")
            continue
        r_fields = {f.number: f for f in rm.field}
        for wf in wm.field:
            rf = r_fields.get(wf.number)
            if rf is None:
                continue
            if _kind(rf) != _kind(wf):
                problems.append(
                    f"FIELD_KIND_CHANGED: {name} field {wf.number} ({wf.name}) was {_kind(wf)}, is {_kind(rf)}"
                )
            elif (rf.label == _F.LABEL_REPEATED) != (wf.label == _F.LABEL_REPEATED):
                problems.append(f"FIELD_LABEL_CHANGED: {name} field {wf.number} ({wf.name})")
    return problems


__all__ = ["protobuf_read_problems"]
