"""Errors of the stream layer.

::

    StreamError (millstream.core.errors)
     ├── JobConfigError        a job, assigner, strategy or function is built wrongly (fails at build time)
     ├── OperatorError         an operator failed on one element: names the operator (name/uid) and the
     │    │                    element's 0-based position in that operator's input
     │    ├── TimestampError   a timestamp assigner raised or returned something that is not an int
     │    └── KeyError_        a key selector raised, or returned an unhashable/unpicklable key
     └── JobFailedError        raised by ``execute()``: the job stopped because of an error; ``__cause__``
                               is the original exception with its traceback
"""

from __future__ import annotations

from typing import Any

from ..core.errors import ConfigError, StreamError


class JobConfigError(StreamError, ConfigError):
    """A job, window assigner, watermark strategy, state descriptor or function is invalid."""

    exit_code = 2


def _preview(element: Any, limit: int = 120) -> str:
    try:
        text = repr(element)
    except Exception:  # pragma: no cover - repr of user objects may fail
        text = f"<{type(element).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OperatorError(StreamError):
    """An operator failed on one element.

    ``operator`` is the operator's name, ``uid`` its uid (or ``None``), ``position`` the 0-based index of the
    offending element in the operator's input stream and ``element`` the element itself.
    """

    def __init__(
        self,
        problem: str,
        *,
        operator: str,
        uid: str | None = None,
        position: int | None = None,
        element: Any = None,
        hint: str | None = None,
    ) -> None:
        where = f"operator {operator!r}" + (f" (uid {uid!r})" if uid else "")
        at = f" at element #{position} ({_preview(element)})" if position is not None else ""
        super().__init__(f"{where} failed{at}: {problem}", hint=hint)
        self.problem = problem
        self.operator = operator
        self.uid = uid
        self.position = position
        self.element = element


class TimestampError(OperatorError):
    """A timestamp assigner raised, or returned a value that is not an ``int`` of epoch milliseconds."""


class KeySelectorError(OperatorError):
    """A key selector raised, or produced a key that cannot be hashed or pickled."""


class JobFailedError(StreamError):
    """A running job stopped because of an error.

    ``__cause__`` (and ``error``) is the original exception, so its traceback is shown; ``operator``,
    ``uid``, ``position`` and ``element`` say where it happened when an operator was processing an element.
    """

    def __init__(
        self,
        job: str,
        error: BaseException,
        *,
        operator: str | None = None,
        uid: str | None = None,
        position: int | None = None,
        element: Any = None,
    ) -> None:
        if isinstance(error, OperatorError):
            detail = str(error)
            operator, uid, position, element = error.operator, error.uid, error.position, error.element
        else:
            where = f" in operator {operator!r}" + (f" (uid {uid!r})" if uid else "") if operator else ""
            at = f" at element #{position} ({_preview(element)})" if position is not None else ""
            detail = f"{type(error).__name__}: {error}{where}{at}"
        super().__init__(f"job {job!r} failed: {detail}")
        self.job = job
        self.error = error
        self.operator = operator
        self.uid = uid
        self.position = position
        self.element = element


__all__ = [
    "JobConfigError",
    "JobFailedError",
    "KeySelectorError",
    "OperatorError",
    "StreamError",
    "TimestampError",
]
