"""Which files connectors run by a worker may read or write.

A connector that takes file paths says which config keys hold them (:class:`FileAccessConnector`, e.g.
``FileStreamSource``/``FileStreamSink``'s ``file``). Before such a connector is created or reconfigured, the
worker checks each path (made absolute, ``..`` and symbolic links resolved):

- with ``allowed.paths`` set (worker property, comma-separated directories; a connector config may set it
  too, which can only narrow the worker's), the path must lie inside one of them — Kafka's
  ``FileConfigProvider`` uses the same key for the same purpose;
- the path may never lie inside a millstream log directory (one holding ``log.db``: the worker's own or any
  other) or a checkpoint directory (``chk-<n>`` with its ``_metadata``), whatever ``allowed.paths`` says:
  a connector appending bytes there would corrupt the log or a checkpoint.

A refused path is a :class:`~millstream.connect.errors.ConnectorConfigError` naming the key, the path and
the fix (the REST API answers 400).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from .errors import ConnectorConfigError

LOG_FILE = "log.db"
CHECKPOINT_MANIFEST = "_metadata"
_CHECKPOINT_DIR = re.compile(r"^(\.tmp-)?chk-\d+$")


@runtime_checkable
class FileAccessConnector(Protocol):
    """A connector class whose config names local files: ``FILE_PATH_KEYS`` lists those keys."""

    FILE_PATH_KEYS: ClassVar[tuple[str, ...]]


def _dirs(value: Any) -> list[Path]:
    items = value if isinstance(value, list | tuple) else str(value or "").split(",")
    return [Path(os.path.realpath(os.path.expanduser(str(p).strip()))) for p in items if str(p).strip()]


def _protected(path: Path) -> str | None:
    """Why ``path`` (resolved) may never be used, or ``None``."""
    for d in (path, *path.parents):
        if _CHECKPOINT_DIR.match(d.name) or ((d / CHECKPOINT_MANIFEST).is_file() and d != path):
            return f"it is inside the checkpoint directory {d}"
        if (d / LOG_FILE).exists() and d != path:
            return f"it is inside the millstream log directory {d}"
    if path.name.startswith(LOG_FILE):
        return f"it is a millstream log file ({LOG_FILE})"
    return None


class PathPolicy:
    """The worker's rule for connector file paths: ``allowed`` directories (empty: anywhere but the
    protected places)."""

    def __init__(self, allowed: Any = None) -> None:
        self.allowed = _dirs(allowed)

    def problems(self, config: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, list[str]]:
        """Each path key of ``config`` that is refused, with the reason and the fix."""
        out: dict[str, list[str]] = {}
        own = _dirs(config.get("allowed.paths"))
        for key in keys:
            value = config.get(key)
            if not value:
                continue
            path = Path(os.path.realpath(os.path.expanduser(str(value))))
            why = _protected(path)
            if why is not None:
                out[key] = [f"Path {value} for configuration {key} is not allowed: {why}; use a path elsewhere"]
                continue
            for scope, dirs in (("the worker's", self.allowed), ("the connector's", own)):
                if dirs and not any(path == d or path.is_relative_to(d) for d in dirs):
                    out[key] = [
                        f"Path {value} for configuration {key} is outside {scope} allowed.paths "
                        f"({', '.join(map(str, dirs))}); use a path inside them or extend allowed.paths"
                    ]
                    break
        return out

    def check(self, connector_cls: type, config: Mapping[str, Any]) -> None:
        """Raise :class:`ConnectorConfigError` when ``connector_cls`` (a :class:`FileAccessConnector`) would
        use a refused path; connectors that name no files pass."""
        if not isinstance(connector_cls, FileAccessConnector):
            return
        problems = self.problems(config, connector_cls.FILE_PATH_KEYS)
        if problems:
            raise ConnectorConfigError(problems, connector_class=str(config.get("connector.class")))


__all__ = ["FileAccessConnector", "PathPolicy"]
