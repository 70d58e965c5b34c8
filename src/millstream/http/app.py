"""The ASGI application around an :class:`~millstream.http.api.HttpApi`.

Every request goes through the same steps, so both surfaces behave alike:

1. a method outside GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS → 501;
2. with basic authentication on, missing or wrong credentials → 401 with ``WWW-Authenticate``;
3. ``GET /openapi.json`` → the surface's OpenAPI document;
4. a path no route matches → 404; ``OPTIONS`` → 204 with ``Allow``; a method the path does not allow → 405
   with ``Allow``; ``HEAD`` is answered as ``GET`` without the body;
5. the body: a ``Content-Length`` over the limit → 413 without keeping it (a body up to 128 MiB is read and
   dropped first, so a client still sending can read the answer); a chunked body growing past the limit
   → 413; a body not complete within the read timeout → 408 (both close the connection); a body with a
   ``Content-Type`` that is not JSON → 415;
6. the surface's :meth:`~millstream.http.api.HttpApi.handle` (on a worker thread when it may block);
   :class:`~millstream.http.api.HttpError` → that status; any other exception → 500, logged with its traceback.

Starlette gives the request and response types and the worker-thread pool; routing is the surface's own
(one route table per API, also the source of its OpenAPI document). Every error body has the surface's
shape (:meth:`~millstream.http.api.HttpApi.error_body`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from .api import ApiRequest, ApiResponse, HttpApi, HttpError
from .auth import BasicAuth
from .limits import ServerLimits

log = logging.getLogger("millstream.http")

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_BODYLESS = frozenset({204, 304})
#: a refused body up to this size is read and dropped before answering 413 (see ``ApiApp._drain``)
_DRAIN_MAX_BYTES = 128 * 1024 * 1024


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json", "*/*") or media.endswith("+json")


class ApiApp:
    """Builds the Starlette application serving ``api`` with ``limits`` and optional ``auth``."""

    def __init__(self, api: HttpApi, limits: ServerLimits | None = None, auth: BasicAuth | None = None) -> None:
        self.api = api
        self.limits = limits or ServerLimits()
        self.auth = auth

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The ASGI 3 application (HTTP only)."""
        if scope["type"] != "http":
            return
        response = await self._endpoint(Request(scope, receive))
        await response(scope, receive, send)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> ApiResponse:
        return ApiResponse(status, self.api.error_body(status, message), dict(headers or {}))

    async def _endpoint(self, request: Request) -> Response:
        try:
            resp = await self._serve(request)
        except HttpError as exc:
            resp = self._error(exc.status, exc.message, exc.headers)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody reads it
        except Exception as exc:  # a bug: log it, answer in the surface's shape, keep serving
            log.exception("%s %s failed", request.method, request.url.path)
            resp = self._error(500, f"Internal server error: {type(exc).__name__} (details in the server log)")
        return self._render(resp)

    def _render(self, resp: ApiResponse) -> Response:
        headers = dict(resp.headers)
        if resp.status in _BODYLESS or (resp.raw is None and resp.body is None):
            return Response(status_code=resp.status, headers=headers)
        content = resp.raw if resp.raw is not None else orjson.dumps(resp.body)
        return Response(content, status_code=resp.status, headers=headers, media_type=resp.content_type)

    async def _serve(self, request: Request) -> ApiResponse:
        method = request.method.upper()
        if method not in METHODS:
            raise HttpError(501, f"HTTP method {method} is not implemented; this API supports {', '.join(METHODS)}")
        if self.auth is not None and self.auth.authenticate(request.headers.get("authorization")) is None:
            raise HttpError(
                401,
                "Authentication required: send HTTP basic credentials of a user in the server's users file",
                {"WWW-Authenticate": self.auth.challenge},
            )
        raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        if raw_path.rstrip("/") == "/openapi.json":
            allowed = ["GET"]
        else:
            allowed = self.api.allowed_methods(raw_path)
        if not allowed:
            raise HttpError(404, f"HTTP 404 Not Found: no resource at {request.url.path}")
        allow = ", ".join([*allowed, *(["HEAD"] if "GET" in allowed else []), "OPTIONS"])
        if method == "OPTIONS":
            return ApiResponse(204, headers={"Allow": allow})
        target = "GET" if method == "HEAD" else method
        if target not in allowed:
            raise HttpError(
                405, f"HTTP 405 Method Not Allowed: {method} {request.url.path} (allowed: {allow})", {"Allow": allow}
            )
        if raw_path.rstrip("/") == "/openapi.json":
            return ApiResponse(200, self._openapi())
        body = await self._read_body(request)
        ctype = request.headers.get("content-type")
        if body and ctype and not _is_json(ctype):
            raise HttpError(415, f"Unsupported Content-Type {ctype!r}: send the body as application/json")
        scheme = request.url.scheme
        host = request.headers.get("host")
        req = ApiRequest(
            method=target,
            raw_path=raw_path,
            query=parse_qs(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True),
            body=body,
            base_url=f"{scheme}://{host}" if host else "",
            authorization=request.headers.get("authorization"),
        )
        if self.api.blocking:
            return await run_in_threadpool(self.api.handle, req)
        return self.api.handle(req)

    async def _read_body(self, request: Request) -> bytes | None:
        limit = self.limits.max_body_bytes
        too_big = {"Connection": "close"}
        length = request.headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            if int(length) <= _DRAIN_MAX_BYTES:
                await self._drain(request)
            raise HttpError(413, self._too_big(f"{int(length)} bytes"), too_big)
        if length is None and "chunked" not in request.headers.get("transfer-encoding", "").lower():
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.read_timeout_s):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        await self._drain(request)
                        raise HttpError(413, self._too_big(f"more than {limit} bytes"), too_big)
                    chunks.append(chunk)
        except TimeoutError:
            raise HttpError(
                408,
                f"Request body not received within {self.limits.read_timeout_s:g} s "
                f"({size} of {length or 'a chunked number of'} bytes arrived)",
                {"Connection": "close"},
            ) from None
        return b"".join(chunks)

    async def _drain(self, request: Request) -> None:
        """Read and drop the rest of a refused body (up to :data:`_DRAIN_MAX_BYTES`, within the read timeout),
        so the client, still sending, gets to read the answer instead of a connection reset."""
        dropped = 0
        try:
            async with asyncio.timeout(self.limits.read_timeout_s):
                async for chunk in request.stream():
                    dropped += len(chunk)
                    if dropped > _DRAIN_MAX_BYTES:
                        return
        except (TimeoutError, ClientDisconnect, RuntimeError):
            return

    def _too_big(self, what: str) -> str:
        return (
            f"Request body of {what} is larger than the limit of {self.limits.max_body_bytes} bytes "
            f"(raise it with {self.limits.max_body_option})"
        )

    def _openapi(self) -> dict[str, Any]:
        doc = self.api.openapi()
        if self.auth is not None:
            doc = {
                **doc,
                "components": {
                    **doc.get("components", {}),
                    "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
                },
                "security": [{"basic": []}],
            }
        return doc


__all__ = ["METHODS", "ApiApp"]
