"""Routing records on which a user function fails to a side output instead of failing the job (opt-in).

``ds.map(f).on_error(tag, max_errors=...)`` (also ``filter``, ``flat_map``, ``process`` and keyed/connected
``process``): when the function raises on an element, the operator emits a **failed-element record** to the side
output ``tag`` and goes on with the next element — Kafka Streams' ``processing.exception.handler`` set to
continue, Kafka Connect's ``errors.tolerance=all`` with a dead-letter queue. Write the side output to a
dead-letter topic like any stream (``ds.get_side_output(tag).sink_to(LogSink...)``).

A failed-element record is a plain dict (JSON-ready)::

    {"element": <the input element>, "error": "ValueError: bad", "operator": "Map (2/4)",
     "position": <index of the element in this subtask's input>, "traceback": "Traceback ..."}

with the element's timestamp. Outputs the function produced for the failing element before it raised are
dropped; state it changed before raising stays changed (there is no rollback). After ``max_errors`` failures in
one subtask (``None``: no limit) the next one fails the job as it would without ``on_error``, with a note
saying the limit was reached. The default, without ``on_error``, stays fail-fast.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from ..functions import OutputTag


@dataclass(frozen=True)
class ErrorHandling:
    """What ``on_error`` asked for: the side output of failed elements and the most failures per subtask."""

    tag: OutputTag
    max_errors: int | None = None


class Tolerance:
    """One operator instance's handling of user-function failures (see the module docstring)."""

    __slots__ = ("failures", "handling")

    def __init__(self, handling: ErrorHandling) -> None:
        self.handling = handling
        self.failures = 0

    def handle(self, op: Any, exc: Exception, position: int, element: Any, ts: Any, wm: int) -> None:
        """Route ``element`` (which made ``op``'s function raise ``exc``) to the side output, or re-raise
        ``exc`` once the limit is passed."""
        self.failures += 1
        limit = self.handling.max_errors
        if limit is not None and self.failures > limit:
            exc.add_note(f"{op.name}: {self.failures} elements failed, more than on_error's max_errors={limit}")
            raise exc
        record = {
            "element": element,
            "error": f"{type(exc).__name__}: {exc}",
            "operator": op.name,
            "position": position,
            "traceback": "".join(traceback.format_exception(exc)),
        }
        sv, st, sw = op.side(self.handling.tag)
        sv.append(record)
        st.append(ts)
        sw.append(wm)


__all__ = ["ErrorHandling", "Tolerance"]
