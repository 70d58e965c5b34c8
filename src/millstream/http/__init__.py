"""millstream.http: the one HTTP server stack every HTTP surface shares (Kafka Connect's REST API and the
Flink-shaped monitoring API), Starlette on uvicorn.

- :mod:`~millstream.http.api` — the :class:`HttpApi` protocol a surface implements (routes, error shape,
  OpenAPI document) and its request/response values;
- :mod:`~millstream.http.app` — the ASGI application around an :class:`HttpApi`: size limits, read timeouts,
  HEAD/OPTIONS, 405/413/415/501, basic authentication, ``/openapi.json``, errors in the surface's JSON shape;
- :mod:`~millstream.http.limits` — :class:`ServerLimits` (body size, read and idle timeouts, backlog);
- :mod:`~millstream.http.auth` — HTTP basic authentication from a users file;
- :mod:`~millstream.http.tls` — HTTPS from Kafka's ``listeners.https.ssl.*`` keys;
- :mod:`~millstream.http.server` — :class:`HttpServer`: binds, serves from a background thread, stops.
"""

from __future__ import annotations

from .api import ApiRequest, ApiResponse, HttpApi, HttpError
from .auth import BasicAuth
from .limits import ServerLimits
from .server import HttpServer
from .tls import TlsConfig

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "BasicAuth",
    "HttpApi",
    "HttpError",
    "HttpServer",
    "ServerLimits",
    "TlsConfig",
]
