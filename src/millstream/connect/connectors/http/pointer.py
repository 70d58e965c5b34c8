"""JSON pointers (RFC 6901) and ``${offset.name}`` templates for the HTTP source.

:func:`resolve` follows a pointer such as ``/data/items`` or ``/items/0/id`` (``~1`` is ``/``, ``~0`` is ``~``)
into a parsed JSON document. As in kafka-connect-http, ``""`` and ``"/"`` both mean the whole document.
A missing member, an index out of range or a step into a scalar raises :class:`PointerError` (a ``LookupError``
saying which step failed).

:func:`render` replaces each ``${offset.name}`` in a template by the offset's ``name`` value (``""`` when the
offset has no such value); :func:`placeholders` lists the names a template uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\$\{offset\.([A-Za-z0-9_.\-]+)\}")
MISSING: Any = object()
"""What :func:`lookup` returns when the pointer leads nowhere."""


class PointerError(LookupError):
    """A JSON pointer does not lead to a value of the document."""


def parse(pointer: str) -> list[str]:
    """The reference tokens of a pointer; raise ``ValueError`` if it is not ``""`` or starts without ``/``."""
    p = pointer.strip()
    if p in ("", "/"):
        return []
    if not p.startswith("/"):
        raise ValueError(f"JSON pointer {pointer!r} must start with '/' (e.g. /items)")
    return [t.replace("~1", "/").replace("~0", "~") for t in p[1:].split("/")]


def resolve(document: Any, pointer: str) -> Any:
    """The value ``pointer`` designates in ``document``; raise :class:`PointerError` if there is none."""
    node = document
    seen = ""
    for token in parse(pointer):
        seen += "/" + token
        if isinstance(node, Mapping):
            if token not in node:
                raise PointerError(f"{seen} is missing (the object has {_keys(node)})")
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                raise PointerError(f"{seen}: no index {token!r} in an array of {len(node)}")
            node = node[int(token)]
        else:
            raise PointerError(f"{seen}: cannot step into a {type(node).__name__} value")
    return node


def lookup(document: Any, pointer: str) -> Any:
    """:func:`resolve`, but :data:`MISSING` instead of raising."""
    try:
        return resolve(document, pointer)
    except PointerError:
        return MISSING


def _keys(node: Mapping[str, Any]) -> str:
    names = list(node)[:8]
    more = ", ..." if len(node) > 8 else ""
    return "keys " + ", ".join(repr(n) for n in names) + more if names else "no keys"


def placeholders(template: str) -> list[str]:
    """The offset names a template refers to, in order."""
    return _PLACEHOLDER.findall(template)


def render(template: str, offset: Mapping[str, Any], escape: Callable[[str], str] = str) -> str:
    """``template`` with every ``${offset.name}`` replaced by ``escape(text of the value)``."""

    def sub(m: re.Match[str]) -> str:
        value = offset.get(m.group(1))
        text = "" if value is None else ("true" if value else "false") if isinstance(value, bool) else str(value)
        return escape(text)

    return _PLACEHOLDER.sub(sub, template)


__all__ = ["MISSING", "PointerError", "lookup", "parse", "placeholders", "render", "resolve"]
