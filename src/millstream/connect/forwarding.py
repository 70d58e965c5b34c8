"""Forwarding of REST writes to the leader of a distributed cluster, as Kafka Connect's ``RestClient`` does.

A worker that is not the leader sends a write it received (same method, path, query and body) to the
leader's advertised URL with ``forward=false`` added, and answers with the leader's status, body and
``Location``; the client's ``Authorization`` header goes along, so a cluster with basic authentication
forwards with the caller's credentials (HTTPS leaders are verified against the system's CAs). The leader
answers a request marked ``forward=false`` itself, or — if it no longer leads — with
409, so a request is forwarded at most once.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlencode

import orjson

from ..http.api import ApiRequest, ApiResponse


def is_forwarded(request: ApiRequest) -> bool:
    """Whether the request came from another worker (``forward=false``): it must not be forwarded again."""
    return [v.lower() for v in request.query.get("forward", [])] == ["false"]


def forward(request: ApiRequest, leader_url: str, timeout_s: float) -> ApiResponse:
    """Send ``request`` to the leader and return its answer; an unreachable leader gives 500 naming it."""
    query = [(k, v) for k, vs in request.query.items() if k != "forward" for v in vs] + [("forward", "false")]
    url = leader_url.rstrip("/") + request.raw_path + "?" + urlencode(query)
    headers = {"Accept": "application/json"}
    if request.body is not None:
        headers["Content-Type"] = "application/json"
    if request.authorization:  # the client's credentials, as Kafka Connect forwards them
        headers["Authorization"] = request.authorization
    req = urllib.request.Request(url, data=request.body, method=request.method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            status, raw, location = resp.status, resp.read(), resp.headers.get("Location")
    except urllib.error.HTTPError as exc:
        status, raw, location = exc.code, exc.read(), exc.headers.get("Location")
    except (urllib.error.URLError, OSError) as exc:
        message = f"Error trying to forward REST request to the leader at {leader_url}: {exc}"
        return ApiResponse(500, {"error_code": 500, "message": message})
    body = orjson.loads(raw) if raw.strip() else None
    return ApiResponse(status, body, {"Location": location} if location else {})


__all__ = ["forward", "is_forwarded"]
