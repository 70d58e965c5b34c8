"""Options the HTTP sink and source share: basic authentication, retries with backoff, timeouts, the connection
pool and TLS.

:func:`define_client_options` declares them on a connector's ``ConfigDef``; :func:`make_pool` and
:func:`sender_args` turn the parsed values into an :class:`~.client.HttpPool` and the keyword arguments of an
:class:`~.client.HttpSender` (both connectors use the same names, so a config moves between them unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...config import ConfigDef, Importance, Password, Range, Type
from .client import BACKOFF_POLICIES, HttpPool, normalize_policy, parse_status_codes


def _policy(name: str, value: Any) -> None:
    normalize_policy(str(value))


def _codes(name: str, value: Any) -> None:
    parse_status_codes(str(value))


def define_client_options(
    definition: ConfigDef, *, max_retries: int = 10, backoff_ms: int = 3000, backoff_max_ms: int = 60_000
) -> ConfigDef:
    """Declare the basic-authentication, retry, timeout, pool and TLS options on ``definition`` (with these retry
    defaults): everything :func:`sender_args` and :func:`make_pool` read."""
    return (
        definition.define(
            "connection.user",
            Type.STRING,
            "",
            importance=Importance.MEDIUM,
            group="Request",
            documentation="User for HTTP basic authentication (empty = none).",
        )
        .define(
            "connection.password",
            Type.PASSWORD,
            "",
            importance=Importance.MEDIUM,
            group="Request",
            documentation="Password for HTTP basic authentication.",
        )
        .define(
            "max.retries",
            Type.INT,
            max_retries,
            validator=Range.at_least(0),
            importance=Importance.HIGH,
            group="Retries",
            documentation="Retries of a request after a retriable failure (connection error, timeout, status in "
            "retry.on.status.codes).",
        )
        .define(
            "retry.backoff.ms",
            Type.INT,
            backoff_ms,
            validator=Range.at_least(0),
            importance=Importance.MEDIUM,
            group="Retries",
            documentation="Wait before the first retry; doubled for each further retry (exponential policies).",
        )
        .define(
            "retry.backoff.max.ms",
            Type.INT,
            backoff_max_ms,
            validator=Range.at_least(0),
            importance=Importance.LOW,
            group="Retries",
            documentation="Longest wait between retries.",
        )
        .define(
            "retry.backoff.policy",
            Type.STRING,
            "exponential",
            validator=_policy,
            recommended_values=BACKOFF_POLICIES,
            importance=Importance.LOW,
            group="Retries",
            documentation="exponential, exponential_with_jitter, or constant (Confluent's names accepted).",
        )
        .define(
            "retry.on.status.codes",
            Type.STRING,
            "408,429,500-",
            validator=_codes,
            importance=Importance.MEDIUM,
            group="Retries",
            documentation="Statuses to retry: codes and ranges, e.g. 408,429,500-.",
        )
        .define(
            "http.connect.timeout.ms",
            Type.INT,
            30_000,
            validator=Range.at_least(1),
            importance=Importance.LOW,
            group="Connection",
            documentation="Connect timeout.",
        )
        .define(
            "http.request.timeout.ms",
            Type.INT,
            30_000,
            validator=Range.at_least(1),
            importance=Importance.LOW,
            group="Connection",
            documentation="Response timeout (longest wait for the server to answer once connected).",
        )
        .define(
            "http.pool.size",
            Type.INT,
            4,
            validator=Range.at_least(1),
            importance=Importance.LOW,
            group="Connection",
            documentation="Keep-alive connections kept open per host and reused between requests.",
        )
        .define(
            "https.ssl.verify",
            Type.BOOLEAN,
            True,
            importance=Importance.MEDIUM,
            group="Connection",
            documentation="Verify the server's TLS certificate and host name (turn off only for testing).",
        )
        .define(
            "https.ssl.ca.location",
            Type.STRING,
            "",
            importance=Importance.LOW,
            group="Connection",
            documentation="PEM file of CA certificates to trust instead of the system's (empty = system store).",
        )
    )


def make_pool(values: Mapping[str, Any]) -> HttpPool:
    """The connection pool the parsed options ask for."""
    return HttpPool(
        int(values["http.pool.size"]),
        verify=bool(values["https.ssl.verify"]),
        ca_file=str(values["https.ssl.ca.location"] or "") or None,
    )


def sender_args(
    values: Mapping[str, Any], *, user: str = "connection.user", password: str = "connection.password"
) -> dict[str, Any]:
    """Keyword arguments of :class:`~.client.HttpSender` from the parsed options (retries, timeouts, auth)."""
    secret = values.get(password)
    if isinstance(secret, Password):
        secret = secret.value
    return {
        "max_retries": int(values["max.retries"]),
        "retry_backoff_ms": int(values["retry.backoff.ms"]),
        "retry_backoff_max_ms": int(values["retry.backoff.max.ms"]),
        "backoff_policy": normalize_policy(values["retry.backoff.policy"]),
        "retry_on": parse_status_codes(values["retry.on.status.codes"]),
        "connect_timeout_ms": int(values["http.connect.timeout.ms"]),
        "request_timeout_ms": int(values["http.request.timeout.ms"]),
        "user": values.get(user) or None,
        "password": secret or None,
    }


__all__ = ["define_client_options", "make_pool", "sender_args"]
