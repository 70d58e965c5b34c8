"""What a surface served by :mod:`millstream.http` provides: the :class:`HttpApi` protocol.

A surface is framework-free: it maps an :class:`ApiRequest` (method, path, query, body already read and
size-checked) to an :class:`ApiResponse`, names the methods a path allows (for 405 and OPTIONS), shapes its
error bodies (Kafka Connect: ``{"error_code": 404, "message": ...}``; Flink: ``{"errors": [...]}``) and
describes itself as an OpenAPI 3 document. :mod:`millstream.http.app` does everything around that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class HttpError(Exception):
    """An error answer: HTTP ``status`` and a ``message`` for the surface's error shape."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class ApiRequest:
    """One request as a surface sees it. ``raw_path`` is the path as sent, still percent-encoded (split it
    into segments first, then decode each, so an encoded ``/`` stays inside its segment); ``query`` maps each
    name to all its values; ``body`` is ``None`` when the request had none; ``base_url`` is
    ``scheme://host[:port]`` as the client addressed the server (for absolute ``Location`` headers);
    ``authorization`` the request's ``Authorization`` header, if any."""

    method: str
    raw_path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    body: bytes | None = None
    base_url: str = ""
    authorization: str | None = None  # the Authorization header as sent (for forwarding a request on)


@dataclass
class ApiResponse:
    """A surface's answer: status, a JSON-able ``body`` (``None``: no body) or ``raw`` bytes with
    ``content_type``, and extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"


class HttpApi(Protocol):
    """A REST surface served by :class:`~millstream.http.server.HttpServer`."""

    #: run :meth:`handle` on a worker thread (it may block: locks, I/O) rather than on the event loop
    blocking: bool

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Answer one request whose method the path allows; raise :class:`HttpError` for an error answer."""
        ...

    def allowed_methods(self, raw_path: str) -> list[str]:
        """The methods ``raw_path`` accepts (without HEAD/OPTIONS); empty when no route matches (404)."""
        ...

    def error_body(self, status: int, message: str) -> Any:
        """The JSON body of an error answer in this surface's shape."""
        ...

    def openapi(self) -> dict[str, Any]:
        """This API as an OpenAPI 3 document (served at ``/openapi.json``)."""
        ...


__all__ = ["ApiRequest", "ApiResponse", "HttpApi", "HttpError"]
