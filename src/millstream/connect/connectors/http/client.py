"""Sending one HTTP request with retries and backoff (the I/O half of the HTTP sink).

:class:`HttpSender` sends a body to ``http.api.url`` with ``request.method`` and the configured headers.
A response whose status is in ``retry.on.status.codes`` (default ``408,429,500-``: timeouts, throttling and
server errors), or a connection failure or timeout, is retried up to ``max.retries`` times. Between attempts
it waits ``retry.backoff.ms`` * 2^(attempt-1) (``retry.backoff.policy=exponential``, the default), with jitter
(a uniform wait in the upper half of that, ``exponential_with_jitter``), or a constant ``retry.backoff.ms``
(``constant``); never more than ``retry.backoff.max.ms``, and never less than a ``Retry-After`` the server
sent. Other 4xx responses are not retried: the request itself is wrong. The waits end early when the sender is
closed (the task is stopping), so stopping a task never waits out a backoff.
"""

from __future__ import annotations

import base64
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ....core.errors import ConfigError, ConnectError

BACKOFF_POLICIES = ("exponential", "exponential_with_jitter", "constant")
_POLICY_ALIASES = {"constant_value": "constant", "exponential_with_jitter": "exponential_with_jitter"}


class HttpSinkError(ConnectError):
    """A request failed for good (not retriable, or retries exhausted); names the URL, status and body."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status
        self.attempts = attempts


class SenderClosedError(ConnectError):
    """The sender was closed while a request was waiting for a retry."""


def parse_status_codes(text: str) -> Callable[[int], bool]:
    """A predicate for ``retry.on.status.codes``: comma-separated codes and ranges (``500-``, ``400-499``)."""
    ranges: list[tuple[int, int]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            if "-" in part:
                lo, hi = part.split("-", 1)
                ranges.append((int(lo), int(hi) if hi.strip() else 999))
            else:
                ranges.append((int(part), int(part)))
        except ValueError:
            raise ConfigError(
                f"retry.on.status.codes has an invalid entry {part!r}",
                hint="use codes and ranges separated by commas, e.g. 408,429,500-",
            ) from None
    return lambda status: any(lo <= status <= hi for lo, hi in ranges)


def parse_headers(text: str, separator: str = "|") -> dict[str, str]:
    """``headers``: ``Name:Value`` pairs separated by ``header.separator`` (Confluent's form)."""
    out: dict[str, str] = {}
    for part in text.split(separator) if text else []:
        if not part.strip():
            continue
        if ":" not in part:
            raise ConfigError(
                f"headers entry {part!r} has no ':'",
                hint=f"write headers as Name:Value pairs separated by {separator!r}, e.g. "
                f"Content-Type:application/json{separator}X-Team:data",
            )
        name, value = part.split(":", 1)
        out[name.strip()] = value.strip()
    return out


def backoff_ms(policy: str, base_ms: int, attempt: int, max_ms: int, rng: random.Random | None = None) -> float:
    """The wait before retry number ``attempt`` (1 = first retry) under ``policy``."""
    delay = float(base_ms) if policy == "constant" else float(base_ms) * 2 ** (attempt - 1)
    delay = min(delay, float(max_ms))
    if policy == "exponential_with_jitter":
        delay = (rng or random).uniform(delay / 2, delay)
    return delay


def normalize_policy(text: str) -> str:
    """``retry.backoff.policy`` in canonical form (Confluent's ``CONSTANT_VALUE`` etc. accepted)."""
    p = text.strip().lower()
    p = _POLICY_ALIASES.get(p, p)
    if p not in BACKOFF_POLICIES:
        raise ConfigError(f"retry.backoff.policy {text!r} is not one of {', '.join(BACKOFF_POLICIES)}")
    return p


@dataclass
class Response:
    """What the server answered."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class HttpSender:
    """Sends request bodies with retries (see the module docstring). ``close()`` interrupts backoff waits."""

    url: str
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    max_retries: int = 10
    retry_backoff_ms: int = 3000
    retry_backoff_max_ms: int = 60_000
    backoff_policy: str = "exponential"
    retry_on: Callable[[int], bool] = field(default_factory=lambda: parse_status_codes("408,429,500-"))
    connect_timeout_ms: int = 30_000
    request_timeout_ms: int = 30_000
    user: str | None = None
    password: str | None = None
    attempts_made: int = 0
    _closed: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"http.api.url {self.url!r} is not an http:// or https:// URL")
        self.method = self.method.upper()

    def close(self) -> None:
        """Stop: a request waiting for its next attempt raises :class:`SenderClosedError` at once."""
        self._closed.set()

    def _request_once(self, body: bytes, content_type: str) -> Response:
        headers = {"Content-Type": content_type, **self.headers}
        if self.user is not None:
            token = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        req = urllib.request.Request(self.url, data=body, method=self.method, headers=headers)
        timeout = max(self.connect_timeout_ms, self.request_timeout_ms) / 1000
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Response(resp.status, resp.read(), dict(resp.headers.items()))
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.read() or b"", dict(exc.headers.items()) if exc.headers else {})

    def send(self, body: bytes, content_type: str = "application/json") -> Response:
        """Send ``body``; return the 2xx/3xx response, or raise :class:`HttpSinkError` once retries are exhausted."""
        attempt = 0
        while True:
            if self._closed.is_set():
                raise SenderClosedError(f"the HTTP sender for {self.url} was closed before the request was sent")
            attempt += 1
            self.attempts_made += 1
            retry_after_ms = 0.0
            try:
                resp = self._request_once(body, content_type)
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                problem, status, retriable = f"could not reach {self.url}: {reason}", None, True
            else:
                if resp.status < 400:
                    return resp
                text = resp.body[:500].decode("utf-8", "replace")
                problem = f"{self.method} {self.url} answered {resp.status}: {text}"
                status, retriable = resp.status, self.retry_on(resp.status)
                ra = resp.headers.get("Retry-After") or resp.headers.get("retry-after")
                if ra and ra.strip().isdigit():
                    retry_after_ms = int(ra.strip()) * 1000.0
            if not retriable:
                raise HttpSinkError(
                    problem,
                    status=status,
                    attempts=attempt,
                    hint="the server rejected the request; fix the request (URL, method, headers, body) or add "
                    "the status to retry.on.status.codes",
                )
            if attempt > self.max_retries:
                raise HttpSinkError(
                    f"{problem} (gave up after {attempt} attempts)",
                    status=status,
                    attempts=attempt,
                    hint="check that the endpoint is up; raise max.retries / retry.backoff.ms to wait longer",
                )
            wait = max(
                backoff_ms(self.backoff_policy, self.retry_backoff_ms, attempt, self.retry_backoff_max_ms),
                retry_after_ms,
            )
            if self._closed.wait(wait / 1000):
                raise SenderClosedError(f"the HTTP sender for {self.url} was closed while waiting to retry")


__all__ = [
    "BACKOFF_POLICIES",
    "HttpSender",
    "HttpSinkError",
    "Response",
    "SenderClosedError",
    "backoff_ms",
    "normalize_policy",
    "parse_headers",
    "parse_status_codes",
]
