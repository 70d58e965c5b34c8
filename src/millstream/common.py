"""Public façade: durations, time, watermark strategies, types and rows, ``Configuration`` (PyFlink's
``pyflink.common``)."""

from __future__ import annotations

from typing import Any

from .stream.environment import CheckpointingMode, RuntimeExecutionMode
from .stream.time import (
    Duration,
    Time,
    TimestampAssigner,
    Watermark,
    WatermarkGenerator,
    WatermarkOutput,
    WatermarkStrategy,
)
from .stream.typeinfo import Row, RowKind, TypeInformation, Types


class Configuration:
    """PyFlink's ``Configuration``: string keys to string values (``set_string``, ``set_integer``, ...).

    ``StreamExecutionEnvironment.get_execution_environment(config)`` applies the keys millstream has a
    meaning for (``parallelism.default``, ``execution.runtime-mode``, ``execution.checkpointing.interval``);
    every key is also a job parameter (``runtime_context.get_job_parameter``). Others (``pipeline.jars``,
    ``python.*``) are kept and have no effect: millstream runs no JVM.
    """

    def __init__(self, other: Configuration | None = None) -> None:
        self._data: dict[str, str] = dict(other._data) if other is not None else {}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Configuration:
        conf = cls()
        for k, v in values.items():
            conf.set_string(k, v)
        return conf

    def set_string(self, key: str, value: Any) -> Configuration:
        self._data[str(key)] = str(value)
        return self

    def get_string(self, key: str, default_value: str | None = None) -> str | None:
        return self._data.get(key, default_value)

    def set_integer(self, key: str, value: int) -> Configuration:
        return self.set_string(key, int(value))

    def get_integer(self, key: str, default_value: int | None = None) -> int | None:
        return int(self._data[key]) if key in self._data else default_value

    def set_boolean(self, key: str, value: bool) -> Configuration:
        return self.set_string(key, "true" if value else "false")

    def get_boolean(self, key: str, default_value: bool | None = None) -> bool | None:
        return self._data[key].lower() == "true" if key in self._data else default_value

    def set_float(self, key: str, value: float) -> Configuration:
        return self.set_string(key, float(value))

    def get_float(self, key: str, default_value: float | None = None) -> float | None:
        return float(self._data[key]) if key in self._data else default_value

    def key_set(self) -> set[str]:
        return set(self._data)

    def contains_key(self, key: str) -> bool:
        return key in self._data

    def remove_config(self, key: str) -> bool:
        return self._data.pop(key, None) is not None

    def add_all(self, other: Configuration, prefix: str | None = None) -> Configuration:
        for k, v in other._data.items():
            self._data[(prefix or "") + k] = v
        return self

    def to_dict(self) -> dict[str, str]:
        return dict(self._data)

    def items(self) -> Any:
        return self._data.items()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Configuration) and other._data == self._data

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._data.items())))

    def __str__(self) -> str:
        return str(self._data)


__all__ = [
    "CheckpointingMode",
    "Configuration",
    "Duration",
    "Row",
    "RowKind",
    "RuntimeExecutionMode",
    "Time",
    "TimestampAssigner",
    "TypeInformation",
    "Types",
    "Watermark",
    "WatermarkGenerator",
    "WatermarkOutput",
    "WatermarkStrategy",
]
