"""Forwarding of REST writes to the leader of a distributed cluster, as Kafka Connect's ``RestClient`` does.

A worker that is not the leader sends a write it received (same method, path, query and body) to the
leader's advertised URL with ``forward=false`` added (:func:`forward_to_leader`), and answers with the
leader's status, body and ``Location``. The client's ``Authorization`` header goes along, so a cluster with
basic authentication forwards with the caller's credentials (HTTPS leaders are verified against the
system's CAs). The leader answers a request marked ``forward=false`` itself, or — if it no longer leads —
with 409, which the forwarding worker answers by looking the leader up again and resending; so a request
is forwarded one hop at a time, never in a loop.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlencode

import orjson

from ..http.api import ApiRequest, ApiResponse


def is_forwarded(request: ApiRequest) -> bool:
    """Whether the request came from another worker (``forward=false``): it must not be forwarded again."""
    return [v.lower() for v in request.query.get("forward", [])] == ["false"]


NOT_LEADER = "is not the leader of group"
"""In the 409 message of a worker that got a forwarded request but no longer leads."""


def forward_to_leader(
    request: ApiRequest, leader_url: Callable[[], str | None], timeout_s: float, attempts: int = 5
) -> ApiResponse | None:
    """Forward ``request`` to the current leader (``leader_url()``; ``None`` once this worker leads itself:
    then the caller handles the request). While leadership moves (the leader answers that it no longer leads)
    the leader is looked up again and the request resent, a few times, with a short pause."""
    resp: ApiResponse | None = None
    for attempt in range(attempts):
        url = leader_url()
        if url is None:
            return None
        resp = forward(request, url, timeout_s)
        message = resp.body.get("message", "") if isinstance(resp.body, dict) else ""
        if resp.status != 409 or NOT_LEADER not in str(message):
            return resp
        time.sleep(0.25 * (attempt + 1))
    return resp


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


__all__ = ["NOT_LEADER", "forward", "forward_to_leader", "is_forwarded"]
