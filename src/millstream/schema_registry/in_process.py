"""The in-process registry behind ``mock://<scope>`` URLs: Confluent's mock client with compatibility checks.

``confluent_kafka.schema_registry``'s ``MockSchemaRegistryClient`` keeps subjects, versions and ids in memory
but accepts any schema and answers no config calls. :class:`InProcessRegistry` adds what a real registry
does on ``POST /subjects/{subject}/versions``: it checks the new schema against the subject's earlier versions
under the subject's compatibility level (global default ``BACKWARD``, as Confluent's) and refuses an
incompatible one with the same ``SchemaRegistryError`` (HTTP 409) a real registry answers, so callers handle
both alike. ``set_compatibility`` / ``get_compatibility`` / ``test_compatibility`` work as on a real registry.

Checks by schema type:
- **Avro**: Apache Avro's own reader/writer compatibility checker (``avro.compatibility``, the port of the
  Java ``SchemaCompatibility`` that Confluent's registry uses): BACKWARD = the new schema reads data written
  with the old, FORWARD = the old reads the new, FULL = both; ``*_TRANSITIVE`` against every earlier version.
- **JSON Schema** and **Protobuf**: the rules of :mod:`millstream.schema_registry.json_compat` and
  :mod:`millstream.schema_registry.protobuf_compat` (a documented subset of Confluent's).

One instance per scope, shared by every user of ``mock://<scope>`` in the process.
"""

from __future__ import annotations

import threading
from typing import Any

from confluent_kafka.schema_registry import Schema

# Confluent hands its mock out only through SchemaRegistryClient.new_client({"url": "mock://..."}); the class
# itself lives in the (synchronous) implementation package
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import MockSchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from ..core.registry_format import COMPATIBILITY_LEVELS

DEFAULT_LEVEL = "BACKWARD"


def _avro_problems(reader: str, writer: str) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` (empty: it can)."""
    import avro.schema
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

    result = ReaderWriterCompatibilityChecker().get_compatibility(avro.schema.parse(reader), avro.schema.parse(writer))
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    out = []
    for kind, message, location in zip(
        result.incompatibilities, result.messages, result.locations or [""] * len(result.messages), strict=False
    ):
        out.append(f"{getattr(kind, 'name', kind)} at {location or '/'}: {message}")
    return out or ["incompatible"]


def read_problems(schema_type: str, reader: str, writer: str) -> list[str]:
    """Why a reader with schema ``reader`` cannot read data written with ``writer`` (empty: it can)."""
    if schema_type == "AVRO":
        return _avro_problems(reader, writer)
    if schema_type == "JSON":
        from .json_compat import json_read_problems

        return json_read_problems(reader, writer)
    if schema_type == "PROTOBUF":
        from .protobuf_compat import protobuf_read_problems

        return protobuf_read_problems(reader, writer)
    return []


def compatibility_problems(level: str, schema_type: str, new: str, earlier: list[str]) -> list[str]:
    """Why ``new`` may not follow the ``earlier`` versions (oldest first) under ``level`` (empty: it may)."""
    if level == "NONE" or not earlier:
        return []
    against = earlier if level.endswith("_TRANSITIVE") else earlier[-1:]
    base = level.removesuffix("_TRANSITIVE")
    problems: list[str] = []
    for old in against:
        if base in ("BACKWARD", "FULL"):
            problems += [f"new schema cannot read old data: {p}" for p in read_problems(schema_type, new, old)]
        if base in ("FORWARD", "FULL"):
            problems += [f"old schema cannot read new data: {p}" for p in read_problems(schema_type, old, new)]
    return problems


class InProcessRegistry(MockSchemaRegistryClient):
    """Confluent's mock registry client plus compatibility levels and checks (see the module docstring)."""

    _scopes: dict[str, InProcessRegistry] = {}
    _scopes_lock = threading.Lock()

    def __init__(self, scope: str = "") -> None:
        super().__init__({"url": f"mock://{scope}"})
        self.scope_name = scope
        self._levels: dict[str | None, str] = {None: DEFAULT_LEVEL}
        self._register_lock = threading.RLock()

    @classmethod
    def scope(cls, name: str) -> InProcessRegistry:
        """The registry of ``mock://<name>`` (created on first use)."""
        with cls._scopes_lock:
            reg = cls._scopes.get(name)
            if reg is None:
                reg = cls._scopes[name] = cls(name)
            return reg

    # -- config ------------------------------------------------------------------------------------------
    def set_compatibility(self, subject_name: str | None = None, level: str | None = None) -> str:
        if level is None or level.upper() not in COMPATIBILITY_LEVELS:
            raise SchemaRegistryError(422, 42203, f"Invalid compatibility level {level!r}")
        self._levels[subject_name] = level.upper()
        return level.upper()

    def get_compatibility(self, subject_name: str | None = None) -> str:
        if subject_name is not None and subject_name not in self._levels:
            raise SchemaRegistryError(404, 40408, f"Subject '{subject_name}' does not have subject-level compatibility")
        return self._levels[subject_name]

    def level_for(self, subject: str) -> str:
        """The level that applies to ``subject``: its own, else the global one."""
        return self._levels.get(subject) or self._levels[None]

    # -- registration --------------------------------------------------------------------------------------
    def _earlier(self, subject: str) -> list[Schema]:
        return [self.get_version(subject, v).schema for v in sorted(self.get_versions(subject))]

    def register_schema_full_response(self, subject_name: str, schema: Schema, normalize_schemas: bool = False) -> Any:
        with self._register_lock:
            known = self._store.get_registered_schema_by_schema(subject_name, schema)
            if known is not None:
                return known
            level = self.level_for(subject_name)
            earlier = [s for s in self._earlier(subject_name) if s.schema_type == schema.schema_type]
            problems = compatibility_problems(
                level, schema.schema_type or "AVRO", schema.schema_str or "", [s.schema_str or "" for s in earlier]
            )
            if problems:
                raise SchemaRegistryError(
                    409,
                    409,
                    f"Schema being registered is incompatible with an earlier schema for subject "
                    f'"{subject_name}", details: {problems}',
                )
            return super().register_schema_full_response(subject_name, schema, normalize_schemas)

    def test_compatibility(
        self,
        subject_name: str,
        schema: Schema,
        version: int | str = "latest",
        normalize: bool = False,
        verbose: bool = False,
    ) -> bool:
        earlier = self._earlier(subject_name)
        if version != "latest":
            earlier = [self.get_version(subject_name, int(version)).schema]
        level = self.level_for(subject_name)
        problems = compatibility_problems(
            level, schema.schema_type or "AVRO", schema.schema_str or "", [s.schema_str or "" for s in earlier[-1:]]
        )
        return not problems


__all__ = ["DEFAULT_LEVEL", "InProcessRegistry", "compatibility_problems", "read_problems"]
