"""Run PyFlink programs unchanged on millstream: ``import pyflink.*`` served by millstream.

``install()`` puts an import hook in front of ``sys.meta_path`` that answers every ``pyflink`` and
``pyflink.<module>`` import with a module whose names are millstream's objects: each name PyFlink 2.3's
module exports (:data:`.names.PYFLINK_NAMES`) is looked up in millstream (:data:`SOURCES`, then
:mod:`.adapters`). A name PyFlink has and millstream does not, or a PyFlink module millstream does not map
(``pyflink.table``), raises :class:`PyFlinkAPIMissing` (an ``ImportError``) naming it and pointing to
``docs/pyflink-compat.md``.

It never shadows a real PyFlink silently: when ``pyflink`` is importable without the hook (apache-flink is
installed) or already imported, ``install()`` raises unless called with ``shadow=True``
(``millstream run --pyflink`` passes it, since running on millstream is what that flag asks for).
``uninstall()`` removes the hook and the modules it made.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Any

from ...core.errors import ConfigError
from .names import PYFLINK_NAMES

DOCS = "docs/pyflink-compat.md"

SOURCES: tuple[str, ...] = (
    "millstream.compat.pyflink.adapters",
    "millstream.stream.functions",
    "millstream.stream.windows",
    "millstream.stream.state",
    "millstream.stream.typeinfo",
    "millstream.common",
    "millstream.stream.time",
    "millstream.stream.environment",
    "millstream.stream.datastream",
    "millstream.connectors",
    "millstream.stream.connectors",
    "millstream.stream.restart",
    "millstream.stream.async_io",
    "millstream.stream.broadcast",
)
"""Where a PyFlink name is looked up, in order (the first module that has it wins)."""

PACKAGES = frozenset(
    {
        "pyflink",
        "pyflink.common",
        "pyflink.datastream",
        "pyflink.datastream.connectors",
        "pyflink.datastream.formats",
    }
)

NOT_PROVIDED_MODULES: dict[str, str] = {
    "pyflink.table": "PyFlink's Table API; for SQL use millstream.sql.StreamTableEnvironment (docs/sql.md)",
    "pyflink.datastream.connectors.jdbc": "use millstream's JDBC connector (docs/connectors-jdbc-http.md)",
    "pyflink.datastream.connectors.pulsar": "millstream has no Pulsar connector",
    "pyflink.datastream.connectors.kinesis": "millstream has no Kinesis connector",
    "pyflink.datastream.connectors.rabbitmq": "millstream has no RabbitMQ connector",
    "pyflink.datastream.connectors.elasticsearch": "millstream has no Elasticsearch connector",
    "pyflink.datastream.connectors.cassandra": "millstream has no Cassandra connector",
}


class PyFlinkAPIMissing(ImportError):
    """A PyFlink API that millstream does not provide (the message names it)."""


class PyFlinkShadowError(ConfigError):
    """``install()`` found a real PyFlink and was not asked to shadow it."""


def _missing(what: str, why: str | None = None) -> PyFlinkAPIMissing:
    reason = f": {why}" if why else ""
    return PyFlinkAPIMissing(
        f"millstream does not provide the PyFlink API {what}{reason}. "
        f"See {DOCS} for what millstream supports, or run the program on Apache Flink."
    )


def resolve(module: str, name: str) -> Any:
    """millstream's object for PyFlink's ``module.name``; raises :class:`PyFlinkAPIMissing` if none."""
    for source in SOURCES:
        try:
            mod = importlib.import_module(source)
        except ModuleNotFoundError:
            continue
        if name in getattr(mod, "__all__", ()) or (hasattr(mod, name) and not name.startswith("_")):
            value = getattr(mod, name, None)
            if value is not None and not isinstance(value, types.ModuleType):
                return value
    raise _missing(f"{module}.{name}")


def status(module: str, name: str) -> bool:
    """Whether millstream provides PyFlink's ``module.name``."""
    try:
        resolve(module, name)
    except PyFlinkAPIMissing:
        return False
    return True


class _PyFlinkModule(types.ModuleType):
    """A ``pyflink.*`` module whose attributes resolve to millstream's objects on first use."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        sub = f"{self.__name__}.{name}"
        if sub in PYFLINK_NAMES or sub in PACKAGES:  # a submodule (``from pyflink.datastream import window``)
            value = importlib.import_module(sub)
            setattr(self, name, value)
            return value
        value = resolve(self.__name__, name)
        setattr(self, name, value)
        return value

    def __dir__(self) -> list[str]:
        return sorted(set(PYFLINK_NAMES.get(self.__name__, ())) | set(super().__dir__()))


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _PyFlinkModule(spec.name)
        module.__dict__["__all__"] = [n for n in PYFLINK_NAMES.get(spec.name, ()) if status(spec.name, n)]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        if module.__name__ in ("pyflink", "pyflink.version"):
            module.__dict__["__version__"] = "2.3.0"
            module.__dict__["__millstream__"] = True


class PyFlinkFinder(importlib.abc.MetaPathFinder):
    """Answers ``pyflink`` imports with millstream-backed modules (see the module docstring)."""

    loader = _Loader()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "pyflink" and not fullname.startswith("pyflink."):
            return None
        for prefix, why in NOT_PROVIDED_MODULES.items():
            if fullname == prefix or fullname.startswith(prefix + "."):
                raise _missing(f"module {fullname}", why)
        if fullname == "pyflink.version":
            return importlib.util.spec_from_loader(fullname, self.loader)
        known = fullname in PYFLINK_NAMES or fullname in PACKAGES
        if not known:
            raise _missing(f"module {fullname}")
        spec = importlib.util.spec_from_loader(fullname, self.loader, is_package=fullname in PACKAGES)
        return spec


_finder: PyFlinkFinder | None = None


def real_pyflink_present() -> bool:
    """Whether a real PyFlink is importable (or imported) without the hook."""
    mod = sys.modules.get("pyflink")
    if mod is not None and not getattr(mod, "__millstream__", False):
        return True
    if _finder is not None:
        return False
    return importlib.util.find_spec("pyflink") is not None


def install(shadow: bool = False) -> None:
    """Serve ``import pyflink...`` from millstream (idempotent). With a real PyFlink installed or imported
    this raises :class:`PyFlinkShadowError` unless ``shadow=True``; with it, the hook takes precedence and
    already imported ``pyflink`` modules are dropped from ``sys.modules``."""
    global _finder
    if _finder is not None:
        return
    if real_pyflink_present():
        if not shadow:
            raise PyFlinkShadowError(
                "a real PyFlink (apache-flink) is installed here; millstream will not shadow it unasked",
                hint="call millstream.compat.pyflink.install(shadow=True) (or `millstream run --pyflink`) to run "
                "pyflink imports on millstream anyway, or run the program with Apache Flink",
            )
        for name in [m for m in sys.modules if m == "pyflink" or m.startswith("pyflink.")]:
            del sys.modules[name]
    _finder = PyFlinkFinder()
    sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    """Remove the hook and the ``pyflink`` modules it made (idempotent)."""
    global _finder
    if _finder is None:
        return
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    _finder = None
    for name in [m for m in sys.modules if m == "pyflink" or m.startswith("pyflink.")]:
        if isinstance(sys.modules[name], _PyFlinkModule):
            del sys.modules[name]


def installed() -> bool:
    return _finder is not None


__all__ = [
    "PyFlinkAPIMissing",
    "PyFlinkFinder",
    "PyFlinkShadowError",
    "install",
    "installed",
    "real_pyflink_present",
    "resolve",
    "status",
    "uninstall",
]
