"""Single message transforms (SMTs) and predicates: the base classes and shared helpers.

A :class:`Transformation` is configured once (``configure(props)`` with the ``transforms.<alias>.`` prefix
stripped) and then ``apply(record)`` returns a new record, or ``None`` to drop it. It never mutates its input.
Most built-ins come in ``$Key`` and ``$Value`` forms (``InsertField$Value``): here those are the nested
classes ``InsertField.Key`` / ``InsertField.Value``, which set :attr:`Transformation.on_key`.

A :class:`Predicate` decides per record whether a transform applies (``transforms.<alias>.predicate=<p>``,
optionally ``negate=true``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..api import Versioned
from ..config import ConfigDef
from ..data import ConnectRecord, Field, Schema, infer_schema
from ..errors import DataError


class Transformation(Versioned):
    """Turns one record into another (or ``None`` to drop it). See the module docstring."""

    CONFIG_DEF: ClassVar[ConfigDef] = ConfigDef()
    on_key: ClassVar[bool] = False
    """For ``$Key``/``$Value`` transforms: whether this variant works on the record's key."""

    def configure(self, props: Mapping[str, Any]) -> None:
        """Apply this transform's options (parsed by :attr:`CONFIG_DEF`; raises ConnectorConfigError)."""
        self.config = self.CONFIG_DEF.parse(props)
        self.setup()

    def setup(self) -> None:
        """Hook for subclasses: prepare from ``self.config``."""

    def config_def(self) -> ConfigDef:
        return self.CONFIG_DEF

    def apply(self, record: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        """Release resources."""

    # -- helpers for $Key / $Value forms --------------------------------------------------------------
    def operating_value(self, record: ConnectRecord) -> Any:
        return record.key if self.on_key else record.value

    def operating_schema(self, record: ConnectRecord) -> Schema | None:
        return record.key_schema if self.on_key else record.value_schema

    def new_record(self, record: ConnectRecord, schema: Schema | None, value: Any) -> Any:
        if self.on_key:
            return record.new_record(key_schema=schema, key=value)
        return record.new_record(value_schema=schema, value=value)

    def require_map(self, value: Any, purpose: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            what = "key" if self.on_key else "value"
            raise DataError(
                f"Only Map objects supported in absence of schema for [{purpose}], found: "
                f"{type(value).__name__} (the record {what} must be a JSON object / struct)",
                hint="check the converter: a StringConverter gives strings, not maps; use JsonConverter",
            )
        return value


class Predicate(Versioned):
    """Tests a record; configured with the ``predicates.<alias>.`` prefix stripped."""

    CONFIG_DEF: ClassVar[ConfigDef] = ConfigDef()

    def configure(self, props: Mapping[str, Any]) -> None:
        self.config = self.CONFIG_DEF.parse(props)
        self.setup()

    def setup(self) -> None:
        """Hook for subclasses."""

    def config_def(self) -> ConfigDef:
        return self.CONFIG_DEF

    def test(self, record: Any) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        """Release resources."""


def rebuild_schema(
    old: Schema | None, value: Any, overrides: Mapping[str, Schema | None] | None = None
) -> Schema | None:
    """The struct schema for a transformed ``value``: schemaless stays schemaless; unchanged fields keep their
    schema, ``overrides`` set some, and new ones are inferred."""
    if old is None or not isinstance(value, dict):
        return None if old is None else infer_schema(value, old.optional)
    overrides = overrides or {}
    fields = []
    for i, (name, v) in enumerate(value.items()):
        if name in overrides and overrides[name] is not None:
            fs = overrides[name]
        else:
            f = old.field(name) if old.type == "struct" else None
            fs = f.schema if f is not None else (infer_schema(v, True) or Schema("string", True))
        assert fs is not None
        fields.append(Field(name, fs, i))
    return Schema("struct", old.optional, old.name, old.version, old.doc, fields=tuple(fields))


def key_value_pair(base: type) -> type:
    """Class decorator: add ``Key``/``Value`` nested subclasses of a $Key/$Value transform."""
    key_cls = type(f"{base.__name__}$Key", (base,), {"on_key": True, "__doc__": f"{base.__name__} on the key."})
    value_cls = type(f"{base.__name__}$Value", (base,), {"on_key": False, "__doc__": f"{base.__name__} on the value."})
    key_cls.__module__ = value_cls.__module__ = base.__module__
    key_cls.__qualname__ = f"{base.__qualname__}.Key"
    value_cls.__qualname__ = f"{base.__qualname__}.Value"
    base.Key = key_cls  # type: ignore[attr-defined]
    base.Value = value_cls  # type: ignore[attr-defined]
    return base


__all__ = ["Predicate", "Transformation", "key_value_pair", "rebuild_schema"]
