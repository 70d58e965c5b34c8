"""Sending one HTTP request with retries and backoff (the I/O half of the HTTP sink and source).

:class:`HttpSender` sends a body to ``http.api.url`` with ``request.method`` and the configured headers, over a
:class:`HttpPool` (urllib3's ``PoolManager``): connections are kept alive and reused between requests (at most
``http.pool.size`` kept per host; a dead kept connection is replaced transparently), TLS certificates are
verified against the system trust store or ``https.ssl.ca.location`` unless ``https.ssl.verify=false``.
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ....core.errors import ConfigError, ConnectError

BACKOFF_POLICIES = ("exponential", "exponential_with_jitter", "constant")
_POLICY_ALIASES = {"constant_value": "constant", "exponential_with_jitter": "exponential_with_jitter"}


class HttpRequestError(ConnectError):
    """A request failed for good (not retriable, or retries exhausted); names the URL, status and body."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status
        self.attempts = attempts


HttpSinkError = HttpRequestError
"""The name the HTTP sink has always raised (same class)."""


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


def _urllib3() -> Any:
    try:
        import urllib3
    except ImportError:  # pragma: no cover - the extra is missing
        raise ConnectError(
            "the HTTP connectors need urllib3 (a pooled HTTP client)",
            hint="pip install 'millstream[http]'",
        ) from None
    return urllib3


class HttpPool:
    """A thread-safe keep-alive connection pool (urllib3 ``PoolManager``) shared by the senders of one task.

    ``size`` connections are kept per host (more may be opened under concurrency; the extra ones are closed
    after use). ``verify=False`` turns TLS certificate and host name checks off; ``ca_file`` is a PEM bundle to
    trust instead of the system store. ``connections_opened`` counts the new TCP connections made (the
    remainder of the requests reused one). ``close()`` closes every kept connection; the pool stays usable.
    """

    def __init__(self, size: int = 4, *, verify: bool = True, ca_file: str | None = None) -> None:
        urllib3 = _urllib3()
        kw: dict[str, Any] = {"maxsize": max(1, int(size)), "block": False}
        if verify:
            kw["cert_reqs"] = "CERT_REQUIRED"
            if ca_file:
                kw["ca_certs"] = ca_file
        else:
            kw["cert_reqs"] = "CERT_NONE"
            kw["assert_hostname"] = False
        self._pm = urllib3.PoolManager(num_pools=16, **kw)
        self._errors: tuple[type[BaseException], ...] = (urllib3.exceptions.HTTPError, OSError)
        self._retry = urllib3.util.Retry(
            total=None, connect=0, read=0, status=0, other=0, redirect=5, raise_on_status=False
        )
        self._timeout_cls = urllib3.util.Timeout

    @property
    def connections_opened(self) -> int:
        """New TCP connections made so far by the per-host pools this manager still holds."""
        pools = self._pm.pools
        return sum(getattr(pools[k], "num_connections", 0) for k in list(pools.keys()) if k in pools)

    def request(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str], connect_s: float, read_s: float
    ) -> Response:
        """One request (redirects followed, no retries): the response, or an exception of :attr:`errors`."""
        resp = self._pm.request(
            method,
            url,
            body=body,
            headers=dict(headers),
            timeout=self._timeout_cls(connect=connect_s, read=read_s),
            retries=self._retry,
            preload_content=True,
        )
        return Response(resp.status, resp.data or b"", dict(resp.headers.items()))

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """Exceptions that mean the server could not be reached or did not answer (retriable)."""
        return self._errors

    def close(self) -> None:
        self._pm.clear()


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
    pool: HttpPool | None = None
    attempts_made: int = 0
    _own_pool: bool = False
    _closed: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"http.api.url {self.url!r} is not an http:// or https:// URL")
        self.method = self.method.upper()
        if self.pool is None:
            self.pool, self._own_pool = HttpPool(), True

    def close(self) -> None:
        """Stop: a request waiting for its next attempt raises :class:`SenderClosedError` at once (a pool the
        sender made itself is closed too; a shared one belongs to its owner)."""
        self._closed.set()
        if self._own_pool and self.pool is not None:
            self.pool.close()

    def _request_once(
        self, body: bytes | None, content_type: str | None, url: str, headers: Mapping[str, str] | None
    ) -> Response:
        all_headers = {"Content-Type": content_type} if content_type and body is not None else {}
        all_headers.update(self.headers)
        if headers:
            all_headers.update(headers)
        if self.user is not None:
            token = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            all_headers["Authorization"] = f"Basic {token}"
        assert self.pool is not None
        return self.pool.request(
            self.method, url, body, all_headers, self.connect_timeout_ms / 1000, self.request_timeout_ms / 1000
        )

    def send(
        self,
        body: bytes | None,
        content_type: str | None = "application/json",
        *,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send ``body`` (to ``url`` if given, else the sender's URL; ``headers`` added to the configured ones);
        return the 2xx/3xx response, or raise :class:`HttpRequestError` once retries are exhausted or the
        status is not retriable, and :class:`SenderClosedError` if :meth:`close` was called meanwhile."""
        target = url or self.url
        assert self.pool is not None
        errors = self.pool.errors
        attempt = 0
        while True:
            if self._closed.is_set():
                raise SenderClosedError(f"the HTTP sender for {target} was closed before the request was sent")
            attempt += 1
            self.attempts_made += 1
            retry_after_ms = 0.0
            try:
                resp = self._request_once(body, content_type, target, headers)
            except errors as exc:
                reason = getattr(exc, "reason", None) or exc
                problem, status, retriable = f"could not reach {target}: {reason}", None, True
            else:
                if resp.status < 400:
                    return resp
                text = resp.body[:500].decode("utf-8", "replace")
                problem = f"{self.method} {target} answered {resp.status}: {text}"
                status, retriable = resp.status, self.retry_on(resp.status)
                ra = resp.headers.get("Retry-After") or resp.headers.get("retry-after")
                if ra and ra.strip().isdigit():
                    retry_after_ms = int(ra.strip()) * 1000.0
            if not retriable:
                raise HttpRequestError(
                    problem,
                    status=status,
                    attempts=attempt,
                    hint="the server rejected the request; fix the request (URL, method, headers, body) or add "
                    "the status to retry.on.status.codes",
                )
            if attempt > self.max_retries:
                raise HttpRequestError(
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
                raise SenderClosedError(f"the HTTP sender for {target} was closed while waiting to retry")


__all__ = [
    "BACKOFF_POLICIES",
    "HttpPool",
    "HttpRequestError",
    "HttpSender",
    "HttpSinkError",
    "Response",
    "SenderClosedError",
    "backoff_ms",
    "normalize_policy",
    "parse_headers",
    "parse_status_codes",
]
