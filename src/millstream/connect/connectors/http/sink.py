"""``HttpSinkConnector`` (alias ``HttpSink``): record values to an HTTP endpoint, in batches, with retries.

Each :class:`HttpSinkTask` ``put`` groups the batch's records by destination URL (``http.api.url`` may contain
``${topic}``), and sends them in record order in requests of at most ``batch.max.size`` values — by default a
JSON array of the values (:mod:`.body`). Each request is retried with backoff as :mod:`.client` describes.
Requests go over one keep-alive connection pool per task (:class:`~.client.HttpPool`, ``http.pool.size``
connections kept per host). ``put`` returns only when every request succeeded, so the offsets the framework
commits afterwards never run ahead of the endpoint (a crash replays the last batch: delivery is at least once).

When a request fails for good, ``behavior.on.error=fail`` (default) fails the task with the URL, status and
response; ``log`` logs it and goes on; ``ignore`` goes on silently. Tombstones (null values) are skipped
(``behavior.on.null.values=ignore``, default) or fail the task (``fail``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ....core.errors import ConnectError
from ...api import SinkConnector, SinkTask, Task
from ...config import NO_DEFAULT, ConfigDef, ConfigValue, Importance, Range, Type, ValidString
from ...data import SinkRecord
from ...errors import ConnectorConfigError
from .body import json_body, string_body
from .client import HttpRequestError, HttpSender, SenderClosedError, parse_headers
from .options import define_client_options, make_pool, sender_args

log = logging.getLogger(__name__)

HTTP_SINK_CLASS = "millstream.connect.connectors.http.HttpSinkConnector"


def _http_url(name: str, value: Any) -> None:
    if not str(value or "").startswith(("http://", "https://")):
        raise ValueError("not an http:// or https:// URL")


def _headers(name: str, value: Any) -> None:
    parse_headers(str(value or ""))


CONFIG_DEF = define_client_options(
    ConfigDef()
    .define(
        "http.api.url",
        Type.STRING,
        NO_DEFAULT,
        validator=_http_url,
        importance=Importance.HIGH,
        group="Request",
        documentation="Endpoint URL (http:// or https://); ${topic} is replaced by the record's topic.",
    )
    .define(
        "request.method",
        Type.STRING,
        "POST",
        validator=ValidString("POST", "PUT", "PATCH", "DELETE", case_insensitive=True),
        importance=Importance.HIGH,
        group="Request",
        documentation="HTTP method.",
    )
    .define(
        "headers",
        Type.STRING,
        "",
        validator=_headers,
        importance=Importance.MEDIUM,
        group="Request",
        documentation="Extra headers as Name:Value pairs separated by header.separator.",
    )
    .define(
        "header.separator",
        Type.STRING,
        "|",
        importance=Importance.LOW,
        group="Request",
        documentation="Separator between the headers' Name:Value pairs.",
    )
    .define(
        "request.body.format",
        Type.STRING,
        "json",
        validator=ValidString("json", "string", case_insensitive=True),
        importance=Importance.MEDIUM,
        group="Batching",
        documentation="json: a JSON array of the values; string: values as text joined by batch.separator.",
    )
    .define(
        "batch.json.as.array",
        Type.BOOLEAN,
        True,
        importance=Importance.LOW,
        group="Batching",
        documentation="With json bodies: send an array (true), or each value alone (false; forces batches of 1).",
    )
    .define(
        "batch.max.size",
        Type.INT,
        500,
        validator=Range.at_least(1),
        importance=Importance.HIGH,
        group="Batching",
        documentation="Most values per request.",
    )
    .define(
        "batch.prefix",
        Type.STRING,
        "",
        importance=Importance.LOW,
        group="Batching",
        documentation="string body prefix.",
    )
    .define(
        "batch.separator",
        Type.STRING,
        ",",
        importance=Importance.LOW,
        group="Batching",
        documentation="string body separator.",
    )
    .define(
        "batch.suffix",
        Type.STRING,
        "",
        importance=Importance.LOW,
        group="Batching",
        documentation="string body suffix.",
    )
    .define(
        "behavior.on.error",
        Type.STRING,
        "fail",
        validator=ValidString("fail", "log", "ignore", case_insensitive=True),
        importance=Importance.MEDIUM,
        group="Errors",
        documentation="When a request fails for good: fail the task, log and go on, or ignore.",
    )
    .define(
        "behavior.on.null.values",
        Type.STRING,
        "ignore",
        validator=ValidString("ignore", "fail", case_insensitive=True),
        importance=Importance.LOW,
        group="Errors",
        documentation="Tombstones: skip them, or fail the task.",
    )
)
"""The sink's options; the retry, timeout, pool and TLS ones come from :mod:`.options`."""


def _parse(props: Mapping[str, Any]) -> dict[str, Any]:
    values = CONFIG_DEF.parse(props, connector_class=HTTP_SINK_CLASS)
    try:
        parse_headers(values["headers"], values["header.separator"] or "|")
    except ConnectError as exc:
        raise ConnectorConfigError({"headers": [str(exc)]}, connector_class=HTTP_SINK_CLASS) from None
    return values


class HttpSinkConnector(SinkConnector):
    """Sends record values to an HTTP endpoint; see the module docstring."""

    CONFIG_DEF = CONFIG_DEF

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)
        _parse(props)

    def task_class(self) -> type[Task]:
        return HttpSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max(1, max_tasks))]

    def stop(self) -> None:
        pass

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        return CONFIG_DEF.validate(props)

    def config(self) -> ConfigDef:
        return CONFIG_DEF


class HttpSinkTask(SinkTask):
    """Sends each ``put`` batch before returning; see the module docstring."""

    def start(self, props: Mapping[str, str]) -> None:
        v = self.values = _parse(props)
        self.url_template = str(v["http.api.url"])
        self.pool = make_pool(v)  # one keep-alive pool for every URL of this task
        self._sender_args: dict[str, Any] = {
            "method": str(v["request.method"]).upper(),
            "headers": parse_headers(v["headers"], v["header.separator"] or "|"),
            "pool": self.pool,
            **sender_args(v),
        }
        self.senders: dict[str, HttpSender] = {}
        self.format = str(v["request.body.format"]).lower()
        self.as_array = bool(v["batch.json.as.array"])
        self.batch_size = 1 if (self.format == "json" and not self.as_array) else int(v["batch.max.size"])
        self.on_error = str(v["behavior.on.error"]).lower()
        self.on_null = str(v["behavior.on.null.values"]).lower()
        self.requests_sent = 0

    def _sender(self, url: str) -> HttpSender:
        sender = self.senders.get(url)
        if sender is None:
            sender = self.senders[url] = HttpSender(url, **self._sender_args)
        return sender

    def _body(self, values: list[Any]) -> tuple[bytes, str]:
        if self.format == "string":
            v = self.values
            return string_body(
                values, prefix=v["batch.prefix"], separator=v["batch.separator"], suffix=v["batch.suffix"]
            ), "text/plain; charset=utf-8"
        return json_body(values, as_array=self.as_array), "application/json"

    def put(self, records: list[SinkRecord]) -> None:
        by_url: dict[str, list[Any]] = {}
        for rec in records:
            if rec.value is None:
                if self.on_null == "fail":
                    raise ConnectError(
                        f"record {rec.topic}[{rec.kafka_partition}]@{rec.kafka_offset} has a null value and "
                        "behavior.on.null.values=fail",
                        hint="set behavior.on.null.values=ignore to skip tombstones",
                    )
                continue
            by_url.setdefault(self.url_template.replace("${topic}", rec.topic), []).append(rec.value)
        for url, values in by_url.items():
            sender = self._sender(url)
            for i in range(0, len(values), self.batch_size):
                chunk = values[i : i + self.batch_size]
                body, content_type = self._body(chunk)
                try:
                    sender.send(body, content_type)
                    self.requests_sent += 1
                except SenderClosedError:
                    raise
                except HttpRequestError as exc:
                    if self.on_error == "fail":
                        raise
                    if self.on_error == "log":
                        log.error("HTTP sink dropped a batch of %d values: %s", len(chunk), exc)

    def stop(self) -> None:
        for sender in list(getattr(self, "senders", {}).values()):
            sender.close()
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.close()


__all__ = ["CONFIG_DEF", "HttpSinkConnector", "HttpSinkTask"]
