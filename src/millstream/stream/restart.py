"""Restart strategies (PyFlink's ``RestartStrategies``): what the runtime does when a job fails.

Pure configuration: the runtime reads ``next_delay_ms(failures)``. A restarted job resumes from its latest
completed checkpoint (or from the start when checkpointing is off).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import JobConfigError
from .time import to_millis


@dataclass(frozen=True)
class RestartStrategyConfiguration:
    """``kind`` is ``none``, ``fixed-delay`` or ``exponential-delay``."""

    kind: str = "none"
    attempts: int = 0
    delay_ms: int = 0
    max_delay_ms: int = 0
    multiplier: float = 2.0
    reset_threshold_ms: int | None = None

    def next_delay_ms(self, failures: int) -> int | None:
        """The wait before restart number ``failures`` (1-based), or ``None`` to give up."""
        if self.kind == "none":
            return None
        if self.kind == "fixed-delay":
            return self.delay_ms if failures <= self.attempts else None
        delay = self.delay_ms * self.multiplier ** (failures - 1)
        return int(min(delay, self.max_delay_ms))

    def describe(self) -> str:
        if self.kind == "none":
            return "no restarts"
        if self.kind == "fixed-delay":
            return f"{self.attempts} restarts, {self.delay_ms} ms apart"
        return f"exponential delay from {self.delay_ms} ms (x{self.multiplier}) up to {self.max_delay_ms} ms"


class RestartStrategies:
    """Factories with PyFlink's names."""

    @staticmethod
    def no_restart() -> RestartStrategyConfiguration:
        return RestartStrategyConfiguration("none")

    @staticmethod
    def fixed_delay_restart(restart_attempts: int, delay_between_attempts: Any) -> RestartStrategyConfiguration:
        if not isinstance(restart_attempts, int) or restart_attempts < 0:
            raise JobConfigError(f"restart attempts must be an int >= 0, got {restart_attempts!r}")
        return RestartStrategyConfiguration(
            "fixed-delay", restart_attempts, to_millis(delay_between_attempts, "restart delay")
        )

    @staticmethod
    def exponential_delay_restart(
        initial_backoff: Any,
        max_backoff: Any,
        backoff_multiplier: float = 2.0,
        reset_backoff_threshold: Any = None,
        jitter_factor: float = 0.0,
    ) -> RestartStrategyConfiguration:
        initial = to_millis(initial_backoff, "initial backoff")
        mx = to_millis(max_backoff, "max backoff")
        if initial <= 0 or mx < initial or backoff_multiplier < 1:
            raise JobConfigError(
                f"exponential delay needs 0 < initial ({initial} ms) <= max ({mx} ms) and multiplier >= 1"
            )
        reset = None if reset_backoff_threshold is None else to_millis(reset_backoff_threshold, "reset threshold")
        return RestartStrategyConfiguration("exponential-delay", 0, initial, mx, float(backoff_multiplier), reset)


__all__ = ["RestartStrategies", "RestartStrategyConfiguration"]
