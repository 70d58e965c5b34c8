"""Time: durations, watermark constants and watermark strategies (descriptions only).

Timestamps are epoch milliseconds (``int``). A duration may be given as a :class:`Duration`, PyFlink's
:class:`Time`, a :class:`datetime.timedelta` or an ``int`` of milliseconds; :func:`to_millis` normalises.

A :class:`WatermarkStrategy` is a frozen description; :mod:`millstream.stream.operators.watermarks` holds
the generator logic it builds (``wm = max_ts - d - 1`` after every element, see SEMANTICS.md).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .errors import JobConfigError

MIN_WATERMARK = -(2**63)
"""The watermark before any element: no window is late."""
MAX_WATERMARK = 2**63 - 1
"""The final watermark at the end of a bounded input: every pending window and timer fires."""


@dataclass(frozen=True, order=True)
class Duration:
    """A span of time with millisecond precision (PyFlink's ``Duration`` names)."""

    millis: int

    @staticmethod
    def of_millis(ms: int) -> Duration:
        return Duration(int(ms))

    @staticmethod
    def of_seconds(s: float) -> Duration:
        return Duration(round(s * 1000))

    @staticmethod
    def of_minutes(m: float) -> Duration:
        return Duration(round(m * 60_000))

    @staticmethod
    def of_hours(h: float) -> Duration:
        return Duration(round(h * 3_600_000))

    @staticmethod
    def of_days(d: float) -> Duration:
        return Duration(round(d * 86_400_000))

    @staticmethod
    def zero() -> Duration:
        return Duration(0)

    def to_milliseconds(self) -> int:
        return self.millis

    def __repr__(self) -> str:
        return f"Duration.of_millis({self.millis})"


class Time:
    """PyFlink's legacy ``Time`` helpers (``Time.seconds(5)``); each returns a :class:`Duration`."""

    @staticmethod
    def milliseconds(ms: int) -> Duration:
        return Duration.of_millis(ms)

    @staticmethod
    def seconds(s: float) -> Duration:
        return Duration.of_seconds(s)

    @staticmethod
    def minutes(m: float) -> Duration:
        return Duration.of_minutes(m)

    @staticmethod
    def hours(h: float) -> Duration:
        return Duration.of_hours(h)

    @staticmethod
    def days(d: float) -> Duration:
        return Duration.of_days(d)


DurationLike = Duration | datetime.timedelta | int


def to_millis(value: Any, what: str = "duration") -> int:
    """Milliseconds of a ``Duration``, ``timedelta``, ``int`` (ms) or an object with ``to_milliseconds()``."""
    if isinstance(value, bool):
        raise JobConfigError(f"{what} must be a Duration, timedelta or int milliseconds, got a bool")
    if isinstance(value, Duration):
        return value.millis
    if isinstance(value, int):
        return value
    if isinstance(value, datetime.timedelta):
        return (value.days * 86_400_000) + (value.seconds * 1000) + (value.microseconds // 1000)
    if hasattr(value, "to_milliseconds"):
        return int(value.to_milliseconds())
    raise JobConfigError(
        f"{what} must be a Duration, datetime.timedelta or int milliseconds, got {type(value).__name__}",
        hint="e.g. Duration.of_seconds(5), timedelta(seconds=5) or 5000",
    )


class Watermark:
    """A watermark at ``timestamp`` (epoch ms), as emitted by a :class:`WatermarkGenerator`."""

    def __init__(self, timestamp: int) -> None:
        self.timestamp = int(timestamp)

    def get_timestamp(self) -> int:
        return self.timestamp

    def __repr__(self) -> str:
        return f"Watermark @ {self.timestamp}"


class WatermarkOutput:
    """What a :class:`WatermarkGenerator` emits to: ``emit_watermark(Watermark(ts))``,
    ``mark_idle()``, ``mark_active()``."""

    def emit_watermark(self, watermark: Watermark) -> None:
        raise NotImplementedError

    def mark_idle(self) -> None:
        """Accepted; idleness comes from ``with_idleness``."""

    def mark_active(self) -> None:
        """Accepted; idleness comes from ``with_idleness``."""


class WatermarkGenerator:
    """A user watermark generator (``WatermarkStrategy.for_generator``): ``on_event(event, timestamp,
    output)`` and ``on_periodic_emit(output)``."""

    def on_event(self, event: Any, event_timestamp: int, output: WatermarkOutput) -> None:
        """Called for every element."""

    def on_periodic_emit(self, output: WatermarkOutput) -> None:
        """Called after every element (millstream's period)."""


class TimestampAssigner:
    """Extracts an element's event time: ``extract_timestamp(value, record_timestamp) -> int`` (epoch ms)."""

    def extract_timestamp(self, value: Any, record_timestamp: int | None) -> int:
        raise NotImplementedError


def as_timestamp_fn(assigner: Any) -> Callable[[Any, Any], Any]:
    """A callable ``(value, record_ts) -> ms`` for a :class:`TimestampAssigner` or a plain callable."""
    fn = getattr(assigner, "extract_timestamp", None)
    if fn is not None:
        return fn
    if callable(assigner):
        return assigner
    raise JobConfigError(f"a timestamp assigner must be callable or a TimestampAssigner, got {type(assigner).__name__}")


@dataclass(frozen=True)
class WatermarkStrategy:
    """How a source (or ``assign_timestamps_and_watermarks``) sets event time and generates watermarks.

    ``out_of_orderness`` ``None`` means no watermarks (only the final one at the end of bounded input);
    otherwise after every element ``wm = max_ts - out_of_orderness - 1``. ``timestamp_assigner`` ``None``
    keeps the record timestamp (the log record's CreateTime). ``idleness`` marks a partition idle (left out
    of the minimum) after that much processing time without elements.
    """

    out_of_orderness: int | None = None
    timestamp_assigner: Any = None
    idleness: int | None = None
    generator_supplier: Any = None
    alignment: tuple[str, int, int] | None = None

    @staticmethod
    def for_generator(generator_supplier: Any) -> WatermarkStrategy:
        """Watermarks from a user :class:`WatermarkGenerator` (Flink's ``forGenerator``): the supplier is
        called (with a context argument if it takes one) once per source partition; ``on_event(event,
        timestamp, output)`` runs after every element and then ``on_periodic_emit(output)`` (millstream's
        "period" is one element, so results do not depend on speed). ``output.emit_watermark(Watermark(ts))``
        moves the watermark; lower watermarks than the current one are ignored."""
        if not callable(generator_supplier):
            raise JobConfigError(
                "for_generator needs a callable returning a WatermarkGenerator",
                hint="e.g. WatermarkStrategy.for_generator(lambda ctx: MyGenerator())",
            )
        return WatermarkStrategy(out_of_orderness=0, generator_supplier=generator_supplier)

    def with_watermark_alignment(
        self, watermark_group: str, max_allowed_watermark_drift: DurationLike, update_interval: DurationLike = 1000
    ) -> WatermarkStrategy:
        """Flink's watermark alignment (sources of one group pause when ahead of the group's minimum by more
        than the drift). Accepted and validated; millstream's sources are read in turns by one task per
        subtask and stop on back pressure, so there is no reader to pause: it has no further effect."""
        drift = to_millis(max_allowed_watermark_drift, "max allowed watermark drift")
        interval = to_millis(update_interval, "watermark alignment update interval")
        if not watermark_group or drift <= 0 or interval <= 0:
            raise JobConfigError("watermark alignment needs a group name and a positive drift and interval")
        return replace(self, alignment=(str(watermark_group), drift, interval))

    @staticmethod
    def for_bounded_out_of_orderness(max_out_of_orderness: DurationLike) -> WatermarkStrategy:
        d = to_millis(max_out_of_orderness, "max out-of-orderness")
        if d < 0:
            raise JobConfigError(f"max out-of-orderness must be >= 0, got {d} ms")
        return WatermarkStrategy(out_of_orderness=d)

    @staticmethod
    def for_monotonous_timestamps() -> WatermarkStrategy:
        return WatermarkStrategy(out_of_orderness=0)

    @staticmethod
    def no_watermarks() -> WatermarkStrategy:
        return WatermarkStrategy(out_of_orderness=None)

    def with_timestamp_assigner(self, assigner: Any) -> WatermarkStrategy:
        as_timestamp_fn(assigner)
        return replace(self, timestamp_assigner=assigner)

    def with_idleness(self, idle_timeout: DurationLike) -> WatermarkStrategy:
        t = to_millis(idle_timeout, "idle timeout")
        if t <= 0:
            raise JobConfigError(f"idle timeout must be positive, got {t} ms")
        return replace(self, idleness=t)

    @property
    def generates_watermarks(self) -> bool:
        return self.out_of_orderness is not None


__all__ = [
    "MAX_WATERMARK",
    "MIN_WATERMARK",
    "Duration",
    "DurationLike",
    "Time",
    "TimestampAssigner",
    "Watermark",
    "WatermarkGenerator",
    "WatermarkOutput",
    "WatermarkStrategy",
    "as_timestamp_fn",
    "to_millis",
]
