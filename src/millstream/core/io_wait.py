"""Waiting for sockets (and pipes) to become readable or writable, without ``select.select``'s limit.

``select.select`` only takes file descriptors below ``FD_SETSIZE`` (1024): in a process that has many files open
(a long-running server, a Connect worker with many tasks, a test session) a new socket gets a higher number
and ``select`` raises ``ValueError: filedescriptor out of range``. :func:`wait_io` has ``select``'s contract
on ``poll(2)``, which has no such limit.
"""

from __future__ import annotations

import math
import select
from collections.abc import Sequence
from typing import Any

_READABLE = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR | select.POLLNVAL
_WRITABLE = select.POLLOUT | select.POLLHUP | select.POLLERR | select.POLLNVAL


def _fd(obj: Any) -> int:
    return obj if isinstance(obj, int) else int(obj.fileno())


def wait_io(
    readers: Sequence[Any], writers: Sequence[Any] = (), timeout: float | None = None
) -> tuple[list[Any], list[Any]]:
    """Wait until one of ``readers`` is readable or one of ``writers`` writable, at most ``timeout`` s (``None``:
    no limit), and return those that are, as ``select.select([...], [...], [], timeout)`` does (objects with a
    ``fileno()`` or file descriptor numbers, returned as given). As with ``select``, end of stream and errors
    count as readable (and writable): the next read or write raises them. With nothing to wait on it sleeps
    ``timeout`` s."""
    poller = select.poll()
    masks: dict[int, int] = {}
    for r in readers:
        fd = _fd(r)
        masks[fd] = masks.get(fd, 0) | select.POLLIN | select.POLLPRI
    for w in writers:
        fd = _fd(w)
        masks[fd] = masks.get(fd, 0) | select.POLLOUT
    for fd, mask in masks.items():
        poller.register(fd, mask)
    ms = None if timeout is None else max(0, math.ceil(timeout * 1000))
    events = dict(poller.poll(ms))
    if not events:
        return [], []
    readable = [r for r in readers if events.get(_fd(r), 0) & _READABLE]
    writable = [w for w in writers if events.get(_fd(w), 0) & _WRITABLE]
    return readable, writable


__all__ = ["wait_io"]
