"""Confluent's wire format header: magic byte ``0``, then the schema id as a 4-byte big-endian integer.

Avro and JSON Schema payloads follow the header directly; Protobuf puts the message indexes first (a
zig-zag varint count, then each index, or a single ``0`` for the file's first message). Serializing and
deserializing is Confluent's code (:mod:`millstream.schema_registry.serdes`); this module only reads the
header, to tell a reader clearly what a record is when it is not what the format expects.
"""

from __future__ import annotations

MAGIC_BYTE = 0
HEADER_SIZE = 5


def schema_id_of(data: bytes) -> int | None:
    """The schema id of a wire-format record, or ``None`` when ``data`` is not in the wire format."""
    if len(data) < HEADER_SIZE or data[0] != MAGIC_BYTE:
        return None
    return int.from_bytes(data[1:HEADER_SIZE], "big")


def describe_non_wire(data: bytes) -> str:
    """What a record that is not in the wire format looks like, for an error message."""
    if not data:
        return "the record is empty"
    if len(data) < HEADER_SIZE and data[0] == MAGIC_BYTE:
        return f"the record has {len(data)} bytes, fewer than the 5-byte header"
    first = data[0]
    guess = ""
    if first in b"{[":
        guess = " (it looks like plain JSON)"
    elif 0x20 <= first < 0x7F:
        guess = " (it looks like text)"
    return f"its first byte is 0x{first:02x}, not the magic byte 0x00{guess}"


__all__ = ["HEADER_SIZE", "MAGIC_BYTE", "describe_non_wire", "schema_id_of"]
