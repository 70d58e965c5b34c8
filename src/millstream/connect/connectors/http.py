"""HTTP sink: sends record values to an HTTP endpoint, in batches, with retries and backoff.

Options follow Confluent's HTTP Sink connector: ``http.api.url``, ``request.method`` (POST, PUT, PATCH),
``headers`` (``Name:Value`` pairs separated by ``header.separator``, default ``|``), ``batch.max.size``
(records per request), ``request.body.format`` (``json``: a JSON array of the values, or the value itself when
batches hold one record; ``string``: ``batch.prefix`` + values joined by ``batch.separator`` +
``batch.suffix``), ``auth.type`` (NONE or BASIC with ``connection.user``/``connection.password``),
``max.retries`` and ``retry.backoff.ms`` (doubling up to ``retry.backoff.max.ms``),
``retry.on.status.codes`` (default ``429,500-``), ``http.request.timeout.ms``, ``behavior.on.null.values``
(``ignore`` or ``fail``).

Failures: a connection error or a status in ``retry.on.status.codes`` is retried; when retries run out the
batch
fails with a :class:`ConnectError`; any other 4xx/5xx fails at once with a :class:`DataError` naming the
status
and the response body. With ``errors.tolerance=all`` the worker then re-sends the records one by one and puts
those that still fail in the dead-letter topic.
"""

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import orjson

from ...core.record import TopicPartition
from ..api import SinkConnector, SinkTask
from ..config import ConfigDef, ConfigValue, Importance, Range, Type, ValidString
from ..converters import json_default
from ..data import SinkRecord
from ..errors import ConnectError, DataError
from .file import format_line


def _status_ranges(name: str, value: Any) -> None:
    parse_status_codes(value or "")


def parse_status_codes(spec: str) -> list[tuple[int, int]]:
    """``"429,500-"`` → ``[(429, 429), (500, 999)]``; raises ``ValueError`` on bad input."""
    out = []
    for part in (p.strip() for p in str(spec).split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a = int(lo) if lo else 100
            b = (int(hi) if hi else 999) if sep else a
        except ValueError:
            raise ValueError(f"'{part}' is not a status code or range like 500-599 or 500-") from None
        out.append((a, b))
    return out


class HttpSinkConnector(SinkConnector):
    """Sends records to an HTTP API (see the module docstring)."""

    CONFIG_DEF = (
        ConfigDef()
        .define("http.api.url", Type.STRING, importance=Importance.HIGH, documentation="Endpoint URL.")
        .define(
            "request.method",
            Type.STRING,
            "POST",
            validator=ValidString("POST", "PUT", "PATCH"),
            importance=Importance.HIGH,
            documentation="HTTP method.",
        )
        .define("headers", Type.STRING, "", importance=Importance.MEDIUM, documentation="Name:Value pairs.")
        .define(
            "header.separator", Type.STRING, "|", importance=Importance.LOW, documentation="Between headers."
        )
        .define(
            "batch.max.size",
            Type.INT,
            1,
            validator=Range.between(1, 1_000_000),
            importance=Importance.MEDIUM,
            documentation="Records per request.",
        )
        .define(
            "request.body.format",
            Type.STRING,
            "json",
            validator=ValidString("json", "string"),
            importance=Importance.MEDIUM,
            documentation="json (array of values) or string (prefix + values joined by separator + suffix).",
        )
        .define(
            "batch.prefix", Type.STRING, "", importance=Importance.LOW, documentation="String format prefix."
        )
        .define(
            "batch.suffix", Type.STRING, "", importance=Importance.LOW, documentation="String format suffix."
        )
        .define(
            "batch.separator",
            Type.STRING,
            ",",
            importance=Importance.LOW,
            documentation="String format joiner.",
        )
        .define(
            "auth.type",
            Type.STRING,
            "NONE",
            validator=ValidString("NONE", "BASIC"),
            importance=Importance.MEDIUM,
            documentation="NONE or BASIC.",
        )
        .define(
            "connection.user", Type.STRING, None, importance=Importance.MEDIUM, documentation="BASIC user."
        )
        .define(
            "connection.password",
            Type.PASSWORD,
            None,
            importance=Importance.MEDIUM,
            documentation="BASIC pw.",
        )
        .define(
            "max.retries",
            Type.INT,
            10,
            validator=Range.at_least(0),
            importance=Importance.MEDIUM,
            documentation="Retries per request.",
        )
        .define(
            "retry.backoff.ms",
            Type.LONG,
            3000,
            validator=Range.at_least(0),
            importance=Importance.MEDIUM,
            documentation="First retry delay; doubles per attempt.",
        )
        .define(
            "retry.backoff.max.ms",
            Type.LONG,
            60000,
            validator=Range.at_least(0),
            importance=Importance.LOW,
            documentation="Longest retry delay.",
        )
        .define(
            "retry.on.status.codes",
            Type.STRING,
            "429,500-",
            validator=_status_ranges,
            importance=Importance.LOW,
            documentation="Statuses to retry: codes and ranges, e.g. 429,500-.",
        )
        .define(
            "http.request.timeout.ms",
            Type.INT,
            30000,
            validator=Range.at_least(1),
            importance=Importance.LOW,
            documentation="Per-request timeout.",
        )
        .define(
            "behavior.on.null.values",
            Type.STRING,
            "ignore",
            validator=ValidString("ignore", "fail"),
            importance=Importance.LOW,
            documentation="Skip tombstones (ignore) or fail on them.",
        )
    )

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[HttpSinkTask]:
        return HttpSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max_tasks)]

    def stop(self) -> None:
        pass

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        values = super().validate(props)
        url = str(props.get("http.api.url") or "")
        for v in values:
            if v.name == "http.api.url" and url and not url.startswith(("http://", "https://")):
                v.errors.append(
                    f"Invalid value {url} for configuration http.api.url: must start with http:// or https://"
                )
        return values

    def alter_offsets(
        self, connector_config: Mapping[str, str], offsets: Mapping[TopicPartition, int | None]
    ) -> bool:
        return True


class HttpSinkTask(SinkTask):
    """Sends each ``put`` batch in requests of ``batch.max.size`` records."""

    def start(self, props: Mapping[str, str]) -> None:
        c = HttpSinkConnector.CONFIG_DEF.parse(props)
        self.c = c
        self.url = c["http.api.url"]
        self.method = c["request.method"]
        self.headers: dict[str, str] = {}
        for pair in (c["headers"] or "").split(c["header.separator"]):
            if pair.strip():
                name, sep, value = pair.partition(":")
                if not sep:
                    raise ConnectError(f"header {pair!r} in 'headers' is not Name:Value")
                self.headers[name.strip()] = value.strip()
        self.headers.setdefault(
            "Content-Type", "application/json" if c["request.body.format"] == "json" else "text/plain"
        )
        if c["auth.type"] == "BASIC":
            pw = c["connection.password"]
            token = f"{c['connection.user'] or ''}:{pw.value if pw is not None else ''}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        self.retry_codes = parse_status_codes(c["retry.on.status.codes"])
        self.stopping = threading.Event()
        self.requests_sent = 0

    def _body(self, values: list[Any]) -> bytes:
        if self.c["request.body.format"] == "json":
            doc: Any = values[0] if self.c["batch.max.size"] == 1 else values
            return orjson.dumps(doc, default=json_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
        text = self.c["batch.separator"].join(format_line(v) for v in values)
        return (self.c["batch.prefix"] + text + self.c["batch.suffix"]).encode()

    def _retryable(self, status: int) -> bool:
        return any(a <= status <= b for a, b in self.retry_codes)

    def _send(self, body: bytes) -> None:
        timeout = self.c["http.request.timeout.ms"] / 1000.0
        delay = self.c["retry.backoff.ms"] / 1000.0
        attempts = self.c["max.retries"] + 1
        last = ""
        for attempt in range(attempts):
            req = urllib.request.Request(self.url, data=body, method=self.method, headers=self.headers)
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    resp.read()
                    self.requests_sent += 1
                    return
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:500]
                last = f"{self.method} {self.url} answered {exc.code} {exc.reason}: {detail}"
                if not self._retryable(exc.code):
                    raise DataError(
                        last,
                        hint="fix the records or the endpoint; retry.on.status.codes decides "
                        "which statuses are retried",
                    ) from None
            except (urllib.error.URLError, OSError) as exc:
                last = f"cannot reach {self.url}: {getattr(exc, 'reason', exc)}"
            if attempt + 1 < attempts and self.stopping.wait(
                min(delay, self.c["retry.backoff.max.ms"] / 1000.0)
            ):
                break
            delay *= 2
        raise ConnectError(
            f"HTTP request failed after {attempts} attempt(s): {last}",
            hint="check the endpoint; raise max.retries / retry.backoff.ms to wait longer",
        )

    def put(self, records: list[SinkRecord]) -> None:
        values = []
        for r in records:
            if r.value is None:
                if self.c["behavior.on.null.values"] == "fail":
                    raise DataError(
                        f"null value at {r.topic}[{r.kafka_partition}]@{r.kafka_offset} "
                        "(behavior.on.null.values=fail)"
                    )
                continue
            values.append(r.value)
        size = self.c["batch.max.size"]
        for i in range(0, len(values), size):
            self._send(self._body(values[i : i + size]))

    def stop(self) -> None:
        self.stopping.set()


__all__ = ["HttpSinkConnector", "HttpSinkTask", "parse_status_codes"]
