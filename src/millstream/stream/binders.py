"""Runtime factories that descriptions in the pure ``stream`` layer ask for by kind: the layer describes a source
or sink (no I/O), and :mod:`millstream.runtime` registers the factory that runs it (``"source"``:
``factory(descriptor, clock) -> reader``; ``"sink"``: ``factory(descriptor, name, uid) -> sink operator``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import JobConfigError


class Binders:
    """The factories of one family of descriptions (``what`` names it in the error for a missing one)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._factories: dict[str, Callable[..., Any]] = {}

    def register(self, kind: str, factory: Callable[..., Any]) -> None:
        """Install the runtime factory for ``kind`` (``"source"`` or ``"sink"``)."""
        self._factories[kind] = factory

    def bound(self, kind: str) -> Callable[..., Any]:
        """The factory for ``kind``; :class:`JobConfigError` when no runtime registered one."""
        try:
            return self._factories[kind]
        except KeyError:
            raise JobConfigError(
                f"no runtime is registered to run {self.what} {kind}s", hint="import millstream (or millstream.runtime)"
            ) from None


__all__ = ["Binders"]
