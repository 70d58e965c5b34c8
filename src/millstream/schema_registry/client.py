"""The one schema-registry client of millstream: ``confluent_kafka.schema_registry``'s, shared per URL.

:func:`registry_client` returns Confluent's ``SchemaRegistryClient`` for ``http(s)://`` URLs (a comma-separated
list is tried in order, as Confluent's clients do) and, for ``mock://<scope>``, millstream's
:class:`~millstream.schema_registry.in_process.InProcessRegistry` — Confluent's in-memory mock client plus
compatibility checks — one per scope, so every serializer, deserializer and Connect converter of a process that
names the same scope sees the same subjects and ids (as Confluent's ``mock://`` does in Java).

Clients are cached per (URL, settings): schemas fetched by id are cached by the client, so sharing it saves
round trips. Settings take Confluent's names (``basic.auth.user.info``, ``basic.auth.credentials.source``,
``ssl.ca.location``, ``ssl.certificate.location``, ``ssl.key.location``, ``timeout``, ``max.retries``,
``retries.wait.ms`` ...); an unknown one fails with :class:`~millstream.core.errors.ConfigError`.

:func:`explain` turns what the client raises (``SchemaRegistryError``, network errors) into millstream's
errors that say what happened, where, and what to do.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ..core.errors import ConfigError, MillstreamError, SerdeError

_clients: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
_lock = threading.Lock()


class RegistryUnavailableError(SerdeError):
    """The schema registry could not be reached (network error, timeout, or a 5xx answer)."""


class SchemaEvolutionError(SerdeError):
    """The registry refused a schema: it is incompatible with the subject's earlier versions."""

    def __init__(self, subject: str, level: str, detail: str, hint: str | None = None) -> None:
        self.subject = subject
        self.level = level
        super().__init__(
            f"schema for subject '{subject}' is incompatible with its earlier versions under compatibility "
            f"level {level}: {detail}",
            hint=hint
            or (
                f"change the schema compatibly (under {level}: e.g. add fields with defaults, remove optional "
                f"ones), or — if every reader can cope — change the subject's compatibility level"
            ),
        )


def _settings(url: str, config: Mapping[str, Any]) -> dict[str, Any]:
    conf: dict[str, Any] = {"url": url}
    for key, value in config.items():
        key = str(key).removeprefix("schema.registry.")
        if key in ("max.retries", "retries.wait.ms", "retries.max.wait.ms", "cache.capacity"):
            conf[key] = int(value)
        elif key in ("timeout", "cache.latest.ttl.sec"):
            conf[key] = float(value)
        elif value is not None:
            conf[key] = value
    return conf


def registry_client(url: str, config: Mapping[str, Any] | None = None) -> Any:
    """The shared client for ``url`` with ``config`` (Confluent's client settings; see the module docstring)."""
    url = url.strip()
    if not url:
        raise ConfigError("the schema registry URL is empty", hint="set it, e.g. http://localhost:8081")
    conf = _settings(url, config or {})
    key = (url, tuple(sorted((k, str(v)) for k, v in conf.items())))
    with _lock:
        client = _clients.get(key)
        if client is not None:
            return client
        if url.startswith("mock://"):
            from .in_process import InProcessRegistry

            scope = url[len("mock://") :]
            client = InProcessRegistry.scope(scope)
        else:
            from confluent_kafka.schema_registry import SchemaRegistryClient

            try:
                client = SchemaRegistryClient(conf)
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"invalid schema registry settings for {url}: {exc}",
                    hint="use the Confluent client's names: basic.auth.user.info, ssl.ca.location, timeout, ...",
                ) from exc
        _clients[key] = client
        return client


def compatibility_level(client: Any, subject: str) -> str:
    """The compatibility level that applies to ``subject`` (its own, else the registry's global one);
    ``"unknown"`` when the registry does not say."""
    for name in (subject, None):
        try:
            level = client.get_compatibility(name)
        except Exception:
            continue
        if level:
            return str(level)
    return "unknown"


def explain(exc: BaseException, *, url: str, subject: str | None = None, client: Any = None) -> MillstreamError:
    """A millstream error for what the registry client raised (see the module docstring)."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    if isinstance(exc, MillstreamError):
        return exc
    if isinstance(exc, SchemaRegistryError):
        status, code, message = exc.http_status_code, exc.error_code, exc.error_message
        if status == 409 and subject is not None:
            level = compatibility_level(client, subject) if client is not None else "unknown"
            return SchemaEvolutionError(subject, level, message)
        if status == 404 and subject is not None:  # writing: the schema is not under the subject
            return SerdeError(
                f"the schema is not registered under subject '{subject}' in {url} ({message})",
                hint="register it first, or allow auto registration (auto.register.schemas / auto_register)",
            )
        if status == 404:  # reading: the record's schema id
            hint = (
                "the record was written against another registry, or its schema was deleted: point the format at "
                "the registry the producer used"
            )
            if url.startswith("mock://"):
                hint += (
                    "; a mock:// registry lives in one process only, so parallel workers (parallelism > 1) and "
                    "other programs do not see its schemas: use a registry server"
                )
            return SerdeError(f"schema registry {url} does not know the schema ({message})", hint=hint)
        if status in (401, 403):
            return SerdeError(
                f"schema registry {url} refused the credentials ({status}: {message})",
                hint="set basic.auth.user.info = user:password (Flink: '<format>.basic-auth.user-info')",
            )
        if status >= 500:
            return RegistryUnavailableError(
                f"schema registry {url} failed ({status}: {message})", hint="retry when the registry is healthy"
            )
        return SerdeError(f"schema registry {url} answered {status} (error {code}): {message}")
    # Confluent's client speaks HTTP through httpx2 or httpx (whichever it found): take its error types
    from confluent_kafka.schema_registry.common._httpx_compat import httpx

    if isinstance(exc, httpx.TransportError | OSError):
        return RegistryUnavailableError(
            f"cannot reach the schema registry at {url}: {type(exc).__name__}: {exc}",
            hint="start the registry or fix the URL; no record was skipped, so the job can be restarted "
            "from its last checkpoint or committed offsets",
        )
    return SerdeError(f"schema registry {url}: {type(exc).__name__}: {exc}")


__all__ = [
    "RegistryUnavailableError",
    "SchemaEvolutionError",
    "compatibility_level",
    "explain",
    "registry_client",
]
