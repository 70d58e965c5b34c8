"""A small JSON client for the REST APIs the console reads: a Connect worker's REST API, another process's
console, or (in-process) an :class:`~millstream.http.api.HttpApi` called directly without a socket.

Both give ``request(method, path, body) -> (status, json)``; network failures become status 502 with a
message naming the URL, so the page shows "cannot reach ..." instead of failing.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from typing import Any

import orjson

from ..http.api import ApiRequest, HttpApi, HttpError


class HttpClient:
    """JSON over HTTP to ``base_url`` (``http(s)://host:port``), optionally with basic ``auth``
    (``user:password``), within ``timeout_s``."""

    def __init__(self, base_url: str, auth: str | None = None, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.headers = {"Accept": "application/json"}
        if auth:
            self.headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send one request; ``(status, parsed JSON or None)``."""
        data = None if body is None else orjson.dumps(body)
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return resp.status, _parse(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _parse(exc.read())
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            return 502, {"error": f"cannot reach {self.base_url}: {reason}"}


class LocalClient:
    """The same interface over an in-process :class:`HttpApi` (no socket, no serialisation of requests)."""

    def __init__(self, api: HttpApi, name: str = "in-process") -> None:
        self.api = api
        self.base_url = name

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the API's handler as the server would."""
        raw_path, _, qs = path.partition("?")
        from urllib.parse import parse_qs

        req = ApiRequest(method, raw_path, parse_qs(qs), None if body is None else orjson.dumps(body))
        try:
            resp = self.api.handle(req)
        except HttpError as exc:
            return exc.status, self.api.error_body(exc.status, exc.message)
        if resp.raw is not None:
            return resp.status, _parse(resp.raw)
        return resp.status, resp.body


def _parse(data: bytes) -> Any:
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return {"error": data[:300].decode("utf-8", "replace")}


__all__ = ["HttpClient", "LocalClient"]
