"""The ``debezium-json`` format (Flink's name): Debezium change events ⇄ changelog rows.

Decoding (:meth:`DebeziumJsonFormat.decode`) follows Flink's ``debezium-json`` format:

- ``op`` ``r`` (snapshot read) or ``c`` (create) → ``+I after``;
- ``u`` → ``-U before``, ``+U after``; ``before`` is null when the table's replica identity is not FULL —
  Flink then fails, and so does this format by default, saying what to change; with
  ``update_before="skip"`` it emits only ``+U after`` (an upsert changelog, fine for materialising by key);
- ``d`` → ``-D before``;
- a tombstone (null value) → nothing; an envelope with ``{"schema", "payload"}`` (JsonConverter with
  ``schemas.enable=true``, Flink's ``debezium-json.schema-include``) is unwrapped automatically.

Encoding (:meth:`DebeziumJsonFormat.encode`) writes what Flink writes: ``+I``/``+U`` as ``{"before": null,
"after": row, "op": "c"}``, ``-U``/``-D`` as ``{"before": row, "after": null, "op": "d"}``.

Malformed input raises :class:`~millstream.core.errors.SerdeError` naming the problem (so a job can route the
record to a dead-letter topic); it never returns a guess.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from .changelog import ChangelogRow, RowKind
from .errors import SerdeError

_REPLICA_IDENTITY_HINT = (
    "the update event has no 'before' row: for PostgreSQL run ALTER TABLE <table> REPLICA IDENTITY FULL; so "
    "updates carry the old row, or decode with update_before='skip' to get an upsert changelog (+U only)"
)


class DebeziumJsonFormat:
    """Decodes Debezium JSON change events into :class:`ChangelogRow` lists and encodes rows back."""

    name = "debezium-json"

    def __init__(self, update_before: Literal["required", "skip"] = "required") -> None:
        if update_before not in ("required", "skip"):
            raise ValueError(f"update_before must be 'required' or 'skip', not {update_before!r}")
        self.update_before = update_before

    def decode(self, data: bytes | str | None) -> list[ChangelogRow]:
        """The changelog rows of one record value (none for a tombstone)."""
        if data is None:
            return []
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise SerdeError(
                f"debezium-json: not JSON: {exc}", hint="the topic does not hold Debezium change events"
            ) from exc
        return self.decode_event(event)

    def decode_event(self, event: Any) -> list[ChangelogRow]:
        """As :meth:`decode`, for an already parsed JSON value."""
        if event is None:
            return []
        if not isinstance(event, dict):
            raise SerdeError(f"debezium-json: expected a JSON object, got {type(event).__name__}")
        if "payload" in event and "schema" in event and "op" not in event:
            event = event["payload"]
            if event is None:
                return []
            if not isinstance(event, dict):
                raise SerdeError("debezium-json: the envelope's payload is not a JSON object")
        op = event.get("op")
        before, after = event.get("before"), event.get("after")
        if op in ("c", "r"):
            return [ChangelogRow(RowKind.INSERT, _row(after, op, "after"))]
        if op == "u":
            if before is None and self.update_before == "skip":
                return [ChangelogRow(RowKind.UPDATE_AFTER, _row(after, op, "after"))]
            if before is None:
                raise SerdeError("debezium-json: update event without 'before'", hint=_REPLICA_IDENTITY_HINT)
            return [
                ChangelogRow(RowKind.UPDATE_BEFORE, _row(before, op, "before")),
                ChangelogRow(RowKind.UPDATE_AFTER, _row(after, op, "after")),
            ]
        if op == "d":
            return [ChangelogRow(RowKind.DELETE, _row(before, op, "before"))]
        if op == "t" or op == "m":
            return []  # truncate / message events carry no row
        raise SerdeError(
            f"debezium-json: unknown or missing 'op' {op!r}",
            hint="expected a Debezium change event with op c, r, u or d",
        )

    def encode(self, change: ChangelogRow) -> bytes:
        """A Debezium JSON event for one changelog row."""
        if change.kind.is_retraction:
            return orjson.dumps({"before": change.row, "after": None, "op": "d"})
        return orjson.dumps({"before": None, "after": change.row, "op": "c"})


def _row(value: Any, op: str, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SerdeError(f"debezium-json: op {op!r} event needs an object in {field!r}, got {value!r:.60}")
    return value


__all__ = ["DebeziumJsonFormat"]
