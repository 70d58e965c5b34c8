"""Metric hooks. Code everywhere reports through sensors; they do nothing until an observer is installed.

A component asks for a sensor once (``sensor("numRecordsIn", scope="job.op")``) and calls it on its hot
path (``s.inc(n)``, ``s.set(v)``). Until :func:`install` plugs in a factory (``millstream.observe`` does),
every sensor is a shared no-op object whose methods cost one attribute lookup and an empty call.

Names follow Flink's metrics (``numRecordsIn``, ``currentInputWatermark``, ...); ``scope`` is a dotted
path such as ``"<job>.<operator>.<subtask>"``; ``tags`` are extra labels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Sensor(Protocol):
    """One metric: a counter (``inc``), a gauge (``set``) or a distribution (``observe``)."""

    def inc(self, n: float = 1) -> None: ...

    def set(self, value: float) -> None: ...

    def observe(self, value: float) -> None: ...


class _NoopSensor:
    __slots__ = ()

    def inc(self, n: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def observe(self, value: float) -> None:
        pass


NOOP = _NoopSensor()

SensorFactory = Callable[[str, str, dict[str, str]], Sensor]

_factory: SensorFactory | None = None


def sensor(name: str, scope: str = "", **tags: str) -> Sensor:
    """Return the sensor for ``name`` in ``scope``; a no-op until an observer is installed."""
    if _factory is None:
        return NOOP
    return _factory(name, scope, tags)


def install(factory: SensorFactory | None) -> None:
    """Plug in (or with ``None`` remove) the factory that creates real sensors. Affects sensors asked for later."""
    global _factory
    _factory = factory


def installed() -> bool:
    return _factory is not None


__all__ = ["NOOP", "Sensor", "SensorFactory", "install", "installed", "sensor"]
