"""Plugin discovery: find connectors, transforms, predicates and converters by name.

A name resolves, in this order, to:

1. a built-in plugin by its class path (``millstream.connect.connectors.file.FileStreamSourceConnector``),
   its Kafka class name (``org.apache.kafka.connect.file.FileStreamSourceConnector``) or an alias
   (``FileStreamSource``, ``FileStreamSourceConnector``; aliases ignore case);
2. a plugin registered by another package under the ``millstream.connectors`` entry-point group (by the entry
   point's name, or the class path it points to)::

       [project.entry-points."millstream.connectors"]
       MySource = "my_package.connector:MySourceConnector"

3. a dotted Python path ``package.module.Class`` (``Outer$Inner`` and ``Outer.Inner`` both work).

Unknown names raise :class:`PluginNotFoundError` listing the known plugins of that kind.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from .errors import PluginNotFoundError

ENTRY_POINT_GROUP = "millstream.connectors"

KINDS = ("source", "sink", "transformation", "predicate", "converter", "header_converter")
_KIND_NAMES = {
    "connector": "Connector",
    "transformation": "Transformation",
    "predicate": "Predicate",
    "converter": "Converter",
    "header_converter": "HeaderConverter",
}


@dataclass(frozen=True)
class PluginDesc:
    """A plugin: its class name (as listed by ``GET /connector-plugins``), type, version and other names."""

    class_name: str
    type: str
    aliases: tuple[str, ...]
    target: str  # "module:Qual.Name" or a loaded class via Registry._loaded

    def to_json(self, version: str) -> dict[str, str]:
        return {"class": self.class_name, "type": self.type, "version": version}


_K = "org.apache.kafka.connect"
_BUILTINS: list[tuple[str, str, tuple[str, ...]]] = [
    # (target, type, extra names)
    (
        "millstream.connect.connectors.file:FileStreamSourceConnector",
        "source",
        (f"{_K}.file.FileStreamSourceConnector",),
    ),
    (
        "millstream.connect.connectors.file:FileStreamSinkConnector",
        "sink",
        (f"{_K}.file.FileStreamSinkConnector",),
    ),
    (
        "millstream.connect.connectors.datagen:DatagenConnector",
        "source",
        ("io.confluent.kafka.connect.datagen.DatagenConnector", "Datagen"),
    ),
    ("millstream.connect.connectors.console:ConsoleSinkConnector", "sink", ("Console",)),
    (
        "millstream.connect.connectors.jdbc:JdbcSourceConnector",
        "source",
        ("io.confluent.connect.jdbc.JdbcSourceConnector", "JdbcSource"),
    ),
    (
        "millstream.connect.connectors.jdbc:JdbcSinkConnector",
        "sink",
        ("io.confluent.connect.jdbc.JdbcSinkConnector", "JdbcSink"),
    ),
    (
        "millstream.connect.connectors.postgres_cdc:PostgresConnector",
        "source",
        ("io.debezium.connector.postgresql.PostgresConnector", "PostgresConnector", "PostgresCdcSource"),
    ),
    (
        "millstream.connect.connectors.http:HttpSinkConnector",
        "sink",
        ("io.confluent.connect.http.HttpSinkConnector", "HttpSink"),
    ),
    (
        "millstream.connect.connectors.http:HttpSourceConnector",
        "source",
        ("com.github.castorm.kafka.connect.http.HttpSourceConnector", "HttpSource"),
    ),
    ("millstream.connect.converters:JsonConverter", "converter", (f"{_K}.json.JsonConverter",)),
    ("millstream.connect.converters:StringConverter", "converter", (f"{_K}.storage.StringConverter",)),
    (
        "millstream.connect.converters:ByteArrayConverter",
        "converter",
        (f"{_K}.converters.ByteArrayConverter",),
    ),
    ("millstream.connect.converters:IntegerConverter", "converter", (f"{_K}.converters.IntegerConverter",)),
    ("millstream.connect.converters:LongConverter", "converter", (f"{_K}.converters.LongConverter",)),
    ("millstream.connect.converters:ShortConverter", "converter", (f"{_K}.converters.ShortConverter",)),
    ("millstream.connect.converters:FloatConverter", "converter", (f"{_K}.converters.FloatConverter",)),
    ("millstream.connect.converters:DoubleConverter", "converter", (f"{_K}.converters.DoubleConverter",)),
    ("millstream.connect.converters:BooleanConverter", "converter", (f"{_K}.converters.BooleanConverter",)),
    ("millstream.connect.avro:AvroConverter", "converter", ("io.confluent.connect.avro.AvroConverter",)),
    (
        "millstream.connect.converters:SimpleHeaderConverter",
        "header_converter",
        (f"{_K}.storage.SimpleHeaderConverter",),
    ),
    (
        "millstream.connect.converters:StringHeaderConverter",
        "header_converter",
        (f"{_K}.storage.StringConverter",),
    ),
    (
        "millstream.connect.transforms.debezium:ExtractNewRecordState",
        "transformation",
        ("io.debezium.transforms.ExtractNewRecordState",),
    ),
    (
        "millstream.connect.transforms.predicates:TopicNameMatches",
        "predicate",
        (f"{_K}.transforms.predicates.TopicNameMatches",),
    ),
    (
        "millstream.connect.transforms.predicates:HasHeaderKey",
        "predicate",
        (f"{_K}.transforms.predicates.HasHeaderKey",),
    ),
    (
        "millstream.connect.transforms.predicates:RecordIsTombstone",
        "predicate",
        (f"{_K}.transforms.predicates.RecordIsTombstone",),
    ),
]
_KEY_VALUE_TRANSFORMS: dict[str, tuple[str, ...]] = {
    "fields": ("InsertField", "ReplaceField", "MaskField", "ExtractField", "HoistField", "Flatten", "Cast"),
    "timestamps": ("TimestampConverter",),
    "routing": ("HeaderFrom",),
}
_PLAIN_TRANSFORMS: dict[str, tuple[str, ...]] = {
    "fields": ("ValueToKey",),
    "timestamps": ("TimestampRouter",),
    "routing": ("RegexRouter", "Filter", "InsertHeader", "DropHeaders"),
}
for _mod, _names in _KEY_VALUE_TRANSFORMS.items():
    for _n in _names:
        for _side in ("Key", "Value"):
            _BUILTINS.append(
                (
                    f"millstream.connect.transforms.{_mod}:{_n}.{_side}",
                    "transformation",
                    (f"{_K}.transforms.{_n}${_side}",),
                )
            )
for _mod, _names in _PLAIN_TRANSFORMS.items():
    for _n in _names:
        _BUILTINS.append((f"millstream.connect.transforms.{_mod}:{_n}", "transformation", (f"{_K}.transforms.{_n}",)))


def _class_name(target: str) -> str:
    module, _, qual = target.partition(":")
    return f"{module}.{qual.replace('.', '$')}"


def _short_aliases(class_name: str, kind: str) -> list[str]:
    simple = class_name.rsplit(".", 1)[-1]
    out = [simple]
    if kind in ("source", "sink") and simple.endswith("Connector"):
        out.append(simple[: -len("Connector")])
    return out


class Registry:
    """The set of known plugins (built-ins + entry points), loaded lazily. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._descs: list[PluginDesc] | None = None
        self._by_name: dict[str, PluginDesc] = {}
        self._by_lower: dict[str, PluginDesc] = {}
        self._loaded: dict[str, Any] = {}

    def _ensure(self) -> None:
        if self._descs is not None:
            return
        with self._lock:
            if self._descs is not None:
                return
            descs: list[PluginDesc] = []
            for target, kind, extra in _BUILTINS:
                cname = _class_name(target)
                names = (*extra, *_short_aliases(cname, kind))
                descs.append(PluginDesc(cname, kind, names, target))
            for ep in _entry_points():
                try:
                    cls = ep.load()
                except Exception:  # a broken third-party package must not break the worker
                    continue
                ep_kind = plugin_kind(cls)
                if ep_kind is None:
                    continue
                cname = f"{cls.__module__}.{cls.__qualname__}"
                target = f"ep:{cname}"
                self._loaded[target] = cls
                descs.append(PluginDesc(cname, ep_kind, (ep.name, *_short_aliases(cname, ep_kind)), target))
            by_name: dict[str, PluginDesc] = {}
            by_lower: dict[str, PluginDesc] = {}
            for d in descs:
                # a header converter and a converter may share a Kafka name (StringConverter): keep both by
                # kind
                for n in (d.class_name, *d.aliases):
                    by_name.setdefault(f"{_group(d.type)}:{n}", d)
                    by_lower.setdefault(f"{_group(d.type)}:{n.lower()}", d)
            self._by_name, self._by_lower = by_name, by_lower
            self._descs = descs

    def plugins(self, kinds: tuple[str, ...] = KINDS) -> list[PluginDesc]:
        """Known plugins of the given kinds, sorted by class name."""
        self._ensure()
        assert self._descs is not None
        return sorted((d for d in self._descs if d.type in kinds), key=lambda d: d.class_name)

    def describe(self, name: str, group: str) -> PluginDesc | None:
        """The plugin of a group (``connector``, ``transformation``, ...) that ``name`` names, if any
        built-in/entry point."""
        self._ensure()
        return self._by_name.get(f"{group}:{name}") or self._by_lower.get(f"{group}:{name.lower()}")

    def load(self, name: str, group: str) -> Any:
        """The class that ``name`` names in ``group``; raise :class:`PluginNotFoundError` if none."""
        if not isinstance(name, str) or not name.strip():
            raise PluginNotFoundError(str(name), _KIND_NAMES[group], self.known_names(group))
        name = name.strip()
        desc = self.describe(name, group)
        if desc is not None:
            return self.load_plugin(desc)
        cls = _import_dotted(name)
        if cls is not None and _group(plugin_kind(cls) or "") == group:
            return cls
        raise PluginNotFoundError(name, _KIND_NAMES[group], self.known_names(group))

    def load_plugin(self, desc: PluginDesc) -> Any:
        """The class a :class:`PluginDesc` describes (imported on first use)."""
        return self._load_target(desc.target)

    def _load_target(self, target: str) -> Any:
        if target in self._loaded:
            return self._loaded[target]
        module, _, qual = target.partition(":")
        obj: Any = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
        self._loaded[target] = obj
        return obj

    def known_names(self, group: str) -> list[str]:
        """Readable list of the known plugins of a group: ``ShortName (class name)``."""
        out = []
        for d in self.plugins():
            if _group(d.type) == group:
                short = d.aliases[-1] if d.aliases else d.class_name
                out.append(f"{short} ({d.class_name})")
        return out


def _group(kind: str) -> str:
    return "connector" if kind in ("source", "sink") else kind


def _entry_points() -> list[Any]:
    try:
        return list(entry_points(group=ENTRY_POINT_GROUP))
    except Exception:
        return []


def _import_dotted(name: str) -> Any:
    path = name.replace("$", ".").replace(":", ".")
    parts = path.split(".")
    if not all(p.isidentifier() for p in parts):
        return None  # not a dotted Python name (e.g. from a URL): nothing to import
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except (ImportError, ValueError):
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj if isinstance(obj, type) else None
    return None


def plugin_kind(cls: Any) -> str | None:
    """``source``/``sink``/``transformation``/``predicate``/``converter``/``header_converter`` for a class."""
    from .api import SinkConnector, SourceConnector
    from .converters import Converter, HeaderConverter
    from .transforms.base import Predicate, Transformation

    if not isinstance(cls, type):
        return None
    for base, kind in (
        (SourceConnector, "source"),
        (SinkConnector, "sink"),
        (Transformation, "transformation"),
        (Predicate, "predicate"),
        (Converter, "converter"),
        (HeaderConverter, "header_converter"),
    ):
        if issubclass(cls, base):
            return kind
    return None


REGISTRY = Registry()
"""The process-wide plugin registry."""


def connector_class(name: str) -> Any:
    """The connector class named ``name`` (see the module docstring)."""
    return REGISTRY.load(name, "connector")


__all__ = ["ENTRY_POINT_GROUP", "REGISTRY", "PluginDesc", "Registry", "connector_class", "plugin_kind"]
