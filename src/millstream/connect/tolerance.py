"""Error handling per task: retries with backoff, tolerance, error logging and the dead-letter topic.

:meth:`ErrorHandler.execute` runs one stage of one record's processing (a conversion, a transform, a
``put``):

1. On :class:`RetriableError` it retries with exponential backoff (300 ms doubling, at most
   ``errors.retry.delay.max.ms``) until ``errors.retry.timeout`` ms have passed (0 = no retry, -1 = forever).
2. When the failure is final it is *reported*: logged if ``errors.log.enable`` (with the key/value if
   ``errors.log.include.messages``) and, for sinks with ``errors.deadletterqueue.topic.name``, the original
   record (its original bytes) is appended to the dead-letter topic, with ``__connect.errors.*`` headers if
   ``errors.deadletterqueue.context.headers.enable``.
3. With ``errors.tolerance=none`` it then raises :class:`ToleranceExceededError` (the task fails); with
   ``all`` it returns :data:`FAILED` and the worker skips the record.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from ..core.record import ProducerRecord, Record
from ..log.base import Log
from .errors import RetriableError, ToleranceExceededError

log = logging.getLogger("millstream.connect.errors")


class Stage(StrEnum):
    """Where a record failed (the value of the ``__connect.errors.stage`` header)."""

    KEY_CONVERTER = "KEY_CONVERTER"
    VALUE_CONVERTER = "VALUE_CONVERTER"
    HEADER_CONVERTER = "HEADER_CONVERTER"
    TRANSFORMATION = "TRANSFORMATION"
    TASK_PUT = "TASK_PUT"
    TASK_POLL = "TASK_POLL"
    KAFKA_PRODUCE = "KAFKA_PRODUCE"
    KAFKA_CONSUME = "KAFKA_CONSUME"


FAILED: Any = object()
"""Returned by :meth:`ErrorHandler.execute` when a tolerated failure skipped the record."""

HEADER_PREFIX = "__connect.errors."


class ErrorHandler:
    """Retries, tolerance and reporting for one task (see the module docstring)."""

    def __init__(
        self,
        connector: str,
        task_id: int,
        config: Mapping[str, Any],
        log_: Log | None = None,
        *,
        stopping: threading.Event | None = None,
    ) -> None:
        self.connector = connector
        self.task_id = task_id
        self.tolerance_all = config.get("errors.tolerance", "none") == "all"
        self.retry_timeout_ms = int(config.get("errors.retry.timeout", 0))
        self.retry_delay_max_ms = int(config.get("errors.retry.delay.max.ms", 60000))
        self.log_enable = bool(config.get("errors.log.enable", False))
        self.log_messages = bool(config.get("errors.log.include.messages", False))
        self.dlq_topic = str(config.get("errors.deadletterqueue.topic.name") or "")
        self.dlq_headers = bool(config.get("errors.deadletterqueue.context.headers.enable", False))
        self.log = log_
        self.stopping = stopping or threading.Event()
        self.total_failures = 0
        self.total_skipped = 0
        self.total_retries = 0
        self.dlq_produced = 0
        self._dlq_ready = False

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (1-based)."""
        return min(0.3 * (2 ** (attempt - 1)), self.retry_delay_max_ms / 1000.0)

    def execute(
        self,
        stage: Stage,
        class_name: str,
        fn: Callable[..., Any],
        *args: Any,
        original: Any = None,
        retry_timeout_ms: int | None = None,
    ) -> Any:
        """Run ``fn(*args)`` for a record; see the module docstring for retries and tolerance."""
        timeout = self.retry_timeout_ms if retry_timeout_ms is None else retry_timeout_ms
        deadline = None if timeout < 0 else time.monotonic() + timeout / 1000.0
        attempt = 0
        while True:
            try:
                return fn(*args)
            except RetriableError as exc:
                attempt += 1
                wait = self.backoff(attempt)
                if self.stopping.is_set() or (deadline is not None and time.monotonic() + wait > deadline):
                    return self.fail(stage, class_name, exc, original)
                self.total_retries += 1
                log.debug("retrying %s in %s (attempt %d): %s", stage.value, class_name, attempt, exc)
                self.stopping.wait(wait)
            except Exception as exc:
                return self.fail(stage, class_name, exc, original)

    def fail(self, stage: Stage, class_name: str, exc: BaseException, original: Any) -> Any:
        """Report a final failure, then raise (tolerance none) or return :data:`FAILED` (tolerance all)."""
        self.total_failures += 1
        self.report(stage, class_name, exc, original)
        if not self.tolerance_all:
            raise ToleranceExceededError(
                f"Tolerance exceeded in error handler: {stage.value} failed in {class_name}: "
                f"{type(exc).__name__}: {exc}",
                hint="fix the data or the config, or set errors.tolerance=all (with "
                "errors.deadletterqueue.topic.name for sinks) to skip bad records",
            ) from exc
        self.total_skipped += 1
        return FAILED

    # -- reporting -----------------------------------------------------------------------------------
    def report(self, stage: Stage, class_name: str, exc: BaseException, original: Any) -> None:
        if self.log_enable:
            log.error(
                "Error encountered in task %s-%d. Executing stage '%s' with class '%s'%s.",
                self.connector,
                self.task_id,
                stage.value,
                class_name,
                self._describe(original),
                exc_info=exc,
            )
        if self.dlq_topic and isinstance(original, Record) and self.tolerance_all:
            self._send_to_dlq(stage, class_name, exc, original)

    def _describe(self, original: Any) -> str:
        if isinstance(original, Record):
            text = (
                f", where consumed record is {{topic='{original.topic}', partition={original.partition}, "
                f"offset={original.offset}, timestamp={original.timestamp}"
            )
            if self.log_messages:
                text += f", key={original.key!r}, value={original.value!r}"
            return text + "}"
        if original is not None:
            text = f", where source record is {{topic='{getattr(original, 'topic', None)}'"
            if self.log_messages:
                text += f", key={getattr(original, 'key', None)!r}, value={getattr(original, 'value', None)!r}"
            return text + "}"
        return ""

    def _send_to_dlq(self, stage: Stage, class_name: str, exc: BaseException, rec: Record) -> None:
        assert self.log is not None
        if not self._dlq_ready:
            self.log.create_topic(self.dlq_topic, 1, exist_ok=True)
            self._dlq_ready = True
        headers = list(rec.headers)
        if self.dlq_headers:
            ctx = {
                "topic": rec.topic,
                "partition": str(rec.partition),
                "offset": str(rec.offset),
                "connector.name": self.connector,
                "task.id": str(self.task_id),
                "stage": stage.value,
                "class.name": class_name,
                "exception.class.name": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "exception.message": str(exc),
                "exception.stacktrace": "".join(traceback.format_exception(exc)),
            }
            headers += [(HEADER_PREFIX + k, v.encode("utf-8")) for k, v in ctx.items()]
        try:
            self.log.produce(self.dlq_topic, [ProducerRecord(rec.value, rec.key, rec.timestamp, tuple(headers))])
            self.dlq_produced += 1
        except Exception:
            log.exception("could not write a failed record to the dead-letter topic %s", self.dlq_topic)


__all__ = ["FAILED", "HEADER_PREFIX", "ErrorHandler", "Stage"]
